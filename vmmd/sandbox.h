/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A VMM's private view of the system: user, mount, network and IPC namespaces of its own, and a root
 * file system that holds only what it needs, at the same paths as outside (so its command line stays as
 * it is). Entered by the forked child before exec, without privileges: the user namespace gives it the
 * right to mount in its own mount namespace, and nothing outside. */
#pragma once

#include "util.h"

typedef struct Sandbox {
        /* Bound read-only: programs and libraries (/usr), the VM's image. */
        const char *const *read_only;
        /* Bound writable: the VM's own directory. */
        const char *const *writable;
        /* Device nodes beside /dev/null, zero, full, random, urandom: /dev/kvm with KVM. */
        const char *const *devices;
} Sandbox;

/* Enters the sandbox: for the forked child only (it changes the calling process for good). The uid and
 * gid stay what they are, mapped to themselves. Returns -errno, and what it was doing in step. */
int sandbox_enter(const Sandbox *s, char *step, size_t n);
