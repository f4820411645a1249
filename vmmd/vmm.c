/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VMM kinds' command lines and names. */
#include "hv.h"
#include "qemu.h"

int vmm_build_argv(VmmKind kind, const VmmConfig *c, char ***ret_argv) {
        switch (kind) {
        case VMM_QEMU:
                return qemu_build_argv(c, ret_argv);
        case VMM_HV:
                return hv_build_argv(c, ret_argv);
        default:
                return -EINVAL;
        }
}

const char *vmm_display_name(VmmKind kind) {
        return kind == VMM_HV ? "vmm-hv" : "QEMU";
}

const char *vmm_log_name(VmmKind kind) {
        return kind == VMM_HV ? "vmm-hv.log" : "qemu.log";
}
