/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Split virtqueues, device side: a driver written here lays out rings in guest RAM, well-formed and hostile. */
#include <assert.h>

#include "util.h"
#include "virtqueue.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE 0x40000ull /* 256 KiB */
/* Where the driver puts a queue's areas (room for VIRTQ_SIZE_MAX entries each), then buffers. */
#define DESC_GPA (RAM_BASE + 0x0000)
#define AVAIL_GPA (RAM_BASE + 0x4000)
#define USED_GPA (RAM_BASE + 0x5000)
#define DATA_GPA (RAM_BASE + 0x8000)

/* The driver's side of one queue. */
typedef struct Ring {
        GuestMemory mem;
        VirtQueue q;
        uint16_t avail_idx; /* what the driver last published in avail->idx */
        uint16_t next_desc; /* the next descriptor of the table to hand out */
        uint64_t next_data; /* the next free guest address for buffers and indirect tables */
} Ring;

static void put_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint8_t *host(Ring *r, uint64_t gpa, uint64_t len) {
        uint8_t *p = guest_mem_ptr(&r->mem, gpa, len);

        assert(p);
        return p;
}

static uint64_t alloc_data(Ring *r, uint64_t len);
static void put_desc(
        Ring *r, uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);

/* RAM is a heap block of exactly RAM_SIZE bytes: ASan reports any access the device makes beyond it. */
static void ring_init(Ring *r, uint16_t size) {
        uint8_t *ram = malloc(RAM_SIZE);

        assert(ram);
        memset(ram, 0, RAM_SIZE);
        *r = (Ring){
                .mem = { .base = RAM_BASE, .size = RAM_SIZE, .host = ram },
                .q = { .size = size, .desc = DESC_GPA, .avail = AVAIL_GPA, .used = USED_GPA },
                .next_data = DATA_GPA,
        };
        assert(virtqueue_check(&r->q, &r->mem, VIRTQ_SIZE_MAX) == 0);
        r->q.ready = true;
        /* Decoys: good descriptors just past the end of the table, which the device must never use. */
        if (size < VIRTQ_SIZE_MAX) {
                uint64_t buf = alloc_data(r, 8);

                for (unsigned i = 0; i < 2; i++)
                        put_desc(r, r->q.desc, (uint16_t) (size + i), buf, 8, 0, 0);
        }
}

static void ring_done(Ring *r) {
        free(r->mem.host);
}

static uint64_t alloc_data(Ring *r, uint64_t len) {
        uint64_t gpa = r->next_data;

        r->next_data += (len + 15) & ~15ull;
        assert(r->next_data <= RAM_BASE + RAM_SIZE);
        return gpa;
}

static void put_desc(
        Ring *r, uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
        uint8_t *p = host(r, table + 16ull * i, 16);

        put_le64(p, addr);
        put_le32(p + 8, len);
        put_le16(p + 12, flags);
        put_le16(p + 14, next);
}

static void set_avail_idx(Ring *r, uint16_t idx) {
        r->avail_idx = idx;
        put_le16(host(r, r->q.avail + 2, 2), idx);
}

static void set_avail_flags(Ring *r, uint16_t flags) {
        put_le16(host(r, r->q.avail, 2), flags);
}

/* Puts head into the next avail ring slot and publishes it. */
static void publish(Ring *r, uint16_t head) {
        put_le16(host(r, r->q.avail + 4 + 2ull * (r->avail_idx % r->q.size), 2), head);
        set_avail_idx(r, r->avail_idx + 1);
}

/* Writes a chain of n_out readable then n_in writable buffers of the given lengths into the descriptor table
 * (consecutive entries from next_desc), fills every buffer with a pattern, and returns its head. */
static uint16_t build_chain(Ring *r, unsigned n_out, unsigned n_in, const uint32_t *lens, uint64_t *ret_addrs) {
        uint16_t head = r->next_desc;

        assert(n_out + n_in > 0);
        for (unsigned i = 0; i < n_out + n_in; i++) {
                uint16_t idx = r->next_desc, next = (uint16_t) ((idx + 1) % r->q.size);
                uint64_t addr = alloc_data(r, lens[i]);
                uint16_t flags = (i >= n_out ? VIRTQ_DESC_F_WRITE : 0) |
                        (i + 1 < n_out + n_in ? VIRTQ_DESC_F_NEXT : 0);

                for (uint32_t k = 0; k < lens[i]; k++)
                        host(r, addr, lens[i])[k] = (uint8_t) (i * 0x10 + k);
                put_desc(r, r->q.desc, idx, addr, lens[i], flags, next);
                if (ret_addrs)
                        ret_addrs[i] = addr;
                r->next_desc = next;
        }
        return head;
}

static uint16_t add_chain(Ring *r, unsigned n_out, unsigned n_in, const uint32_t *lens, uint64_t *ret_addrs) {
        uint16_t head = build_chain(r, n_out, n_in, lens, ret_addrs);

        publish(r, head);
        return head;
}

static uint16_t add_simple(Ring *r) {
        return add_chain(r, 1, 0, (const uint32_t[]){ 8 }, NULL);
}

static uint16_t used_idx(Ring *r) {
        return get_le16(host(r, r->q.used + 2, 2));
}

