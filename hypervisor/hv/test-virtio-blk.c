/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio-blk driven as the guest's driver drives it: the config space, reads, writes, flushes and the
 * device ID through a real virtqueue in fake guest RAM, against a raw disk in a memfd; and a hostile
 * driver's requests (a short header, no writable status, data the wrong way, sectors past the end, lengths
 * of no whole sectors, writes to a read-only disk, unknown types) each failed with a status, touching
 * neither the disk nor guest RAM outside the request's own buffers. */
#include <assert.h>
#include <sys/mman.h>

#include "test-virtio-driver.h"
#include "util.h"
#include "virtio-blk.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (1ull << 20)
#define BUS_BASE 0x0a000400ull
#define DISK_SIZE (64ull * 1024) /* 128 sectors */

#define HDR (RAM_BASE + 0x1000)
#define STATUS (RAM_BASE + 0x1100)
#define DATA (RAM_BASE + 0x10000) /* 64 KiB of buffers */

#define F_SEG_MAX (1u << 2)
#define F_RO (1u << 5)
#define F_BLK_SIZE (1u << 6)
#define F_FLUSH (1u << 9)

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2, S_UNTOUCHED = 0xaa };

typedef struct Test {
        GuestMemory mem;
        MmioBus bus;
        VirtioBlk *b;
        int disk_fd;
        uint8_t *disk; /* the memfd mapped: what the disk holds */
        Driver drv;
} Test;

typedef DriverBuf Buf;

static int on_irq(void *userdata, unsigned spi, bool level) {
        return 0;
}

static uint32_t rd(Test *t, uint64_t off, unsigned len) {
        return driver_rd(&t->drv, off, len);
}

static void wr(Test *t, uint64_t off, unsigned len, uint32_t v) {
        driver_wr(&t->drv, off, len, v);
}

static uint8_t *ram(Test *t, uint64_t gpa, uint64_t len) {
        uint8_t *p = guest_mem_ptr(&t->mem, gpa, len);

        assert(p);
        return p;
}

static void setup_disk(Test *t, Disk *disk, bool read_only) {
        assert(virtio_blk_new(
                       &t->mem,
                       (IrqLine){ .set = on_irq, .userdata = t, .spi = 18 },
                       disk,
                       "serial-of-the-disk-is-long",
                       &t->b) == 0);
        assert(virtio_mmio_register(virtio_blk_transport(t->b), &t->bus, BUS_BASE) == 0);
        t->drv = (Driver){ .mem = &t->mem, .bus = &t->bus, .base = BUS_BASE, .ring_base = RAM_BASE };

        assert(rd(t, REG_DEVICE_ID, 4) == 2);
        wr(t, REG_DEVICE_FEATURES_SEL, 4, 0);
        uint32_t features = rd(t, REG_DEVICE_FEATURES, 4);
        assert(features == (F_SEG_MAX | F_BLK_SIZE | F_FLUSH | (read_only ? F_RO : 0)));
        driver_start(&t->drv, features, 1);
}

/* Guest RAM, and a memfd with a pattern for the disk. */
static void setup_memory(Test *t) {
        *t = (Test){ .mem = { .base = RAM_BASE, .size = RAM_SIZE, .host = calloc(1, RAM_SIZE) } };
        assert(t->mem.host);
        t->disk_fd = memfd_create("disk", MFD_CLOEXEC);
        assert(t->disk_fd >= 0 && ftruncate(t->disk_fd, DISK_SIZE) == 0);
        t->disk = mmap(NULL, DISK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, t->disk_fd, 0);
        assert(t->disk != MAP_FAILED);
        for (size_t i = 0; i < DISK_SIZE; i++)
                t->disk[i] = (uint8_t) (i * 7 + i / 512);
}

/* The memfd as a raw disk, opened by path as vmm-hv opens its --disk. */
static void setup(Test *t, bool read_only) {
        char path[64];
        Disk *disk;

        setup_memory(t);
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", t->disk_fd);
        assert(disk_open_raw(path, read_only, &disk, NULL) == 0);
        setup_disk(t, disk, read_only);
}

static void teardown(Test *t) {
        virtio_blk_free(t->b);
        (void) munmap(t->disk, DISK_SIZE);
        safe_close(t->disk_fd);
        free(t->mem.host);
}

