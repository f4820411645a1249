/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Emulates the A64 load/store that trapped without a valid syndrome (KVM_EXIT_ARM_NISV): decode, walk, access. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a decoded instruction does. A64_INSN_NOP is a prefetch (PRFM, PRFUM): a hint without an access. */
typedef enum A64InsnKind {
        A64_INSN_NOP,
        A64_INSN_LOAD,
        A64_INSN_STORE,
        _A64_INSN_KIND_MAX,
        _A64_INSN_KIND_INVALID = -EINVAL,
} A64InsnKind;

/* How the address is formed. Offset: [Rn, #imm] (imm 0 for LDAR and friends). Pre-index: [Rn, #imm]!, the
 * access and the written-back base both at Rn + imm. Post-index: [Rn], #imm, the access at Rn and Rn + imm
 * written back. Register: [Rn, Rm, extend #shift]. Literal: PC + imm. */
typedef enum A64AddrMode {
        A64_ADDR_OFFSET,
        A64_ADDR_PRE_INDEX,
        A64_ADDR_POST_INDEX,
        A64_ADDR_REGISTER,
        A64_ADDR_LITERAL,
        _A64_ADDR_MODE_MAX,
        _A64_ADDR_MODE_INVALID = -EINVAL,
} A64AddrMode;

/* The register offset's extend, with the values of the encoding's option field. */
typedef enum A64Extend {
        A64_EXTEND_UXTW = 2,
        A64_EXTEND_LSL = 3, /* UXTX: all of Xm */
        A64_EXTEND_SXTW = 6,
        A64_EXTEND_SXTX = 7,
        _A64_EXTEND_MAX,
        _A64_EXTEND_INVALID = -EINVAL,
} A64Extend;

typedef struct A64Insn {
        A64InsnKind kind;
        A64AddrMode mode;
        unsigned size;     /* bytes per element: 1, 2, 4, 8 or 16 */
        unsigned reg_size; /* bytes of the register view: 4 (Wt) or 8 (Xt); for SIMD&FP equal to size */
        bool pair;         /* two elements: Rt at the address, Rt2 at address + size */
        bool simd;         /* Rt and Rt2 name V registers, not X registers */
        bool sign_extend;  /* loads: the element is sign-extended to reg_size (the rest of Xt is zero) */
        bool writeback;    /* pre- or post-index: Rn is written back */
        bool unprivileged; /* LDTR/STTR: accesses as EL0 (no difference here: permissions are not checked) */
        bool ordered;      /* LDAR/STLR, LDLAR/STLLR, LDAPR, LDAPUR/STLUR: acquire/release semantics */
        uint8_t rt, rt2;   /* 31: XZR/WZR in the integer register file, V31 for SIMD&FP */
        uint8_t rn;        /* base, 31: SP */
        uint8_t rm;        /* register offset, 31: XZR */
        A64Extend extend;  /* register offset only */
        unsigned shift;    /* register offset only: 0 or log2(size) */
        int64_t imm;       /* byte offset: scaled, or PC-relative for literals */
} A64Insn;

/* Decodes one A64 instruction word.
 * -EOPNOTSUPP: not a load/store this emulates. Everything that is not a load/store, unallocated encodings,
 *              exclusives (LDXR/STXR/LDAXR/STLXR and pairs: an exclusive monitor on MMIO means nothing), LSE
 *              atomics (LDADD..., SWP, CAS, CASP), SIMD structure loads/stores (LD1..LD4, ST1..ST4, single
 *              lane and replicate), pointer-authenticated loads (LDRAA/LDRAB), memory tag instructions (STG,
 *              LDG, STGP...), LS64, memory copy/set, LRCPC3 forms and whatever else is newer.
 * -EINVAL:     an encoding this would emulate but whose registers make it CONSTRAINED UNPREDICTABLE:
 *              LDP/LDNP/LDPSW with Rt == Rt2, or a load with writeback whose base is a destination
 *              (Rn == Rt or Rn == Rt2, Rn != 31).
 * A store with writeback and Rn == Rt (or Rt2) is accepted: it stores the value the register had before the
 * writeback (the ARM ARM's Constraint_NONE). The should-be-one Rs and Rt2 fields of LDAR/STLR/LDLAR/STLLR
 * are ignored, as the CPU that executed the instruction did. */
int a64_decode(uint32_t insn, A64Insn *ret);

/* The guest's EL1 translation registers: SCTLR_EL1, TCR_EL1, TTBR0_EL1, TTBR1_EL1. */
typedef struct A64Mmu {
        uint64_t sctlr, tcr, ttbr0, ttbr1;
} A64Mmu;

/* Reads len bytes of guest RAM at ipa into buf: ≥ 0 on success, a negative errno (-EFAULT, by convention)
 * where ipa..ipa+len is not RAM. */
typedef int (*A64ReadPhys)(void *userdata, uint64_t ipa, void *buf, size_t len);

