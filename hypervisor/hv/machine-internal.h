/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The machine's insides, shared by machine.c (set-up, vCPU threads) and machine-snapshot.c. */
#pragma once

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>

#include "guest-mem.h"
#include "machine.h"
#include "mmio-bus.h"
#include "pl011.h"
#include "snapshot.h"
#include "virtio-balloon.h"
#include "virtio-blk.h"
#include "virtio-console.h"

#define KVM_API_VERSION_EXPECTED 12
#define VCPU_KICK_SIGNAL SIGUSR1

/* Where a virtio-mmio slot's transport is, and its interrupt. */
#define MACHINE_VIRTIO_SLOT_BASE(slot) (MACHINE_VIRTIO_BASE + VIRTIO_MMIO_SIZE * (uint64_t) (slot))
#define MACHINE_VIRTIO_SLOT_SPI(slot) (MACHINE_VIRTIO_SPI + (slot))

/* PSTATE at entry (booting.rst): EL1h, all of D, A, I and F masked. */
#define PSTATE_EL1H_MASKED 0x3c5ull

/* The EL1 registers a stage-1 walk needs (Arm ARM D17.2). */
#define REG_SCTLR_EL1 ARM64_SYS_REG(3, 0, 1, 0, 0)
#define REG_TTBR0_EL1 ARM64_SYS_REG(3, 0, 2, 0, 0)
#define REG_TTBR1_EL1 ARM64_SYS_REG(3, 0, 2, 0, 1)
#define REG_TCR_EL1 ARM64_SYS_REG(3, 0, 2, 0, 2)
#define PSTATE_MODE_MASK 0xfull
#define PSTATE_MODE_EL1H 0x5ull /* EL1 on SP_EL1; EL1t and EL0 use SP_EL0 */

#define CORE_REG(name) \
        (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | \
         (offsetof(struct kvm_regs, name) / sizeof(uint32_t)))

typedef struct Vcpu {
        Machine *machine;
        unsigned index;
        int fd;
        struct kvm_run *run;
        size_t run_size;
        pthread_t thread;
        bool thread_started;
        bool mmio_pending; /* the last exit was MMIO: KVM completes it when the vCPU next enters */
} Vcpu;

struct Machine {
        sd_event *event;
        char *name;
        int kvm_fd, vm_fd, gic_fd, ram_fd;
        GuestMemory ram;
        MmioBus bus;
        unsigned n_vcpus;
        Vcpu vcpus[FDT_CPUS_MAX];

        Pl011 uart;
        VirtioConsole *console;
        int console_fd;
        VirtioBalloon *balloon;
        int balloon_fd; /* a vCPU thread says the balloon's size changed */
        sd_event_source *balloon_source;
        machine_balloon_t on_balloon;
        void *on_balloon_userdata;
        VirtioBlk *blk; /* with a disk only */

        int exit_fd; /* a vCPU thread tells the event loop that the guest stopped or a vCPU failed */
        sd_event_source *exit_source;
        atomic_bool stopping;     /* the vCPU threads end */
        atomic_int guest_stopped; /* what the guest asked for (MACHINE_EXIT_POWEROFF, _RESET), or -1 */
        atomic_bool failed;       /* a vCPU could not go on */
        machine_guest_stop_t on_guest_stop;
        void *on_guest_stop_userdata;

        /* Parking the vCPUs (pause, and a guest that stopped): under run_lock. */
        pthread_mutex_t run_lock;
        pthread_cond_t run_cond;
        bool pause_requested;
        unsigned n_running; /* vCPU threads that have not ended */
        unsigned n_parked;

        /* Dirty tracking, for incremental snapshots. KVM logs the guest's writes to RAM, from a restore on,
         * or from a booted machine's first snapshot (logging splits stage 2's huge pages: a boot does
         * without); ram.dirty has the VMM's own. since_base gathers both at each snapshot: the pages that
         * differ from the base, the full snapshot the machine was restored from (a delta's base, for a
         * delta, with the delta's pages) or last wrote. One bit per host page. */
        uint64_t page_size, n_pages;
        bool dirty_logging;
        uint64_t *dirty_vmm, *dirty_kvm, *since_base;
        SnapshotId base_id; /* zero: none yet (a booted machine that wrote no full snapshot) */

        /* The UART's output, for ringbuf-read: the last CONSOLE_RING_SIZE bytes, under console_lock. */
        pthread_mutex_t console_lock;
        uint8_t *console_ring;
        size_t console_start, console_size;
};

int kvm_set_attr(int fd, uint32_t group, uint64_t attr, const void *value);
int kvm_get_attr(int fd, uint32_t group, uint64_t attr, void *ret);
int vcpu_set_reg(Vcpu *v, uint64_t id, uint64_t value);
int vcpu_get_reg(Vcpu *v, uint64_t id, void *ret);

/* Turns KVM's dirty log on for the RAM slot (from now on), if it is not. */
int machine_dirty_log_start(Machine *m);
/* Adds what KVM logged (and resets its log) and what the VMM marked since the last call to since_base. */
int machine_dirty_collect(Machine *m);

/* machine-snapshot.c: the state of a paused machine into a snapshot file (incremental: only the RAM pages
 * since_base names, as a delta of base_id), and back into a machine that was set up like it (vCPUs, vGIC
 * and devices made, RAM mapped from the file) but never ran. */
int machine_snapshot_save(Machine *m, int fd, bool incremental);
int machine_snapshot_restore(Machine *m, const Snapshot *s);