static uint32_t send_chain(Test *t, const Buf *bufs, unsigned n) {
        return driver_send(&t->drv, 0, bufs, n);
}

static void header(Test *t, uint32_t type, uint64_t sector) {
        uint8_t *h = ram(t, HDR, 16);

        memcpy(h, &type, 4);
        memset(h + 4, 0, 4);
        memcpy(h + 8, &sector, 8);
        *ram(t, STATUS, 1) = S_UNTOUCHED;
}

/* A request as Linux sends it: header, data buffers, status. */
static uint8_t
        request(Test *t, uint32_t type, uint64_t sector, const Buf *data, unsigned n, uint32_t *ret_written) {
        Buf bufs[DRIVER_QSIZE];
        uint32_t written;

        header(t, type, sector);
        bufs[0] = (Buf){ HDR, 16, false };
        if (n > 0)
                memcpy(bufs + 1, data, n * sizeof(Buf));
        bufs[n + 1] = (Buf){ STATUS, 1, true };
        written = send_chain(t, bufs, n + 2);
        if (ret_written)
                *ret_written = written;
        return *ram(t, STATUS, 1);
}

static void test_config(void) {
        Test t;

        setup(&t, false);
        assert(rd(&t, REG_CONFIG, 4) == DISK_SIZE / 512 && rd(&t, REG_CONFIG + 4, 4) == 0); /* capacity */
        assert(rd(&t, REG_CONFIG + 12, 4) >= 2 && rd(&t, REG_CONFIG + 12, 4) <= 254);       /* seg_max */
        assert(rd(&t, REG_CONFIG + 20, 4) == 512);                                          /* blk_size */
        assert(rd(&t, REG_CONFIG + 20, 2) == 512 && rd(&t, REG_CONFIG, 1) == 128);
        /* The driver cannot change it. */
        wr(&t, REG_CONFIG, 4, 7);
        assert(rd(&t, REG_CONFIG, 4) == DISK_SIZE / 512);
        teardown(&t);
}

static void test_read_write_flush(void) {
        _cleanup_free_ uint8_t *expect = malloc(DISK_SIZE);
        uint32_t written;
        Test t;

        assert(expect);
        setup(&t, false);
        memcpy(expect, t.disk, DISK_SIZE);

        /* A read of 3 sectors from sector 5 into two buffers split inside a sector. */
        Buf in[] = { { DATA, 700, true }, { DATA + 0x1000, 3 * 512 - 700, true } };
        memset(ram(&t, DATA, 0x2000), 0, 0x2000);
        assert(request(&t, T_IN, 5, in, 2, &written) == S_OK);
        assert(written == 3 * 512 + 1);
        assert(memcmp(ram(&t, DATA, 700), expect + 5 * 512, 700) == 0);
        assert(memcmp(ram(&t, DATA + 0x1000, 3 * 512 - 700), expect + 5 * 512 + 700, 3 * 512 - 700) == 0);
        /* Not a byte more. */
        assert(*ram(&t, DATA + 700, 1) == 0 && *ram(&t, DATA + 0x1000 + 3 * 512 - 700, 1) == 0);

        /* A write of 2 sectors at the last two, from three buffers. */
        for (unsigned i = 0; i < 1024; i++)
                *ram(&t, DATA + 0x3000 + i, 1) = (uint8_t) (0x55 ^ i);
        Buf out[] = { { DATA + 0x3000, 100, false },
                      { DATA + 0x3000 + 100, 900, false },
                      { DATA + 0x3000 + 1000, 24, false } };
        assert(request(&t, T_OUT, DISK_SIZE / 512 - 2, out, 3, &written) == S_OK);
        assert(written == 1);
        memcpy(expect + DISK_SIZE - 1024, ram(&t, DATA + 0x3000, 1024), 1024);
        assert(memcmp(t.disk, expect, DISK_SIZE) == 0);

        /* Read back what was written. */
        Buf back[] = { { DATA + 0x5000, 1024, true } };
        assert(request(&t, T_IN, DISK_SIZE / 512 - 2, back, 1, &written) == S_OK);
        assert(memcmp(ram(&t, DATA + 0x5000, 1024), ram(&t, DATA + 0x3000, 1024), 1024) == 0);

        /* The header split over two buffers is still a header (any layout, 2.7.4.1). */
        header(&t, T_IN, 1);
        Buf split[] = { { HDR, 5, false }, { HDR + 5, 11, false }, { DATA, 512, true }, { STATUS, 1, true } };
        assert(send_chain(&t, split, 4) == 513 && *ram(&t, STATUS, 1) == S_OK);
        assert(memcmp(ram(&t, DATA, 512), expect + 512, 512) == 0);

        assert(request(&t, T_FLUSH, 0, NULL, 0, &written) == S_OK && written == 1);
        assert(virtio_blk_flush(t.b) == 0);
        teardown(&t);
}

