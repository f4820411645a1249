/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The virtio-mmio transport. */
#include <assert.h>
#include <errno.h>
#include <libfdt.h>

#include "fdt-util.h"
#include "util.h"
#include "virtio-mmio.h"

enum {
        REG_MAGIC = 0x000,
        REG_VERSION = 0x004,
        REG_DEVICE_ID = 0x008,
        REG_VENDOR_ID = 0x00c,
        REG_DEVICE_FEATURES = 0x010,
        REG_DEVICE_FEATURES_SEL = 0x014,
        REG_DRIVER_FEATURES = 0x020,
        REG_DRIVER_FEATURES_SEL = 0x024,
        REG_QUEUE_SEL = 0x030,
        REG_QUEUE_NUM_MAX = 0x034,
        REG_QUEUE_NUM = 0x038,
        REG_QUEUE_READY = 0x044,
        REG_QUEUE_NOTIFY = 0x050,
        REG_INTERRUPT_STATUS = 0x060,
        REG_INTERRUPT_ACK = 0x064,
        REG_STATUS = 0x070,
        REG_QUEUE_DESC_LOW = 0x080,
        REG_QUEUE_DESC_HIGH = 0x084,
        REG_QUEUE_DRIVER_LOW = 0x090,
        REG_QUEUE_DRIVER_HIGH = 0x094,
        REG_QUEUE_DEVICE_LOW = 0x0a0,
        REG_QUEUE_DEVICE_HIGH = 0x0a4,
        REG_SHM_SEL = 0x0ac,
        REG_SHM_LEN_LOW = 0x0b0,
        REG_SHM_LEN_HIGH = 0x0b4,
        REG_SHM_BASE_LOW = 0x0b8,
        REG_SHM_BASE_HIGH = 0x0bc,
        REG_CONFIG_GENERATION = 0x0fc,
        REG_CONFIG = 0x100,
};

#define VIRTIO_MMIO_MAGIC 0x74726976u  /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x646d6d76u /* "vmmd" */

int virtio_mmio_init(VirtioMmio *t, const VirtioDeviceOps *ops, void *dev, const GuestMemory *mem, IrqLine irq) {
        assert(t);
        assert(ops);
        assert(mem);

        if (ops->n_queues > VIRTIO_QUEUES_MAX || ops->config_size > VIRTIO_MMIO_SIZE - REG_CONFIG ||
            ops->queue_size_max == 0 || ops->queue_size_max > VIRTQ_SIZE_MAX)
                return -EINVAL;
        *t = (VirtioMmio){ .ops = ops, .dev = dev, .mem = mem, .irq = irq };
        return -pthread_mutex_init(&t->lock, NULL);
}

void virtio_mmio_done(VirtioMmio *t) {
        if (t->ops)
                (void) pthread_mutex_destroy(&t->lock);
}

void virtio_mmio_lock(VirtioMmio *t) {
        (void) pthread_mutex_lock(&t->lock);
}

void virtio_mmio_unlock(VirtioMmio *t) {
        (void) pthread_mutex_unlock(&t->lock);
}

bool virtio_mmio_driver_ok(const VirtioMmio *t) {
        return (t->status & VIRTIO_STATUS_DRIVER_OK) && !(t->status & VIRTIO_STATUS_NEEDS_RESET);
}

bool virtio_mmio_has_feature(const VirtioMmio *t, unsigned bit) {
        return bit < 64 && (t->driver_features & (1ull << bit));
}

VirtQueue *virtio_mmio_queue(VirtioMmio *t, unsigned queue) {
        if (queue >= t->ops->n_queues || !t->queues[queue].ready)
                return NULL;
        return t->queues + queue;
}

static void update_irq(VirtioMmio *t) {
        (void) irq_line_set(&t->irq, t->irq_status != 0);
}

static void raise_irq(VirtioMmio *t, uint32_t bits) {
        uint32_t old = t->irq_status;

        t->irq_status |= bits;
        if (old != t->irq_status)
                update_irq(t);
}

static void needs_reset(VirtioMmio *t) {
        if (t->status & VIRTIO_STATUS_NEEDS_RESET)
                return;
        /* Only meaningful after DRIVER_OK; before that the driver simply finds the queue unusable. */
        t->status |= VIRTIO_STATUS_NEEDS_RESET;
        if (t->status & VIRTIO_STATUS_DRIVER_OK)
                raise_irq(t, VIRTIO_INT_CONFIG);
}

