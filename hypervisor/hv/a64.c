/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A64 load/store decoder, EL1&0 stage-1 walker and the emulator for KVM_EXIT_ARM_NISV. */
#include <assert.h>
#include <string.h>

#include "a64.h"
#include "util.h"

static const char *const a64_insn_kind_table[_A64_INSN_KIND_MAX] = {
        [A64_INSN_NOP] = "nop",
        [A64_INSN_LOAD] = "load",
        [A64_INSN_STORE] = "store",
};
DEFINE_STRING_TABLE_LOOKUP(a64_insn_kind, A64InsnKind, _A64_INSN_KIND_MAX);

static const char *const a64_addr_mode_table[_A64_ADDR_MODE_MAX] = {
        [A64_ADDR_OFFSET] = "offset",         [A64_ADDR_PRE_INDEX] = "pre-index",
        [A64_ADDR_POST_INDEX] = "post-index", [A64_ADDR_REGISTER] = "register",
        [A64_ADDR_LITERAL] = "literal",
};
DEFINE_STRING_TABLE_LOOKUP(a64_addr_mode, A64AddrMode, _A64_ADDR_MODE_MAX);

static const char *const a64_extend_table[_A64_EXTEND_MAX] = {
        [A64_EXTEND_UXTW] = "uxtw",
        [A64_EXTEND_LSL] = "lsl",
        [A64_EXTEND_SXTW] = "sxtw",
        [A64_EXTEND_SXTX] = "sxtx",
};
DEFINE_STRING_TABLE_LOOKUP(a64_extend, A64Extend, _A64_EXTEND_MAX);

/* insn[hi:lo], hi - lo < 31 */
static uint32_t field(uint32_t insn, unsigned hi, unsigned lo) {
        return (insn >> lo) & ((UINT32_C(1) << (hi - lo + 1)) - 1);
}

/* The low `bits` bits of x as a two's complement number (1 ≤ bits ≤ 64), without signed overflow. */
static uint64_t sign_extend(uint64_t x, unsigned bits) {
        uint64_t m = UINT64_C(1) << (bits - 1);

        if (bits < 64)
                x &= (m << 1) - 1;
        return (x ^ m) - m;
}

static unsigned log2_size(unsigned size) {
        return (unsigned) __builtin_ctz(size);
}

/* The size:V:opc table shared by the single-register forms (immediate, register offset, LDAPUR/STLUR).
 * prfm: size=11 opc=10 is PRFM here (else unallocated). */
static int decode_size_opc(unsigned size, bool v, unsigned opc, bool prfm, A64Insn *d) {
        d->simd = v;
        d->size = 1u << size;

        if (v) {
                if (opc >= 2) {
                        if (size != 0)
                                return -EOPNOTSUPP;
                        d->size = 16; /* STR/LDR Qt */
                }
                d->kind = opc & 1 ? A64_INSN_LOAD : A64_INSN_STORE;
                d->reg_size = d->size;
                return 0;
        }

        switch (opc) {
        case 0:
        case 1:
                d->kind = opc == 1 ? A64_INSN_LOAD : A64_INSN_STORE;
                d->reg_size = size == 3 ? 8 : 4;
                return 0;
        case 2:
                if (size == 3) {
                        if (!prfm)
                                return -EOPNOTSUPP;
                        d->kind = A64_INSN_NOP;
                        d->reg_size = 8;
                        return 0;
                }
                d->kind = A64_INSN_LOAD; /* LDRSB/LDRSH/LDRSW Xt */
                d->sign_extend = true;
                d->reg_size = 8;
                return 0;
        default:
                if (size >= 2)
                        return -EOPNOTSUPP;
                d->kind = A64_INSN_LOAD; /* LDRSB/LDRSH Wt */
                d->sign_extend = true;
                d->reg_size = 4;
                return 0;
        }
}

/* LDAR/STLR, LDLAR/STLLR: size 001000 1 L 0 Rs o0 Rt2 Rn Rt. The rest of the group (exclusives, CAS, CASP)
 * is refused. Rs and Rt2 should be 31; a CPU that did not take such an encoding as UNDEFINED executed it as
 * if they were (it trapped on the access), so they are ignored, as binutils does. */