static void test_get_id(void) {
        uint32_t written;
        Test t;

        setup(&t, false);
        /* 20 bytes at most, not NUL-terminated when all are used. */
        Buf id[] = { { DATA, 32, true } };
        memset(ram(&t, DATA, 32), 0xff, 32);
        assert(request(&t, T_GET_ID, 0, id, 1, &written) == S_OK);
        assert(written == 21);
        assert(memcmp(ram(&t, DATA, 20), "serial-of-the-disk-i", 20) == 0 && *ram(&t, DATA + 20, 1) == 0xff);
        /* A shorter buffer takes what fits. */
        Buf small[] = { { DATA + 100, 6, true } };
        assert(request(&t, T_GET_ID, 0, small, 1, &written) == S_OK);
        assert(written == 7 && memcmp(ram(&t, DATA + 100, 6), "serial", 6) == 0);
        teardown(&t);
}

/* Every hostile request fails with a status, and the disk stays as it was. */
static void test_hostile(void) {
        _cleanup_free_ uint8_t *before = malloc(DISK_SIZE);
        uint32_t written;
        Test t;

        assert(before);
        setup(&t, false);
        memcpy(before, t.disk, DISK_SIZE);
        memset(ram(&t, DATA, 0x8000), 0x11, 0x8000);

        /* A header of 15 bytes. */
        header(&t, T_OUT, 0);
        Buf shorthdr[] = { { HDR, 15, false }, { DATA, 512, false }, { STATUS, 1, true } };
        assert(send_chain(&t, shorthdr, 3) == 1 && *ram(&t, STATUS, 1) == S_IOERR);
        /* No header at all: only the status. */
        Buf nohdr[] = { { STATUS, 1, true } };
        *ram(&t, STATUS, 1) = S_UNTOUCHED;
        assert(send_chain(&t, nohdr, 1) == 1 && *ram(&t, STATUS, 1) == S_IOERR);
        /* The status in a buffer the device may not write: nothing is written at all, nor done. */
        header(&t, T_OUT, 0);
        Buf rostatus[] = { { HDR, 16, false }, { DATA, 512, false }, { STATUS, 1, false } };
        assert(send_chain(&t, rostatus, 3) == 0 && *ram(&t, STATUS, 1) == S_UNTOUCHED);
        /* A read into a buffer the device may only read (its data would go nowhere). */
        Buf ro_in[] = { { DATA, 512, false } };
        assert(request(&t, T_IN, 0, ro_in, 1, &written) == S_IOERR && written == 1);
        assert(*ram(&t, DATA, 1) == 0x11);
        /* A write from a buffer the device may write (data after the header, the wrong way). */
        Buf wr_out[] = { { DATA, 512, true } };
        assert(request(&t, T_OUT, 0, wr_out, 1, NULL) == S_IOERR);
        /* Sectors past the end: the first one after it, one crossing it, absurd ones. */
        Buf one[] = { { DATA, 512, true } }, two[] = { { DATA, 1024, true } };
        assert(request(&t, T_IN, DISK_SIZE / 512, one, 1, NULL) == S_IOERR);
        assert(request(&t, T_IN, DISK_SIZE / 512 - 1, two, 1, NULL) == S_IOERR);
        assert(request(&t, T_IN, UINT64_MAX, one, 1, NULL) == S_IOERR);
        assert(request(&t, T_IN, UINT64_MAX / 512 + 1, one, 1, NULL) == S_IOERR);
        Buf one_out[] = { { DATA, 512, false } };
        assert(request(&t, T_OUT, DISK_SIZE / 512, one_out, 1, NULL) == S_IOERR);
        assert(request(&t, T_OUT, (UINT64_MAX - 1) / 512, one_out, 1, NULL) == S_IOERR);
        /* Lengths of no whole sectors. */
        Buf odd_in[] = { { DATA, 511, true } }, odd_out[] = { { DATA, 513, false } };
        assert(request(&t, T_IN, 0, odd_in, 1, NULL) == S_IOERR);
        assert(request(&t, T_OUT, 0, odd_out, 1, NULL) == S_IOERR);
        /* A flush with data. */
        assert(request(&t, T_FLUSH, 0, one_out, 1, NULL) == S_IOERR);
        /* Types the device does not know. */
        assert(request(&t, 11 /* DISCARD */, 0, one_out, 1, NULL) == S_UNSUPP);
        assert(request(&t, UINT32_MAX, 0, NULL, 0, &written) == S_UNSUPP && written == 1);
        assert(memcmp(t.disk, before, DISK_SIZE) == 0);
        /* After all that, the queue still works. */
        assert(request(&t, T_IN, 0, one, 1, NULL) == S_OK);
        assert(memcmp(ram(&t, DATA, 512), before, 512) == 0);
        teardown(&t);

        /* A read-only disk takes no writes, but reads and flushes. */
        setup(&t, true);
        memcpy(before, t.disk, DISK_SIZE);
        assert(request(&t, T_OUT, 0, one_out, 1, NULL) == S_IOERR);
        assert(request(&t, T_IN, 0, one, 1, NULL) == S_OK);
        assert(request(&t, T_FLUSH, 0, NULL, 0, NULL) == S_OK);
        assert(memcmp(t.disk, before, DISK_SIZE) == 0);
        teardown(&t);
}

