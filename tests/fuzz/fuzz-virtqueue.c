/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the device side of split virtqueues (virtqueue.h) with whole guest RAM images: the guest writes
 * every byte of its rings and may change them between two looks, so no image may crash vmm-hv, make it touch
 * host memory outside guest RAM, or hand a device a chain that breaks the rules a well-formed one keeps. */
#include "fuzz.h"
#include "virtqueue.h"

/* The input: a header, a script of bytes the racing driver flips between pops, then guest RAM (zero-padded).
 * 8 KiB of RAM hold a descriptor table and an indirect one that together reach VIRTQ_SEG_MAX. */
#define RAM_BASE 0x40000000ull
#define RAM_SIZE 8192u
#define RACE_N 16u
#define HEADER_SIZE 16u
#define RAM_OFFSET (HEADER_SIZE + 3 * RACE_N)
#define POPS_MAX 64u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Input {
        uint16_t size, desc, avail, used; /* the areas as offsets from RAM_BASE: some are outside RAM */
        uint16_t last_avail, used_idx;
        uint8_t unpop_mask; /* bit i % 8: give chain i back and take it again */
        uint8_t read_offset;
        uint16_t copy_len;
        struct {
                uint16_t offset; /* into RAM */
                uint8_t mask;    /* 0: no flip */
        } race[RACE_N];
} Input;

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
        return (uint64_t) le32(p) | (uint64_t) le32(p + 4) << 32;
}

static void parse_input(const uint8_t *data, size_t size, Input *ret) {
        uint8_t h[RAM_OFFSET] = {};

        memcpy(h, data, MIN(size, sizeof(h)));
        *ret = (Input){
                .size = le16(h + 0),
                .desc = le16(h + 2),
                .avail = le16(h + 4),
                .used = le16(h + 6),
                .last_avail = le16(h + 8),
                .used_idx = le16(h + 10),
                .unpop_mask = h[12],
                .read_offset = h[13],
                .copy_len = le16(h + 14),
        };
        for (unsigned i = 0; i < RACE_N; i++) {
                ret->race[i].offset = le16(h + HEADER_SIZE + 3 * i);
                ret->race[i].mask = h[HEADER_SIZE + 3 * i + 2];
        }
}

/* The rules of 2.7.4/2.7.5 as vmm-hv applies them, written a second way (a visited set instead of a step
 * count): the chain at head, or -EBADMSG. */
static int reference_walk(const VirtQueue *q, const GuestMemory *m, uint16_t head, VirtChain *c) {
        uint8_t visited[VIRTQ_SIZE_MAX] = {};
        uint64_t table = q->desc;
        unsigned n = q->size, i = head;
        bool indirect = false, writable = false;

        *c = (VirtChain){ .head = head };
        for (;;) {
                const uint8_t *d;
                uint64_t addr;
                uint32_t len;
                uint16_t flags;

                if (i >= n || visited[i])
                        return -EBADMSG;
                visited[i] = 1;
                d = guest_mem_ptr(m, table + 16ull * i, 16);
                if (!d)
                        return -EBADMSG;
                addr = le64(d);
                len = le32(d + 8);
                flags = le16(d + 12);
                if (flags & VIRTQ_DESC_F_INDIRECT) {
                        if (indirect || (flags & VIRTQ_DESC_F_NEXT) || len == 0 || len % 16 != 0 ||
                            len > 16 * VIRTQ_SEG_MAX || !guest_mem_ptr(m, addr, len))
                                return -EBADMSG;
                        indirect = true;
                        table = addr;
                        n = len / 16;
                        i = 0;
                        memset(visited, 0, sizeof(visited));
                        continue;
                }
                if (c->n_out + c->n_in == VIRTQ_SEG_MAX || !guest_mem_ptr(m, addr, len))
                        return -EBADMSG;
                if (flags & VIRTQ_DESC_F_WRITE)
                        writable = true;
                else if (writable)
                        return -EBADMSG;
                c->iov[c->n_out + c->n_in] = (struct iovec){ .iov_base = guest_mem_ptr(m, addr, len),
                                                             .iov_len = len };
                if (writable) {
                        c->n_in++;
                        c->in_len += len;
                } else {
                        c->n_out++;
                        c->out_len += len;
                }
                if (!(flags & VIRTQ_DESC_F_NEXT))
                        return 0;
                i = le16(d + 14);
        }
}

