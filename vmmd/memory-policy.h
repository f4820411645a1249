/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policies/memory.yaml: how much guest memory vmmd promises in total, and the policy loop that moves memory
 * between the phones (memory-loop.c applies it). Everything here is a pure function of its inputs: what the
 * host and the guests report goes in, balloon targets and merge decisions come out. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define MEMORY_OVERCOMMIT_PERCENT_DEFAULT 150
#define MEMORY_OVERCOMMIT_PERCENT_MIN 50
#define MEMORY_OVERCOMMIT_PERCENT_MAX 1000
#define MEMORY_LIMIT_MIB_MAX (UINT64_C(1) << 30)
#define MEMORY_INTERVAL_MS_DEFAULT 2000
#define MEMORY_INTERVAL_MS_MIN 100
#define MEMORY_INTERVAL_MS_MAX 60000
#define MEMORY_PRESSURE_HIGH_DEFAULT 10
#define MEMORY_PRESSURE_LOW_DEFAULT 2
#define MEMORY_HOST_RESERVE_MIB_DEFAULT 256
#define MEMORY_GUEST_RESERVE_MIB_DEFAULT 64
#define MEMORY_STEP_MIB_DEFAULT 128
/* The least a balloon leaves a guest (VM_MEMORY_TARGET_MIN_MIB is the same). */
#define MEMORY_TARGET_MIN_MIB UINT64_C(64)
#define MEMORY_UNKNOWN UINT64_MAX

typedef struct MemoryPolicy {
        /* Running guests may be promised up to this share of the host's RAM, in percent. */
        uint64_t overcommit_percent;
        /* A fixed limit in MiB instead; 0: none. */
        uint64_t limit_mib;
        /* The loop looks this often (0: no loop; balloons move only when asked, admission is strict). */
        uint64_t interval_ms;
        /* Host memory pressure: PSI "some" avg10 at or above pressure_high percent, or less than
         * host_reserve_mib available, begins it; it ends below pressure_low with twice the reserve. */
        uint64_t pressure_high, pressure_low;
        uint64_t host_reserve_mib;
        /* What a guest keeps available when its balloon is tightened; below half of it, it is short. */
        uint64_t guest_reserve_mib;
        /* The most a balloon moves in one step of the loop. */
        uint64_t step_mib;
        /* KSM merges identical pages of clones of one golden snapshot with one owner; nothing else. */
        bool ksm;
} MemoryPolicy;

#define MEMORY_POLICY_DEFAULT \
        ((MemoryPolicy){ .overcommit_percent = MEMORY_OVERCOMMIT_PERCENT_DEFAULT, \
                         .interval_ms = MEMORY_INTERVAL_MS_DEFAULT, \
                         .pressure_high = MEMORY_PRESSURE_HIGH_DEFAULT, \
                         .pressure_low = MEMORY_PRESSURE_LOW_DEFAULT, \
                         .host_reserve_mib = MEMORY_HOST_RESERVE_MIB_DEFAULT, \
                         .guest_reserve_mib = MEMORY_GUEST_RESERVE_MIB_DEFAULT, \
                         .step_mib = MEMORY_STEP_MIB_DEFAULT, \
                         .ksm = true })

/* Parses the file strictly (unknown keys, bad values: -EINVAL with file, line and key in ret_error). A
 * missing file is -ENOENT: the defaults apply. */
int memory_policy_load(const char *path, MemoryPolicy *ret, char **ret_error);

/* The most guest memory that may be promised on a host with host_mib MiB. */
uint64_t memory_policy_limit_mib(const MemoryPolicy *p, uint64_t host_mib);

/* The host as the loop sees it. */
typedef struct MemoryHost {
        double pressure;        /* PSI "some" avg10 of /proc/pressure/memory, percent; < 0: unknown */
        uint64_t available_mib; /* MemAvailable; MEMORY_UNKNOWN */
} MemoryHost;

/* Whether the host is under memory pressure now, given whether it was (hysteresis). */
bool memory_policy_pressure(const MemoryPolicy *p, const MemoryHost *h, bool was);

/* A running VM as the policy sees it. */
typedef struct MemoryPolicyVM {
        uint64_t ceiling_mib;   /* the most it gets: its MemoryMiB, or less if its owner asked for less */
        uint64_t target_mib;    /* what its balloon leaves it now; the policy writes the new target here */
        uint64_t available_mib; /* what its guest reports available (MemAvailable); MEMORY_UNKNOWN */
        bool deflated;          /* its balloon gave memory back beyond the target: its guest needed it */
        bool foreground;
        bool fixed;         /* its balloon cannot move now (paused, busy, no agent): it counts as it is */
        const char *golden; /* a clone's golden snapshot (NULL: none): who it may merge with ... */
        uid_t owner;        /* ... if it has the same owner */
        bool merge;         /* KSM may merge its pages (in: now; out: from now on) */
} MemoryPolicyVM;

/* The lowest target a VM's balloon may be tightened to: what its guest uses, plus guest_reserve_mib. */
uint64_t memory_policy_floor(const MemoryPolicy *p, const MemoryPolicyVM *v);

/* One step of the loop. A guest that is short (little available, or its balloon deflated under its own
 * pressure) gets up to step_mib more, within its ceiling and the limit
 * (a background one only while the host is not under pressure). Under pressure the background VMs give back
 * up to step_mib each, toward their floor; the foreground VM gives only when no background VM can. */
void memory_policy_step(const MemoryPolicy *p, bool pressure, uint64_t limit_mib, MemoryPolicyVM *vms, size_t n);

/* Admission: lowers targets, background VMs first, none below its floor, so that need_mib more fit under
 * limit_mib. -ENOSPC if they cannot (vms unchanged); 0 otherwise. */
int memory_policy_make_room(
        const MemoryPolicy *p, uint64_t limit_mib, uint64_t need_mib, MemoryPolicyVM *vms, size_t n);

/* KSM: sets merge on the clones of one golden snapshot with one owner, the largest such group with two or
 * more running (a tie keeps the group that merges now), and off on every other VM. KSM merges whatever
 * is mergeable, across processes: two groups merging at once would merge with each other. */
void memory_policy_merge(const MemoryPolicy *p, MemoryPolicyVM *vms, size_t n);
