/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-hv's snapshot file: what is written reads back (sections, RAM with zero pages as holes), and a
 * damaged or foreign file is refused before anything in it is used. */
#include <assert.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "snapshot.h"

#define RAM_SIZE (1u << 20)

static int memfd(void) {
        int fd = memfd_create("snapshot", MFD_CLOEXEC);

        assert(fd >= 0);
        return fd;
}

static void write_sample(int fd, uint8_t *ram) {
        SnapshotWriter w = {};
        uint32_t a = 0x11223344;
        char b[13] = "odd-sized!!!";

        for (size_t i = 0; i < RAM_SIZE; i++)
                ram[i] = (i / 4096) % 3 == 0 ? 0 : (uint8_t) (i * 31 + 7); /* every third page zero */
        snapshot_add(&w, SNAPSHOT_TAG_MACHINE, 0, &a, sizeof(a));
        snapshot_add(&w, SNAPSHOT_TAG_DEVICE, 0x0a000000, b, sizeof(b));
        snapshot_add(&w, SNAPSHOT_TAG_VCPU_REGS, 1, NULL, 0);
        assert(snapshot_write(&w, fd, 0x40000000, ram, RAM_SIZE) == 0);
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
        uint32_t v2 = 2, many = SNAPSHOT_SECTIONS_MAX + 1, one_more = 4, tag0 = 0, tag_bad = _SNAPSHOT_TAG_MAX;

        write_sample(fd, ram);
        expect_refused(fd, offsetof(SnapshotHeader, magic), "VMMHVSN0", 8, -EBADMSG);
        expect_refused(fd, offsetof(SnapshotHeader, version), &v2, sizeof(v2), -EPROTONOSUPPORT);
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
        SnapshotWriter w = {};
        _cleanup_close_ int fd = memfd();
        static uint8_t ram[4096];

        for (unsigned i = 0; i <= SNAPSHOT_SECTIONS_MAX; i++)
                snapshot_add(&w, SNAPSHOT_TAG_DEVICE, i, &i, sizeof(i));
        assert(w.error == -E2BIG);
        assert(snapshot_write(&w, fd, 0x40000000, ram, sizeof(ram)) == -E2BIG);
        snapshot_writer_done(&w);
}

int main(void) {
        test_round_trip();
        test_refused();
        test_writer_limits();
        return 0;
}
