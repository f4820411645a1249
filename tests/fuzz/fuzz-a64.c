/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the A64 load/store emulator: one instruction, a register file and guest memory from the input.
 *
 * Input, little-endian, missing bytes read as zero:
 *   0   u32 instruction word
 *   4   u32 flags:
 *         bit 0     write the instruction at PC (PC = RAM offset from the pc field, 4-byte aligned)
 *         bit 1     fault_ipa from a second model of the address arithmetic (else the fault_ipa field)
 *         bit 2, 3  the first / second MMIO access fails with -EIO
 *         bits 4..8 PSTATE[4:0] (nRW, EL, SPSel)
 *         bit 9     base registers point into the MMIO window (X = MMIO_IPA + low 16 bits)
 *         bits 10..12  the nth register read (get_reg, get_vreg) fails with -EBADE, 0: none
 *         bit 13    like bit 9 for the instruction's base register only (an index register keeps its bits)
 *   8   u64 pc
 *   16  u64 fault_ipa
 *   24  u64 SCTLR_EL1, TCR_EL1, TTBR0_EL1, TTBR1_EL1
 *   56  u64 X0..X30, SP
 *   312 guest RAM at IPA 0 (page tables, code, literals), up to RAM_MAX bytes
 * Every IPA that is not RAM answers as MMIO (reads return a pattern of the address). V registers are a fixed
 * pattern. On success exactly PC + 4 and the registers the instruction names may change, the accesses match
 * the decoded instruction and fault_ipa lies in one of them; on failure nothing changes. */
#include "a64.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER_SIZE 312
#define RAM_MAX 65536
#define MMIO_IPA UINT64_C(0x09000000)

#define FLAG_PLACE_INSN (UINT32_C(1) << 0)
#define FLAG_AUTO_FAULT (UINT32_C(1) << 1)
#define FLAG_FAIL_FIRST (UINT32_C(1) << 2)
#define FLAG_FAIL_SECOND (UINT32_C(1) << 3)
#define FLAG_NEAR_MMIO (UINT32_C(1) << 9)
#define FLAG_BASE_NEAR_MMIO (UINT32_C(1) << 13)

typedef struct Access {
        bool write;
        uint64_t ipa;
        size_t len;
        uint8_t data[16];
} Access;

typedef struct Regs {
        uint64_t x[31], sp, pc;
        uint8_t v[32][16];
} Regs;

typedef struct Run {
        Regs regs;
        uint8_t ram[RAM_MAX];
        size_t ram_size;
        Access log[2];
        unsigned n_log, n_mmio, n_sets;
        unsigned fail_at;
        unsigned n_gets, fail_get_at;
        uint32_t fetched; /* the last 4-byte read from RAM: the instruction fetch */
        bool fetched_valid;
} Run;

static uint64_t get64(const uint8_t *data, size_t size, size_t offset) {
        uint64_t v = 0;

        for (size_t i = 8; i > 0; i--)
                v = v << 8 | (offset + i - 1 < size ? data[offset + i - 1] : 0);
        return v;
}