static int decode_ordered(uint32_t insn, A64Insn *d) {
        if (field(insn, 23, 23) != 1 || field(insn, 21, 21) != 0)
                return -EOPNOTSUPP;

        d->size = 1u << field(insn, 31, 30);
        d->reg_size = d->size == 8 ? 8 : 4;
        d->kind = field(insn, 22, 22) ? A64_INSN_LOAD : A64_INSN_STORE;
        d->ordered = true;
        d->mode = A64_ADDR_OFFSET;
        return 0;
}

/* LDR (literal): opc 011 V 00 imm19 Rt */
static int decode_literal(uint32_t insn, A64Insn *d) {
        unsigned opc = field(insn, 31, 30);
        bool v = field(insn, 26, 26);

        d->mode = A64_ADDR_LITERAL;
        d->imm = (int64_t) (sign_extend(field(insn, 23, 5), 19) * 4);
        d->kind = A64_INSN_LOAD;
        d->simd = v;
        if (v) {
                if (opc == 3)
                        return -EOPNOTSUPP;
                d->size = d->reg_size = 4u << opc; /* S, D, Q */
                return 0;
        }
        switch (opc) {
        case 0:
                d->size = d->reg_size = 4;
                return 0;
        case 1:
                d->size = d->reg_size = 8;
                return 0;
        case 2: /* LDRSW */
                d->size = 4;
                d->reg_size = 8;
                d->sign_extend = true;
                return 0;
        default: /* PRFM (literal) */
                d->kind = A64_INSN_NOP;
                d->size = d->reg_size = 8;
                return 0;
        }
}

/* LDAPUR/STLUR (FEAT_LRCPC2): size 011001 opc 0 imm9 00 Rn Rt */
static int decode_rcpc_unscaled(uint32_t insn, A64Insn *d) {
        int r;

        r = decode_size_opc(field(insn, 31, 30), false, field(insn, 23, 22), false, d);
        if (r < 0)
                return r;
        d->mode = A64_ADDR_OFFSET;
        d->imm = (int64_t) sign_extend(field(insn, 20, 12), 9);
        d->ordered = true;
        return 0;
}

/* LDP/STP/LDPSW/LDNP/STNP: opc 101 V 0 mode(2) L imm7 Rt2 Rn Rt */
static int decode_pair(uint32_t insn, A64Insn *d) {
        unsigned opc = field(insn, 31, 30), mode = field(insn, 24, 23);
        bool v = field(insn, 26, 26), load = field(insn, 22, 22);

        if (opc == 3)
                return -EOPNOTSUPP;
        d->pair = true;
        d->simd = v;
        d->kind = load ? A64_INSN_LOAD : A64_INSN_STORE;
        if (v)
                d->size = d->reg_size = 4u << opc;
        else if (opc == 1) {
                /* LDPSW; STGP (memory tags) in its place for stores, nothing for the no-allocate form */
                if (!load || mode == 0)
                        return -EOPNOTSUPP;
                d->size = 4;
                d->reg_size = 8;
                d->sign_extend = true;
        } else
                d->size = d->reg_size = opc == 0 ? 4 : 8;

        d->mode = mode == 1 ? A64_ADDR_POST_INDEX : mode == 3 ? A64_ADDR_PRE_INDEX : A64_ADDR_OFFSET;
        d->writeback = mode & 1;
        d->rt2 = (uint8_t) field(insn, 14, 10);
        d->imm = (int64_t) (sign_extend(field(insn, 21, 15), 7) << log2_size(d->size));

        if (load && d->rt == d->rt2)
                return -EINVAL;
        if (load && d->writeback && !v && d->rn != 31 && (d->rn == d->rt || d->rn == d->rt2))
                return -EINVAL;
        return 0;
}

/* Immediate, unscaled (op4=00), post-index (01), unprivileged (10), pre-index (11):
 * size 111 V 00 opc 0 imm9 op4 Rn Rt */
static int decode_imm9(uint32_t insn, A64Insn *d) {
        unsigned op4 = field(insn, 11, 10);
        bool v = field(insn, 26, 26);
        int r;

        if (op4 == 2 && v)
                return -EOPNOTSUPP;
        r = decode_size_opc(field(insn, 31, 30), v, field(insn, 23, 22), op4 == 0, d);
        if (r < 0)
                return r;
        d->imm = (int64_t) sign_extend(field(insn, 20, 12), 9);
        d->unprivileged = op4 == 2;
        d->mode = op4 == 1 ? A64_ADDR_POST_INDEX : op4 == 3 ? A64_ADDR_PRE_INDEX : A64_ADDR_OFFSET;
        d->writeback = op4 & 1;

        if (d->writeback && d->kind == A64_INSN_LOAD && !v && d->rn != 31 && d->rn == d->rt)
                return -EINVAL;
        return 0;
}

