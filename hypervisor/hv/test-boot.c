/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The arm64 boot protocol: where the Image, initramfs and device tree land, gzip, and refused images. */
#include <assert.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <zlib.h>

#include "boot.h"
#include "util.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (64ull << 20)

static void put_le64(uint8_t *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

/* An Image of size bytes: header, then a pattern. */
static uint8_t *make_image(size_t size, uint64_t text_offset, uint64_t image_size, uint64_t flags) {
        uint8_t *p = calloc(1, size);

        assert(p);
        for (size_t i = 64; i < size; i++)
                p[i] = (uint8_t) (i * 7 + 3);
        put_le64(p + 8, text_offset);
        put_le64(p + 16, image_size);
        put_le64(p + 24, flags);
        put_le64(p + 56, ARM64_IMAGE_MAGIC);
        return p;
}

static int memfd_with(const void *data, size_t size) {
        int fd = memfd_create("test", MFD_CLOEXEC);

        assert(fd >= 0);
        assert(pwrite_full(fd, data, size, 0) >= 0);
        return fd;
}

static GuestMemory make_ram(void) {
        uint8_t *p = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        assert(p != MAP_FAILED);
        return (GuestMemory){ .base = RAM_BASE, .size = RAM_SIZE, .host = p };
}

static void free_ram(GuestMemory *m) {
        assert(munmap(m->host, m->size) == 0);
}

static void test_header(void) {
        _cleanup_free_ uint8_t *img = make_image(4096, 0, 1 << 20, 0);
        uint64_t t, s;

        assert(boot_parse_header(img, 4096, &t, &s) == 0);
        assert(t == 0 && s == 1 << 20);
        assert(boot_parse_header(img, 63, &t, &s) == -ENOEXEC);

        img[56] ^= 1; /* magic */
        assert(boot_parse_header(img, 4096, &t, &s) == -ENOEXEC);
        img[56] ^= 1;

        put_le64(img + 24, 1); /* big-endian kernel */
        assert(boot_parse_header(img, 4096, &t, &s) == -ENOEXEC);
        put_le64(img + 24, 0);

        put_le64(img + 8, 2 << 20); /* text_offset beyond the 2 MiB window */
        assert(boot_parse_header(img, 4096, &t, &s) == -ENOEXEC);
        put_le64(img + 8, 0);

        put_le64(img + 16, 100); /* image_size smaller than the file */
        assert(boot_parse_header(img, 4096, &t, &s) == -ENOEXEC);

        /* Before 3.17: image_size 0 means text_offset 0x80000 and the file's size. */
        put_le64(img + 16, 0);
        put_le64(img + 8, 0x1234);
        assert(boot_parse_header(img, 4096, &t, &s) == 0);
        assert(t == 0x80000 && s == 4096);
}

static void check_kernel(
        const GuestMemory *m,
        const BootLayout *l,
        const uint8_t *img,
        size_t size,
        uint64_t entry,
        uint64_t image_size) {
        assert(l->kernel_entry == entry);
        assert(l->kernel_end == entry + image_size);
        assert(memcmp(guest_mem_ptr(m, entry, size), img, size) == 0);
}

static void test_load(void) {
        GuestMemory m = make_ram();
        size_t size = 3 << 20;
        _cleanup_free_ uint8_t *img = make_image(size, 0x80000, 5 << 20, 0);
        uint8_t initrd[10000];
        _cleanup_close_ int kfd = memfd_with(img, size), ifd = -EBADF;
        BootLayout l;

        for (size_t i = 0; i < sizeof(initrd); i++)
                initrd[i] = (uint8_t) (i ^ 0x5a);
        ifd = memfd_with(initrd, sizeof(initrd));

        assert(boot_load(&m, kfd, ifd, &l) == 0);
        check_kernel(&m, &l, img, size, RAM_BASE + 0x80000, 5 << 20);
        /* The device tree in the last 2 MiB of RAM, the initramfs page-aligned right below it. */
        assert(l.fdt_addr == RAM_BASE + RAM_SIZE - (2 << 20));
        assert(l.initrd_end <= l.fdt_addr && l.fdt_addr - l.initrd_end < 4096);
        assert(l.initrd_start % 4096 == 0 && l.initrd_end - l.initrd_start == sizeof(initrd));
        assert(memcmp(guest_mem_ptr(&m, l.initrd_start, sizeof(initrd)), initrd, sizeof(initrd)) == 0);

        /* Without an initramfs. */
        assert(boot_load(&m, kfd, -1, &l) == 0);
        assert(l.initrd_start == 0 && l.initrd_end == 0);

        /* RAM not at a 2 MiB boundary: the kernel goes to the next one. */
        GuestMemory odd = { .base = RAM_BASE + 4096, .size = RAM_SIZE - 4096, .host = m.host + 4096 };
        assert(boot_load(&odd, kfd, -1, &l) == 0);
        assert(l.kernel_entry == RAM_BASE + (2 << 20) + 0x80000);

        /* Too small: the kernel's image_size (BSS included) must fit below the device tree. */
        GuestMemory small = { .base = RAM_BASE, .size = 6 << 20, .host = m.host };
        assert(boot_load(&small, kfd, -1, &l) == -E2BIG);
        /* An initramfs that does not fit between the kernel and the device tree. */
        GuestMemory tight = { .base = RAM_BASE, .size = 8 << 20, .host = m.host };
        _cleanup_free_ uint8_t *big = calloc(1, 1 << 20);
        assert(big);
        _cleanup_close_ int bfd = memfd_with(big, 1 << 20);
        assert(boot_load(&tight, kfd, bfd, &l) == -E2BIG);

        /* Not an Image at all, and an empty file. */
        _cleanup_close_ int junk = memfd_with("#!/bin/sh\necho no kernel here\n", 31);
        assert(boot_load(&m, junk, -1, &l) == -ENOEXEC);
        _cleanup_close_ int empty = memfd_create("empty", MFD_CLOEXEC);
        assert(boot_load(&m, empty, -1, &l) == -ENOEXEC);
        free_ram(&m);
}

static void test_gzip(void) {
        GuestMemory m = make_ram();
        size_t size = 1 << 20;
        _cleanup_free_ uint8_t *img = make_image(size, 0, 2 << 20, 0);
        uLongf zsize = compressBound(size) + 64;
        _cleanup_free_ uint8_t *gz = malloc(zsize);
        z_stream z = {};
        BootLayout l;

        assert(gz);
        /* gzip framing (windowBits 16 + 15), as gzip(1) writes it. */
        assert(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
        z.next_in = img;
        z.avail_in = (uInt) size;
        z.next_out = gz;
        z.avail_out = (uInt) zsize;
        assert(deflate(&z, Z_FINISH) == Z_STREAM_END);
        zsize = z.total_out;
        assert(deflateEnd(&z) == Z_OK);

        _cleanup_close_ int fd = memfd_with(gz, zsize);
        assert(boot_load(&m, fd, -1, &l) == 0);
        check_kernel(&m, &l, img, size, RAM_BASE, 2 << 20);

        /* A truncated stream is refused, not half loaded. */
        _cleanup_close_ int cut = memfd_with(gz, zsize / 2);
        assert(boot_load(&m, cut, -1, &l) == -ENOEXEC);
        free_ram(&m);
}

int main(void) {
        test_header();
        test_load();
        test_gzip();
        return 0;
}