static void used_elem(Ring *r, uint16_t slot, uint32_t *ret_id, uint32_t *ret_len) {
        const uint8_t *p = host(r, r->q.used + 4 + 8ull * slot, 8);

        *ret_id = get_le32(p);
        *ret_len = get_le32(p + 4);
}

static void assert_iov(const VirtChain *c, unsigned i, Ring *r, uint64_t gpa, uint32_t len) {
        assert(c->iov[i].iov_base == r->mem.host + (gpa - RAM_BASE));
        assert(c->iov[i].iov_len == len);
}

static void test_check(void) {
        Ring r;

        ring_init(&r, 16);
        VirtQueue *q = &r.q;
        GuestMemory *m = &r.mem;

        /* Sizes: a power of two from 1 to the maximum the device allows. */
        const struct {
                uint16_t size, max;
                int result;
        } sizes[] = {
                { 1, 1024, 0 },
                { 2, 1024, 0 },
                { 16, 16, 0 },
                { 1024, 1024, 0 },
                { 0, 1024, -EINVAL },
                { 3, 1024, -EINVAL },
                { 24, 1024, -EINVAL },
                { 1000, 1024, -EINVAL },
                { 32, 16, -EINVAL },
                { 16, 15, -EINVAL },
                { 8, 15, 0 },
                { 2048, 1024, -EINVAL },
                { 32768, 65535, -EINVAL }, /* does not fit the RAM */
                { 65535, 65535, -EINVAL },
        };
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                q->size = sizes[i].size;
                assert(virtqueue_check(q, m, sizes[i].max) == sizes[i].result);
        }
        q->size = 16;
        assert(virtqueue_check(q, m, 1024) == 0);

        /* Alignment (2.7): descriptors 16, avail 2, used 4. */
        const struct {
                uint64_t desc, avail, used;
                int result;
        } areas[] = {
                { DESC_GPA + 8, AVAIL_GPA, USED_GPA, -EINVAL },
                { DESC_GPA + 1, AVAIL_GPA, USED_GPA, -EINVAL },
                { DESC_GPA + 16, AVAIL_GPA, USED_GPA, 0 },
                { DESC_GPA, AVAIL_GPA + 1, USED_GPA, -EINVAL },
                { DESC_GPA, AVAIL_GPA + 2, USED_GPA, 0 },
                { DESC_GPA, AVAIL_GPA, USED_GPA + 2, -EINVAL },
                { DESC_GPA, AVAIL_GPA, USED_GPA + 1, -EINVAL },
                { DESC_GPA, AVAIL_GPA, USED_GPA + 4, 0 },
                /* Each area exactly at the end of RAM, then one entry (or the trailing event field) past it:
                 * 16 descriptors are 256 bytes, avail 4 + 2 * 16 + 2 = 38, used 4 + 8 * 16 + 2 = 134. */
                { RAM_BASE + RAM_SIZE - 256, AVAIL_GPA, USED_GPA, 0 },
                { RAM_BASE + RAM_SIZE - 240, AVAIL_GPA, USED_GPA, -EINVAL },
                { DESC_GPA, RAM_BASE + RAM_SIZE - 38, USED_GPA, 0 },
                { DESC_GPA, RAM_BASE + RAM_SIZE - 36, USED_GPA, -EINVAL },
                { DESC_GPA, AVAIL_GPA, RAM_BASE + RAM_SIZE - 136, 0 },
                { DESC_GPA, AVAIL_GPA, RAM_BASE + RAM_SIZE - 132, -EINVAL },
                /* Partly or wholly below RAM, far above it, and where base + length wraps. */
                { RAM_BASE - 16, AVAIL_GPA, USED_GPA, -EINVAL },
                { DESC_GPA, RAM_BASE - 4, USED_GPA, -EINVAL },
                { DESC_GPA, AVAIL_GPA, RAM_BASE - 4, -EINVAL },
                { 0, AVAIL_GPA, USED_GPA, -EINVAL },
                { DESC_GPA, AVAIL_GPA, RAM_BASE + RAM_SIZE, -EINVAL },
                { UINT64_MAX - 15, AVAIL_GPA, USED_GPA, -EINVAL },
                { DESC_GPA, UINT64_MAX - 1, USED_GPA, -EINVAL },
                { DESC_GPA, AVAIL_GPA, UINT64_MAX - 3, -EINVAL },
                { DESC_GPA + (1ull << 32), AVAIL_GPA, USED_GPA, -EINVAL },
        };
        for (size_t i = 0; i < ELEMENTSOF(areas); i++) {
                q->desc = areas[i].desc;
                q->avail = areas[i].avail;
                q->used = areas[i].used;
                assert(virtqueue_check(q, m, 1024) == areas[i].result);
        }

        /* The areas of a large queue are checked at their full size. */
        q->desc = RAM_BASE + RAM_SIZE - 16 * 1024;
        q->avail = AVAIL_GPA;
        q->used = USED_GPA;
        q->size = 1024;
        assert(virtqueue_check(q, m, 1024) == 0);
        q->desc += 16;
        assert(virtqueue_check(q, m, 1024) == -EINVAL);
        ring_done(&r);
}

