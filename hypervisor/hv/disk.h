/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-hv's disks: a raw file, or a copy-on-write overlay of vmm-hv's own format over a raw file that is
 * only read (the backing file, an image many VMs share).
 *
 * The overlay file ("VMMHVCW1", version 1), all numbers little-endian:
 *
 *   offset 0, 4096 bytes: the header
 *      0  magic          8 bytes "VMMHVCW1"
 *      8  version        le32, 1
 *     12  header_size    le32, 4096
 *     16  virtual_size   le64, the disk's size in bytes: the backing file's, a multiple of 512
 *     24  cluster_size   le32, 65536 (the only size version 1 knows)
 *     28  flags          le32, 0 (none defined; a file with others is refused)
 *     32  bitmap_offset  le64, ≥ header_size (4096 as written)
 *     40  bitmap_size    le64, bytes: ceil(clusters / 8), clusters = ceil(virtual_size / cluster_size)
 *     48  data_offset    le64, a multiple of cluster_size, ≥ bitmap_offset + bitmap_size
 *     56  zeros to the end of the header
 *   bitmap_offset: the allocation bitmap, bit i (byte i / 8, bit i % 8, least significant first) set when
 *     cluster i is the overlay's; the bits past the last cluster are zero
 *   data_offset: the data area. Cluster i lives at data_offset + i · cluster_size, whether it is allocated
 *     or not (identity-mapped): the file is sparse, data_offset + virtual_size bytes long, and only the
 *     clusters written take space.
 *
 * A cluster whose bit is clear reads from the backing file. The first write to it copies the parts of the
 * cluster that the write does not cover up from the backing file, writes the cluster, then sets the bit.
 * The bitmap is kept in memory and written to the file by disk_flush() (the data first: fdatasync, the
 * bitmap, fdatasync again) and when the disk is freed. A bit on disk therefore always names data that is
 * on disk, and since bits are only ever set, a bitmap write cut short by a crash leaves old or new bits,
 * each of them true. A crash of vmm-hv loses what the guest did not flush, as a power cut does: the
 * clusters allocated since the last flush read from the backing file again, and their next write copies
 * them up anew. No "clean" flag is needed for that.
 *
 * An empty file (size 0) becomes a new overlay over its backing file when it is opened (vmmd makes an empty
 * file as the VM's user and hands it on). An existing one is input: every header field is checked against
 * the rules above and the file's size, and its virtual size must be the backing file's.
 *
 * A Disk is not thread-safe: its user serialises calls (virtio-blk runs them under its transport's lock). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define DISK_SECTOR_SIZE 512u

#define DISK_OVERLAY_MAGIC "VMMHVCW1"
#define DISK_OVERLAY_VERSION 1u
#define DISK_OVERLAY_HEADER_SIZE 4096u
#define DISK_OVERLAY_CLUSTER_SIZE (64u * 1024u)
/* The largest disk an overlay takes: 16 Mi clusters, a 2 MiB bitmap in memory. */
#define DISK_OVERLAY_SIZE_MAX (1ull << 40)

/* The header's fields as they are in the file (little-endian; vmm-hv's hosts are little-endian too). */
typedef struct DiskOverlayHeader {
        char magic[8];
        uint32_t version;
        uint32_t header_size;
        uint64_t virtual_size;
        uint32_t cluster_size;
        uint32_t flags;
        uint64_t bitmap_offset;
        uint64_t bitmap_size;
        uint64_t data_offset;
} DiskOverlayHeader;

typedef struct Disk Disk;

/* Opens a raw disk: a regular file whose size is a non-zero multiple of 512. Taken with an exclusive
 * lock (a shared one when read-only), so that two VMMs never write one disk. On failure ret_error (when
 * not NULL) says what is wrong for a person, naming the file. */
int disk_open_raw(const char *path, bool read_only, Disk **ret, char **ret_error);
/* Opens the overlay at path over backing_path (opened read-only, with a shared lock). An empty file is
 * made a new overlay (unless read_only). -EBADMSG: a damaged or foreign overlay; -EINVAL: one for a
 * backing file of another size. */
int disk_open_overlay(const char *path, const char *backing_path, bool read_only, Disk **ret, char **ret_error);
/* Writes an overlay's bitmap if it changed (best effort: call disk_flush() first to learn of failures),
 * closes the files. */
Disk *disk_free(Disk *d);

uint64_t disk_size(const Disk *d);
bool disk_read_only(const Disk *d);
/* Reads or writes the bytes [offset, offset + length of iov) of the disk, all of them: -EINVAL if the
 * range is not inside the disk, -EROFS for a write to a read-only disk, -EIO when a file ends
 * early, else what the file system says. */
int disk_read(Disk *d, uint64_t offset, const struct iovec *iov, unsigned n_iov);
int disk_write(Disk *d, uint64_t offset, const struct iovec *iov, unsigned n_iov);
/* Makes every completed write durable (an overlay's bitmap too). */
int disk_flush(Disk *d);
