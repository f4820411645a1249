/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host probe: real no-KVM paths on this machine, the mode heuristics on recorded kernel text. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "probe.h"

static bool contains(const char *haystack, const char *needle) {
        return strstr(haystack, needle) != NULL;
}

static unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        assert(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static uint64_t meminfo_total_mib(void) {
        _cleanup_free_ char *s = NULL;
        unsigned long long kib;
        const char *p;

        assert(read_full_file("/proc/meminfo", &s, NULL) >= 0);
        p = strstr(s, "MemTotal:");
        assert(p);
        assert(sscanf(p, "MemTotal: %llu kB", &kib) == 1);
        return kib / 1024;
}

/* Asserts what every probe result holds, KVM or not. */
static void check_host_fields(const HostInfo *h) {
        struct utsname u;
        uint64_t mib = meminfo_total_mib();

        assert(uname(&u) >= 0);
        assert(streq(h->arch, u.machine));
        assert(h->cpus == (unsigned) sysconf(_SC_NPROCESSORS_ONLN));
        assert(h->cpus >= 1);
        /* sysinfo and /proc/meminfo read the same counter; allow a MiB of rounding. */
        assert(h->memory_mib > 0);
        assert(h->memory_mib + 1 >= mib && h->memory_mib <= mib + 1);
        assert(h->reason[0]);
        assert(strnlen(h->reason, sizeof h->reason) < sizeof h->reason);
}

static void check_unusable(const HostInfo *h) {
        check_host_fields(h);
        assert(!h->kvm_usable);
        assert(h->mode == KVM_MODE_NONE);
        assert(!h->mode_source);
        assert(h->ipa_bits == 0);
        assert(h->gic_version == 0);
        assert(h->max_vcpus == 0);
        assert(!streq(h->reason, "KVM_CREATE_VM succeeded"));
}

static void check_arch_reason(const HostInfo *h) {
#if defined(__aarch64__)
        (void) h;
#else
        char expect[128];

        snprintf(expect, sizeof expect, "KVM cannot run arm64 guests on an %s host", h->arch);
        assert(contains(h->reason, expect));
#endif
}

static void test_missing_device(const char *dir) {
        _cleanup_free_ char *path = NULL;
        HostInfo h;

        assert(asprintf(&path, "%s/no-such-kvm", dir) >= 0);
        assert(host_probe(path, &h) == 0);
        printf("missing:   %s\n", h.reason);
        check_unusable(&h);
        check_arch_reason(&h);
        assert(h.api_version == 0);
#if defined(__aarch64__)
        char expect[PATH_MAX + 8];

        snprintf(expect, sizeof expect, "no %s (", path);
        assert(contains(h.reason, expect));
        assert(contains(h.reason, "(module not loaded or no EL2)") ||
               contains(h.reason, "(no EL2: the kernel was not booted at EL2)") ||
               contains(h.reason, "(KVM disabled by kvm-arm.mode=none)"));
#else
        assert(contains(h.reason, path));
        assert(contains(h.reason, "does not exist"));
#endif
}

static void test_regular_file(const char *dir) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        HostInfo h;

        assert(asprintf(&path, "%s/kvm-lookalike", dir) >= 0);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert(fd >= 0);
        assert(host_probe(path, &h) == 0);
        printf("file:      %s\n", h.reason);
        check_unusable(&h);
        check_arch_reason(&h);
        assert(h.api_version == 0);
        assert(contains(h.reason, path));
        assert(contains(h.reason, "is not a KVM device (not a character device)"));
}

static void test_directory(const char *dir) {
        HostInfo h;

        assert(host_probe(dir, &h) == 0);
        printf("directory: %s\n", h.reason);
        check_unusable(&h);
        check_arch_reason(&h);
        assert(contains(h.reason, "cannot open"));
        assert(contains(h.reason, dir));
        assert(contains(h.reason, strerror(EISDIR)));
}

