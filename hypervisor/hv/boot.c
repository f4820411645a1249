/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The arm64 Linux boot protocol: Image at a 2 MiB aligned base + text_offset, the device tree 8-byte
 * aligned in its own 2 MiB window, the initramfs anywhere in RAM; vmm-hv puts both at the top of RAM. */
#include <assert.h>
#include <errno.h>
#include <sys/stat.h>
#include <zlib.h>

#include "boot.h"
#include "util.h"

#define SZ_2M (2ull << 20)
#define SZ_4K 4096ull

/* Fields of the 64-byte header (little-endian). */
#define HDR_TEXT_OFFSET 8
#define HDR_IMAGE_SIZE 16
#define HDR_FLAGS 24
#define HDR_MAGIC 56
#define HDR_SIZE 64

static uint64_t le64(const uint8_t *p) {
        uint64_t v = 0;

        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

int boot_parse_header(const void *buf, uint64_t size, uint64_t *ret_text_offset, uint64_t *ret_image_size) {
        const uint8_t *p = buf;
        uint64_t text_offset, image_size, flags;

        if (size < HDR_SIZE || (uint32_t) le64(p + HDR_MAGIC) != ARM64_IMAGE_MAGIC)
                return -ENOEXEC;
        text_offset = le64(p + HDR_TEXT_OFFSET);
        image_size = le64(p + HDR_IMAGE_SIZE);
        flags = le64(p + HDR_FLAGS);
        if (image_size == 0) {
                /* Before Linux 3.17: text_offset was not reliably set; it was 0x80000 (booting.rst). */
                text_offset = 0x80000;
                image_size = size;
        } else if (flags & 1) { /* big-endian kernel */
                return -ENOEXEC;
        }
        if (text_offset >= SZ_2M || image_size < size || image_size > BOOT_KERNEL_MAX)
                return -ENOEXEC;
        *ret_text_offset = text_offset;
        *ret_image_size = image_size;
        return 0;
}

/* Inflates a gzip stream into a new buffer of at most BOOT_KERNEL_MAX bytes. */
static int gunzip(const uint8_t *in, size_t in_size, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *out = NULL;
        size_t cap = 0;
        z_stream z = { .next_in = (uint8_t *) in, .avail_in = (uInt) MIN(in_size, (size_t) UINT_MAX) };
        int r;

        if (in_size > UINT_MAX)
                return -EFBIG;
        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
                return -ENOMEM;
        do {
                if (z.total_out == cap) {
                        uint8_t *n;

                        if (cap >= BOOT_KERNEL_MAX) {
                                (void) inflateEnd(&z);
                                return -EFBIG;
                        }
                        cap = cap ? cap * 2 : 32ull << 20;
                        n = realloc(out, cap);
                        if (!n) {
                                (void) inflateEnd(&z);
                                return -ENOMEM;
                        }
                        out = n;
                }
                z.next_out = out + z.total_out;
                z.avail_out = (uInt) (cap - z.total_out);
                r = inflate(&z, Z_NO_FLUSH);
        } while (r == Z_OK);
        size_t n = z.total_out;
        (void) inflateEnd(&z);
        if (r != Z_STREAM_END)
                return -ENOEXEC;
        *ret_size = n;
        *ret = TAKE_PTR(out);
        return 0;
}

static int file_size(int fd, uint64_t *ret) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (st.st_size <= 0)
                return -ENOEXEC;
        *ret = (uint64_t) st.st_size;
        return 0;
}

/* size bytes from offset 0 of fd into buf: read() straight into guest RAM, never a mapping of the file,
 * whose every page would fault (what makes a start slow under nested virtualisation). */
static int read_at_start(int fd, void *buf, uint64_t size) {
        for (uint64_t done = 0; done < size;) {
                ssize_t k = pread(
                        fd, (uint8_t *) buf + done, MIN(size - done, (uint64_t) 64 << 20), (off_t) done);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO; /* the file shrank */
                done += (uint64_t) k;
        }
        return 0;
}

/* Where the Image goes: a 2 MiB boundary plus its text_offset; -E2BIG if it does not fit. */
static int place_kernel(const GuestMemory *m, const uint8_t *header, uint64_t size, BootLayout *l, uint8_t **ret) {
        uint64_t text_offset, image_size, base;
        uint8_t *dst;
        int r;

        r = boot_parse_header(header, size, &text_offset, &image_size);
        if (r < 0)
                return r;
        base = (m->base + SZ_2M - 1) & ~(SZ_2M - 1);
        /* The rest, up to image_size, is BSS: guest RAM starts zeroed. */
        dst = guest_mem_ptr(m, base + text_offset, image_size);
        if (!dst)
                return -E2BIG;
        l->kernel_entry = base + text_offset;
        l->kernel_end = base + text_offset + image_size;
        *ret = dst;
        return 0;
}

static int load_kernel(const GuestMemory *m, int fd, BootLayout *l) {
        uint8_t header[64] = {};
        uint64_t size = 0;
        uint8_t *dst;
        ssize_t n;
        int r;

        r = file_size(fd, &size);
        if (r < 0)
                return r;
        n = pread(fd, header, sizeof(header), 0);
        if (n < 0)
                return -errno;
        if (n >= 2 && header[0] == 0x1f && header[1] == 0x8b) {
                _cleanup_free_ uint8_t *gz = NULL, *image = NULL;
                size_t image_n;

                if (size > BOOT_KERNEL_MAX)
                        return -EFBIG;
                gz = malloc(size);
                if (!gz)
                        return -ENOMEM;
                r = read_at_start(fd, gz, size);
                if (r >= 0)
                        r = gunzip(gz, size, &image, &image_n);
                if (r >= 0)
                        r = place_kernel(m, image, image_n, l, &dst);
                if (r < 0)
                        return r;
                memcpy(dst, image, image_n);
                return 0;
        }
        r = place_kernel(m, header, size < sizeof(header) ? (uint64_t) n : size, l, &dst);
        if (r < 0)
                return r;
        return read_at_start(fd, dst, size);
}

int boot_load(const GuestMemory *m, int kernel_fd, int initrd_fd, BootLayout *ret) {
        BootLayout l = {};
        uint64_t size = 0, top;
        int r;

        assert(m);
        assert(ret);

        r = load_kernel(m, kernel_fd, &l);
        if (r < 0)
                return r;

        /* The device tree in the last 2 MiB window, the initramfs page-aligned below it. */
        if (m->size < 2 * BOOT_FDT_WINDOW)
                return -E2BIG;
        top = (m->base + m->size) & ~(BOOT_FDT_WINDOW - 1);
        l.fdt_addr = top - BOOT_FDT_WINDOW;
        if (l.fdt_addr < l.kernel_end)
                return -E2BIG;
        if (initrd_fd >= 0) {
                r = file_size(initrd_fd, &size);
                if (r < 0)
                        return r;
                if (size > l.fdt_addr - l.kernel_end)
                        return -E2BIG;
                l.initrd_start = (l.fdt_addr - size) & ~(SZ_4K - 1);
                if (l.initrd_start < l.kernel_end)
                        return -E2BIG;
                l.initrd_end = l.initrd_start + size;
                r = read_at_start(initrd_fd, guest_mem_ptr(m, l.initrd_start, size), size);
                if (r < 0)
                        return r;
        }
        *ret = l;
        return 0;
}