static void test_save_load(void) {
        const MmioRegion *region;
        void *state = NULL;
        size_t size;
        Test t, u;

        setup(&t, false);
        region = mmio_bus_find(&t.bus, BUS_BASE, 4);
        assert(region && region->ops->save && region->ops->load);
        assert(region->ops->save(region->dev, &state, &size) == 0);

        /* Into a device set up the same way. */
        setup(&u, false);
        region = mmio_bus_find(&u.bus, BUS_BASE, 4);
        assert(region->ops->load(region->dev, state, size) == 0);
        /* Its queue goes on where the other's stood. */
        u.drv.avail_idx[0] = t.drv.avail_idx[0];
        Buf one[] = { { DATA, 512, true } };
        assert(request(&u, T_IN, 1, one, 1, NULL) == S_OK);
        /* Not its own: cut short, or of a disk of another kind. */
        assert(region->ops->load(region->dev, state, size - 1) == -EBADMSG);
        teardown(&u);
        setup(&u, true);
        region = mmio_bus_find(&u.bus, BUS_BASE, 4);
        assert(region->ops->load(region->dev, state, size) == -EBADMSG);
        teardown(&u);
        free(state);
        teardown(&t);
}

/* A snapshot's disk is of the moment of its RAM: saving writes an overlay's bitmap, which before only the
 * device's memory held. */
static void test_save_flushes(void) {
        _cleanup_close_ int overlay_fd = memfd_create("overlay", MFD_CLOEXEC);
        char path[64], backing[64];
        void *state = NULL;
        const MmioRegion *region;
        uint8_t bitmap;
        size_t size;
        Disk *disk;
        Test t;

        assert(overlay_fd >= 0);
        setup_memory(&t);
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", overlay_fd);
        (void) snprintf(backing, sizeof(backing), "/proc/self/fd/%d", t.disk_fd);
        assert(disk_open_overlay(path, backing, false, &disk, NULL) == 0);
        setup_disk(&t, disk, false);

        Buf one_out[] = { { DATA, 512, false } };
        memset(ram(&t, DATA, 512), 0x77, 512);
        assert(request(&t, T_OUT, 0, one_out, 1, NULL) == S_OK);
        assert(pread(overlay_fd, &bitmap, 1, DISK_OVERLAY_HEADER_SIZE) == 1 && bitmap == 0);
        region = mmio_bus_find(&t.bus, BUS_BASE, 4);
        assert(region->ops->save(region->dev, &state, &size) == 0);
        assert(pread(overlay_fd, &bitmap, 1, DISK_OVERLAY_HEADER_SIZE) == 1 && bitmap == 1);
        /* The backing file is as it was. */
        assert(t.disk[0] == 0 && t.disk[1] == 7);
        free(state);
        teardown(&t);
}

int main(void) {
        test_config();
        test_read_write_flush();
        test_get_id();
        test_hostile();
        test_save_load();
        test_save_flushes();
        return 0;
}
