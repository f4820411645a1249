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

bool snapshot_id_is_null(const SnapshotId *id) {
        static const SnapshotId null = {};

        return memcmp(id, &null, sizeof(null)) == 0;
}

bool snapshot_id_equal(const SnapshotId *a, const SnapshotId *b) {
        return memcmp(a, b, sizeof(*a)) == 0;
}

const char *snapshot_id_to_string(const SnapshotId *id, char buf[static SNAPSHOT_ID_STRING_MAX]) {
        hexmem(id->bytes, sizeof(id->bytes), buf);
        return buf;
}

static bool page_held(const SnapshotPages *pages, uint64_t i) {
        return pages->bitmap[i / 64] & (1ull << (i % 64));
}

/* The next run of pages held from page i on: its first page (n_pages if none), and in ret_end the page
 * after its last. */
static uint64_t next_run(const SnapshotPages *pages, uint64_t i, uint64_t *ret_end) {
        while (i < pages->n_pages && !page_held(pages, i))
                i = i % 64 == 0 && pages->bitmap[i / 64] == 0 ? i + 64 : i + 1;
        i = MIN(i, pages->n_pages);
        *ret_end = i;
        while (*ret_end < pages->n_pages && page_held(pages, *ret_end))
                (*ret_end)++;
        return i;
}

/* Pages of page_size, n_pages of them, fit RAM of ram_size bytes: a page size from 4 KiB to
 * SNAPSHOT_RAM_ALIGN that divides it, and a bit for each page. last_word: the bitmap's last, where no bit
 * past n_pages may be set. */
static bool pages_fit(uint64_t page_size, uint64_t n_pages, uint64_t last_word, uint64_t ram_size) {
        if (page_size < 4096 || page_size > SNAPSHOT_RAM_ALIGN || (page_size & (page_size - 1)) != 0 ||
            ram_size % page_size != 0 || n_pages != ram_size / page_size)
                return false;
        return n_pages % 64 == 0 || (last_word >> (n_pages % 64)) == 0;
}

/* RAM's bytes [start, end) into the file: runs of non-zero pages, each written at once; the zero pages
 * between are holes (the file has its full size from the ftruncate, so they read as zeros whatever the file
 * system). */
static int write_ram(int fd, uint64_t ram_offset, const uint8_t *p, uint64_t start, uint64_t end) {
        for (uint64_t off = start; off < end;) {
                uint64_t run;
                int r;

                if (page_is_zero(p + off, MIN((uint64_t) 4096, end - off))) {
                        off += 4096;
                        continue;
                }
                for (run = off + 4096; run < end && run - off < (64u << 20) &&
                     !page_is_zero(p + run, MIN((uint64_t) 4096, end - run));
                     run += 4096)
                        ;
                run = MIN(run, end);
                r = pwrite_full(fd, p + off, run - off, ram_offset + off);
                if (r < 0)
                        return r;
                off = run;
        }
        return 0;
}

static void add_ram_pages(SnapshotWriter *w, const SnapshotPages *pages) {
        SnapshotRamPages h = { .page_size = pages->page_size, .n_pages = pages->n_pages };
        size_t bitmap_size = (pages->n_pages + 63) / 64 * sizeof(uint64_t);
        _cleanup_free_ uint8_t *payload = malloc(sizeof(h) + bitmap_size);

        if (!payload) {
                w->error = w->error < 0 ? w->error : -ENOMEM;
                return;
        }
        memcpy(payload, &h, sizeof(h));
        memcpy(payload + sizeof(h), pages->bitmap, bitmap_size);
        snapshot_add(w, SNAPSHOT_TAG_RAM_PAGES, 0, payload, sizeof(h) + bitmap_size);
}