static void test_empty(void) {
        VirtChain c;
        Ring r;

        ring_init(&r, 16);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 0);
        assert(!virtqueue_available(&r.q, &r.mem));
        assert(r.q.last_avail == 0 && !r.q.broken);

        /* A chain is there, but the queue is not ready: nothing is taken. */
        add_simple(&r);
        r.q.ready = false;
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 0);
        assert(!virtqueue_available(&r.q, &r.mem));
        assert(virtqueue_push(&r.q, &r.mem, 0, 0) == -ESTALE);
        assert(used_idx(&r) == 0);
        assert(!virtqueue_should_notify(&r.q, &r.mem));
        assert(r.q.last_avail == 0);
        r.q.ready = true;
        assert(virtqueue_available(&r.q, &r.mem));
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 0);
        assert(!virtqueue_available(&r.q, &r.mem));
        ring_done(&r);
}

static void test_chains(void) {
        VirtChain c;
        uint64_t addrs[5];
        uint32_t id, len;
        Ring r;

        ring_init(&r, 16);
        /* Three readable buffers, then two writable ones, starting at descriptor 3. */
        r.next_desc = 3;
        const uint32_t lens[] = { 10, 20, 30, 40, 50 };
        uint16_t head = add_chain(&r, 3, 2, lens, addrs);
        assert(head == 3);
        /* Two more: a single writable buffer, and a single readable one of length 0. */
        uint64_t in_addr, empty_addr;
        uint16_t head2 = add_chain(&r, 0, 1, (const uint32_t[]){ 64 }, &in_addr);
        uint16_t head3 = add_chain(&r, 1, 0, (const uint32_t[]){ 0 }, &empty_addr);
        assert(head2 == 8 && head3 == 9);

        assert(virtqueue_available(&r.q, &r.mem));
        memset(&c, 0xaa, sizeof(c));
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.head == 3);
        assert(c.n_out == 3 && c.n_in == 2);
        assert(c.out_len == 60 && c.in_len == 90);
        for (unsigned i = 0; i < 5; i++)
                assert_iov(&c, i, &r, addrs[i], lens[i]);
        assert(r.q.last_avail == 1);
        assert(!r.q.broken);

        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.head == 8 && c.n_out == 0 && c.n_in == 1 && c.out_len == 0 && c.in_len == 64);
        assert_iov(&c, 0, &r, in_addr, 64);

        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.head == 9 && c.n_out == 1 && c.n_in == 0 && c.out_len == 0 && c.in_len == 0);
        assert(c.iov[0].iov_len == 0);

        assert(virtqueue_pop(&r.q, &r.mem, &c) == 0);
        assert(!virtqueue_available(&r.q, &r.mem));
        assert(r.q.last_avail == 3);

        /* Pushing back, out of order: each element in the next used slot, the index after it. */
        memset(host(&r, r.q.used + 4, 8 * 16), 0xee, 8 * 16);
        assert(virtqueue_push(&r.q, &r.mem, head2, 64) == 0);
        assert(used_idx(&r) == 1 && r.q.used_idx == 1);
        used_elem(&r, 0, &id, &len);
        assert(id == 8 && len == 64);
        used_elem(&r, 1, &id, &len);
        assert(id == 0xeeeeeeee && len == 0xeeeeeeee);

        assert(virtqueue_push(&r.q, &r.mem, head, 77) == 0);
        assert(virtqueue_push(&r.q, &r.mem, head3, 0) == 0);
        assert(used_idx(&r) == 3 && r.q.used_idx == 3);
        used_elem(&r, 1, &id, &len);
        assert(id == 3 && len == 77);
        used_elem(&r, 2, &id, &len);
        assert(id == 9 && len == 0);
        used_elem(&r, 3, &id, &len);
        assert(id == 0xeeeeeeee && len == 0xeeeeeeee);
        /* The device's bookkeeping of the avail ring is untouched by pushes. */
        assert(r.q.last_avail == 3);

        /* A whole ring's worth at once (avail->idx exactly size ahead) is fine. */
        for (unsigned i = 0; i < 16; i++)
                add_simple(&r);
        assert((uint16_t) (r.avail_idx - r.q.last_avail) == 16);
        for (unsigned i = 0; i < 16; i++) {
                assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
                assert(c.head == (10 + i) % 16);
                assert(c.n_out == 1 && c.out_len == 8);
        }
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 0);
        assert(r.q.last_avail == 19);
        ring_done(&r);
}

static void test_notify(void) {
        Ring r;

        ring_init(&r, 8);
        assert(virtqueue_should_notify(&r.q, &r.mem));
        set_avail_flags(&r, VIRTQ_AVAIL_F_NO_INTERRUPT);
        assert(!virtqueue_should_notify(&r.q, &r.mem));
        set_avail_flags(&r, 0xffff);
        assert(!virtqueue_should_notify(&r.q, &r.mem));
        set_avail_flags(&r, 0xfffe); /* other bits mean nothing here */
        assert(virtqueue_should_notify(&r.q, &r.mem));
        set_avail_flags(&r, 0);
        assert(virtqueue_should_notify(&r.q, &r.mem));
        r.q.ready = false;
        assert(!virtqueue_should_notify(&r.q, &r.mem));
        ring_done(&r);
}