int virtio_mmio_push(VirtioMmio *t, unsigned queue, uint16_t head, uint32_t written) {
        VirtQueue *q = virtio_mmio_queue(t, queue);
        int r;

        if (!q)
                return -ESTALE;
        r = virtqueue_push(q, t->mem, head, written);
        if (r < 0) {
                needs_reset(t);
                return r;
        }
        if (virtqueue_should_notify(q, t->mem))
                raise_irq(t, VIRTIO_INT_USED);
        return 0;
}

int virtio_mmio_pop(VirtioMmio *t, unsigned queue, VirtChain *ret) {
        VirtQueue *q = virtio_mmio_queue(t, queue);
        int r;

        if (!q || !virtio_mmio_driver_ok(t))
                return 0;
        r = virtqueue_pop(q, t->mem, ret);
        if (r == -EBADMSG)
                needs_reset(t);
        return r;
}

void virtio_mmio_config_changed(VirtioMmio *t) {
        t->config_generation++;
        if (t->status & VIRTIO_STATUS_DRIVER_OK)
                raise_irq(t, VIRTIO_INT_CONFIG);
}

static void reset(VirtioMmio *t) {
        if (t->ops->reset)
                t->ops->reset(t);
        for (unsigned i = 0; i < VIRTIO_QUEUES_MAX; i++)
                virtqueue_reset(t->queues + i);
        t->status = 0;
        t->driver_features = 0;
        t->device_features_sel = t->driver_features_sel = t->queue_sel = 0;
        t->irq_status = 0;
        update_irq(t);
}

static uint64_t device_features(const VirtioMmio *t) {
        return t->ops->features | (1ull << VIRTIO_F_VERSION_1);
}

static void set_status(VirtioMmio *t, uint32_t v) {
        if (v == 0) {
                reset(t);
                return;
        }
        /* FEATURES_OK holds only for a subset of what is offered that includes VERSION_1 (3.1.1). */
        if ((v & VIRTIO_STATUS_FEATURES_OK) && !(t->status & VIRTIO_STATUS_FEATURES_OK) &&
            ((t->driver_features & ~device_features(t)) || !virtio_mmio_has_feature(t, VIRTIO_F_VERSION_1)))
                v &= ~VIRTIO_STATUS_FEATURES_OK;
        /* DRIVER_OK without FEATURES_OK is the driver's mistake: the device does not start. */
        if ((v & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FEATURES_OK))
                v &= ~VIRTIO_STATUS_DRIVER_OK;
        v = (v & ~VIRTIO_STATUS_NEEDS_RESET) | (t->status & VIRTIO_STATUS_NEEDS_RESET);
        bool start = (v & VIRTIO_STATUS_DRIVER_OK) && !(t->status & VIRTIO_STATUS_DRIVER_OK) &&
                !(v & VIRTIO_STATUS_NEEDS_RESET); /* a device that needs a reset does not start */
        t->status = v;
        if (start && t->ops->driver_ok)
                t->ops->driver_ok(t);
}

static VirtQueue *selected_queue(VirtioMmio *t) {
        return t->queue_sel < t->ops->n_queues ? t->queues + t->queue_sel : NULL;
}

static void set_queue_ready(VirtioMmio *t, VirtQueue *q, uint32_t v) {
        if (!v) {
                /* Taking a queue away is a reset of that queue (4.2.2.1 QueueReset is not offered). */
                q->ready = false;
                return;
        }
        if (q->ready)
                return;
        if (virtqueue_check(q, t->mem, t->ops->queue_size_max) < 0) {
                needs_reset(t);
                return;
        }
        q->last_avail = q->used_idx = 0;
        q->broken = false;
        q->ready = true;
}

static void set_addr_half(uint64_t *addr, uint32_t v, bool high) {
        if (high)
                *addr = (*addr & 0xffffffffull) | ((uint64_t) v << 32);
        else
                *addr = (*addr & ~0xffffffffull) | v;
}

