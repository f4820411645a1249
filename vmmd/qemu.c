/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Builds the qemu-system-aarch64 command line for a persona VM. */
#include "qemu.h"

const char *qemu_cpu_model(const char *accel) {
        return streq(accel, "kvm") ? "host" : "cortex-a72";
}

char *qemu_escape_option(const char *s) {
        size_t n = strlen(s), commas = 0;
        char *r, *p;

        for (const char *c = s; *c; c++)
                commas += *c == ',';
        r = malloc(n + commas + 1);
        if (!r)
                return NULL;
        p = r;
        for (const char *c = s; *c; c++) {
                *p++ = *c;
                if (*c == ',')
                        *p++ = ',';
        }
        *p = 0;
        return r;
}

/* Appends "<prefix><escaped value><suffix>" as one argument. */
static int extend_escaped(char ***l, const char *prefix, const char *value, const char *suffix) {
        _cleanup_free_ char *e = qemu_escape_option(value);

        if (!e)
                return -ENOMEM;
        return strv_extendf(l, "%s%s%s", prefix, e, suffix);
}

int qemu_build_argv(const VmmConfig *c, char ***ret_argv) {
        _cleanup_strv_free_ char **a = NULL;
        bool kvm = streq(c->accel, "kvm");
        int r = 0;

        if (!streq(c->accel, "kvm") && !streq(c->accel, "tcg"))
                return -EINVAL;
        if (!c->binary || !c->name || !c->kernel || !c->initrd || c->vcpus == 0 || c->memory_mib == 0 ||
            c->disk_backing)
                return -EINVAL;

#define ADD(s) (r = r ?: strv_extend(&a, s))
#define ADDF(...) (r = r ?: strv_extendf(&a, __VA_ARGS__))
#define ADDE(p, v, s) (r = r ?: extend_escaped(&a, p, v, s))
        ADD(c->binary);
        ADD("-name");
        ADDE("guest=", c->name, ",debug-threads=on");
        ADD("-machine");
        /* KSM merges nothing of a guest until the memory policy says so (vm_set_memory_merge()): merged
         * pages tell one guest what another holds. */
        ADD("virt,gic-version=3,mem-merge=off");
        ADD("-accel");
        /* TCG: one host thread per vCPU. */
        ADD(kvm ? "kvm" : "tcg,thread=multi");
        ADD("-cpu");
        ADD(qemu_cpu_model(c->accel));
        ADD("-smp");
        ADDF("%" PRIu32, c->vcpus);
        ADD("-m");
        ADDF("%" PRIu64 "M", c->memory_mib);
        /* A reset or a power-off of the guest, or a panic it reports, leaves QEMU paused with the guest's
         * memory as it was: vmmd saves a crash bundle if it was a panic (vm-crash.c), then ends QEMU. After
         * a reset, it starts a fresh one (and notices reboot loops). */
        ADD("-action");
        ADD("reboot=shutdown,shutdown=pause,panic=pause");
        ADD("-nodefaults");
        ADD("-no-user-config");
        ADD("-display");
        ADD("none");
        if (c->sandbox) {
                ADD("-sandbox");
                ADD("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
        }
        /* A clone's RAM comes from the stream, kernel and all: loading them first would only cost time (40
         * ms of a 100 ms start). Its reboots start a QEMU that boots them. */
        if (!c->incoming) {
                ADD("-kernel");
                ADD(c->kernel);
                ADD("-initrd");
                ADD(c->initrd);
                if (c->cmdline) {
                        ADD("-append");
                        ADD(c->cmdline);
                }
        }
        /* vmmd made both sockets and already connected to them: no race with QEMU's start. */
        ADD("-chardev");
        ADDF("socket,id=qmp,fd=%d,server=on,wait=off", VMM_QMP_FD);
        ADD("-mon");
        ADD("chardev=qmp,mode=control");
        /* The serial console is the guest's to write: kept as a bounded ring in the VMM, never a file
         * that a guest could grow without end (QMP ringbuf-read reads it). */
        ADD("-chardev");
        ADDF("ringbuf,id=console,size=%u", QEMU_CONSOLE_RING_SIZE);
        ADD("-serial");
        ADD("chardev:console");
        /* The kernel writes its layout (KASLR offset, page tables, symbol tables) here, and a memory dump
         * carries it: what makes a crash dump readable. */
        ADD("-device");
        ADD("vmcoreinfo");
        /* A kernel with a pvpanic driver says that it panicked (GUEST_PANICKED); Debian's has none, and
         * its panic is told by the console. */
        ADD("-device");
        ADD("pvpanic-pci");
        ADD("-device");
        ADD("virtio-serial-pci,id=vser0");
        ADD("-chardev");
        ADDF("socket,id=agent,fd=%d,server=on,wait=off", VMM_AGENT_FD);
        ADD("-device");
        ADD("virtserialport,bus=vser0.0,chardev=agent,name=org.vmmd1.agent");
        /* Overcommit: the guest gives back what it frees (free page reporting: QEMU then drops those
         * pages) and what vmmd asks for (the balloon); under memory pressure in the guest the balloon
         * deflates first (deflate-on-oom), so the guest never dies for it. */
        ADD("-device");
        ADD("virtio-balloon-pci,id=balloon0,deflate-on-oom=on,free-page-reporting=on");
        if (c->display_width > 0) {
                /* The phone's screen at its size, and touch and keys. VNC listens nowhere: each viewer is
                 * a socket vmmd hands to QEMU (QMP add_client), so only who vmmd lets in sees the screen. */
                ADD("-device");
                ADDF("virtio-gpu-pci,xres=%" PRIu32 ",yres=%" PRIu32, c->display_width, c->display_height);
                ADD("-device");
                ADD("virtio-keyboard-pci");
                ADD("-device");
                ADD("virtio-tablet-pci");
                ADD("-vnc");
                ADD("none");
        }
        if (c->disk_path) {
                ADD("-blockdev");
                ADDE("driver=qcow2,node-name=disk0,discard=unmap,file.driver=file,file.filename=",
                     c->disk_path,
                     "");
                ADD("-device");
                ADD("virtio-blk-pci,drive=disk0");
        }
        if (c->loadvm) {
                /* Its state lives in the disk: nothing to load it from without one. */
                if (!c->disk_path)
                        return -EINVAL;
                ADD("-loadvm");
                ADD(c->loadvm);
        }
        if (c->incoming) {
                if (c->loadvm)
                        return -EINVAL;
                ADD("-incoming");
                ADD(QEMU_STATE_URI);
        }
        if (c->golden_build) {
                /* The stream then carries no run state, so a clone runs as soon as it is loaded, although
                 * the build was stopped to save it (QEMU would otherwise restore "paused"). */
                ADD("-global");
                ADD("migration.store-global-state=off");
        }
#undef ADD
#undef ADDF
#undef ADDE
        if (r < 0)
                return r;
        *ret_argv = TAKE_PTR(a);
        return 0;
}
