/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl's exit statuses: scripts branch on them, so they are part of its interface (see README.md). */
#pragma once

typedef enum VmctlExit {
        VMCTL_EXIT_SUCCESS = 0,
        VMCTL_EXIT_FAILURE = 1,        /* the operation failed (Failed, any other D-Bus error) */
        VMCTL_EXIT_USAGE = 2,          /* invalid usage, or InvalidArgument from vmmd */
        VMCTL_EXIT_NOT_FOUND = 3,      /* NoSuchVM, NoSuchPersona, NoSuchSnapshot, NoSuchCrash, ... */
        VMCTL_EXIT_CONFLICT = 4,       /* InvalidState, Exists, Busy */
        VMCTL_EXIT_VM_FAILED = 5,      /* the VM or golden build failed, stopped or vanished meanwhile */
        VMCTL_EXIT_TIMEOUT = 6,        /* --timeout passed while waiting */
        VMCTL_EXIT_UNREACHABLE = 7,    /* no bus, vmmd not running, not answering, or gone while waiting */
        VMCTL_EXIT_IMAGE_CORRUPT = 8,  /* ImageCorrupt */
        VMCTL_EXIT_NO_MEMORY = 9,      /* InsufficientMemory */
        VMCTL_EXIT_ACCESS_DENIED = 10, /* AccessDenied (from vmmd or the bus policy) */
        _VMCTL_EXIT_MAX,
} VmctlExit;