static void test_dev_null(void) {
        HostInfo h;

        assert(host_probe("/dev/null", &h) == 0);
        printf("/dev/null: %s\n", h.reason);
        check_unusable(&h);
        check_arch_reason(&h);
        assert(h.api_version == 0);
        /* ENOTTY from a kernel, ENOSYS under qemu-user: which errno is not the point */
        assert(contains(h.reason, "/dev/null is not a KVM device (KVM_GET_API_VERSION failed: "));
}

/* A file only its owner may open, probed by someone else: a real EACCES, not a simulated one. */
static void test_permission_denied(const char *dir) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        int status;
        pid_t pid;

        assert(asprintf(&path, "%s/kvm-private", dir) >= 0);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0000);
        assert(fd >= 0);
        if (geteuid() == 0)
                /* root ignores modes; the child drops to nobody, who must still reach the directory. */
                assert(chmod(dir, 0711) >= 0);

        fflush(stdout); /* or the child writes our buffered lines again */
        pid = fork();
        assert(pid >= 0);
        if (pid == 0) {
                HostInfo h;

                if (geteuid() == 0 && setgroups(0, NULL) < 0)
                        _exit(9);
                if (geteuid() == 0 && setresgid(65534, 65534, 65534) < 0)
                        _exit(10);
                if (geteuid() == 0 && setresuid(65534, 65534, 65534) < 0)
                        _exit(11);
                if (host_probe(path, &h) != 0)
                        _exit(12);
                printf("denied:    %s\n", h.reason);
                fflush(stdout);
                if (h.kvm_usable || h.mode != KVM_MODE_NONE)
                        _exit(13);
                if (!contains(h.reason, "permission denied opening ") || !contains(h.reason, path))
                        _exit(14);
                _exit(0);
        }
        assert(waitpid(pid, &status, 0) == pid);
        assert(WIFEXITED(status));
        assert(WEXITSTATUS(status) == 0);
}

static void test_real_kvm(void) {
        HostInfo h;

        assert(host_probe("/dev/kvm", &h) == 0);
        printf("/dev/kvm:  %s\n", h.reason);
        printf("           arch=%s cpus=%u memory_mib=%" PRIu64 " api_version=%i mode=%s (%s) ipa_bits=%u "
               "gic_version=%u max_vcpus=%u\n",
               h.arch,
               h.cpus,
               h.memory_mib,
               h.api_version,
               kvm_mode_to_string(h.mode),
               strna(h.mode_source),
               h.ipa_bits,
               h.gic_version,
               h.max_vcpus);
        check_host_fields(&h);

#if defined(__aarch64__)
        if (h.kvm_usable) {
                assert(streq(h.reason, "KVM_CREATE_VM succeeded"));
                assert(h.api_version == 12);
                assert(h.ipa_bits >= 32 && h.ipa_bits <= 52);
                assert(h.gic_version == 2 || h.gic_version == 3);
                assert(h.max_vcpus >= 1);
                assert(h.mode == KVM_MODE_VHE || h.mode == KVM_MODE_NVHE || h.mode == KVM_MODE_PROTECTED ||
                       h.mode == KVM_MODE_UNKNOWN);
                assert((h.mode == KVM_MODE_UNKNOWN) == !h.mode_source);
        } else
                check_unusable(&h);
#else
        /* This machine may well have a working /dev/kvm, for x86 guests: it must not count. */
        check_unusable(&h);
        check_arch_reason(&h);
        if (access("/dev/kvm", F_OK) < 0)
                assert(contains(h.reason, "/dev/kvm does not exist"));
        else if (h.api_version == 12)
                assert(contains(h.reason, "(/dev/kvm runs "));
#endif
}

static void test_no_fd_leaks(const char *dir) {
        _cleanup_free_ char *path = NULL;
        unsigned before = count_fds();
        HostInfo h;

        assert(asprintf(&path, "%s/kvm-lookalike", dir) >= 0);
        for (int i = 0; i < 64; i++) {
                assert(host_probe("/dev/kvm", &h) == 0);
                assert(host_probe("/dev/null", &h) == 0);
                assert(host_probe(path, &h) == 0);
                assert(host_probe(dir, &h) == 0);
        }
        assert(count_fds() == before);
}

