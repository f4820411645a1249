/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Waiting for a VM to reach a state (and its balloon a size), driven by vmmd's signals (never by polling). */
#pragma once

#include <systemd/sd-bus.h>

#include "util.h"

typedef struct WaitSpec {
        const char *target;  /* State that ends the wait; NULL: only the VM's removal does */
        uint64_t memory_mib; /* > 0: the wait ends only once MemoryActualMiB is this, in State target */
        bool removal_ends;   /* VMRemoved ends the wait successfully (throwaways stop that way) */
        const char *const *pending; /* States in which the wait goes on, NULL-terminated; NULL: any but
                                     * "failed" */
} WaitSpec;

/* Every value of the VM's State property. */
extern const char *const vm_states[];

extern const WaitSpec wait_running; /* create, start, resume */
extern const WaitSpec wait_stopped; /* stop */
extern const WaitSpec wait_paused;  /* pause */
extern const WaitSpec wait_removed; /* destroy, wait NAME removed */
extern const WaitSpec wait_memory;  /* set-memory, with memory_mib filled in */

typedef struct VMWait {
        sd_bus *bus;
        bool progress;  /* redraw a status line on stdout */
        uint64_t since; /* CLOCK_MONOTONIC when the operation began, for the status line */
        sd_bus_slot *slots[3];

        /* The current wait: */
        const WaitSpec *spec;
        char *path;
        char *name;
        char *state;
        char *failure_reason;
        uint64_t memory_actual_mib;
        bool stale; /* dispatching signals older than our own read of the state */
        bool removed;
        bool vmmd_gone;
        bool line_drawn;
} VMWait;

/* Subscribes to the VM's PropertiesChanged, VMRemoved and vmmd's NameOwnerChanged. Call it before the
 * method call whose effect is waited for, so that no signal is missed; again before each further call. */
int vm_wait_begin(VMWait *w, sd_bus *bus, bool progress);
/* After the call: reads the VM's state once, then follows its signals until the VM meets spec, fails,
 * reaches a state outside spec, vanishes, vmmd disappears, or timeout_usec (UINT64_MAX: never) passes.
 * Logs why it ended unsuccessfully, and returns an exit status. w->name, w->state and
 * w->memory_actual_mib tell where the VM ended up. */
int vm_wait_finish(VMWait *w, const char *path, const WaitSpec *spec, uint64_t timeout_usec);
void vm_wait_done(VMWait *w);
