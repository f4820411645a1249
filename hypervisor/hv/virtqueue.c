/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Split virtqueues, device side. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "util.h"
#include "virtqueue.h"

typedef struct VirtqDesc {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        uint16_t next;
} VirtqDesc;

/* The rings' layout (2.7.6, 2.7.8): flags, idx, then the entries. */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_IDX 2
#define USED_RING 4

static uint64_t avail_size(uint16_t n) {
        return AVAIL_RING + 2ull * n + 2;
}

static uint64_t used_size(uint16_t n) {
        return USED_RING + 8ull * n + 2;
}

int virtqueue_check(const VirtQueue *q, const GuestMemory *m, uint16_t max_size) {
        assert(q);
        assert(m);

        if (q->size == 0 || q->size > max_size || (q->size & (q->size - 1)) != 0)
                return -EINVAL;
        if (q->desc % 16 != 0 || q->avail % 2 != 0 || q->used % 4 != 0)
                return -EINVAL;
        if (!guest_mem_contains(m, q->desc, 16ull * q->size) ||
            !guest_mem_contains(m, q->avail, avail_size(q->size)) ||
            !guest_mem_contains(m, q->used, used_size(q->size)))
                return -EINVAL;
        return 0;
}

void virtqueue_reset(VirtQueue *q) {
        *q = (VirtQueue){};
}

/* The ring's 16-bit fields, read and written as single atomic accesses: the driver runs on other CPUs. */
static uint16_t *ring16(const GuestMemory *m, uint64_t gpa) {
        /* virtqueue_check() showed the areas are inside RAM and aligned. */
        return (uint16_t *) guest_mem_ptr(m, gpa, 2);
}

static int read_desc(const GuestMemory *m, uint64_t table, uint32_t n, uint32_t i, VirtqDesc *ret) {
        const uint8_t *p;

        if (i >= n)
                return -EBADMSG;
        p = guest_mem_ptr(m, table + 16ull * i, 16);
        if (!p)
                return -EBADMSG;
        /* One copy: the driver may change the descriptor while it is looked at. */
        memcpy(ret, p, sizeof(*ret));
        return 0;
}

static int add_buffer(VirtChain *c, const GuestMemory *m, const VirtqDesc *d) {
        void *p;

        if (c->n_out + c->n_in >= VIRTQ_SEG_MAX)
                return -EBADMSG;
        p = guest_mem_ptr(m, d->addr, d->len);
        if (!p)
                return -EBADMSG;
        if (d->flags & VIRTQ_DESC_F_WRITE) {
                /* The device may write any of it before it pushes the chain back, and no chain it writes
                 * into is kept across a snapshot: marked now, it is in the next one. */
                guest_mem_mark_dirty(m, d->addr, d->len);
                c->in_len += d->len;
                c->n_in++;
        } else {
                if (c->n_in > 0) /* readable buffers come first (2.7.4.2) */
                        return -EBADMSG;
                c->out_len += d->len;
                c->n_out++;
        }
        c->iov[c->n_out + c->n_in - 1] = (struct iovec){ .iov_base = p, .iov_len = d->len };
        return 0;
}

static int walk_chain(const VirtQueue *q, const GuestMemory *m, uint16_t head, VirtChain *c) {
        uint64_t table = q->desc;
        uint32_t n = q->size, i = head, steps = 0;
        bool indirect = false;
        VirtqDesc d;
        int r;

        *c = (VirtChain){ .head = head };
        for (;;) {
                r = read_desc(m, table, n, i, &d);
                if (r < 0)
                        return r;
                if (++steps > n) /* a loop */
                        return -EBADMSG;
                if (d.flags & VIRTQ_DESC_F_INDIRECT) {
                        /* Only in the main table, without NEXT, a whole number of descriptors (2.7.5.3). */
                        if (indirect || (d.flags & VIRTQ_DESC_F_NEXT) || d.len == 0 || d.len % 16 != 0 ||
                            d.len / 16 > VIRTQ_SEG_MAX || !guest_mem_contains(m, d.addr, d.len))
                                return -EBADMSG;
                        indirect = true;
                        table = d.addr;
                        n = d.len / 16;
                        i = 0;
                        steps = 0;
                        continue;
                }
                r = add_buffer(c, m, &d);
                if (r < 0)
                        return r;
                if (!(d.flags & VIRTQ_DESC_F_NEXT))
                        return 0;
                i = d.next;
        }
}

