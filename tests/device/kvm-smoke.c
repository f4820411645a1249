/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Device check: a KVM/arm64 vCPU runs guest code; we see its MMIO write and its PSCI SYSTEM_OFF as exits. */

#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <linux/psci.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "util.h"

/* Guest physical layout: one page of RAM holding the code; MMIO_ADDR is outside every memory slot, so a
 * store there leaves stage 2 unmapped and KVM hands it to us as KVM_EXIT_MMIO. */
#define GUEST_RAM_ADDR UINT64_C(0x40000000)
#define GUEST_RAM_SIZE UINT64_C(0x10000)
#define MMIO_ADDR UINT64_C(0x09000000)
#define MMIO_VALUE UINT32_C(0x5a5ac0de)

/* A64 encodings, so the test needs no assembler for the guest's architecture. */
#define A64_MOVZ_X(rd, imm16, shift) (UINT32_C(0xd2800000) | ((shift) / 16) << 21 | (imm16) << 5 | (rd))
#define A64_MOVK_X(rd, imm16, shift) (UINT32_C(0xf2800000) | ((shift) / 16) << 21 | (imm16) << 5 | (rd))
#define A64_STR_W(rt, rn) (UINT32_C(0xb9000000) | (rn) << 5 | (rt)) /* str wRt, [xRn] */
#define A64_HVC(imm16) (UINT32_C(0xd4000002) | (imm16) << 5)
#define A64_B_SELF UINT32_C(0x14000000) /* b . */

static const uint32_t guest_code[] = {
        A64_MOVZ_X(0, MMIO_ADDR & 0xffff, 0),
        A64_MOVK_X(0, (MMIO_ADDR >> 16) & 0xffff, 16),
        A64_MOVZ_X(1, MMIO_VALUE & 0xffff, 0),
        A64_MOVK_X(1, MMIO_VALUE >> 16, 16),
        A64_STR_W(1, 0),
        A64_MOVZ_X(0, PSCI_0_2_FN_SYSTEM_OFF & 0xffff, 0),
        A64_MOVK_X(0, PSCI_0_2_FN_SYSTEM_OFF >> 16, 16),
        A64_HVC(0),
        A64_B_SELF,
};

typedef struct Smoke {
        int kvm_fd;
        int vm_fd;
        int vcpu_fd;
        void *ram;
        struct kvm_run *run;
        size_t run_size;
} Smoke;

static void smoke_done(Smoke *s) {
        if (s->run)
                (void) munmap(s->run, s->run_size);
        if (s->ram)
                (void) munmap(s->ram, GUEST_RAM_SIZE);
        s->vcpu_fd = safe_close(s->vcpu_fd);
        s->vm_fd = safe_close(s->vm_fd);
        s->kvm_fd = safe_close(s->kvm_fd);
}

static int set_one_reg(int vcpu_fd, uint64_t id, uint64_t value) {
        struct kvm_one_reg reg = { .id = id, .addr = (uint64_t) (uintptr_t) &value };

        if (ioctl(vcpu_fd, KVM_SET_ONE_REG, &reg) < 0)
                return -errno;
        return 0;
}

