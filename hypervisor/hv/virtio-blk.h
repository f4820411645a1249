/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio-blk (virtio 1.2, 5.2) over a Disk: one request queue, each request done at once in the vCPU thread
 * that notified it (the disk is small and in the page cache). Reads, writes, flushes and the device ID;
 * the driver's descriptors are checked as the input they are. */
#pragma once

#include "disk.h"
#include "virtio-mmio.h"

/* The device ID (VIRTIO_BLK_T_GET_ID): at most this many bytes, not NUL-terminated when all are used. */
#define VIRTIO_BLK_ID_BYTES 20

typedef struct VirtioBlk VirtioBlk;

/* Takes disk over on success (freed with the device). serial: the device ID (the first 20 bytes of it). */
int virtio_blk_new(const GuestMemory *mem, IrqLine irq, Disk *disk, const char *serial, VirtioBlk **ret);
VirtioBlk *virtio_blk_free(VirtioBlk *b);
VirtioMmio *virtio_blk_transport(VirtioBlk *b);
/* Makes the disk durable: what the guest wrote, an overlay's bitmap too. */
int virtio_blk_flush(VirtioBlk *b);
