/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-hv's disks: raw files and copy-on-write overlays (the format is in disk.h). */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "disk.h"
#include "iovec-util.h"
#include "util.h"

#define CLUSTER DISK_OVERLAY_CLUSTER_SIZE
#define DIV_ROUND_UP(x, y) (((x) + (y) -1) / (y))

struct Disk {
        int fd;         /* the raw file, or the overlay */
        int backing_fd; /* an overlay's backing file; -EBADF for a raw disk */
        bool read_only;
        uint64_t size;
        /* An overlay's layout, and its bitmap as it is now (the file's is written on flush). */
        uint64_t bitmap_offset, bitmap_size, data_offset;
        uint8_t *bitmap;
        bool bitmap_dirty;
        uint8_t *cluster; /* one cluster, for copying up */
};

Disk *disk_free(Disk *d) {
        if (!d)
                return NULL;
        /* The bitmap is what makes the overlay's clusters its own: without it they read from the backing
         * file again. */
        if (d->bitmap_dirty)
                (void) disk_flush(d);
        safe_close(d->fd);
        safe_close(d->backing_fd);
        free(d->bitmap);
        free(d->cluster);
        return mfree(d);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Disk *, disk_free);

static Disk *disk_alloc(void) {
        Disk *d = calloc(1, sizeof(*d));

        if (d)
                d->fd = d->backing_fd = -EBADF;
        return d;
}

/* A regular file, locked: exclusively when it is written (two VMMs writing one disk would overwrite each
 * other's data, and an overlay's bitmap), shared when only read (a backing file stays unchanged while
 * overlays use it). A file system without locks is taken as it is. */
static int open_file(const char *path, bool read_only, uint64_t *ret_size, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                return errorf(ret_error, r, "Cannot open disk file '%s': %s", path, strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                return errorf(ret_error, r, "Cannot stat disk file '%s': %s", path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode))
                return errorf(ret_error, -EBADFD, "Disk file '%s' is not a regular file.", path);
        if (flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0 && errno == EWOULDBLOCK)
                return errorf(
                        ret_error,
                        -EBUSY,
                        "Disk file '%s' is in use by another process%s.",
                        path,
                        read_only ? " that writes it" : "");
        *ret_size = (uint64_t) st.st_size;
        return TAKE_FD(fd);
}

int disk_open_raw(const char *path, bool read_only, Disk **ret, char **ret_error) {
        _cleanup_(disk_freep) Disk *d = NULL;
        uint64_t size;

        assert(path);
        assert(ret);

        d = disk_alloc();
        if (!d)
                return -ENOMEM;
        d->fd = open_file(path, read_only, &size, ret_error);
        if (d->fd < 0)
                return d->fd;
        if (size == 0 || size % DISK_SECTOR_SIZE != 0)
                return errorf(
                        ret_error,
                        -EINVAL,
                        "Disk '%s' has %" PRIu64 " bytes: a disk is a non-zero multiple of %u bytes.",
                        path,
                        size,
                        DISK_SECTOR_SIZE);
        d->size = size;
        d->read_only = read_only;
        *ret = TAKE_PTR(d);
        return 0;
}

static DiskOverlayHeader overlay_layout(uint64_t size) {
        uint64_t clusters = DIV_ROUND_UP(size, CLUSTER), bitmap_size = DIV_ROUND_UP(clusters, 8);
        DiskOverlayHeader h = {
                .version = htole32(DISK_OVERLAY_VERSION),
                .header_size = htole32(DISK_OVERLAY_HEADER_SIZE),
                .virtual_size = htole64(size),
                .cluster_size = htole32(CLUSTER),
                .bitmap_offset = htole64(DISK_OVERLAY_HEADER_SIZE),
                .bitmap_size = htole64(bitmap_size),
                .data_offset = htole64(DIV_ROUND_UP(DISK_OVERLAY_HEADER_SIZE + bitmap_size, CLUSTER) * CLUSTER),
        };

        memcpy(h.magic, DISK_OVERLAY_MAGIC, sizeof(h.magic));
        return h;
}

/* An empty file becomes an overlay with nothing allocated: its full size first (sparse; the bitmap reads
 * as zeros), the header last, so that a file cut short here is refused rather than taken for an overlay. */
static int overlay_create(int fd, uint64_t size) {
        uint8_t page[DISK_OVERLAY_HEADER_SIZE] = {};
        DiskOverlayHeader h = overlay_layout(size);
        int r;

        memcpy(page, &h, sizeof(h));
        if (ftruncate(fd, (off_t) (le64toh(h.data_offset) + size)) < 0)
                return -errno;
        r = pwrite_full(fd, page, sizeof(page), 0);
        if (r < 0)
                return r;
        return fdatasync(fd) < 0 ? -errno : 0;
}

