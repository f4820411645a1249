/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host probe: architecture, CPUs and RAM, and whether (and in which mode) KVM can run arm64 guests here. */
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

#include "probe.h"

/* syslog(2) actions; glibc's <sys/klog.h> has no names for them. */
#define SYSLOG_ACTION_READ_ALL 3
#define SYSLOG_ACTION_SIZE_BUFFER 10

/* GIC interrupt IDs of the arch timer PPIs (PPI n is INTID 16 + n). */
#define GIC_INTID_HYP_TIMER 26      /* CNTHP: EL2 physical timer */
#define GIC_INTID_VIRT_TIMER 27     /* CNTV: EL1 virtual timer, used by kernels without EL2 */
#define GIC_INTID_HYP_VIRT_TIMER 28 /* CNTHV: EL2 virtual timer */
#define GIC_INTID_PHYS_TIMER 30     /* CNTP: EL1 non-secure physical timer */

static const char *const kvm_mode_table[_KVM_MODE_MAX] = {
        [KVM_MODE_NONE] = "none",           [KVM_MODE_VHE] = "vhe",         [KVM_MODE_NVHE] = "nvhe",
        [KVM_MODE_PROTECTED] = "protected", [KVM_MODE_UNKNOWN] = "unknown",
};

DEFINE_STRING_TABLE_LOOKUP(kvm_mode, KvmMode, _KVM_MODE_MAX);

/* The end of the line starting at 'line': its '\n', or its terminating NUL. */
static const char *line_end(const char *line) {
        const char *e = strchr(line, '\n');

        return e ? e : line + strlen(line);
}

/* 'needle' in the n bytes at 's' (memmem() without needing _GNU_SOURCE), or NULL. */
static const char *find_n(const char *s, size_t n, const char *needle) {
        size_t l = strlen(needle);

        for (size_t i = 0; l <= n && i <= n - l; i++)
                if (memcmp(s + i, needle, l) == 0)
                        return s + i;
        return NULL;
}

static bool startswith_n(const char *s, size_t n, const char *prefix) {
        size_t l = strlen(prefix);

        return n >= l && memcmp(s, prefix, l) == 0;
}

/* Returns the next whitespace-separated token in [*p, end) and advances *p past it, or NULL. */
static const char *next_token(const char **p, const char *end, size_t *ret_len) {
        const char *s = *p, *t;

        while (s < end && isspace((unsigned char) *s))
                s++;
        if (s >= end)
                return NULL;
        for (t = s; t < end && !isspace((unsigned char) *t); t++)
                ;
        *p = t;
        *ret_len = t - s;
        return s;
}

static bool token_is(const char *t, size_t n, const char *word) {
        return n == strlen(word) && memcmp(t, word, n) == 0;
}

static bool token_is_number(const char *t, size_t n, unsigned *ret) {
        unsigned v = 0;

        if (n == 0 || n > 9)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (!isdigit((unsigned char) t[i]))
                        return false;
                v = v * 10 + (unsigned) (t[i] - '0');
        }
        *ret = v;
        return true;
}

/* The value of the last "kvm-arm.mode=" on the command line (the kernel applies them in order), or NULL. */
static const char *cmdline_kvm_arm_mode(const char *cmdline, size_t *ret_len) {
        const char *p = cmdline, *end, *t, *found = NULL;
        size_t n;

        if (!cmdline)
                return NULL;
        end = cmdline + strlen(cmdline);
        while ((t = next_token(&p, end, &n)))
                if (startswith_n(t, n, "kvm-arm.mode=")) {
                        found = t + strlen("kvm-arm.mode=");
                        *ret_len = n - strlen("kvm-arm.mode=");
                }
        return found;
}

static bool cmdline_kvm_arm_mode_is(const char *cmdline, const char *mode) {
        const char *v;
        size_t n;

        v = cmdline_kvm_arm_mode(cmdline, &n);
        return v && token_is(v, n, mode);
}

KvmMode kvm_mode_from_kernel_log(const char *log) {
        static const char marker[] = "mode initialized successfully";
        KvmMode mode = KVM_MODE_UNKNOWN;

        if (!log)
                return KVM_MODE_UNKNOWN;

        for (const char *line = log; *line;) {
                const char *eol = line_end(line), *k, *m, *w;

                /* "kvm [1]: VHE mode initialized successfully", "kvm [1]: Hyp mode initialized
                 * successfully" (older nVHE), "kvm [1]: Hyp nVHE mode …"/"Hyp hVHE mode …", and
                 * "kvm [1]: Protected nVHE mode …"/"Protected hVHE mode …". hVHE runs the host kernel
                 * at EL1 like nVHE does, so it counts as nvhe. */
                k = find_n(line, eol - line, "kvm [");
                m = find_n(line, eol - line, marker);
                if (k && m && k < m && (w = memchr(k, ']', m - k)) && startswith_n(w, m - w, "]: ")) {
                        w += strlen("]: ");
                        if (startswith_n(w, m - w, "Protected "))
                                mode = KVM_MODE_PROTECTED;
                        else if (startswith_n(w, m - w, "Hyp "))
                                mode = KVM_MODE_NVHE;
                        else if (startswith_n(w, m - w, "VHE "))
                                mode = KVM_MODE_VHE;
                }

                line = *eol ? eol + 1 : eol;
        }

        return mode;
}

