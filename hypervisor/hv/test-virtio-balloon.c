/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio-balloon driven as the guest's driver drives it: the target in the config space, inflate chains of
 * page frame numbers, free page reports, and the driver's actual count; what is given back reaches the
 * host's discard callback, page-aligned and inside RAM, and nothing else does. */
#include <assert.h>

#include "test-virtio-driver.h"
#include "util.h"
#include "virtio-balloon.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (1ull << 20) /* 256 balloon pages */
#define BUS_BASE 0x0a000200ull
#define PAGE 4096ull

#define F_DEFLATE_ON_OOM (1ull << 2)
#define F_REPORTING (1ull << 5)

typedef struct Discard {
        uint64_t gpa, len;
} Discard;

typedef struct Test {
        GuestMemory mem;
        MmioBus bus;
        VirtioBalloon *b;
        Discard discards[64];
        unsigned n_discards, n_changed;
        bool level;
        Driver drv;
} Test;

static void on_discard(void *userdata, uint64_t gpa, uint64_t len) {
        Test *t = userdata;

        assert(t->n_discards < ELEMENTSOF(t->discards));
        t->discards[t->n_discards++] = (Discard){ gpa, len };
}

static void on_changed(void *userdata) {
        ((Test *) userdata)->n_changed++;
}

static int on_irq(void *userdata, unsigned spi, bool level) {
        ((Test *) userdata)->level = level;
        return 0;
}

static uint32_t rd(Test *t, uint64_t off, unsigned len) {
        return driver_rd(&t->drv, off, len);
}

static void wr(Test *t, uint64_t off, unsigned len, uint32_t v) {
        driver_wr(&t->drv, off, len, v);
}

static void setup(Test *t, uint64_t features) {
        *t = (Test){ .mem = { .base = RAM_BASE, .size = RAM_SIZE, .host = calloc(1, RAM_SIZE) } };
        assert(t->mem.host);
        assert(virtio_balloon_new(
                       &t->mem,
                       (IrqLine){ .set = on_irq, .userdata = t, .spi = 17 },
                       &(BalloonOps){ .discard = on_discard, .actual_changed = on_changed, .userdata = t },
                       &t->b) == 0);
        assert(virtio_mmio_register(virtio_balloon_transport(t->b), &t->bus, BUS_BASE) == 0);
        t->drv = (Driver){ .mem = &t->mem, .bus = &t->bus, .base = BUS_BASE, .ring_base = RAM_BASE };
        assert(rd(t, REG_DEVICE_ID, 4) == 5);
        driver_start(&t->drv, (uint32_t) features, 3);
}

static void teardown(Test *t) {
        virtio_balloon_free(t->b);
        free(t->mem.host);
}

/* One chain of n buffers [gpa, gpa + len) on queue q, made available and notified. */
static void send_chain(Test *t, unsigned q, const uint64_t *gpa, const uint32_t *len, unsigned n, bool writable) {
        DriverBuf bufs[DRIVER_QSIZE];

        assert(n <= DRIVER_QSIZE);
        for (unsigned i = 0; i < n; i++)
                bufs[i] = (DriverBuf){ gpa[i], len[i], writable };
        (void) driver_send(&t->drv, q, bufs, n);
}

/* An inflate chain of PFNs in one buffer at RAM_BASE + 0x3000. */
static void inflate(Test *t, const uint32_t *pfns, unsigned n) {
        uint64_t gpa = RAM_BASE + 0x3000;
        uint32_t len = 4 * n;

        memcpy(guest_mem_ptr(&t->mem, gpa, len), pfns, len);
        send_chain(t, 0, &gpa, &len, 1, false);
}

static uint32_t pfn(uint64_t gpa) {
        return (uint32_t) (gpa / PAGE);
}