/* Reads or writes all of iov at offset; iov is used up on the way. A file that ends early is -EIO. */
static int rw_full(int fd, struct iovec *iov, unsigned n, uint64_t offset, bool write) {
        for (;;) {
                ssize_t k;

                while (n > 0 && iov->iov_len == 0) {
                        iov++;
                        n--;
                }
                if (n == 0)
                        return 0;
                k = write ? pwritev(fd, iov, (int) n, (off_t) offset) :
                            preadv(fd, iov, (int) n, (off_t) offset);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                offset += (uint64_t) k;
                for (; n > 0 && (size_t) k >= iov->iov_len; iov++, n--)
                        k -= (ssize_t) iov->iov_len;
                if (n > 0) {
                        iov->iov_base = (uint8_t *) iov->iov_base + k;
                        iov->iov_len -= (size_t) k;
                }
        }
}

static int pread_full(int fd, void *buf, size_t size, uint64_t offset) {
        return rw_full(fd, &(struct iovec){ buf, size }, 1, offset, false);
}

/* An existing overlay is input: every field is checked against the rules of disk.h and the file's size
 * before anything in it is used. */
static int overlay_load(
        Disk *d,
        const char *path,
        uint64_t file_size,
        const char *backing_path,
        uint64_t backing_size,
        char **ret_error) {
        uint8_t page[DISK_OVERLAY_HEADER_SIZE];
        DiskOverlayHeader h;
        uint64_t size, clusters, bitmap_offset, bitmap_size, data_offset;
        int r;

        if (file_size < sizeof(page))
                return errorf(
                        ret_error,
                        -EBADMSG,
                        "'%s' is not a vmm-hv overlay: %" PRIu64 " bytes, less than its header.",
                        path,
                        file_size);
        r = pread_full(d->fd, page, sizeof(page), 0);
        if (r < 0)
                return errorf(ret_error, r, "Cannot read overlay '%s': %s", path, strerror(-r));
        memcpy(&h, page, sizeof(h));
        if (memcmp(h.magic, DISK_OVERLAY_MAGIC, sizeof(h.magic)) != 0)
                return errorf(
                        ret_error,
                        -EBADMSG,
                        "'%s' is not a vmm-hv overlay (no magic " DISK_OVERLAY_MAGIC ").",
                        path);
        /* The fields version 1 fixes. */
        const struct {
                const char *name;
                uint32_t value, expected;
        } fixed[] = {
                { "version", le32toh(h.version), DISK_OVERLAY_VERSION },
                { "header size", le32toh(h.header_size), DISK_OVERLAY_HEADER_SIZE },
                { "cluster size", le32toh(h.cluster_size), CLUSTER },
                { "flags", le32toh(h.flags), 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                if (fixed[i].value != fixed[i].expected)
                        return errorf(
                                ret_error,
                                -EBADMSG,
                                "Overlay '%s' has %s 0x%" PRIx32 "; format version %u has 0x%" PRIx32 ".",
                                path,
                                fixed[i].name,
                                fixed[i].value,
                                DISK_OVERLAY_VERSION,
                                fixed[i].expected);
        for (size_t i = sizeof(h); i < sizeof(page); i++)
                if (page[i] != 0)
                        return errorf(
                                ret_error,
                                -EBADMSG,
                                "Overlay '%s' has unknown fields in its header (byte %zu is not zero).",
                                path,
                                i);

        size = le64toh(h.virtual_size);
        if (size == 0 || size % DISK_SECTOR_SIZE != 0 || size > DISK_OVERLAY_SIZE_MAX)
                return errorf(
                        ret_error,
                        -EBADMSG,
                        "Overlay '%s' says the disk has %" PRIu64
                        " bytes: not a non-zero multiple of %u up to %llu.",
                        path,
                        size,
                        DISK_SECTOR_SIZE,
                        DISK_OVERLAY_SIZE_MAX);
        clusters = DIV_ROUND_UP(size, CLUSTER);
        bitmap_offset = le64toh(h.bitmap_offset);
        bitmap_size = le64toh(h.bitmap_size);
        data_offset = le64toh(h.data_offset);
        if (bitmap_offset < DISK_OVERLAY_HEADER_SIZE)
                return errorf(
                        ret_error,
                        -EBADMSG,
                        "Overlay '%s' has its bitmap at %" PRIu64 ", inside the header.",
                        path,
                        bitmap_offset);
        if (bitmap_size != DIV_ROUND_UP(clusters, 8))
                return errorf(
                        ret_error,
                        -EBADMSG,
                        "Overlay '%s' has a bitmap of %" PRIu64 " bytes; %" PRIu64 " clusters take %" PRIu64
                        ".",
                        path,
                        bitmap_size,
                        clusters,
                        DIV_ROUND_UP(clusters, 8));
        if (data_offset % CLUSTER != 0 || data_offset < bitmap_offset ||
            bitmap_size > data_offset - bitmap_offset)
                return errorf(
                        ret_error,
                        -EBADMSG,
                        "Overlay '%s' has its data at %" PRIu64 ", not at a cluster boundary after its bitmap "
                        "(%" PRIu64 " bytes at %" PRIu64 ").",
                        path,
                        data_offset,
                        bitmap_size,
                        bitmap_offset);
        /* Everything lies inside the file: the bitmap before the data, the data to the file's end. */
        if (data_offset > file_size || file_size - data_offset != size)
                return errorf(
                        ret_error,
                        -EBADMSG,
                        "Overlay '%s' has %" PRIu64 " bytes, but its header says %" PRIu64
                        " (data at %" PRIu64 ", %" PRIu64 " bytes of disk).",
                        path,
                        file_size,
                        data_offset + size,
                        data_offset,
                        size);
        if (size != backing_size)
                return errorf(
                        ret_error,
                        -EINVAL,
                        "Overlay '%s' is of a disk of %" PRIu64
                        " bytes, but its backing file '%s' has %" PRIu64 " bytes.",
                        path,
                        size,
                        backing_path,
                        backing_size);

        d->bitmap = malloc(bitmap_size);
        if (!d->bitmap)
                return -ENOMEM;
        r = pread_full(d->fd, d->bitmap, bitmap_size, bitmap_offset);
        if (r < 0)
                return errorf(ret_error, r, "Cannot read the bitmap of overlay '%s': %s", path, strerror(-r));
        if (clusters % 8 != 0 && (d->bitmap[bitmap_size - 1] >> (clusters % 8)) != 0)
                return errorf(
                        ret_error, -EBADMSG, "Overlay '%s' marks clusters past the end of the disk.", path);
        d->size = size;
        d->bitmap_offset = bitmap_offset;
        d->bitmap_size = bitmap_size;
        d->data_offset = data_offset;
        return 0;
}

int disk_open_overlay(const char *path, const char *backing_path, bool read_only, Disk **ret, char **ret_error) {
        _cleanup_(disk_freep) Disk *d = NULL;
        uint64_t size, backing_size;
        int r;

        assert(path);
        assert(backing_path);
        assert(ret);

        d = disk_alloc();
        if (!d)
                return -ENOMEM;
        d->backing_fd = open_file(backing_path, true, &backing_size, ret_error);
        if (d->backing_fd < 0)
                return d->backing_fd;
        if (backing_size == 0 || backing_size % DISK_SECTOR_SIZE != 0 || backing_size > DISK_OVERLAY_SIZE_MAX)
                return errorf(
                        ret_error,
                        -EINVAL,
                        "Backing file '%s' has %" PRIu64
                        " bytes: an overlay's backing file is a non-zero multiple of %u bytes up to %llu.",
                        backing_path,
                        backing_size,
                        DISK_SECTOR_SIZE,
                        DISK_OVERLAY_SIZE_MAX);
        d->fd = open_file(path, read_only, &size, ret_error);
        if (d->fd < 0)
                return d->fd;
        if (size == 0) {
                if (read_only)
                        return errorf(
                                ret_error,
                                -EINVAL,
                                "Overlay '%s' is empty: a new overlay is made only where it may be written.",
                                path);
                r = overlay_create(d->fd, backing_size);
                if (r < 0)
                        return errorf(ret_error, r, "Cannot make '%s' an overlay: %s", path, strerror(-r));
                size = le64toh(overlay_layout(backing_size).data_offset) + backing_size;
        }
        r = overlay_load(d, path, size, backing_path, backing_size, ret_error);
        if (r < 0)
                return r;
        if (!read_only) {
                d->cluster = malloc(CLUSTER);
                if (!d->cluster)
                        return -ENOMEM;
        }
        d->read_only = read_only;
        *ret = TAKE_PTR(d);
        return 0;
}

uint64_t disk_size(const Disk *d) {
        return d->size;
}

bool disk_read_only(const Disk *d) {
        return d->read_only;
}

static bool cluster_mine(const Disk *d, uint64_t c) {
        return d->bitmap[c / 8] & (1u << (c % 8));
}

static int check_range(const Disk *d, uint64_t offset, const struct iovec *iov, unsigned n, uint64_t *ret_len) {
        uint64_t len = 0;

        if (n > IOV_MAX)
                return -EINVAL;
        for (unsigned i = 0; i < n; i++) {
                if (iov[i].iov_len > d->size - len)
                        return -EINVAL;
                len += iov[i].iov_len;
        }
        if (offset > d->size || len > d->size - offset)
                return -EINVAL;
        *ret_len = len;
        return 0;
}

/* The end of the run of clusters from the one at offset on that are all the overlay's, or all the backing
 * file's, up to end. */
static uint64_t run_end(const Disk *d, uint64_t offset, uint64_t end) {
        bool mine = cluster_mine(d, offset / CLUSTER);
        uint64_t e = (offset / CLUSTER + 1) * CLUSTER;

        while (e < end && cluster_mine(d, e / CLUSTER) == mine)
                e += CLUSTER;
        return MIN(e, end);
}

int disk_read(Disk *d, uint64_t offset, const struct iovec *iov, unsigned n_iov) {
        struct iovec v[IOV_MAX];
        uint64_t len;
        int r;

        assert(d);

        r = check_range(d, offset, iov, n_iov, &len);
        if (r < 0)
                return r;
        if (!d->bitmap)
                return rw_full(d->fd, v, iovec_slice(iov, n_iov, 0, len, v), offset, false);
        for (uint64_t at = offset; at < offset + len;) {
                uint64_t end = run_end(d, at, offset + len);
                unsigned k = iovec_slice(iov, n_iov, at - offset, end - at, v);

                if (cluster_mine(d, at / CLUSTER))
                        r = rw_full(d->fd, v, k, d->data_offset + at, false);
                else
                        r = rw_full(d->backing_fd, v, k, at, false);
                if (r < 0)
                        return r;
                at = end;
        }
        return 0;
}

/* The first write to a cluster [at, at + len) of it: the rest of the cluster comes from the backing file,
 * the whole goes into the overlay, and only then is the cluster the overlay's. */
static int copy_up(Disk *d, uint64_t at, uint64_t len, const struct iovec *v, unsigned k) {
        uint64_t c = at / CLUSTER, start = c * CLUSTER, end = MIN(start + CLUSTER, d->size);
        uint8_t *p = d->cluster + (at - start);
        int r;

        if (at > start) {
                r = pread_full(d->backing_fd, d->cluster, at - start, start);
                if (r < 0)
                        return r;
        }
        if (at + len < end) {
                r = pread_full(d->backing_fd, p + len, end - at - len, at + len);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < k; i++) {
                memcpy(p, v[i].iov_base, v[i].iov_len);
                p += v[i].iov_len;
        }
        r = pwrite_full(d->fd, d->cluster, end - start, d->data_offset + start);
        if (r < 0)
                return r;
        d->bitmap[c / 8] |= (uint8_t) (1u << (c % 8));
        d->bitmap_dirty = true;
        return 0;
}

int disk_write(Disk *d, uint64_t offset, const struct iovec *iov, unsigned n_iov) {
        struct iovec v[IOV_MAX];
        uint64_t len;
        int r;

        assert(d);

        if (d->read_only)
                return -EROFS;
        r = check_range(d, offset, iov, n_iov, &len);
        if (r < 0)
                return r;
        if (!d->bitmap)
                return rw_full(d->fd, v, iovec_slice(iov, n_iov, 0, len, v), offset, true);
        for (uint64_t at = offset; at < offset + len;) {
                uint64_t end;
                unsigned k;

                if (cluster_mine(d, at / CLUSTER)) {
                        end = run_end(d, at, offset + len);
                        k = iovec_slice(iov, n_iov, at - offset, end - at, v);
                        r = rw_full(d->fd, v, k, d->data_offset + at, true);
                } else {
                        end = MIN((at / CLUSTER + 1) * CLUSTER, offset + len);
                        k = iovec_slice(iov, n_iov, at - offset, end - at, v);
                        r = copy_up(d, at, end - at, v, k);
                }
                if (r < 0)
                        return r;
                at = end;
        }
        return 0;
}

int disk_flush(Disk *d) {
        int r;

        assert(d);

        if (d->read_only)
                return 0;
        /* The data first: a bit on disk must never name a cluster whose data is not. */
        if (fdatasync(d->fd) < 0)
                return -errno;
        if (!d->bitmap_dirty)
                return 0;
        r = pwrite_full(d->fd, d->bitmap, d->bitmap_size, d->bitmap_offset);
        if (r < 0)
                return r;
        if (fdatasync(d->fd) < 0)
                return -errno;
        d->bitmap_dirty = false;
        return 0;
}
