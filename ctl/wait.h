/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Waiting, driven by vmmd's signals (never by polling), for a VM to reach a state (and its balloon a size),
 * for the build of a golden snapshot to end, and for the crash bundle of a crash test. */
#pragma once

#include <systemd/sd-bus.h>

#include "json-util.h"

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

/* What every wait has: the bus, a match on vmmd leaving it, and whether the signals being dispatched are
 * older than what the wait read. */
typedef struct SignalWait {
        sd_bus *bus;
        sd_bus_slot *slot;
        bool stale;
        bool vmmd_gone;
} SignalWait;

typedef struct VMWait {
        SignalWait signals;
        bool progress;  /* redraw a status line on stdout */
        uint64_t since; /* CLOCK_MONOTONIC when the operation began, for the status line */
        sd_bus_slot *slots[2];

        /* The current wait: */
        const WaitSpec *spec;
        char *path;
        char *name;
        char *state;
        char *failure_reason;
        uint64_t memory_actual_mib;
        bool removed;
        bool line_drawn;
        uint64_t drawn; /* CLOCK_MONOTONIC of the status line drawn last; UINT64_MAX: none yet */
        char *drawn_state;
        uint64_t drawn_actual_mib;
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

/* Following the build of a golden snapshot (RebuildGoldenSnapshot) in the Manager's GoldenSnapshots. */
typedef struct GoldenWait {
        SignalWait signals;
        sd_bus_slot *slot;
        char *persona;
        json_object *entry; /* the persona's entry, keyed by golden_snapshot_keys; NULL: it has none */
        char *printed;      /* the progress line printed last */
} GoldenWait;

/* Subscribes to the Manager's PropertiesChanged and vmmd's NameOwnerChanged: before the call. */
int golden_wait_begin(GoldenWait *w, sd_bus *bus, const char *persona);
/* After the call: reads GoldenSnapshots once, then follows it until the persona's entry is "ready" (exit
 * status 0) or "failed", the entry vanishes, vmmd disappears or timeout_usec (UINT64_MAX: never) passes.
 * Prints a line on stderr whenever the state, step or percentage changes. Logs why it ended unsuccessfully,
 * and returns an exit status; w->entry is where the persona's golden snapshot ended up. */
int golden_wait_finish(GoldenWait *w, uint64_t timeout_usec);
void golden_wait_done(GoldenWait *w);

/* Following a crash test (CrashTest): vmmd's Crashed signal for the VM, sent once its bundle is saved and
 * before the persona's on_crash changes the VM's State. */
typedef struct CrashWait {
        SignalWait signals;
        sd_bus_slot *slots[3];
        char *vm;
        char *path;
        char *bundle; /* the ID Crashed named, once it came */
        char *state;  /* the VM's State once it changed after the call; NULL: still "running" */
        bool removed;
} CrashWait;

/* Subscribes to the Manager's Crashed and VMRemoved, the VM's PropertiesChanged and vmmd's NameOwnerChanged:
 * before the call. */
int crash_wait_begin(CrashWait *w, sd_bus *bus, const char *vm, const char *path);
/* After the call: discards the signals that came before its reply, then follows the new ones until Crashed
 * names the VM (exit status 0, w->bundle is its ID), the VM leaves "running" or is removed without one (no
 * bundle was saved: 5), vmmd disappears (7) or timeout_usec (UINT64_MAX: never) passes (6). Logs why it
 * ended unsuccessfully, and returns an exit status. */
int crash_wait_finish(CrashWait *w, uint64_t timeout_usec);
void crash_wait_done(CrashWait *w);