/* size 111 V 00 opc 1 Rm option S 10 Rn Rt */
static int decode_register_offset(uint32_t insn, A64Insn *d) {
        unsigned option = field(insn, 15, 13);
        int r;

        if (!(option & 2)) /* option<1> == 0: unallocated */
                return -EOPNOTSUPP;
        r = decode_size_opc(field(insn, 31, 30), field(insn, 26, 26), field(insn, 23, 22), true, d);
        if (r < 0)
                return r;
        d->mode = A64_ADDR_REGISTER;
        d->rm = (uint8_t) field(insn, 20, 16);
        d->extend = (A64Extend) option;
        d->shift = field(insn, 12, 12) ? log2_size(d->size) : 0;
        return 0;
}

/* size 111 V 01 opc imm12 Rn Rt */
static int decode_unsigned_imm(uint32_t insn, A64Insn *d) {
        int r;

        r = decode_size_opc(field(insn, 31, 30), field(insn, 26, 26), field(insn, 23, 22), true, d);
        if (r < 0)
                return r;
        d->mode = A64_ADDR_OFFSET;
        d->imm = (int64_t) field(insn, 21, 10) << log2_size(d->size);
        return 0;
}

int a64_decode(uint32_t insn, A64Insn *ret) {
        A64Insn d = {
                .rt = (uint8_t) field(insn, 4, 0),
                .rn = (uint8_t) field(insn, 9, 5),
        };
        int r;

        assert(ret);

        if ((insn & 0x0a000000) != 0x08000000) /* op0 = x1x0: loads and stores */
                return -EOPNOTSUPP;

        if ((insn & 0x3f000000) == 0x08000000)
                r = decode_ordered(insn, &d);
        else if ((insn & 0x3b000000) == 0x18000000)
                r = decode_literal(insn, &d);
        else if ((insn & 0x3f200c00) == 0x19000000)
                r = decode_rcpc_unscaled(insn, &d);
        else if ((insn & 0x38000000) == 0x28000000)
                r = decode_pair(insn, &d);
        else if ((insn & 0x3b200000) == 0x38000000)
                r = decode_imm9(insn, &d);
        else if ((insn & 0x3b200c00) == 0x38200800)
                r = decode_register_offset(insn, &d);
        else if ((insn & 0x3ffffc00) == 0x38bfc000) {
                /* LDAPR/LDAPRB/LDAPRH (FEAT_LRCPC), the only atomic-group encodings taken */
                d.size = 1u << field(insn, 31, 30);
                d.reg_size = d.size == 8 ? 8 : 4;
                d.kind = A64_INSN_LOAD;
                d.mode = A64_ADDR_OFFSET;
                d.ordered = true;
                r = 0;
        } else if ((insn & 0x3b000000) == 0x39000000)
                r = decode_unsigned_imm(insn, &d);
        else
                r = -EOPNOTSUPP;
        if (r < 0)
                return r;

        *ret = d;
        return 0;
}

/* TCR_EL1 and SCTLR_EL1 fields */
#define TCR_EPD0 (UINT64_C(1) << 7)
#define TCR_EPD1 (UINT64_C(1) << 23)
#define TCR_TBI0 (UINT64_C(1) << 37)
#define TCR_TBI1 (UINT64_C(1) << 38)
#define TCR_TBID0 (UINT64_C(1) << 51)
#define TCR_TBID1 (UINT64_C(1) << 52)
#define TCR_DS (UINT64_C(1) << 59)
#define SCTLR_M (UINT64_C(1) << 0)
#define SCTLR_E0E (UINT64_C(1) << 24)
#define SCTLR_EE (UINT64_C(1) << 25)

#define PA_MAX_BITS 52
#define OA_MASK_48 UINT64_C(0x0000ffffffffffff)

static uint64_t read_le64(const uint8_t b[8]) {
        uint64_t v = 0;

        for (unsigned i = 8; i > 0; i--)
                v = v << 8 | b[i - 1];
        return v;
}

