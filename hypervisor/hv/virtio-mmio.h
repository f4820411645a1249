/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The virtio-mmio transport (virtio 1.2, 4.2; register layout version 2) that every vmm-hv virtio device
 * sits behind. The transport owns the registers, feature negotiation, the queues' addresses and the
 * interrupt line; a device supplies its config space and what happens when queues are notified. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest-mem.h"
#include "irq.h"
#include "mmio-bus.h"
#include "virtqueue.h"

#define VIRTIO_MMIO_SIZE 0x200
#define VIRTIO_QUEUES_MAX 8

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5

#define VIRTIO_F_VERSION_1 32

#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

#define VIRTIO_INT_USED 1u
#define VIRTIO_INT_CONFIG 2u

typedef struct VirtioMmio VirtioMmio;

/* Every callback runs with the transport's lock held. */
typedef struct VirtioDeviceOps {
        const char *name; /* the device tree node's and the bus region's name */
        uint32_t device_id;
        uint64_t features; /* offered besides VIRTIO_F_VERSION_1 */
        unsigned n_queues;
        uint16_t queue_size_max;
        uint32_t config_size;
        /* Config space access at offset (within config_size); a read fills data. */
        void (*config_access)(VirtioMmio *t, uint32_t offset, uint8_t *data, unsigned len, bool is_write);
        /* The driver made buffers available on a queue. */
        void (*notify)(VirtioMmio *t, unsigned queue);
        /* The driver set DRIVER_OK: features are final and the queues set up. */
        void (*driver_ok)(VirtioMmio *t);
        /* The driver reset the device: forget what it negotiated and queued. */
        void (*reset)(VirtioMmio *t);
        /* The device's own state for a snapshot (a new buffer, may be empty), and back (-EBADMSG if it
         * is not the device's). */
        int (*save)(VirtioMmio *t, void **ret, size_t *ret_size);
        int (*load)(VirtioMmio *t, const void *state, size_t size);
} VirtioDeviceOps;

struct VirtioMmio {
        const VirtioDeviceOps *ops;
        void *dev;
        const GuestMemory *mem;
        IrqLine irq;
        uint64_t base;

        pthread_mutex_t lock; /* vCPU threads (register accesses) and the device's own I/O take it */
        uint32_t status, irq_status, config_generation;
        uint32_t device_features_sel, driver_features_sel, queue_sel;
        uint64_t driver_features;
        VirtQueue queues[VIRTIO_QUEUES_MAX];
};

int virtio_mmio_init(VirtioMmio *t, const VirtioDeviceOps *ops, void *dev, const GuestMemory *mem, IrqLine irq);
void virtio_mmio_done(VirtioMmio *t);
/* Places the transport at base on the bus; its device tree node comes with it. */
int virtio_mmio_register(VirtioMmio *t, MmioBus *bus, uint64_t base);

void virtio_mmio_lock(VirtioMmio *t);
void virtio_mmio_unlock(VirtioMmio *t);
/* With the lock held: */
bool virtio_mmio_driver_ok(const VirtioMmio *t);
bool virtio_mmio_has_feature(const VirtioMmio *t, unsigned bit);
VirtQueue *virtio_mmio_queue(VirtioMmio *t, unsigned queue); /* NULL unless the driver made it ready */
/* Pushes a chain back and interrupts the driver if it wants that. */
int virtio_mmio_push(VirtioMmio *t, unsigned queue, uint16_t head, uint32_t written);
/* Pops the next chain; a broken ring sets DEVICE_NEEDS_RESET and answers -EBADMSG. */
int virtio_mmio_pop(VirtioMmio *t, unsigned queue, VirtChain *ret);
void virtio_mmio_config_changed(VirtioMmio *t);

extern const MmioOps virtio_mmio_ops;
