/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A64 load/store emulation against a fake vCPU and MMIO region; encodings made by aarch64-linux-gnu-as. */
#include <stdarg.h>

#include "a64.h"
#include "util.h"

/* Guest physical layout: RAM with a hole that is the MMIO region, a RAM chunk above 2^32 for the address
 * size tests and one above 2^48 for the 52-bit tests. MMIO byte at offset o reads as o & 0xff, so an
 * expected value can be read off its address. */
#define RAM_IPA UINT64_C(0x40000000)
#define RAM_SIZE (4u << 20)
#define M UINT64_C(0x40100000)
#define MMIO_SIZE 0x10000u
#define HIGH_IPA UINT64_C(0x000a000000000000)
#define HIGH_SIZE (256u << 10)
#define MID_IPA UINT64_C(0x0000000800000000)
#define MID_SIZE (64u << 10)
#define CODE (RAM_IPA + 0x1000)
#define PT_BASE (RAM_IPA + 0x200000)

#define TCR_TBI0 (UINT64_C(1) << 37)
#define TCR_TBI1 (UINT64_C(1) << 38)
#define TCR_TBID0 (UINT64_C(1) << 51)
#define TCR_EPD0 (UINT64_C(1) << 7)
#define TCR_EPD1 (UINT64_C(1) << 23)
#define TCR_DS (UINT64_C(1) << 59)
#define TCR_IPS(x) ((uint64_t) (x) << 32)
#define TCR_TG0_4K (UINT64_C(0) << 14)
#define TCR_TG0_64K (UINT64_C(1) << 14)
#define TCR_TG0_16K (UINT64_C(2) << 14)
#define TCR_TG1_16K (UINT64_C(1) << 30)
#define TCR_TG1_4K (UINT64_C(2) << 30)
#define TCR_TG1_64K (UINT64_C(3) << 30)
#define TCR_T0SZ(x) ((uint64_t) (x))
#define TCR_T1SZ(x) ((uint64_t) (x) << 16)
#define SCTLR_M UINT64_C(1)
#define SCTLR_E0E (UINT64_C(1) << 24)
#define SCTLR_EE (UINT64_C(1) << 25)

#define PSTATE_EL1H UINT64_C(0x5)
#define PSTATE_EL0T UINT64_C(0x0)

/* Descriptors: valid + table/page; a block is valid with bit 1 clear. AF and attributes do not matter. */
#define DESC_TABLE(a) ((uint64_t) (a) | 3)
#define DESC_PAGE(a) ((uint64_t) (a) | 0x403)
#define DESC_BLOCK(a) ((uint64_t) (a) | 0x401)

static unsigned n_failed, n_checks, n_cases;
static const char *current = "";

