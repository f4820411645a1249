/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The memory policy loop: reads, decides (memory-policy.c), applies. */
#include <fcntl.h>
#include <unistd.h>

#include "bus-errors.h"
#include "log.h"
#include "memory-loop.h"
#include "vm-identity.h"
#include "vm.h"

#define KSM_DIR "/sys/kernel/mm/ksm"

/* Whether the VM's guest memory counts as promised (manager_memory_committed_mib()). */
static bool vm_counts(const VM *vm) {
        return vm_is_active(vm) || IN_SET(vm->state, VM_STARTING, VM_RUNNING, VM_PAUSED);
}

/* A balloon holds still once it got where it was sent, or when it has not moved for this long (it stopped
 * short, or the guest deflated it under its own pressure): a guest may begin to move it late. */
#define BALLOON_SETTLE_USEC (5 * USEC_PER_SEC)

/* What the guest has available, if its balloon holds still and the agent said so since it last moved
 * (QEMU reports the balloon's moves at most once a second): otherwise the policy waits, rather than trust
 * a figure from before the balloon took what it was sent for. */
static uint64_t vm_available_mib(const VM *vm) {
        bool still = vm->memory_actual_mib == vm->memory_target_mib ||
                now_usec(CLOCK_MONOTONIC) > vm->memory_moved_usec + BALLOON_SETTLE_USEC;

        if (!still || vm->guest_memory_usec <= vm->memory_moved_usec)
                return MEMORY_UNKNOWN;
        return vm->guest_memory_available_kib / 1024;
}

/* The VMs that count, but except, as the policy sees them; map[i] is vms[i]'s VM. */
static size_t collect(Manager *m, const VM *except, MemoryPolicyVM *vms, VM **map) {
        size_t n = 0;

        for (VM *vm = m->vms; vm && n < MANAGER_VMS_MAX; vm = vm->next) {
                if (vm == except || !vm_counts(vm))
                        continue;
                map[n] = vm;
                vms[n++] = (MemoryPolicyVM){
                        .ceiling_mib = vm->memory_requested_mib ?: vm->memory_mib,
                        .target_mib = vm->memory_target_mib,
                        .available_mib = vm_available_mib(vm),
                        .deflated = vm->memory_deflated,
                        .foreground = streq_ptr(m->foreground, vm->name),
                        .fixed = !vm_memory_adjustable(vm),
                        /* vmm-hv's clones share their golden RAM already, as copy-on-write mappings of the
                         * one snapshot file; its memfd is not KSM's to merge. */
                        .golden = vm->vmm == VMM_QEMU ? vm->golden : NULL,
                        .owner = vm->owner_uid,
                        .merge = vm->memory_merge,
                };
        }
        return n;
}

/* Shrinks first, then grows: each growth is admitted against what is promised then. */
static void apply_targets(const MemoryPolicyVM *vms, VM **map, size_t n) {
        for (int grow = 0; grow <= 1; grow++)
                for (size_t i = 0; i < n; i++) {
                        VM *vm = map[i];
                        int r;

                        if (grow ? vms[i].target_mib <= vm->memory_target_mib :
                                   vms[i].target_mib >= vm->memory_target_mib)
                                continue;
                        r = vm_set_memory_target(vm, vms[i].target_mib, false, NULL, NULL);
                        if (r < 0)
                                log_vm_warning_errno(
                                        vm->name, r, "Failed to move the balloon of %s, ignoring: %m", vm->name);
                }
}