static void test_target_and_actual(void) {
        Test t;

        setup(&t, F_DEFLATE_ON_OOM);
        assert(rd(&t, REG_CONFIG, 4) == 0); /* num_pages: nothing asked for */
        assert(virtio_balloon_actual(t.b) == RAM_SIZE);
        uint32_t gen = rd(&t, REG_CONFIG_GENERATION, 4);

        /* The host wants the guest to keep 600 KiB: 256 - 150 pages in the balloon, rounded down. */
        virtio_balloon_set_target(t.b, 600 * 1024);
        assert(rd(&t, REG_CONFIG, 4) == 256 - 150);
        assert(rd(&t, REG_CONFIG_GENERATION, 4) != gen);
        assert((rd(&t, REG_INTERRUPT_STATUS, 4) & 2) && t.level); /* a config change interrupt */
        /* More than all of it: the balloon empty; 0 (nothing to keep) is all pages. */
        virtio_balloon_set_target(t.b, 10 * RAM_SIZE);
        assert(rd(&t, REG_CONFIG, 4) == 0);
        virtio_balloon_set_target(t.b, 0);
        assert(rd(&t, REG_CONFIG, 4) == 256);

        /* The driver says how many it holds: the host hears of each change, and the guest cannot hold more
         * than it has. num_pages is not the driver's to write. */
        wr(&t, REG_CONFIG + 4, 4, 100);
        assert(t.n_changed == 1 && virtio_balloon_actual(t.b) == RAM_SIZE - 100 * PAGE);
        wr(&t, REG_CONFIG + 4, 4, 100);
        assert(t.n_changed == 1);
        wr(&t, REG_CONFIG + 4, 4, 1000000);
        assert(virtio_balloon_actual(t.b) == 0);
        wr(&t, REG_CONFIG, 4, 7);
        assert(rd(&t, REG_CONFIG, 4) == 256);
        /* A byte of actual at a time, as a driver may write it. */
        wr(&t, REG_CONFIG + 4, 4, 0);
        wr(&t, REG_CONFIG + 4, 1, 3);
        assert(virtio_balloon_actual(t.b) == RAM_SIZE - 3 * PAGE);

        /* A driver reset empties the balloon (the guest has it all again). */
        unsigned changed = t.n_changed;
        wr(&t, REG_STATUS, 4, 0);
        assert(virtio_balloon_actual(t.b) == RAM_SIZE && t.n_changed == changed + 1);
        teardown(&t);
}

static void test_inflate(void) {
        Test t;

        setup(&t, F_DEFLATE_ON_OOM);
        /* Runs of adjacent pages are given back at once, others one by one; what is not RAM is not. */
        uint32_t pfns[] = {
                pfn(RAM_BASE + 10 * PAGE),  pfn(RAM_BASE + 11 * PAGE),
                pfn(RAM_BASE + 12 * PAGE),  pfn(RAM_BASE + 40 * PAGE),
                pfn(RAM_BASE + 255 * PAGE), pfn(RAM_BASE + 256 * PAGE) /* past RAM */,
                0 /* below it */,           UINT32_MAX,
                pfn(RAM_BASE + 41 * PAGE),
        };
        inflate(&t, pfns, ELEMENTSOF(pfns));
        assert(t.n_discards == 4);
        assert(t.discards[0].gpa == RAM_BASE + 10 * PAGE && t.discards[0].len == 3 * PAGE);
        assert(t.discards[1].gpa == RAM_BASE + 40 * PAGE && t.discards[1].len == PAGE);
        assert(t.discards[2].gpa == RAM_BASE + 255 * PAGE && t.discards[2].len == PAGE);
        assert(t.discards[3].gpa == RAM_BASE + 41 * PAGE && t.discards[3].len == PAGE);
        for (unsigned i = 0; i < t.n_discards; i++)
                assert(guest_mem_contains(&t.mem, t.discards[i].gpa, t.discards[i].len));

        /* A trailing partial PFN is ignored; deflating gives nothing back. */
        uint64_t gpa = RAM_BASE + 0x3000;
        uint32_t len = 6;
        uint32_t one = pfn(RAM_BASE + 50 * PAGE);
        memcpy(guest_mem_ptr(&t.mem, gpa, 4), &one, 4);
        send_chain(&t, 0, &gpa, &len, 1, false);
        assert(t.n_discards == 5 && t.discards[4].gpa == RAM_BASE + 50 * PAGE);
        send_chain(&t, 1, &gpa, &len, 1, false);
        assert(t.n_discards == 5);
        teardown(&t);
}

static void test_reporting(void) {
        Test t;

        /* Free blocks, each a buffer: page-aligned parts of them go back. */
        setup(&t, F_DEFLATE_ON_OOM | F_REPORTING);
        uint64_t gpa[] = { RAM_BASE + 64 * PAGE, RAM_BASE + 100 * PAGE + 100 };
        uint32_t len[] = { 16 * PAGE, 3 * PAGE };
        send_chain(&t, 2, gpa, len, 2, true);
        assert(t.n_discards == 2);
        assert(t.discards[0].gpa == RAM_BASE + 64 * PAGE && t.discards[0].len == 16 * PAGE);
        /* [100 pages + 100, 103 pages + 100): the whole pages in it are 101 and 102. */
        assert(t.discards[1].gpa == RAM_BASE + 101 * PAGE && t.discards[1].len == 2 * PAGE);
        teardown(&t);

        /* Without REPORTING negotiated, that queue gives nothing back. */
        setup(&t, F_DEFLATE_ON_OOM);
        send_chain(&t, 2, gpa, len, 1, true);
        assert(t.n_discards == 0);
        teardown(&t);
}

int main(void) {
        test_target_and_actual();
        test_inflate();
        test_reporting();
        return 0;
}