static bool same_chain(const VirtChain *a, const VirtChain *b) {
        if (a->head != b->head || a->n_out != b->n_out || a->n_in != b->n_in || a->out_len != b->out_len ||
            a->in_len != b->in_len)
                return false;
        for (unsigned i = 0; i < a->n_out + a->n_in; i++)
                if (a->iov[i].iov_base != b->iov[i].iov_base || a->iov[i].iov_len != b->iov[i].iov_len)
                        return false;
        return true;
}

/* Every buffer is guest RAM, and the counts and lengths add up. */
static void check_chain(const VirtQueue *q, const GuestMemory *m, const VirtChain *c) {
        uintptr_t lo = (uintptr_t) m->host, hi = lo + m->size;
        uint64_t out = 0, in = 0;

        fuzz_check(c->head < q->size, "head %u, size %u", c->head, q->size);
        fuzz_check(
                c->n_out + c->n_in >= 1 && c->n_out + c->n_in <= VIRTQ_SEG_MAX, "%u + %u", c->n_out, c->n_in);
        for (unsigned i = 0; i < c->n_out + c->n_in; i++) {
                uintptr_t b = (uintptr_t) c->iov[i].iov_base;
                size_t l = c->iov[i].iov_len;

                fuzz_check(
                        b >= lo && b <= hi && l <= hi - b,
                        "iov %u: %p+%zu outside RAM",
                        i,
                        c->iov[i].iov_base,
                        l);
                fuzz_check(l <= UINT32_MAX);
                if (i < c->n_out)
                        out += l;
                else
                        in += l;
        }
        fuzz_check(out == c->out_len && in == c->in_len);
}