static void test_indirect(void) {
        VirtChain c;
        Ring r;

        ring_init(&r, 8);
        /* An indirect table of two readable and two writable buffers, linked out of order (0 → 2 → 1 → 3). */
        uint64_t table = alloc_data(&r, 4 * 16);
        uint64_t b[4];
        const uint32_t lens[] = { 5, 6, 7, 8 };
        for (unsigned i = 0; i < 4; i++)
                b[i] = alloc_data(&r, lens[i]);
        put_desc(&r, table, 0, b[0], lens[0], VIRTQ_DESC_F_NEXT, 2);
        put_desc(&r, table, 2, b[1], lens[1], VIRTQ_DESC_F_NEXT, 1);
        put_desc(&r, table, 1, b[2], lens[2], VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
        put_desc(&r, table, 3, b[3], lens[3], VIRTQ_DESC_F_WRITE, 0xffff); /* next without NEXT: ignored */
        put_desc(&r, r.q.desc, 5, table, 4 * 16, VIRTQ_DESC_F_INDIRECT, 0xffff);
        publish(&r, 5);

        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.head == 5);
        assert(c.n_out == 2 && c.n_in == 2);
        assert(c.out_len == 11 && c.in_len == 15);
        for (unsigned i = 0; i < 4; i++)
                assert_iov(&c, i, &r, b[i], lens[i]);

        /* The device ignores WRITE on the descriptor that names the table (2.7.5.3.2); a table need not be
         * aligned, and may have entries the chain does not use. */
        uint64_t table2 = alloc_data(&r, 3 * 16 + 8) + 8;
        put_desc(&r, table2, 0, b[3], 4, VIRTQ_DESC_F_WRITE, 0);
        put_desc(&r, table2, 1, 0xdead, 0xffffffff, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT, 7);
        put_desc(&r, table2, 2, 0xdead, 0xffffffff, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT, 7);
        put_desc(&r, r.q.desc, 6, table2, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
        publish(&r, 6);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.head == 6 && c.n_out == 0 && c.n_in == 1 && c.in_len == 4);
        assert_iov(&c, 0, &r, b[3], 4);

        /* The largest indirect table: VIRTQ_SEG_MAX entries, all in one chain. */
        uint64_t big = alloc_data(&r, 16 * VIRTQ_SEG_MAX);
        uint64_t buf = alloc_data(&r, 16);
        for (unsigned i = 0; i < VIRTQ_SEG_MAX; i++)
                put_desc(
                        &r,
                        big,
                        (uint16_t) i,
                        buf + i % 16,
                        1,
                        i + 1 < VIRTQ_SEG_MAX ? VIRTQ_DESC_F_NEXT : VIRTQ_DESC_F_WRITE,
                        (uint16_t) (i + 1));
        put_desc(&r, r.q.desc, 0, big, 16 * VIRTQ_SEG_MAX, VIRTQ_DESC_F_INDIRECT, 0);
        publish(&r, 0);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.head == 0 && c.n_out == VIRTQ_SEG_MAX - 1 && c.n_in == 1);
        assert(c.out_len == VIRTQ_SEG_MAX - 1 && c.in_len == 1);
        assert_iov(&c, VIRTQ_SEG_MAX - 1, &r, buf + (VIRTQ_SEG_MAX - 1) % 16, 1);

        assert(virtqueue_pop(&r.q, &r.mem, &c) == 0);
        assert(!r.q.broken);
        ring_done(&r);
}

static void test_wrap(void) {
        VirtChain c;
        uint32_t id, len;
        Ring r;

        /* The device's and the driver's 16-bit indices just below 65536. */
        ring_init(&r, 16);
        r.q.last_avail = r.q.used_idx = 65534;
        set_avail_idx(&r, 65534);
        put_le16(host(&r, r.q.used + 2, 2), 65534);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 0);

        uint16_t heads[4];
        for (unsigned i = 0; i < 4; i++)
                heads[i] = add_chain(&r, 1, 1, (const uint32_t[]){ 4, 4 }, NULL);
        assert(r.avail_idx == 2);
        /* They went into avail slots 14, 15, 0, 1. */
        assert(get_le16(host(&r, r.q.avail + 4 + 2 * 14, 2)) == heads[0]);
        assert(get_le16(host(&r, r.q.avail + 4 + 2 * 1, 2)) == heads[3]);
        for (unsigned i = 0; i < 4; i++) {
                assert(virtqueue_available(&r.q, &r.mem));
                assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
                assert(c.head == heads[i]);
                assert(c.n_out == 1 && c.n_in == 1);
                assert(r.q.last_avail == (uint16_t) (65535 + i));
        }
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 0);
        assert(!virtqueue_available(&r.q, &r.mem));

        for (unsigned i = 0; i < 4; i++)
                assert(virtqueue_push(&r.q, &r.mem, heads[i], 100 + i) == 0);
        assert(r.q.used_idx == 2 && used_idx(&r) == 2);
        const uint16_t slots[] = { 14, 15, 0, 1 };
        for (unsigned i = 0; i < 4; i++) {
                used_elem(&r, slots[i], &id, &len);
                assert(id == heads[i] && len == 100 + i);
        }

        /* A whole ring ahead across the wrap is fine; one more is not. */
        for (unsigned i = 0; i < 16; i++)
                add_simple(&r);
        assert(virtqueue_available(&r.q, &r.mem));
        for (unsigned i = 0; i < 16; i++)
                assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(r.q.last_avail == 18 && !r.q.broken);
        ring_done(&r);
}