KvmMode kvm_mode_from_interrupts(const char *interrupts, const char *cmdline) {
        bool found = false;
        unsigned intid = 0;

        if (!interrupts)
                return KVM_MODE_UNKNOWN;

        /* A line looks like " 10:  2360  1990  GICv3  26 Level  arch_timer": counts per CPU, the chip,
         * the hardware IRQ number, the trigger and the action's name. Only a GIC's hwirq is its INTID
         * (Apple's AIC, for one, numbers its timer FIQs differently). */
        for (const char *line = interrupts; *line && !found;) {
                const char *eol = line_end(line), *p = line, *t, *prev = NULL;
                size_t n, prev_n = 0;
                bool is_timer = false, have_intid = false;
                unsigned v = 0;

                while ((t = next_token(&p, eol, &n))) {
                        if (token_is(t, n, "arch_timer"))
                                is_timer = true;
                        else if (!have_intid && prev && startswith_n(prev, prev_n, "GIC") && token_is_number(t, n, &v))
                                have_intid = true;
                        prev = t;
                        prev_n = n;
                }
                if (is_timer && have_intid) {
                        found = true;
                        intid = v;
                }

                line = *eol ? eol + 1 : eol;
        }

        if (!found)
                return KVM_MODE_UNKNOWN;

        switch (intid) {
        case GIC_INTID_HYP_TIMER:
        case GIC_INTID_HYP_VIRT_TIMER:
                /* The kernel itself runs at EL2, which only VHE does. */
                return KVM_MODE_VHE;
        case GIC_INTID_PHYS_TIMER:
                /* The kernel runs at EL1 and the EL1 physical timer is free because EL2 is there: a
                 * hyp below the kernel. Protected only if asked for; it never runs the host at EL2. */
                return cmdline_kvm_arm_mode_is(cmdline, "protected") ? KVM_MODE_PROTECTED : KVM_MODE_NVHE;
        case GIC_INTID_VIRT_TIMER:
                /* The kernel found no EL2 to take the physical timer from: no hypervisor mode, no KVM. */
                return KVM_MODE_NONE;
        default:
                return KVM_MODE_UNKNOWN;
        }
}

/* Formats a reason into a fixed buffer, appending to what is there; a reason too long for it is cut
 * short, which is fine for a message. Keeps errno for "%m". */
_printf_(3, 4) static void reason_append(char *buf, size_t size, const char *fmt, ...) {
        size_t l = strnlen(buf, size);
        va_list ap;

        if (l + 1 >= size)
                return;
        va_start(ap, fmt);
        (void) vsnprintf(buf + l, size - l, fmt, ap);
        va_end(ap);
}

static const char *indefinite_article(const char *word) {
        /* Good enough for machine names: "an x86_64", "an aarch64", "a riscv64", "a ppc64le". */
        return word[0] && strchr("aeiouxAEIOUX", word[0]) ? "an" : "a";
}

/* The first line of dir/name, without its newline; "" if unreadable. */
static void read_sysfs_line(int dfd, const char *name, char *buf, size_t size) {
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        ssize_t k = fd >= 0 ? read(fd, buf, size - 1) : -1;

        buf[k > 0 ? (size_t) k : 0] = 0;
        buf[strcspn(buf, "\n")] = 0;
}

int interrupts_from_sysfs(const char *irq_dir, char **ret) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int dfd = open(irq_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        size_t n = 0;
        DIR *d;

        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d)
                return -errno;
        dfd = -EBADF; /* d's now */
        for (struct dirent *de; (de = readdir(d));) {
                char chip[64], hwirq[32], actions[256], line[400];
                _cleanup_close_ int fd = -EBADF;
                size_t k;
                char *t;

                if (de->d_name[0] == '.')
                        continue;
                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                read_sysfs_line(fd, "chip_name", chip, sizeof(chip));
                read_sysfs_line(fd, "hwirq", hwirq, sizeof(hwirq));
                read_sysfs_line(fd, "actions", actions, sizeof(actions));
                if (!*chip || !*hwirq)
                        continue;
                k = (size_t) snprintf(
                        line, sizeof(line), " %s: 0 %s %s Level %s\n", de->d_name, chip, hwirq, actions);
                if (k >= sizeof(line))
                        continue;
                t = realloc(text, n + k + 1);
                if (!t) {
                        closedir(d);
                        return -ENOMEM;
                }
                text = t;
                memcpy(text + n, line, k + 1);
                n += k;
        }
        closedir(d);
        if (!text)
                return -ENODATA;
        *ret = TAKE_PTR(text);
        return 0;
}

