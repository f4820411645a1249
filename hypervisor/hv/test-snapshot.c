/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-hv's snapshot file: what is written reads back (sections, RAM with zero pages as holes, a delta's
 * pages over its base), and a damaged or foreign file is refused before anything in it is used. */
#include <assert.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "snapshot.h"

#define RAM_SIZE (1u << 20)

static const SnapshotId base_id = { { 0xba, 0x5e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0xff } };
static const SnapshotId delta_id = { { 0xde, 0x17, 0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 } };

static int memfd(void) {
        int fd = memfd_create("snapshot", MFD_CLOEXEC);

        assert(fd >= 0);
        return fd;
}

static void write_sample(int fd, uint8_t *ram) {
        SnapshotWriter w = { .id = base_id };
        uint32_t a = 0x11223344;
        char b[13] = "odd-sized!!!";

        for (size_t i = 0; i < RAM_SIZE; i++)
                ram[i] = (i / 4096) % 3 == 0 ? 0 : (uint8_t) (i * 31 + 7); /* every third page zero */
        snapshot_add(&w, SNAPSHOT_TAG_MACHINE, 0, &a, sizeof(a));
        snapshot_add(&w, SNAPSHOT_TAG_DEVICE, 0x0a000000, b, sizeof(b));
        snapshot_add(&w, SNAPSHOT_TAG_VCPU_REGS, 1, NULL, 0);
        assert(snapshot_write(&w, fd, 0x40000000, ram, RAM_SIZE, NULL) == 0);
        snapshot_writer_done(&w);
}

static void test_round_trip(void) {
        _cleanup_close_ int fd = memfd();
        static uint8_t ram[RAM_SIZE];
        Snapshot s = {};
        size_t size;
        const uint8_t *p;
        struct stat st;

        write_sample(fd, ram);
        assert(snapshot_read(fd, &s) == 0);
        assert(s.header.ram_base == 0x40000000 && s.header.ram_size == RAM_SIZE);
        assert(s.header.ram_offset % SNAPSHOT_RAM_ALIGN == 0 && s.header.n_sections == 3);
        /* A full snapshot: its id, no base, no pages. */
        assert(snapshot_id_equal(&s.header.id, &base_id) && snapshot_id_is_null(&s.header.base_id));
        assert(!snapshot_is_delta(&s) && !snapshot_find(&s, SNAPSHOT_TAG_RAM_PAGES, 0, NULL));
        p = snapshot_find(&s, SNAPSHOT_TAG_MACHINE, 0, &size);
        assert(p && size == 4 && p[0] == 0x44 && p[3] == 0x11);
        p = snapshot_find(&s, SNAPSHOT_TAG_DEVICE, 0x0a000000, &size);
        assert(p && size == 13 && memcmp(p, "odd-sized!!!", 13) == 0);
        assert(snapshot_find(&s, SNAPSHOT_TAG_VCPU_REGS, 1, &size) && size == 0);
        assert(!snapshot_find(&s, SNAPSHOT_TAG_DEVICE, 0x0a000200, NULL));
        assert(!snapshot_find(&s, SNAPSHOT_TAG_VCPU_REGS, 0, NULL));

        /* RAM as a clone maps it: copy-on-write, every byte as it was, zero pages too. */
        assert(fstat(fd, &st) == 0 && (uint64_t) st.st_size == s.header.ram_offset + RAM_SIZE);
        uint8_t *m = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, (off_t) s.header.ram_offset);
        assert(m != MAP_FAILED);
        assert(memcmp(m, ram, RAM_SIZE) == 0);
        m[0] = 0xff; /* the clone's write stays its own */
        uint8_t first;
        assert(pread(fd, &first, 1, (off_t) s.header.ram_offset) == 1 && first == ram[0]);
        assert(munmap(m, RAM_SIZE) == 0);
        snapshot_done(&s);
}

/* Rewrites the header field at offset and expects snapshot_read() to refuse the file. */
static void expect_refused(int fd, size_t offset, const void *value, size_t size, int error) {
        uint8_t saved[16];
        Snapshot s = {};

        assert(size <= sizeof(saved));
        assert(pread(fd, saved, size, (off_t) offset) == (ssize_t) size);
        assert(pwrite(fd, value, size, (off_t) offset) == (ssize_t) size);
        assert(snapshot_read(fd, &s) == error);
        assert(pwrite(fd, saved, size, (off_t) offset) == (ssize_t) size);
        assert(snapshot_read(fd, &s) == 0);
        snapshot_done(&s);
}