static uint64_t read_be64(const uint8_t b[8]) {
        uint64_t v = 0;

        for (unsigned i = 0; i < 8; i++)
                v = v << 8 | b[i];
        return v;
}

static int translate(
        const A64Mmu *mmu, uint64_t va, bool fetch, A64ReadPhys read, void *userdata, uint64_t *ret_ipa) {

        uint64_t tcr = mmu->tcr, ttbr, table, addr = va, pa_mask;
        unsigned txsz, gshift, stride, ia, levels, start, pa_bits;
        bool upper = va >> 55 & 1, tbi, pa52;
        static const unsigned ips_bits[8] = { 32, 36, 40, 42, 44, 48, 52, 52 };

        if (upper)
                tbi = (tcr & TCR_TBI1) && !(fetch && (tcr & TCR_TBID1));
        else
                tbi = (tcr & TCR_TBI0) && !(fetch && (tcr & TCR_TBID0));
        if (tbi)
                addr = upper ? va | UINT64_C(0xff00000000000000) : va & UINT64_C(0x00ffffffffffffff);

        if (!(mmu->sctlr & SCTLR_M)) {
                if (addr >> PA_MAX_BITS)
                        return -EFAULT;
                *ret_ipa = addr;
                return 0;
        }

        if (!upper) {
                if (tcr & TCR_EPD0)
                        return -EFAULT;
                txsz = tcr & 0x3f;
                switch (tcr >> 14 & 3) {
                case 0:
                        gshift = 12;
                        break;
                case 1:
                        gshift = 16;
                        break;
                case 2:
                        gshift = 14;
                        break;
                default:
                        return -EOPNOTSUPP;
                }
                ttbr = mmu->ttbr0;
        } else {
                if (tcr & TCR_EPD1)
                        return -EFAULT;
                txsz = tcr >> 16 & 0x3f;
                switch (tcr >> 30 & 3) {
                case 1:
                        gshift = 14;
                        break;
                case 2:
                        gshift = 12;
                        break;
                case 3:
                        gshift = 16;
                        break;
                default:
                        return -EOPNOTSUPP;
                }
                ttbr = mmu->ttbr1;
        }
        if ((tcr & TCR_DS) && gshift != 16)
                return -EOPNOTSUPP;

        /* 52-bit VAs only with 64K (FEAT_LVA); at least one level below the region size. */
        txsz = MAX(txsz, gshift == 16 ? 12u : 16u);
        txsz = MIN(txsz, gshift == 16 ? 47u : 48u);
        ia = 64 - txsz;

        /* The hole between the two regions: every bit from ia up must equal VA[55]. */
        if (upper ? ~addr >> ia != 0 : addr >> ia != 0)
                return -EFAULT;

        pa_bits = ips_bits[tcr >> 32 & 7];
        if (pa_bits == 52 && gshift != 16)
                pa_bits = 48; /* 52-bit output needs FEAT_LPA2 (TCR.DS) with 4K/16K */
        pa52 = pa_bits == 52;
        pa_mask = (UINT64_C(1) << pa_bits) - 1;

        stride = gshift - 3;
        levels = (ia - gshift + stride - 1) / stride;
        start = 4 - levels;

        if (pa52)
                table = (ttbr & UINT64_C(0x0000ffffffffffc0)) | (ttbr >> 2 & 0xf) << 48;
        else
                table = ttbr & UINT64_C(0x0000fffffffffffe);
        /* The start table is aligned to its size: lower BADDR bits are RES0, taken as zero. */
        table &= ~((UINT64_C(8) << (ia - (gshift + stride * (3 - start)))) - 1);
        if (table & ~pa_mask)
                return -EFAULT;

        for (unsigned level = start;; level++) {
                unsigned shift = gshift + stride * (3 - level);
                unsigned bits = level == start ? ia - shift : stride;
                uint64_t index = addr >> shift & ((UINT64_C(1) << bits) - 1), desc, oa;
                uint8_t buf[8];
                int r;

                r = read(userdata, table + index * 8, buf, sizeof buf);
                if (r < 0)
                        return r;
                desc = mmu->sctlr & SCTLR_EE ? read_be64(buf) : read_le64(buf);
                if (!(desc & 1))
                        return -EFAULT;

                oa = desc & OA_MASK_48 & ~((UINT64_C(1) << gshift) - 1);
                if (pa52)
                        oa |= (desc >> 12 & 0xf) << 48;

                if (level < 3 && (desc & 2)) {
                        if (oa & ~pa_mask)
                                return -EFAULT;
                        table = oa;
                        continue;
                }

                if (level == 3) {
                        if (!(desc & 2)) /* reserved at level 3 */
                                return -EFAULT;
                } else {
                        bool block_ok;

                        switch (gshift) {
                        case 12:
                                block_ok = level >= 1;
                                break;
                        case 14:
                                block_ok = level == 2;
                                break;
                        default:
                                block_ok = level == 2 || (level == 1 && pa52);
                                break;
                        }
                        if (!block_ok)
                                return -EFAULT;
                }

                oa = (oa & ~((UINT64_C(1) << shift) - 1)) | (addr & ((UINT64_C(1) << shift) - 1));
                if (oa & ~pa_mask)
                        return -EFAULT;
                *ret_ipa = oa;
                return 0;
        }
}