/* /proc/interrupts, else the same from sysfs. */
static int read_interrupts(char **ret) {
        return read_full_file("/proc/interrupts", ret, NULL) >= 0 ?
                0 :
                interrupts_from_sysfs("/sys/kernel/irq", ret);
}

/* /proc/cmdline, else what the boot loader gave the kernel in the device tree. */
static int read_cmdline(char **ret) {
        return read_full_file("/proc/cmdline", ret, NULL) >= 0 ?
                0 :
                read_full_file("/sys/firmware/devicetree/base/chosen/bootargs", ret, NULL);
}

#if defined(__aarch64__)
static int read_kernel_log(char **ret) {
        _cleanup_free_ char *buf = NULL;
        int size, n;

        /* Needs CAP_SYSLOG when kernel.dmesg_restrict=1. */
        size = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0);
        if (size < 0)
                return -errno;
        if (size == 0)
                return -ENODATA;
        buf = malloc((size_t) size + 1);
        if (!buf)
                return -ENOMEM;
        n = klogctl(SYSLOG_ACTION_READ_ALL, buf, size);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

static void probe_mode(HostInfo *h) {
        _cleanup_free_ char *log = NULL, *interrupts = NULL, *cmdline = NULL;
        KvmMode m;

        if (read_kernel_log(&log) >= 0) {
                m = kvm_mode_from_kernel_log(log);
                if (m != KVM_MODE_UNKNOWN) {
                        h->mode = m;
                        h->mode_source = "kernel log";
                        return;
                }
        }

        if (read_interrupts(&interrupts) >= 0) {
                (void) read_cmdline(&cmdline);
                m = kvm_mode_from_interrupts(interrupts, cmdline);
                /* KVM_MODE_NONE (no EL2) contradicts the VM just created: the text is not understood. */
                if (!IN_SET(m, KVM_MODE_UNKNOWN, KVM_MODE_NONE)) {
                        h->mode = m;
                        h->mode_source = m == KVM_MODE_PROTECTED ?
                                "arch timer interrupt and kernel command line" :
                                "arch timer interrupt";
                        return;
                }
        }

        h->mode = KVM_MODE_UNKNOWN;
        h->mode_source = NULL;
}

/* 'kvm_fd' answered KVM_GET_API_VERSION with 12: try a VM and read what it offers. */
static void probe_arm64(int kvm_fd, HostInfo *h) {
        _cleanup_close_ int vm_fd = -EBADF;
        unsigned long type = 0;
        int ipa, r;

        /* Without the capability the IPA space is fixed at 40 bits and the VM type must be 0. */
        ipa = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);
        if (ipa > 0)
                type = KVM_VM_TYPE_ARM_IPA_SIZE(ipa);

        vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, type);
        if (vm_fd < 0) {
                if (ipa > 0)
                        reason_append(
                                h->reason, sizeof h->reason, "KVM_CREATE_VM failed (%i-bit IPA): %m", ipa);
                else
                        reason_append(h->reason, sizeof h->reason, "KVM_CREATE_VM failed: %m");
                return;
        }

        h->kvm_usable = true;
        reason_append(h->reason, sizeof h->reason, "KVM_CREATE_VM succeeded");
        h->ipa_bits = ipa > 0 ? (unsigned) ipa : 40;

        /* Ask the VM: on arm64 the vCPU limit depends on the VM's interrupt controller. */
        if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_CHECK_EXTENSION_VM) > 0)
                r = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
        else
                r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
        if (r <= 0) /* KVM_CAP_MAX_VCPUS is absent: the recommended number is then the maximum */
                r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
        h->max_vcpus = r > 0 ? (unsigned) r : 0;

        /* KVM_CREATE_DEVICE_TEST asks whether the device type can be created without creating it; KVM
         * registers the vGICv3 only on GICv3 hosts, and the vGICv2 on GICv2 hosts and GICv3 hosts with
         * the v2 compatibility interface. */
        struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_V3, .flags = KVM_CREATE_DEVICE_TEST };
        if (ioctl(vm_fd, KVM_CREATE_DEVICE, &cd) == 0)
                h->gic_version = 3;
        else {
                cd = (struct kvm_create_device){ .type = KVM_DEV_TYPE_ARM_VGIC_V2,
                                                 .flags = KVM_CREATE_DEVICE_TEST };
                h->gic_version = ioctl(vm_fd, KVM_CREATE_DEVICE, &cd) == 0 ? 2 : 0;
        }

        probe_mode(h);
}
#endif

