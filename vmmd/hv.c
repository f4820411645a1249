/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Builds the vmm-hv command line for a persona VM. */
#include "hv.h"

int hv_build_argv(const VmmConfig *c, char ***ret_argv) {
        _cleanup_strv_free_ char **a = NULL;
        int r = 0;

        /* KVM only; and vmm-hv has no qcow2, so no internal snapshots to start from. */
        if (!streq_ptr(c->accel, "kvm") || c->loadvm)
                return -EINVAL;
        /* No screen in vmm-hv. */
        if (c->display_width > 0)
                return -EINVAL;
        if (!c->binary || !c->name || c->vcpus == 0 || c->memory_mib == 0 ||
            (c->disk_backing && !c->disk_path))
                return -EINVAL;
        if (!c->incoming && (!c->kernel || !c->initrd))
                return -EINVAL;

#define ADD(s) (r = r ?: strv_extend(&a, s))
#define ADDF(...) (r = r ?: strv_extendf(&a, __VA_ARGS__))
        ADD(c->binary);
        ADDF("--name=%s", c->name);
        ADDF("--memory=%" PRIu64, c->memory_mib);
        ADDF("--cpus=%" PRIu32, c->vcpus);
        /* The same fds as QEMU's, made and connected to by vmmd before the start. */
        ADDF("--qmp-fd=%d", VMM_QMP_FD);
        ADDF("--agent-fd=%d", VMM_AGENT_FD);
        /* The console is the guest's to write: only in vmm-hv's bounded ring (QMP ringbuf-read), never in
         * a file that a guest could grow without end. */
        ADD("--console-fd=none");
        if (c->incoming)
                /* A clone: RAM, registers and devices from the golden state, the kernel with them. */
                ADDF("--restore-fd=%d", VMM_STATE_FD);
        else {
                ADDF("--kernel=%s", c->kernel);
                ADDF("--initrd=%s", c->initrd);
                if (c->cmdline)
                        ADDF("--append=%s", c->cmdline);
        }
        if (c->disk_path) {
                ADDF("--disk=%s", c->disk_path);
                if (c->disk_backing)
                        ADDF("--disk-backing=%s", c->disk_backing);
        }
        /* A golden build needs nothing of its own: a restored vmm-hv runs at once. */
#undef ADD
#undef ADDF
        if (r < 0)
                return r;
        *ret_argv = TAKE_PTR(a);
        return 0;
}
