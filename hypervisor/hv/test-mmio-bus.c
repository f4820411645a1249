/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MMIO bus: overlap rules at registration, lookups at region edges, and how accesses reach a device. */
#include <assert.h>

#include "mmio-bus.h"
#include "util.h"

/* What a device saw of its last access. */
typedef struct FakeDevice {
        unsigned id;
        unsigned n_calls;
        uint64_t offset;
        unsigned len;
        bool is_write;
        uint8_t seen[8]; /* data as the device got it, before a read filled it */
        int result;
} FakeDevice;

static int fake_access(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write) {
        FakeDevice *d = dev;

        assert(len <= 8);
        d->n_calls++;
        d->offset = offset;
        d->len = len;
        d->is_write = is_write;
        memset(d->seen, 0xee, sizeof(d->seen));
        memcpy(d->seen, data, len);
        if (!is_write)
                /* A value that names the device and the offset, so a read shows who answered it. */
                mmio_data_set(data, len, 0x1122334455667700ull | (d->id << 4) | (offset & 0xf));
        return d->result;
}

static const MmioOps fake_ops = {
        .access = fake_access,
};

static void assert_region(const MmioRegion *r, uint64_t base, uint64_t size, void *dev) {
        assert(r);
        assert(r->base == base);
        assert(r->size == size);
        assert(r->dev == dev);
        assert(r->ops == &fake_ops);
}

/* A refused registration leaves the table as it was. */
static void expect_refused(MmioBus *bus, uint64_t base, uint64_t size, int error) {
        MmioBus before = *bus;
        FakeDevice d = {};

        assert(mmio_bus_register(bus, "refused", base, size, &fake_ops, &d) == error);
        assert(memcmp(&before, bus, sizeof(before)) == 0);
}

static void test_register_overlap(void) {
        MmioBus bus = {};
        FakeDevice a = {}, b = {}, c = {}, d = {};

        /* A = [0x1000, 0x2000) */
        assert(mmio_bus_register(&bus, "a", 0x1000, 0x1000, &fake_ops, &a) == 0);
        assert(bus.n_regions == 1);

        expect_refused(&bus, 0x1000, 0x1000, -EEXIST); /* identical */
        expect_refused(&bus, 0x1400, 0x100, -EEXIST);  /* inside */
        expect_refused(&bus, 0x1000, 0x1, -EEXIST);    /* same base, smaller */
        expect_refused(&bus, 0x1000, 0x2000, -EEXIST); /* same base, larger */
        expect_refused(&bus, 0x1fff, 0x1, -EEXIST);    /* the last byte */
        expect_refused(&bus, 0xf00, 0x101, -EEXIST);   /* straddles the start by one byte */
        expect_refused(&bus, 0x1fff, 0x100, -EEXIST);  /* straddles the end by one byte */
        expect_refused(&bus, 0x800, 0x2000, -EEXIST);  /* covers it */
        expect_refused(&bus, 0x0, 0x1001, -EEXIST);    /* below, reaching its first byte */

        /* Adjacent on both sides is fine, and the table stays sorted by base. */
        assert(mmio_bus_register(&bus, "b", 0x2000, 0x1000, &fake_ops, &b) == 0);
        assert(mmio_bus_register(&bus, "c", 0x0, 0x1000, &fake_ops, &c) == 0);
        assert(mmio_bus_register(&bus, "d", 0x5000, 0x1000, &fake_ops, &d) == 0);
        assert(bus.n_regions == 4);
        assert_region(bus.regions + 0, 0x0, 0x1000, &c);
        assert_region(bus.regions + 1, 0x1000, 0x1000, &a);
        assert_region(bus.regions + 2, 0x2000, 0x1000, &b);
        assert_region(bus.regions + 3, 0x5000, 0x1000, &d);
        assert(streq(bus.regions[1].name, "a"));

        /* Into the gap [0x3000, 0x5000): overlapping either neighbour is refused, touching both is not. */
        expect_refused(&bus, 0x2fff, 0x2, -EEXIST);
        expect_refused(&bus, 0x3000, 0x2001, -EEXIST);
        expect_refused(&bus, 0x2800, 0x3000, -EEXIST); /* over the whole gap into both */
        expect_refused(&bus, 0x5fff, 0x10, -EEXIST);
        expect_refused(&bus, 0x0, UINT64_MAX, -EEXIST);
        FakeDevice e = {};
        assert(mmio_bus_register(&bus, "e", 0x3000, 0x2000, &fake_ops, &e) == 0);
        assert(bus.n_regions == 5);
        assert_region(bus.regions + 3, 0x3000, 0x2000, &e);
        assert_region(bus.regions + 4, 0x5000, 0x1000, &d);
}

