/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmm-hv machine on KVM/ARM: guest RAM in a memfd, one thread per vCPU, the in-kernel vGICv3 and arch
 * timers, and QEMU virt's memory map so that the same kernel boots as under QEMU. */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "device-tree.h"
#include "util.h"

/* QEMU virt's map (hw/arm/virt.c), which kernels and firmware know. */
#define MACHINE_GIC_DIST_BASE 0x08000000ull
#define MACHINE_GIC_DIST_SIZE 0x00010000ull
#define MACHINE_GIC_REDIST_BASE 0x080a0000ull
#define MACHINE_GIC_REDIST_STRIDE 0x20000ull /* one redistributor: RD and SGI frames */
#define MACHINE_UART_BASE 0x09000000ull
#define MACHINE_UART_SPI 1
#define MACHINE_RTC_BASE 0x09010000ull
#define MACHINE_RTC_SPI 2
#define MACHINE_VIRTIO_BASE 0x0a000000ull
#define MACHINE_VIRTIO_SPI 16
#define MACHINE_VIRTIO_MAX 32
/* The virtio-mmio transports' slots: the agent's console, the balloon, the disk. */
#define MACHINE_VIRTIO_SLOT_CONSOLE 0
#define MACHINE_VIRTIO_SLOT_BALLOON 1
#define MACHINE_VIRTIO_SLOT_DISK 2
#define MACHINE_RAM_BASE 0x40000000ull

#define MACHINE_RAM_MIB_MIN 64u
#define MACHINE_RAM_MIB_MAX (64u * 1024u)
#define MACHINE_GIC_NR_IRQS 96u /* 32 private + 64 SPIs */

/* How a machine ended (and vmm-hv's exit status). */
typedef enum MachineExit {
        MACHINE_EXIT_POWEROFF = 0,
        MACHINE_EXIT_ERROR = 1,
        MACHINE_EXIT_RESET = 3,  /* the guest asked for a reset: the caller starts it anew */
        MACHINE_EXIT_SIGNAL = 4, /* stopped from outside */
} MachineExit;

typedef struct MachineConfig {
        const char *name;
        unsigned n_cpus;
        uint64_t ram_mib;
        const char *kernel, *initrd, *cmdline;
        int agent_listen_fd;      /* a listening socket for the agent's port; -1: none */
        int console_fd;           /* where the UART's output goes */
        int restore_fd;           /* a snapshot to start from (its RAM is mapped copy-on-write), or -1 */
        int restore_base_fd;      /* with restore_fd a delta: its base, a full snapshot; else -1 */
        const char *disk;         /* the virtio-blk disk: a raw file, or NULL for none */
        const char *disk_backing; /* then disk is an overlay (disk.h) over this raw file, only read */
        bool disk_read_only;
} MachineConfig;

typedef struct Machine Machine;
/* The guest powered off or asked for a reset; its vCPUs are parked and its RAM is as it was. */
typedef void (*machine_guest_stop_t)(Machine *m, MachineExit how, void *userdata);

/* The balloon's size changed: the guest keeps actual bytes of its RAM now (the event loop calls this). */
typedef void (*machine_balloon_t)(Machine *m, uint64_t actual, void *userdata);

#define MACHINE_CONSOLE_RING_SIZE (1024u * 1024u)

int machine_new(sd_event *event, const MachineConfig *config, Machine **ret);
Machine *machine_free(Machine *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Machine *, machine_free);
/* Starts the vCPU threads. A vCPU's failure exits the event loop with MACHINE_EXIT_ERROR; the guest's
 * power-off or reset calls the guest-stop handler, or without one exits the loop with how. */
int machine_start(Machine *m);
void machine_set_guest_stop_handler(Machine *m, machine_guest_stop_t handler, void *userdata);
/* Parks every vCPU out of KVM_RUN and returns once they are (-ESHUTDOWN if the machine stops). */
int machine_pause(Machine *m);
/* Lets them run again; -ESHUTDOWN after the guest stopped itself. */
int machine_resume(Machine *m);
/* Stops and joins the vCPU threads (idempotent). */
void machine_stop(Machine *m);
/* machine_stop(), and the event loop exits with how. */
void machine_exit(Machine *m, MachineExit how);
/* Takes up to size bytes of the UART's output (the oldest first) out of its ring: how many. */
size_t machine_console_read(Machine *m, void *buf, size_t size);
const char *machine_name(Machine *m);
void machine_set_balloon_handler(Machine *m, machine_balloon_t handler, void *userdata);
/* How much RAM the guest is to keep (bytes), and how much it keeps now. */
void machine_balloon_set_target(Machine *m, uint64_t bytes);
uint64_t machine_balloon_actual(Machine *m);
uint64_t machine_ram_size(Machine *m);
/* Writes a snapshot of the paused machine into fd (a regular file, from offset 0). The disk is flushed
 * first: the snapshot's disk is of the moment of its RAM. incremental: a delta, with the RAM pages written
 * since the base only (-ENOENT without one). */
int machine_save(Machine *m, int fd, bool incremental);
/* Whether the machine has a base for an incremental snapshot: the full snapshot it was restored from (or
 * its delta's base), or the last full one it wrote. */
bool machine_has_base(Machine *m);
/* Makes what the guest wrote to its disk durable (an overlay's bitmap too); 0 without a disk. */
int machine_flush_disk(Machine *m);