static void test_unpop(void) {
        VirtChain c;
        Ring r;

        ring_init(&r, 4);
        r.next_desc = 2;
        r.q.last_avail = 65535;
        set_avail_idx(&r, 65535);
        uint16_t a = add_chain(&r, 1, 0, (const uint32_t[]){ 3 }, NULL);
        uint16_t b = add_chain(&r, 0, 1, (const uint32_t[]){ 5 }, NULL);

        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.head == a && r.q.last_avail == 0);
        /* Given back across the wrap: the same chain comes again, then the next. */
        virtqueue_unpop(&r.q);
        assert(r.q.last_avail == 65535);
        assert(virtqueue_available(&r.q, &r.mem));
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.head == a && c.n_out == 1 && c.out_len == 3);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.head == b && c.n_in == 1 && c.in_len == 5);
        virtqueue_unpop(&r.q);
        assert(r.q.last_avail == 0);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.head == b);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 0);
        assert(r.q.last_avail == 1);
        ring_done(&r);
}

static void test_chain_copy(void) {
        uint8_t buf[64], *p;
        uint64_t addrs[6];
        VirtChain c;
        Ring r;

        ring_init(&r, 16);
        /* Readable 3 + 5 + 7 bytes holding the stream 0, 1, ..., 14; writable 4 + 1 + 6 bytes. */
        const uint32_t lens[] = { 3, 5, 7, 4, 1, 6 };
        add_chain(&r, 3, 3, lens, addrs);
        for (unsigned i = 0, k = 0; i < 3; i++)
                for (uint32_t j = 0; j < lens[i]; j++)
                        host(&r, addrs[i], lens[i])[j] = (uint8_t) k++;
        for (unsigned i = 3; i < 6; i++)
                memset(host(&r, addrs[i], lens[i]), 0xee, lens[i]);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.n_out == 3 && c.n_in == 3 && c.out_len == 15 && c.in_len == 11);

        const struct {
                size_t offset, len, result;
        } reads[] = {
                { 0, 15, 15 },  { 0, 64, 15 }, { 2, 4, 4 },        { 3, 5, 5 },  { 2, 10, 10 },
                { 7, 1, 1 },    { 8, 100, 7 }, { 14, 2, 1 },       { 15, 1, 0 }, { 16, 8, 0 },
                { 1000, 8, 0 }, { 5, 0, 0 },   { SIZE_MAX, 4, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(reads); i++) {
                memset(buf, 0xaa, sizeof(buf));
                assert(virtchain_read(&c, reads[i].offset, buf, reads[i].len) == reads[i].result);
                for (size_t k = 0; k < reads[i].result; k++)
                        assert(buf[k] == reads[i].offset + k);
                for (size_t k = reads[i].result; k < sizeof(buf); k++)
                        assert(buf[k] == 0xaa);
        }

        /* A write at offset 3 covers the last byte of the first buffer, the second, and 6 of the third. */
        const uint8_t text[] = "abcdefghijkl";
        assert(virtchain_write(&c, 3, text, 8) == 8);
        p = host(&r, addrs[3], 4);
        assert(p[0] == 0xee && p[1] == 0xee && p[2] == 0xee && p[3] == 'a');
        assert(host(&r, addrs[4], 1)[0] == 'b');
        assert(memcmp(host(&r, addrs[5], 6), "cdefgh", 6) == 0);
        /* Short: only 2 bytes are left after offset 9. */
        assert(virtchain_write(&c, 9, "XYZW", 4) == 2);
        assert(memcmp(host(&r, addrs[5], 6), "cdefXY", 6) == 0);
        assert(virtchain_write(&c, 11, "Q", 1) == 0);
        assert(virtchain_write(&c, 0, text, 0) == 0);
        assert(virtchain_write(&c, 0, text, 11) == 11);
        assert(memcmp(host(&r, addrs[3], 4), "abcd", 4) == 0);
        assert(host(&r, addrs[4], 1)[0] == 'e');
        assert(memcmp(host(&r, addrs[5], 6), "fghijk", 6) == 0);
        /* Neither reads see the writable buffers nor writes touch the readable ones. */
        for (unsigned i = 0, k = 0; i < 3; i++)
                for (uint32_t j = 0; j < lens[i]; j++)
                        assert(host(&r, addrs[i], lens[i])[j] == k++);
        memset(buf, 0xaa, sizeof(buf));
        assert(virtchain_read(&c, 0, buf, sizeof(buf)) == 15);
        for (size_t k = 0; k < 15; k++)
                assert(buf[k] == k);
        /* The bytes around the buffers are untouched (buffers are 16 bytes apart). */
        assert(host(&r, addrs[3] + 4, 1)[0] == 0 && host(&r, addrs[4] + 1, 1)[0] == 0 &&
               host(&r, addrs[5] + 6, 1)[0] == 0);

        /* A chain with only writable buffers has nothing to read; one with only readable ones takes no write. */
        add_chain(&r, 0, 2, (const uint32_t[]){ 2, 2 }, NULL);
        add_chain(&r, 1, 0, (const uint32_t[]){ 2 }, NULL);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(virtchain_read(&c, 0, buf, sizeof(buf)) == 0);
        assert(virtchain_write(&c, 1, text, 5) == 3);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(virtchain_write(&c, 0, text, 5) == 0);
        assert(virtchain_read(&c, 1, buf, 5) == 1);
        ring_done(&r);
}