static void test_refused(void) {
        _cleanup_close_ int fd = memfd();
        static uint8_t ram[RAM_SIZE];
        SnapshotHeader h;
        uint64_t big = UINT64_MAX / 2, odd = 4096 + 1, zero = 0;
        uint32_t v1 = 1, v3 = 3, many = SNAPSHOT_SECTIONS_MAX + 1, one_more = 4, tag0 = 0,
                 tag_bad = _SNAPSHOT_TAG_MAX;
        SnapshotId null = {};

        write_sample(fd, ram);
        expect_refused(fd, offsetof(SnapshotHeader, magic), "VMMHVSN0", 8, -EBADMSG);
        /* Version 1 (no ids) and a newer one. */
        expect_refused(fd, offsetof(SnapshotHeader, version), &v1, sizeof(v1), -EPROTONOSUPPORT);
        expect_refused(fd, offsetof(SnapshotHeader, version), &v3, sizeof(v3), -EPROTONOSUPPORT);
        /* No id; a base that is itself; a base without the section of its pages. */
        expect_refused(fd, offsetof(SnapshotHeader, id), &null, sizeof(null), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, base_id), &base_id, sizeof(base_id), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, base_id), &delta_id, sizeof(delta_id), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, n_sections), &many, sizeof(many), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, n_sections), &one_more, sizeof(one_more), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, state_size), &big, sizeof(big), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, state_size), &odd, sizeof(odd), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, ram_size), &big, sizeof(big), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, ram_size), &zero, sizeof(zero), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, ram_offset), &odd, sizeof(odd), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, ram_offset), &big, sizeof(big), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, state_offset), &zero, sizeof(zero), -EBADMSG);
        /* A section's tag and size. */
        expect_refused(
                fd, SNAPSHOT_HEADER_SIZE + offsetof(SnapshotSection, tag), &tag0, sizeof(tag0), -EBADMSG);
        expect_refused(
                fd, SNAPSHOT_HEADER_SIZE + offsetof(SnapshotSection, tag), &tag_bad, sizeof(tag_bad), -EBADMSG);
        expect_refused(fd, SNAPSHOT_HEADER_SIZE + offsetof(SnapshotSection, size), &big, sizeof(big), -EBADMSG);
        expect_refused(fd, SNAPSHOT_HEADER_SIZE + offsetof(SnapshotSection, size), &odd, sizeof(odd), -EBADMSG);

        /* RAM beyond the file's end (a truncated copy). */
        assert(pread(fd, &h, sizeof(h), 0) == sizeof(h));
        assert(ftruncate(fd, (off_t) (h.ram_offset + RAM_SIZE - 1)) == 0);
        Snapshot s = {};
        assert(snapshot_read(fd, &s) == -EBADMSG);
        /* Not a regular file, and an empty one. */
        int p[2];
        assert(pipe2(p, O_CLOEXEC) == 0);
        assert(snapshot_read(p[0], &s) == -EBADFD);
        safe_close(p[0]);
        safe_close(p[1]);
        _cleanup_close_ int empty = memfd();
        assert(snapshot_read(empty, &s) == -EBADMSG);
}

static void test_writer_limits(void) {
        SnapshotWriter w = { .id = base_id };
        _cleanup_close_ int fd = memfd();
        static uint8_t ram[4096];

        for (unsigned i = 0; i <= SNAPSHOT_SECTIONS_MAX; i++)
                snapshot_add(&w, SNAPSHOT_TAG_DEVICE, i, &i, sizeof(i));
        assert(w.error == -E2BIG);
        assert(snapshot_write(&w, fd, 0x40000000, ram, sizeof(ram), NULL) == -E2BIG);
        snapshot_writer_done(&w);
}

/* A delta of the sample: pages of page_size changed in ram (which becomes the RAM it snapshots) and held,
 * among them one now zero and the last one, plus one held unchanged. Returns how many it holds. */
static uint64_t write_delta(int fd, uint8_t *ram, uint64_t page_size, uint64_t *bitmap) {
        SnapshotWriter w = { .id = delta_id, .base_id = base_id };
        SnapshotPages pages = { .page_size = page_size, .n_pages = RAM_SIZE / page_size, .bitmap = bitmap };
        const uint64_t held[] = { 1, 2, 5, RAM_SIZE / page_size - 1 };
        uint32_t a = 0x55667788;

        memset(bitmap, 0, RAM_SIZE / 4096 / 8);
        for (size_t i = 0; i < ELEMENTSOF(held); i++)
                bitmap[held[i] / 64] |= 1ull << (held[i] % 64);
        memset(ram + 1 * page_size, 0xd1, page_size);
        memset(ram + 2 * page_size, 0, page_size);
        /* page 5 held as it was */
        memset(ram + RAM_SIZE - page_size / 2, 0x1a, page_size / 2);
        snapshot_add(&w, SNAPSHOT_TAG_MACHINE, 0, &a, sizeof(a));
        assert(snapshot_write(&w, fd, 0x40000000, ram, RAM_SIZE, &pages) == 0);
        snapshot_writer_done(&w);
        return ELEMENTSOF(held);
}

