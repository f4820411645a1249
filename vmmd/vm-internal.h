/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Between vm.c (the lifecycle) and vm-snapshot.c: not for the rest of vmmd. */
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