static int ksm_write_run(const char *value) {
        _cleanup_close_ int fd = open(KSM_DIR "/run", O_WRONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return write(fd, value, 1) == 1 ? 0 : -errno;
}

/* KSM: the policy's choice, per VM; ksmd itself runs while some VM may merge (system mode: the host is the
 * phone's, and vmmd its memory manager). */
static void apply_merge(Manager *m, const MemoryPolicyVM *vms, VM **map, size_t n) {
        bool any = false;
        int r;

        for (size_t i = 0; i < n; i++) {
                any = any || vms[i].merge;
                if (map[i]->qmp) {
                        r = vm_set_memory_merge(map[i], vms[i].merge);
                        if (r < 0)
                                log_vm_warning_errno(
                                        map[i]->name, r, "Failed to change KSM merging of %s: %m", map[i]->name);
                }
        }
        if (m->config.user || any == m->ksm_started)
                return;
        if (any) {
                _cleanup_free_ char *run = NULL;

                /* Someone else's ksmd (ksmtuned, an administrator) is left alone. */
                if (read_full_file(KSM_DIR "/run", &run, NULL) < 0 || run[0] != '0')
                        return;
        }
        r = ksm_write_run(any ? "1" : "0");
        if (r < 0)
                log_warning_errno(r, "Failed to turn ksmd %s: %m", any ? "on" : "off");
        else {
                m->ksm_started = any;
                log_info("ksmd %s.", any ? "started: clones of one golden snapshot may share pages" : "stopped");
        }
}

void memory_loop_read_host(MemoryHost *ret) {
        uint64_t kib;

        if (psi_read_some_avg10("/proc/pressure/memory", &ret->pressure) < 0)
                ret->pressure = -1;
        ret->available_mib = meminfo_kib("MemAvailable", &kib) >= 0 ? kib / 1024 : MEMORY_UNKNOWN;
}

void memory_loop_step(Manager *m) {
        MemoryPolicyVM vms[MANAGER_VMS_MAX];
        VM *map[MANAGER_VMS_MAX];
        bool pressure;
        size_t n;

        memory_loop_read_host(&m->memory_host);
        pressure = memory_policy_pressure(&m->memory_policy, &m->memory_host, m->memory_pressure);
        if (pressure != m->memory_pressure) {
                m->memory_pressure = pressure;
                log_full_errno(
                        pressure ? LOG_NOTICE : LOG_INFO,
                        0,
                        "Host memory pressure %s (PSI some avg10 %.2f%%, %" PRIu64 " MiB available)%s.",
                        pressure ? "began" : "ended",
                        m->memory_host.pressure,
                        m->memory_host.available_mib,
                        pressure ? ": background phones give memory back" : "");
                (void) sd_bus_emit_properties_changed(
                        m->bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "MemoryUnderPressure", NULL);
        }

        n = collect(m, NULL, vms, map);
        memory_policy_step(&m->memory_policy, pressure, manager_memory_limit_mib(m), vms, n);
        apply_targets(vms, map, n);
        memory_policy_merge(&m->memory_policy, vms, n);
        apply_merge(m, vms, map, n);

        /* What the guests have, for the next step: asked only of an agent with nothing else to do (a long
         * MEMTEST, say), so these never queue up. */
        for (size_t i = 0; i < n; i++)
                if (map[i]->state == VM_RUNNING && agent_client_is_ready(map[i]->agent) &&
                    agent_client_idle(map[i]->agent))
                        (void) agent_client_send(map[i]->agent, "MEMINFO");
}

static int on_memory_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        int r;

        memory_loop_step(m);
        r = sd_event_source_set_time_relative(s, m->memory_policy.interval_ms * 1000);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r < 0)
                log_error_errno(r, "Failed to arm the memory policy loop again: %m");
        return 0;
}

void memory_loop_stop(Manager *m) {
        m->memory_timer = sd_event_source_disable_unref(m->memory_timer);
}

int memory_loop_start(Manager *m) {
        uint64_t usec = m->memory_policy.interval_ms * 1000;
        int r;

        if (usec == 0) {
                memory_loop_stop(m);
                return 0;
        }
        if (m->memory_timer) {
                r = sd_event_source_set_time_relative(m->memory_timer, usec);
                return r < 0 ? r : sd_event_source_set_enabled(m->memory_timer, SD_EVENT_ONESHOT);
        }
        r = sd_event_add_time_relative(
                m->event, &m->memory_timer, CLOCK_MONOTONIC, usec, usec / 10, on_memory_timer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->memory_timer, "memory-policy");
        return 0;
}

int memory_loop_make_room(Manager *m, const VM *except, uint64_t mib, uint64_t *ret_reclaimable_mib) {
        MemoryPolicyVM vms[MANAGER_VMS_MAX];
        VM *map[MANAGER_VMS_MAX];
        uint64_t reclaimable = 0;
        size_t n;
        int r;

        if (m->memory_policy.interval_ms == 0) {
                if (ret_reclaimable_mib)
                        *ret_reclaimable_mib = 0;
                return -ENOSPC;
        }
        n = collect(m, except, vms, map);
        for (size_t i = 0; i < n; i++)
                reclaimable += vms[i].target_mib - memory_policy_floor(&m->memory_policy, vms + i);
        if (ret_reclaimable_mib)
                *ret_reclaimable_mib = reclaimable;
        r = memory_policy_make_room(&m->memory_policy, manager_memory_limit_mib(m), mib, vms, n);
        if (r < 0)
                return r;
        log_info(
                "Making room for %" PRIu64 " MiB of guest memory: balloons take back what guests do not use.",
                mib);
        apply_targets(vms, map, n);
        return 0;
}

void memory_loop_figures(Manager *m, MemoryFigures *ret) {
        MemoryPolicyVM vms[MANAGER_VMS_MAX];
        VM *map[MANAGER_VMS_MAX];
        MemoryFigures f = {};
        _cleanup_free_ char *sharing = NULL;
        uint64_t pss_kib = 0;
        size_t n = collect(m, NULL, vms, map);

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *rollup = NULL;
                VM *vm = map[i];
                const char *p;

                f.running_mib += vm->memory_mib;
                if (vm->memory_actual_mib > 0 && vm->memory_actual_mib < vm->memory_mib)
                        f.ballooned_mib += vm->memory_mib - vm->memory_actual_mib;
                f.reclaimable_mib += vms[i].target_mib - memory_policy_floor(&m->memory_policy, vms + i);
                if (vm->pid > 0 && vm_read_proc(vm, vm->pid, "smaps_rollup", &rollup, NULL) >= 0 &&
                    (p = strstr(rollup, "\nPss:")))
                        pss_kib += strtoull(p + strlen("\nPss:"), NULL, 10);
        }
        f.resident_mib = pss_kib / 1024;
        if (read_full_file(KSM_DIR "/pages_sharing", &sharing, NULL) >= 0)
                f.merged_mib = strtoull(sharing, NULL, 10) * (uint64_t) sysconf(_SC_PAGESIZE) >> 20;
        *ret = f;
}