static void test_delta(uint64_t page_size) {
        _cleanup_close_ int base_fd = memfd(), fd = memfd();
        static uint8_t base_ram[RAM_SIZE], ram[RAM_SIZE];
        static uint64_t bitmap[RAM_SIZE / 4096 / 64];
        Snapshot base = {}, s = {};
        const uint8_t *p;
        struct stat st;
        uint64_t n_held;
        size_t size;

        write_sample(base_fd, base_ram);
        memcpy(ram, base_ram, RAM_SIZE);
        n_held = write_delta(fd, ram, page_size, bitmap);
        assert(snapshot_read(base_fd, &base) == 0 && snapshot_read(fd, &s) == 0);
        assert(snapshot_is_delta(&s) && !snapshot_is_delta(&base));
        assert(snapshot_id_equal(&s.header.id, &delta_id) && snapshot_id_equal(&s.header.base_id, &base_id));
        assert(snapshot_id_equal(&s.header.base_id, &base.header.id));
        char buf[SNAPSHOT_ID_STRING_MAX];
        assert(streq(snapshot_id_to_string(&s.header.base_id, buf), "ba5e0102030405060708090a0b0c0dff"));
        /* The section of its pages, as written. */
        assert(s.pages.page_size == page_size && s.pages.n_pages == RAM_SIZE / page_size);
        assert(memcmp(s.pages.bitmap, bitmap, (s.pages.n_pages + 63) / 64 * 8) == 0);
        p = snapshot_find(&s, SNAPSHOT_TAG_RAM_PAGES, 0, &size);
        assert(p && size == sizeof(SnapshotRamPages) + (s.pages.n_pages + 63) / 64 * 8);
        p = snapshot_find(&s, SNAPSHOT_TAG_MACHINE, 0, &size);
        assert(p && size == 4 && p[0] == 0x88);
        /* Same layout, the pages it does not hold holes: of RAM, only the 4 KiB of held pages that are not
         * zero take room. */
        uint64_t allocated = 0;
        for (uint64_t off = 0; off < RAM_SIZE; off += 4096) {
                static const uint8_t zero[4096];

                if ((bitmap[off / page_size / 64] & (1ull << (off / page_size % 64))) &&
                    memcmp(ram + off, zero, 4096) != 0)
                        allocated += 4096;
        }
        assert(allocated >= (n_held - 2) * page_size);
        assert(fstat(fd, &st) == 0 && (uint64_t) st.st_size == s.header.ram_offset + RAM_SIZE);
        assert((uint64_t) st.st_blocks * 512 >= allocated);
        assert((uint64_t) st.st_blocks * 512 <= allocated + s.header.ram_offset);

        /* Restored as a clone is: the base's RAM copy-on-write, the delta's pages read over it. */
        uint8_t *m = mmap(
                NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, base_fd, (off_t) base.header.ram_offset);
        assert(m != MAP_FAILED);
        assert(snapshot_read_pages(fd, &s, m) == 0);
        assert(memcmp(m, ram, RAM_SIZE) == 0);
        assert(munmap(m, RAM_SIZE) == 0);
        /* The base file is as it was. */
        m = mmap(NULL, RAM_SIZE, PROT_READ, MAP_SHARED, base_fd, (off_t) base.header.ram_offset);
        assert(m != MAP_FAILED && memcmp(m, base_ram, RAM_SIZE) == 0);
        assert(munmap(m, RAM_SIZE) == 0);
        snapshot_done(&s);
        snapshot_done(&base);
}

