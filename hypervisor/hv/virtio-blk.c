/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio-blk. */
#include <assert.h>
#include <endian.h>
#include <errno.h>

#include "iovec-util.h"
#include "util.h"
#include "virtio-blk.h"

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define QUEUE_SIZE 256u
/* Data buffers in one request, besides header and status. Without indirect descriptors (not offered) a
 * request takes that many descriptors of the ring at once: half of it leaves room for another. */
#define SEG_MAX (QUEUE_SIZE / 2 - 2)

/* The config space (5.2.4) up to blk_size: nothing after it is offered. */
#define CONFIG_CAPACITY 0
#define CONFIG_SEG_MAX 12
#define CONFIG_BLK_SIZE 20
#define CONFIG_SIZE 24

typedef struct BlkHeader {
        uint32_t type;
        uint32_t ioprio;
        uint64_t sector;
} BlkHeader;

struct VirtioBlk {
        VirtioMmio transport;
        VirtioDeviceOps ops; /* blk_ops, with VIRTIO_BLK_F_RO for a read-only disk */
        Disk *disk;
        char serial[VIRTIO_BLK_ID_BYTES];
};

/* [sector, + len bytes) inside the disk, in whole sectors: without overflow for any sector a driver
 * names. */
static bool range_ok(const VirtioBlk *b, uint64_t sector, uint64_t len) {
        uint64_t capacity = disk_size(b->disk) / DISK_SECTOR_SIZE;

        return len % DISK_SECTOR_SIZE == 0 && len <= UINT32_MAX - 1 && sector <= capacity &&
                len / DISK_SECTOR_SIZE <= capacity - sector;
}

/* One request: its status, and in ret_written the bytes written into the driver's buffers besides the
 * status. The status is the last byte the device may write; the chain has one (the caller checked). */
static uint8_t request(VirtioBlk *b, const VirtChain *c, uint32_t *ret_written) {
        struct iovec v[VIRTQ_SEG_MAX];
        BlkHeader h;
        uint64_t sector, len;
        unsigned k;

        /* The header is the first 16 bytes the device reads, however the driver split them. */
        if (c->out_len < sizeof(h))
                return VIRTIO_BLK_S_IOERR;
        (void) virtchain_read(c, 0, &h, sizeof(h));
        sector = le64toh(h.sector);

        switch (le32toh(h.type)) {
        case VIRTIO_BLK_T_IN:
                /* Data only into buffers the device writes, before the status. */
                len = c->in_len - 1;
                if (c->out_len != sizeof(h) || !range_ok(b, sector, len))
                        return VIRTIO_BLK_S_IOERR;
                k = iovec_slice(c->iov + c->n_out, c->n_in, 0, len, v);
                if (disk_read(b->disk, sector * DISK_SECTOR_SIZE, v, k) < 0)
                        return VIRTIO_BLK_S_IOERR;
                *ret_written = (uint32_t) len;
                return VIRTIO_BLK_S_OK;

        case VIRTIO_BLK_T_OUT:
                /* Data only from buffers the device reads, after the header; the status alone written. */
                len = c->out_len - sizeof(h);
                if (c->in_len != 1 || !range_ok(b, sector, len) || disk_read_only(b->disk))
                        return VIRTIO_BLK_S_IOERR;
                k = iovec_slice(c->iov, c->n_out, sizeof(h), len, v);
                if (disk_write(b->disk, sector * DISK_SECTOR_SIZE, v, k) < 0)
                        return VIRTIO_BLK_S_IOERR;
                return VIRTIO_BLK_S_OK;

        case VIRTIO_BLK_T_FLUSH:
                if (c->out_len != sizeof(h) || c->in_len != 1)
                        return VIRTIO_BLK_S_IOERR;
                return disk_flush(b->disk) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;

        case VIRTIO_BLK_T_GET_ID:
                if (c->out_len != sizeof(h))
                        return VIRTIO_BLK_S_IOERR;
                len = MIN(c->in_len - 1, (uint64_t) VIRTIO_BLK_ID_BYTES);
                *ret_written = (uint32_t) virtchain_write(c, 0, b->serial, len);
                return VIRTIO_BLK_S_OK;

        default:
                return VIRTIO_BLK_S_UNSUPP;
        }
}

