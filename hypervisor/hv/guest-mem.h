/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest RAM as vmm-hv sees it: one region of guest physical addresses backed by one host mapping. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct GuestMemory {
        uint64_t base; /* guest physical address of the first byte */
        uint64_t size;
        uint8_t *host;
} GuestMemory;

/* The host address of [gpa, gpa + len) if all of it is guest RAM, else NULL. Everything a guest names
 * (descriptor addresses, buffer lengths, page-table entries) goes through here: no sum can overflow. */
static inline void *guest_mem_ptr(const GuestMemory *m, uint64_t gpa, uint64_t len) {
        if (gpa < m->base || len > m->size || gpa - m->base > m->size - len)
                return NULL;
        return m->host + (gpa - m->base);
}

static inline bool guest_mem_contains(const GuestMemory *m, uint64_t gpa, uint64_t len) {
        return guest_mem_ptr(m, gpa, len) != NULL;
}

/* Copies out of or into guest RAM; -EFAULT if any byte is outside it. */
static inline int guest_mem_read(const GuestMemory *m, uint64_t gpa, void *buf, uint64_t len) {
        const void *p = guest_mem_ptr(m, gpa, len);

        if (!p)
                return -EFAULT;
        memcpy(buf, p, len);
        return 0;
}

static inline int guest_mem_write(const GuestMemory *m, uint64_t gpa, const void *buf, uint64_t len) {
        void *p = guest_mem_ptr(m, gpa, len);

        if (!p)
                return -EFAULT;
        memcpy(p, buf, len);
        return 0;
}