int virtqueue_pop(VirtQueue *q, const GuestMemory *m, VirtChain *ret) {
        uint16_t avail_idx, head;
        int r;

        assert(q);
        assert(m);
        assert(ret);

        if (!q->ready || q->broken)
                return q->broken ? -EBADMSG : 0;
        avail_idx = __atomic_load_n(ring16(m, q->avail + AVAIL_IDX), __ATOMIC_ACQUIRE);
        if (avail_idx == q->last_avail)
                return 0;
        if ((uint16_t) (avail_idx - q->last_avail) > q->size)
                goto broken;
        head = __atomic_load_n(
                ring16(m, q->avail + AVAIL_RING + 2ull * (q->last_avail % q->size)), __ATOMIC_RELAXED);
        if (head >= q->size)
                goto broken;
        r = walk_chain(q, m, head, ret);
        if (r < 0)
                goto broken;
        q->last_avail++;
        return 1;

broken:
        q->broken = true;
        return -EBADMSG;
}

void virtqueue_unpop(VirtQueue *q) {
        q->last_avail--;
}

bool virtqueue_available(const VirtQueue *q, const GuestMemory *m) {
        if (!q->ready || q->broken)
                return false;
        return __atomic_load_n(ring16(m, q->avail + AVAIL_IDX), __ATOMIC_ACQUIRE) != q->last_avail;
}

int virtqueue_push(VirtQueue *q, const GuestMemory *m, uint16_t head, uint32_t written) {
        uint8_t *e;

        assert(q);
        assert(m);

        if (!q->ready)
                return -ESTALE;
        e = guest_mem_ptr(m, q->used + USED_RING + 8ull * (q->used_idx % q->size), 8);
        if (!e)
                return -EBADMSG;
        uint32_t entry[2] = { head, written };
        memcpy(e, entry, sizeof(entry));
        guest_mem_mark_dirty(m, q->used + USED_RING + 8ull * (q->used_idx % q->size), 8);
        guest_mem_mark_dirty(m, q->used + USED_IDX, 2);
        q->used_idx++;
        /* The entry is visible before the index that publishes it. */
        __atomic_store_n(ring16(m, q->used + USED_IDX), q->used_idx, __ATOMIC_RELEASE);
        return 0;
}

bool virtqueue_should_notify(const VirtQueue *q, const GuestMemory *m) {
        if (!q->ready)
                return false;
        /* The used index is published before the driver's wish is read (the driver does the converse). */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return !(
                __atomic_load_n(ring16(m, q->avail + AVAIL_FLAGS), __ATOMIC_RELAXED) &
                VIRTQ_AVAIL_F_NO_INTERRUPT);
}

static size_t chain_copy(const VirtChain *c, bool in, size_t offset, void *buf, size_t len) {
        unsigned first = in ? c->n_out : 0, n = in ? c->n_in : c->n_out;
        size_t done = 0;

        for (unsigned i = first; i < first + n && done < len; i++) {
                size_t l = c->iov[i].iov_len;

                if (offset >= l) {
                        offset -= l;
                        continue;
                }
                l = MIN(l - offset, len - done);
                if (in)
                        memcpy((uint8_t *) c->iov[i].iov_base + offset, (const uint8_t *) buf + done, l);
                else
                        memcpy((uint8_t *) buf + done, (const uint8_t *) c->iov[i].iov_base + offset, l);
                done += l;
                offset = 0;
        }
        return done;
}

size_t virtchain_read(const VirtChain *c, size_t offset, void *buf, size_t len) {
        return chain_copy(c, false, offset, buf, len);
}

size_t virtchain_write(const VirtChain *c, size_t offset, const void *buf, size_t len) {
        return chain_copy(c, true, offset, (void *) buf, len);
}