static int cb_read_phys(void *userdata, uint64_t ipa, void *buf, size_t len) {
        Run *run = userdata;

        fuzz_check(len == 4 || len == 8, "read_phys len %zu", len);
        if (ipa >= run->ram_size || run->ram_size - ipa < len)
                return -EFAULT;
        memcpy(buf, run->ram + ipa, len);
        if (len == 4) {
                const uint8_t *b = buf;

                run->fetched = (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 |
                        (uint32_t) b[3] << 24;
                run->fetched_valid = true;
        }
        return 0;
}

static int mmio(Run *run, bool write, uint64_t ipa, void *buf, size_t len) {
        Access *a;

        fuzz_check(
                IN_SET(len, (size_t) 1, (size_t) 2, (size_t) 4, (size_t) 8, (size_t) 16), "MMIO len %zu", len);
        fuzz_check(run->n_mmio < 2, "a third MMIO access");
        if (++run->n_mmio == run->fail_at)
                return -EIO;
        if (!write)
                for (size_t i = 0; i < len; i++)
                        ((uint8_t *) buf)[i] = (uint8_t) ((ipa + i) * 0x9d ^ 0x5a);
        a = &run->log[run->n_log++];
        *a = (Access){ .write = write, .ipa = ipa, .len = len };
        memcpy(a->data, buf, len);
        return 0;
}

static int cb_mmio_read(void *userdata, uint64_t ipa, void *buf, size_t len) {
        return mmio(userdata, false, ipa, buf, len);
}

static int cb_mmio_write(void *userdata, uint64_t ipa, const void *buf, size_t len) {
        uint8_t copy[16];

        fuzz_check(len <= sizeof copy);
        memcpy(copy, buf, len);
        return mmio(userdata, true, ipa, copy, len);
}

static int cb_get_reg(void *userdata, unsigned reg, uint64_t *ret) {
        Run *run = userdata;

        fuzz_check(reg <= A64_REG_PC, "get_reg(%u)", reg);
        if (++run->n_gets == run->fail_get_at)
                return -EBADE;
        *ret = reg < 31 ? run->regs.x[reg] : reg == A64_REG_SP ? run->regs.sp : run->regs.pc;
        return 0;
}

static int cb_set_reg(void *userdata, unsigned reg, uint64_t value) {
        Run *run = userdata;

        fuzz_check(reg <= A64_REG_PC, "set_reg(%u)", reg);
        run->n_sets++;
        if (reg < 31)
                run->regs.x[reg] = value;
        else if (reg == A64_REG_SP)
                run->regs.sp = value;
        else
                run->regs.pc = value;
        return 0;
}

static int cb_get_vreg(void *userdata, unsigned reg, uint8_t ret[16]) {
        Run *run = userdata;

        fuzz_check(reg < 32, "get_vreg(%u)", reg);
        if (++run->n_gets == run->fail_get_at)
                return -EBADE;
        memcpy(ret, run->regs.v[reg], 16);
        return 0;
}

static int cb_set_vreg(void *userdata, unsigned reg, const uint8_t value[16]) {
        Run *run = userdata;

        fuzz_check(reg < 32, "set_vreg(%u)", reg);
        run->n_sets++;
        memcpy(run->regs.v[reg], value, 16);
        return 0;
}

static uint64_t sext(uint64_t v, unsigned bits) {
        uint64_t m = UINT64_C(1) << (bits - 1);

        if (bits >= 64)
                return v;
        v &= (m << 1) - 1;
        return (v ^ m) - m;
}

/* The data address of d from the registers before the instruction, and the written-back base. */
static uint64_t address_of(const A64Insn *d, const Regs *r, uint64_t *ret_wb) {
        uint64_t base = d->mode == A64_ADDR_LITERAL ? r->pc : d->rn == 31 ? r->sp : r->x[d->rn], off;

        switch (d->mode) {
        case A64_ADDR_REGISTER:
                off = d->rm == 31 ? 0 : r->x[d->rm];
                if (d->extend == A64_EXTEND_UXTW)
                        off &= UINT32_MAX;
                else if (d->extend == A64_EXTEND_SXTW)
                        off = sext(off, 32);
                return base + (off << d->shift);
        case A64_ADDR_POST_INDEX:
                *ret_wb = base + (uint64_t) d->imm;
                return base;
        case A64_ADDR_PRE_INDEX:
                *ret_wb = base + (uint64_t) d->imm;
                return *ret_wb;
        default:
                return base + (uint64_t) d->imm;
        }
}

static bool insn_equal(const A64Insn *a, const A64Insn *b) {
        return a->kind == b->kind && a->mode == b->mode && a->size == b->size && a->reg_size == b->reg_size &&
                a->pair == b->pair && a->simd == b->simd && a->sign_extend == b->sign_extend &&
                a->writeback == b->writeback && a->unprivileged == b->unprivileged &&
                a->ordered == b->ordered && a->rt == b->rt && a->rt2 == b->rt2 && a->rn == b->rn &&
                a->rm == b->rm && a->extend == b->extend && a->shift == b->shift && a->imm == b->imm;
}

/* Stage 1 off: the IPA of a data address (TBI per TCR), false if beyond the 52 bits a flat map covers. */
static bool flat_ipa(uint64_t tcr, uint64_t va, uint64_t *ret) {
        bool upper = va >> 55 & 1;

        if (tcr & (upper ? UINT64_C(1) << 38 : UINT64_C(1) << 37))
                va = upper ? va | UINT64_C(0xff00000000000000) : va & UINT64_C(0x00ffffffffffffff);
        *ret = va;
        return va >> 52 == 0;
}

/* Whether a64_emulate() has to succeed: the instruction is at PC, stage 1 is off, fault_ipa is right, no
 * callback fails, and every byte of every element has a flat IPA, contiguous within the element. */
static bool must_succeed(uint32_t insn, uint32_t flags, const A64Vcpu *vcpu, const Regs *r) {
        unsigned el = vcpu->pstate >> 2 & 3;
        uint64_t wb, va, ipa, last;
        A64Insn d;

        if ((flags & (FLAG_PLACE_INSN | FLAG_AUTO_FAULT)) != (FLAG_PLACE_INSN | FLAG_AUTO_FAULT) ||
            (flags & (FLAG_FAIL_FIRST | FLAG_FAIL_SECOND)) || (flags >> 10 & 7) != 0)
                return false;
        if ((vcpu->mmu.sctlr & 1) || (vcpu->pstate & 0x10) || el > 1 ||
            (vcpu->mmu.sctlr & (el == 0 ? UINT64_C(1) << 24 : UINT64_C(1) << 25)))
                return false;
        if (a64_decode(insn, &d) < 0)
                return false;
        if (d.kind == A64_INSN_NOP)
                return true;
        va = address_of(&d, r, &wb);
        for (unsigned e = 0; e < (d.pair ? 2u : 1u); e++) {
                uint64_t v = va + (uint64_t) e * d.size;

                if (!flat_ipa(vcpu->mmu.tcr, v, &ipa) || !flat_ipa(vcpu->mmu.tcr, v + d.size - 1, &last) ||
                    last - ipa != d.size - 1)
                        return false;
        }
        return true;
}

static void check_decode(uint32_t insn) {
        A64Insn a = {}, b = {};
        int r = a64_decode(insn, &a);

        fuzz_check(IN_SET(r, 0, -EOPNOTSUPP, -EINVAL), "a64_decode(0x%08x) = %d", insn, r);
        fuzz_check(a64_decode(insn, &b) == r && insn_equal(&a, &b), "a64_decode not deterministic");
        if (r < 0)
                return;
        fuzz_check(IN_SET(a.size, 1u, 2u, 4u, 8u, 16u), "0x%08x: size %u", insn, a.size);
        fuzz_check(
                a.simd ? a.reg_size == a.size : IN_SET(a.reg_size, 4u, 8u) && a.size <= a.reg_size,
                "0x%08x: size %u reg_size %u",
                insn,
                a.size,
                a.reg_size);
        fuzz_check(a.rt < 32 && a.rt2 < 32 && a.rn < 32 && a.rm < 32 && a.shift <= 4, "0x%08x: fields", insn);
        fuzz_check(a.writeback == IN_SET(a.mode, A64_ADDR_PRE_INDEX, A64_ADDR_POST_INDEX), "0x%08x", insn);
        fuzz_check(a64_insn_kind_to_string(a.kind) && a64_addr_mode_to_string(a.mode), "0x%08x", insn);
        fuzz_check(!a.sign_extend || (a.kind == A64_INSN_LOAD && !a.simd), "0x%08x", insn);
        if (a.kind == A64_INSN_LOAD && a.pair)
                fuzz_check(a.rt != a.rt2, "0x%08x: LDP with Rt == Rt2 accepted", insn);
        if (a.mode == A64_ADDR_REGISTER)
                fuzz_check(a64_extend_to_string(a.extend), "0x%08x: extend %d", insn, (int) a.extend);
}

/* What a successful emulation of d may have done. */
static void check_success(const Run *run, const Regs *before, const A64Insn *d, uint64_t fault_ipa) {
        Regs want = *before;
        unsigned n = d->kind == A64_INSN_NOP ? 0 : d->pair ? 2 : 1;
        bool hit = false;

        want.pc = before->pc + 4;
        fuzz_check(run->n_log == n, "%u accesses, expected %u", run->n_log, n);

        for (unsigned e = 0; e < run->n_log; e++) {
                const Access *a = &run->log[e];
                unsigned t = e == 0 ? d->rt : d->rt2;
                uint64_t v = 0;

                fuzz_check(a->write == (d->kind == A64_INSN_STORE));
                fuzz_check(a->len == d->size, "len %zu, size %u", a->len, d->size);
                if (fault_ipa - a->ipa < a->len)
                        hit = true;
                if (d->simd) {
                        if (d->kind == A64_INSN_STORE)
                                fuzz_check(memcmp(a->data, before->v[t], a->len) == 0, "stored other V bytes");
                        else {
                                memset(want.v[t], 0, 16);
                                memcpy(want.v[t], a->data, a->len);
                        }
                        continue;
                }
                for (unsigned b = 0; b < MIN(a->len, (size_t) 8); b++)
                        v |= (uint64_t) a->data[b] << (8 * b);
                if (d->kind == A64_INSN_STORE) {
                        uint64_t src = t == 31 ? 0 : before->x[t];

                        if (d->size < 8)
                                src &= (UINT64_C(1) << (8 * d->size)) - 1;
                        fuzz_check(v == src, "stored 0x%" PRIx64 " for 0x%" PRIx64, v, src);
                } else if (t != 31) {
                        if (d->sign_extend)
                                v = sext(v, 8 * d->size);
                        if (d->reg_size == 4)
                                v &= UINT32_MAX;
                        want.x[t] = v;
                }
        }
        if (n > 0)
                fuzz_check(hit, "fault_ipa 0x%" PRIx64 " in no access", fault_ipa);
        if (d->writeback && d->kind != A64_INSN_NOP) {
                uint64_t wb = 0;

                (void) address_of(d, before, &wb);
                if (d->rn == 31)
                        want.sp = wb;
                else
                        want.x[d->rn] = wb;
        }
        fuzz_check(memcmp(&run->regs, &want, sizeof want) == 0, "registers other than expected");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Run run; /* 64K of RAM: not on the stack */
        uint32_t insn = (uint32_t) get64(data, size, 0), flags = (uint32_t) (get64(data, size, 0) >> 32);
        uint64_t fault_ipa = get64(data, size, 16);
        A64Vcpu vcpu;
        Regs before;
        A64Insn d;
        bool expect_success;
        int r;

        check_decode(insn);

        memset(&run, 0, sizeof run);
        run.ram_size = size > HEADER_SIZE ? MIN(size - HEADER_SIZE, (size_t) RAM_MAX) : 0;
        if (run.ram_size > 0)
                memcpy(run.ram, data + HEADER_SIZE, run.ram_size);
        for (unsigned i = 0; i < 31; i++) {
                run.regs.x[i] = get64(data, size, 56 + 8 * i);
                if (flags & FLAG_NEAR_MMIO)
                        run.regs.x[i] = MMIO_IPA + (run.regs.x[i] & 0xffff);
        }
        run.regs.sp = get64(data, size, 56 + 8 * 31);
        if (flags & FLAG_NEAR_MMIO)
                run.regs.sp = MMIO_IPA + (run.regs.sp & 0xfff0);
        if ((flags & FLAG_BASE_NEAR_MMIO) && a64_decode(insn, &d) == 0) {
                uint64_t *b = d.rn == 31 ? &run.regs.sp : &run.regs.x[d.rn];

                *b = MMIO_IPA + (*b & 0xffff);
        }
        for (unsigned i = 0; i < 32; i++)
                for (unsigned b = 0; b < 16; b++)
                        run.regs.v[i][b] = (uint8_t) (i * 16 + b + 1);
        run.regs.pc = get64(data, size, 8);
        if (flags & FLAG_PLACE_INSN) {
                if (run.ram_size < 4)
                        run.ram_size = 4;
                run.regs.pc = (run.regs.pc % (run.ram_size - 3)) & ~UINT64_C(3);
                for (unsigned b = 0; b < 4; b++)
                        run.ram[run.regs.pc + b] = (uint8_t) (insn >> (8 * b));
        }
        run.fail_at = flags & FLAG_FAIL_FIRST ? 1 : flags & FLAG_FAIL_SECOND ? 2 : 0;
        run.fail_get_at = flags >> 10 & 7;

        vcpu = (A64Vcpu){
                .userdata = &run,
                .mmu = {
                        .sctlr = get64(data, size, 24),
                        .tcr = get64(data, size, 32),
                        .ttbr0 = get64(data, size, 40),
                        .ttbr1 = get64(data, size, 48),
                },
                .pstate = flags >> 4 & 0x1f,
                .get_reg = cb_get_reg,
                .set_reg = cb_set_reg,
                .get_vreg = cb_get_vreg,
                .set_vreg = cb_set_vreg,
                .read_phys = cb_read_phys,
                .mmio_read = cb_mmio_read,
                .mmio_write = cb_mmio_write,
        };

        /* The translation on its own, for the addresses at hand */
        for (unsigned i = 0; i < 3; i++) {
                uint64_t va = i == 0 ? run.regs.pc : i == 1 ? run.regs.x[0] : fault_ipa, ipa = 0xbad;

                r = a64_translate(&vcpu.mmu, va, cb_read_phys, &run, &ipa);
                fuzz_check(IN_SET(r, 0, -EFAULT, -EOPNOTSUPP), "a64_translate = %d", r);
                fuzz_check(r < 0 ? ipa == 0xbad : ipa >> 52 == 0, "ipa 0x%" PRIx64 " (r = %d)", ipa, r);
        }

        if ((flags & FLAG_AUTO_FAULT) && a64_decode(insn, &d) == 0 && d.kind != A64_INSN_NOP) {
                uint64_t wb, va = address_of(&d, &run.regs, &wb), ipa;

                if (a64_translate(&vcpu.mmu, va, cb_read_phys, &run, &ipa) == 0)
                        fault_ipa = ipa + (fault_ipa % d.size);
        }

        before = run.regs;
        expect_success = must_succeed(insn, flags, &vcpu, &before);
        run.fetched_valid = false;
        r = a64_emulate(&vcpu, fault_ipa);
        fuzz_check(IN_SET(r, 0, -EOPNOTSUPP, -EINVAL, -EFAULT, -EIO, -EBADE), "a64_emulate = %d", r);
        fuzz_check(r == 0 || !expect_success, "0x%08x: %d where it must succeed", insn, r);

        if (r < 0) {
                fuzz_check(run.n_sets == 0, "%u register writes, then %d", run.n_sets, r);
                fuzz_check(memcmp(&run.regs, &before, sizeof before) == 0, "registers changed, then %d", r);
                if (r == -EIO)
                        fuzz_check(
                                run.fail_at > 0 && run.n_mmio == run.fail_at, "-EIO without a failing access");
                if (r == -EBADE)
                        fuzz_check(run.fail_get_at > 0 && run.n_gets == run.fail_get_at, "-EBADE unasked");
                else
                        fuzz_check(run.fail_get_at == 0 || run.n_gets < run.fail_get_at, "read error ignored");
                return 0;
        }

        fuzz_check(run.fetched_valid, "success without an instruction fetch");
        fuzz_check(run.fail_get_at == 0 || run.n_gets < run.fail_get_at, "a failed register read ignored");
        fuzz_check((before.pc & 3) == 0, "misaligned PC 0x%" PRIx64 " emulated", before.pc);
        fuzz_check(a64_decode(run.fetched, &d) == 0, "emulated 0x%08x that does not decode", run.fetched);
        check_success(&run, &before, &d, fault_ipa);

        /* With stage 1 off and no TBI, the first access is at the address itself. */
        if (!(vcpu.mmu.sctlr & 1) && !(vcpu.mmu.tcr & (UINT64_C(3) << 37)) && d.kind != A64_INSN_NOP) {
                uint64_t wb;

                fuzz_check(run.log[0].ipa == address_of(&d, &before, &wb), "flat access at another address");
        }
        return 0;
}
