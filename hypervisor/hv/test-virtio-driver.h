/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The driver's side that the virtio device tests share, as Linux drives a virtio-mmio transport: its
 * registers, the bring-up (features, queues, DRIVER_OK), and chains of buffers put on a split queue in fake
 * guest RAM. Each queue q has its rings at ring_base + q KiB: descriptors, avail at +0x100, used at +0x200. */
#pragma once

#include <assert.h>
#include <stdbool.h>

#include "guest-mem.h"
#include "mmio-bus.h"
#include "util.h"

/* virtio-mmio registers (virtio 1.2, 4.2.2). */
#define REG_DEVICE_ID 0x008
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_STATUS 0x070
#define REG_QUEUE_DESC_LOW 0x080
#define REG_QUEUE_DRIVER_LOW 0x090
#define REG_QUEUE_DEVICE_LOW 0x0a0
#define REG_CONFIG_GENERATION 0x0fc
#define REG_CONFIG 0x100

#define DRIVER_QSIZE 16u

typedef struct Driver {
        GuestMemory *mem;
        MmioBus *bus;
        uint64_t base;      /* the transport's */
        uint64_t ring_base; /* queue q's rings at ring_base + q KiB */
        uint16_t avail_idx[8];
} Driver;

typedef struct DriverBuf {
        uint64_t gpa;
        uint32_t len;
        bool writable;
} DriverBuf;

static inline uint32_t driver_rd(Driver *d, uint64_t off, unsigned len) {
        uint8_t data[8];

        assert(mmio_bus_access(d->bus, d->base + off, data, len, false) == 0);
        return (uint32_t) mmio_data_get(data, len);
}

static inline void driver_wr(Driver *d, uint64_t off, unsigned len, uint32_t v) {
        uint8_t data[8];

        mmio_data_set(data, len, v);
        assert(mmio_bus_access(d->bus, d->base + off, data, len, true) == 0);
}

static inline uint64_t driver_desc(const Driver *d, unsigned q) {
        return d->ring_base + 0x400ull * q;
}

/* Takes the features (low 32 bits) and VERSION_1, makes n_queues queues of DRIVER_QSIZE ready, DRIVER_OK. */
static inline void driver_start(Driver *d, uint32_t features, unsigned n_queues) {
        driver_wr(d, REG_STATUS, 4, 1 | 2);
        driver_wr(d, REG_DRIVER_FEATURES_SEL, 4, 0);
        driver_wr(d, REG_DRIVER_FEATURES, 4, features);
        driver_wr(d, REG_DRIVER_FEATURES_SEL, 4, 1);
        driver_wr(d, REG_DRIVER_FEATURES, 4, 1); /* VERSION_1 */
        driver_wr(d, REG_STATUS, 4, 1 | 2 | 8);
        assert(driver_rd(d, REG_STATUS, 4) == (1 | 2 | 8));
        for (unsigned q = 0; q < n_queues; q++) {
                driver_wr(d, REG_QUEUE_SEL, 4, q);
                assert(driver_rd(d, REG_QUEUE_NUM_MAX, 4) >= DRIVER_QSIZE);
                driver_wr(d, REG_QUEUE_NUM, 4, DRIVER_QSIZE);
                driver_wr(d, REG_QUEUE_DESC_LOW, 4, (uint32_t) driver_desc(d, q));
                driver_wr(d, REG_QUEUE_DRIVER_LOW, 4, (uint32_t) (driver_desc(d, q) + 0x100));
                driver_wr(d, REG_QUEUE_DEVICE_LOW, 4, (uint32_t) (driver_desc(d, q) + 0x200));
                driver_wr(d, REG_QUEUE_READY, 4, 1);
                assert(driver_rd(d, REG_QUEUE_READY, 4) == 1);
        }
        driver_wr(d, REG_STATUS, 4, 1 | 2 | 8 | 4);
}

/* One chain of the n buffers on queue q, made available and notified; the device hands it back at once:
 * the bytes it says it wrote. */
static inline uint32_t driver_send(Driver *d, unsigned q, const DriverBuf *bufs, unsigned n) {
        uint8_t *desc = guest_mem_ptr(d->mem, driver_desc(d, q), 16 * DRIVER_QSIZE),
                *avail = guest_mem_ptr(d->mem, driver_desc(d, q) + 0x100, 4 + 2 * DRIVER_QSIZE);
        uint16_t head = 0, idx = (uint16_t) (d->avail_idx[q] + 1), used;
        uint32_t entry[2];

        assert(desc && avail && n <= DRIVER_QSIZE && q < ELEMENTSOF(d->avail_idx));
        for (unsigned i = 0; i < n; i++) {
                uint16_t flags = (uint16_t) ((i + 1 < n ? 1 : 0) | (bufs[i].writable ? 2 : 0));
                uint16_t next = (uint16_t) (i + 1);

                memcpy(desc + 16 * i, &bufs[i].gpa, 8);
                memcpy(desc + 16 * i + 8, &bufs[i].len, 4);
                memcpy(desc + 16 * i + 12, &flags, 2);
                memcpy(desc + 16 * i + 14, &next, 2);
        }
        memcpy(avail + 4 + 2 * (d->avail_idx[q] % DRIVER_QSIZE), &head, 2);
        memcpy(avail + 2, &idx, 2);
        driver_wr(d, REG_QUEUE_NOTIFY, 4, q);
        memcpy(&used, guest_mem_ptr(d->mem, driver_desc(d, q) + 0x200 + 2, 2), 2);
        assert(used == idx);
        memcpy(entry,
               guest_mem_ptr(d->mem, driver_desc(d, q) + 0x204 + 8 * (d->avail_idx[q] % DRIVER_QSIZE), 8),
               8);
        assert(entry[0] == head);
        d->avail_idx[q] = idx;
        return entry[1];
}