static void test_delta_refused(void) {
        _cleanup_close_ int fd = memfd();
        static uint8_t ram[RAM_SIZE];
        static uint64_t bitmap[RAM_SIZE / 4096 / 64];
        const uint64_t page_size = 64 * 1024; /* 16 pages: bits past RAM in the bitmap's one word */
        SnapshotId null = {};
        Snapshot s = {};
        size_t pages_at;
        uint64_t v;

        write_delta(fd, ram, page_size, bitmap);
        assert(snapshot_read(fd, &s) == 0);
        /* Where SnapshotRamPages is in the file. */
        pages_at = SNAPSHOT_HEADER_SIZE + (size_t) ((const uint8_t *) s.pages.bitmap - s.state) -
                sizeof(SnapshotRamPages);
        snapshot_done(&s);

        /* A delta without a base is a full snapshot with a section it may not have. */
        expect_refused(fd, offsetof(SnapshotHeader, base_id), &null, sizeof(null), -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, base_id), &delta_id, sizeof(delta_id), -EBADMSG);
        /* Page sizes that are not powers of two from 4 KiB to SNAPSHOT_RAM_ALIGN, or do not match n_pages. */
        const uint64_t page_sizes[] = { 0, 1, 2048, 3 * 4096, 2 * SNAPSHOT_RAM_ALIGN, 32 * 1024, UINT64_MAX };
        for (size_t i = 0; i < ELEMENTSOF(page_sizes); i++)
                expect_refused(
                        fd, pages_at + offsetof(SnapshotRamPages, page_size), page_sizes + i, 8, -EBADMSG);
        /* n_pages that does not fit RAM (or the bitmap's size). */
        const uint64_t n_pages[] = { 0, 15, 17, 64, RAM_SIZE / 4096, UINT64_MAX };
        for (size_t i = 0; i < ELEMENTSOF(n_pages); i++)
                expect_refused(fd, pages_at + offsetof(SnapshotRamPages, n_pages), n_pages + i, 8, -EBADMSG);
        /* Bits past RAM. */
        v = bitmap[0] | 1ull << 16;
        expect_refused(fd, pages_at + sizeof(SnapshotRamPages), &v, sizeof(v), -EBADMSG);
        v = bitmap[0] | 1ull << 63;
        expect_refused(fd, pages_at + sizeof(SnapshotRamPages), &v, sizeof(v), -EBADMSG);
        /* The section's index, and its size (one word more, one less). */
        size_t section_at = pages_at - sizeof(SnapshotSection);
        expect_refused(fd, section_at + offsetof(SnapshotSection, index), &(uint64_t){ 1 }, 8, -EBADMSG);
        v = sizeof(SnapshotRamPages) + 16;
        expect_refused(fd, section_at + offsetof(SnapshotSection, size), &v, sizeof(v), -EBADMSG);
        v = sizeof(SnapshotRamPages);
        expect_refused(fd, section_at + offsetof(SnapshotSection, size), &v, sizeof(v), -EBADMSG);

        /* Two sections of pages. */
        SnapshotWriter w = { .id = delta_id, .base_id = base_id };
        SnapshotPages pages = { .page_size = page_size, .n_pages = RAM_SIZE / page_size, .bitmap = bitmap };
        uint8_t payload[sizeof(SnapshotRamPages) + 8];
        memcpy(payload, &(SnapshotRamPages){ .page_size = page_size, .n_pages = RAM_SIZE / page_size }, 16);
        memcpy(payload + 16, bitmap, 8);
        snapshot_add(&w, SNAPSHOT_TAG_RAM_PAGES, 0, payload, sizeof(payload));
        assert(snapshot_write(&w, fd, 0x40000000, ram, RAM_SIZE, &pages) == 0);
        snapshot_writer_done(&w);
        assert(snapshot_read(fd, &s) == -EBADMSG);

        /* The writer: a delta needs its base and its pages and they fit; a full snapshot has neither;
         * every snapshot an id. */
        const struct {
                SnapshotId id, base;
                SnapshotPages pages;
                bool with_pages;
        } bad[] = {
                { delta_id, null, pages, true },
                { delta_id, base_id, pages, false },
                { null, base_id, pages, true },
                { null, null, pages, false },
                { base_id, base_id, pages, true },
                { delta_id, base_id, { page_size, RAM_SIZE / page_size + 1, bitmap }, true },
                { delta_id, base_id, { 2048, RAM_SIZE / 2048, bitmap }, true },
                { delta_id, base_id, { 0, 0, bitmap }, true },
                { delta_id, base_id, { page_size, RAM_SIZE / page_size, (const uint64_t[]){ 1ull << 16 } }, true },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                SnapshotWriter x = { .id = bad[i].id, .base_id = bad[i].base };

                assert(snapshot_write(
                               &x, fd, 0x40000000, ram, RAM_SIZE, bad[i].with_pages ? &bad[i].pages : NULL) ==
                       -EINVAL);
                snapshot_writer_done(&x);
        }
}

int main(void) {
        test_round_trip();
        test_refused();
        test_writer_limits();
        test_delta(4096);
        test_delta(16 * 1024);
        test_delta(SNAPSHOT_RAM_ALIGN);
        test_delta_refused();
        return 0;
}
