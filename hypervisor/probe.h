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
        char arch[32];         /* uname machine: "aarch64", "x86_64" */
        bool kvm_usable;       /* arm64 host and KVM_CREATE_VM worked */
        char reason[256];      /* why KVM is unusable (or "KVM_CREATE_VM succeeded") */
        int api_version;       /* KVM_GET_API_VERSION, 0 if no device */
        KvmMode mode;
        unsigned ipa_bits;     /* KVM_CAP_ARM_VM_IPA_SIZE, 0 if unknown */
        unsigned gic_version;  /* 2 or 3; 0 if unknown */
        unsigned max_vcpus;    /* KVM_CAP_MAX_VCPUS */
        uint64_t memory_mib;   /* host RAM */
        unsigned cpus;         /* online CPUs */
} HostInfo;

/* Fills *ret. Never fails for lack of KVM (that is reported in kvm_usable/reason); returns a negative
 * errno only for unexpected failures. 'kvm_path' is normally "/dev/kvm" (tests pass others). */
int host_probe(const char *kvm_path, HostInfo *ret);
