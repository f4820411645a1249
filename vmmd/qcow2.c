/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The snapshot table of a qcow2 file (QEMU's docs/interop/qcow2.txt, "Snapshots"). */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qcow2.h"
#include "util.h"

#define QCOW2_MAGIC 0x514649fbU /* "QFI\xfb" */
#define QCOW2_HEADER_SIZE 72    /* the fields up to snapshots_offset */
#define QCOW2_SNAPSHOT_HEADER_SIZE 40
/* QEMU's own limits (block/qcow2.h): a table beyond them is damaged. */
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_SNAPSHOT_EXTRA 1024
#define QCOW2_MAX_SNAPSHOTS_SIZE (64U * 1024 * 1024)

static uint16_t be16_at(const uint8_t *p) {
        uint16_t v;

        memcpy(&v, p, sizeof(v));
        return be16toh(v);
}

static uint32_t be32_at(const uint8_t *p) {
        uint32_t v;

        memcpy(&v, p, sizeof(v));
        return be32toh(v);
}

static uint64_t be64_at(const uint8_t *p) {
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return be64toh(v);
}

/* Exactly size bytes at offset, or -EBADMSG when the file ends before. */
static int pread_exact(int fd, void *buf, size_t size, uint64_t offset) {
        size_t done = 0;

        while (done < size) {
                ssize_t n = pread(fd, (uint8_t *) buf + done, size - done, (off_t) (offset + done));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EBADMSG;
                done += (size_t) n;
        }
        return 0;
}

void qcow2_snapshots_free(Qcow2Snapshot *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(s[i].name);
        free(s);
}

int qcow2_read_snapshots(int fd, Qcow2Snapshot **ret, size_t *ret_n) {
        uint8_t h[QCOW2_HEADER_SIZE];
        Qcow2Snapshot *list = NULL;
        uint64_t offset, end, file_size;
        uint32_t version, n;
        struct stat st;
        int r;

        assert(ret);
        assert(ret_n);

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        file_size = (uint64_t) st.st_size;

        r = pread_exact(fd, h, sizeof(h), 0);
        if (r < 0)
                return r;
        version = be32_at(h + 4);
        if (be32_at(h) != QCOW2_MAGIC || !IN_SET(version, 2, 3))
                return -EBADMSG;
        n = be32_at(h + 60);
        offset = be64_at(h + 64);
        if (n > QCOW2_MAX_SNAPSHOTS)
                return -EBADMSG;
        if (n == 0) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (offset == 0 || offset > file_size)
                return -EBADMSG;
        end = offset;

        list = calloc(n, sizeof(Qcow2Snapshot));
        if (!list)
                return -ENOMEM;

        for (uint32_t i = 0; i < n; i++) {
                uint8_t e[QCOW2_SNAPSHOT_HEADER_SIZE], extra[QCOW2_MAX_SNAPSHOT_EXTRA];
                uint32_t extra_size, id_size, name_size, date_sec, date_nsec;
                uint64_t entry_size;

                r = pread_exact(fd, e, sizeof(e), end);
                if (r < 0)
                        goto fail;
                id_size = be16_at(e + 12);
                name_size = be16_at(e + 14);
                date_sec = be32_at(e + 16);
                date_nsec = be32_at(e + 20);
                extra_size = be32_at(e + 36);
                if (extra_size > QCOW2_MAX_SNAPSHOT_EXTRA || date_nsec >= 1000000000U) {
                        r = -EBADMSG;
                        goto fail;
                }
                r = pread_exact(fd, extra, extra_size, end + sizeof(e));
                if (r < 0)
                        goto fail;

                list[i].created_usec = (uint64_t) date_sec * 1000000U + date_nsec / 1000U;
                /* Version 3 keeps the full size in the extra data; the old field may be truncated. */
                list[i].vm_state_size = extra_size >= 8 ? be64_at(extra) : be32_at(e + 32);

                list[i].name = malloc((size_t) name_size + 1);
                if (!list[i].name) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = pread_exact(fd, list[i].name, name_size, end + sizeof(e) + extra_size + id_size);
                if (r < 0)
                        goto fail;
                list[i].name[name_size] = '\0';
                if (memchr(list[i].name, '\0', name_size)) {
                        r = -EBADMSG;
                        goto fail;
                }

                entry_size = sizeof(e) + (uint64_t) extra_size + id_size + name_size;
                end += (entry_size + 7) & ~(uint64_t) 7; /* entries are 8-byte aligned */
                if (end - offset > QCOW2_MAX_SNAPSHOTS_SIZE) {
                        r = -EBADMSG;
                        goto fail;
                }
        }

        *ret = list;
        *ret_n = n;
        return 0;
fail:
        qcow2_snapshots_free(list, n);
        return r;
}

int qcow2_read_snapshots_at(const char *path, Qcow2Snapshot **ret, size_t *ret_n) {
        /* The VMM can replace the disk with anything: a symlink, a FIFO that would block us forever. */
        _cleanup_close_ int fd = open_regular(path);

        if (fd < 0)
                return fd;
        return qcow2_read_snapshots(fd, ret, ret_n);
}

const Qcow2Snapshot *qcow2_snapshot_find(const Qcow2Snapshot *s, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(s[i].name, name))
                        return s + i;
        return NULL;
}