static void test_register_invalid(void) {
        MmioBus bus = {};
        FakeDevice a = {};

        expect_refused(&bus, 0x1000, 0, -EINVAL);
        expect_refused(&bus, UINT64_MAX, 2, -EINVAL);
        expect_refused(&bus, UINT64_MAX - 0xfff, UINT64_MAX, -EINVAL);
        expect_refused(&bus, 1, UINT64_MAX, -EINVAL);
        /* A range whose end would be 2^64 cannot be represented: refused like a wrapping one. */
        expect_refused(&bus, UINT64_MAX - 0xfff, 0x1000, -EINVAL);
        /* The highest range there can be ends at UINT64_MAX (exclusive). */
        assert(mmio_bus_register(&bus, "top", UINT64_MAX - 0x1000, 0x1000, &fake_ops, &a) == 0);
        assert(bus.n_regions == 1);
        assert(mmio_bus_find(&bus, UINT64_MAX - 1, 1) == bus.regions);
        assert(!mmio_bus_find(&bus, UINT64_MAX - 1, 2));
        assert(!mmio_bus_find(&bus, UINT64_MAX, 1));
        assert(!mmio_bus_find(&bus, UINT64_MAX - 0x1001, 1));
        /* An empty one is refused even where it would overlap nothing. */
        expect_refused(&bus, 0x0, 0, -EINVAL);
}

static void test_table_full(void) {
        MmioBus bus = {};
        FakeDevice devs[MMIO_BUS_MAX] = {};

        /* Registered from the top down, so that every one goes to the front of the table. */
        for (unsigned i = 0; i < MMIO_BUS_MAX; i++) {
                unsigned k = MMIO_BUS_MAX - 1 - i;

                devs[k].id = k;
                assert(mmio_bus_register(&bus, "dev", 0x10000 + 0x1000ull * k, 0x100, &fake_ops, devs + k) ==
                       0);
        }
        assert(bus.n_regions == MMIO_BUS_MAX);
        expect_refused(&bus, 0x100000, 0x100, -E2BIG);
        expect_refused(&bus, 0x0, 0x100, -E2BIG);

        /* The binary search finds every one of them at both ends, and nothing between them. */
        for (unsigned k = 0; k < MMIO_BUS_MAX; k++) {
                uint64_t base = 0x10000 + 0x1000ull * k;

                assert_region(bus.regions + k, base, 0x100, devs + k);
                assert(mmio_bus_find(&bus, base, 1) == bus.regions + k);
                assert(mmio_bus_find(&bus, base + 0xff, 1) == bus.regions + k);
                assert(mmio_bus_find(&bus, base + 0xf8, 8) == bus.regions + k);
                assert(!mmio_bus_find(&bus, base + 0x100, 1));
                assert(!mmio_bus_find(&bus, base - 1, 1));
                assert(!mmio_bus_find(&bus, base + 0xf9, 8));
        }
}