/* Opens 'path' and checks that it speaks the KVM API. Returns the fd, or -errno with 'why' explaining. */
static int open_kvm(const char *path, bool arm64, HostInfo *h, char *why, size_t why_size) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int v;

        fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;

                if (r == -ENOENT) {
                        _cleanup_free_ char *cmdline = NULL, *interrupts = NULL;

                        if (arm64) {
                                (void) read_cmdline(&cmdline);
                                (void) read_interrupts(&interrupts);
                        }
                        if (arm64 && cmdline_kvm_arm_mode_is(cmdline, "none"))
                                reason_append(why, why_size, "no %s (KVM disabled by kvm-arm.mode=none)", path);
                        else if (arm64 && kvm_mode_from_interrupts(interrupts, cmdline) == KVM_MODE_NONE)
                                reason_append(
                                        why, why_size, "no %s (no EL2: the kernel was not booted at EL2)", path);
                        else if (arm64)
                                reason_append(why, why_size, "no %s (module not loaded or no EL2)", path);
                        else
                                reason_append(why, why_size, "%s does not exist", path);
                } else if (r == -EACCES || r == -EPERM)
                        reason_append(why, why_size, "permission denied opening %s", path);
                else
                        reason_append(why, why_size, "cannot open %s: %m", path);
                return r;
        }

        if (fstat(fd, &st) < 0) {
                int r = -errno;

                reason_append(why, why_size, "cannot stat %s: %m", path);
                return r;
        }
        if (!S_ISCHR(st.st_mode)) {
                reason_append(why, why_size, "%s is not a KVM device (not a character device)", path);
                return -ENOTTY;
        }

        v = ioctl(fd, KVM_GET_API_VERSION, 0);
        if (v < 0) {
                int r = -errno;

                reason_append(why, why_size, "%s is not a KVM device (KVM_GET_API_VERSION failed: %m)", path);
                return r;
        }
        h->api_version = v;
        if (v != KVM_API_VERSION) {
                reason_append(
                        why, why_size, "%s speaks KVM API version %i, expected %i", path, v, KVM_API_VERSION);
                return -EPROTO;
        }

        return TAKE_FD(fd);
}

static void probe_kvm(const char *kvm_path, HostInfo *h) {
        _cleanup_close_ int fd = -EBADF;
        char why[sizeof h->reason] = "";
        bool arm64 = streq(h->arch, "aarch64");

        h->mode = KVM_MODE_NONE;
        fd = open_kvm(kvm_path, arm64, h, why, sizeof why);

        if (!arm64) {
                /* The architecture is the reason that matters; the state of the device is a footnote. */
                reason_append(
                        h->reason,
                        sizeof h->reason,
                        "KVM cannot run arm64 guests on %s %s host",
                        indefinite_article(h->arch),
                        h->arch);
                if (fd >= 0)
                        reason_append(
                                h->reason, sizeof h->reason, " (%s runs %s guests only)", kvm_path, h->arch);
                else
                        reason_append(h->reason, sizeof h->reason, "; also, %s", why);
                return;
        }
        if (fd < 0) {
                memcpy(h->reason, why, sizeof h->reason);
                return;
        }

#if defined(__aarch64__)
        probe_arm64(fd, h);
#else
        reason_append(
                h->reason,
                sizeof h->reason,
                "this build is not for aarch64, so it cannot drive KVM on this aarch64 host");
#endif
}

int host_probe(const char *kvm_path, HostInfo *ret) {
        HostInfo h = {};
        struct utsname u;
        struct sysinfo si;
        long n;

        assert(kvm_path);
        assert(ret);

        if (uname(&u) < 0)
                return -errno;
        if (strlen(u.machine) >= sizeof h.arch)
                return -ENAMETOOLONG;
        strcpy(h.arch, u.machine);

        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 0)
                return -errno;
        h.cpus = (unsigned) MAX(n, 1L);

        if (sysinfo(&si) < 0)
                return -errno;
        h.memory_mib = (uint64_t) si.totalram * si.mem_unit / (1024 * 1024);

        probe_kvm(kvm_path, &h);

        *ret = h;
        return 0;
}
