/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the opening of vmm-hv's overlay files (disk.h) with whole files: an overlay is written by a VMM
 * whose guest may be hostile, and read back by the next one, so no file may crash vmm-hv or make it read or
 * write outside the file. The first two bytes of the input choose the backing file's size (1 to 512
 * sectors); the rest is the overlay. What opens must then read and write like a disk, over a reopen. */
#include <sys/mman.h>
#include <unistd.h>

#include "disk.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd_with(const char *name, const void *data, size_t size) {
        int fd = memfd_create(name, MFD_CLOEXEC);

        fuzz_check(fd >= 0);
        fuzz_check(pwrite_full(fd, data, size, 0) == 0);
        return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int backing_fd = -EBADF, overlay_fd = -EBADF;
        _cleanup_free_ uint8_t *backing = NULL, *buf = NULL, *written = NULL;
        _cleanup_free_ char *error = NULL;
        char backing_path[64], overlay_path[64];
        uint64_t backing_size, offset;
        Disk *d = NULL;
        int r;

        if (size < 2)
                return 0;
        backing_size = DISK_SECTOR_SIZE * (1 + ((data[0] | (uint64_t) data[1] << 8) % 512));
        backing = malloc(backing_size);
        buf = malloc(backing_size);
        written = malloc(backing_size);
        fuzz_check(backing && buf && written);
        for (uint64_t i = 0; i < backing_size; i++)
                backing[i] = (uint8_t) (i * 13 + 1);
        backing_fd = memfd_with("backing", backing, backing_size);
        overlay_fd = memfd_with("overlay", data + 2, size - 2);
        (void) snprintf(backing_path, sizeof(backing_path), "/proc/self/fd/%d", backing_fd);
        (void) snprintf(overlay_path, sizeof(overlay_path), "/proc/self/fd/%d", overlay_fd);

        r = disk_open_overlay(overlay_path, backing_path, false, &d, &error);
        fuzz_check(IN_SET(r, 0, -EBADMSG, -EINVAL, -ENOMEM), "unexpected error %d", r);
        fuzz_check(r == 0 || error, "no message for error %d", r);
        if (r < 0)
                return 0;
        fuzz_check(disk_size(d) == backing_size);

        /* The whole disk reads; a sector in the middle and the last one are written, and read back. */
        fuzz_check(disk_read(d, 0, &(struct iovec){ buf, backing_size }, 1) == 0);
        memcpy(written, buf, backing_size);
        offset = (backing_size / 2) & ~(uint64_t) (DISK_SECTOR_SIZE - 1);
        memset(written + offset, 0xa5, DISK_SECTOR_SIZE);
        memset(written + backing_size - DISK_SECTOR_SIZE, 0x5a, DISK_SECTOR_SIZE);
        fuzz_check(disk_write(d, offset, &(struct iovec){ written + offset, DISK_SECTOR_SIZE }, 1) == 0);
        fuzz_check(
                disk_write(
                        d,
                        backing_size - DISK_SECTOR_SIZE,
                        &(struct iovec){ written + backing_size - DISK_SECTOR_SIZE, DISK_SECTOR_SIZE },
                        1) == 0);
        fuzz_check(disk_read(d, 0, &(struct iovec){ buf, backing_size }, 1) == 0);
        fuzz_check(memcmp(buf, written, backing_size) == 0, "the disk does not read what was written");
        fuzz_check(disk_read(d, backing_size, &(struct iovec){ buf, 1 }, 1) == -EINVAL);
        fuzz_check(disk_flush(d) == 0);
        d = disk_free(d);

        /* Opened again, the same disk; the backing file unchanged. */
        fuzz_check(disk_open_overlay(overlay_path, backing_path, false, &d, NULL) == 0);
        fuzz_check(disk_read(d, 0, &(struct iovec){ buf, backing_size }, 1) == 0);
        fuzz_check(memcmp(buf, written, backing_size) == 0, "the disk changed over a reopen");
        d = disk_free(d);
        fuzz_check(pread(backing_fd, buf, backing_size, 0) == (ssize_t) backing_size);
        fuzz_check(memcmp(buf, backing, backing_size) == 0, "the backing file changed");
        return 0;
}
