/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The memory policy loop (policies/memory.yaml, memory-policy.h): every interval it reads the host's memory
 * pressure and what each guest has available, moves the balloons (and with them the scopes' MemoryHigh) and
 * says which guests KSM may merge. Admission asks it to make room before it refuses a VM. */
#pragma once

#include "manager.h"

/* (Re)arms the loop with the policy's interval, or stops it (interval 0). */
int memory_loop_start(Manager *m);
void memory_loop_stop(Manager *m);
/* One step now: what the timer runs. */
void memory_loop_step(Manager *m);

/* Lowers the targets of running VMs but except toward what their guests use, background ones first, so that
 * mib more fit under the limit. -ENOSPC (nothing moved) if they cannot; ret_reclaimable_mib: how much they
 * could give. */
int memory_loop_make_room(Manager *m, const VM *except, uint64_t mib, uint64_t *ret_reclaimable_mib);

/* The host's memory pressure and available memory, read now. */
void memory_loop_read_host(MemoryHost *ret);

/* Figures for the bus and vmctl host. */
typedef struct MemoryFigures {
        uint64_t running_mib;   /* the RAM of the guests whose VMM runs, balloons empty */
        uint64_t ballooned_mib; /* what their balloons hold: given back to the host */
        uint64_t resident_mib; /* their VMMs' proportional resident memory (a page KSM shares counts once) */
        uint64_t merged_mib;   /* what KSM saves (pages_sharing) */
        uint64_t reclaimable_mib; /* what the balloons could still take, toward what the guests use */
} MemoryFigures;
void memory_loop_figures(Manager *m, MemoryFigures *ret);