static void test_find(void) {
        MmioBus bus = {};
        FakeDevice a = {}, b = {}, c = {};

        assert(!mmio_bus_find(&bus, 0, 1));
        assert(!mmio_bus_find(&bus, 0x1000, 4));

        /* a = [0x1000, 0x1100) and b = [0x1100, 0x1200) touch; c = [0x9000, 0x9004) stands alone. */
        assert(mmio_bus_register(&bus, "b", 0x1100, 0x100, &fake_ops, &b) == 0);
        assert(mmio_bus_register(&bus, "c", 0x9000, 0x4, &fake_ops, &c) == 0);
        assert(mmio_bus_register(&bus, "a", 0x1000, 0x100, &fake_ops, &a) == 0);
        const MmioRegion *ra = bus.regions + 0, *rb = bus.regions + 1, *rc = bus.regions + 2;
        assert(ra->dev == &a && rb->dev == &b && rc->dev == &c);

        assert(!mmio_bus_find(&bus, 0xfff, 1));
        assert(mmio_bus_find(&bus, 0x1000, 1) == ra);
        assert(mmio_bus_find(&bus, 0x1000, 8) == ra);
        assert(mmio_bus_find(&bus, 0x10ff, 1) == ra);
        assert(mmio_bus_find(&bus, 0x10fc, 4) == ra);
        assert(mmio_bus_find(&bus, 0x1100, 1) == rb); /* one past a is b's first byte */
        assert(mmio_bus_find(&bus, 0x11ff, 1) == rb);
        assert(!mmio_bus_find(&bus, 0x1200, 1));
        /* An access that runs from one region into the next belongs to neither. */
        assert(!mmio_bus_find(&bus, 0x10ff, 2));
        assert(!mmio_bus_find(&bus, 0x10fe, 4));
        assert(!mmio_bus_find(&bus, 0x11f9, 8));

        assert(!mmio_bus_find(&bus, 0x8fff, 1));
        assert(!mmio_bus_find(&bus, 0x8fff, 2));
        assert(mmio_bus_find(&bus, 0x9000, 4) == rc);
        assert(mmio_bus_find(&bus, 0x9003, 1) == rc);
        assert(!mmio_bus_find(&bus, 0x9004, 1));
        assert(!mmio_bus_find(&bus, 0x9000, 8));
        assert(!mmio_bus_find(&bus, 0x9001, 4));
        assert(!mmio_bus_find(&bus, UINT64_MAX, 1));

        /* A run of adjacent regions of different sizes: the byte one past each is the next one's first,
         * wherever the search happens to look first. */
        MmioBus run = {};
        FakeDevice devs[13] = {};
        uint64_t bases[ELEMENTSOF(devs) + 1];
        bases[0] = 0x100000;
        for (unsigned k = 0; k < ELEMENTSOF(devs); k++) {
                bases[k + 1] = bases[k] + 0x10 * (k % 3 + 1);
                assert(mmio_bus_register(
                               &run, "run", bases[k], bases[k + 1] - bases[k], &fake_ops, devs + k) == 0);
        }
        assert(!mmio_bus_find(&run, bases[0] - 1, 1));
        for (unsigned k = 0; k < ELEMENTSOF(devs); k++) {
                assert(mmio_bus_find(&run, bases[k], 1) == run.regions + k);
                assert(mmio_bus_find(&run, bases[k + 1] - 1, 1) == run.regions + k);
                assert(mmio_bus_find(&run, bases[k + 1] - 8, 8) == run.regions + k);
                assert(!mmio_bus_find(&run, bases[k + 1] - 1, 2));
        }
        assert(!mmio_bus_find(&run, bases[ELEMENTSOF(devs)], 1));
}