static void blk_notify(VirtioMmio *t, unsigned queue) {
        VirtioBlk *b = t->dev;
        VirtChain c;

        while (virtio_mmio_pop(t, queue, &c) > 0) {
                uint32_t written = 0;
                uint8_t status;

                /* No byte the device may write, so no status: the chain goes back with nothing written,
                 * which the driver cannot take for success. */
                if (c.in_len == 0) {
                        (void) virtio_mmio_push(t, queue, c.head, 0);
                        continue;
                }
                status = request(b, &c, &written);
                (void) virtchain_write(&c, c.in_len - 1, &status, 1);
                (void) virtio_mmio_push(t, queue, c.head, written + 1);
        }
}

static void blk_config(VirtioMmio *t, uint32_t offset, uint8_t *data, unsigned len, bool is_write) {
        VirtioBlk *b = t->dev;
        uint8_t config[CONFIG_SIZE] = {};
        uint64_t capacity = htole64(disk_size(b->disk) / DISK_SECTOR_SIZE);
        uint32_t seg_max = htole32(SEG_MAX), blk_size = htole32(DISK_SECTOR_SIZE);

        /* All of it is the device's: writes (only meaningful with features not offered) are ignored. */
        if (is_write)
                return;
        memcpy(config + CONFIG_CAPACITY, &capacity, sizeof(capacity));
        memcpy(config + CONFIG_SEG_MAX, &seg_max, sizeof(seg_max));
        memcpy(config + CONFIG_BLK_SIZE, &blk_size, sizeof(blk_size));
        memcpy(data, config + offset, len);
}

/* Nothing is in flight between notifications; what is kept is what the guest's driver knows of the disk,
 * which the disk of a restored machine must match. */
typedef struct BlkState {
        uint64_t capacity;
        uint32_t read_only;
        uint32_t reserved;
} BlkState;

static int blk_save(VirtioMmio *t, void **ret, size_t *ret_size) {
        VirtioBlk *b = t->dev;
        BlkState *st;
        int r;

        /* The snapshot's disk is of the moment of its RAM: everything written so far is on disk. */
        r = disk_flush(b->disk);
        if (r < 0)
                return r;
        st = malloc(sizeof(*st));
        if (!st)
                return -ENOMEM;
        *st = (BlkState){
                .capacity = disk_size(b->disk) / DISK_SECTOR_SIZE,
                .read_only = disk_read_only(b->disk),
        };
        *ret = st;
        *ret_size = sizeof(*st);
        return 0;
}

static int blk_load(VirtioMmio *t, const void *state, size_t size) {
        VirtioBlk *b = t->dev;
        BlkState st;

        if (size != sizeof(st))
                return -EBADMSG;
        memcpy(&st, state, sizeof(st));
        if (st.capacity != disk_size(b->disk) / DISK_SECTOR_SIZE ||
            st.read_only != disk_read_only(b->disk) || st.reserved != 0)
                return -EBADMSG;
        return 0;
}

static const VirtioDeviceOps blk_ops = {
        .name = "virtio-blk",
        .device_id = VIRTIO_ID_BLOCK,
        .features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                (1ull << VIRTIO_BLK_F_FLUSH),
        .n_queues = 1,
        .queue_size_max = QUEUE_SIZE,
        .config_size = CONFIG_SIZE,
        .config_access = blk_config,
        .notify = blk_notify,
        .save = blk_save,
        .load = blk_load,
};

VirtioBlk *virtio_blk_free(VirtioBlk *b) {
        if (!b)
                return NULL;
        virtio_mmio_done(&b->transport);
        disk_free(b->disk);
        return mfree(b);
}

int virtio_blk_new(const GuestMemory *mem, IrqLine irq, Disk *disk, const char *serial, VirtioBlk **ret) {
        VirtioBlk *b;
        int r;

        assert(mem);
        assert(disk);
        assert(serial);
        assert(ret);

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->ops = blk_ops;
        if (disk_read_only(disk))
                b->ops.features |= 1ull << VIRTIO_BLK_F_RO;
        memcpy(b->serial, serial, strnlen(serial, sizeof(b->serial)));
        r = virtio_mmio_init(&b->transport, &b->ops, b, mem, irq);
        if (r < 0) {
                free(b);
                return r;
        }
        b->disk = disk;
        *ret = b;
        return 0;
}

VirtioMmio *virtio_blk_transport(VirtioBlk *b) {
        return &b->transport;
}

int virtio_blk_flush(VirtioBlk *b) {
        int r;

        virtio_mmio_lock(&b->transport);
        r = disk_flush(b->disk);
        virtio_mmio_unlock(&b->transport);
        return r;
}
