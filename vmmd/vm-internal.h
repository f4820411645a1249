/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Between vm.c (the lifecycle), vm-snapshot.c and vm-crash.c: not for the rest of vmmd. */
#pragma once

#include <signal.h>

#include "vm.h"

bool vm_vmm_runs(const VM *vm);
/* Completes the operation of that kind, if one waits: r >= 0 success, else the error with message. */
void vm_complete_pending(VM *vm, PendingKind kind, int r, const char *message);
/* Kills the VMM; it ends as failed with reason (unless a reason is already set). */
void vm_abort(VM *vm, const char *reason);

/* The guest was replaced under a running VMM (restored from a snapshot): the VM is starting until the
 * agent answers again, within the boot timeout. */
int vm_expect_guest_back(VM *vm);

/* Runs argv (qemu-img) as the VMMs' user with its output in qemu-img.log; cb when it exits. */
int vm_spawn_helper(VM *vm, char *const *argv, sd_event_child_handler_t cb);
/* NULL when the helper succeeded, else why it failed, with the last line of its log. */
char *vm_helper_failure(VM *vm, const siginfo_t *si);

/* QEMU's job events reach the snapshot operation in progress. */
void vm_snapshot_on_qmp_event(VM *vm, const char *event, json_object *data);
/* The VMM ended: a snapshot operation that QEMU ran fails with message. */
void vm_snapshot_abort(VM *vm, const char *message);

/* The VM's one timer (a boot, a stop step, ...): replaces the one armed before. */
int vm_timer_set(VM *vm, uint64_t usec, sd_event_time_handler_t cb);
/* Ends the VMM: QMP quit, then SIGKILL after a stop step. The VM's state stays until it has ended. */
int vm_quit(VM *vm);
void vm_set_state(VM *vm, VMState state, const char *reason);

/* QEMU stopped the guest (a reset, a power-off or a panic, held by -action ...=pause): a panic gets its
 * crash bundle and on_crash, anything else ends QEMU and goes on as its reason says. */
void vm_crash_on_guest_stop(VM *vm, bool panicked);
/* The crash bundle being saved is given up (the VMM ended, the VM goes). */
void vm_crash_abort(VM *vm);
CrashCapture *vm_crash_capture_free(CrashCapture *c);

/* The VMM ended, or the VM goes: the OpenDisplay calls waiting fail with reason. */
void vm_display_abort(VM *vm, const char *reason);
/* LastCrash from the bundles on disk (a new VM object). */
void vm_crash_load_last(VM *vm);

/* The VMM ended or the VM goes: what vm-debug.c holds goes with it. */
DebugSymbols *vm_debug_symbols_free(DebugSymbols *d);
DebugSession *vm_debug_session_free(DebugSession *s);