/* Every field is written, whatever the caller's struct held before. */
static void test_output_fully_written(void) {
        HostInfo h;

        memset(&h, 0x5a, sizeof h);
        assert(host_probe("/dev/null", &h) == 0);
        check_unusable(&h);
        assert(h.api_version == 0);
}

static void test_mode_table(void) {
        for (KvmMode m = 0; m < _KVM_MODE_MAX; m++) {
                const char *s = kvm_mode_to_string(m);

                assert(s);
                assert(kvm_mode_from_string(s) == m);
        }
        assert(streq(kvm_mode_to_string(KVM_MODE_NONE), "none"));
        assert(streq(kvm_mode_to_string(KVM_MODE_VHE), "vhe"));
        assert(streq(kvm_mode_to_string(KVM_MODE_NVHE), "nvhe"));
        assert(streq(kvm_mode_to_string(KVM_MODE_PROTECTED), "protected"));
        assert(streq(kvm_mode_to_string(KVM_MODE_UNKNOWN), "unknown"));
        assert(!kvm_mode_to_string(_KVM_MODE_MAX));
        assert(!kvm_mode_to_string(_KVM_MODE_INVALID));
        assert(kvm_mode_from_string("VHE") == _KVM_MODE_INVALID);
        assert(kvm_mode_from_string("") == _KVM_MODE_INVALID);
        assert(kvm_mode_from_string(NULL) == _KVM_MODE_INVALID);
}

/* Lines as the kernel prints them (syslog prefix included, as klogctl returns them). */
static const char boot_log[] = "<6>[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x000f0510]\n"
                               "<6>[    0.512009] kvm [1]: IPA Size Limit: 48 bits\n"
                               "<6>[    0.514221] kvm [1]: GICv3: no GICV resource entry\n"
                               "<6>[    0.515555] kvm [1]: vgic interrupt IRQ9\n";

/* The boot log above followed by 'line'. */
static KvmMode mode_of_log_with(const char *line) {
        char buf[1024];

        assert((size_t) snprintf(buf, sizeof buf, "%s<6>[    0.519042] %s", boot_log, line) < sizeof buf);
        return kvm_mode_from_kernel_log(buf);
}

static void test_mode_from_kernel_log(void) {
        assert(mode_of_log_with("kvm [1]: VHE mode initialized successfully\n") == KVM_MODE_VHE);
        assert(mode_of_log_with("kvm [1]: Hyp mode initialized successfully\n") == KVM_MODE_NVHE);
        assert(mode_of_log_with("kvm [1]: Hyp nVHE mode initialized successfully\n") == KVM_MODE_NVHE);
        assert(mode_of_log_with("kvm [1]: Hyp hVHE mode initialized successfully\n") == KVM_MODE_NVHE);
        /* "Protected nVHE mode initialized" contains "VHE mode initialized": must not read as VHE. */
        assert(mode_of_log_with("kvm [1]: Protected nVHE mode initialized successfully\n") ==
               KVM_MODE_PROTECTED);
        assert(mode_of_log_with("kvm [1]: Protected hVHE mode initialized successfully") == /* no newline */
               KVM_MODE_PROTECTED);
        /* dmesg's own format, without the syslog prefix */
        assert(kvm_mode_from_kernel_log("[    0.5] kvm [1]: VHE mode initialized successfully") ==
               KVM_MODE_VHE);

        assert(kvm_mode_from_kernel_log(boot_log) == KVM_MODE_UNKNOWN);
        assert(mode_of_log_with("kvm [1]: HYP mode not available\n") == KVM_MODE_UNKNOWN);
        /* Someone else's message does not count. */
        assert(mode_of_log_with("foo: VHE mode initialized successfully\n") == KVM_MODE_UNKNOWN);
        assert(mode_of_log_with("VHE mode initialized successfully, says kvm [1]\n") == KVM_MODE_UNKNOWN);
        assert(kvm_mode_from_kernel_log("") == KVM_MODE_UNKNOWN);
        assert(kvm_mode_from_kernel_log(NULL) == KVM_MODE_UNKNOWN);
}