/* Reading and writing through the chain agrees with its buffers. */
static void check_copy(const VirtChain *c, const Input *in) {
        static uint8_t buf[VIRTQ_SEG_MAX * RAM_SIZE], pattern[RAM_SIZE];
        size_t n, off, expect, pos = 0;

        fuzz_check(c->out_len <= sizeof(buf) && c->in_len <= sizeof(buf));
        n = virtchain_read(c, 0, buf, sizeof(buf));
        fuzz_check(n == c->out_len, "read %zu of %" PRIu64, n, c->out_len);
        for (unsigned i = 0; i < c->n_out; i++) {
                fuzz_check(memcmp(buf + pos, c->iov[i].iov_base, c->iov[i].iov_len) == 0);
                pos += c->iov[i].iov_len;
        }
        /* A window somewhere in (or past) the readable bytes. */
        off = c->out_len > 0 ? in->read_offset % (c->out_len + 2) : in->read_offset;
        expect = off < c->out_len ? MIN((size_t) in->copy_len, c->out_len - off) : 0;
        n = virtchain_read(c, off, buf, MIN((size_t) in->copy_len, sizeof(buf)));
        fuzz_check(n == expect, "read %zu at %zu, expected %zu", n, off, expect);

        for (size_t i = 0; i < sizeof(pattern); i++)
                pattern[i] = (uint8_t) (i * 13 + in->read_offset);
        off = c->in_len > 0 ? in->read_offset % (c->in_len + 2) : in->read_offset;
        expect = off < c->in_len ? MIN((size_t) in->copy_len % sizeof(pattern), c->in_len - off) : 0;
        n = virtchain_write(c, off, pattern, in->copy_len % sizeof(pattern));
        fuzz_check(n == expect, "wrote %zu at %zu, expected %zu", n, off, expect);
        /* The last writable buffer the write reached holds what was written to it (earlier ones may alias it). */
        if (n > 0) {
                size_t start = 0;

                for (unsigned i = c->n_out; i < c->n_out + c->n_in; i++) {
                        size_t l = c->iov[i].iov_len, a = MAX(start, off), b = MIN(start + l, off + n);

                        if (a < b && b == off + n)
                                fuzz_check(
                                        memcmp((uint8_t *) c->iov[i].iov_base + (a - start),
                                               pattern + (a - off),
                                               b - a) == 0);
                        start += l;
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ uint8_t *ram = NULL;
        VirtChain c, again, ref;
        GuestMemory m;
        VirtQueue q;
        Input in;
        int r;

        parse_input(data, size, &in);
        /* Exactly RAM_SIZE bytes on the heap: ASan catches any access beyond guest RAM. */
        ram = calloc(1, RAM_SIZE);
        fuzz_check(ram);
        if (size > RAM_OFFSET)
                memcpy(ram, data + RAM_OFFSET, MIN(size - RAM_OFFSET, (size_t) RAM_SIZE));
        m = (GuestMemory){ .base = RAM_BASE, .size = RAM_SIZE, .host = ram };

        q = (VirtQueue){
                .size = in.size,
                .desc = RAM_BASE + in.desc,
                .avail = RAM_BASE + in.avail,
                .used = RAM_BASE + in.used,
        };
        if (virtqueue_check(&q, &m, VIRTQ_SIZE_MAX) < 0)
                return 0;
        /* What the check promises, which the loop below relies on when it reads the rings itself. */
        fuzz_check(in.size >= 1 && in.size <= VIRTQ_SIZE_MAX && (in.size & (in.size - 1)) == 0);
        fuzz_check(in.desc % 16 == 0 && in.avail % 2 == 0 && in.used % 4 == 0);
        fuzz_check(
                in.desc + 16u * in.size <= RAM_SIZE && in.avail + 6u + 2u * in.size <= RAM_SIZE &&
                in.used + 6u + 8u * in.size <= RAM_SIZE);
        q.ready = true;
        q.last_avail = in.last_avail;
        q.used_idx = in.used_idx;

        for (unsigned i = 0; i < POPS_MAX; i++) {
                uint16_t last = q.last_avail, avail_idx = le16(ram + in.avail + 2);
                uint16_t slot_head = le16(ram + in.avail + 4 + 2 * (last % q.size));
                bool available = virtqueue_available(&q, &m);

                fuzz_check(available == (!q.broken && avail_idx != last));
                r = virtqueue_pop(&q, &m, &c);
                fuzz_check(IN_SET(r, 0, 1, -EBADMSG), "unexpected result %d", r);
                if (r == -EBADMSG) {
                        fuzz_check(q.broken && q.last_avail == last);
                        fuzz_check(virtqueue_pop(&q, &m, &c) == -EBADMSG);
                        fuzz_check(!virtqueue_available(&q, &m));
                        /* Broken for a reason: the index ran away, the head is out of range, or the chain is bad. */
                        if ((uint16_t) (avail_idx - last) <= q.size && slot_head < q.size)
                                fuzz_check(
                                        reference_walk(&q, &m, slot_head, &ref) == -EBADMSG,
                                        "the reference takes chain %u",
                                        slot_head);
                        break;
                }
                fuzz_check(!q.broken);
                if (r == 0) {
                        fuzz_check(avail_idx == last && q.last_avail == last);
                } else {
                        fuzz_check(q.last_avail == (uint16_t) (last + 1));
                        fuzz_check(
                                (uint16_t) (avail_idx - last) >= 1 && (uint16_t) (avail_idx - last) <= q.size);
                        fuzz_check(c.head == slot_head);
                        check_chain(&q, &m, &c);
                        fuzz_check(
                                reference_walk(&q, &m, c.head, &ref) == 0,
                                "the reference refuses chain %u",
                                c.head);
                        fuzz_check(same_chain(&c, &ref));

                        /* Given back and taken again from the same RAM, it is the same chain. */
                        if (in.unpop_mask & (1u << (i % 8))) {
                                virtqueue_unpop(&q);
                                fuzz_check(q.last_avail == last);
                                fuzz_check(virtqueue_pop(&q, &m, &again) == 1);
                                fuzz_check(same_chain(&c, &again));
                        }

                        check_copy(&c, &in);

                        uint16_t used_slot = q.used_idx % q.size;
                        uint32_t written = (uint32_t) MIN(c.in_len, (uint64_t) in.copy_len);
                        fuzz_check(virtqueue_push(&q, &m, c.head, written) == 0);
                        fuzz_check(le32(ram + in.used + 4 + 8 * used_slot) == c.head);
                        fuzz_check(le32(ram + in.used + 4 + 8 * used_slot + 4) == written);
                        fuzz_check(le16(ram + in.used + 2) == q.used_idx);
                        fuzz_check(
                                virtqueue_should_notify(&q, &m) ==
                                !(le16(ram + in.avail) & VIRTQ_AVAIL_F_NO_INTERRUPT));
                }

                /* The racing driver. */
                if (in.race[i % RACE_N].mask != 0)
                        ram[in.race[i % RACE_N].offset % RAM_SIZE] ^= in.race[i % RACE_N].mask;
                else if (r == 0)
                        break; /* nothing will change */
        }

        /* A reset forgets the queue, broken or not. */
        virtqueue_reset(&q);
        fuzz_check(!q.ready && !q.broken && q.size == 0 && q.last_avail == 0 && q.used_idx == 0);
        fuzz_check(virtqueue_pop(&q, &m, &c) == 0);
        return 0;
}