static int smoke_setup(Smoke *s, const char **ret_step) {
        struct kvm_vcpu_init init = {};
        int r;

        *ret_step = "open /dev/kvm";
        s->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (s->kvm_fd < 0)
                return -errno;

        *ret_step = "KVM_GET_API_VERSION";
        r = ioctl(s->kvm_fd, KVM_GET_API_VERSION, 0);
        if (r < 0)
                return -errno;
        if (r != KVM_API_VERSION)
                return -EPROTO;

        *ret_step = "KVM_CREATE_VM";
        s->vm_fd = ioctl(s->kvm_fd, KVM_CREATE_VM, 0);
        if (s->vm_fd < 0)
                return -errno;

        *ret_step = "mmap guest RAM";
        s->ram = mmap(NULL, GUEST_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (s->ram == MAP_FAILED) {
                s->ram = NULL;
                return -errno;
        }
        memcpy(s->ram, guest_code, sizeof(guest_code));

        *ret_step = "KVM_SET_USER_MEMORY_REGION";
        struct kvm_userspace_memory_region region = {
                .slot = 0,
                .guest_phys_addr = GUEST_RAM_ADDR,
                .memory_size = GUEST_RAM_SIZE,
                .userspace_addr = (uint64_t) (uintptr_t) s->ram,
        };
        if (ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
                return -errno;

        *ret_step = "KVM_CREATE_VCPU";
        s->vcpu_fd = ioctl(s->vm_fd, KVM_CREATE_VCPU, 0);
        if (s->vcpu_fd < 0)
                return -errno;

        *ret_step = "KVM_GET_VCPU_MMAP_SIZE";
        r = ioctl(s->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (r < 0)
                return -errno;
        if ((size_t) r < sizeof(struct kvm_run))
                return -EPROTO;
        s->run_size = r;

        *ret_step = "mmap kvm_run";
        s->run = mmap(NULL, s->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->vcpu_fd, 0);
        if (s->run == MAP_FAILED) {
                s->run = NULL;
                return -errno;
        }

        *ret_step = "KVM_ARM_PREFERRED_TARGET";
        if (ioctl(s->vm_fd, KVM_ARM_PREFERRED_TARGET, &init) < 0)
                return -errno;

        /* PSCI 0.2 makes SYSTEM_OFF a system event instead of an undefined hypercall. */
        *ret_step = "KVM_ARM_VCPU_INIT";
        init.features[0] |= UINT32_C(1) << KVM_ARM_VCPU_PSCI_0_2;
        if (ioctl(s->vcpu_fd, KVM_ARM_VCPU_INIT, &init) < 0)
                return -errno;

        /* After init the vCPU is in EL1h with the MMU off and all interrupts masked; only PC is ours. */
        *ret_step = "KVM_SET_ONE_REG pc";
        uint64_t pc_id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pc);
        return set_one_reg(s->vcpu_fd, pc_id, GUEST_RAM_ADDR);
}

static const char *exit_reason_name(uint32_t reason) {
        switch (reason) {
        case KVM_EXIT_MMIO:
                return "KVM_EXIT_MMIO";
        case KVM_EXIT_SYSTEM_EVENT:
                return "KVM_EXIT_SYSTEM_EVENT";
        case KVM_EXIT_FAIL_ENTRY:
                return "KVM_EXIT_FAIL_ENTRY";
        case KVM_EXIT_INTERNAL_ERROR:
                return "KVM_EXIT_INTERNAL_ERROR";
        case KVM_EXIT_HYPERCALL:
                return "KVM_EXIT_HYPERCALL";
        default:
                return "another exit";
        }
}

/* Runs the vCPU until it leaves KVM_RUN with something other than an interrupted run. */
static int vcpu_run(Smoke *s) {
        for (;;) {
                if (ioctl(s->vcpu_fd, KVM_RUN, 0) >= 0)
                        return 0;
                if (errno != EINTR && errno != EAGAIN)
                        return -errno;
        }
}

int main(void) {
        _cleanup_(smoke_done) Smoke s = { .kvm_fd = -EBADF, .vm_fd = -EBADF, .vcpu_fd = -EBADF };
        const char *step = NULL;
        int r;

        r = smoke_setup(&s, &step);
        if (r < 0) {
                fprintf(stderr, "kvm-smoke: %s failed: %s\n", step, strerror(-r));
                return EXIT_FAILURE;
        }
        printf("kvm-smoke: VM and vCPU ready (preferred target set up, PSCI 0.2)\n");

        r = vcpu_run(&s);
        if (r < 0) {
                fprintf(stderr, "kvm-smoke: first KVM_RUN failed: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        if (s.run->exit_reason != KVM_EXIT_MMIO) {
                fprintf(stderr,
                        "kvm-smoke: expected KVM_EXIT_MMIO, got %s (%" PRIu32 ")\n",
                        exit_reason_name(s.run->exit_reason),
                        s.run->exit_reason);
                return EXIT_FAILURE;
        }
        uint32_t value;
        memcpy(&value, s.run->mmio.data, sizeof(value));
        printf("kvm-smoke: MMIO %s at 0x%" PRIx64 ", %" PRIu32 " bytes, data 0x%08" PRIx32 "\n",
               s.run->mmio.is_write ? "write" : "read",
               (uint64_t) s.run->mmio.phys_addr,
               s.run->mmio.len,
               value);
        if (!s.run->mmio.is_write || s.run->mmio.phys_addr != MMIO_ADDR ||
            s.run->mmio.len != sizeof(value) || value != MMIO_VALUE) {
                fprintf(stderr,
                        "kvm-smoke: expected a write of 0x%08" PRIx32 " (4 bytes) at 0x%" PRIx64 "\n",
                        MMIO_VALUE,
                        MMIO_ADDR);
                return EXIT_FAILURE;
        }

        /* Completing the MMIO write: the next KVM_RUN steps past the store. */
        r = vcpu_run(&s);
        if (r < 0) {
                fprintf(stderr, "kvm-smoke: second KVM_RUN failed: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        if (s.run->exit_reason != KVM_EXIT_SYSTEM_EVENT) {
                fprintf(stderr,
                        "kvm-smoke: expected KVM_EXIT_SYSTEM_EVENT, got %s (%" PRIu32 ")\n",
                        exit_reason_name(s.run->exit_reason),
                        s.run->exit_reason);
                return EXIT_FAILURE;
        }
        printf("kvm-smoke: system event type %" PRIu32 "\n", s.run->system_event.type);
        if (s.run->system_event.type != KVM_SYSTEM_EVENT_SHUTDOWN) {
                fprintf(stderr,
                        "kvm-smoke: expected KVM_SYSTEM_EVENT_SHUTDOWN (%d) from PSCI SYSTEM_OFF\n",
                        KVM_SYSTEM_EVENT_SHUTDOWN);
                return EXIT_FAILURE;
        }

        printf("kvm-smoke: ok\n");
        return EXIT_SUCCESS;
}
