/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-hv's snapshot file. */
#include <assert.h>
#include <errno.h>
#include <sys/stat.h>

#include "snapshot.h"

#define ALIGN8(x) (((x) + 7u) & ~(uint64_t) 7u)

void snapshot_writer_done(SnapshotWriter *w) {
        w->state = mfree(w->state);
        w->state_size = w->state_allocated = 0;
}

void snapshot_add(SnapshotWriter *w, SnapshotTag tag, uint64_t index, const void *payload, size_t size) {
        SnapshotSection h = { .tag = tag, .index = index, .size = size };
        size_t need;

        if (w->error < 0)
                return;
        if (w->n_sections >= SNAPSHOT_SECTIONS_MAX || size > SNAPSHOT_STATE_MAX) {
                w->error = -E2BIG;
                return;
        }
        need = w->state_size + sizeof(h) + ALIGN8(size);
        if (need > SNAPSHOT_STATE_MAX) {
                w->error = -E2BIG;
                return;
        }
        if (need > w->state_allocated) {
                size_t n = MAX(need, w->state_allocated * 2);
                uint8_t *p = realloc(w->state, n);

                if (!p) {
                        w->error = -ENOMEM;
                        return;
                }
                w->state = p;
                w->state_allocated = n;
        }
        memcpy(w->state + w->state_size, &h, sizeof(h));
        if (size > 0)
                memcpy(w->state + w->state_size + sizeof(h), payload, size);
        memset(w->state + w->state_size + sizeof(h) + size, 0, ALIGN8(size) - size);
        w->state_size = need;
        w->n_sections++;
}

static bool page_is_zero(const uint8_t *p, size_t n) {
        const uint64_t *q = (const uint64_t *) p;

        for (size_t i = 0; i < n / 8; i++)
                if (q[i] != 0)
                        return false;
        return true;
}

int snapshot_write(SnapshotWriter *w, int fd, uint64_t ram_base, const void *ram, uint64_t ram_size) {
        uint8_t header[SNAPSHOT_HEADER_SIZE] = {};
        SnapshotHeader h = {
                .version = SNAPSHOT_VERSION,
                .n_sections = w->n_sections,
                .state_offset = SNAPSHOT_HEADER_SIZE,
                .state_size = w->state_size,
                .ram_base = ram_base,
                .ram_size = ram_size,
        };
        const uint8_t *p = ram;
        int r;

        if (w->error < 0)
                return w->error;
        memcpy(h.magic, SNAPSHOT_MAGIC, sizeof(h.magic));
        h.ram_offset = (SNAPSHOT_HEADER_SIZE + w->state_size + SNAPSHOT_RAM_ALIGN - 1) &
                ~(uint64_t) (SNAPSHOT_RAM_ALIGN - 1);
        memcpy(header, &h, sizeof(h));
        r = pwrite_full(fd, header, sizeof(header), 0);
        if (r >= 0 && w->state_size > 0)
                r = pwrite_full(fd, w->state, w->state_size, SNAPSHOT_HEADER_SIZE);
        if (r < 0)
                return r;
        /* Runs of non-zero pages, each written at once; the zero pages between are holes (the file has its
         * full size from the ftruncate, so they read as zeros whatever the file system). */
        if (ftruncate(fd, (off_t) (h.ram_offset + ram_size)) < 0)
                return -errno;
        for (uint64_t off = 0; off < ram_size;) {
                uint64_t end;

                if (page_is_zero(p + off, MIN((uint64_t) 4096, ram_size - off))) {
                        off += 4096;
                        continue;
                }
                for (end = off + 4096; end < ram_size && end - off < (64u << 20) &&
                     !page_is_zero(p + end, MIN((uint64_t) 4096, ram_size - end));
                     end += 4096)
                        ;
                end = MIN(end, ram_size);
                r = pwrite_full(fd, p + off, end - off, h.ram_offset + off);
                if (r < 0)
                        return r;
                off = end;
        }
        return 0;
}

void snapshot_done(Snapshot *s) {
        s->state = mfree(s->state);
}

int snapshot_parse(
        const void *header_page, size_t header_size, const void *state, uint64_t file_size, Snapshot *ret) {
        SnapshotHeader h;
        uint64_t off = 0;
        const uint8_t *p = state;

        if (header_size < sizeof(h))
                return -EBADMSG;
        memcpy(&h, header_page, sizeof(h));
        if (memcmp(h.magic, SNAPSHOT_MAGIC, sizeof(h.magic)) != 0)
                return -EBADMSG;
        if (h.version != SNAPSHOT_VERSION)
                return -EPROTONOSUPPORT;
        if (h.state_offset != SNAPSHOT_HEADER_SIZE || h.state_size > SNAPSHOT_STATE_MAX ||
            h.n_sections > SNAPSHOT_SECTIONS_MAX || h.ram_offset % SNAPSHOT_RAM_ALIGN != 0 ||
            h.ram_offset < h.state_offset + h.state_size || h.ram_size == 0 || h.ram_size % 4096 != 0 ||
            h.ram_offset > file_size || h.ram_size > file_size - h.ram_offset)
                return -EBADMSG;
        /* The sections must fill the state exactly. */
        for (uint32_t i = 0; i < h.n_sections; i++) {
                SnapshotSection sec;

                if (h.state_size - off < sizeof(sec))
                        return -EBADMSG;
                memcpy(&sec, p + off, sizeof(sec));
                off += sizeof(sec);
                if (sec.tag == 0 || sec.tag >= _SNAPSHOT_TAG_MAX || sec.size > h.state_size - off ||
                    ALIGN8(sec.size) > h.state_size - off)
                        return -EBADMSG;
                off += ALIGN8(sec.size);
        }
        if (off != h.state_size)
                return -EBADMSG;
        ret->header = h;
        if (!state || h.state_size == 0)
                ret->state = NULL;
        else {
                ret->state = malloc(h.state_size);
                if (!ret->state)
                        return -ENOMEM;
                memcpy(ret->state, state, h.state_size);
        }
        return 0;
}

int snapshot_read(int fd, Snapshot *ret) {
        uint8_t header[SNAPSHOT_HEADER_SIZE];
        _cleanup_free_ uint8_t *state = NULL;
        SnapshotHeader h;
        struct stat st;
        ssize_t n;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        n = pread(fd, header, sizeof(header), 0);
        if (n < 0)
                return -errno;
        if ((size_t) n < sizeof(h))
                return -EBADMSG;
        memcpy(&h, header, sizeof(h));
        if (h.state_size > SNAPSHOT_STATE_MAX)
                return -EBADMSG;
        if (h.state_size > 0) {
                ssize_t k;

                state = malloc(h.state_size);
                if (!state)
                        return -ENOMEM;
                k = pread(fd, state, h.state_size, (off_t) SNAPSHOT_HEADER_SIZE);
                if (k < 0)
                        return -errno;
                if ((uint64_t) k != h.state_size)
                        return -EBADMSG;
        }
        return snapshot_parse(header, (size_t) n, state, (uint64_t) st.st_size, ret);
}

const void *snapshot_find(const Snapshot *s, SnapshotTag tag, uint64_t index, size_t *ret_size) {
        uint64_t off = 0;

        for (uint32_t i = 0; i < s->header.n_sections; i++) {
                SnapshotSection sec;

                memcpy(&sec, s->state + off, sizeof(sec));
                off += sizeof(sec);
                if (sec.tag == tag && sec.index == index) {
                        if (ret_size)
                                *ret_size = sec.size;
                        return s->state + off;
                }
                off += ALIGN8(sec.size);
        }
        return NULL;
}