static void test_reset(void) {
        VirtChain c;
        Ring r;

        ring_init(&r, 8);
        add_simple(&r);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(virtqueue_push(&r.q, &r.mem, c.head, 0) == 0);
        publish(&r, 8); /* head out of range */
        assert(virtqueue_pop(&r.q, &r.mem, &c) == -EBADMSG);
        assert(r.q.broken);

        virtqueue_reset(&r.q);
        assert(r.q.size == 0 && !r.q.ready && !r.q.broken);
        assert(r.q.desc == 0 && r.q.avail == 0 && r.q.used == 0);
        assert(r.q.last_avail == 0 && r.q.used_idx == 0);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 0);
        assert(!virtqueue_available(&r.q, &r.mem));
        assert(virtqueue_push(&r.q, &r.mem, 0, 0) == -ESTALE);
        assert(!virtqueue_should_notify(&r.q, &r.mem));

        /* The driver sets the queue up again (fresh rings): it works from index 0. */
        free(r.mem.host);
        ring_init(&r, 8);
        uint16_t head = add_simple(&r);
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        assert(c.head == head && r.q.last_avail == 1);
        ring_done(&r);
}

/* The queue is broken by what r holds now: -EBADMSG, q->broken, nothing consumed; and later pops fail even
 * when the ring is made good again, until a reset. */
static void expect_broken(Ring *r) {
        uint16_t last = r->q.last_avail;
        VirtChain c;

        assert(virtqueue_pop(&r->q, &r->mem, &c) == -EBADMSG);
        assert(r->q.broken);
        assert(r->q.last_avail == last);
        assert(!virtqueue_available(&r->q, &r->mem));
        assert(virtqueue_pop(&r->q, &r->mem, &c) == -EBADMSG);

        /* Repair: the slot names a good chain in the last descriptor, and only it is available. */
        uint16_t good = (uint16_t) (r->q.size - 1);
        uint64_t buf = alloc_data(r, 4);
        put_desc(r, r->q.desc, good, buf, 4, 0, 0);
        put_le16(host(r, r->q.avail + 4 + 2ull * (last % r->q.size), 2), good);
        set_avail_idx(r, last + 1);
        assert(virtqueue_pop(&r->q, &r->mem, &c) == -EBADMSG);
        assert(r->q.last_avail == last);
        /* Control: the repaired ring is fine; only the broken flag kept it from being used. */
        r->q.broken = false;
        assert(virtqueue_pop(&r->q, &r->mem, &c) == 1);
        assert(c.head == good && c.n_out == 1 && c.out_len == 4);
        ring_done(r);
}

/* Writes an indirect table of n readable 8-byte buffers, chained in order (or each a chain of its own), and
 * a good descriptor just past its end as a decoy. */
static uint64_t make_table(Ring *r, unsigned n, bool chained) {
        uint64_t table = alloc_data(r, 16ull * (n + 1)), buf = alloc_data(r, 8);

        for (unsigned i = 0; i < n; i++)
                put_desc(
                        r,
                        table,
                        (uint16_t) i,
                        buf,
                        8,
                        chained && i + 1 < n ? VIRTQ_DESC_F_NEXT : 0,
                        (uint16_t) (chained ? i + 1 : 0));
        put_desc(r, table, (uint16_t) n, buf, 8, 0, 0);
        return table;
}

