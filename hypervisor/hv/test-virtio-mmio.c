/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The virtio-mmio transport driven as a guest driver drives it: 32-bit register accesses on the MMIO bus,
 * against a fake device that records its callbacks and a fake interrupt line that records its level. */
#include <assert.h>

#include "util.h"
#include "virtio-mmio.h"

/* Register offsets from the virtio 1.2 spec, 4.2.2 (not the transport's own table: that is under test). */
#define MAGIC_VALUE 0x000
#define VERSION 0x004
#define DEVICE_ID 0x008
#define VENDOR_ID 0x00c
#define DEVICE_FEATURES 0x010
#define DEVICE_FEATURES_SEL 0x014
#define DRIVER_FEATURES 0x020
#define DRIVER_FEATURES_SEL 0x024
#define QUEUE_SEL 0x030
#define QUEUE_NUM_MAX 0x034
#define QUEUE_NUM 0x038
#define QUEUE_READY 0x044
#define QUEUE_NOTIFY 0x050
#define INTERRUPT_STATUS 0x060
#define INTERRUPT_ACK 0x064
#define STATUS 0x070
#define QUEUE_DESC_LOW 0x080
#define QUEUE_DESC_HIGH 0x084
#define QUEUE_DRIVER_LOW 0x090
#define QUEUE_DRIVER_HIGH 0x094
#define QUEUE_DEVICE_LOW 0x0a0
#define QUEUE_DEVICE_HIGH 0x0a4
#define SHM_SEL 0x0ac
#define SHM_LEN_LOW 0x0b0
#define SHM_LEN_HIGH 0x0b4
#define SHM_BASE_LOW 0x0b8
#define SHM_BASE_HIGH 0x0bc
#define CONFIG_GENERATION 0x0fc
#define CONFIG 0x100

#define ACK VIRTIO_STATUS_ACKNOWLEDGE
#define DRIVER VIRTIO_STATUS_DRIVER
#define FEATURES_OK VIRTIO_STATUS_FEATURES_OK
#define DRIVER_OK VIRTIO_STATUS_DRIVER_OK
#define NEEDS_RESET VIRTIO_STATUS_NEEDS_RESET

#define BUS_BASE 0x0a000000ull
#define SPI 7
#define RAM_BASE 0x40000000ull
#define RAM_SIZE 0x10000ull
#define DATA_GPA (RAM_BASE + 0x8000)

#define N_QUEUES 3
#define QUEUE_MAX 64
#define CONFIG_SIZE 10
/* Bits 0 and 7, and 33 in the upper half; the transport adds VERSION_1 (32). */
#define FEATURES ((1ull << 0) | (1ull << 7) | (1ull << 33))
#define VERSION_1 (1ull << VIRTIO_F_VERSION_1)

typedef struct Fixture {
        GuestMemory mem;
        MmioBus bus;
        VirtioMmio t;
        /* The fake device's record. */
        uint8_t config[CONFIG_SIZE];
        unsigned n_config;
        uint32_t config_offset;
        unsigned config_len;
        bool config_write;
        unsigned n_notify[VIRTIO_QUEUES_MAX];
        unsigned n_driver_ok, n_reset;
        uint64_t features_at_driver_ok;
        /* The fake interrupt line's. */
        bool level;
        unsigned n_irq_set;
} Fixture;

/* Every callback runs with the transport's lock held. */
static void assert_locked(VirtioMmio *t) {
        assert(pthread_mutex_trylock(&t->lock) == EBUSY);
}

static void fake_config_access(VirtioMmio *t, uint32_t offset, uint8_t *data, unsigned len, bool is_write) {
        Fixture *f = t->dev;

        assert_locked(t);
        assert(offset + len <= CONFIG_SIZE);
        f->n_config++;
        f->config_offset = offset;
        f->config_len = len;
        f->config_write = is_write;
        if (is_write)
                memcpy(f->config + offset, data, len);
        else
                memcpy(data, f->config + offset, len);
}

static void fake_notify(VirtioMmio *t, unsigned queue) {
        Fixture *f = t->dev;

        assert_locked(t);
        assert(queue < N_QUEUES);
        f->n_notify[queue]++;
}

static void fake_driver_ok(VirtioMmio *t) {
        Fixture *f = t->dev;

        assert_locked(t);
        f->n_driver_ok++;
        f->features_at_driver_ok = t->driver_features;
}

static void fake_reset(VirtioMmio *t) {
        Fixture *f = t->dev;

        assert_locked(t);
        f->n_reset++;
}

static int fake_irq_set(void *userdata, unsigned spi, bool level) {
        Fixture *f = userdata;

        assert(spi == SPI);
        f->level = level;
        f->n_irq_set++;
        return 0;
}

static const VirtioDeviceOps fake_ops = {
        .name = "fake",
        .device_id = VIRTIO_ID_RNG,
        .features = FEATURES,
        .n_queues = N_QUEUES,
        .queue_size_max = QUEUE_MAX,
        .config_size = CONFIG_SIZE,
        .config_access = fake_config_access,
        .notify = fake_notify,
        .driver_ok = fake_driver_ok,
        .reset = fake_reset,
};

static Fixture *fixture_new(void) {
        Fixture *f = calloc(1, sizeof(Fixture));

        assert(f);
        f->mem = (GuestMemory){ .base = RAM_BASE, .size = RAM_SIZE, .host = calloc(1, RAM_SIZE) };
        assert(f->mem.host);
        for (unsigned i = 0; i < CONFIG_SIZE; i++)
                f->config[i] = (uint8_t) (0x10 + i);
        IrqLine irq = { .set = fake_irq_set, .userdata = f, .spi = SPI };
        assert(virtio_mmio_init(&f->t, &fake_ops, f, &f->mem, irq) == 0);
        assert(virtio_mmio_register(&f->t, &f->bus, BUS_BASE) == 0);
        return f;
}

static void fixture_free(Fixture *f) {
        virtio_mmio_done(&f->t);
        free(f->mem.host);
        free(f);
}

static void bus_access(Fixture *f, uint64_t offset, uint8_t *data, unsigned len, bool is_write) {
        assert(mmio_bus_access(&f->bus, BUS_BASE + offset, data, len, is_write) == 0);
}

