/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's command line: one pure function from a VM's configuration to argv. */
#pragma once

#include "util.h"

/* The fds the child gets: a listening QMP socket and a listening agent socket. */
#define QEMU_QMP_FD 3
#define QEMU_AGENT_FD 4
/* A golden snapshot's migration stream: written by a golden build, read by a clone (golden.h). */
#define QEMU_STATE_FD 5
#define QEMU_STATE_URI "fd:5"

/* The devices and actions every VM's QEMU has (qemu_build_argv()): a golden snapshot made with others
 * cannot be loaded, so its key includes this. Bump it with every change of them. 2: vmcoreinfo,
 * pvpanic-pci, -action instead of -no-reboot. */
#define QEMU_MACHINE_VERSION 2
/* Where "-m" puts the guest's RAM: its backend's "merge" turns KSM on and off while the guest runs. */
#define QEMU_RAM_OBJECT "/objects/mach-virt.ram"

/* The serial console's ring in the VMM (a power of two): the last 1 MiB the guest printed. */
#define QEMU_CONSOLE_RING_SIZE (1U << 20)

typedef struct QemuConfig {
        const char *binary;
        const char *name;
        const char *accel; /* "kvm" or "tcg" */
        uint64_t memory_mib;
        uint32_t vcpus;
        const char *kernel;
        const char *initrd;
        const char *cmdline;
        const char *disk_path; /* qcow2 overlay, or NULL */
        const char *loadvm;    /* an internal snapshot of the disk (with VM state) to start from, or NULL */
        bool incoming;         /* start from the migration stream at QEMU_STATE_FD (a clone) */
        bool golden_build; /* a golden build: its stream will be saved, and its clones must run at once */
        bool sandbox;      /* QEMU's own seccomp filter */
} QemuConfig;

/* The CPU model for an accelerator: the host's own with KVM. Under TCG the fastest model that boots the
 * persona's kernel: emulating pointer authentication and the other v8.x features of "max" costs time
 * (reference image to agent ready: cortex-a72 1.8 s, max,pauth=off 2.5 s, max 6 s). */
const char *qemu_cpu_model(const char *accel);

/* Doubles ',' so a value can stand inside a QEMU option list. */
char *qemu_escape_option(const char *s);

int qemu_build_argv(const QemuConfig *c, char ***ret_argv);