static void test_hostile(void) {
        uint64_t table, buf;
        Ring r;

        /* A descriptor loop: 0 → 1 → 2 → 0, all readable (so only the loop can end it). */
        ring_init(&r, 16);
        buf = alloc_data(&r, 8);
        for (uint16_t i = 0; i < 3; i++)
                put_desc(&r, r.q.desc, i, buf, 8, VIRTQ_DESC_F_NEXT, (uint16_t) ((i + 1) % 3));
        publish(&r, 0);
        expect_broken(&r);
        /* One that points at itself, in a queue large enough that the chain bound comes later. */
        ring_init(&r, 1024);
        buf = alloc_data(&r, 8);
        put_desc(&r, r.q.desc, 7, buf, 8, VIRTQ_DESC_F_NEXT, 7);
        publish(&r, 7);
        expect_broken(&r);

        /* A next index at or beyond the table. */
        const uint16_t nexts[] = { 16, 17, 0xffff };
        for (size_t i = 0; i < ELEMENTSOF(nexts); i++) {
                ring_init(&r, 16);
                buf = alloc_data(&r, 8);
                put_desc(&r, r.q.desc, 0, buf, 8, VIRTQ_DESC_F_NEXT, nexts[i]);
                publish(&r, 0);
                expect_broken(&r);
        }

        /* Buffers partly or wholly outside RAM, and lengths whose end wraps around 2^64 back into RAM. */
        const struct {
                uint64_t addr;
                uint32_t len;
        } bufs[] = {
                { RAM_BASE + RAM_SIZE - 8, 9 },
                { RAM_BASE - 1, 2 },
                { RAM_BASE - 0x1000, 0x2000 },
                { RAM_BASE + RAM_SIZE, 1 },
                { RAM_BASE + RAM_SIZE + 1, 0 },
                { 0, 16 },
                { DATA_GPA, UINT32_MAX },
                { RAM_BASE, (uint32_t) RAM_SIZE + 1 },
                { UINT64_MAX, 2 },
                { UINT64_MAX - 0xfff, 0x1000 + (uint32_t) RAM_BASE + 0x10 }, /* addr + len = RAM_BASE + 0x10 */
        };
        for (size_t i = 0; i < ELEMENTSOF(bufs); i++)
                for (int writable = 0; writable < 2; writable++) {
                        ring_init(&r, 16);
                        put_desc(&r, r.q.desc, 0, bufs[i].addr, bufs[i].len, writable ? VIRTQ_DESC_F_WRITE : 0, 0);
                        publish(&r, 0);
                        expect_broken(&r);
                }
        /* The bad buffer deep in an otherwise good chain. */
        ring_init(&r, 16);
        build_chain(&r, 2, 2, (const uint32_t[]){ 8, 8, 8, 8 }, NULL);
        put_desc(&r, r.q.desc, 2, RAM_BASE + RAM_SIZE - 4, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
        publish(&r, 0);
        expect_broken(&r);
        /* Exactly up to the end of RAM is fine. */
        ring_init(&r, 16);
        put_desc(&r, r.q.desc, 0, RAM_BASE + RAM_SIZE - 8, 8, 0, 0);
        publish(&r, 0);
        {
                VirtChain c;

                assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
                assert(c.iov[0].iov_base == r.mem.host + RAM_SIZE - 8 && c.iov[0].iov_len == 8);
        }
        ring_done(&r);

        /* A readable buffer after a writable one. */
        ring_init(&r, 16);
        build_chain(&r, 1, 1, (const uint32_t[]){ 8, 8 }, NULL);
        build_chain(&r, 1, 0, (const uint32_t[]){ 8 }, NULL);
        put_desc(&r, r.q.desc, 1, DATA_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
        publish(&r, 0);
        expect_broken(&r);

        /* A head index at or beyond the table. */
        const uint16_t heads[] = { 16, 255, 0xffff };
        for (size_t i = 0; i < ELEMENTSOF(heads); i++) {
                ring_init(&r, 16);
                build_chain(&r, 1, 0, (const uint32_t[]){ 8 }, NULL);
                publish(&r, heads[i]);
                expect_broken(&r);
        }
        /* After good ones, past the wrap. */
        ring_init(&r, 16);
        r.q.last_avail = 65535;
        set_avail_idx(&r, 65535);
        add_simple(&r);
        publish(&r, 16);
        {
                VirtChain c;

                assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
                assert(r.q.last_avail == 0);
        }
        expect_broken(&r);

        /* avail->idx more than a ring ahead of what the device took, or behind it. */
        const struct {
                uint16_t last, idx;
        } idxs[] = { { 0, 17 }, { 0, 0xffff }, { 5, 4 }, { 65530, 11 }, { 65535, 16 }, { 100, 0x8000 } };
        for (size_t i = 0; i < ELEMENTSOF(idxs); i++) {
                ring_init(&r, 16);
                for (unsigned k = 0; k < 16; k++) /* every slot names a good chain */
                        put_le16(
                                host(&r, r.q.avail + 4 + 2 * k, 2),
                                build_chain(&r, 1, 0, (const uint32_t[]){ 8 }, NULL));
                r.q.last_avail = idxs[i].last;
                set_avail_idx(&r, idxs[i].idx);
                expect_broken(&r);
        }

        /* An indirect table inside an indirect table. */
        ring_init(&r, 16);
        table = make_table(&r, 2, true);
        uint64_t outer = alloc_data(&r, 32);
        put_desc(&r, outer, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
        put_desc(&r, outer, 1, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
        put_desc(&r, r.q.desc, 0, outer, 32, VIRTQ_DESC_F_INDIRECT, 0);
        publish(&r, 0);
        expect_broken(&r);
        /* Also as the table's first entry. */
        ring_init(&r, 16);
        table = make_table(&r, 1, true);
        outer = alloc_data(&r, 16);
        put_desc(&r, outer, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
        put_desc(&r, r.q.desc, 0, outer, 16, VIRTQ_DESC_F_INDIRECT, 0);
        publish(&r, 0);
        expect_broken(&r);

        /* INDIRECT together with NEXT (2.7.5.3.1), even when next names a good descriptor. */
        ring_init(&r, 16);
        table = make_table(&r, 2, true);
        build_chain(&r, 1, 0, (const uint32_t[]){ 8 }, NULL);
        put_desc(&r, r.q.desc, 1, table, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 0);
        publish(&r, 1);
        expect_broken(&r);

        /* Indirect lengths: 0, not a whole number of descriptors, more than VIRTQ_SEG_MAX of them; tables
         * partly or wholly outside RAM, or wrapping. Every entry is a good chain of its own (and so is the
         * last one inside RAM), so only the rules on the table itself can refuse these. */
        const struct {
                uint64_t addr;
                uint32_t len;
        } tables[] = {
                { 0, 0 },
                { 0, 8 },
                { 0, 24 },
                { 0, 17 },
                { 0, 16 * VIRTQ_SEG_MAX + 16 },
                { 0, UINT32_MAX & ~15u },
                { RAM_BASE + RAM_SIZE - 16, 32 },
                { RAM_BASE - 16, 32 },
                { RAM_BASE + RAM_SIZE, 16 },
                { UINT64_MAX - 15, 32 },
        };
        for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
                ring_init(&r, 16);
                table = make_table(&r, VIRTQ_SEG_MAX + 1, false);
                put_desc(&r, RAM_BASE + RAM_SIZE - 16, 0, DATA_GPA, 8, 0, 0);
                put_desc(&r, r.q.desc, 0, tables[i].addr ?: table, tables[i].len, VIRTQ_DESC_F_INDIRECT, 0);
                publish(&r, 0);
                expect_broken(&r);
        }

        /* Inside an indirect table: a loop, a next beyond the table (though inside the main one), a bad
         * buffer, and readable after writable. */
        for (int kind = 0; kind < 4; kind++) {
                ring_init(&r, 16);
                table = make_table(&r, 4, true);
                switch (kind) {
                case 0:
                        put_desc(&r, table, 3, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
                        break;
                case 1:
                        put_desc(&r, table, 3, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 4);
                        break;
                case 2:
                        put_desc(&r, table, 2, RAM_BASE + RAM_SIZE - 4, 8, VIRTQ_DESC_F_NEXT, 3);
                        break;
                case 3:
                        put_desc(&r, table, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
                        break;
                }
                put_desc(&r, r.q.desc, 0, table, 4 * 16, VIRTQ_DESC_F_INDIRECT, 0);
                publish(&r, 0);
                expect_broken(&r);
        }

        /* A chain of VIRTQ_SEG_MAX buffers is taken, one more is not. */
        {
                uint32_t lens[VIRTQ_SEG_MAX + 1];
                VirtChain c;

                for (unsigned i = 0; i < ELEMENTSOF(lens); i++)
                        lens[i] = 1;
                ring_init(&r, 512);
                add_chain(&r, VIRTQ_SEG_MAX / 2, VIRTQ_SEG_MAX / 2, lens, NULL);
                assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
                assert(c.n_out == VIRTQ_SEG_MAX / 2 && c.n_in == VIRTQ_SEG_MAX / 2);
                assert(c.out_len == VIRTQ_SEG_MAX / 2 && c.in_len == VIRTQ_SEG_MAX / 2);
                add_chain(&r, VIRTQ_SEG_MAX + 1, 0, lens, NULL);
                expect_broken(&r);
        }
}

static bool page_dirty(const uint64_t *bitmap, uint64_t gpa) {
        uint64_t page = (gpa - RAM_BASE) / 4096;

        return bitmap[page / 64] & (1ull << (page % 64));
}

/* KVM's dirty log does not see what the device writes: the pages of the buffers it may write (from the pop)
 * and of the used ring (from the push) are marked for the next incremental snapshot, no others. */
static void test_dirty(void) {
        uint64_t bitmap[RAM_SIZE / 4096 / 64] = {}, addrs[2];
        VirtChain c;
        Ring r;

        ring_init(&r, 16);
        r.mem.dirty = bitmap;
        r.mem.dirty_shift = 12;
        r.next_data = RAM_BASE + 0x10000;
        /* A readable page, then a writable buffer over two pages. */
        add_chain(&r, 1, 1, (const uint32_t[]){ 4096, 4096 + 100 }, addrs);
        assert(addrs[0] == RAM_BASE + 0x10000 && addrs[1] == RAM_BASE + 0x11000);
        for (uint64_t gpa = RAM_BASE; gpa < RAM_BASE + RAM_SIZE; gpa += 4096)
                assert(!page_dirty(bitmap, gpa));
        assert(virtqueue_pop(&r.q, &r.mem, &c) == 1);
        for (uint64_t gpa = RAM_BASE; gpa < RAM_BASE + RAM_SIZE; gpa += 4096)
                assert(page_dirty(bitmap, gpa) == (gpa == RAM_BASE + 0x11000 || gpa == RAM_BASE + 0x12000));
        assert(virtqueue_push(&r.q, &r.mem, c.head, 10) == 0);
        assert(page_dirty(bitmap, USED_GPA));
        assert(!page_dirty(bitmap, DESC_GPA) && !page_dirty(bitmap, AVAIL_GPA));
        assert(!page_dirty(bitmap, RAM_BASE + 0x10000) && !page_dirty(bitmap, RAM_BASE + 0x13000));
        /* A write through guest_mem_write() too. */
        assert(guest_mem_write(&r.mem, RAM_BASE + 0x20ffe, "ab", 2) == 0);
        assert(page_dirty(bitmap, RAM_BASE + 0x20000) && !page_dirty(bitmap, RAM_BASE + 0x21000));
        ring_done(&r);
}

int main(void) {
        test_check();
        test_empty();
        test_chains();
        test_notify();
        test_indirect();
        test_wrap();
        test_unpop();
        test_chain_copy();
        test_reset();
        test_hostile();
        test_dirty();
        return 0;
}