int a64_translate(const A64Mmu *mmu, uint64_t va, A64ReadPhys read, void *userdata, uint64_t *ret_ipa) {
        assert(mmu);
        assert(read);
        assert(ret_ipa);

        return translate(mmu, va, false, read, userdata, ret_ipa);
}

/* Translates the element at va of size bytes; one whose bytes span two pages must be contiguous in IPA space
 * (it becomes a single MMIO access). */
static int translate_element(const A64Vcpu *vcpu, uint64_t va, unsigned size, uint64_t *ret_ipa) {
        uint64_t ipa, last_va = va + size - 1, last_ipa;
        int r;

        r = translate(&vcpu->mmu, va, false, vcpu->read_phys, vcpu->userdata, &ipa);
        if (r < 0)
                return r;
        /* 4K is the smallest granule: within one 4K page the mapping is contiguous. */
        if ((va ^ last_va) >> 12) {
                r = translate(&vcpu->mmu, last_va, false, vcpu->read_phys, vcpu->userdata, &last_ipa);
                if (r < 0)
                        return r;
                if (last_ipa - ipa != size - 1)
                        return -EOPNOTSUPP;
        }
        *ret_ipa = ipa;
        return 0;
}

/* X[n] for Rt/Rt2/Rm: 31 reads as zero. */
static int get_x_or_zr(const A64Vcpu *vcpu, unsigned n, uint64_t *ret) {
        if (n == 31) {
                *ret = 0;
                return 0;
        }
        return vcpu->get_reg(vcpu->userdata, n, ret);
}

static uint64_t extend_reg(uint64_t x, A64Extend extend, unsigned shift) {
        switch (extend) {
        case A64_EXTEND_UXTW:
                x &= UINT32_MAX;
                break;
        case A64_EXTEND_SXTW:
                x = sign_extend(x, 32);
                break;
        default: /* LSL (UXTX), SXTX: all 64 bits */
                break;
        }
        return x << shift;
}

/* One element of the access: its address, and its data in memory order (the low size bytes). */
typedef struct Element {
        uint64_t va, ipa;
        uint8_t data[16];
} Element;

/* The value a loaded integer element leaves in Xt. */
static uint64_t load_value(const A64Insn *d, const uint8_t data[16]) {
        uint64_t v = 0;

        for (unsigned i = d->size; i > 0; i--)
                v = v << 8 | data[i - 1];
        if (d->sign_extend)
                v = sign_extend(v, d->size * 8);
        if (d->reg_size == 4)
                v &= UINT32_MAX;
        return v;
}

