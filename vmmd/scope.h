/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Each VMM in a systemd scope of its own below machine.slice ("vmm-<name>.scope"), as machined does for
 * VMs: its memory and CPU are accounted on their own, and the foreground VM gets a larger CPU weight. vmmd
 * asks systemd on the bus it serves (the system manager; the user's with --user). Where no systemd answers,
 * the VMM stays in vmmd's cgroup and nothing else changes. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#define SCOPE_CPU_WEIGHT_FOREGROUND UINT64_C(400)
#define SCOPE_CPU_WEIGHT_BACKGROUND UINT64_C(100)

/* "vmm-<name>.scope", the name escaped as systemd-escape does (every byte but [A-Za-z0-9:_.] as \xNN). */
char *scope_unit_name(const char *vm_name);

/* Holds a D-Bus call's reply until every systemd call made on its behalf was answered (SwitchTo answers
 * once the new CPU weights are in place). The last unref sends the (empty) method return. */
typedef struct ScopeWaiter ScopeWaiter;
ScopeWaiter *scope_waiter_new(sd_bus_message *call);
ScopeWaiter *scope_waiter_unref(ScopeWaiter *w);

/* What a VMM beside its guest's memory may use: QEMU's heap and code, the console ring, page tables. */
#define SCOPE_VMM_OVERHEAD_MIB UINT64_C(256)
/* vCPU threads, QEMU's I/O thread pool (up to 64), RCU and the main loop, with room. */
#define SCOPE_TASKS_MAX 256

typedef struct ScopeLimits {
        uint64_t memory_mib;    /* the guest's */
        const char *kvm_device; /* allowed besides the usual pseudo-devices, or NULL */
} ScopeLimits;

/* Moves pid into a new scope unit with the VM's limits (memory, tasks, a closed device policy);
 * asynchronous, failures are logged. */
int scope_start(sd_bus *bus, const char *vm_name, pid_t pid, bool foreground, const ScopeLimits *limits);
/* Gives the VM's scope the foreground or the background CPU weight; asynchronous. waiter, if not NULL,
 * is held until systemd answered. */
int scope_set_foreground(sd_bus *bus, const char *vm_name, bool foreground, ScopeWaiter *waiter);
/* A VM's scope may use this much before the kernel reclaims from it (MemoryHigh): its balloon's target and
 * half the VMM's overhead. The memory policy moves it with the target: a guest that keeps more than its
 * balloon leaves it (a hostile one, say) is reclaimed, not its neighbours. */
uint64_t scope_memory_high_bytes(uint64_t target_mib);
int scope_set_memory_high(sd_bus *bus, const char *vm_name, uint64_t target_mib);
/* The memory pressure (PSI "some" avg10, percent) of the scope of the VM whose VMM is pid. -ENOMEDIUM: the
 * VMM is in no scope of its own. */
int scope_read_pressure(pid_t pid, const char *vm_name, double *ret);
