/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Split virtqueues (virtio 1.x, 2.7): the device side, against guest RAM that the guest may change at any
 * moment. Each descriptor is read once, every buffer is checked to lie inside guest RAM, and a chain is
 * bounded in length, so a hostile driver can only break its own queue. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest-mem.h"

#define VIRTQ_SIZE_MAX 1024u
/* Buffers in one chain, indirect ones included; longer chains break the queue. */
#define VIRTQ_SEG_MAX 256u

#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u

typedef struct VirtQueue {
        /* Set by the driver through the transport. */
        uint16_t size;
        bool ready;
        uint64_t desc, avail, used; /* guest physical addresses of the three areas */
        /* The device's own state (what a snapshot keeps). */
        uint16_t last_avail; /* the next avail ring entry to take */
        uint16_t used_idx;   /* the next used ring entry to fill */
        bool broken;         /* the driver broke the ring; nothing more is taken from it until reset */
} VirtQueue;

typedef struct VirtChain {
        uint16_t head;
        unsigned n_out, n_in;     /* iov[0, n_out) are read by the device, then n_in written */
        uint64_t out_len, in_len; /* their total sizes */
        struct iovec iov[VIRTQ_SEG_MAX];
} VirtChain;

/* Checks the areas a driver set (size a power of two ≤ max, alignment, all inside RAM): -EINVAL if not. */
int virtqueue_check(const VirtQueue *q, const GuestMemory *m, uint16_t max_size);
void virtqueue_reset(VirtQueue *q);
/* 1 and the next chain in ret, 0 if the driver made none available, -EBADMSG if the ring is broken (then
 * q->broken is set: the transport flags DEVICE_NEEDS_RESET). */
int virtqueue_pop(VirtQueue *q, const GuestMemory *m, VirtChain *ret);
/* Gives the last chain popped back, for a device that cannot take it yet. */
void virtqueue_unpop(VirtQueue *q);
/* Hands a chain back to the driver with the number of bytes written into its in-buffers. */
int virtqueue_push(VirtQueue *q, const GuestMemory *m, uint16_t head, uint32_t written);
/* Whether the driver wants an interrupt for what was pushed (it may ask for none). */
bool virtqueue_should_notify(const VirtQueue *q, const GuestMemory *m);
/* Whether the driver has made chains available that were not popped. */
bool virtqueue_available(const VirtQueue *q, const GuestMemory *m);

/* Copies between a chain's buffers and flat memory: how many bytes (fewer if the buffers end first). */
size_t virtchain_read(const VirtChain *c, size_t offset, void *buf, size_t len);
size_t virtchain_write(const VirtChain *c, size_t offset, const void *buf, size_t len);