static void test_access(void) {
        MmioBus bus = {};
        FakeDevice a = { .id = 1 }, b = { .id = 2 };
        uint8_t data[16];

        assert(mmio_bus_register(&bus, "a", 0x1000, 0x100, &fake_ops, &a) == 0);
        assert(mmio_bus_register(&bus, "b", 0x1100, 0x10, &fake_ops, &b) == 0);

        /* Writes of every length reach the device with its offset and the bytes as given. */
        for (unsigned len = 1; len <= 8; len *= 2) {
                unsigned calls = a.n_calls;

                for (unsigned i = 0; i < sizeof(data); i++)
                        data[i] = (uint8_t) (0x30 + i);
                assert(mmio_bus_access(&bus, 0x1000 + 0x40 + len, data, len, true) == 0);
                assert(a.n_calls == calls + 1);
                assert(a.offset == 0x40 + len);
                assert(a.len == len);
                assert(a.is_write);
                for (unsigned i = 0; i < len; i++)
                        assert(a.seen[i] == 0x30 + i);
                for (unsigned i = 0; i < sizeof(data); i++)
                        assert(data[i] == 0x30 + i);
        }

        /* Reads: the device gets zeroes (never stale bytes of the caller's), and fills exactly len bytes. */
        for (unsigned len = 1; len <= 8; len *= 2) {
                uint64_t expect = 0x1122334455667700ull | (1 << 4) | 0x7;

                memset(data, 0xaa, sizeof(data));
                assert(mmio_bus_access(&bus, 0x10f7, data, len, false) == 0);
                assert(a.offset == 0xf7);
                assert(a.len == len);
                assert(!a.is_write);
                for (unsigned i = 0; i < len; i++)
                        assert(a.seen[i] == 0);
                assert(mmio_data_get(data, len) == (len == 8 ? expect : expect & ((1ull << (8 * len)) - 1)));
                for (unsigned i = len; i < sizeof(data); i++)
                        assert(data[i] == 0xaa);
        }
        /* The offset is relative to the region that answered. */
        memset(data, 0xaa, sizeof(data));
        assert(mmio_bus_access(&bus, 0x110c, data, 4, false) == 0);
        assert(b.n_calls == 1 && b.offset == 0xc && b.len == 4 && !b.is_write);
        assert(mmio_data_get(data, 4) == 0x5566772cu);
        assert(data[4] == 0xaa);

        /* Other lengths are refused before any device sees them, even inside a region. */
        unsigned calls_a = a.n_calls, calls_b = b.n_calls;
        const unsigned bad_lens[] = { 0, 3, 5, 6, 7, 9, 16, UINT32_MAX };
        for (size_t i = 0; i < ELEMENTSOF(bad_lens); i++) {
                assert(mmio_bus_access(&bus, 0x1000, data, bad_lens[i], false) == -EINVAL);
                assert(mmio_bus_access(&bus, 0x1000, data, bad_lens[i], true) == -EINVAL);
        }

        /* Outside every region, or crossing a region's end (even into the adjacent one): -ENXIO. */
        memset(data, 0xaa, sizeof(data));
        assert(mmio_bus_access(&bus, 0xfff, data, 1, false) == -ENXIO);
        assert(mmio_bus_access(&bus, 0xffe, data, 4, false) == -ENXIO);
        assert(mmio_bus_access(&bus, 0x10fe, data, 4, false) == -ENXIO);
        assert(mmio_bus_access(&bus, 0x10f9, data, 8, true) == -ENXIO);
        assert(mmio_bus_access(&bus, 0x110f, data, 2, true) == -ENXIO);
        assert(mmio_bus_access(&bus, 0x1110, data, 1, true) == -ENXIO);
        assert(mmio_bus_access(&bus, UINT64_MAX, data, 1, false) == -ENXIO);
        assert(a.n_calls == calls_a && b.n_calls == calls_b);
        for (unsigned i = 0; i < sizeof(data); i++)
                assert(data[i] == 0xaa);

        /* A device that cannot go on: its error reaches the caller. */
        b.result = -EIO;
        assert(mmio_bus_access(&bus, 0x1100, data, 1, true) == -EIO);
        assert(b.n_calls == calls_b + 1);
}

static void test_data(void) {
        uint8_t data[9];

        memset(data, 0xcc, sizeof(data));
        mmio_data_set(data, 8, 0x0807060504030201ull);
        for (unsigned i = 0; i < 8; i++)
                assert(data[i] == i + 1);
        assert(data[8] == 0xcc);
        assert(mmio_data_get(data, 8) == 0x0807060504030201ull);
        assert(mmio_data_get(data, 4) == 0x04030201u);
        assert(mmio_data_get(data, 2) == 0x0201u);
        assert(mmio_data_get(data, 1) == 0x01u);

        /* A narrower set writes only its bytes, the low ones of the value. */
        memset(data, 0xcc, sizeof(data));
        mmio_data_set(data, 2, 0xdeadbeefu);
        assert(data[0] == 0xef && data[1] == 0xbe && data[2] == 0xcc);
        assert(mmio_data_get(data, 2) == 0xbeef);
        mmio_data_set(data, 4, 0x80000001u);
        assert(data[0] == 0x01 && data[1] == 0 && data[2] == 0 && data[3] == 0x80 && data[4] == 0xcc);
        assert(mmio_data_get(data, 4) == 0x80000001u);
        mmio_data_set(data, 1, 0x1ff);
        assert(data[0] == 0xff && data[1] == 0);
        assert(mmio_data_get(data, 1) == 0xff);

        /* Round trip of every length for a few values, top bits included. */
        const uint64_t values[] = {
                0, 1, 0x80, 0x8000, 0x80000000u, 0x8000000000000000ull, UINT64_MAX, 0x0123456789abcdefull
        };
        for (size_t i = 0; i < ELEMENTSOF(values); i++)
                for (unsigned len = 1; len <= 8; len *= 2) {
                        uint64_t mask = len == 8 ? UINT64_MAX : (1ull << (8 * len)) - 1;

                        memset(data, 0xcc, sizeof(data));
                        mmio_data_set(data, len, values[i]);
                        assert(mmio_data_get(data, len) == (values[i] & mask));
                        assert(data[len] == 0xcc);
                }
}

int main(void) {
        test_register_overlap();
        test_register_invalid();
        test_table_full();
        test_find();
        test_access();
        test_data();
        return 0;
}
