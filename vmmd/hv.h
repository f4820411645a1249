/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmm-hv driver's command line (hypervisor/hv/README.md): one pure function from a VM's configuration to
 * argv, like QEMU's (qemu.h). vmm-hv speaks the part of QMP that vmmd uses, so everything after the start is
 * the same for both. */
#pragma once

#include "vmm.h"

int hv_build_argv(const VmmConfig *c, char ***ret_argv);