_printf_(2, 3) static void fail(int line, const char *fmt, ...) {
        va_list ap;

        n_failed++;
        fprintf(stderr, "FAIL test-a64.c:%d [%s]: ", line, current);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

#define check(expr) \
        do { \
                n_checks++; \
                if (!(expr)) \
                        fail(__LINE__, "%s", #expr); \
        } while (0)

#define check_eq(got, want) check_eq_at(__LINE__, #got, (uint64_t) (got), (uint64_t) (want))
static void check_eq_at(int line, const char *what, uint64_t got, uint64_t want) {
        n_checks++;
        if (got != want)
                fail(line,
                     "%s = 0x%016" PRIx64 " (%" PRIi64 "), expected 0x%016" PRIx64 " (%" PRIi64 ")",
                     what,
                     got,
                     (int64_t) got,
                     want,
                     (int64_t) want);
}

typedef struct Access {
        bool write;
        uint64_t ipa;
        size_t len;
        uint8_t data[16];
} Access;

typedef struct State {
        uint64_t x[31], sp, pc;
        uint8_t v[32][16];
} State;

typedef struct Vm {
        State s;
        A64Mmu mmu;
        uint64_t pstate;
        uint8_t *ram, *mid, *high;
        uint8_t mmio[MMIO_SIZE];
        Access log[4];
        unsigned n_log, n_mmio, n_sets;
        unsigned fail_mmio_at; /* this access (1-based) fails with -EIO */
        int fail_get_reg;      /* get_reg of this register id fails with -EBADE; -1: none */
        bool mmio_anywhere;    /* accesses outside the MMIO region succeed (reads give 0x5a) */
        uint64_t pt_next;      /* page table allocator in RAM */
} Vm;

static Vm vm;

static uint8_t *phys(Vm *v, uint64_t ipa, size_t len) {
        if (ipa >= RAM_IPA && ipa - RAM_IPA <= RAM_SIZE - len) {
                if (ipa + len > M && ipa < M + MMIO_SIZE)
                        return NULL;
                return v->ram + (ipa - RAM_IPA);
        }
        if (ipa >= MID_IPA && ipa - MID_IPA <= MID_SIZE - len)
                return v->mid + (ipa - MID_IPA);
        if (ipa >= HIGH_IPA && ipa - HIGH_IPA <= HIGH_SIZE - len)
                return v->high + (ipa - HIGH_IPA);
        return NULL;
}

static int cb_read_phys(void *userdata, uint64_t ipa, void *buf, size_t len) {
        uint8_t *p = phys(userdata, ipa, len);

        if (!p)
                return -EFAULT;
        memcpy(buf, p, len);
        return 0;
}

static int mmio_access(Vm *v, bool write, uint64_t ipa, void *buf, size_t len) {
        Access *a;

        check(len == 1 || len == 2 || len == 4 || len == 8 || len == 16);
        check(v->n_log < ELEMENTSOF(v->log));
        if (v->n_log >= ELEMENTSOF(v->log) || len > 16)
                return -E2BIG;
        v->n_mmio++;
        if (v->n_mmio == v->fail_mmio_at)
                return -EIO;
        a = &v->log[v->n_log++];
        *a = (Access){ .write = write, .ipa = ipa, .len = len };
        if (ipa >= M && ipa - M <= MMIO_SIZE - len) {
                if (write)
                        memcpy(v->mmio + (ipa - M), buf, len);
                else
                        memcpy(buf, v->mmio + (ipa - M), len);
        } else if (v->mmio_anywhere) {
                if (!write)
                        memset(buf, 0x5a, len);
        } else {
                v->n_log--;
                return -ENXIO;
        }
        memcpy(a->data, buf, len);
        return 0;
}

static int cb_mmio_read(void *userdata, uint64_t ipa, void *buf, size_t len) {
        return mmio_access(userdata, false, ipa, buf, len);
}

static int cb_mmio_write(void *userdata, uint64_t ipa, const void *buf, size_t len) {
        uint8_t copy[16];

        memcpy(copy, buf, MIN(len, sizeof copy));
        return mmio_access(userdata, true, ipa, copy, len);
}

static int cb_get_reg(void *userdata, unsigned reg, uint64_t *ret) {
        Vm *v = userdata;

        check(reg <= A64_REG_PC);
        if ((int) reg == v->fail_get_reg)
                return -EBADE;
        *ret = reg < 31 ? v->s.x[reg] : reg == A64_REG_SP ? v->s.sp : v->s.pc;
        return 0;
}

static int cb_set_reg(void *userdata, unsigned reg, uint64_t value) {
        Vm *v = userdata;

        check(reg <= A64_REG_PC);
        v->n_sets++;
        if (reg < 31)
                v->s.x[reg] = value;
        else if (reg == A64_REG_SP)
                v->s.sp = value;
        else
                v->s.pc = value;
        return 0;
}

static int cb_get_vreg(void *userdata, unsigned reg, uint8_t ret[16]) {
        Vm *v = userdata;

        check(reg < 32);
        memcpy(ret, v->s.v[reg & 31], 16);
        return 0;
}

static int cb_set_vreg(void *userdata, unsigned reg, const uint8_t value[16]) {
        Vm *v = userdata;

        check(reg < 32);
        v->n_sets++;
        memcpy(v->s.v[reg & 31], value, 16);
        return 0;
}

static A64Vcpu vcpu_of(Vm *v) {
        return (A64Vcpu){
                .userdata = v,
                .mmu = v->mmu,
                .pstate = v->pstate,
                .get_reg = cb_get_reg,
                .set_reg = cb_set_reg,
                .get_vreg = cb_get_vreg,
                .set_vreg = cb_set_vreg,
                .read_phys = cb_read_phys,
                .mmio_read = cb_mmio_read,
                .mmio_write = cb_mmio_write,
        };
}

static uint64_t x_default(unsigned n) {
        return UINT64_C(0xdead0000beef0000) | (uint64_t) n << 40 | n;
}

static void vm_init(Vm *v) {
        uint8_t *ram = v->ram, *mid = v->mid, *high = v->high;

        memset(ram, 0, RAM_SIZE);
        memset(mid, 0, MID_SIZE);
        memset(high, 0, HIGH_SIZE);
        *v = (Vm){
                .ram = ram, .mid = mid, .high = high, .pstate = PSTATE_EL1H, .fail_get_reg = -1, .pt_next = PT_BASE
        };
        for (unsigned i = 0; i < 31; i++)
                v->s.x[i] = x_default(i);
        v->s.sp = UINT64_C(0x5555aaaa5555aaa0);
        v->s.pc = CODE;
        for (unsigned i = 0; i < 32; i++)
                for (unsigned b = 0; b < 16; b++)
                        v->s.v[i][b] = (uint8_t) (0x80 | ((i * 16 + b) & 0x7f));
        for (unsigned i = 0; i < MMIO_SIZE; i++)
                v->mmio[i] = (uint8_t) i;
}

static void poke(Vm *v, uint64_t ipa, uint64_t value, size_t len) {
        uint8_t *p = phys(v, ipa, len);

        if (!p) {
                fail(__LINE__, "poke(0x%" PRIx64 ") outside RAM", ipa);
                return;
        }
        for (size_t i = 0; i < len; i++)
                p[i] = (uint8_t) (value >> (8 * i));
}

static void poke_insn(Vm *v, uint64_t ipa, uint32_t insn) {
        poke(v, ipa, insn, 4);
}

/* A zeroed, size-aligned page table in RAM. */
static uint64_t pt_alloc(Vm *v, uint64_t size) {
        uint64_t t = (v->pt_next + size - 1) & ~(size - 1);

        v->pt_next = t + size;
        return t;
}

static void pt_set(Vm *v, uint64_t table, uint64_t index, uint64_t desc) {
        poke(v, table + index * 8, desc, 8);
}

/* 4K granule, 48-bit VA: each level's index written out, for the emulation tests. */
static uint64_t map4k_next(Vm *v, uint64_t table, uint64_t index) {
        uint8_t *p = phys(v, table + index * 8, 8);
        uint64_t d = 0;

        for (unsigned i = 8; i > 0; i--)
                d = d << 8 | p[i - 1];
        if (!(d & 1)) {
                d = DESC_TABLE(pt_alloc(v, 4096));
                pt_set(v, table, index, d);
        }
        return d & UINT64_C(0x0000fffffffff000);
}

static void map4k(Vm *v, uint64_t root, uint64_t va, uint64_t ipa) {
        uint64_t l1 = map4k_next(v, root, va >> 39 & 511);
        uint64_t l2 = map4k_next(v, l1, va >> 30 & 511);
        uint64_t l3 = map4k_next(v, l2, va >> 21 & 511);

        pt_set(v, l3, va >> 12 & 511, DESC_PAGE(ipa));
}

static State snapshot(const Vm *v) {
        return v->s;
}

static void check_state_at(int line, const State *got, const State *want) {
        for (unsigned i = 0; i < 31; i++) {
                n_checks++;
                if (got->x[i] != want->x[i])
                        fail(line, "x%u = 0x%016" PRIx64 ", expected 0x%016" PRIx64, i, got->x[i], want->x[i]);
        }
        n_checks += 2;
        if (got->sp != want->sp)
                fail(line, "sp = 0x%016" PRIx64 ", expected 0x%016" PRIx64, got->sp, want->sp);
        if (got->pc != want->pc)
                fail(line, "pc = 0x%016" PRIx64 ", expected 0x%016" PRIx64, got->pc, want->pc);
        for (unsigned i = 0; i < 32; i++) {
                n_checks++;
                if (memcmp(got->v[i], want->v[i], 16) != 0) {
                        char g[33], w[33];

                        for (unsigned b = 0; b < 16; b++) {
                                snprintf(g + 2 * b, 3, "%02x", got->v[i][15 - b]);
                                snprintf(w + 2 * b, 3, "%02x", want->v[i][15 - b]);
                        }
                        fail(line, "v%u = 0x%s, expected 0x%s", i, g, w);
                }
        }
}
#define check_state(got, want) check_state_at(__LINE__, got, want)

static void set_v(uint8_t v[16], uint64_t lo, uint64_t hi) {
        for (unsigned b = 0; b < 8; b++) {
                v[b] = (uint8_t) (lo >> (8 * b));
                v[8 + b] = (uint8_t) (hi >> (8 * b));
        }
}

/* One table row: registers to set, the accesses expected in order, the registers expected to change (PC
 * advancing by 4 is implied on success). */
enum {
        ID_NONE,
        ID_X0 = 1, /* X0..X30: 1..31 */
        ID_SP = 32,
        ID_PC = 33,
        ID_V0 = 64, /* V0..V31: 64..95 */
};

typedef struct RegVal {
        unsigned id;
        uint64_t lo, hi;
} RegVal;

typedef struct Acc {
        bool write;
        uint64_t ipa;
        unsigned len;
        uint64_t lo, hi; /* data written, little-endian */
} Acc;

typedef struct Case {
        uint32_t insn;
        const char *text; /* what aarch64-linux-gnu-as assembled insn from */
        RegVal set[5];
        Acc acc[2];
        RegVal want[4];
        int error;
        uint64_t fault; /* 0: the first access's IPA */
        uint64_t tcr;
} Case;

#define C(insn_, text_, ...) \
        { .insn = (insn_), .text = (text_), __VA_ARGS__ }
#define SET(...) .set = { __VA_ARGS__ }
#define ACC(...) .acc = { __VA_ARGS__ }
#define WANT(...) .want = { __VA_ARGS__ }
#define ERR(e) .error = (e)
#define FAULT(a) .fault = (a)
#define X(n, v) \
        { .id = ID_X0 + (n), .lo = (v) }
#define SP(v) \
        { .id = ID_SP, .lo = (v) }
#define PC(v) \
        { .id = ID_PC, .lo = (v) }
#define V(n, l, h) \
        { .id = ID_V0 + (n), .lo = (l), .hi = (h) }
#define LD(a, n) \
        { .ipa = (a), .len = (n) }
#define ST(a, n, v) \
        { .write = true, .ipa = (a), .len = (n), .lo = (v) }
#define ST16(a, l, h) \
        { .write = true, .ipa = (a), .len = 16, .lo = (l), .hi = (h) }

/* V registers as given to stores */
#define VA_LO UINT64_C(0x8877665544332211)
#define VA_HI UINT64_C(0x00ffeeddccbbaa99)
#define VB_LO UINT64_C(0x0123456789abcdef)
#define VB_HI UINT64_C(0xfedcba9876543210)
#define XA UINT64_C(0x1122334455667788)
#define XB UINT64_C(0x99aabbccddeeff00)

/* clang-format off */
static const Case cases[] = {
        /* LDR/STR (unsigned immediate, scaled) */
        C(0xf9400020, "ldr x0, [x1]", SET(X(1, M + 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),
        C(0xf9400462, "ldr x2, [x3, #8]", SET(X(3, M + 0x10)), ACC(LD(M + 0x18, 8)),
          WANT(X(2, 0x1f1e1d1c1b1a1918))),
        C(0xf97ffca4, "ldr x4, [x5, #32760]", SET(X(5, M + 0x100)), ACC(LD(M + 0x80f8, 8)),
          WANT(X(4, 0xfffefdfcfbfaf9f8))),
        C(0xb94004e6, "ldr w6, [x7, #4]", SET(X(7, M + 0x20)), ACC(LD(M + 0x24, 4)), WANT(X(6, 0x27262524))),
        C(0xb97ffd28, "ldr w8, [x9, #16380]", SET(X(9, M)), ACC(LD(M + 0x3ffc, 4)), WANT(X(8, 0xfffefdfc))),
        C(0x397ffd6a, "ldrb w10, [x11, #4095]", SET(X(11, M)), ACC(LD(M + 0xfff, 1)), WANT(X(10, 0xff))),
        C(0x797ffdac, "ldrh w12, [x13, #8190]", SET(X(13, M)), ACC(LD(M + 0x1ffe, 2)), WANT(X(12, 0xfffe))),
        C(0x39c005ee, "ldrsb w14, [x15, #1]", SET(X(15, M + 0x7f)), ACC(LD(M + 0x80, 1)),
          WANT(X(14, 0xffffff80))),
        C(0x39800a30, "ldrsb x16, [x17, #2]", SET(X(17, M + 0x7e)), ACC(LD(M + 0x80, 1)),
          WANT(X(16, 0xffffffffffffff80))),
        C(0x39c00272, "ldrsb w18, [x19]", SET(X(19, M + 0x7f)), ACC(LD(M + 0x7f, 1)), WANT(X(18, 0x7f))),
        C(0x79c006b4, "ldrsh w20, [x21, #2]", SET(X(21, M + 0x80)), ACC(LD(M + 0x82, 2)),
          WANT(X(20, 0xffff8382))),
        C(0x798002f6, "ldrsh x22, [x23]", SET(X(23, M + 0x80)), ACC(LD(M + 0x80, 2)),
          WANT(X(22, 0xffffffffffff8180))),
        C(0x79800338, "ldrsh x24, [x25]", SET(X(25, M + 0x70)), ACC(LD(M + 0x70, 2)), WANT(X(24, 0x7170))),
        C(0xb980077a, "ldrsw x26, [x27, #4]", SET(X(27, M + 0x7c)), ACC(LD(M + 0x80, 4)),
          WANT(X(26, 0xffffffff83828180))),
        C(0xb98003bc, "ldrsw x28, [x29]", SET(X(29, M + 0x10)), ACC(LD(M + 0x10, 4)),
          WANT(X(28, 0x13121110))),
        C(0xf9400ffe, "ldr x30, [sp, #24]", SET(SP(M + 0x20)), ACC(LD(M + 0x38, 8)),
          WANT(X(30, 0x3f3e3d3c3b3a3938))),
        C(0xf940003f, "ldr xzr, [x1]", SET(X(1, M + 0x18)), ACC(LD(M + 0x18, 8))),
        C(0xb940003f, "ldr wzr, [x1]", SET(X(1, M + 0x18)), ACC(LD(M + 0x18, 4))),
        C(0x3940003f, "ldrb wzr, [x1]", SET(X(1, M + 0x18)), ACC(LD(M + 0x18, 1))),
        C(0xf9000020, "str x0, [x1]", SET(X(0, XA), X(1, M + 0x40)), ACC(ST(M + 0x40, 8, XA))),
        C(0xb9000462, "str w2, [x3, #4]", SET(X(2, XA), X(3, M + 0x40)), ACC(ST(M + 0x44, 4, 0x55667788))),
        C(0x393ffca4, "strb w4, [x5, #4095]", SET(X(4, XA), X(5, M)), ACC(ST(M + 0xfff, 1, 0x88))),
        C(0x790004e6, "strh w6, [x7, #2]", SET(X(6, XA), X(7, M + 0x40)), ACC(ST(M + 0x42, 2, 0x7788))),
        C(0xf900011f, "str xzr, [x8]", SET(X(8, M + 0x40)), ACC(ST(M + 0x40, 8, 0))),
        C(0xb9000bff, "str wzr, [sp, #8]", SET(SP(M + 0x40)), ACC(ST(M + 0x48, 4, 0))),
        C(0x3900013f, "strb wzr, [x9]", SET(X(9, M + 0x40)), ACC(ST(M + 0x40, 1, 0))),
        C(0x7900015f, "strh wzr, [x10]", SET(X(10, M + 0x40)), ACC(ST(M + 0x40, 2, 0))),
        C(0xf90003eb, "str x11, [sp]", SET(X(11, XB), SP(M + 0x100)), ACC(ST(M + 0x100, 8, XB))),

        /* LDUR/STUR (unscaled) */
        C(0xf85f8020, "ldur x0, [x1, #-8]", SET(X(1, M + 0x20)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),
        C(0xb84ff062, "ldur w2, [x3, #255]", SET(X(3, M)), ACC(LD(M + 0xff, 4)), WANT(X(2, 0x020100ff))),
        C(0xf85000a4, "ldur x4, [x5, #-256]", SET(X(5, M + 0x200)), ACC(LD(M + 0x100, 8)),
          WANT(X(4, 0x0706050403020100))),
        C(0x385ff0e6, "ldurb w6, [x7, #-1]", SET(X(7, M + 0x81)), ACC(LD(M + 0x80, 1)), WANT(X(6, 0x80))),
        C(0x38c01128, "ldursb w8, [x9, #1]", SET(X(9, M + 0x7f)), ACC(LD(M + 0x80, 1)),
          WANT(X(8, 0xffffff80))),
        C(0x3880116a, "ldursb x10, [x11, #1]", SET(X(11, M + 0x7f)), ACC(LD(M + 0x80, 1)),
          WANT(X(10, 0xffffffffffffff80))),
        C(0x7840318b, "ldurh w11, [x12, #3]", SET(X(12, M + 0x80)), ACC(LD(M + 0x83, 2)),
          WANT(X(11, 0x8483))),
        C(0x78c001cd, "ldursh w13, [x14]", SET(X(14, M + 0x90)), ACC(LD(M + 0x90, 2)),
          WANT(X(13, 0xffff9190))),
        C(0x789fe20e, "ldursh x14, [x16, #-2]", SET(X(16, M + 0x92)), ACC(LD(M + 0x90, 2)),
          WANT(X(14, 0xffffffffffff9190))),
        C(0xb89fc20f, "ldursw x15, [x16, #-4]", SET(X(16, M + 0x84)), ACC(LD(M + 0x80, 4)),
          WANT(X(15, 0xffffffff83828180))),
        C(0xf81f8020, "stur x0, [x1, #-8]", SET(X(0, XA), X(1, M + 0x48)), ACC(ST(M + 0x40, 8, XA))),
        C(0xb80ff062, "stur w2, [x3, #255]", SET(X(2, XB), X(3, M)), ACC(ST(M + 0xff, 4, 0xddeeff00))),
        C(0x381ff0a4, "sturb w4, [x5, #-1]", SET(X(4, XB), X(5, M + 0x41)), ACC(ST(M + 0x40, 1, 0x00))),
        C(0x780010e6, "sturh w6, [x7, #1]", SET(X(6, XA), X(7, M + 0x40)), ACC(ST(M + 0x41, 2, 0x7788))),

        /* pre-index */
        C(0xf8408c20, "ldr x0, [x1, #8]!", SET(X(1, M + 0x10)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918), X(1, M + 0x18))),
        C(0xf85f0c62, "ldr x2, [x3, #-16]!", SET(X(3, M + 0x28)), ACC(LD(M + 0x18, 8)),
          WANT(X(2, 0x1f1e1d1c1b1a1918), X(3, M + 0x18))),
        C(0xb84ffca4, "ldr w4, [x5, #255]!", SET(X(5, M + 0x1)), ACC(LD(M + 0x100, 4)),
          WANT(X(4, 0x03020100), X(5, M + 0x100))),
        C(0x38500ce6, "ldrb w6, [x7, #-256]!", SET(X(7, M + 0x185)), ACC(LD(M + 0x85, 1)),
          WANT(X(6, 0x85), X(7, M + 0x85))),
        C(0x78802d28, "ldrsh x8, [x9, #2]!", SET(X(9, M + 0x8e)), ACC(LD(M + 0x90, 2)),
          WANT(X(8, 0xffffffffffff9190), X(9, M + 0x90))),
        C(0xb8804d6a, "ldrsw x10, [x11, #4]!", SET(X(11, M + 0x20)), ACC(LD(M + 0x24, 4)),
          WANT(X(10, 0x27262524), X(11, M + 0x24))),
        C(0x38c01dac, "ldrsb w12, [x13, #1]!", SET(X(13, M + 0xfe)), ACC(LD(M + 0xff, 1)),
          WANT(X(12, 0xffffffff), X(13, M + 0xff))),
        C(0xf81f0fe0, "str x0, [sp, #-16]!", SET(X(0, XA), SP(M + 0x100)), ACC(ST(M + 0xf0, 8, XA)),
          WANT(SP(M + 0xf0))),
        C(0x78002dee, "strh w14, [x15, #2]!", SET(X(14, XB), X(15, M + 0x40)), ACC(ST(M + 0x42, 2, 0xff00)),
          WANT(X(15, M + 0x42))),
        C(0xf8008e10, "str x16, [x16, #8]!", SET(X(16, M + 0x40)), ACC(ST(M + 0x48, 8, M + 0x40)),
          WANT(X(16, M + 0x48))),
        C(0xf8408fe0, "ldr x0, [sp, #8]!", SET(SP(M + 0x10)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918), SP(M + 0x18))),
        C(0xf8408c3f, "ldr xzr, [x1, #8]!", SET(X(1, M + 0x10)), ACC(LD(M + 0x18, 8)), WANT(X(1, M + 0x18))),

        /* post-index */
        C(0xf8408420, "ldr x0, [x1], #8", SET(X(1, M + 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918), X(1, M + 0x20))),
        C(0xb85fc462, "ldr w2, [x3], #-4", SET(X(3, M + 0x24)), ACC(LD(M + 0x24, 4)),
          WANT(X(2, 0x27262524), X(3, M + 0x20))),
        C(0x388ff4a4, "ldrsb x4, [x5], #255", SET(X(5, M + 0xfe)), ACC(LD(M + 0xfe, 1)),
          WANT(X(4, 0xfffffffffffffffe), X(5, M + 0xfe + 255))),
        C(0x785004e6, "ldrh w6, [x7], #-256", SET(X(7, M + 0x200)), ACC(LD(M + 0x200, 2)),
          WANT(X(6, 0x0100), X(7, M + 0x100))),
        C(0xb8804528, "ldrsw x8, [x9], #4", SET(X(9, M + 0x80)), ACC(LD(M + 0x80, 4)),
          WANT(X(8, 0xffffffff83828180), X(9, M + 0x84))),
        C(0xf801056a, "str x10, [x11], #16", SET(X(10, XA), X(11, M + 0x40)), ACC(ST(M + 0x40, 8, XA)),
          WANT(X(11, M + 0x50))),
        C(0x381ff5ac, "strb w12, [x13], #-1", SET(X(12, XA), X(13, M + 0x40)), ACC(ST(M + 0x40, 1, 0x88)),
          WANT(X(13, M + 0x3f))),
        C(0xf80085ce, "str x14, [x14], #8", SET(X(14, M + 0x40)), ACC(ST(M + 0x40, 8, M + 0x40)),
          WANT(X(14, M + 0x48))),
        C(0xf84107e0, "ldr x0, [sp], #16", SET(SP(M + 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918), SP(M + 0x28))),
        C(0xf81f87ff, "str xzr, [sp], #-8", SET(SP(M + 0x40)), ACC(ST(M + 0x40, 8, 0)), WANT(SP(M + 0x38))),
        C(0xf84087ff, "ldr xzr, [sp], #8", SET(SP(M + 0x18)), ACC(LD(M + 0x18, 8)), WANT(SP(M + 0x20))),

        /* a load writing back into its own destination is CONSTRAINED UNPREDICTABLE */
        C(0xf8408421, "ldr x1, [x1], #8", SET(X(1, M + 0x18)), ERR(-EINVAL), FAULT(M + 0x18)),
        C(0xb8404c63, "ldr w3, [x3, #4]!", SET(X(3, M + 0x18)), ERR(-EINVAL), FAULT(M + 0x1c)),
        C(0x38401442, "ldrb w2, [x2], #1", SET(X(2, M + 0x18)), ERR(-EINVAL), FAULT(M + 0x18)),
        C(0x38c01c42, "ldrsb w2, [x2, #1]!", SET(X(2, M + 0x18)), ERR(-EINVAL), FAULT(M + 0x19)),

        /* register offset */
        C(0xf8626820, "ldr x0, [x1, x2]", SET(X(1, M), X(2, 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),
        C(0xf8627820, "ldr x0, [x1, x2, lsl #3]", SET(X(1, M), X(2, 3)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),
        C(0xb8654883, "ldr w3, [x4, w5, uxtw]", SET(X(4, M), X(5, 0xffffffff00000020)), ACC(LD(M + 0x20, 4)),
          WANT(X(3, 0x23222120))),
        C(0xb8655883, "ldr w3, [x4, w5, uxtw #2]", SET(X(4, M), X(5, 0xdead000000000008)),
          ACC(LD(M + 0x20, 4)), WANT(X(3, 0x23222120))),
        C(0xf868c8e6, "ldr x6, [x7, w8, sxtw]", SET(X(7, M + 0x100), X(8, 0x12345678fffffff0)),
          ACC(LD(M + 0xf0, 8)), WANT(X(6, 0xf7f6f5f4f3f2f1f0))),
        C(0xf868d8e6, "ldr x6, [x7, w8, sxtw #3]", SET(X(7, M + 0x100), X(8, 0xabcdef00fffffffe)),
          ACC(LD(M + 0xf0, 8)), WANT(X(6, 0xf7f6f5f4f3f2f1f0))),
        C(0xf868d8e6, "ldr x6, [x7, w8, sxtw #3]", SET(X(7, M), X(8, 0xffffffff00000002)),
          ACC(LD(M + 0x10, 8)), WANT(X(6, 0x1716151413121110))),
        C(0xf86be949, "ldr x9, [x10, x11, sxtx]", SET(X(10, M + 0x100), X(11, -0x10)), ACC(LD(M + 0xf0, 8)),
          WANT(X(9, 0xf7f6f5f4f3f2f1f0))),
        C(0xf86bf949, "ldr x9, [x10, x11, sxtx #3]", SET(X(10, M + 0x100), X(11, -2)), ACC(LD(M + 0xf0, 8)),
          WANT(X(9, 0xf7f6f5f4f3f2f1f0))),
        C(0x386e69ac, "ldrb w12, [x13, x14]", SET(X(13, M), X(14, 5)), ACC(LD(M + 5, 1)), WANT(X(12, 0x05))),
        C(0x386e79ac, "ldrb w12, [x13, x14, lsl #0]", SET(X(13, M), X(14, 5)), ACC(LD(M + 5, 1)),
          WANT(X(12, 0x05))),
        C(0x386ec9ac, "ldrb w12, [x13, w14, sxtw]", SET(X(13, M + 0x10), X(14, 0xffffffff)),
          ACC(LD(M + 0xf, 1)), WANT(X(12, 0x0f))),
        C(0x38b14a0f, "ldrsb x15, [x16, w17, uxtw]", SET(X(16, M), X(17, 0x1100000081)),
          ACC(LD(M + 0x81, 1)), WANT(X(15, 0xffffffffffffff81))),
        C(0x78747a72, "ldrh w18, [x19, x20, lsl #1]", SET(X(19, M), X(20, 4)), ACC(LD(M + 8, 2)),
          WANT(X(18, 0x0908))),
        C(0x78f7dad5, "ldrsh w21, [x22, w23, sxtw #1]", SET(X(22, M + 0x100), X(23, 0xfffffff8)),
          ACC(LD(M + 0xf0, 2)), WANT(X(21, 0xfffff1f0))),
        C(0xb8ba7b38, "ldrsw x24, [x25, x26, lsl #2]", SET(X(25, M), X(26, 0x20)), ACC(LD(M + 0x80, 4)),
          WANT(X(24, 0xffffffff83828180))),
        C(0xf83f6820, "str x0, [x1, xzr]", SET(X(0, XA), X(1, M + 0x40)), ACC(ST(M + 0x40, 8, XA))),
        C(0xb8247862, "str w2, [x3, x4, lsl #2]", SET(X(2, XA), X(3, M), X(4, 0x10)),
          ACC(ST(M + 0x40, 4, 0x55667788))),
        C(0x382748c5, "strb w5, [x6, w7, uxtw]", SET(X(5, XB), X(6, M), X(7, 0x7700000040)),
          ACC(ST(M + 0x40, 1, 0x00))),
        C(0x782af928, "strh w8, [x9, x10, sxtx #1]", SET(X(8, XA), X(9, M + 0x48), X(10, -4)),
          ACC(ST(M + 0x40, 2, 0x7788))),
        C(0xf86b6be0, "ldr x0, [sp, x11]", SET(SP(M), X(11, 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),
        C(0xf8606820, "ldr x0, [x1, x0]", SET(X(0, 0x18), X(1, M)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),
        C(0xf8626821, "ldr x1, [x1, x2]", SET(X(1, M), X(2, 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(1, 0x1f1e1d1c1b1a1918))),
        /* the sum wraps around 2^64 like the hardware's */
        C(0xf8626820, "ldr x0, [x1, x2]", SET(X(1, M + 0x8000000000000018), X(2, 0x8000000000000000)),
          ACC(LD(M + 0x18, 8)), WANT(X(0, 0x1f1e1d1c1b1a1918))),

        /* literal, PC-relative: PC just below the MMIO region, or just above it */
        C(0x58008080, "ldr x0, .+0x1010", SET(PC(M - 0x1000)), ACC(LD(M + 0x10, 8)),
          WANT(X(0, 0x1716151413121110))),
        C(0x18f7f801, "ldr w1, .-0x10100", SET(PC(M + 0x10110)), ACC(LD(M + 0x10, 4)),
          WANT(X(1, 0x13121110))),
        C(0x98f7fc02, "ldrsw x2, .-0x10080", SET(PC(M + 0x10100)), ACC(LD(M + 0x80, 4)),
          WANT(X(2, 0xffffffff83828180))),
        C(0x1c008403, "ldr s3, .+0x1080", SET(PC(M - 0x1000)), ACC(LD(M + 0x80, 4)),
          WANT(V(3, 0x83828180, 0))),
        C(0x5c008404, "ldr d4, .+0x1080", SET(PC(M - 0x1000)), ACC(LD(M + 0x80, 8)),
          WANT(V(4, 0x8786858483828180, 0))),
        C(0x9cf7f805, "ldr q5, .-0x10100", SET(PC(M + 0x10110)), ACC(LD(M + 0x10, 16)),
          WANT(V(5, 0x1716151413121110, 0x1f1e1d1c1b1a1918))),
        C(0x5800801f, "ldr xzr, .+0x1000", SET(PC(M - 0x1000)), ACC(LD(M, 8))),

        /* SIMD&FP: a load zeroes the rest of the V register, a store writes the low bytes */
        C(0x3d400020, "ldr b0, [x1]", SET(X(1, M + 0x18)), ACC(LD(M + 0x18, 1)), WANT(V(0, 0x18, 0))),
        C(0x7d400421, "ldr h1, [x1, #2]", SET(X(1, M + 0x18)), ACC(LD(M + 0x1a, 2)), WANT(V(1, 0x1b1a, 0))),
        C(0xbd400422, "ldr s2, [x1, #4]", SET(X(1, M + 0x18)), ACC(LD(M + 0x1c, 4)),
          WANT(V(2, 0x1f1e1d1c, 0))),
        C(0xfd400423, "ldr d3, [x1, #8]", SET(X(1, M + 0x18)), ACC(LD(M + 0x20, 8)),
          WANT(V(3, 0x2726252423222120, 0))),
        C(0x3dc00424, "ldr q4, [x1, #16]", SET(X(1, M + 0x20)), ACC(LD(M + 0x30, 16)),
          WANT(V(4, 0x3736353433323130, 0x3f3e3d3c3b3a3938))),
        C(0x3dfffc45, "ldr q5, [x2, #65520]", SET(X(2, M)), ACC(LD(M + 0xfff0, 16)),
          WANT(V(5, 0xf7f6f5f4f3f2f1f0, 0xfffefdfcfbfaf9f8))),
        C(0x3cdf0066, "ldur q6, [x3, #-16]", SET(X(3, M + 0x40)), ACC(LD(M + 0x30, 16)),
          WANT(V(6, 0x3736353433323130, 0x3f3e3d3c3b3a3938))),
        C(0xfc401067, "ldur d7, [x3, #1]", SET(X(3, M + 0x40)), ACC(LD(M + 0x41, 8)),
          WANT(V(7, 0x4847464544434241, 0))),
        C(0xbc404c88, "ldr s8, [x4, #4]!", SET(X(4, M + 0x40)), ACC(LD(M + 0x44, 4)),
          WANT(V(8, 0x47464544, 0), X(4, M + 0x44))),
        C(0xfc5f84a9, "ldr d9, [x5], #-8", SET(X(5, M + 0x40)), ACC(LD(M + 0x40, 8)),
          WANT(V(9, 0x4746454443424140, 0), X(5, M + 0x38))),
        C(0x3cde0fea, "ldr q10, [sp, #-32]!", SET(SP(M + 0x60)), ACC(LD(M + 0x40, 16)),
          WANT(V(10, 0x4746454443424140, 0x4f4e4d4c4b4a4948), SP(M + 0x40))),
        C(0x3c4014cb, "ldr b11, [x6], #1", SET(X(6, M + 0x40)), ACC(LD(M + 0x40, 1)),
          WANT(V(11, 0x40, 0), X(6, M + 0x41))),
        C(0x7c5fecec, "ldr h12, [x7, #-2]!", SET(X(7, M + 0x42)), ACC(LD(M + 0x40, 2)),
          WANT(V(12, 0x4140, 0), X(7, M + 0x40))),
        C(0x3ce9790d, "ldr q13, [x8, x9, lsl #4]", SET(X(8, M), X(9, 4)), ACC(LD(M + 0x40, 16)),
          WANT(V(13, 0x4746454443424140, 0x4f4e4d4c4b4a4948))),
        C(0xfc69d90e, "ldr d14, [x8, w9, sxtw #3]", SET(X(8, M + 0x50), X(9, 0xfffffffe)),
          ACC(LD(M + 0x40, 8)), WANT(V(14, 0x4746454443424140, 0))),
        C(0xbc69590f, "ldr s15, [x8, w9, uxtw #2]", SET(X(8, M), X(9, 0x100000010)), ACC(LD(M + 0x40, 4)),
          WANT(V(15, 0x43424140, 0))),
        C(0x7c697910, "ldr h16, [x8, x9, lsl #1]", SET(X(8, M), X(9, 0x20)), ACC(LD(M + 0x40, 2)),
          WANT(V(16, 0x4140, 0))),
        C(0x3c696911, "ldr b17, [x8, x9]", SET(X(8, M), X(9, 0x41)), ACC(LD(M + 0x41, 1)),
          WANT(V(17, 0x41, 0))),
        C(0x3c697911, "ldr b17, [x8, x9, lsl #0]", SET(X(8, M), X(9, 0x41)), ACC(LD(M + 0x41, 1)),
          WANT(V(17, 0x41, 0))),
        C(0x3cc10421, "ldr q1, [x1], #16", SET(X(1, M + 0x40)), ACC(LD(M + 0x40, 16)),
          WANT(V(1, 0x4746454443424140, 0x4f4e4d4c4b4a4948), X(1, M + 0x50))),
        C(0x3d000020, "str b0, [x1]", SET(V(0, VA_LO, VA_HI), X(1, M + 0x40)), ACC(ST(M + 0x40, 1, 0x11))),
        C(0x7d000421, "str h1, [x1, #2]", SET(V(1, VA_LO, VA_HI), X(1, M + 0x40)),
          ACC(ST(M + 0x42, 2, 0x2211))),
        C(0xbd000422, "str s2, [x1, #4]", SET(V(2, VA_LO, VA_HI), X(1, M + 0x40)),
          ACC(ST(M + 0x44, 4, 0x44332211))),
        C(0xfd000423, "str d3, [x1, #8]", SET(V(3, VA_LO, VA_HI), X(1, M + 0x40)),
          ACC(ST(M + 0x48, 8, VA_LO))),
        C(0x3d800424, "str q4, [x1, #16]", SET(V(4, VA_LO, VA_HI), X(1, M + 0x40)),
          ACC(ST16(M + 0x50, VA_LO, VA_HI))),
        C(0x3c9ff025, "stur q5, [x1, #-1]", SET(V(5, VB_LO, VB_HI), X(1, M + 0x41)),
          ACC(ST16(M + 0x40, VB_LO, VB_HI))),
        C(0x3c810446, "str q6, [x2], #16", SET(V(6, VB_LO, VB_HI), X(2, M + 0x40)),
          ACC(ST16(M + 0x40, VB_LO, VB_HI)), WANT(X(2, M + 0x50))),
        C(0xfc1f8c67, "str d7, [x3, #-8]!", SET(V(7, VB_LO, VB_HI), X(3, M + 0x48)),
          ACC(ST(M + 0x40, 8, VB_LO)), WANT(X(3, M + 0x40))),
        C(0xbc25789f, "str s31, [x4, x5, lsl #2]", SET(V(31, VB_LO, VB_HI), X(4, M), X(5, 0x10)),
          ACC(ST(M + 0x40, 4, 0x89abcdef))),
        C(0x3c9f0fe8, "str q8, [sp, #-16]!", SET(V(8, VA_LO, VA_HI), SP(M + 0x50)),
          ACC(ST16(M + 0x40, VA_LO, VA_HI)), WANT(SP(M + 0x40))),

        /* pairs: Rt at the address, Rt2 at address + size, in that order */
        C(0xa9400440, "ldp x0, x1, [x2]", SET(X(2, M + 0x10)), ACC(LD(M + 0x10, 8), LD(M + 0x18, 8)),
          WANT(X(0, 0x1716151413121110), X(1, 0x1f1e1d1c1b1a1918))),
        C(0x294110a3, "ldp w3, w4, [x5, #8]", SET(X(5, M + 0x10)), ACC(LD(M + 0x18, 4), LD(M + 0x1c, 4)),
          WANT(X(3, 0x1b1a1918), X(4, 0x1f1e1d1c))),
        C(0xa9601d06, "ldp x6, x7, [x8, #-512]", SET(X(8, M + 0x300)),
          ACC(LD(M + 0x100, 8), LD(M + 0x108, 8)), WANT(X(6, 0x0706050403020100), X(7, 0x0f0e0d0c0b0a0908))),
        C(0xa95f9d06, "ldp x6, x7, [x8, #504]", SET(X(8, M)), ACC(LD(M + 0x1f8, 8), LD(M + 0x200, 8)),
          WANT(X(6, 0xfffefdfcfbfaf9f8), X(7, 0x0706050403020100))),
        C(0x29602969, "ldp w9, w10, [x11, #-256]", SET(X(11, M + 0x180)),
          ACC(LD(M + 0x80, 4), LD(M + 0x84, 4)), WANT(X(9, 0x83828180), X(10, 0x87868584))),
        C(0x295fa969, "ldp w9, w10, [x11, #252]", SET(X(11, M)), ACC(LD(M + 0xfc, 4), LD(M + 0x100, 4)),
          WANT(X(9, 0xfffefdfc), X(10, 0x03020100))),
        C(0xa9c135cc, "ldp x12, x13, [x14, #16]!", SET(X(14, M)), ACC(LD(M + 0x10, 8), LD(M + 0x18, 8)),
          WANT(X(12, 0x1716151413121110), X(13, 0x1f1e1d1c1b1a1918), X(14, M + 0x10))),
        C(0xa8ff420f, "ldp x15, x16, [x16], #-16", SET(X(16, M)), ERR(-EINVAL), FAULT(M)),
        C(0xa8ff4e2f, "ldp x15, x19, [x17], #-16", SET(X(17, M + 0x10)),
          ACC(LD(M + 0x10, 8), LD(M + 0x18, 8)),
          WANT(X(15, 0x1716151413121110), X(19, 0x1f1e1d1c1b1a1918), X(17, M))),
        C(0x29c14ff2, "ldp w18, w19, [sp, #8]!", SET(SP(M + 0x10)), ACC(LD(M + 0x18, 4), LD(M + 0x1c, 4)),
          WANT(X(18, 0x1b1a1918), X(19, 0x1f1e1d1c), SP(M + 0x18))),
        C(0xa8c17bfd, "ldp x29, x30, [sp], #16", SET(SP(M + 0x10)), ACC(LD(M + 0x10, 8), LD(M + 0x18, 8)),
          WANT(X(29, 0x1716151413121110), X(30, 0x1f1e1d1c1b1a1918), SP(M + 0x20))),
        C(0xa9bf7bfd, "stp x29, x30, [sp, #-16]!", SET(X(29, XA), X(30, XB), SP(M + 0x50)),
          ACC(ST(M + 0x40, 8, XA), ST(M + 0x48, 8, XB)), WANT(SP(M + 0x40))),
        C(0x29000440, "stp w0, w1, [x2]", SET(X(0, XA), X(1, XB), X(2, M + 0x40)),
          ACC(ST(M + 0x40, 4, 0x55667788), ST(M + 0x44, 4, 0xddeeff00))),
        C(0xa9017c7f, "stp xzr, xzr, [x3, #16]", SET(X(3, M + 0x30)),
          ACC(ST(M + 0x40, 8, 0), ST(M + 0x48, 8, 0))),
        C(0x288110bf, "stp wzr, w4, [x5], #8", SET(X(4, XA), X(5, M + 0x40)),
          ACC(ST(M + 0x40, 4, 0), ST(M + 0x44, 4, 0x55667788)), WANT(X(5, M + 0x48))),
        C(0xa9811cc6, "stp x6, x7, [x6, #16]!", SET(X(6, M + 0x30), X(7, XB)),
          ACC(ST(M + 0x40, 8, M + 0x30), ST(M + 0x48, 8, XB)), WANT(X(6, M + 0x40))),
        C(0xa8812528, "stp x8, x9, [x9], #16", SET(X(8, XA), X(9, M + 0x40)),
          ACC(ST(M + 0x40, 8, XA), ST(M + 0x48, 8, M + 0x40)), WANT(X(9, M + 0x50))),
        C(0x69400440, "ldpsw x0, x1, [x2]", SET(X(2, M + 0x80)), ACC(LD(M + 0x80, 4), LD(M + 0x84, 4)),
          WANT(X(0, 0xffffffff83828180), X(1, 0xffffffff87868584))),
        C(0x69ff10a3, "ldpsw x3, x4, [x5, #-8]!", SET(X(5, M + 0x18)), ACC(LD(M + 0x10, 4), LD(M + 0x14, 4)),
          WANT(X(3, 0x13121110), X(4, 0x17161514), X(5, M + 0x10))),
        C(0x68c11d06, "ldpsw x6, x7, [x8], #8", SET(X(8, M + 0xf8)), ACC(LD(M + 0xf8, 4), LD(M + 0xfc, 4)),
          WANT(X(6, 0xfffffffffbfaf9f8), X(7, 0xfffffffffffefdfc), X(8, M + 0x100))),
        C(0x695fa969, "ldpsw x9, x10, [x11, #252]", SET(X(11, M)), ACC(LD(M + 0xfc, 4), LD(M + 0x100, 4)),
          WANT(X(9, 0xfffffffffffefdfc), X(10, 0x03020100))),
        C(0xa8410440, "ldnp x0, x1, [x2, #16]", SET(X(2, M)), ACC(LD(M + 0x10, 8), LD(M + 0x18, 8)),
          WANT(X(0, 0x1716151413121110), X(1, 0x1f1e1d1c1b1a1918))),
        C(0x284010a3, "ldnp w3, w4, [x5]", SET(X(5, M + 0x80)), ACC(LD(M + 0x80, 4), LD(M + 0x84, 4)),
          WANT(X(3, 0x83828180), X(4, 0x87868584))),
        C(0xa83f1d06, "stnp x6, x7, [x8, #-16]", SET(X(6, XA), X(7, XB), X(8, M + 0x50)),
          ACC(ST(M + 0x40, 8, XA), ST(M + 0x48, 8, XB))),
        C(0x28002969, "stnp w9, w10, [x11]", SET(X(9, XB), X(10, XA), X(11, M + 0x40)),
          ACC(ST(M + 0x40, 4, 0xddeeff00), ST(M + 0x44, 4, 0x55667788))),
        C(0x2d400440, "ldp s0, s1, [x2]", SET(X(2, M + 0x40)), ACC(LD(M + 0x40, 4), LD(M + 0x44, 4)),
          WANT(V(0, 0x43424140, 0), V(1, 0x47464544, 0))),
        C(0x6dc10c82, "ldp d2, d3, [x4, #16]!", SET(X(4, M + 0x30)), ACC(LD(M + 0x40, 8), LD(M + 0x48, 8)),
          WANT(V(2, 0x4746454443424140, 0), V(3, 0x4f4e4d4c4b4a4948, 0), X(4, M + 0x40))),
        C(0xacc114c4, "ldp q4, q5, [x6], #32", SET(X(6, M + 0x40)), ACC(LD(M + 0x40, 16), LD(M + 0x50, 16)),
          WANT(V(4, 0x4746454443424140, 0x4f4e4d4c4b4a4948), V(5, 0x5756555453525150, 0x5f5e5d5c5b5a5958),
               X(6, M + 0x60))),
        C(0xad601d06, "ldp q6, q7, [x8, #-1024]", SET(X(8, M + 0x440)),
          ACC(LD(M + 0x40, 16), LD(M + 0x50, 16)),
          WANT(V(6, 0x4746454443424140, 0x4f4e4d4c4b4a4948), V(7, 0x5756555453525150, 0x5f5e5d5c5b5a5958))),
        C(0x2d00a548, "stp s8, s9, [x10, #4]", SET(V(8, VA_LO, VA_HI), V(9, VB_LO, VB_HI), X(10, M + 0x3c)),
          ACC(ST(M + 0x40, 4, 0x44332211), ST(M + 0x44, 4, 0x89abcdef))),
        C(0x6dbf2fea, "stp d10, d11, [sp, #-16]!",
          SET(V(10, VA_LO, VA_HI), V(11, VB_LO, VB_HI), SP(M + 0x50)),
          ACC(ST(M + 0x40, 8, VA_LO), ST(M + 0x48, 8, VB_LO)), WANT(SP(M + 0x40))),
        C(0xacbf35cc, "stp q12, q13, [x14], #-32",
          SET(V(12, VA_LO, VA_HI), V(13, VB_LO, VB_HI), X(14, M + 0x40)),
          ACC(ST16(M + 0x40, VA_LO, VA_HI), ST16(M + 0x50, VB_LO, VB_HI)), WANT(X(14, M + 0x20))),
        C(0xac403e0e, "ldnp q14, q15, [x16]", SET(X(16, M + 0x40)), ACC(LD(M + 0x40, 16), LD(M + 0x50, 16)),
          WANT(V(14, 0x4746454443424140, 0x4f4e4d4c4b4a4948),
               V(15, 0x5756555453525150, 0x5f5e5d5c5b5a5958))),
        C(0x6c004650, "stnp d16, d17, [x18]", SET(V(16, VB_LO, VB_HI), V(17, VA_LO, VA_HI), X(18, M + 0x40)),
          ACC(ST(M + 0x40, 8, VB_LO), ST(M + 0x48, 8, VA_LO))),
        C(0x2c7fce92, "ldnp s18, s19, [x20, #-4]", SET(X(20, M + 0x44)),
          ACC(LD(M + 0x40, 4), LD(M + 0x44, 4)), WANT(V(18, 0x43424140, 0), V(19, 0x47464544, 0))),
        C(0xac007c1e, "stnp q30, q31, [x0]", SET(V(30, VA_LO, VA_HI), V(31, VB_LO, VB_HI), X(0, M + 0x40)),
          ACC(ST16(M + 0x40, VA_LO, VA_HI), ST16(M + 0x50, VB_LO, VB_HI))),
        C(0xa940045f, "ldp xzr, x1, [x2]", SET(X(2, M + 0x10)), ACC(LD(M + 0x10, 8), LD(M + 0x18, 8)),
          WANT(X(1, 0x1f1e1d1c1b1a1918))),
        C(0xa97f0441, "ldp x1, x1, [x2, #-16]", SET(X(2, M + 0x20)), ERR(-EINVAL), FAULT(M + 0x10)),
        C(0xa9407c41, "ldp x1, xzr, [x2]", SET(X(2, M + 0x10)), ACC(LD(M + 0x10, 8), LD(M + 0x18, 8)),
          WANT(X(1, 0x1716151413121110))),
        C(0xa9400821, "ldp x1, x2, [x1]", SET(X(1, M + 0x10)), ACC(LD(M + 0x10, 8), LD(M + 0x18, 8)),
          WANT(X(1, 0x1716151413121110), X(2, 0x1f1e1d1c1b1a1918))),
        C(0xacc10821, "ldp q1, q2, [x1], #32", SET(X(1, M + 0x40)), ACC(LD(M + 0x40, 16), LD(M + 0x50, 16)),
          WANT(V(1, 0x4746454443424140, 0x4f4e4d4c4b4a4948), V(2, 0x5756555453525150, 0x5f5e5d5c5b5a5958),
               X(1, M + 0x60))),
        C(0xa9400020, "ldp x0, x0, [x1]", SET(X(1, M + 0x10)), ERR(-EINVAL), FAULT(M + 0x10)),
        C(0xa8c10c42, "ldp x2, x3, [x2], #16", SET(X(2, M + 0x10)), ERR(-EINVAL), FAULT(M + 0x10)),
        C(0xa9c10843, "ldp x3, x2, [x2, #16]!", SET(X(2, M + 0x10)), ERR(-EINVAL), FAULT(M + 0x20)),
        C(0x694010a4, "ldpsw x4, x4, [x5]", SET(X(5, M + 0x10)), ERR(-EINVAL), FAULT(M + 0x10)),
        C(0xa84018e6, "ldnp x6, x6, [x7]", SET(X(7, M + 0x10)), ERR(-EINVAL), FAULT(M + 0x10)),
        C(0xad400020, "ldp q0, q0, [x1]", SET(X(1, M + 0x10)), ERR(-EINVAL), FAULT(M + 0x10)),
        C(0xa9407c3f, "ldp xzr, xzr, [x1]", SET(X(1, M + 0x10)), ERR(-EINVAL), FAULT(M + 0x10)),
        C(0x28c10842, "ldp w2, w2, [x2], #8", SET(X(2, M + 0x10)), ERR(-EINVAL), FAULT(M + 0x10)),

        /* LDTR/STTR (unprivileged) */
        C(0xf8400820, "ldtr x0, [x1]", SET(X(1, M + 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),
        C(0xb8500862, "ldtr w2, [x3, #-256]", SET(X(3, M + 0x120)), ACC(LD(M + 0x20, 4)),
          WANT(X(2, 0x23222120))),
        C(0xf84ff8a4, "ldtr x4, [x5, #255]", SET(X(5, M + 0x1)), ACC(LD(M + 0x100, 8)),
          WANT(X(4, 0x0706050403020100))),
        C(0x384008e6, "ldtrb w6, [x7]", SET(X(7, M + 0x99)), ACC(LD(M + 0x99, 1)), WANT(X(6, 0x99))),
        C(0x78402928, "ldtrh w8, [x9, #2]", SET(X(9, M + 0x98)), ACC(LD(M + 0x9a, 2)), WANT(X(8, 0x9b9a))),
        C(0x38c0096a, "ldtrsb w10, [x11]", SET(X(11, M + 0x80)), ACC(LD(M + 0x80, 1)),
          WANT(X(10, 0xffffff80))),
        C(0x3880096c, "ldtrsb x12, [x11]", SET(X(11, M + 0x80)), ACC(LD(M + 0x80, 1)),
          WANT(X(12, 0xffffffffffffff80))),
        C(0x78c0096d, "ldtrsh w13, [x11]", SET(X(11, M + 0x80)), ACC(LD(M + 0x80, 2)),
          WANT(X(13, 0xffff8180))),
        C(0x7880096e, "ldtrsh x14, [x11]", SET(X(11, M + 0x80)), ACC(LD(M + 0x80, 2)),
          WANT(X(14, 0xffffffffffff8180))),
        C(0xb880096f, "ldtrsw x15, [x11]", SET(X(11, M + 0x80)), ACC(LD(M + 0x80, 4)),
          WANT(X(15, 0xffffffff83828180))),
        C(0xf8000a30, "sttr x16, [x17]", SET(X(16, XA), X(17, M + 0x40)), ACC(ST(M + 0x40, 8, XA))),
        C(0xb81fca72, "sttr w18, [x19, #-4]", SET(X(18, XB), X(19, M + 0x44)),
          ACC(ST(M + 0x40, 4, 0xddeeff00))),
        C(0x38000ab4, "sttrb w20, [x21]", SET(X(20, XA), X(21, M + 0x40)), ACC(ST(M + 0x40, 1, 0x88))),
        C(0x78000af5, "sttrh w21, [x23]", SET(X(21, XA), X(23, M + 0x40)), ACC(ST(M + 0x40, 2, 0x7788))),
        C(0xf84089e0, "ldtr x0, [x15, #8]", SET(X(15, M + 0x10)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),
        C(0xf8408be0, "ldtr x0, [sp, #8]", SET(SP(M + 0x10)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),

        /* load-acquire, store-release, LORegion */
        C(0xc8dffc20, "ldar x0, [x1]", SET(X(1, M + 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),
        C(0x88dffc62, "ldar w2, [x3]", SET(X(3, M + 0x80)), ACC(LD(M + 0x80, 4)), WANT(X(2, 0x83828180))),
        C(0x08dffca4, "ldarb w4, [x5]", SET(X(5, M + 0x80)), ACC(LD(M + 0x80, 1)), WANT(X(4, 0x80))),
        C(0x48dffce6, "ldarh w6, [x7]", SET(X(7, M + 0x80)), ACC(LD(M + 0x80, 2)), WANT(X(6, 0x8180))),
        C(0xc89ffd28, "stlr x8, [x9]", SET(X(8, XA), X(9, M + 0x40)), ACC(ST(M + 0x40, 8, XA))),
        C(0x889ffd6a, "stlr w10, [x11]", SET(X(10, XA), X(11, M + 0x40)), ACC(ST(M + 0x40, 4, 0x55667788))),
        C(0x089ffdac, "stlrb w12, [x13]", SET(X(12, XB), X(13, M + 0x40)), ACC(ST(M + 0x40, 1, 0x00))),
        C(0x489ffdee, "stlrh w14, [x15]", SET(X(14, XB), X(15, M + 0x40)), ACC(ST(M + 0x40, 2, 0xff00))),
        C(0xc8dffff0, "ldar x16, [sp]", SET(SP(M + 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(16, 0x1f1e1d1c1b1a1918))),
        C(0xc89ffe3f, "stlr xzr, [x17]", SET(X(17, M + 0x40)), ACC(ST(M + 0x40, 8, 0))),
        C(0xc8df7e72, "ldlar x18, [x19]", SET(X(19, M + 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(18, 0x1f1e1d1c1b1a1918))),
        C(0x889f7eb4, "stllr w20, [x21]", SET(X(20, XA), X(21, M + 0x40)), ACC(ST(M + 0x40, 4, 0x55667788))),
        C(0x08df7ef6, "ldlarb w22, [x23]", SET(X(23, M + 0x81)), ACC(LD(M + 0x81, 1)), WANT(X(22, 0x81))),
        C(0x489f7f38, "stllrh w24, [x25]", SET(X(24, XA), X(25, M + 0x40)), ACC(ST(M + 0x40, 2, 0x7788))),
        /* Rs = 18 and Rt2 = 13 instead of the should-be-one 31: binutils and the CPU take it as stlr */
        C(0x8892b4d4, ".inst 0x8892b4d4 /* stlr w20, [x6] */", SET(X(20, XA), X(6, M + 0x40)),
          ACC(ST(M + 0x40, 4, 0x55667788))),

        /* RCpc: LDAPR (FEAT_LRCPC), LDAPUR/STLUR (FEAT_LRCPC2) */
        C(0xf8bfc020, "ldapr x0, [x1]", SET(X(1, M + 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),
        C(0xb8bfc062, "ldapr w2, [x3]", SET(X(3, M + 0x80)), ACC(LD(M + 0x80, 4)), WANT(X(2, 0x83828180))),
        C(0x38bfc0a4, "ldaprb w4, [x5]", SET(X(5, M + 0x80)), ACC(LD(M + 0x80, 1)), WANT(X(4, 0x80))),
        C(0x78bfc0e6, "ldaprh w6, [x7]", SET(X(7, M + 0x80)), ACC(LD(M + 0x80, 2)), WANT(X(6, 0x8180))),
        C(0xf8bfc3e8, "ldapr x8, [sp]", SET(SP(M + 0x18)), ACC(LD(M + 0x18, 8)),
          WANT(X(8, 0x1f1e1d1c1b1a1918))),
        C(0xd95f8020, "ldapur x0, [x1, #-8]", SET(X(1, M + 0x20)), ACC(LD(M + 0x18, 8)),
          WANT(X(0, 0x1f1e1d1c1b1a1918))),
        C(0x994ff062, "ldapur w2, [x3, #255]", SET(X(3, M + 1)), ACC(LD(M + 0x100, 4)), WANT(X(2, 0x03020100))),
        C(0x195000a4, "ldapurb w4, [x5, #-256]", SET(X(5, M + 0x180)), ACC(LD(M + 0x80, 1)),
          WANT(X(4, 0x80))),
        C(0x594020e6, "ldapurh w6, [x7, #2]", SET(X(7, M + 0x7e)), ACC(LD(M + 0x80, 2)), WANT(X(6, 0x8180))),
        C(0x19c00128, "ldapursb w8, [x9]", SET(X(9, M + 0x80)), ACC(LD(M + 0x80, 1)),
          WANT(X(8, 0xffffff80))),
        C(0x1980012a, "ldapursb x10, [x9]", SET(X(9, M + 0x80)), ACC(LD(M + 0x80, 1)),
          WANT(X(10, 0xffffffffffffff80))),
        C(0x59c0012b, "ldapursh w11, [x9]", SET(X(9, M + 0x80)), ACC(LD(M + 0x80, 2)),
          WANT(X(11, 0xffff8180))),
        C(0x5980012c, "ldapursh x12, [x9]", SET(X(9, M + 0x80)), ACC(LD(M + 0x80, 2)),
          WANT(X(12, 0xffffffffffff8180))),
        C(0x9980012d, "ldapursw x13, [x9]", SET(X(9, M + 0x80)), ACC(LD(M + 0x80, 4)),
          WANT(X(13, 0xffffffff83828180))),
        C(0x9980012d, "ldapursw x13, [x9]", SET(X(9, M + 0x10)), ACC(LD(M + 0x10, 4)),
          WANT(X(13, 0x13121110))),
        C(0xd91f81ee, "stlur x14, [x15, #-8]", SET(X(14, XA), X(15, M + 0x48)), ACC(ST(M + 0x40, 8, XA))),
        C(0x99000230, "stlur w16, [x17]", SET(X(16, XB), X(17, M + 0x40)), ACC(ST(M + 0x40, 4, 0xddeeff00))),
        C(0x19001231, "stlurb w17, [x17, #1]", SET(X(17, M + 0x40)), ACC(ST(M + 0x41, 1, 0x40))),
        C(0x590023f2, "stlurh w18, [sp, #2]", SET(X(18, XA), SP(M + 0x40)), ACC(ST(M + 0x42, 2, 0x7788))),

        /* prefetches are hints: no access, PC advances, fault_ipa not looked at */
        C(0xf9800020, "prfm pldl1keep, [x1]", SET(X(1, M)), FAULT(0x1234)),
        C(0xf9800435, "prfm pstl3strm, [x1, #8]", SET(X(1, M)), FAULT(0x1234)),
        C(0xf89ff020, "prfum pldl1keep, [x1, #-1]", SET(X(1, M)), FAULT(0x1234)),
        C(0xf8a27820, "prfm pldl1keep, [x1, x2, lsl #3]", SET(X(1, M)), FAULT(0x1234)),
        C(0xd8000808, "prfm plil1keep, .+0x100", FAULT(0x1234)),
};
/* clang-format on */

static State apply(const State *s, const RegVal *r, size_t n) {
        State t = *s;

        for (size_t i = 0; i < n && r[i].id != ID_NONE; i++) {
                if (r[i].id >= ID_V0)
                        set_v(t.v[r[i].id - ID_V0], r[i].lo, r[i].hi);
                else if (r[i].id == ID_SP)
                        t.sp = r[i].lo;
                else if (r[i].id == ID_PC)
                        t.pc = r[i].lo;
                else
                        t.x[r[i].id - ID_X0] = r[i].lo;
        }
        return t;
}

static void check_log_at(int line, const Acc *want, size_t n_want) {
        size_t n = 0;

        while (n < n_want && want[n].len > 0)
                n++;
        n_checks++;
        if (vm.n_log != n) {
                fail(line, "%u MMIO accesses, expected %zu", vm.n_log, n);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const Access *a = &vm.log[i];
                uint8_t data[16];

                n_checks++;
                if (a->write != want[i].write || a->ipa != want[i].ipa || a->len != want[i].len) {
                        fail(line,
                             "access %zu: %s 0x%" PRIx64 " len %zu, expected %s 0x%" PRIx64 " len %u",
                             i,
                             a->write ? "write" : "read",
                             a->ipa,
                             a->len,
                             want[i].write ? "write" : "read",
                             want[i].ipa,
                             want[i].len);
                        continue;
                }
                if (!a->write)
                        continue;
                set_v(data, want[i].lo, want[i].hi);
                n_checks++;
                if (memcmp(a->data, data, a->len) != 0)
                        fail(line, "access %zu: wrote other data", i);
        }
}

static void run_case(const Case *c) {
        A64Vcpu vcpu;
        State want;
        A64Insn d;
        int r;

        n_cases++;
        current = c->text;
        vm_init(&vm);
        vm.mmu.tcr = c->tcr;
        vm.s = apply(&vm.s, c->set, ELEMENTSOF(c->set));
        poke_insn(&vm, vm.s.pc, c->insn);

        want = apply(&vm.s, c->want, ELEMENTSOF(c->want));
        if (c->error == 0)
                want.pc += 4;

        vcpu = vcpu_of(&vm);
        r = a64_emulate(&vcpu, c->fault ?: c->acc[0].ipa);
        check_eq(r, c->error);
        check_log_at(__LINE__, c->acc, ELEMENTSOF(c->acc));
        check_state(&vm.s, &want);
        if (c->error)
                check_eq(vm.n_sets, 0);

        /* The decoder agrees: the same error, or an access of the size seen */
        r = a64_decode(c->insn, &d);
        if (IN_SET(c->error, -EINVAL, -EOPNOTSUPP))
                check_eq(r, c->error);
        else {
                check_eq(r, 0);
                if (r == 0 && c->acc[0].len > 0) {
                        check_eq(d.size, c->acc[0].len);
                        check_eq(d.kind, c->acc[0].write ? A64_INSN_STORE : A64_INSN_LOAD);
                        check_eq(d.pair, c->acc[1].len > 0);
                } else if (r == 0)
                        check_eq(d.kind, A64_INSN_NOP);
        }
}

static void test_table(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                run_case(&cases[i]);
}

/* Whatever is not emulated: the documented error, no access, nothing written. */
typedef struct Reject {
        uint32_t insn;
        const char *text;
        int error;
} Reject;

static const Reject rejects[] = {
        { 0xc85f7c20, "ldxr x0, [x1]", -EOPNOTSUPP },
        { 0x085f7c20, "ldxrb w0, [x1]", -EOPNOTSUPP },
        { 0xc8027c20, "stxr w2, x0, [x1]", -EOPNOTSUPP },
        { 0xc85ffc20, "ldaxr x0, [x1]", -EOPNOTSUPP },
        { 0xc802fc20, "stlxr w2, x0, [x1]", -EOPNOTSUPP },
        { 0xc87f0440, "ldxp x0, x1, [x2]", -EOPNOTSUPP },
        { 0xc8230440, "stxp w3, x0, x1, [x2]", -EOPNOTSUPP },
        { 0xc87f8440, "ldaxp x0, x1, [x2]", -EOPNOTSUPP },
        { 0xc8238440, "stlxp w3, x0, x1, [x2]", -EOPNOTSUPP },
        { 0xb8200041, "ldadd w0, w1, [x2]", -EOPNOTSUPP },
        { 0xf8e00041, "ldaddal x0, x1, [x2]", -EOPNOTSUPP },
        { 0xb8201041, "ldclr w0, w1, [x2]", -EOPNOTSUPP },
        { 0xf8603041, "ldsetl x0, x1, [x2]", -EOPNOTSUPP },
        { 0xf8208041, "swp x0, x1, [x2]", -EOPNOTSUPP },
        { 0x38e08041, "swpalb w0, w1, [x2]", -EOPNOTSUPP },
        { 0xc8a07c41, "cas x0, x1, [x2]", -EOPNOTSUPP },
        { 0x88e0fc41, "casal w0, w1, [x2]", -EOPNOTSUPP },
        { 0x48207c82, "casp x0, x1, x2, x3, [x4]", -EOPNOTSUPP },
        { 0x4c407020, "ld1 {v0.16b}, [x1]", -EOPNOTSUPP },
        { 0x4c9f7820, "st1 {v0.4s}, [x1], #16", -EOPNOTSUPP },
        { 0x0d400c20, "ld1 {v0.b}[3], [x1]", -EOPNOTSUPP },
        { 0x0d60e020, "ld4r {v0.8b-v3.8b}, [x1]", -EOPNOTSUPP },
        { 0x4c408020, "ld2 {v0.16b, v1.16b}, [x1]", -EOPNOTSUPP },
        { 0xf8200420, "ldraa x0, [x1]", -EOPNOTSUPP },
        { 0xf8a01c20, "ldrab x0, [x1, #8]!", -EOPNOTSUPP },
        { 0xd9200820, "stg x0, [x1]", -EOPNOTSUPP },
        { 0x69000440, "stgp x0, x1, [x2]", -EOPNOTSUPP },
        { 0xd9600020, "ldg x0, [x1]", -EOPNOTSUPP },
        { 0xf83fd020, "ld64b x0, [x1]", -EOPNOTSUPP },
        { 0x19010440, "cpyfp [x0]!, [x1]!, x2!", -EOPNOTSUPP },
        { 0x8b020020, "add x0, x1, x2", -EOPNOTSUPP },
        { 0xd503201f, "nop", -EOPNOTSUPP },
        { 0x14000000, "b .", -EOPNOTSUPP },
        { 0x00000000, "udf #0", -EOPNOTSUPP },
        { 0xa420a000, "ld1b {z0.h}, p0/z, [x0]", -EOPNOTSUPP },
        { 0xf9c00000, ".inst 0xf9c00000 /* LDR (unsigned imm) size=11 opc=11: unallocated */", -EOPNOTSUPP },
        { 0x7dc00000, ".inst 0x7dc00000 /* LDR H (imm) opc=11: unallocated */", -EOPNOTSUPP },
        { 0xb8602800, ".inst 0xb8602800 /* LDR (register) option=001: unallocated */", -EOPNOTSUPP },
        { 0xb8608800, ".inst 0xb8608800 /* LDR (register) option=100: unallocated */", -EOPNOTSUPP },
        { 0xe9400000, ".inst 0xe9400000 /* LDP opc=11: unallocated */", -EOPNOTSUPP },
        { 0xed400000, ".inst 0xed400000 /* LDP SIMD opc=11: unallocated */", -EOPNOTSUPP },
        { 0x68400000, ".inst 0x68400000 /* LDNP opc=01: unallocated */", -EOPNOTSUPP },
        { 0x3c400800, ".inst 0x3c400800 /* LDTR with V=1: unallocated */", -EOPNOTSUPP },
        { 0xf8800400, ".inst 0xf8800400 /* PRFM post-index: unallocated */", -EOPNOTSUPP },
        { 0xf8800c00, ".inst 0xf8800c00 /* PRFM pre-index: unallocated */", -EOPNOTSUPP },
        { 0xf8800800, ".inst 0xf8800800 /* PRFM unprivileged: unallocated */", -EOPNOTSUPP },
        { 0xb8c00000, ".inst 0xb8c00000 /* LDURSW to W (size=10 opc=11): unallocated */", -EOPNOTSUPP },
        { 0xd9c00000, ".inst 0xd9c00000 /* LDAPUR size=11 opc=11: unallocated */", -EOPNOTSUPP },
        { 0x99c00000, ".inst 0x99c00000 /* LDAPURSW to W: unallocated */", -EOPNOTSUPP },
        { 0xdc000000, ".inst 0xdc000000 /* LDR literal SIMD opc=11: unallocated */", -EOPNOTSUPP },
        { 0xb8a0c020, ".inst 0xb8a0c020 /* LDAPR with Rs=0: unallocated */", -EOPNOTSUPP },
        { 0x3ce00000, ".inst 0x3ce00000 /* SIMD atomic group: unallocated */", -EOPNOTSUPP },
        { 0xbd800000, ".inst 0xbd800000 /* STR SIMD size=10 opc=10: unallocated */", -EOPNOTSUPP },
        { 0xf8408421, "ldr x1, [x1], #8", -EINVAL },
        { 0xa9400020, "ldp x0, x0, [x1]", -EINVAL },
};

static void test_rejects(void) {
        for (size_t i = 0; i < ELEMENTSOF(rejects); i++) {
                const Reject *c = &rejects[i];
                A64Insn d = { .size = 77 };
                A64Vcpu vcpu;
                State before;

                n_cases++;
                current = c->text;
                check_eq(a64_decode(c->insn, &d), c->error);
                check_eq(d.size, 77); /* ret untouched */

                vm_init(&vm);
                for (unsigned x = 0; x < 31; x++)
                        vm.s.x[x] = M + 0x40;
                vm.s.sp = M + 0x40;
                poke_insn(&vm, vm.s.pc, c->insn);
                before = snapshot(&vm);
                vcpu = vcpu_of(&vm);
                check_eq(a64_emulate(&vcpu, M + 0x40), c->error);
                check_eq(vm.n_log, 0);
                check_eq(vm.n_sets, 0);
                check_state(&vm.s, &before);
        }
}

/* The fields themselves, for a few forms whose emulation could hide a mistake. */
static void test_decode_fields(void) {
        A64Insn d;

        current = "decode ldr x6, [x7, w8, sxtw #3]";
        check_eq(a64_decode(0xf868d8e6, &d), 0);
        check_eq(d.kind, A64_INSN_LOAD);
        check_eq(d.mode, A64_ADDR_REGISTER);
        check_eq(d.extend, A64_EXTEND_SXTW);
        check_eq(d.shift, 3);
        check_eq(d.rt, 6);
        check_eq(d.rn, 7);
        check_eq(d.rm, 8);
        check_eq(d.size, 8);
        check_eq(d.reg_size, 8);
        check(!d.writeback && !d.pair && !d.simd && !d.sign_extend && !d.unprivileged && !d.ordered);

        current = "decode ldrb w12, [x13, x14, lsl #0]";
        check_eq(a64_decode(0x386e79ac, &d), 0);
        check_eq(d.extend, A64_EXTEND_LSL);
        check_eq(d.shift, 0);

        current = "decode ldr q13, [x8, x9, lsl #4]";
        check_eq(a64_decode(0x3ce9790d, &d), 0);
        check_eq(d.shift, 4);
        check_eq(d.size, 16);
        check(d.simd);

        current = "decode ldp q6, q7, [x8, #-1024]";
        check_eq(a64_decode(0xad601d06, &d), 0);
        check_eq(d.imm, -1024);
        check_eq(d.rt2, 7);
        check(d.pair && d.simd && !d.writeback);
        check_eq(d.mode, A64_ADDR_OFFSET);

        current = "decode ldpsw x3, x4, [x5, #-8]!";
        check_eq(a64_decode(0x69ff10a3, &d), 0);
        check_eq(d.mode, A64_ADDR_PRE_INDEX);
        check(d.writeback && d.sign_extend && d.pair);
        check_eq(d.size, 4);
        check_eq(d.reg_size, 8);
        check_eq(d.imm, -8);

        current = "decode ldr w1, .-0x10100";
        check_eq(a64_decode(0x18f7f801, &d), 0);
        check_eq(d.mode, A64_ADDR_LITERAL);
        check_eq(d.imm, -0x10100);

        current = "decode ldr x0, .+0xffffc (largest literal offset)";
        check_eq(a64_decode(0x587fffe0, &d), 0);
        check_eq(d.imm, 0xffffc);
        current = "decode ldr x0, .-0x100000 (smallest literal offset)";
        check_eq(a64_decode(0x58800000, &d), 0);
        check_eq(d.imm, -0x100000);

        current = "decode ldtrsh w13, [x11]";
        check_eq(a64_decode(0x78c0096d, &d), 0);
        check(d.unprivileged && d.sign_extend);
        check_eq(d.reg_size, 4);

        current = "decode ldapursw x13, [x9]";
        check_eq(a64_decode(0x9980012d, &d), 0);
        check(d.ordered && d.sign_extend);
        check_eq(d.reg_size, 8);

        current = "decode ldr x0, [x1], #8";
        check_eq(a64_decode(0xf8408420, &d), 0);
        check_eq(d.mode, A64_ADDR_POST_INDEX);
        check(d.writeback);
        check_eq(d.imm, 8);

        current = "decode prfm pldl1keep, [x1, x2, lsl #3]";
        check_eq(a64_decode(0xf8a27820, &d), 0);
        check_eq(d.kind, A64_INSN_NOP);

        current = "decode ldur x4, [x5, #-256]";
        check_eq(a64_decode(0xf85000a4, &d), 0);
        check_eq(d.imm, -256);
        check_eq(d.mode, A64_ADDR_OFFSET);
}

static void test_string_tables(void) {
        current = "string tables";
        for (int i = 0; i < _A64_INSN_KIND_MAX; i++)
                check_eq(a64_insn_kind_from_string(a64_insn_kind_to_string(i)), i);
        for (int i = 0; i < _A64_ADDR_MODE_MAX; i++)
                check_eq(a64_addr_mode_from_string(a64_addr_mode_to_string(i)), i);
        check(streq(a64_extend_to_string(A64_EXTEND_SXTW), "sxtw"));
        check_eq(a64_extend_from_string("uxtw"), A64_EXTEND_UXTW);
        check_eq(a64_extend_from_string("lsl"), A64_EXTEND_LSL);
        check_eq(a64_extend_from_string("sxtx"), A64_EXTEND_SXTX);
        check(!a64_extend_to_string(0));
        check(!a64_insn_kind_to_string(_A64_INSN_KIND_MAX));
        check(!a64_insn_kind_to_string(-1));
        check_eq(a64_insn_kind_from_string("bogus"), _A64_INSN_KIND_INVALID);
        check_eq(a64_addr_mode_from_string(NULL), _A64_ADDR_MODE_INVALID);
}

static int translate(const A64Mmu *mmu, uint64_t va, uint64_t *ret) {
        return a64_translate(mmu, va, cb_read_phys, &vm, ret);
}

#define check_translate(mmu, va, want) check_translate_at(__LINE__, mmu, va, want)
static void check_translate_at(int line, const A64Mmu *mmu, uint64_t va, uint64_t want) {
        uint64_t ipa = 0xbad;
        int r = translate(mmu, va, &ipa);

        n_checks++;
        if (r != 0 || ipa != want)
                fail(line, "translate(0x%016" PRIx64 ") = %d, 0x%" PRIx64 "; expected 0x%" PRIx64, va, r, ipa, want);
}

#define check_translate_fails(mmu, va, err) check_translate_fails_at(__LINE__, mmu, va, err)
static void check_translate_fails_at(int line, const A64Mmu *mmu, uint64_t va, int err) {
        uint64_t ipa = 0xbad;
        int r = translate(mmu, va, &ipa);

        n_checks++;
        if (r != err || ipa != 0xbad)
                fail(line, "translate(0x%016" PRIx64 ") = %d, 0x%" PRIx64 "; expected %d", va, r, ipa, err);
}

static void test_translate_off(void) {
        A64Mmu mmu = {};

        current = "translate, stage 1 off";
        vm_init(&vm);
        check_translate(&mmu, 0x1234, 0x1234);
        check_translate(&mmu, UINT64_C(0x000fffffffffffff), UINT64_C(0x000fffffffffffff));
        check_translate_fails(&mmu, UINT64_C(0x0010000000000000), -EFAULT);
        check_translate_fails(&mmu, UINT64_C(0x5a00000040100000), -EFAULT);
        mmu.tcr = TCR_TBI0;
        check_translate(&mmu, UINT64_C(0x5a00000040100000), M);
        check_translate_fails(
                &mmu, UINT64_C(0x0080000040100000), -EFAULT); /* bit 55 set: upper half, TBI1 off */
        mmu.tcr = TCR_TBI0 | TCR_TBI1;
        check_translate_fails(&mmu, UINT64_C(0x0080000040100000), -EFAULT); /* flat: above the PA size */
        /* The walk registers do not matter with M clear, a bogus granule included. */
        mmu.tcr = TCR_EPD0 | UINT64_C(3) << 14;
        check_translate(&mmu, 0x1234, 0x1234);
}

/* 4K granule, 48-bit VA: levels 0..3, index bits 47:39, 38:30, 29:21, 20:12. */
static void test_translate_4k(void) {
        uint64_t va = UINT64_C(0x0000123456789abc), l0, l1, l2, l3;
        A64Mmu mmu;

        current = "translate 4K, 4 levels";
        vm_init(&vm);
        l0 = pt_alloc(&vm, 4096);
        l1 = pt_alloc(&vm, 4096);
        l2 = pt_alloc(&vm, 4096);
        l3 = pt_alloc(&vm, 4096);
        /* 0x0000123456789abc: L0 index 0x24, L1 0x0d1, L2 0x0b3, L3 0x189, offset 0xabc */
        pt_set(&vm, l0, 0x24, DESC_TABLE(l1));
        pt_set(&vm, l1, 0x0d1, DESC_TABLE(l2));
        pt_set(&vm, l2, 0x0b3, DESC_TABLE(l3));
        pt_set(&vm, l3, 0x189, DESC_PAGE(UINT64_C(0x0000876543210000)));
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T0SZ(16) | TCR_TG0_4K | TCR_IPS(5), .ttbr0 = l0 };
        check_translate(&mmu, va, UINT64_C(0x0000876543210abc));
        check_translate(&mmu, va & ~UINT64_C(0xfff), UINT64_C(0x0000876543210000));
        check_translate(&mmu, va | 0xfff, UINT64_C(0x0000876543210fff));
        check_translate_fails(&mmu, va + 0x1000, -EFAULT); /* next L3 entry: invalid */
        /* ASID and CnP in TTBR0 are not part of the address */
        mmu.ttbr0 = l0 | UINT64_C(0xabcd) << 48 | 1;
        check_translate(&mmu, va, UINT64_C(0x0000876543210abc));
        mmu.ttbr0 = l0;

        /* An invalid descriptor at each level */
        pt_set(&vm, l2, 0x0b3, DESC_TABLE(l3) & ~UINT64_C(1));
        check_translate_fails(&mmu, va, -EFAULT);
        pt_set(&vm, l2, 0x0b3, DESC_TABLE(l3));
        pt_set(&vm, l1, 0x0d1, 0);
        check_translate_fails(&mmu, va, -EFAULT);
        pt_set(&vm, l1, 0x0d1, DESC_TABLE(l2));
        pt_set(&vm, l0, 0x24, 0);
        check_translate_fails(&mmu, va, -EFAULT);
        pt_set(&vm, l0, 0x24, DESC_TABLE(l1));
        /* Level 3 with bit 1 clear is reserved, not a block */
        pt_set(&vm, l3, 0x189, DESC_BLOCK(UINT64_C(0x0000876543210000)));
        check_translate_fails(&mmu, va, -EFAULT);
        pt_set(&vm, l3, 0x189, DESC_PAGE(UINT64_C(0x0000876543210000)));
        check_translate(&mmu, va, UINT64_C(0x0000876543210abc));

        /* 2M block at level 2, 1G block at level 1; no block at level 0 */
        current = "translate 4K, blocks";
        pt_set(&vm, l2, 0x0b3, DESC_BLOCK(UINT64_C(0x0000000080000000)));
        check_translate(&mmu, va, UINT64_C(0x0000000080189abc));
        pt_set(&vm, l1, 0x0d1, DESC_BLOCK(UINT64_C(0x0000004000000000)));
        check_translate(&mmu, va, UINT64_C(0x0000004016789abc));
        /* Output address bits below the block size are ignored */
        pt_set(&vm, l1, 0x0d1, DESC_BLOCK(UINT64_C(0x000000403ffff000)));
        check_translate(&mmu, va, UINT64_C(0x0000004016789abc));
        pt_set(&vm, l0, 0x24, DESC_BLOCK(UINT64_C(0x0000008000000000)));
        check_translate_fails(&mmu, va, -EFAULT);

        /* The hole: bits 63:48 must all be 0 for TTBR0 */
        current = "translate 4K, hole and TBI";
        pt_set(&vm, l0, 0x24, DESC_TABLE(l1));
        check_translate_fails(&mmu, va | UINT64_C(1) << 48, -EFAULT);
        check_translate_fails(&mmu, va | UINT64_C(1) << 63, -EFAULT);
        check_translate_fails(&mmu, va | UINT64_C(0x5a) << 56, -EFAULT);
        mmu.tcr |= TCR_TBI0;
        check_translate(&mmu, va | UINT64_C(0x5a) << 56, UINT64_C(0x0000004016789abc));
        check_translate(&mmu, va | UINT64_C(0xff) << 56, UINT64_C(0x0000004016789abc));
        check_translate_fails(&mmu, va | UINT64_C(1) << 48, -EFAULT); /* TBI ignores bits 63:56 only */
        /* EPD0 disables the TTBR0 walk */
        mmu.tcr |= TCR_EPD0;
        check_translate_fails(&mmu, va, -EFAULT);

        /* 3 levels: T0SZ = 25 (39-bit VA) starts at level 1, index bits 38:30 */
        current = "translate 4K, 3 levels";
        vm_init(&vm);
        l1 = pt_alloc(&vm, 4096);
        l2 = pt_alloc(&vm, 4096);
        l3 = pt_alloc(&vm, 4096);
        va = UINT64_C(0x0000004512345678); /* L1 0x114, L2 0x091, L3 0x145 */
        pt_set(&vm, l1, 0x114, DESC_TABLE(l2));
        pt_set(&vm, l2, 0x091, DESC_TABLE(l3));
        pt_set(&vm, l3, 0x145, DESC_PAGE(UINT64_C(0x00000000c0de0000)));
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T0SZ(25) | TCR_TG0_4K | TCR_IPS(2), .ttbr0 = l1 };
        check_translate(&mmu, va, UINT64_C(0x00000000c0de0678));
        check_translate_fails(&mmu, va | UINT64_C(1) << 39, -EFAULT); /* above the 39-bit region */

        /* T0SZ below the minimum (16) is taken as 16: a 4-level walk */
        current = "translate 4K, T0SZ clamped";
        vm_init(&vm);
        l0 = pt_alloc(&vm, 4096);
        l1 = pt_alloc(&vm, 4096);
        l2 = pt_alloc(&vm, 4096);
        l3 = pt_alloc(&vm, 4096);
        va = UINT64_C(0x0000800000001000); /* L0 0x100 */
        pt_set(&vm, l0, 0x100, DESC_TABLE(l1));
        pt_set(&vm, l1, 0, DESC_TABLE(l2));
        pt_set(&vm, l2, 0, DESC_TABLE(l3));
        pt_set(&vm, l3, 1, DESC_PAGE(UINT64_C(0x50000000)));
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T0SZ(0) | TCR_TG0_4K | TCR_IPS(5), .ttbr0 = l0 };
        check_translate(&mmu, va + 8, UINT64_C(0x50000008));
        check_translate_fails(&mmu, va | UINT64_C(1) << 48, -EFAULT);
}

static void test_translate_ttbr1(void) {
        uint64_t va = UINT64_C(0xffff800012345678), l0, l1, l2, l3;
        A64Mmu mmu;

        current = "translate TTBR1, 4K";
        vm_init(&vm);
        l0 = pt_alloc(&vm, 4096);
        l1 = pt_alloc(&vm, 4096);
        l2 = pt_alloc(&vm, 4096);
        l3 = pt_alloc(&vm, 4096);
        /* 0xffff800012345678: L0 0x100, L1 0x000, L2 0x091, L3 0x145 */
        pt_set(&vm, l0, 0x100, DESC_TABLE(l1));
        pt_set(&vm, l1, 0x000, DESC_TABLE(l2));
        pt_set(&vm, l2, 0x091, DESC_TABLE(l3));
        pt_set(&vm, l3, 0x145, DESC_PAGE(M));
        /* TG1 = 4K is encoded 0b10; TTBR0 points at garbage and must not be used */
        mmu = (A64Mmu){
                .sctlr = SCTLR_M,
                .tcr = TCR_T1SZ(16) | TCR_TG1_4K | TCR_T0SZ(16) | TCR_TG0_64K | TCR_IPS(5),
                .ttbr1 = l1 - 4096,
                .ttbr0 = 0x7000,
        };
        mmu.ttbr1 = l0;
        check_translate(&mmu, va, M + 0x678);
        check_translate_fails(&mmu, va & ~(UINT64_C(1) << 63), -EFAULT); /* hole */
        check_translate_fails(&mmu, va & ~(UINT64_C(1) << 48), -EFAULT); /* hole, bit 55 still set */
        check_translate_fails(&mmu, (va & ~(UINT64_C(0xff) << 56)) | UINT64_C(0x3c) << 56, -EFAULT);
        mmu.tcr |= TCR_TBI1;
        check_translate(&mmu, (va & ~(UINT64_C(0xff) << 56)) | UINT64_C(0x3c) << 56, M + 0x678);
        check_translate(&mmu, va & ~(UINT64_C(0xff) << 56), M + 0x678); /* bit 55 picks TTBR1 */
        /* TBI0 does not apply to the upper half */
        mmu.tcr &= ~TCR_TBI1;
        mmu.tcr |= TCR_TBI0;
        check_translate_fails(&mmu, va & ~(UINT64_C(0xff) << 56), -EFAULT);
        /* EPD1 disables TTBR1 only */
        mmu.tcr |= TCR_EPD1;
        check_translate_fails(&mmu, va, -EFAULT);
        /* TG1 = 0b00 is reserved */
        mmu.tcr &= ~(TCR_EPD1 | UINT64_C(3) << 30);
        check_translate_fails(&mmu, va, -EOPNOTSUPP);
        /* and TG0 = 0b11 */
        mmu.tcr = TCR_T0SZ(16) | UINT64_C(3) << 14;
        check_translate_fails(&mmu, 0x1000, -EOPNOTSUPP);
}

/* 16K granule: stride 11 bits, page offset 14 bits. */
static void test_translate_16k(void) {
        uint64_t va, l0, l1, l2, l3;
        A64Mmu mmu;

        /* 48-bit VA: 4 levels, level 0 resolves only bit 47 */
        current = "translate 16K, 4 levels";
        vm_init(&vm);
        l0 = pt_alloc(&vm, 16384);
        l1 = pt_alloc(&vm, 16384);
        l2 = pt_alloc(&vm, 16384);
        l3 = pt_alloc(&vm, 16384);
        va = UINT64_C(0x0000923456789abc); /* L0 1, L1 0x123, L2 0x22b, L3 0x1e2 */
        pt_set(&vm, l0, 1, DESC_TABLE(l1));
        pt_set(&vm, l1, 0x123, DESC_TABLE(l2));
        pt_set(&vm, l2, 0x22b, DESC_TABLE(l3));
        pt_set(&vm, l3, 0x1e2, DESC_PAGE(UINT64_C(0x0000000123450000) | 0x3000)); /* bits 13:12 are RES0 */
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T0SZ(16) | TCR_TG0_16K | TCR_IPS(5), .ttbr0 = l0 };
        check_translate(&mmu, va, UINT64_C(0x0000000123451abc));
        check_translate_fails(&mmu, va + 0x4000, -EFAULT);
        /* 32M block at level 2 */
        pt_set(&vm, l2, 0x22b, DESC_BLOCK(UINT64_C(0x0000000200000000)));
        check_translate(&mmu, va, UINT64_C(0x0000000200789abc));
        /* no block at level 1 without FEAT_LPA2 */
        pt_set(&vm, l1, 0x123, DESC_BLOCK(UINT64_C(0x0000001000000000)));
        check_translate_fails(&mmu, va, -EFAULT);
        /* nor at level 0 */
        pt_set(&vm, l1, 0x123, DESC_TABLE(l2));
        pt_set(&vm, l0, 1, DESC_BLOCK(0));
        check_translate_fails(&mmu, va, -EFAULT);
        pt_set(&vm, l0, 1, DESC_TABLE(l1));
        check_translate(&mmu, va, UINT64_C(0x0000000200789abc));
        /* TCR.DS (LPA2) is not supported */
        mmu.tcr |= TCR_DS;
        check_translate_fails(&mmu, va, -EOPNOTSUPP);

        /* 36-bit VA (T0SZ = 28): 2 levels starting at level 2 with 11 bits */
        current = "translate 16K, 2 levels";
        vm_init(&vm);
        l2 = pt_alloc(&vm, 16384);
        l3 = pt_alloc(&vm, 16384);
        va = UINT64_C(0x0000000abcdef123); /* L2 0x55e (35:25), L3 0x37b (24:14) */
        pt_set(&vm, l2, 0x55e, DESC_TABLE(l3));
        pt_set(&vm, l3, 0x37b, DESC_PAGE(UINT64_C(0x40004000)));
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T0SZ(28) | TCR_TG0_16K | TCR_IPS(0), .ttbr0 = l2 };
        check_translate(&mmu, va, UINT64_C(0x40007123));
        check_translate_fails(&mmu, va | UINT64_C(1) << 36, -EFAULT);

        /* TTBR1 with TG1 = 16K, encoded 0b01 */
        current = "translate 16K, TTBR1";
        l0 = pt_alloc(&vm, 16384);
        l1 = pt_alloc(&vm, 16384);
        l2 = pt_alloc(&vm, 16384);
        l3 = pt_alloc(&vm, 16384);
        va = UINT64_C(0xffff923456789abc);
        pt_set(&vm, l0, 1, DESC_TABLE(l1));
        pt_set(&vm, l1, 0x123, DESC_TABLE(l2));
        pt_set(&vm, l2, 0x22b, DESC_TABLE(l3));
        pt_set(&vm, l3, 0x1e2, DESC_PAGE(UINT64_C(0x0000000123450000)));
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T1SZ(16) | TCR_TG1_16K | TCR_IPS(5), .ttbr1 = l0 };
        check_translate(&mmu, va, UINT64_C(0x0000000123451abc));
        /* the same table through TTBR0 as 16K needs TG0 = 0b10, not 0b01 (that is 64K there) */
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T0SZ(16) | TCR_TG0_16K | TCR_IPS(5), .ttbr0 = l0 };
        check_translate(&mmu, va & UINT64_C(0x0000ffffffffffff), UINT64_C(0x0000000123451abc));
        mmu.tcr = TCR_T0SZ(16) | TCR_TG0_64K | TCR_IPS(5);
        check_translate_fails(&mmu, va & UINT64_C(0x0000ffffffffffff), -EFAULT);
}

/* 64K granule: stride 13 bits, page offset 16 bits. */
static void test_translate_64k(void) {
        uint64_t va, l1, l2, l3, t;
        A64Mmu mmu;

        /* 48-bit VA: 3 levels, level 1 resolves bits 47:42 */
        current = "translate 64K, 3 levels";
        vm_init(&vm);
        l1 = pt_alloc(&vm, 65536);
        l2 = pt_alloc(&vm, 65536);
        l3 = pt_alloc(&vm, 65536);
        va = UINT64_C(0x0000923456789abc); /* L1 0x24 (47:42), L2 0x11a2 (41:29), L3 0x1678 (28:16) */
        pt_set(&vm, l1, 0x24, DESC_TABLE(l2));
        pt_set(&vm, l2, 0x11a2, DESC_TABLE(l3));
        pt_set(&vm, l3, 0x1678, DESC_PAGE(UINT64_C(0x0000000123450000) | 0xf000)); /* 15:12: RES0 */
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T0SZ(16) | TCR_TG0_64K | TCR_IPS(5), .ttbr0 = l1 };
        check_translate(&mmu, va, UINT64_C(0x0000000123459abc));
        /* 512M block at level 2 */
        pt_set(&vm, l2, 0x11a2, DESC_BLOCK(UINT64_C(0x0000002000000000)));
        check_translate(&mmu, va, UINT64_C(0x0000002016789abc));
        /* a 4T block at level 1 needs 52-bit output addresses */
        pt_set(&vm, l1, 0x24, DESC_BLOCK(UINT64_C(0x0000040000000000)));
        check_translate_fails(&mmu, va, -EFAULT);
        mmu.tcr = TCR_T0SZ(16) | TCR_TG0_64K | TCR_IPS(6);
        check_translate(&mmu, va, UINT64_C(0x0000063456789abc));

        /* TTBR1 with TG1 = 64K, encoded 0b11; TG0 = 0b01 is 64K too */
        current = "translate 64K, TTBR1";
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T1SZ(16) | TCR_TG1_64K | TCR_IPS(5), .ttbr1 = l1 };
        pt_set(&vm, l1, 0x24, DESC_TABLE(l2));
        check_translate(&mmu, va | UINT64_C(0xffff) << 48, UINT64_C(0x0000002016789abc));

        /* 39-bit VA: 2 levels, level 2 resolves bits 38:29 */
        current = "translate 64K, 2 levels";
        vm_init(&vm);
        l2 = pt_alloc(&vm, 65536);
        l3 = pt_alloc(&vm, 65536);
        va = UINT64_C(0x0000004512345678); /* L2 0x228, L3 0x1234 */
        pt_set(&vm, l2, 0x228, DESC_TABLE(l3));
        pt_set(&vm, l3, 0x1234, DESC_PAGE(UINT64_C(0x40010000)));
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T0SZ(25) | TCR_TG0_64K | TCR_IPS(1), .ttbr0 = l2 };
        check_translate(&mmu, va, UINT64_C(0x40015678));

        /* 52-bit VA and output (FEAT_LVA, FEAT_LPA): tables above 2^48, address bits 51:48 in TTBR[5:2] and
         * in descriptor bits 15:12 */
        current = "translate 64K, 52 bits";
        l1 = HIGH_IPA;
        l2 = HIGH_IPA + 0x10000;
        l3 = HIGH_IPA + 0x20000;
        va = UINT64_C(0x000f000012345678); /* L1 0x3c0 (51:42), L2 0, L3 0x1234 */
        pt_set(&vm, l1, 0x3c0, (l2 & UINT64_C(0x0000ffffffff0000)) | (l2 >> 48) << 12 | 3);
        pt_set(&vm, l2, 0, (l3 & UINT64_C(0x0000ffffffff0000)) | (l3 >> 48) << 12 | 3);
        pt_set(&vm, l3, 0x1234, UINT64_C(0x0000000000420000) | UINT64_C(0xb) << 12 | 0x403);
        t = (l1 & UINT64_C(0x0000ffffffffffc0)) | (l1 >> 48) << 2;
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T0SZ(12) | TCR_TG0_64K | TCR_IPS(6), .ttbr0 = t };
        check_translate(&mmu, va, UINT64_C(0x000b000000425678));
        /* with IPS = 48 bits, TTBR[5:2] and descriptor bits 15:12 are not address bits: the walk reads
         * below 2^48, where there is no RAM */
        mmu.tcr = TCR_T0SZ(12) | TCR_TG0_64K | TCR_IPS(5);
        check_translate_fails(&mmu, va, -EFAULT);
        /* T0SZ = 12 is out of range for 4K: taken as 16, the VA is in the hole */
        mmu.tcr = TCR_T0SZ(12) | TCR_TG0_4K | TCR_IPS(6);
        check_translate_fails(&mmu, va, -EFAULT);
        /* and IPS = 52 bits with 4K is 48 bits */
        mmu.tcr = TCR_T0SZ(16) | TCR_TG0_4K | TCR_IPS(6);
        mmu.ttbr0 = l1;
        check_translate_fails(&mmu, 0x1000, -EFAULT);
}

/* Output and table addresses above TCR.IPS are address size faults; descriptors follow SCTLR.EE. */
static void test_translate_misc(void) {
        uint64_t l1, l2, l3, va = UINT64_C(0x0000004512345678);
        A64Mmu mmu;

        current = "translate, address size";
        vm_init(&vm);
        l1 = pt_alloc(&vm, 4096);
        l2 = pt_alloc(&vm, 4096);
        l3 = pt_alloc(&vm, 4096);
        pt_set(&vm, l1, 0x114, DESC_TABLE(l2));
        pt_set(&vm, l2, 0x091, DESC_TABLE(l3));
        pt_set(&vm, l3, 0x145, DESC_PAGE(UINT64_C(0x100000000)));
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T0SZ(25) | TCR_TG0_4K | TCR_IPS(1), .ttbr0 = l1 };
        check_translate(&mmu, va, UINT64_C(0x100000678)); /* 36 bits */
        mmu.tcr = TCR_T0SZ(25) | TCR_TG0_4K | TCR_IPS(0);
        check_translate_fails(&mmu, va, -EFAULT); /* 32 bits */
        pt_set(&vm, l3, 0x145, DESC_PAGE(UINT64_C(0xfffff000)));
        check_translate(&mmu, va, UINT64_C(0xfffff678));
        /* Tables in RAM above 2^32: readable, but beyond a 32-bit IPS */
        pt_set(&vm, MID_IPA, 0x091, DESC_TABLE(l3));
        pt_set(&vm, l1, 0x114, DESC_TABLE(MID_IPA));
        check_translate_fails(&mmu, va, -EFAULT);
        mmu.tcr = TCR_T0SZ(25) | TCR_TG0_4K | TCR_IPS(1);
        check_translate(&mmu, va, UINT64_C(0xfffff678));
        pt_set(&vm, MID_IPA + 0x1000, 0x114, DESC_TABLE(MID_IPA));
        mmu.ttbr0 = MID_IPA + 0x1000;
        check_translate(&mmu, va, UINT64_C(0xfffff678));
        mmu.tcr = TCR_T0SZ(25) | TCR_TG0_4K | TCR_IPS(0);
        check_translate_fails(&mmu, va, -EFAULT);

        /* TTBR bits below the start table's alignment are RES0: taken as zero */
        current = "translate, TTBR alignment";
        mmu.tcr = TCR_T0SZ(25) | TCR_TG0_4K | TCR_IPS(1);
        mmu.ttbr0 = MID_IPA + 0x1ff8;
        check_translate(&mmu, va, UINT64_C(0xfffff678));
        /* a 36-bit VA with 4K starts at level 1 with 6 bits: a 512-byte table, aligned to 512 */
        pt_set(&vm, MID_IPA + 0x2200, 0x14, DESC_TABLE(MID_IPA));
        mmu.tcr = TCR_T0SZ(28) | TCR_TG0_4K | TCR_IPS(1);
        mmu.ttbr0 = MID_IPA + 0x2200 + 0x1f8;
        check_translate(&mmu, va & UINT64_C(0xfffffffff), UINT64_C(0xfffff678));

        current = "translate, big-endian descriptors";
        vm_init(&vm);
        l1 = pt_alloc(&vm, 4096);
        l2 = pt_alloc(&vm, 4096);
        l3 = pt_alloc(&vm, 4096);
        pt_set(&vm, l1, 0x114, __builtin_bswap64(DESC_TABLE(l2)));
        pt_set(&vm, l2, 0x091, __builtin_bswap64(DESC_TABLE(l3)));
        pt_set(&vm, l3, 0x145, __builtin_bswap64(DESC_PAGE(UINT64_C(0x80000000))));
        mmu = (A64Mmu){ .sctlr = SCTLR_M | SCTLR_EE, .tcr = TCR_T0SZ(25) | TCR_IPS(5), .ttbr0 = l1 };
        check_translate(&mmu, va, UINT64_C(0x80000678));
        mmu.sctlr = SCTLR_M;
        check_translate_fails(&mmu, va, -EFAULT);

        current = "translate, descriptor read fails";
        mmu = (A64Mmu){ .sctlr = SCTLR_M, .tcr = TCR_T0SZ(25) | TCR_IPS(5), .ttbr0 = M };
        check_translate_fails(&mmu, va, -EFAULT); /* the table is in MMIO: the callback's -EFAULT */
}

/* With stage 1 on: code and data at VAs that differ from their IPAs. */
#define DATA_VA UINT64_C(0x0000700000000000)
#define CODE_VA UINT64_C(0x0000000000400000)
#define KCODE_VA UINT64_C(0xffffffffffffe000)

static void vm_init_mmu(Vm *v) {
        uint64_t root0, root1;

        vm_init(v);
        root0 = pt_alloc(v, 4096);
        root1 = pt_alloc(v, 4096);
        v->mmu = (A64Mmu){
                .sctlr = SCTLR_M,
                .tcr = TCR_T0SZ(16) | TCR_TG0_4K | TCR_T1SZ(16) | TCR_TG1_4K | TCR_IPS(5),
                .ttbr0 = root0,
                .ttbr1 = root1,
        };
        map4k(v, root0, CODE_VA, CODE);
        map4k(v, root0, CODE_VA + 0x1000, M + 0x8000);
        map4k(v, root0, DATA_VA, M);
        map4k(v, root0, DATA_VA + 0x1000, M + 0x3000); /* not contiguous with the page before */
        map4k(v, root0, DATA_VA + 0x2000, M + 0x4000);
        map4k(v, root0, DATA_VA + 0x3000, M + 0x5000); /* contiguous */
        map4k(v, root0, 0, M + 0x6000);
        map4k(v, root1, UINT64_C(0xfffffffffffff000), M + 0x7000);
        map4k(v, root1, KCODE_VA, RAM_IPA + 0x2000);
        v->s.pc = CODE_VA;
}

/* Runs insn at PC (whose IPA is code_ipa) and checks result, accesses and registers. */
#define check_emulate(insn, text, code_ipa, fault, err, want, ...) \
        check_emulate_at( \
                __LINE__, \
                insn, \
                text, \
                code_ipa, \
                fault, \
                err, \
                want, \
                (const Acc[]){ __VA_ARGS__ }, \
                ELEMENTSOF(((const Acc[]){ __VA_ARGS__ })))
static void check_emulate_at(
        int line,
        uint32_t insn,
        const char *text,
        uint64_t code_ipa,
        uint64_t fault,
        int err,
        const State *want,
        const Acc *acc,
        size_t n_acc) {

        A64Vcpu vcpu;
        State before = snapshot(&vm);
        int r;

        n_cases++;
        current = text;
        poke_insn(&vm, code_ipa, insn);
        vm.n_log = vm.n_mmio = vm.n_sets = 0;
        vcpu = vcpu_of(&vm);
        r = a64_emulate(&vcpu, fault);
        n_checks++;
        if (r != err)
                fail(line, "a64_emulate() = %d, expected %d", r, err);
        check_log_at(line, acc, n_acc);
        check_state_at(line, &vm.s, want ?: &before);
        if (!want) {
                n_checks++;
                if (vm.n_sets != 0)
                        fail(line, "%u register writes after a failure", vm.n_sets);
        }
}

static State state_pc4(void) {
        State s = snapshot(&vm);

        s.pc += 4;
        return s;
}

static void test_emulate_mmu(void) {
        State want;

        vm_init_mmu(&vm);
        vm.s.x[1] = DATA_VA + 0x18;
        want = state_pc4();
        want.x[0] = UINT64_C(0x1f1e1d1c1b1a1918);
        check_emulate(0xf9400020, "mmu: ldr x0, [x1]", CODE, M + 0x18, 0, &want, LD(M + 0x18, 8));

        /* The pair's second element on another page, at an unrelated IPA; the fault may be in either */
        vm_init_mmu(&vm);
        vm.s.x[2] = DATA_VA + 0xff8;
        want = state_pc4();
        want.x[0] = UINT64_C(0xfffefdfcfbfaf9f8);
        want.x[1] = UINT64_C(0x0706050403020100);
        check_emulate(
                0xa9400440,
                "mmu: ldp x0, x1, [x2] across pages",
                CODE,
                M + 0x3000,
                0,
                &want,
                LD(M + 0xff8, 8),
                LD(M + 0x3000, 8));
        vm_init_mmu(&vm);
        vm.s.x[2] = DATA_VA + 0xff8;
        check_emulate(
                0xa9400440,
                "mmu: ldp x0, x1, [x2] across pages, fault in the first",
                CODE,
                M + 0xffc,
                0,
                &want,
                LD(M + 0xff8, 8),
                LD(M + 0x3000, 8));

        /* One element across a page boundary: one access if the IPAs are contiguous */
        vm_init_mmu(&vm);
        vm.s.x[1] = DATA_VA + 0xffc;
        check_emulate(
                0xf9400020, "mmu: ldr x0, [x1] across discontiguous pages", CODE, M + 0xffc, -EOPNOTSUPP, NULL);
        vm_init_mmu(&vm);
        vm.s.x[1] = DATA_VA + 0x2ffc;
        want = state_pc4();
        want.x[0] = UINT64_C(0x03020100fffefdfc);
        check_emulate(
                0xf9400020,
                "mmu: ldr x0, [x1] across contiguous pages",
                CODE,
                M + 0x4ffc,
                0,
                &want,
                LD(M + 0x4ffc, 8));
        vm_init_mmu(&vm);
        vm.s.x[1] = DATA_VA + 0x3ffc;
        check_emulate(0xf9400020, "mmu: ldr x0, [x1] into an unmapped page", CODE, M + 0x5ffc, -EFAULT, NULL);

        /* Around 2^64: the pair's second element wraps to VA 0 (TTBR1 → TTBR0) */
        vm_init_mmu(&vm);
        vm.s.x[2] = UINT64_C(0xfffffffffffffff8);
        want = state_pc4();
        want.x[0] = UINT64_C(0xfffefdfcfbfaf9f8);
        want.x[1] = UINT64_C(0x0706050403020100);
        check_emulate(
                0xa9400440,
                "mmu: ldp x0, x1, [x2] wrapping to 0",
                CODE,
                M + 0x7ff8,
                0,
                &want,
                LD(M + 0x7ff8, 8),
                LD(M + 0x6000, 8));
        /* post-index writeback wraps */
        vm_init_mmu(&vm);
        vm.s.x[1] = UINT64_C(0xfffffffffffffff8);
        want = state_pc4();
        want.x[0] = UINT64_C(0xfffefdfcfbfaf9f8);
        want.x[1] = 8;
        check_emulate(
                0xf8410420, "mmu: ldr x0, [x1], #16 wrapping", CODE, M + 0x7ff8, 0, &want, LD(M + 0x7ff8, 8));
        /* pre-index to 0 */
        vm_init_mmu(&vm);
        vm.s.x[1] = 0x10;
        want = state_pc4();
        want.x[0] = UINT64_C(0x0706050403020100);
        want.x[1] = 0;
        check_emulate(
                0xf85f0c20, "mmu: ldr x0, [x1, #-16]! to 0", CODE, M + 0x6000, 0, &want, LD(M + 0x6000, 8));
        /* unscaled negative offset across 0 */
        vm_init_mmu(&vm);
        vm.s.x[1] = 0;
        want = state_pc4();
        want.x[0] = UINT64_C(0xfffefdfcfbfaf9f8);
        check_emulate(
                0xf85f8020, "mmu: ldur x0, [x1, #-8] from 0", CODE, M + 0x7ff8, 0, &want, LD(M + 0x7ff8, 8));

        /* TBI: the tag is ignored by the walk and kept in the written-back base */
        vm_init_mmu(&vm);
        vm.mmu.tcr |= TCR_TBI0;
        vm.s.x[1] = UINT64_C(0x5a00700000000018);
        want = state_pc4();
        want.x[0] = UINT64_C(0x1f1e1d1c1b1a1918);
        want.x[1] = UINT64_C(0x5a00700000000020);
        check_emulate(0xf8408420, "mmu: ldr x0, [x1], #8 tagged", CODE, M + 0x18, 0, &want, LD(M + 0x18, 8));
        vm_init_mmu(&vm);
        vm.s.x[1] = UINT64_C(0x5a00700000000018);
        check_emulate(0xf8408420, "mmu: ldr x0, [x1], #8 tagged without TBI", CODE, M + 0x18, -EFAULT, NULL);

        /* Code in the upper half, and a literal through the walk */
        vm_init_mmu(&vm);
        vm.s.pc = KCODE_VA;
        vm.s.x[1] = DATA_VA + 0x18;
        want = state_pc4();
        want.x[0] = UINT64_C(0x1f1e1d1c1b1a1918);
        check_emulate(
                0xf9400020,
                "mmu: ldr x0, [x1] from TTBR1 code",
                RAM_IPA + 0x2000,
                M + 0x18,
                0,
                &want,
                LD(M + 0x18, 8));
        vm_init_mmu(&vm);
        want = state_pc4();
        want.x[0] = UINT64_C(0x1716151413121110);
        check_emulate(0x58008080, "mmu: ldr x0, .+0x1010", CODE, M + 0x8010, 0, &want, LD(M + 0x8010, 8));

        /* The instruction fetch ignores the tag unless TBID0 excludes instruction addresses */
        vm_init_mmu(&vm);
        vm.mmu.tcr |= TCR_TBI0;
        vm.s.pc = CODE_VA | UINT64_C(0x5a) << 56;
        vm.s.x[1] = DATA_VA + 0x18;
        want = state_pc4();
        want.x[0] = UINT64_C(0x1f1e1d1c1b1a1918);
        check_emulate(0xf9400020, "mmu: tagged PC", CODE, M + 0x18, 0, &want, LD(M + 0x18, 8));
        vm_init_mmu(&vm);
        vm.mmu.tcr |= TCR_TBI0 | TCR_TBID0;
        vm.s.pc = CODE_VA | UINT64_C(0x5a) << 56;
        vm.s.x[1] = DATA_VA + 0x18;
        check_emulate(0xf9400020, "mmu: tagged PC with TBID0", CODE, M + 0x18, -EFAULT, NULL);
        vm_init_mmu(&vm);
        vm.mmu.tcr |= TCR_TBI0 | TCR_TBID0;
        vm.s.x[1] = UINT64_C(0x5a00700000000018);
        want = state_pc4();
        want.x[0] = UINT64_C(0x1f1e1d1c1b1a1918);
        check_emulate(0xf9400020, "mmu: tagged data with TBID0", CODE, M + 0x18, 0, &want, LD(M + 0x18, 8));

        /* PC on an unmapped page */
        vm_init_mmu(&vm);
        vm.s.pc = CODE_VA + 0x2000;
        check_emulate(0xf9400020, "mmu: PC unmapped", CODE, M + 0x18, -EFAULT, NULL);
}

static void test_fault_ipa(void) {
        State want;

        /* fault_ipa must be one of the element's bytes */
        vm_init(&vm);
        vm.s.x[1] = M + 0x18;
        check_emulate(0xf9400020, "fault: ldr x0, [x1], fault after", CODE, M + 0x20, -EFAULT, NULL);
        check_emulate(0xf9400020, "fault: ldr x0, [x1], fault before", CODE, M + 0x17, -EFAULT, NULL);
        check_emulate(0xf9400020, "fault: ldr x0, [x1], fault elsewhere", CODE, 0x9000000, -EFAULT, NULL);
        want = state_pc4();
        want.x[0] = UINT64_C(0x1f1e1d1c1b1a1918);
        check_emulate(
                0xf9400020,
                "fault: ldr x0, [x1], fault on the last byte",
                CODE,
                M + 0x1f,
                0,
                &want,
                LD(M + 0x18, 8));

        vm_init(&vm);
        vm.s.x[2] = M + 0x10;
        want = state_pc4();
        want.x[0] = UINT64_C(0x1716151413121110);
        want.x[1] = UINT64_C(0x1f1e1d1c1b1a1918);
        check_emulate(
                0xa9400440,
                "fault: ldp x0, x1, [x2], fault in the second",
                CODE,
                M + 0x1c,
                0,
                &want,
                LD(M + 0x10, 8),
                LD(M + 0x18, 8));
        vm_init(&vm);
        vm.s.x[2] = M + 0x10;
        check_emulate(0xa9400440, "fault: ldp x0, x1, [x2], fault past both", CODE, M + 0x20, -EFAULT, NULL);
        check_emulate(
                0xa9010440, "fault: stp x0, x1, [x2, #16], fault before both", CODE, M + 0x18, -EFAULT, NULL);
}

static void test_failures(void) {
        State want;

        current = "failures";
        /* An MMIO error is passed on with nothing written */
        vm_init(&vm);
        vm.s.x[1] = M + 0x18;
        vm.fail_mmio_at = 1;
        check_emulate(0xf8408420, "fail: ldr x0, [x1], #8, read fails", CODE, M + 0x18, -EIO, NULL);
        /* The second access of a pair fails: the first happened, registers stay */
        vm_init(&vm);
        vm.s.x[2] = M + 0x10;
        vm.fail_mmio_at = 2;
        check_emulate(
                0xa8c10440,
                "fail: ldp x0, x1, [x2], #16, second read fails",
                CODE,
                M + 0x10,
                -EIO,
                NULL,
                LD(M + 0x10, 8));
        vm_init(&vm);
        vm.s.x[2] = M + 0x40;
        vm.s.x[0] = UINT64_C(0x1122334455667788);
        vm.fail_mmio_at = 2;
        check_emulate(
                0xa9810440,
                "fail: stp x0, x1, [x2, #16]!, second write fails",
                CODE,
                M + 0x50,
                -EIO,
                NULL,
                ST(M + 0x50, 8, UINT64_C(0x1122334455667788)));
        check_eq(vm.mmio[0x50], 0x88);
        /* All elements go through the MMIO callbacks, the half of a pair in RAM too: the fake refuses it */
        vm_init(&vm);
        vm.s.x[2] = M + MMIO_SIZE - 8;
        check_emulate(
                0xa9400440,
                "fail: ldp x0, x1, [x2] with its second half in RAM",
                CODE,
                M + MMIO_SIZE - 8,
                -ENXIO,
                NULL,
                LD(M + MMIO_SIZE - 8, 8));

        /* Register read errors are passed on, before any access */
        vm_init(&vm);
        vm.s.x[1] = M + 0x40;
        vm.fail_get_reg = 1;
        check_emulate(0xf9000020, "fail: str x0, [x1], base unreadable", CODE, M + 0x40, -EBADE, NULL);
        vm.fail_get_reg = 0;
        check_emulate(0xf9000020, "fail: str x0, [x1], source unreadable", CODE, M + 0x40, -EBADE, NULL);
        vm.fail_get_reg = (int) A64_REG_PC;
        check_emulate(0xf9000020, "fail: str x0, [x1], PC unreadable", CODE, M + 0x40, -EBADE, NULL);
        vm.fail_get_reg = 2;
        check_emulate(0xf8626820, "fail: ldr x0, [x1, x2], offset unreadable", CODE, M + 0x40, -EBADE, NULL);
        vm.fail_get_reg = (int) A64_REG_SP;
        check_emulate(0xf94003e0, "fail: ldr x0, [sp], SP unreadable", CODE, M + 0x40, -EBADE, NULL);

        /* PC: misaligned, or not in RAM */
        vm_init(&vm);
        vm.s.x[1] = M + 0x18;
        vm.s.pc = CODE + 2;
        check_emulate(0xf9400020, "fail: PC misaligned", CODE, M + 0x18, -EFAULT, NULL);
        vm.s.pc = M + 0x100;
        check_emulate(0xf9400020, "fail: PC in MMIO", CODE, M + 0x18, -EFAULT, NULL);

        /* Execution state */
        vm_init(&vm);
        vm.s.x[1] = M + 0x18;
        vm.pstate = 0x10; /* AArch32 User */
        check_emulate(0xf9400020, "fail: AArch32", CODE, M + 0x18, -EOPNOTSUPP, NULL);
        vm.pstate = 0x9; /* EL2h */
        check_emulate(0xf9400020, "fail: EL2", CODE, M + 0x18, -EOPNOTSUPP, NULL);
        vm.pstate = PSTATE_EL1H;
        vm.mmu.sctlr = SCTLR_EE;
        check_emulate(0xf9400020, "fail: EL1 big-endian", CODE, M + 0x18, -EOPNOTSUPP, NULL);
        vm.pstate = PSTATE_EL0T;
        vm.mmu.sctlr = SCTLR_E0E;
        check_emulate(0xf9400020, "fail: EL0 big-endian", CODE, M + 0x18, -EOPNOTSUPP, NULL);

        /* EE at EL0 and E0E at EL1 are someone else's endianness */
        vm.mmu.sctlr = SCTLR_EE;
        want = state_pc4();
        want.x[0] = UINT64_C(0x1f1e1d1c1b1a1918);
        check_emulate(0xf9400020, "EL0 with SCTLR.EE", CODE, M + 0x18, 0, &want, LD(M + 0x18, 8));
        vm_init(&vm);
        vm.s.x[1] = M + 0x18;
        vm.mmu.sctlr = SCTLR_E0E;
        want = state_pc4();
        want.x[0] = UINT64_C(0x1f1e1d1c1b1a1918);
        check_emulate(0xf9400020, "EL1 with SCTLR.E0E", CODE, M + 0x18, 0, &want, LD(M + 0x18, 8));
}

static uint64_t rnd_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rnd(void) {
        /* xorshift64* */
        rnd_state ^= rnd_state >> 12;
        rnd_state ^= rnd_state << 25;
        rnd_state ^= rnd_state >> 27;
        return rnd_state * UINT64_C(0x2545f4914f6cdd1d);
}

static uint64_t sext(uint64_t v, unsigned bits) {
        if (bits >= 64)
                return v;
        if (v >> (bits - 1) & 1)
                return v | ~((UINT64_C(1) << bits) - 1);
        return v & ((UINT64_C(1) << bits) - 1);
}

/* Any instruction word with random registers, MMU off, every IPA answering as MMIO: a second, simpler model
 * of the address arithmetic and the write-back decides what must happen. */
static void test_random_words(void) {
        unsigned n_ok = 0, n_rejected = 0;
        State regs;

        vm_init(&vm);
        vm.mmio_anywhere = true;
        for (unsigned i = 0; i < 200000; i++) {
                uint32_t insn = (uint32_t) rnd();
                uint64_t base, offset = 0, addr, wb = 0, pc;
                A64Vcpu vcpu;
                A64Insn d;
                State want;
                int r, rd;

                if (i % 4 != 0)
                        insn = (insn | 0x08000000) & ~UINT32_C(0x02000000); /* mostly the load/store space */
                current = "random word";
                for (unsigned x = 0; x < 31; x++)
                        vm.s.x[x] = rnd() % 3 == 0 ? rnd() : M + 0x8000 + (rnd() & 0xff);
                vm.s.sp = M + 0x8000;
                vm.s.pc = CODE + (rnd() & 0xffc);
                pc = vm.s.pc;
                poke_insn(&vm, pc, insn);
                regs = snapshot(&vm);
                vm.n_log = vm.n_mmio = vm.n_sets = 0;

                rd = a64_decode(insn, &d);
                if (rd < 0) {
                        check(IN_SET(rd, -EOPNOTSUPP, -EINVAL));
                        vcpu = vcpu_of(&vm);
                        r = a64_emulate(&vcpu, M);
                        n_checks++;
                        if (r != rd || vm.n_log != 0 || vm.n_sets != 0)
                                fail(__LINE__, "0x%08x: decode %d, emulate %d, %u accesses", insn, rd, r, vm.n_log);
                        n_rejected++;
                        continue;
                }

                check(IN_SET(d.size, 1u, 2u, 4u, 8u, 16u));
                check(d.rt < 32 && d.rt2 < 32 && d.rn < 32 && d.rm < 32 && d.shift <= 4);
                check(d.simd ? d.reg_size == d.size : IN_SET(d.reg_size, 4u, 8u) && d.size <= d.reg_size);
                check(d.writeback == IN_SET(d.mode, A64_ADDR_PRE_INDEX, A64_ADDR_POST_INDEX));

                base = d.mode == A64_ADDR_LITERAL ? pc : d.rn == 31 ? regs.sp : regs.x[d.rn];
                switch (d.mode) {
                case A64_ADDR_REGISTER:
                        offset = d.rm == 31 ? 0 : regs.x[d.rm];
                        if (d.extend == A64_EXTEND_UXTW)
                                offset = (uint32_t) offset;
                        else if (d.extend == A64_EXTEND_SXTW)
                                offset = sext(offset, 32);
                        offset <<= d.shift;
                        addr = base + offset;
                        break;
                case A64_ADDR_POST_INDEX:
                        addr = base;
                        wb = base + (uint64_t) d.imm;
                        break;
                case A64_ADDR_PRE_INDEX:
                        addr = wb = base + (uint64_t) d.imm;
                        break;
                default:
                        addr = base + (uint64_t) d.imm;
                        break;
                }

                vcpu = vcpu_of(&vm);
                r = a64_emulate(&vcpu, addr);
                want = regs;
                if (d.kind == A64_INSN_NOP) {
                        want.pc += 4;
                        check_eq(r, 0);
                        check_eq(vm.n_log, 0);
                        check_state(&vm.s, &want);
                        continue;
                }
                if (addr >> 52 || (d.pair && (addr + d.size) >> 52) ||
                    (addr + d.size * (d.pair ? 2 : 1) - 1) >> 52) {
                        /* beyond what a flat stage 1 translates */
                        check_eq(r, -EFAULT);
                        check_eq(vm.n_sets, 0);
                        check_state(&vm.s, &regs);
                        continue;
                }
                n_checks++;
                if (r != 0) {
                        fail(__LINE__, "0x%08x: emulate %d", insn, r);
                        continue;
                }
                n_ok++;
                check_eq(vm.n_log, d.pair ? 2u : 1u);
                for (unsigned e = 0; e < vm.n_log; e++) {
                        const Access *a = &vm.log[e];
                        unsigned t = e == 0 ? d.rt : d.rt2;
                        uint64_t v = 0;

                        check_eq(a->write, d.kind == A64_INSN_STORE);
                        check_eq(a->ipa, addr + e * d.size);
                        check_eq(a->len, d.size);
                        if (d.simd) {
                                uint8_t img[16] = {};

                                if (d.kind == A64_INSN_STORE)
                                        check(memcmp(a->data, regs.v[t], d.size) == 0);
                                else {
                                        memcpy(img, a->data, d.size);
                                        memcpy(want.v[t], img, 16);
                                }
                                continue;
                        }
                        for (unsigned b = 0; b < MIN(d.size, 8u); b++)
                                v |= (uint64_t) a->data[b] << (8 * b);
                        if (d.kind == A64_INSN_STORE) {
                                uint64_t src = t == 31 ? 0 : regs.x[t];

                                if (d.size < 8)
                                        src &= (UINT64_C(1) << (8 * d.size)) - 1;
                                check_eq(v, src);
                        } else if (t != 31) {
                                if (d.sign_extend)
                                        v = sext(v, 8 * d.size);
                                if (d.reg_size == 4)
                                        v &= UINT32_MAX;
                                want.x[t] = v;
                        }
                }
                if (d.writeback) {
                        if (d.rn == 31)
                                want.sp = wb;
                        else
                                want.x[d.rn] = wb;
                }
                want.pc += 4;
                check_state(&vm.s, &want);
        }
        printf("random words: %u emulated, %u rejected\n", n_ok, n_rejected);
        check(n_ok > 50000);
        check(n_rejected > 50000);
}

int main(void) {
        vm.ram = calloc(1, RAM_SIZE);
        vm.mid = calloc(1, MID_SIZE);
        vm.high = calloc(1, HIGH_SIZE);
        if (!vm.ram || !vm.mid || !vm.high)
                return EXIT_FAILURE;

        test_string_tables();
        test_decode_fields();
        test_table();
        test_rejects();
        test_translate_off();
        test_translate_4k();
        test_translate_ttbr1();
        test_translate_16k();
        test_translate_64k();
        test_translate_misc();
        test_emulate_mmu();
        test_fault_ipa();
        test_failures();
        test_random_words();

        free(vm.ram);
        free(vm.mid);
        free(vm.high);
        printf("%u cases, %u checks, %u failed\n", n_cases, n_checks, n_failed);
        return n_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