int snapshot_write(
        SnapshotWriter *w,
        int fd,
        uint64_t ram_base,
        const void *ram,
        uint64_t ram_size,
        const SnapshotPages *pages) {
        uint8_t header[SNAPSHOT_HEADER_SIZE] = {};
        SnapshotHeader h;
        int r;

        /* A delta has its base and its pages, a full snapshot neither; every snapshot has an id. */
        if (snapshot_id_is_null(&w->id) || snapshot_id_equal(&w->id, &w->base_id) ||
            snapshot_id_is_null(&w->base_id) != !pages)
                return -EINVAL;
        if (pages &&
            (pages->page_size < 4096 || pages->n_pages == 0 || pages->n_pages != ram_size / pages->page_size ||
             !pages_fit(pages->page_size, pages->n_pages, pages->bitmap[(pages->n_pages - 1) / 64], ram_size)))
                return -EINVAL;
        if (pages)
                add_ram_pages(w, pages);
        if (w->error < 0)
                return w->error;
        h = (SnapshotHeader){
                .version = SNAPSHOT_VERSION,
                .n_sections = w->n_sections,
                .state_offset = SNAPSHOT_HEADER_SIZE,
                .state_size = w->state_size,
                .ram_base = ram_base,
                .ram_size = ram_size,
                .id = w->id,
                .base_id = w->base_id,
        };
        memcpy(h.magic, SNAPSHOT_MAGIC, sizeof(h.magic));
        h.ram_offset = (SNAPSHOT_HEADER_SIZE + w->state_size + SNAPSHOT_RAM_ALIGN - 1) &
                ~(uint64_t) (SNAPSHOT_RAM_ALIGN - 1);
        memcpy(header, &h, sizeof(h));
        r = pwrite_full(fd, header, sizeof(header), 0);
        if (r >= 0 && w->state_size > 0)
                r = pwrite_full(fd, w->state, w->state_size, SNAPSHOT_HEADER_SIZE);
        if (r < 0)
                return r;
        if (ftruncate(fd, (off_t) (h.ram_offset + ram_size)) < 0)
                return -errno;
        if (!pages)
                return write_ram(fd, h.ram_offset, ram, 0, ram_size);
        /* A delta: the pages it holds, the others holes (its RAM has the full snapshot's layout). */
        for (uint64_t end, i = next_run(pages, 0, &end); i < pages->n_pages; i = next_run(pages, end, &end)) {
                r = write_ram(fd, h.ram_offset, ram, i * pages->page_size, end * pages->page_size);
                if (r < 0)
                        return r;
        }
        return 0;
}

int snapshot_read_pages(int fd, const Snapshot *s, void *ram) {
        const SnapshotPages *pages = &s->pages;

        assert(snapshot_is_delta(s));
        for (uint64_t end, i = next_run(pages, 0, &end); i < pages->n_pages; i = next_run(pages, end, &end))
                for (uint64_t off = i * pages->page_size; off < end * pages->page_size;) {
                        ssize_t k = pread(
                                fd,
                                (uint8_t *) ram + off,
                                MIN(end * pages->page_size - off, (uint64_t) (64u << 20)),
                                (off_t) (s->header.ram_offset + off));

                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0)
                                return -errno;
                        if (k == 0) /* the file shrank since it was checked */
                                return -EIO;
                        off += (uint64_t) k;
                }
        return 0;
}

void snapshot_done(Snapshot *s) {
        s->state = mfree(s->state);
        s->pages = (SnapshotPages){};
}

/* A RAM_PAGES section's payload: its header, then exactly the bitmap it needs, which fits the RAM. */
static bool ram_pages_valid(const uint8_t *payload, uint64_t size, uint64_t ram_size) {
        SnapshotRamPages h;
        uint64_t last = 0;

        if (size < sizeof(h))
                return false;
        memcpy(&h, payload, sizeof(h));
        /* n_pages is checked against ram_size before the bitmap's size is computed from it. */
        if (h.page_size < 4096 || h.n_pages != ram_size / h.page_size ||
            size != sizeof(h) + (h.n_pages + 63) / 64 * sizeof(uint64_t))
                return false;
        if (h.n_pages > 0)
                memcpy(&last, payload + size - sizeof(last), sizeof(last));
        return pages_fit(h.page_size, h.n_pages, last, ram_size);
}

int snapshot_parse(
        const void *header_page, size_t header_size, const void *state, uint64_t file_size, Snapshot *ret) {
        SnapshotHeader h;
        uint64_t off = 0, pages_offset = 0;
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
        if (snapshot_id_is_null(&h.id) || snapshot_id_equal(&h.id, &h.base_id))
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
                if (sec.tag == SNAPSHOT_TAG_RAM_PAGES) {
                        /* One, of a delta only, that fits its RAM. */
                        if (snapshot_id_is_null(&h.base_id) || pages_offset > 0 || sec.index != 0 ||
                            !ram_pages_valid(p + off, sec.size, h.ram_size))
                                return -EBADMSG;
                        pages_offset = off;
                }
                off += ALIGN8(sec.size);
        }
        if (off != h.state_size || snapshot_id_is_null(&h.base_id) != (pages_offset == 0))
                return -EBADMSG;
        *ret = (Snapshot){ .header = h };
        if (state && h.state_size > 0) {
                ret->state = malloc(h.state_size);
                if (!ret->state)
                        return -ENOMEM;
                memcpy(ret->state, state, h.state_size);
        }
        if (pages_offset > 0) {
                SnapshotRamPages rp;

                memcpy(&rp, ret->state + pages_offset, sizeof(rp));
                ret->pages = (SnapshotPages){
                        .page_size = rp.page_size,
                        .n_pages = rp.n_pages,
                        /* 8-aligned: sections are, in a buffer from malloc() */
                        .bitmap = (const uint64_t *) (ret->state + pages_offset + sizeof(rp)),
                };
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
