/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a VM's VMM is started with, whichever it is (persona.h's VmmKind): QEMU (qemu.h) or vmm-hv (hv.h).
 * Each makes its command line from this with one pure function. */
#pragma once

#include "persona.h"
#include "util.h"

/* The fds the child gets, in both VMMs: a listening QMP socket and a listening agent socket; a clone's
 * saved state (golden.h) too, written by a golden build's VMM over QMP and read by a clone's. */
#define VMM_QMP_FD 3
#define VMM_AGENT_FD 4
#define VMM_STATE_FD 5

typedef struct VmmConfig {
        const char *binary;
        const char *name;
        const char *accel; /* "kvm" or "tcg" (vmm-hv: "kvm" only) */
        uint64_t memory_mib;
        uint32_t vcpus;
        const char *kernel;
        const char *initrd;
        const char *cmdline;
        const char *disk_path; /* QEMU: qcow2 overlay; vmm-hv: raw, or its overlay on disk_backing; or NULL */
        const char *disk_backing; /* vmm-hv: the raw read-only disk under disk_path (a clone's), or NULL */
        const char *loadvm;       /* QEMU: an internal snapshot of the disk (with VM state) to start from */
        bool incoming;            /* start from the saved state at VMM_STATE_FD (a clone) */
        bool golden_build; /* a golden build: its state will be saved, and its clones must run at once */
        bool sandbox;      /* QEMU's own seccomp filter */
        /* QEMU: the screen (virtio-gpu, with a keyboard and a touch tablet), served by VNC to the sockets
         * vmmd hands it (vm-display.c); 0: none. vmm-hv has no display. */
        uint32_t display_width, display_height;
} VmmConfig;

/* argv for kind's VMM: -EINVAL for what the configuration lacks or the VMM cannot do. */
int vmm_build_argv(VmmKind kind, const VmmConfig *c, char ***ret_argv);

/* The VMM's name, for people ("QEMU", "vmm-hv"), and its log file in the VM's runtime directory. */
const char *vmm_display_name(VmmKind kind);
const char *vmm_log_name(VmmKind kind);
