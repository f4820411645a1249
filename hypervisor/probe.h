/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host probe: can this machine run arm64 guests with KVM, and what does its KVM offer. */
#pragma once

#include "util.h"

typedef enum KvmMode {
        KVM_MODE_NONE,      /* KVM unusable */
        KVM_MODE_VHE,       /* host kernel at EL2 */
        KVM_MODE_NVHE,      /* host kernel at EL1, hyp stub at EL2 */
        KVM_MODE_PROTECTED, /* pKVM */
        KVM_MODE_UNKNOWN,   /* usable, mode not determinable */
        _KVM_MODE_MAX,
        _KVM_MODE_INVALID = -EINVAL,
} KvmMode;

const char *kvm_mode_to_string(KvmMode m);
KvmMode kvm_mode_from_string(const char *s);

typedef struct HostInfo {
        char arch[32];    /* uname machine: "aarch64", "x86_64" */
        bool kvm_usable;  /* arm64 host and KVM_CREATE_VM worked */
        char reason[256]; /* why KVM is unusable (or "KVM_CREATE_VM succeeded") */
        int api_version;  /* KVM_GET_API_VERSION, 0 if no device */
        KvmMode mode;
        const char *mode_source; /* static string: what 'mode' was read from, NULL if not determined */
        unsigned ipa_bits;       /* KVM_CAP_ARM_VM_IPA_SIZE, 0 if unknown */
        unsigned gic_version;    /* 2 or 3; 0 if unknown */
        unsigned max_vcpus;      /* KVM_CAP_MAX_VCPUS */
        uint64_t memory_mib;     /* host RAM */
        unsigned cpus;           /* online CPUs */
} HostInfo;

/* How the mode is found. User space cannot ask directly: CurrentEL cannot be read at EL0, the VH field of
 * ID_AA64MMFR1_EL1 would only say the CPU could do VHE, sysfs has no kvm-arm mode, and upstream KVM has no
 * capability for it (KVM_CAP_ARM_PROTECTED_VM is Android-only, with an out-of-tree number). So:
 *   1. the kernel log line "kvm [N]: <mode> mode initialized successfully" (needs CAP_SYSLOG or
 *      kernel.dmesg_restrict=0, and the line must not have been rotated out of the ring buffer);
 *   2. the interrupt of the host's arch timer in /proc/interrupts: a kernel running at EL2 (VHE) uses the
 *      EL2 timer (GIC INTID 26, or 28 for the EL2 virtual timer in recent kernels), a kernel at EL1 with a
 *      hypervisor below it (nVHE, hVHE, protected) the EL1 physical timer (INTID 30); protected is told
 *      from nVHE by kvm-arm.mode=protected on the kernel command line.
 *      A kernel that uses the EL1 virtual timer (INTID 27) found no EL2 at all: KVM_MODE_NONE.
 * Both are exposed separately for testing on recorded text. Each returns KVM_MODE_UNKNOWN when the text
 * does not tell. */
KvmMode kvm_mode_from_kernel_log(const char *log);
KvmMode kvm_mode_from_interrupts(const char *interrupts, const char *cmdline);

/* Fills *ret. Never fails for lack of KVM (that is reported in kvm_usable/reason); returns a negative
 * errno only for unexpected failures. 'kvm_path' is normally "/dev/kvm" (tests pass others). */
int host_probe(const char *kvm_path, HostInfo *ret);

/* The facts of /proc/interrupts that the mode needs, from sysfs (irq_dir: /sys/kernel/irq), as lines in
 * its format (" N: 0 <chip> <hwirq> <type> <actions>"): for a /proc that shows only processes
 * (ProcSubset=pid, as vmmd.service once had). */
int interrupts_from_sysfs(const char *irq_dir, char **ret);
