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
        /* The pages the VMM itself wrote (a bit per page of 1 << dirty_shift bytes), or NULL: KVM's dirty
         * log sees only the guest's writes, not those through host, so devices mark theirs here for an
         * incremental snapshot. */
        uint64_t *dirty;
        unsigned dirty_shift;
} GuestMemory;

/* Sets the bits of the pages that [offset, offset + len) touches, in a bitmap of pages of 1 << shift
 * bytes. Atomic: devices run in vCPU threads and the event loop. */
static inline void dirty_bitmap_mark(uint64_t *bitmap, unsigned shift, uint64_t offset, uint64_t len) {
        if (len == 0)
                return;
        for (uint64_t p = offset >> shift; p <= (offset + len - 1) >> shift; p++)
                (void) __atomic_fetch_or(bitmap + p / 64, 1ull << (p % 64), __ATOMIC_RELAXED);
}

/* The VMM writes [gpa, gpa + len), which lies in guest RAM. */
static inline void guest_mem_mark_dirty(const GuestMemory *m, uint64_t gpa, uint64_t len) {
        if (m->dirty)
                dirty_bitmap_mark(m->dirty, m->dirty_shift, gpa - m->base, len);
}

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
        guest_mem_mark_dirty(m, gpa, len);
        return 0;
}