static uint64_t rd(Fixture *f, uint64_t offset, unsigned len) {
        uint8_t data[8];

        memset(data, 0xaa, sizeof(data));
        bus_access(f, offset, data, len, false);
        return mmio_data_get(data, len);
}

static void wr(Fixture *f, uint64_t offset, unsigned len, uint64_t v) {
        uint8_t data[8];

        mmio_data_set(data, len, v);
        bus_access(f, offset, data, len, true);
}

static uint32_t reg(Fixture *f, uint64_t offset) {
        return (uint32_t) rd(f, offset, 4);
}

static void set_reg(Fixture *f, uint64_t offset, uint32_t v) {
        wr(f, offset, 4, v);
}

static unsigned total_notify(Fixture *f) {
        unsigned n = 0;

        for (unsigned i = 0; i < VIRTIO_QUEUES_MAX; i++)
                n += f->n_notify[i];
        return n;
}

static void set_driver_features(Fixture *f, uint64_t features) {
        set_reg(f, DRIVER_FEATURES_SEL, 0);
        set_reg(f, DRIVER_FEATURES, (uint32_t) features);
        set_reg(f, DRIVER_FEATURES_SEL, 1);
        set_reg(f, DRIVER_FEATURES, (uint32_t) (features >> 32));
}

/* The driver's initialisation up to FEATURES_OK (3.1.1), which the device accepts. */
static void driver_init(Fixture *f, uint64_t features) {
        set_reg(f, STATUS, ACK);
        assert(reg(f, STATUS) == ACK);
        set_reg(f, STATUS, ACK | DRIVER);
        assert(reg(f, STATUS) == (ACK | DRIVER));
        set_driver_features(f, features);
        set_reg(f, STATUS, ACK | DRIVER | FEATURES_OK);
        assert(reg(f, STATUS) == (ACK | DRIVER | FEATURES_OK));
}

static void driver_ok(Fixture *f) {
        set_reg(f, STATUS, ACK | DRIVER | FEATURES_OK | DRIVER_OK);
        assert(reg(f, STATUS) == (ACK | DRIVER | FEATURES_OK | DRIVER_OK));
}

/* Each queue's areas in its own 4 KiB of RAM. */
static uint64_t desc_gpa(unsigned queue) {
        return RAM_BASE + 0x1000ull * queue;
}

static uint64_t avail_gpa(unsigned queue) {
        return desc_gpa(queue) + 0x400;
}

static uint64_t used_gpa(unsigned queue) {
        return desc_gpa(queue) + 0x800;
}

static void queue_addresses(Fixture *f, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used) {
        set_reg(f, QUEUE_NUM, num);
        set_reg(f, QUEUE_DESC_LOW, (uint32_t) desc);
        set_reg(f, QUEUE_DESC_HIGH, (uint32_t) (desc >> 32));
        set_reg(f, QUEUE_DRIVER_LOW, (uint32_t) avail);
        set_reg(f, QUEUE_DRIVER_HIGH, (uint32_t) (avail >> 32));
        set_reg(f, QUEUE_DEVICE_LOW, (uint32_t) used);
        set_reg(f, QUEUE_DEVICE_HIGH, (uint32_t) (used >> 32));
}

static void queue_setup(Fixture *f, unsigned queue, uint32_t num) {
        set_reg(f, QUEUE_SEL, queue);
        assert(reg(f, QUEUE_NUM_MAX) == QUEUE_MAX);
        assert(reg(f, QUEUE_READY) == 0);
        queue_addresses(f, num, desc_gpa(queue), avail_gpa(queue), used_gpa(queue));
        set_reg(f, QUEUE_READY, 1);
        assert(reg(f, QUEUE_READY) == 1);
}

static uint8_t *host(Fixture *f, uint64_t gpa, uint64_t len) {
        uint8_t *p = guest_mem_ptr(&f->mem, gpa, len);

        assert(p);
        return p;
}

/* The driver's side of a queue, minimally: one descriptor per chain, head written into the next slot. */
static void publish(Fixture *f, unsigned queue, uint16_t head, uint16_t size, bool writable) {
        uint8_t *d = host(f, desc_gpa(queue) + 16ull * (head % size), 16);
        uint8_t *avail = host(f, avail_gpa(queue), 4 + 2ull * size);
        uint16_t idx = (uint16_t) (avail[2] | avail[3] << 8);
        uint64_t buf = DATA_GPA + 0x100ull * (head % size);

        for (unsigned i = 0; i < 8; i++)
                d[i] = (uint8_t) (buf >> (8 * i));
        d[8] = 16;
        d[9] = d[10] = d[11] = 0;
        d[12] = writable ? VIRTQ_DESC_F_WRITE : 0;
        d[13] = d[14] = d[15] = 0;
        avail[4 + 2 * (idx % size)] = (uint8_t) head;
        avail[5 + 2 * (idx % size)] = (uint8_t) (head >> 8);
        idx++;
        avail[2] = (uint8_t) idx;
        avail[3] = (uint8_t) (idx >> 8);
}

static void set_avail_flags(Fixture *f, unsigned queue, uint16_t flags) {
        uint8_t *avail = host(f, avail_gpa(queue), 2);

        avail[0] = (uint8_t) flags;
        avail[1] = (uint8_t) (flags >> 8);
}