static uint32_t read_reg(VirtioMmio *t, uint64_t offset) {
        VirtQueue *q = selected_queue(t);

        switch (offset) {
        case REG_MAGIC:
                return VIRTIO_MMIO_MAGIC;
        case REG_VERSION:
                return 2;
        case REG_DEVICE_ID:
                return t->ops->device_id;
        case REG_VENDOR_ID:
                return VIRTIO_MMIO_VENDOR;
        case REG_DEVICE_FEATURES:
                return t->device_features_sel < 2 ?
                        (uint32_t) (device_features(t) >> (32 * t->device_features_sel)) :
                        0;
        case REG_QUEUE_NUM_MAX:
                return q ? t->ops->queue_size_max : 0;
        case REG_QUEUE_READY:
                return q ? q->ready : 0;
        case REG_INTERRUPT_STATUS:
                return t->irq_status;
        case REG_STATUS:
                return t->status;
        case REG_QUEUE_DESC_LOW:
                return q ? (uint32_t) q->desc : 0;
        case REG_QUEUE_DESC_HIGH:
                return q ? (uint32_t) (q->desc >> 32) : 0;
        case REG_QUEUE_DRIVER_LOW:
                return q ? (uint32_t) q->avail : 0;
        case REG_QUEUE_DRIVER_HIGH:
                return q ? (uint32_t) (q->avail >> 32) : 0;
        case REG_QUEUE_DEVICE_LOW:
                return q ? (uint32_t) q->used : 0;
        case REG_QUEUE_DEVICE_HIGH:
                return q ? (uint32_t) (q->used >> 32) : 0;
        case REG_SHM_LEN_LOW:
        case REG_SHM_LEN_HIGH:
        case REG_SHM_BASE_LOW:
        case REG_SHM_BASE_HIGH:
                return UINT32_MAX; /* no shared memory regions (4.2.2: "all bits set") */
        case REG_CONFIG_GENERATION:
                return t->config_generation;
        default:
                return 0;
        }
}

static void write_reg(VirtioMmio *t, uint64_t offset, uint32_t v) {
        VirtQueue *q = selected_queue(t);
        /* A queue's size and addresses may change only while it is not ready (4.2.3.2). */
        VirtQueue *setup = q && !q->ready ? q : NULL;

        switch (offset) {
        case REG_DEVICE_FEATURES_SEL:
                t->device_features_sel = v;
                break;
        case REG_DRIVER_FEATURES:
                if (t->driver_features_sel < 2 && !(t->status & VIRTIO_STATUS_FEATURES_OK))
                        set_addr_half(&t->driver_features, v, t->driver_features_sel == 1);
                break;
        case REG_DRIVER_FEATURES_SEL:
                t->driver_features_sel = v;
                break;
        case REG_QUEUE_SEL:
                t->queue_sel = v;
                break;
        case REG_QUEUE_NUM:
                if (setup)
                        setup->size = (uint16_t) MIN(v, (uint32_t) UINT16_MAX);
                break;
        case REG_QUEUE_READY:
                if (q)
                        set_queue_ready(t, q, v);
                break;
        case REG_QUEUE_NOTIFY:
                /* The index, or with VIRTIO_F_NOTIFICATION_DATA (not offered) more. */
                if ((v & 0xffff) < t->ops->n_queues && virtio_mmio_driver_ok(t) &&
                    t->queues[v & 0xffff].ready && t->ops->notify)
                        t->ops->notify(t, v & 0xffff);
                break;
        case REG_INTERRUPT_ACK:
                if (t->irq_status & v) {
                        t->irq_status &= ~v;
                        update_irq(t);
                }
                break;
        case REG_STATUS:
                set_status(t, v);
                break;
        case REG_QUEUE_DESC_LOW:
        case REG_QUEUE_DESC_HIGH:
                if (setup)
                        set_addr_half(&setup->desc, v, offset == REG_QUEUE_DESC_HIGH);
                break;
        case REG_QUEUE_DRIVER_LOW:
        case REG_QUEUE_DRIVER_HIGH:
                if (setup)
                        set_addr_half(&setup->avail, v, offset == REG_QUEUE_DRIVER_HIGH);
                break;
        case REG_QUEUE_DEVICE_LOW:
        case REG_QUEUE_DEVICE_HIGH:
                if (setup)
                        set_addr_half(&setup->used, v, offset == REG_QUEUE_DEVICE_HIGH);
                break;
        default:
                break; /* read-only or not there: ignored */
        }
}

static int virtio_mmio_access(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write) {
        VirtioMmio *t = dev;

        virtio_mmio_lock(t);
        if (offset >= REG_CONFIG) {
                uint64_t o = offset - REG_CONFIG;

                if (o < t->ops->config_size && len <= t->ops->config_size - o && t->ops->config_access)
                        t->ops->config_access(t, (uint32_t) o, data, len, is_write);
        } else if (len == 4 && offset % 4 == 0) { /* registers are 32-bit; anything else is ignored (4.2.2.2) */
                if (is_write)
                        write_reg(t, offset, (uint32_t) mmio_data_get(data, 4));
                else
                        mmio_data_set(data, 4, read_reg(t, offset));
        }
        virtio_mmio_unlock(t);
        return 0;
}

static int virtio_mmio_fdt_node(void *dev, void *fdt, const FdtContext *ctx) {
        VirtioMmio *t = dev;
        int r;

        r = fdt_begin_device_node(fdt, "virtio_mmio", t->base, VIRTIO_MMIO_SIZE, (int) t->irq.spi);
        if (r < 0)
                return r;
        r = fdt_property_string(fdt, "compatible", "virtio,mmio");
        if (r >= 0)
                r = fdt_property(fdt, "dma-coherent", NULL, 0);
        if (r >= 0)
                r = fdt_end_node(fdt);
        return r < 0 ? -ENOSPC : 0;
}