static void test_mode_from_interrupts(void) {
        /* Shape of /proc/interrupts on arm64 (Linux 6.1, QEMU virt, GICv3), with the timer line varied. */
        static const char head[] = "           CPU0       CPU1       \n"
                                   " 11:          0          0     GICv3  27 Level     kvm guest vtimer\n";
        static const char tail[] = " 13:          0          0     GICv3  25 Level     vgic\n"
                                   " 15:         57          0     GICv3  33 Level     uart-pl011\n"
                                   "IPI0:       410        523       Rescheduling interrupts\n"
                                   "Err:          0\n";
        char buf[1024];

#define TIMER(chip, intid) " 10:       2360       1990     " chip "  " intid " Level     arch_timer\n"
        snprintf(buf, sizeof buf, "%s%s%s", head, TIMER("GICv3", "26"), tail);
        assert(kvm_mode_from_interrupts(buf, NULL) == KVM_MODE_VHE);
        /* pKVM is never VHE: a kernel at EL2 wins over a command line asking for protected */
        assert(kvm_mode_from_interrupts(buf, "root=/dev/vda kvm-arm.mode=protected") == KVM_MODE_VHE);
        snprintf(buf, sizeof buf, "%s%s%s", head, TIMER("GICv3", "28"), tail);
        assert(kvm_mode_from_interrupts(buf, "") == KVM_MODE_VHE);
        snprintf(buf, sizeof buf, "%s%s%s", head, TIMER("GICv3", "30"), tail);
        assert(kvm_mode_from_interrupts(buf, NULL) == KVM_MODE_NVHE);
        assert(kvm_mode_from_interrupts(buf, "root=/dev/vda kvm-arm.mode=nvhe quiet") == KVM_MODE_NVHE);
        assert(kvm_mode_from_interrupts(buf, "kvm-arm.mode=protected") == KVM_MODE_PROTECTED);
        assert(kvm_mode_from_interrupts(buf, "ro kvm-arm.mode=protected quiet\n") == KVM_MODE_PROTECTED);
        /* the last kvm-arm.mode= is the one the kernel applied */
        assert(kvm_mode_from_interrupts(buf, "kvm-arm.mode=protected kvm-arm.mode=nvhe") == KVM_MODE_NVHE);
        assert(kvm_mode_from_interrupts(buf, "kvm-arm.mode=nvhe kvm-arm.mode=protected") == KVM_MODE_PROTECTED);
        assert(kvm_mode_from_interrupts(buf, "xkvm-arm.mode=protected") == KVM_MODE_NVHE);
        assert(kvm_mode_from_interrupts(buf, "kvm-arm.mode=protectedx") == KVM_MODE_NVHE);
        snprintf(buf, sizeof buf, "%s%s%s", head, TIMER("GIC-0", "30"), tail); /* GICv2 */
        assert(kvm_mode_from_interrupts(buf, NULL) == KVM_MODE_NVHE);
        snprintf(buf, sizeof buf, "%s%s%s", head, TIMER("GIC-0", "26"), tail);
        assert(kvm_mode_from_interrupts(buf, NULL) == KVM_MODE_VHE);

        /* virtual timer: the kernel has no EL2 below it, so there can be no KVM */
        snprintf(buf, sizeof buf, "%s%s%s", head, TIMER("GICv3", "27"), tail);
        assert(kvm_mode_from_interrupts(buf, NULL) == KVM_MODE_NONE);
        assert(kvm_mode_from_interrupts(buf, "kvm-arm.mode=protected") == KVM_MODE_NONE);
        /* a non-GIC controller numbers its lines its own way */
        snprintf(buf, sizeof buf, "%s%s%s", head, TIMER("AIC", "26"), tail);
        assert(kvm_mode_from_interrupts(buf, NULL) == KVM_MODE_UNKNOWN);
        /* the guest timers KVM registers and the memory-mapped timer are not the host's timer */
        snprintf(buf, sizeof buf, "%s%s", head, tail);
        assert(kvm_mode_from_interrupts(buf, NULL) == KVM_MODE_UNKNOWN);
        assert(kvm_mode_from_interrupts(" 20:  0  GICv3  30 Level  arch_mem_timer\n", NULL) ==
               KVM_MODE_UNKNOWN);
        /* a kernel without CONFIG_GENERIC_IRQ_SHOW_LEVEL has no trigger column */
        assert(kvm_mode_from_interrupts(" 10:  5  6  GICv3  26  arch_timer", NULL) == KVM_MODE_VHE);
        assert(kvm_mode_from_interrupts("", NULL) == KVM_MODE_UNKNOWN);
        assert(kvm_mode_from_interrupts(NULL, NULL) == KVM_MODE_UNKNOWN);
#undef TIMER
}

