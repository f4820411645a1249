/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's command line: one pure function from a VM's configuration to argv. */
#pragma once

#include "vmm.h"

#define QEMU_STATE_URI "fd:5" /* VMM_STATE_FD */

/* The devices and actions every VM's QEMU has (qemu_build_argv()): a golden snapshot made with others
 * cannot be loaded, so its key includes this. Bump it with every change of them. 2: vmcoreinfo,
 * pvpanic-pci, -action instead of -no-reboot. */
#define QEMU_MACHINE_VERSION 2
/* Where "-m" puts the guest's RAM: its backend's "merge" turns KSM on and off while the guest runs. */
#define QEMU_RAM_OBJECT "/objects/mach-virt.ram"

/* The serial console's ring in the VMM (a power of two): the last 1 MiB the guest printed. */
#define QEMU_CONSOLE_RING_SIZE (1U << 20)

/* The CPU model for an accelerator: the host's own with KVM. Under TCG the fastest model that boots the
 * persona's kernel: emulating pointer authentication and the other v8.x features of "max" costs time
 * (reference image to agent ready: cortex-a72 1.8 s, max,pauth=off 2.5 s, max 6 s). */
const char *qemu_cpu_model(const char *accel);

/* Doubles ',' so a value can stand inside a QEMU option list. */
char *qemu_escape_option(const char *s);

int qemu_build_argv(const VmmConfig *c, char ***ret_argv);