static uint16_t used_idx(Fixture *f, unsigned queue) {
        const uint8_t *p = host(f, used_gpa(queue) + 2, 2);

        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t used_field(Fixture *f, unsigned queue, unsigned slot, unsigned field) {
        const uint8_t *p = host(f, used_gpa(queue) + 4 + 8ull * slot + 4 * field, 4);

        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static int pop(Fixture *f, unsigned queue, VirtChain *c) {
        int r;

        virtio_mmio_lock(&f->t);
        r = virtio_mmio_pop(&f->t, queue, c);
        virtio_mmio_unlock(&f->t);
        return r;
}

static int push(Fixture *f, unsigned queue, uint16_t head, uint32_t written) {
        int r;

        virtio_mmio_lock(&f->t);
        r = virtio_mmio_push(&f->t, queue, head, written);
        virtio_mmio_unlock(&f->t);
        return r;
}

static void config_changed(Fixture *f) {
        virtio_mmio_lock(&f->t);
        virtio_mmio_config_changed(&f->t);
        virtio_mmio_unlock(&f->t);
}

static void test_init(void) {
        VirtioDeviceOps ops = fake_ops;
        GuestMemory mem = { .base = RAM_BASE, .size = RAM_SIZE };
        VirtioMmio t;

        ops.n_queues = VIRTIO_QUEUES_MAX + 1;
        assert(virtio_mmio_init(&t, &ops, NULL, &mem, (IrqLine){}) == -EINVAL);
        ops = fake_ops;
        ops.config_size = VIRTIO_MMIO_SIZE - CONFIG + 1;
        assert(virtio_mmio_init(&t, &ops, NULL, &mem, (IrqLine){}) == -EINVAL);
        ops = fake_ops;
        ops.queue_size_max = 0;
        assert(virtio_mmio_init(&t, &ops, NULL, &mem, (IrqLine){}) == -EINVAL);
        ops.queue_size_max = VIRTQ_SIZE_MAX + 1;
        assert(virtio_mmio_init(&t, &ops, NULL, &mem, (IrqLine){}) == -EINVAL);
        ops.queue_size_max = VIRTQ_SIZE_MAX;
        ops.config_size = VIRTIO_MMIO_SIZE - CONFIG;
        ops.n_queues = VIRTIO_QUEUES_MAX;
        assert(virtio_mmio_init(&t, &ops, NULL, &mem, (IrqLine){}) == 0);
        virtio_mmio_done(&t);
}

static void test_identity(void) {
        Fixture *f = fixture_new();

        /* One bus region of the transport's size, at the base given. */
        assert(f->bus.n_regions == 1);
        assert(f->bus.regions[0].base == BUS_BASE && f->bus.regions[0].size == 0x200);
        assert(streq(f->bus.regions[0].name, "fake"));
        assert(f->bus.regions[0].dev == &f->t);
        VirtioMmio other;
        assert(virtio_mmio_init(&other, &fake_ops, NULL, &f->mem, (IrqLine){}) == 0);
        assert(virtio_mmio_register(&other, &f->bus, BUS_BASE + 0x1ff) == -EEXIST);
        assert(virtio_mmio_register(&other, &f->bus, BUS_BASE + 0x200) == 0);
        virtio_mmio_done(&other);
        uint8_t data[4];
        assert(mmio_bus_access(&f->bus, BUS_BASE - 4, data, 4, false) == -ENXIO);

        assert(reg(f, MAGIC_VALUE) == 0x74726976);
        assert(reg(f, VERSION) == 2);
        assert(reg(f, DEVICE_ID) == VIRTIO_ID_RNG);
        assert(reg(f, VENDOR_ID) == 0x646d6d76);
        assert(reg(f, STATUS) == 0);
        assert(reg(f, INTERRUPT_STATUS) == 0);
        assert(reg(f, CONFIG_GENERATION) == 0);
        /* No shared memory regions: their length and base read as all ones (4.2.2). */
        set_reg(f, SHM_SEL, 0);
        assert(reg(f, SHM_LEN_LOW) == UINT32_MAX && reg(f, SHM_LEN_HIGH) == UINT32_MAX);
        assert(reg(f, SHM_BASE_LOW) == UINT32_MAX && reg(f, SHM_BASE_HIGH) == UINT32_MAX);
        /* Write-only and reserved registers read as 0. */
        assert(reg(f, QUEUE_NOTIFY) == 0 && reg(f, INTERRUPT_ACK) == 0 && reg(f, 0x018) == 0 &&
               reg(f, 0x0f8) == 0);
        assert(f->n_irq_set == 0 && f->n_reset == 0 && f->n_config == 0);
        fixture_free(f);
}

static void test_device_features(void) {
        Fixture *f = fixture_new();

        assert(reg(f, DEVICE_FEATURES) == (uint32_t) FEATURES);
        set_reg(f, DEVICE_FEATURES_SEL, 1);
        assert(reg(f, DEVICE_FEATURES) == (uint32_t) ((FEATURES | VERSION_1) >> 32));
        assert(reg(f, DEVICE_FEATURES) == 0x3);
        set_reg(f, DEVICE_FEATURES_SEL, 2);
        assert(reg(f, DEVICE_FEATURES) == 0);
        set_reg(f, DEVICE_FEATURES_SEL, UINT32_MAX);
        assert(reg(f, DEVICE_FEATURES) == 0);
        set_reg(f, DEVICE_FEATURES_SEL, 0);
        assert(reg(f, DEVICE_FEATURES) == 0x81);
        fixture_free(f);
}

static void test_init_sequence(void) {
        Fixture *f = fixture_new();

        driver_init(f, FEATURES | VERSION_1);
        assert(f->t.driver_features == (FEATURES | VERSION_1));
        assert(virtio_mmio_has_feature(&f->t, 0) && virtio_mmio_has_feature(&f->t, 7));
        assert(virtio_mmio_has_feature(&f->t, 32) && virtio_mmio_has_feature(&f->t, 33));
        assert(!virtio_mmio_has_feature(&f->t, 1) && !virtio_mmio_has_feature(&f->t, 34));
        assert(!virtio_mmio_has_feature(&f->t, 64) && !virtio_mmio_has_feature(&f->t, UINT_MAX));
        /* Once FEATURES_OK holds, the features are final. */
        set_reg(f, DRIVER_FEATURES_SEL, 0);
        set_reg(f, DRIVER_FEATURES, 0);
        set_reg(f, DRIVER_FEATURES_SEL, 1);
        set_reg(f, DRIVER_FEATURES, 0);
        assert(f->t.driver_features == (FEATURES | VERSION_1));
        assert(f->n_driver_ok == 0 && !virtio_mmio_driver_ok(&f->t));

        driver_ok(f);
        assert(f->n_driver_ok == 1);
        assert(f->features_at_driver_ok == (FEATURES | VERSION_1));
        assert(virtio_mmio_driver_ok(&f->t));
        /* Writing it again does not start the device again. */
        driver_ok(f);
        assert(f->n_driver_ok == 1);
        assert(f->n_reset == 0 && f->n_irq_set == 0);
        fixture_free(f);

        /* A subset of what is offered is fine, as long as VERSION_1 is in it. */
        f = fixture_new();
        driver_init(f, VERSION_1 | (1ull << 7));
        assert(f->t.driver_features == (VERSION_1 | (1ull << 7)));
        fixture_free(f);
}

/* The driver's FEATURES_OK is refused: the status reads back without it, and DRIVER_OK cannot follow. */
static void expect_features_refused(Fixture *f, uint64_t features) {
        set_reg(f, STATUS, ACK);
        set_reg(f, STATUS, ACK | DRIVER);
        set_driver_features(f, features);
        assert(f->t.driver_features == features);
        set_reg(f, STATUS, ACK | DRIVER | FEATURES_OK);
        assert(reg(f, STATUS) == (ACK | DRIVER));
        set_reg(f, STATUS, ACK | DRIVER | FEATURES_OK | DRIVER_OK);
        assert(reg(f, STATUS) == (ACK | DRIVER));
        assert(f->n_driver_ok == 0 && !virtio_mmio_driver_ok(&f->t));
}

static void test_features_refused(void) {
        Fixture *f = fixture_new();

        expect_features_refused(f, FEATURES | VERSION_1 | (1ull << 1)); /* not offered, low half */
        expect_features_refused(f, VERSION_1 | (1ull << 34));           /* not offered, high half */
        expect_features_refused(f, VERSION_1 | (1ull << 63));
        expect_features_refused(f, FEATURES); /* without VERSION_1 */
        expect_features_refused(f, 0);
        /* The driver may try again with features the device accepts (the transport was not reset). */
        set_driver_features(f, VERSION_1 | 1);
        set_reg(f, STATUS, ACK | DRIVER | FEATURES_OK);
        assert(reg(f, STATUS) == (ACK | DRIVER | FEATURES_OK));
        assert(f->t.driver_features == (VERSION_1 | 1));
        fixture_free(f);

        /* Only selectors 0 and 1 address the driver's features; each half is written on its own. */
        f = fixture_new();
        set_reg(f, STATUS, ACK | DRIVER);
        set_reg(f, DRIVER_FEATURES_SEL, 1);
        set_reg(f, DRIVER_FEATURES, 1);
        set_reg(f, DRIVER_FEATURES_SEL, 0);
        set_reg(f, DRIVER_FEATURES, 0x80);
        assert(f->t.driver_features == (VERSION_1 | 0x80));
        set_reg(f, DRIVER_FEATURES, 0);
        assert(f->t.driver_features == VERSION_1);
        set_reg(f, DRIVER_FEATURES_SEL, 2);
        set_reg(f, DRIVER_FEATURES, UINT32_MAX);
        set_reg(f, DRIVER_FEATURES_SEL, UINT32_MAX);
        set_reg(f, DRIVER_FEATURES, UINT32_MAX);
        assert(f->t.driver_features == VERSION_1);
        set_reg(f, STATUS, ACK | DRIVER | FEATURES_OK);
        assert(reg(f, STATUS) == (ACK | DRIVER | FEATURES_OK));
        fixture_free(f);

        /* DRIVER_OK without FEATURES_OK, with features the device would have accepted. */
        f = fixture_new();
        set_reg(f, STATUS, ACK | DRIVER);
        set_driver_features(f, VERSION_1);
        set_reg(f, STATUS, ACK | DRIVER | DRIVER_OK);
        assert(reg(f, STATUS) == (ACK | DRIVER));
        assert(f->n_driver_ok == 0 && !virtio_mmio_driver_ok(&f->t));
        /* FEATURES_OK and DRIVER_OK in one write, with acceptable features, is fine. */
        set_reg(f, STATUS, ACK | DRIVER | FEATURES_OK | DRIVER_OK);
        assert(reg(f, STATUS) == (ACK | DRIVER | FEATURES_OK | DRIVER_OK));
        assert(f->n_driver_ok == 1);
        fixture_free(f);

        /* The driver cannot set DEVICE_NEEDS_RESET itself; FAILED it can. */
        f = fixture_new();
        set_reg(f, STATUS, ACK | NEEDS_RESET);
        assert(reg(f, STATUS) == ACK);
        set_reg(f, STATUS, ACK | DRIVER | VIRTIO_STATUS_FAILED);
        assert(reg(f, STATUS) == (ACK | DRIVER | VIRTIO_STATUS_FAILED));
        fixture_free(f);
}

static void test_queue_setup(void) {
        Fixture *f = fixture_new();

        driver_init(f, VERSION_1);
        /* Queues beyond the device's read as absent and ignore writes. */
        for (uint32_t sel = N_QUEUES; sel <= VIRTIO_QUEUES_MAX; sel++) {
                set_reg(f, QUEUE_SEL, sel);
                assert(reg(f, QUEUE_NUM_MAX) == 0);
                queue_addresses(f, 16, desc_gpa(0), avail_gpa(0), used_gpa(0));
                set_reg(f, QUEUE_READY, 1);
                assert(reg(f, QUEUE_READY) == 0);
                assert(reg(f, QUEUE_DESC_LOW) == 0 && reg(f, QUEUE_DRIVER_LOW) == 0 &&
                       reg(f, QUEUE_DEVICE_LOW) == 0);
                assert(!virtio_mmio_queue(&f->t, sel));
        }
        set_reg(f, QUEUE_SEL, UINT32_MAX);
        assert(reg(f, QUEUE_NUM_MAX) == 0);

        /* Queue 1: size and addresses, with high halves, read back before and after it is ready. */
        set_reg(f, QUEUE_SEL, 1);
        assert(reg(f, QUEUE_NUM_MAX) == QUEUE_MAX);
        queue_addresses(f, 16, 0x123456780ull, 0xabcdef002ull, 0x55aa0004ull);
        assert(reg(f, QUEUE_DESC_LOW) == 0x23456780 && reg(f, QUEUE_DESC_HIGH) == 0x1);
        assert(reg(f, QUEUE_DRIVER_LOW) == 0xbcdef002 && reg(f, QUEUE_DRIVER_HIGH) == 0xa);
        assert(reg(f, QUEUE_DEVICE_LOW) == 0x55aa0004 && reg(f, QUEUE_DEVICE_HIGH) == 0);
        /* Either half may be written first; each write changes only its half. */
        set_reg(f, QUEUE_DESC_HIGH, 0x2);
        set_reg(f, QUEUE_DRIVER_HIGH, 0x3);
        set_reg(f, QUEUE_DEVICE_HIGH, 0x4);
        set_reg(f, QUEUE_DESC_LOW, 0x10);
        set_reg(f, QUEUE_DRIVER_LOW, 0x20);
        set_reg(f, QUEUE_DEVICE_LOW, 0x30);
        assert(reg(f, QUEUE_DESC_LOW) == 0x10 && reg(f, QUEUE_DESC_HIGH) == 0x2);
        assert(reg(f, QUEUE_DRIVER_LOW) == 0x20 && reg(f, QUEUE_DRIVER_HIGH) == 0x3);
        assert(reg(f, QUEUE_DEVICE_LOW) == 0x30 && reg(f, QUEUE_DEVICE_HIGH) == 0x4);
        queue_addresses(f, 32, desc_gpa(1), avail_gpa(1), used_gpa(1));
        assert(reg(f, QUEUE_DESC_HIGH) == 0 && reg(f, QUEUE_DRIVER_HIGH) == 0);
        set_reg(f, QUEUE_READY, 1);
        assert(reg(f, QUEUE_READY) == 1);
        VirtQueue *q = virtio_mmio_queue(&f->t, 1);
        assert(q == f->t.queues + 1);
        assert(q->size == 32 && q->desc == desc_gpa(1) && q->avail == avail_gpa(1) && q->used == used_gpa(1));
        assert(q->last_avail == 0 && q->used_idx == 0 && !q->broken);
        assert(!virtio_mmio_queue(&f->t, 0) && !virtio_mmio_queue(&f->t, 2) &&
               !virtio_mmio_queue(&f->t, N_QUEUES));

        /* While ready, size and addresses cannot change. */
        queue_addresses(f, 8, desc_gpa(2), avail_gpa(2), used_gpa(2));
        set_reg(f, QUEUE_DESC_HIGH, 1);
        set_reg(f, QUEUE_DRIVER_HIGH, 1);
        set_reg(f, QUEUE_DEVICE_HIGH, 1);
        assert(q->size == 32 && q->desc == desc_gpa(1) && q->avail == avail_gpa(1) && q->used == used_gpa(1));
        assert(reg(f, QUEUE_DESC_LOW) == (uint32_t) desc_gpa(1) && reg(f, QUEUE_DESC_HIGH) == 0);
        assert(reg(f, QUEUE_DRIVER_LOW) == (uint32_t) avail_gpa(1) && reg(f, QUEUE_DRIVER_HIGH) == 0);
        assert(reg(f, QUEUE_DEVICE_LOW) == (uint32_t) used_gpa(1) && reg(f, QUEUE_DEVICE_HIGH) == 0);
        /* Ready again changes nothing either. */
        q->last_avail = 5;
        set_reg(f, QUEUE_READY, 1);
        assert(q->last_avail == 5 && reg(f, QUEUE_READY) == 1);

        /* Other queues are set up independently; the selector picks which one the registers show. */
        queue_setup(f, 0, 16);
        assert(reg(f, QUEUE_DESC_LOW) == (uint32_t) desc_gpa(0));
        set_reg(f, QUEUE_SEL, 1);
        assert(reg(f, QUEUE_DESC_LOW) == (uint32_t) desc_gpa(1) && reg(f, QUEUE_READY) == 1);
        set_reg(f, QUEUE_SEL, 2);
        assert(reg(f, QUEUE_READY) == 0 && reg(f, QUEUE_DESC_LOW) == 0);

        /* Not ready: now it can move, and becomes ready from index 0 again. */
        set_reg(f, QUEUE_SEL, 1);
        set_reg(f, QUEUE_READY, 0);
        assert(reg(f, QUEUE_READY) == 0 && !virtio_mmio_queue(&f->t, 1));
        queue_addresses(f, 64, desc_gpa(2), avail_gpa(2), used_gpa(2));
        assert(reg(f, QUEUE_DESC_LOW) == (uint32_t) desc_gpa(2));
        set_reg(f, QUEUE_READY, 1);
        assert(reg(f, QUEUE_READY) == 1);
        assert(q->size == 64 && q->desc == desc_gpa(2) && q->last_avail == 0);
        assert(reg(f, STATUS) == (ACK | DRIVER | FEATURES_OK));
        assert(f->n_irq_set == 0);
        fixture_free(f);
}

/* A setup the device cannot use: the queue stays not ready and the device needs a reset. */
static void expect_bad_setup(uint32_t num, uint64_t desc, uint64_t avail, uint64_t used) {
        Fixture *f = fixture_new();

        driver_init(f, VERSION_1);
        set_reg(f, QUEUE_SEL, 1);
        queue_addresses(f, num, desc, avail, used);
        set_reg(f, QUEUE_READY, 1);
        assert(reg(f, QUEUE_READY) == 0);
        assert(!virtio_mmio_queue(&f->t, 1));
        assert(reg(f, STATUS) == (ACK | DRIVER | FEATURES_OK | NEEDS_RESET));
        /* Before DRIVER_OK there is no interrupt for it (the driver finds the status when it looks). */
        assert(reg(f, INTERRUPT_STATUS) == 0 && f->n_irq_set == 0 && !f->level);
        /* The flag sticks through status writes, and the device does not count as started. */
        set_reg(f, STATUS, ACK | DRIVER | FEATURES_OK | DRIVER_OK);
        assert(reg(f, STATUS) & NEEDS_RESET);
        assert(!virtio_mmio_driver_ok(&f->t));
        assert(f->n_driver_ok == 0); /* the device is not started either */
        /* A reset clears it; the same queue set up properly then works. */
        set_reg(f, STATUS, 0);
        assert(reg(f, STATUS) == 0);
        driver_init(f, VERSION_1);
        queue_setup(f, 1, 16);
        assert(reg(f, STATUS) == (ACK | DRIVER | FEATURES_OK));
        fixture_free(f);
}

static void test_bad_setup(void) {
        const uint64_t d = desc_gpa(1), a = avail_gpa(1), u = used_gpa(1);

        expect_bad_setup(0, d, a, u);
        expect_bad_setup(17, d, a, u);
        expect_bad_setup(48, d, a, u);
        expect_bad_setup(2 * QUEUE_MAX, d, a, u);
        expect_bad_setup(0x10000, d, a, u);
        expect_bad_setup(0x10010, d, a, u); /* 16 in the low bits */
        expect_bad_setup(16, d + 8, a, u);
        expect_bad_setup(16, d, a + 1, u);
        expect_bad_setup(16, d, a, u + 2);
        expect_bad_setup(16, d + (1ull << 32), a, u);
        expect_bad_setup(16, d, a + (1ull << 32), u);
        expect_bad_setup(16, d, a, u + (1ull << 32));
        expect_bad_setup(16, RAM_BASE - 0x100, a, u);
        expect_bad_setup(16, d, a, RAM_BASE + RAM_SIZE - 132); /* the used ring's last field outside */
        expect_bad_setup(16, 0, 0, 0);
}

static void test_notify(void) {
        Fixture *f = fixture_new();

        driver_init(f, VERSION_1);
        queue_setup(f, 0, 16);
        queue_setup(f, 1, 16);
        /* Before DRIVER_OK nothing reaches the device. */
        set_reg(f, QUEUE_NOTIFY, 0);
        set_reg(f, QUEUE_NOTIFY, 1);
        assert(total_notify(f) == 0);

        driver_ok(f);
        set_reg(f, QUEUE_NOTIFY, 0);
        assert(f->n_notify[0] == 1 && total_notify(f) == 1);
        set_reg(f, QUEUE_NOTIFY, 1);
        set_reg(f, QUEUE_NOTIFY, 1);
        assert(f->n_notify[1] == 2 && total_notify(f) == 3);
        /* Queue 2 is not ready; 3 and up do not exist. */
        const uint32_t ignored[] = { 2, 3, VIRTIO_QUEUES_MAX - 1, VIRTIO_QUEUES_MAX, 0xffff, UINT32_MAX };
        for (size_t i = 0; i < ELEMENTSOF(ignored); i++)
                set_reg(f, QUEUE_NOTIFY, ignored[i]);
        assert(total_notify(f) == 3);
        /* Not through a narrower access either. */
        wr(f, QUEUE_NOTIFY, 2, 0);
        wr(f, QUEUE_NOTIFY, 1, 0);
        assert(total_notify(f) == 3);
        /* A queue taken away hears nothing more. */
        set_reg(f, QUEUE_SEL, 0);
        set_reg(f, QUEUE_READY, 0);
        set_reg(f, QUEUE_NOTIFY, 0);
        assert(f->n_notify[0] == 1);
        /* Nor does anything after a reset. */
        set_reg(f, STATUS, 0);
        set_reg(f, QUEUE_NOTIFY, 1);
        assert(total_notify(f) == 3);
        fixture_free(f);
}

static void test_interrupts(void) {
        Fixture *f = fixture_new();
        VirtChain c;

        driver_init(f, VERSION_1);
        queue_setup(f, 0, 16);
        driver_ok(f);

        publish(f, 0, 3, 16, true);
        assert(pop(f, 0, &c) == 1);
        assert(c.head == 3 && c.n_out == 0 && c.n_in == 1 && c.in_len == 16);
        assert(c.iov[0].iov_base == host(f, DATA_GPA + 0x300, 16));
        assert(pop(f, 0, &c) == 0);
        assert(!f->level);
        assert(push(f, 0, 3, 5) == 0);
        assert(used_idx(f, 0) == 1 && used_field(f, 0, 0, 0) == 3 && used_field(f, 0, 0, 1) == 5);
        assert(f->level);
        assert(reg(f, INTERRUPT_STATUS) == VIRTIO_INT_USED);
        /* Acknowledging a bit that is not set changes nothing; the right one lowers the line. */
        set_reg(f, INTERRUPT_ACK, VIRTIO_INT_CONFIG);
        assert(f->level && reg(f, INTERRUPT_STATUS) == VIRTIO_INT_USED);
        set_reg(f, INTERRUPT_ACK, VIRTIO_INT_USED);
        assert(!f->level && reg(f, INTERRUPT_STATUS) == 0);
        /* Writing the status register is not acknowledging. */
        assert(push(f, 0, 3, 6) == 0);
        assert(f->level);
        set_reg(f, INTERRUPT_STATUS, 0);
        assert(f->level && reg(f, INTERRUPT_STATUS) == VIRTIO_INT_USED);
        set_reg(f, INTERRUPT_ACK, UINT32_MAX);
        assert(!f->level && reg(f, INTERRUPT_STATUS) == 0);

        /* The driver asks for no interrupts: the element is there, the line stays low. */
        set_avail_flags(f, 0, VIRTQ_AVAIL_F_NO_INTERRUPT);
        publish(f, 0, 4, 16, false);
        assert(pop(f, 0, &c) == 1 && c.head == 4 && c.n_out == 1);
        assert(push(f, 0, 4, 0) == 0);
        assert(used_idx(f, 0) == 3 && used_field(f, 0, 2, 0) == 4);
        assert(!f->level && reg(f, INTERRUPT_STATUS) == 0);
        set_avail_flags(f, 0, 0);

        /* Queues that are not ready or do not exist take nothing. */
        assert(push(f, 1, 0, 0) == -ESTALE);
        assert(push(f, N_QUEUES, 0, 0) == -ESTALE);
        assert(push(f, UINT_MAX, 0, 0) == -ESTALE);
        assert(pop(f, 1, &c) == 0);
        assert(!f->level && reg(f, STATUS) == (ACK | DRIVER | FEATURES_OK | DRIVER_OK));
        fixture_free(f);
}

static void test_config_changed(void) {
        Fixture *f = fixture_new();

        /* Before DRIVER_OK the generation moves, without an interrupt. */
        config_changed(f);
        assert(reg(f, CONFIG_GENERATION) == 1);
        assert(!f->level && reg(f, INTERRUPT_STATUS) == 0);
        driver_init(f, VERSION_1);
        queue_setup(f, 0, 16);
        driver_ok(f);
        config_changed(f);
        assert(reg(f, CONFIG_GENERATION) == 2);
        assert(f->level && reg(f, INTERRUPT_STATUS) == VIRTIO_INT_CONFIG);

        /* Both causes pending: the line stays up until both are acknowledged. */
        publish(f, 0, 0, 16, true);
        VirtChain c;
        assert(pop(f, 0, &c) == 1);
        assert(push(f, 0, 0, 1) == 0);
        assert(reg(f, INTERRUPT_STATUS) == (VIRTIO_INT_USED | VIRTIO_INT_CONFIG));
        set_reg(f, INTERRUPT_ACK, VIRTIO_INT_CONFIG);
        assert(f->level && reg(f, INTERRUPT_STATUS) == VIRTIO_INT_USED);
        set_reg(f, INTERRUPT_ACK, VIRTIO_INT_USED);
        assert(!f->level && reg(f, INTERRUPT_STATUS) == 0);
        config_changed(f);
        assert(reg(f, CONFIG_GENERATION) == 3 && f->level);
        fixture_free(f);
}

static void test_config_space(void) {
        Fixture *f = fixture_new();

        assert(rd(f, CONFIG + 0, 4) == 0x13121110);
        assert(f->n_config == 1 && f->config_offset == 0 && f->config_len == 4 && !f->config_write);
        assert(rd(f, CONFIG + 2, 2) == 0x1312);
        assert(f->n_config == 2 && f->config_offset == 2 && f->config_len == 2);
        assert(rd(f, CONFIG + 9, 1) == 0x19);
        assert(f->n_config == 3 && f->config_offset == 9 && f->config_len == 1);
        assert(rd(f, CONFIG + 8, 2) == 0x1918);
        assert(rd(f, CONFIG + 6, 4) == 0x19181716);

        wr(f, CONFIG + 4, 2, 0xbeef);
        assert(f->config_offset == 4 && f->config_len == 2 && f->config_write);
        assert(f->config[4] == 0xef && f->config[5] == 0xbe && f->config[3] == 0x13 && f->config[6] == 0x16);
        wr(f, CONFIG + 9, 1, 0x7f);
        assert(f->config[9] == 0x7f && f->config_offset == 9 && f->config_len == 1);
        wr(f, CONFIG + 0, 4, 0xa1b2c3d4);
        assert(f->config[0] == 0xd4 && f->config[3] == 0xa1 && f->config[4] == 0xef);
        assert(rd(f, CONFIG + 3, 2) == 0xefa1);
        unsigned n = f->n_config;

        /* Past config_size, or crossing its end: not forwarded, reads 0, writes go nowhere. */
        uint8_t before[CONFIG_SIZE];
        memcpy(before, f->config, sizeof(before));
        const struct {
                uint64_t offset;
                unsigned len;
        } beyond[] = { { 9, 2 },  { 8, 4 },    { 10, 1 },   { 10, 4 },
                       { 12, 4 }, { 0xfc, 4 }, { 0xff, 1 }, { 0xfe, 2 } };
        for (size_t i = 0; i < ELEMENTSOF(beyond); i++) {
                assert(rd(f, CONFIG + beyond[i].offset, beyond[i].len) == 0);
                wr(f, CONFIG + beyond[i].offset, beyond[i].len, UINT64_MAX);
        }
        assert(f->n_config == n);
        assert(memcmp(before, f->config, sizeof(before)) == 0);
        /* And the bus ends with the transport's region. */
        uint8_t data[4];
        assert(mmio_bus_access(&f->bus, BUS_BASE + 0x1fe, data, 4, false) == -ENXIO);
        assert(mmio_bus_access(&f->bus, BUS_BASE + 0x200, data, 1, true) == -ENXIO);
        assert(f->n_config == n);
        fixture_free(f);

        /* A device without config space. */
        VirtioDeviceOps ops = fake_ops;
        ops.config_size = 0;
        ops.config_access = NULL;
        f = calloc(1, sizeof(Fixture));
        assert(f);
        f->mem = (GuestMemory){ .base = RAM_BASE, .size = RAM_SIZE, .host = calloc(1, RAM_SIZE) };
        assert(virtio_mmio_init(&f->t, &ops, f, &f->mem, (IrqLine){}) == 0);
        assert(virtio_mmio_register(&f->t, &f->bus, BUS_BASE) == 0);
        assert(rd(f, CONFIG, 4) == 0 && rd(f, CONFIG, 1) == 0);
        wr(f, CONFIG, 4, 1);
        assert(reg(f, MAGIC_VALUE) == 0x74726976);
        fixture_free(f);
}

static void test_reset(void) {
        Fixture *f = fixture_new();
        VirtChain c;

        driver_init(f, FEATURES | VERSION_1);
        queue_setup(f, 0, 16);
        queue_setup(f, 2, 8);
        driver_ok(f);
        publish(f, 0, 1, 16, true);
        assert(pop(f, 0, &c) == 1);
        assert(push(f, 0, 1, 0) == 0);
        config_changed(f);
        assert(f->level && reg(f, INTERRUPT_STATUS) == (VIRTIO_INT_USED | VIRTIO_INT_CONFIG));
        set_reg(f, DEVICE_FEATURES_SEL, 1);
        set_reg(f, DRIVER_FEATURES_SEL, 1);
        set_reg(f, QUEUE_SEL, 2);

        set_reg(f, STATUS, 0);
        assert(f->n_reset == 1);
        assert(reg(f, STATUS) == 0);
        assert(!f->level && reg(f, INTERRUPT_STATUS) == 0);
        assert(f->t.driver_features == 0 && !virtio_mmio_has_feature(&f->t, VIRTIO_F_VERSION_1));
        assert(!virtio_mmio_driver_ok(&f->t));
        /* The selectors are back at 0: DeviceFeatures shows the low word, a driver feature write the low half. */
        assert(reg(f, DEVICE_FEATURES) == (uint32_t) FEATURES);
        set_reg(f, DRIVER_FEATURES, 1);
        assert(f->t.driver_features == 1);
        assert(f->t.queue_sel == 0);
        for (unsigned i = 0; i < N_QUEUES; i++) {
                set_reg(f, QUEUE_SEL, i);
                assert(reg(f, QUEUE_READY) == 0);
                assert(reg(f, QUEUE_DESC_LOW) == 0 && reg(f, QUEUE_DRIVER_LOW) == 0 &&
                       reg(f, QUEUE_DEVICE_LOW) == 0);
                assert(!virtio_mmio_queue(&f->t, i));
                assert(f->t.queues[i].size == 0 && f->t.queues[i].last_avail == 0 &&
                       f->t.queues[i].used_idx == 0);
        }
        assert(push(f, 0, 1, 0) == -ESTALE);
        set_reg(f, QUEUE_NOTIFY, 0);
        assert(total_notify(f) == 0);
        /* Every write of 0 is a reset. */
        set_reg(f, STATUS, 0);
        assert(f->n_reset == 2);

        /* The driver starts over: a fresh ring, from index 0. */
        memset(f->mem.host, 0, RAM_SIZE);
        driver_init(f, VERSION_1);
        queue_setup(f, 0, 16);
        driver_ok(f);
        assert(f->n_driver_ok == 2);
        publish(f, 0, 9, 16, false);
        assert(pop(f, 0, &c) == 1 && c.head == 9);
        assert(push(f, 0, 9, 0) == 0);
        assert(used_idx(f, 0) == 1 && used_field(f, 0, 0, 0) == 9);
        fixture_free(f);
}

static void test_access_width(void) {
        Fixture *f = fixture_new();

        /* Registers are 32-bit: narrower, wider or unaligned reads give 0. */
        assert(rd(f, MAGIC_VALUE, 1) == 0);
        assert(rd(f, MAGIC_VALUE, 2) == 0);
        assert(rd(f, MAGIC_VALUE, 8) == 0);
        assert(rd(f, VERSION + 2, 2) == 0);
        for (unsigned o = 1; o < 4; o++)
                assert(rd(f, MAGIC_VALUE + o, 4) == 0);
        assert(rd(f, DEVICE_FEATURES + 1, 1) == 0);

        /* ...and such writes are ignored. */
        wr(f, STATUS, 1, ACK);
        wr(f, STATUS, 2, ACK);
        wr(f, STATUS, 8, ACK);
        wr(f, STATUS + 1, 4, ACK);
        wr(f, STATUS - 2, 4, 0x00010000);
        assert(reg(f, STATUS) == 0);
        set_reg(f, STATUS, ACK | DRIVER);
        wr(f, DRIVER_FEATURES, 8, VERSION_1 | VERSION_1 >> 32);
        wr(f, DRIVER_FEATURES, 2, 1);
        wr(f, DRIVER_FEATURES + 2, 2, 1);
        assert(f->t.driver_features == 0);
        wr(f, QUEUE_SEL, 2, 1);
        wr(f, QUEUE_SEL, 8, 1);
        assert(f->t.queue_sel == 0);
        wr(f, QUEUE_NUM, 2, 16);
        wr(f, QUEUE_DESC_LOW, 8, desc_gpa(0));
        assert(f->t.queues[0].size == 0 && f->t.queues[0].desc == 0);
        wr(f, STATUS, 1, 0); /* not a reset */
        assert(f->n_reset == 0 && reg(f, STATUS) == (ACK | DRIVER));

        /* Read-only registers ignore writes. */
        set_reg(f, MAGIC_VALUE, 0);
        set_reg(f, VERSION, 1);
        set_reg(f, DEVICE_ID, 0);
        set_reg(f, DEVICE_FEATURES, 0);
        set_reg(f, QUEUE_NUM_MAX, 1);
        set_reg(f, CONFIG_GENERATION, 9);
        assert(reg(f, MAGIC_VALUE) == 0x74726976 && reg(f, VERSION) == 2 && reg(f, DEVICE_ID) == VIRTIO_ID_RNG);
        assert(reg(f, DEVICE_FEATURES) == (uint32_t) FEATURES && reg(f, QUEUE_NUM_MAX) == QUEUE_MAX);
        assert(reg(f, CONFIG_GENERATION) == 0);
        fixture_free(f);
}

static void test_broken_ring(void) {
        Fixture *f = fixture_new();
        VirtChain c;

        /* Before DRIVER_OK the transport takes nothing from a queue. */
        driver_init(f, VERSION_1);
        queue_setup(f, 0, 16);
        publish(f, 0, 2, 16, false);
        assert(pop(f, 0, &c) == 0);
        assert(f->t.queues[0].last_avail == 0);
        driver_ok(f);
        assert(pop(f, 0, &c) == 1 && c.head == 2);

        /* A head beyond the table. */
        publish(f, 0, 16, 16, false);
        assert(pop(f, 0, &c) == -EBADMSG);
        assert(f->t.queues[0].broken);
        assert(reg(f, STATUS) == (ACK | DRIVER | FEATURES_OK | DRIVER_OK | NEEDS_RESET));
        assert(reg(f, INTERRUPT_STATUS) == VIRTIO_INT_CONFIG && f->level);
        assert(!virtio_mmio_driver_ok(&f->t));
        /* The device is stopped: no more chains, no notifications. */
        assert(pop(f, 0, &c) == 0);
        set_reg(f, QUEUE_NOTIFY, 0);
        assert(total_notify(f) == 0);
        set_reg(f, INTERRUPT_ACK, VIRTIO_INT_CONFIG);
        assert(!f->level);
        /* The driver cannot clear the flag by writing the status... */
        set_reg(f, STATUS, ACK | DRIVER | FEATURES_OK | DRIVER_OK);
        assert(reg(f, STATUS) == (ACK | DRIVER | FEATURES_OK | DRIVER_OK | NEEDS_RESET));
        assert(f->n_driver_ok == 1);
        /* Taking the queue away and setting it up again resets that queue, but not the device... */
        set_reg(f, QUEUE_SEL, 0);
        set_reg(f, QUEUE_READY, 0);
        set_reg(f, QUEUE_READY, 1);
        assert(reg(f, QUEUE_READY) == 1);
        assert(!f->t.queues[0].broken && f->t.queues[0].last_avail == 0 && f->t.queues[0].used_idx == 0);
        assert(reg(f, STATUS) & NEEDS_RESET);
        assert(pop(f, 0, &c) == 0);
        /* ...only a reset does. */
        set_reg(f, STATUS, 0);
        assert(reg(f, STATUS) == 0 && !f->t.queues[0].broken);
        fixture_free(f);
}

int main(void) {
        test_init();
        test_identity();
        test_device_features();
        test_init_sequence();
        test_features_refused();
        test_queue_setup();
        test_bad_setup();
        test_notify();
        test_interrupts();
        test_config_changed();
        test_config_space();
        test_reset();
        test_access_width();
        test_broken_ring();
        return 0;
}