/* This machine's own /proc/interrupts: x86 has no arch timer, so the heuristic must not guess. */
static void test_mode_from_own_interrupts(void) {
        _cleanup_free_ char *interrupts = NULL, *cmdline = NULL;
        KvmMode m;

        assert(read_full_file("/proc/interrupts", &interrupts, NULL) >= 0);
        assert(read_full_file("/proc/cmdline", &cmdline, NULL) >= 0);
        m = kvm_mode_from_interrupts(interrupts, cmdline);
        printf("own /proc/interrupts: %s\n", kvm_mode_to_string(m));
#if defined(__aarch64__)
        assert(m >= 0 && m < _KVM_MODE_MAX);
        if (access("/dev/kvm", F_OK) >= 0)
                assert(m != KVM_MODE_NONE);
#else
        assert(m == KVM_MODE_UNKNOWN);
#endif
}

/* A sysfs irq directory with the given lines of (name, chip, hwirq, actions). */
static void make_irq(
        const char *irq_dir, const char *name, const char *chip, const char *hwirq, const char *actions) {
        _cleanup_free_ char *d = NULL, *f = NULL;
        const char *files[][2] = { { "chip_name", chip }, { "hwirq", hwirq }, { "actions", actions } };

        assert(asprintf(&d, "%s/%s", irq_dir, name) >= 0 && mkdir_p(d, 0755) >= 0);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                if (!files[i][1])
                        continue;
                free(f);
                assert(asprintf(&f, "%s/%s", d, files[i][0]) >= 0);
                assert(write_file_atomic(f, files[i][1]) >= 0);
        }
}

/* Where /proc shows only processes, sysfs tells the same about the timer. */
static void test_mode_from_sysfs(const char *dir) {
        _cleanup_free_ char *irq = NULL, *text = NULL, *missing = NULL;

        assert(asprintf(&irq, "%s/irq", dir) >= 0);
        make_irq(irq, "11", "GICv3\n", "27\n", "kvm guest vtimer\n");
        make_irq(irq, "15", "GICv3\n", "33\n", "uart-pl011\n");
        make_irq(irq, "7", NULL, NULL, "\n"); /* no chip: left out */
        make_irq(irq, "10", "GICv3\n", "26\n", "arch_timer\n");
        assert(interrupts_from_sysfs(irq, &text) == 0);
        assert(strstr(text, " 10: 0 GICv3 26 Level arch_timer\n"));
        assert(!strstr(text, " 7:"));
        assert(kvm_mode_from_interrupts(text, NULL) == KVM_MODE_VHE);
        text = mfree(text);
        make_irq(irq, "10", "GICv3\n", "30\n", "arch_timer\n");
        assert(interrupts_from_sysfs(irq, &text) == 0);
        assert(kvm_mode_from_interrupts(text, "kvm-arm.mode=protected") == KVM_MODE_PROTECTED);
        assert(asprintf(&missing, "%s/none", dir) >= 0);
        assert(interrupts_from_sysfs(missing, &text) == -ENOENT);
}

int main(void) {
        char dir[] = "/tmp/test-probe-XXXXXX";

        assert(mkdtemp(dir));

        test_mode_table();
        test_mode_from_kernel_log();
        test_mode_from_interrupts();
        test_mode_from_own_interrupts();
        test_mode_from_sysfs(dir);
        test_missing_device(dir);
        test_regular_file(dir);
        test_directory(dir);
        test_dev_null();
        test_permission_denied(dir);
        test_real_kvm();
        test_output_fully_written();
        test_no_fd_leaks(dir);

        assert(rm_rf(dir) >= 0);
        return 0;
}
