/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Loading a Linux arm64 Image (Documentation/arch/arm64/booting.rst), its initramfs and device tree into
 * guest RAM, where the boot protocol wants them. */
#pragma once

#include <stdint.h>

#include "guest-mem.h"

#define ARM64_IMAGE_MAGIC 0x644d5241u /* "ARM\x64" */
/* A gzip-compressed Image (what some distributions ship as vmlinuz) is inflated up to this size. */
#define BOOT_KERNEL_MAX (256ull << 20)

typedef struct BootLayout {
        uint64_t kernel_entry, kernel_end; /* guest physical; the entry is the image's first byte */
        uint64_t initrd_start, initrd_end; /* 0, 0 without one */
        uint64_t fdt_addr;                 /* where the device tree goes (at most FDT window bytes) */
} BootLayout;

#define BOOT_FDT_WINDOW (2ull << 20)

/* Validates an Image header: -ENOEXEC if it is none (bad magic, big-endian, too small). */
int boot_parse_header(const void *buf, uint64_t size, uint64_t *ret_text_offset, uint64_t *ret_image_size);
/* Loads kernel (an Image, or one compressed with gzip) and initrd (may be -1) from fds and fills ret.
 * -E2BIG if they do not fit into guest RAM. */
int boot_load(const GuestMemory *m, int kernel_fd, int initrd_fd, BootLayout *ret);
