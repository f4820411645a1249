/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio-balloon (virtio 1.2, 5.5) with deflate-on-oom and free page reporting: the host asks the guest to
 * give back memory (the balloon inflates: the pages it names are discarded), the guest takes it back when
 * it needs it (deflates, also on its own under memory pressure), and it reports pages it freed, which are
 * discarded too. What the guest holds is QMP's query-balloon; the target is QMP's balloon. */
#pragma once

#include "virtio-mmio.h"

typedef struct BalloonOps {
        /* Gives [gpa, gpa + len) back to the host: its contents may go (page-aligned, inside RAM). */
        void (*discard)(void *userdata, uint64_t gpa, uint64_t len);
        /* The guest changed how many pages its balloon holds (a vCPU thread calls this). */
        void (*actual_changed)(void *userdata);
        void *userdata;
} BalloonOps;

typedef struct VirtioBalloon VirtioBalloon;

int virtio_balloon_new(const GuestMemory *mem, IrqLine irq, const BalloonOps *ops, VirtioBalloon **ret);
VirtioBalloon *virtio_balloon_free(VirtioBalloon *b);
VirtioMmio *virtio_balloon_transport(VirtioBalloon *b);
/* How much RAM the guest is to keep, in bytes (rounded down to pages; at most all of it). */
void virtio_balloon_set_target(VirtioBalloon *b, uint64_t bytes);
/* How much RAM the guest keeps now: all of it less what its balloon holds. */
uint64_t virtio_balloon_actual(VirtioBalloon *b);