int a64_emulate(const A64Vcpu *vcpu, uint64_t fault_ipa) {
        uint64_t pc, pc_ipa, base = 0, offset = 0, address, wb_value = 0;
        Element el[2] = {};
        unsigned n_el, el_level;
        uint8_t code[4];
        uint32_t insn;
        A64Insn d;
        bool hit = false;
        int r;

        assert(vcpu);
        assert(vcpu->get_reg && vcpu->set_reg && vcpu->get_vreg && vcpu->set_vreg);
        assert(vcpu->read_phys && vcpu->mmio_read && vcpu->mmio_write);

        if (vcpu->pstate & 0x10) /* nRW: AArch32 */
                return -EOPNOTSUPP;
        el_level = vcpu->pstate >> 2 & 3;
        if (el_level > 1)
                return -EOPNOTSUPP;
        if (vcpu->mmu.sctlr & (el_level == 0 ? SCTLR_E0E : SCTLR_EE))
                return -EOPNOTSUPP;

        r = vcpu->get_reg(vcpu->userdata, A64_REG_PC, &pc);
        if (r < 0)
                return r;
        if (pc & 3)
                return -EFAULT;
        r = translate(&vcpu->mmu, pc, true, vcpu->read_phys, vcpu->userdata, &pc_ipa);
        if (r < 0)
                return r;
        r = vcpu->read_phys(vcpu->userdata, pc_ipa, code, sizeof code);
        if (r < 0)
                return r;
        /* Instructions are always little-endian in AArch64. */
        insn = (uint32_t) code[0] | (uint32_t) code[1] << 8 | (uint32_t) code[2] << 16 |
                (uint32_t) code[3] << 24;

        r = a64_decode(insn, &d);
        if (r < 0)
                return r;

        if (d.kind == A64_INSN_NOP)
                /* A prefetch cannot have trapped: the guest replaced the instruction since. Executing the
                 * hint is doing nothing, as it would have done. */
                return MIN(vcpu->set_reg(vcpu->userdata, A64_REG_PC, pc + 4), 0);

        if (d.mode == A64_ADDR_LITERAL)
                base = pc;
        else {
                r = vcpu->get_reg(vcpu->userdata, d.rn == 31 ? A64_REG_SP : d.rn, &base);
                if (r < 0)
                        return r;
        }

        switch (d.mode) {
        case A64_ADDR_REGISTER:
                r = get_x_or_zr(vcpu, d.rm, &offset);
                if (r < 0)
                        return r;
                offset = extend_reg(offset, d.extend, d.shift);
                address = base + offset;
                break;
        case A64_ADDR_POST_INDEX:
                address = base;
                wb_value = base + (uint64_t) d.imm;
                break;
        case A64_ADDR_PRE_INDEX:
                address = wb_value = base + (uint64_t) d.imm;
                break;
        default:
                address = base + (uint64_t) d.imm;
                break;
        }

        n_el = d.pair ? 2 : 1;
        for (unsigned i = 0; i < n_el; i++) {
                el[i].va = address + (uint64_t) i * d.size;
                r = translate_element(vcpu, el[i].va, d.size, &el[i].ipa);
                if (r < 0)
                        return r;
                if (fault_ipa - el[i].ipa < d.size)
                        hit = true;
        }
        if (!hit)
                return -EFAULT;

        if (d.kind == A64_INSN_STORE)
                for (unsigned i = 0; i < n_el; i++) {
                        unsigned t = i == 0 ? d.rt : d.rt2;

                        if (d.simd)
                                r = vcpu->get_vreg(vcpu->userdata, t, el[i].data);
                        else {
                                uint64_t v;

                                r = get_x_or_zr(vcpu, t, &v);
                                if (r >= 0)
                                        for (unsigned b = 0; b < 8; b++)
                                                el[i].data[b] = (uint8_t) (v >> (8 * b));
                        }
                        if (r < 0)
                                return r;
                }

        for (unsigned i = 0; i < n_el; i++) {
                if (d.kind == A64_INSN_STORE)
                        r = vcpu->mmio_write(vcpu->userdata, el[i].ipa, el[i].data, d.size);
                else
                        r = vcpu->mmio_read(vcpu->userdata, el[i].ipa, el[i].data, d.size);
                if (r < 0)
                        return r;
        }

        if (d.kind == A64_INSN_LOAD)
                for (unsigned i = 0; i < n_el; i++) {
                        unsigned t = i == 0 ? d.rt : d.rt2;

                        if (d.simd) {
                                /* The loaded element, the rest of the V register zeroed */
                                memset(el[i].data + d.size, 0, sizeof el[i].data - d.size);
                                r = vcpu->set_vreg(vcpu->userdata, t, el[i].data);
                        } else if (t != 31)
                                r = vcpu->set_reg(vcpu->userdata, t, load_value(&d, el[i].data));
                        if (r < 0)
                                return r;
                }

        if (d.writeback) {
                r = vcpu->set_reg(vcpu->userdata, d.rn == 31 ? A64_REG_SP : d.rn, wb_value);
                if (r < 0)
                        return r;
        }

        return MIN(vcpu->set_reg(vcpu->userdata, A64_REG_PC, pc + 4), 0);
}