/* Translates a data address through the guest's EL1&0 stage 1 (guest VA → IPA).
 * SCTLR_EL1.M == 0: flat; TBI drops the top byte, and an address with bits at or above 52 set is an
 * address size fault. Otherwise a walk per TCR_EL1: TTBR0 when VA[55] is 0, TTBR1 when it is 1, with the
 * bits above the region (64 - TnSZ bits; from bit 55 when TCR.TBIn ignores the top byte) all equal to
 * VA[55]; 4K, 16K and 64K granules; table, block and page descriptors; 48-bit output addresses, and 52-bit
 * ones (FEAT_LPA) with the 64K granule and TCR.IPS = 52 bits. TnSZ outside what the granule allows is taken
 * as the nearest allowed value (the ARM ARM permits this). Descriptors are read little-endian, big-endian
 * when SCTLR_EL1.EE is set. Permissions, the access flag and the contiguous hint are not checked: the
 * hardware has already translated the access that trapped.
 * -EFAULT:     translation fault (invalid descriptor, the VA hole, EPDn, a block where none may be) or
 *              address size fault (a table or output address above TCR.IPS).
 * -EOPNOTSUPP: a reserved TGn value, or TCR.DS (FEAT_LPA2) with the 4K or 16K granule.
 * Errors from read are passed on. */
int a64_translate(const A64Mmu *mmu, uint64_t va, A64ReadPhys read, void *userdata, uint64_t *ret_ipa);

#define A64_REG_SP 31u /* for get_reg/set_reg: the stack pointer of the guest's current EL and SPSel */
#define A64_REG_PC 32u

/* One vCPU as the emulator sees it. Every callback gets userdata and returns ≥ 0 or a negative errno. */
typedef struct A64Vcpu {
        void *userdata;
        A64Mmu mmu;
        uint64_t pstate; /* SPSR layout: nRW (bit 4) and EL (bits 3:2) are used */

        /* reg 0..30: X0..X30, A64_REG_SP, A64_REG_PC. The emulator never asks for XZR. */
        int (*get_reg)(void *userdata, unsigned reg, uint64_t *ret);
        int (*set_reg)(void *userdata, unsigned reg, uint64_t value);
        /* V0..V31 as 16 bytes in memory order (byte 0 is bits 7:0), as KVM's vregs on a little-endian host. */
        int (*get_vreg)(void *userdata, unsigned reg, uint8_t ret[16]);
        int (*set_vreg)(void *userdata, unsigned reg, const uint8_t value[16]);

        A64ReadPhys read_phys; /* instruction fetch and page tables */
        /* One call per element, len = element size (1, 2, 4, 8 or 16), data little-endian. */
        int (*mmio_read)(void *userdata, uint64_t ipa, void *buf, size_t len);
        int (*mmio_write)(void *userdata, uint64_t ipa, const void *buf, size_t len);
} A64Vcpu;

/* Emulates the instruction at PC whose data access trapped at fault_ipa (KVM's arm_nisv.fault_ipa): fetches
 * and decodes it, translates the address of each element (for a pair, the second element at address +
 * size, translated on its own), performs the accesses in order through mmio_read/mmio_write, then writes the
 * destination registers (32-bit views zero the upper half, SIMD&FP loads zero the rest of the V register),
 * the written-back base, and PC + 4. A prefetch only advances PC.
 * fault_ipa must fall within one element's bytes (the ARM ARM lets FAR point at any byte of the faulting
 * access); otherwise the instruction is not the one that trapped (the guest changed it meanwhile). Every
 * element goes through the MMIO callbacks, also the half of a pair that lands in RAM.
 * Nothing is written to registers unless everything succeeded. An access that fails is not undone: when the
 * second access of a pair fails, the first has happened (real hardware would have taken an abort after it
 * too), and the error is returned with all registers unchanged. A failing set_reg/set_vreg leaves the
 * registers written before it changed.
 * -EOPNOTSUPP: the instruction is not emulated (see a64_decode()), the vCPU is in AArch32 or above EL1, data
 *              accesses are big-endian (SCTLR_EL1.EE, or E0E at EL0), or an element spans two pages whose
 *              IPAs are not contiguous.
 * -EINVAL:     a CONSTRAINED UNPREDICTABLE encoding (see a64_decode()).
 * -EFAULT:     PC is not 4-byte aligned, a translation failed (see a64_translate(); the instruction fetch
 *              ignores the top byte only where TCR_EL1.TBIDn does not exclude instruction addresses), or
 *              fault_ipa is not within any element.
 * Returns 0 on success; errors from the callbacks are passed on. */
int a64_emulate(const A64Vcpu *vcpu, uint64_t fault_ipa);

const char *a64_insn_kind_to_string(A64InsnKind k);
A64InsnKind a64_insn_kind_from_string(const char *s);
const char *a64_addr_mode_to_string(A64AddrMode m);
A64AddrMode a64_addr_mode_from_string(const char *s);
const char *a64_extend_to_string(A64Extend e);
A64Extend a64_extend_from_string(const char *s);