/* The transport's state in a snapshot, the device's own after it. */
typedef struct TransportState {
        uint32_t device_id, n_queues;
        uint32_t status, irq_status, config_generation;
        uint32_t device_features_sel, driver_features_sel, queue_sel;
        uint64_t driver_features;
        struct {
                uint64_t desc, avail, used;
                uint16_t size, last_avail, used_idx;
                uint8_t ready, broken;
                uint8_t pad;
        } queues[VIRTIO_QUEUES_MAX];
        uint64_t device_size;
} TransportState;

static int virtio_mmio_save(void *dev, void **ret, size_t *ret_size) {
        VirtioMmio *t = dev;
        _cleanup_free_ void *device = NULL;
        size_t device_size = 0;
        TransportState st = {
                .device_id = t->ops->device_id,
                .n_queues = t->ops->n_queues,
                .status = t->status,
                .irq_status = t->irq_status,
                .config_generation = t->config_generation,
                .device_features_sel = t->device_features_sel,
                .driver_features_sel = t->driver_features_sel,
                .queue_sel = t->queue_sel,
                .driver_features = t->driver_features,
        };
        uint8_t *p;
        int r;

        if (t->ops->save) {
                r = t->ops->save(t, &device, &device_size);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < VIRTIO_QUEUES_MAX; i++) {
                const VirtQueue *q = t->queues + i;

                st.queues[i].desc = q->desc;
                st.queues[i].avail = q->avail;
                st.queues[i].used = q->used;
                st.queues[i].size = q->size;
                st.queues[i].last_avail = q->last_avail;
                st.queues[i].used_idx = q->used_idx;
                st.queues[i].ready = q->ready;
                st.queues[i].broken = q->broken;
        }
        st.device_size = device_size;
        p = malloc(sizeof(st) + device_size);
        if (!p)
                return -ENOMEM;
        memcpy(p, &st, sizeof(st));
        if (device_size > 0)
                memcpy(p + sizeof(st), device, device_size);
        *ret = p;
        *ret_size = sizeof(st) + device_size;
        return 0;
}

static int virtio_mmio_load(void *dev, const void *state, size_t size) {
        VirtioMmio *t = dev;
        TransportState st;
        int r;

        if (size < sizeof(st))
                return -EBADMSG;
        memcpy(&st, state, sizeof(st));
        if (st.device_id != t->ops->device_id || st.n_queues != t->ops->n_queues ||
            st.device_size != size - sizeof(st) || (st.driver_features & ~device_features(t)))
                return -EBADMSG;
        for (unsigned i = 0; i < VIRTIO_QUEUES_MAX; i++) {
                VirtQueue q = {
                        .desc = st.queues[i].desc,
                        .avail = st.queues[i].avail,
                        .used = st.queues[i].used,
                        .size = st.queues[i].size,
                        .last_avail = st.queues[i].last_avail,
                        .used_idx = st.queues[i].used_idx,
                        .ready = st.queues[i].ready,
                        .broken = st.queues[i].broken,
                };

                /* A ready queue must be one the driver could have made ready. */
                if (q.ready &&
                    (i >= t->ops->n_queues || virtqueue_check(&q, t->mem, t->ops->queue_size_max) < 0))
                        return -EBADMSG;
                t->queues[i] = q;
        }
        t->status = st.status;
        t->irq_status = st.irq_status & (VIRTIO_INT_USED | VIRTIO_INT_CONFIG);
        t->config_generation = st.config_generation;
        t->device_features_sel = st.device_features_sel;
        t->driver_features_sel = st.driver_features_sel;
        t->queue_sel = st.queue_sel;
        t->driver_features = st.driver_features;
        if (t->ops->load) {
                r = t->ops->load(t, (const uint8_t *) state + sizeof(st), st.device_size);
                if (r < 0)
                        return r;
        } else if (st.device_size != 0)
                return -EBADMSG;
        update_irq(t);
        return 0;
}

const MmioOps virtio_mmio_ops = {
        .access = virtio_mmio_access,
        .fdt_node = virtio_mmio_fdt_node,
        .save = virtio_mmio_save,
        .load = virtio_mmio_load,
};

int virtio_mmio_register(VirtioMmio *t, MmioBus *bus, uint64_t base) {
        t->base = base;
        return mmio_bus_register(bus, t->ops->name, base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, t);
}
