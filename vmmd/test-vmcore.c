/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcore.c and kallsyms.c on cores built here (a fake RAM with page tables, kallsyms tables, frame
 * records), on damaged ones, and on a real dump when $VMCORE_SAMPLE names one. */
#include <assert.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "kallsyms.h"
#include "vmcore.h"

/* The guest: 8 MiB of RAM at 1 GiB, a randomized linear map and kernel image (as the sample's), 48-bit VAs. */
#define RAM_PA UINT64_C(0x40000000)
#define RAM_SIZE (UINT64_C(8) << 20)
#define PHYS_OFFSET UINT64_C(0xfffffa7740000000)
#define PAGE_OFFSET UINT64_C(0xffff000000000000)
#define LINEAR_VA(pa) ((pa) + PAGE_OFFSET - PHYS_OFFSET)
#define KIMAGE_VOFFSET UINT64_C(0xffffc141cfa00000)
#define KIMAGE_PA UINT64_C(0x40200000)
#define KIMAGE_VA (KIMAGE_PA + KIMAGE_VOFFSET)
#define STEXT (KIMAGE_VA + 0x10000)
#define PGD_PA UINT64_C(0x40010000)
#define PAC_MASK UINT64_C(0xffff000000000000)

/* What the kernel's page tables map outside the linear map and the image. */
#define STACK_VA UINT64_C(0xffff800008000000)
#define BLOCK_VA UINT64_C(0xffff800008200000) /* 2 MiB at 0x40400000 */
#define GIB_VA UINT64_C(0xffff800040000000)   /* 1 GiB at 0x40000000, of which 8 MiB are RAM */
#define L0_BLOCK_VA UINT64_C(0xffff900000000000)
static const uint64_t stack_pages[] = { 0x40100000, 0x40105000, 0x40102000, 0x40103000 };

/* kallsyms, in the image's rodata (kernel order; names across a page boundary). */
#define KS_OFFSETS (KIMAGE_PA + 0x100000)
#define KS_BASE (KIMAGE_PA + 0x101000)
#define KS_NUM (KIMAGE_PA + 0x101008)
#define KS_NAMES (KIMAGE_PA + 0x101ff0)
#define KS_TOKEN_TABLE (KIMAGE_PA + 0x104000)
#define KS_BASE_VALUE (STEXT - UINT64_C(0x80000000)) /* offsets >= 2^31: unsigned, not int32 */

static uint8_t *ram;
static uint64_t ks_token_index; /* PA, right after the token table */
static uint64_t next_table = PGD_PA + 0x1000;
static char tmpdir[] = "/tmp/test-vmcore-XXXXXX";

static void *at(uint64_t pa) {
        assert(pa >= RAM_PA && pa < RAM_PA + RAM_SIZE);
        return ram + (pa - RAM_PA);
}

static void put64(uint64_t pa, uint64_t v) {
        memcpy(at(pa), &v, sizeof(v));
}

static uint64_t get64(uint64_t pa) {
        uint64_t v;

        memcpy(&v, at(pa), sizeof(v));
        return v;
}

static uint64_t stack_pa(uint64_t off) {
        return stack_pages[off / 4096] + off % 4096;
}

/* Writes desc at level for va, making the tables above it as needed. */
static void pt_map(uint64_t root, unsigned va_bits, uint64_t va, unsigned level, uint64_t desc) {
        unsigned start = va_bits > 39 ? 0 : 1;
        uint64_t table = root;

        for (unsigned l = start;; l++) {
                unsigned shift = 39 - 9 * l;
                uint64_t mask = l == start ? (UINT64_C(1) << (va_bits - shift)) - 1 : 511;
                uint64_t entry = table + ((va >> shift) & mask) * 8;

                if (l == level) {
                        put64(entry, desc);
                        return;
                }
                if (get64(entry) == 0) {
                        put64(entry, next_table | 3);
                        next_table += 4096;
                }
                table = get64(entry) & UINT64_C(0x0000fffffffff000);
        }
}

/* Access flag and execute-never bits too: they must not leak into addresses. */
#define ATTRS ((UINT64_C(1) << 10) | (UINT64_C(3) << 53))

static void page_tables(void) {
        for (size_t i = 0; i < ELEMENTSOF(stack_pages); i++)
                pt_map(PGD_PA, 48, STACK_VA + i * 4096, 3, stack_pages[i] | ATTRS | 3);
        pt_map(PGD_PA, 48, STACK_VA + 0x5000, 3, 0x40106000 | ATTRS | 1); /* reserved at level 3 */
        pt_map(PGD_PA, 48, BLOCK_VA, 2, 0x40400000 | ATTRS | 1);
        pt_map(PGD_PA, 48, BLOCK_VA + 0x200000, 2, 0x40401000 | ATTRS | 1);   /* block not aligned */
        pt_map(PGD_PA, 48, BLOCK_VA + 0x400000, 2, UINT64_C(0x80000000) | 3); /* table not in the dump */
        pt_map(PGD_PA, 48, GIB_VA, 1, RAM_PA | ATTRS | 1);
        pt_map(PGD_PA, 48, L0_BLOCK_VA, 0, UINT64_C(0x8000000000) | 1); /* no blocks at level 0 */
        pt_map(PGD_PA, 48, KIMAGE_VA, 2, KIMAGE_PA | ATTRS | 1);
        pt_map(PGD_PA, 48, PAGE_OFFSET + 0x1000, 3, 0x40107000 | 3); /* the linear map, walked never */

        /* A 39-bit kernel's: three levels, from level 1. */
        pt_map(0x40020000, 39, UINT64_C(0xffffffc008000000), 3, stack_pages[0] | ATTRS | 3);
        pt_map(0x40020000, 39, UINT64_C(0xffffffc040000000), 1, RAM_PA | ATTRS | 1);
}

/* kallsyms as the kernel's scripts/kallsyms lays it out, with a token table of single characters (at
 * their own codes) and a few longer tokens. */
typedef struct TestSymbol {
        uint64_t offset; /* from _stext */
        char type;
        const char *name;
} TestSymbol;

static const char *const test_tokens[] = {
        [1] = "sysrq_", [2] = "handle", [3] = "_crash", [4] = "Tvfs_", [5] = "panic", [6] = "t__", [7] = "fn"
};

static char long_name[201];

static TestSymbol symbols[] = {
        { 0x000, 'T', "_stext" },
        { 0x100, 't', "leaf_fn" },
        { 0x130, 'T', "caller_fn" },
        { 0x200, 'T', "panic" },
        { 0x300, 't', "sysrq_handle_crash" },
        { 0x328, 't', "sysrq_next" },
        { 0x400, 'T', "vfs_write" },
        { 0x400, 'W', "vfs_write_alias" },
        { 0x500, 't', "__busy_fn" },
        { 0x600, 't', long_name },
        { 0x700, 'D', "some_data" },
        { 0x800, 'T', "_etext" },
};
#define SYM(i) (STEXT + symbols[i].offset)

/* The token indexes for type + name, longest token first; returns how many. */
static size_t encode(char type, const char *name, uint8_t *out) {
        char s[1024];
        size_t n = 0;

        assert(snprintf(s, sizeof(s), "%c%s", type, name) < (int) sizeof(s));
        for (const char *p = s; *p; n++) {
                size_t best = 0, best_len = 1;

                for (size_t i = 1; i < ELEMENTSOF(test_tokens); i++) {
                        size_t l = strlen(test_tokens[i]);

                        if (l > best_len && strncmp(p, test_tokens[i], l) == 0) {
                                best = i;
                                best_len = l;
                        }
                }
                out[n] = best ? (uint8_t) best : (uint8_t) *p;
                p += best_len;
        }
        return n;
}

static void kallsyms_put(const TestSymbol *syms, size_t n) {
        uint64_t pa = KS_NAMES;
        uint16_t index[256];
        uint32_t num = (uint32_t) n;
        size_t t = 0;

        for (size_t i = 0; i < n; i++) {
                int32_t off = (int32_t) (uint32_t) (STEXT + syms[i].offset - KS_BASE_VALUE);
                uint8_t tokens[1024];
                size_t len = encode(syms[i].type, syms[i].name, tokens);
                uint8_t *p = at(pa);

                memcpy(at(KS_OFFSETS + 4 * i), &off, sizeof(off));
                if (len < 128)
                        *p++ = (uint8_t) len;
                else {
                        *p++ = (uint8_t) (0x80 | (len & 0x7f));
                        *p++ = (uint8_t) (len >> 7);
                }
                memcpy(p, tokens, len);
                pa += (uint64_t) (p - (uint8_t *) at(pa)) + len;
        }
        assert(pa < KS_TOKEN_TABLE);
        put64(KS_BASE, KS_BASE_VALUE);
        memcpy(at(KS_NUM), &num, sizeof(num));

        for (size_t i = 0; i < 256; i++) {
                char single[2] = { (char) i, 0 };
                const char *s = "";

                if (i < ELEMENTSOF(test_tokens) && test_tokens[i])
                        s = test_tokens[i];
                else if (i >= 0x21 && i <= 0x7e)
                        s = single;
                index[i] = (uint16_t) t;
                memcpy(at(KS_TOKEN_TABLE + t), s, strlen(s) + 1);
                t += strlen(s) + 1;
        }
        ks_token_index = (KS_TOKEN_TABLE + t + 1) & ~UINT64_C(1);
        memcpy(at(ks_token_index), index, sizeof(index));
}

/* Frame records on the stack (offsets from STACK_VA), and the vCPUs that stop on them. */
#define R0 0x0ff0
#define R1 0x1100
#define R2 0x2200
#define R3 0x3300
#define R4 0x0100
#define R5 0x0200
#define R6 0x0300
#define R7 0x0400
#define R8 0x0500
#define CHAIN 0x2400
#define CHAIN_LENGTH 99

static uint64_t A1, A2, A2_SIGNED, A3, P0, L, BUSY_PC, BUSY_LR, R4_RET, R5_RET, R6_RET, R8_RET;

static void record(uint64_t off, uint64_t fp, uint64_t ret) {
        put64(stack_pa(off), fp ? STACK_VA + fp : 0);
        put64(stack_pa(off) + 8, ret);
}

static void stacks(void) {
        P0 = SYM(1) + 8;    /* leaf_fn, which has no record */
        L = SYM(2) + 0x40;  /* caller_fn, which called it */
        A1 = SYM(3) + 0x64; /* panic */
        A2 = SYM(5);        /* after sysrq_handle_crash's call of panic(), which does not return */
        A2_SIGNED = (A2 & ~PAC_MASK) | UINT64_C(0x3a80000000000000);
        A3 = SYM(6) + 0x1c;      /* vfs_write */
        BUSY_PC = SYM(8) + 0x40; /* __busy_fn, after a call that returned */
        BUSY_LR = SYM(8) + 0x20;
        R4_RET = SYM(2) + 0x10;
        R5_RET = SYM(2) + 0x20;
        R6_RET = SYM(2) + 0x30;
        R8_RET = SYM(2) + 0x38;

        record(R0, R1, A1);
        record(R1, R2, A2_SIGNED);
        record(R2, R3, A3);
        record(R3, 0, 0); /* the zeroed record in the pt_regs of an entry from user space */
        record(R4, R5, R4_RET);
        record(R5, R4, R5_RET);     /* back down: a loop */
        record(R6, R7 + 8, R6_RET); /* misaligned */
        record(R8, R8, R8_RET);     /* itself */
        for (unsigned i = 0; i < CHAIN_LENGTH; i++)
                record(CHAIN + 16 * i, CHAIN + 16 * (i + 1), SYM(2) + 4 * i);
        record(CHAIN + 16 * CHAIN_LENGTH, 0, 0);
}

enum {
        CPU_BUSY,
        CPU_PANIC,
        CPU_LR_IS_RECORD,
        CPU_MISALIGNED_X29,
        CPU_LOOP,
        CPU_CHAIN,
        CPU_NO_FP,
        CPU_UNMAPPED_FP,
        CPU_MISALIGNED_RECORD,
        CPU_SELF,
        _CPU_MAX,
};

static VmcoreCpu cpus[_CPU_MAX];

static void cpu_set(unsigned i, uint64_t pc, uint64_t x29, uint64_t x30) {
        cpus[i] = (VmcoreCpu){ .pid = i + 1, .pc = pc, .sp = STACK_VA + 0x800, .pstate = 0x3c5 };
        for (unsigned r = 0; r < 29; r++)
                cpus[i].regs[r] = 0x1000 * i + r;
        cpus[i].regs[29] = x29 ? STACK_VA + x29 : 0;
        cpus[i].regs[30] = x30;
}

static void cpus_make(void) {
        cpu_set(CPU_BUSY, BUSY_PC, R2, BUSY_LR);
        cpu_set(CPU_PANIC, P0, R0, L);
        cpu_set(CPU_LR_IS_RECORD, P0, R0, A1);
        cpu_set(CPU_MISALIGNED_X29, P0, R0 + 8, L);
        cpu_set(CPU_LOOP, P0, R4, R4_RET);
        cpu_set(CPU_CHAIN, P0, CHAIN, 0);
        cpu_set(CPU_NO_FP, P0, 0, 0);
        cpu_set(CPU_UNMAPPED_FP, P0, 0x10000, UINT64_C(0x0034000000401000)); /* a signed user address */
        cpu_set(CPU_MISALIGNED_RECORD, P0, R6, R6_RET);
        cpu_set(CPU_SELF, P0, R8, R8_RET);
}

typedef struct Layout {
        uint64_t pgd_pa;
        unsigned va_bits;
        unsigned t1sz;
        uint64_t phys_offset;
        uint64_t pac_mask;
        bool kallsyms;
        const char *extra;
} Layout;

#define LAYOUT_DEFAULT \
        (Layout) { \
                .pgd_pa = PGD_PA, .va_bits = 48, .t1sz = 16, .phys_offset = PHYS_OFFSET, \
                .pac_mask = PAC_MASK, .kallsyms = true, .extra = "", \
        }

static char *info_make(Layout l) {
        _cleanup_free_ char *ks = NULL;
        char *s;

        if (l.kallsyms)
                assert(asprintf(
                               &ks,
                               "SYMBOL(kallsyms_names)=%" PRIx64 "\n"
                               "SYMBOL(kallsyms_num_syms)=%" PRIx64 "\n"
                               "SYMBOL(kallsyms_token_table)=%" PRIx64 "\n"
                               "SYMBOL(kallsyms_token_index)=%" PRIx64 "\n"
                               "SYMBOL(kallsyms_offsets)=%" PRIx64 "\n"
                               "SYMBOL(kallsyms_relative_base)=%" PRIx64 "\n",
                               KS_NAMES + KIMAGE_VOFFSET,
                               KS_NUM + KIMAGE_VOFFSET,
                               KS_TOKEN_TABLE + KIMAGE_VOFFSET,
                               ks_token_index + KIMAGE_VOFFSET,
                               KS_OFFSETS + KIMAGE_VOFFSET,
                               KS_BASE + KIMAGE_VOFFSET) >= 0);
        assert(asprintf(
                       &s,
                       "OSRELEASE=6.1.0-test-arm64\n"
                       "PAGESIZE=4096\n"
                       "SYMBOL(_stext)=%" PRIx64 "\n"
                       "SYMBOL(swapper_pg_dir)=%" PRIx64 "\n"
                       "%s"
                       "no equals sign on this line\n"
                       "NUMBER(VA_BITS)=%u\n"
                       "NUMBER(kimage_voffset)=0x%" PRIx64 "\n"
                       "NUMBER(PHYS_OFFSET)=0x%" PRIx64 "\n"
                       "NUMBER(TCR_EL1_T1SZ)=0x%x\n"
                       "KERNELOFFSET=414207c00000\n"
                       "NUMBER(KERNELPACMASK)=0x%" PRIx64 "\n"
                       "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n"
                       "%s",
                       STEXT,
                       l.pgd_pa + KIMAGE_VOFFSET,
                       strempty(ks),
                       l.va_bits,
                       KIMAGE_VOFFSET,
                       l.phys_offset,
                       l.t1sz,
                       l.pac_mask,
                       l.extra) >= 0);
        return s;
}

/* Parts of the RAM (offsets from RAM_PA) that a dump holds. */
typedef struct Piece {
        uint64_t from, to;
} Piece;

typedef struct Spec {
        const char *info; /* NULL: no VMCOREINFO note */
        const VmcoreCpu *cpus;
        size_t n_cpus;
        const Piece *pieces; /* NULL: all RAM */
        size_t n_pieces;
        bool xnum; /* e_phnum PN_XNUM, the count in section header 0 */
} Spec;

static uint8_t *note_put(uint8_t *p, const char *name, uint32_t type, const void *desc, size_t size) {
        Elf64_Nhdr h = { (Elf64_Word) strlen(name) + 1, (Elf64_Word) size, type };

        memcpy(p, &h, sizeof(h));
        p += sizeof(h);
        memcpy(p, name, h.n_namesz);
        p += (h.n_namesz + 3) & ~3U;
        memcpy(p, desc, size);
        return p + ((size + 3) & ~(size_t) 3);
}

/* A core as QEMU's dump-guest-memory writes it (paging=false): notes, then one PT_LOAD per piece. */
static uint8_t *core_build(const Spec *s, size_t *ret_size) {
        static const Piece whole = { 0, RAM_SIZE };
        const Piece *pieces = s->pieces ?: &whole;
        size_t n_pieces = s->pieces ? s->n_pieces : 1, phnum = 1 + n_pieces;
        size_t info_size = s->info ? strlen(s->info) + 1 : 0;
        size_t notes_size = s->n_cpus * (2 * (12 + 8) + 392 + 528) +
                (s->info ? 12 + 12 + ((info_size + 3) & ~3U) : 0);
        size_t phoff = sizeof(Elf64_Ehdr) + (s->xnum ? sizeof(Elf64_Shdr) : 0);
        size_t notes = phoff + phnum * sizeof(Elf64_Phdr), data = notes + notes_size, size = data;
        Elf64_Ehdr *e;
        Elf64_Phdr ph;
        uint8_t *buf, *p;

        for (size_t i = 0; i < n_pieces; i++)
                size += pieces[i].to - pieces[i].from;
        buf = calloc(1, size);
        assert(buf);

        e = (Elf64_Ehdr *) buf;
        *e = (Elf64_Ehdr){
                .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
                .e_type = ET_CORE,
                .e_machine = EM_AARCH64,
                .e_version = EV_CURRENT,
                .e_phoff = phoff,
                .e_ehsize = 8, /* as QEMU 7.2 writes it */
                .e_phentsize = sizeof(Elf64_Phdr),
                .e_phnum = s->xnum ? PN_XNUM : (Elf64_Half) phnum,
        };
        if (s->xnum) {
                Elf64_Shdr sh0 = { .sh_info = (Elf64_Word) phnum };

                e->e_shoff = sizeof(Elf64_Ehdr);
                e->e_shentsize = sizeof(Elf64_Shdr);
                e->e_shnum = 1;
                memcpy(buf + sizeof(Elf64_Ehdr), &sh0, sizeof(sh0));
        }

        ph = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = notes, .p_filesz = notes_size, .p_memsz = notes_size };
        memcpy(buf + phoff, &ph, sizeof(ph));
        for (size_t i = 0, off = data; i < n_pieces; i++) {
                uint64_t n = pieces[i].to - pieces[i].from;

                ph = (Elf64_Phdr){
                        .p_type = PT_LOAD,
                        .p_offset = off,
                        .p_vaddr = RAM_PA + pieces[i].from,
                        .p_paddr = RAM_PA + pieces[i].from,
                        .p_filesz = n,
                        .p_memsz = n,
                };
                memcpy(buf + phoff + (i + 1) * sizeof(ph), &ph, sizeof(ph));
                memcpy(buf + off, ram + pieces[i].from, n);
                off += n;
        }

        p = buf + notes;
        for (size_t i = 0; i < s->n_cpus; i++) {
                uint8_t prstatus[392] = {}, fpregs[528] = {};

                memcpy(prstatus + 32, &s->cpus[i].pid, 4);
                memcpy(prstatus + 112, s->cpus[i].regs, 31 * 8);
                memcpy(prstatus + 112 + 31 * 8, &s->cpus[i].sp, 8);
                memcpy(prstatus + 112 + 32 * 8, &s->cpus[i].pc, 8);
                memcpy(prstatus + 112 + 33 * 8, &s->cpus[i].pstate, 8);
                p = note_put(p, "CORE", NT_PRSTATUS, prstatus, sizeof(prstatus));
                p = note_put(p, "CORE", NT_FPREGSET, fpregs, sizeof(fpregs));
        }
        if (s->info)
                p = note_put(p, "VMCOREINFO", 0, s->info, info_size);
        assert(p == buf + data);

        *ret_size = size;
        return buf;
}

static int memfd_with(const void *data, size_t size) {
        int fd = memfd_create("test-vmcore", MFD_CLOEXEC);

        assert(fd >= 0);
        assert(pwrite(fd, data, size, 0) == (ssize_t) size);
        return fd;
}

/* A core made from spec, open: *ret_fd keeps its memfd. */
static Vmcore *core_open(const Spec *s, int *ret_fd) {
        _cleanup_free_ uint8_t *buf = NULL;
        Vmcore *c = NULL;
        size_t size;

        buf = core_build(s, &size);
        *ret_fd = memfd_with(buf, size);
        assert(vmcore_open(*ret_fd, &c) == 0);
        return c;
}

static Vmcore *default_core(int *ret_fd) {
        _cleanup_free_ char *info = info_make(LAYOUT_DEFAULT);

        return core_open(&(Spec){ .info = info, .cpus = cpus, .n_cpus = _CPU_MAX }, ret_fd);
}

static uint64_t translated(const Vmcore *c, uint64_t va) {
        uint64_t pa;

        assert(vmcore_translate(c, va, &pa) == 0);
        return pa;
}

static void test_frame_kind(void) {
        for (VmcoreFrameKind k = 0; k < _VMCORE_FRAME_KIND_MAX; k++)
                assert(vmcore_frame_kind_from_string(vmcore_frame_kind_to_string(k)) == k);
        assert(streq(vmcore_frame_kind_to_string(VMCORE_FRAME_LR), "lr"));
        assert(!vmcore_frame_kind_to_string(_VMCORE_FRAME_KIND_MAX));
        assert(vmcore_frame_kind_from_string("x30") == _VMCORE_FRAME_KIND_INVALID);
        assert(vmcore_frame_kind_from_string(NULL) == _VMCORE_FRAME_KIND_INVALID);
}

static void test_info(void) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL;
        _cleanup_free_ char *info = NULL;
        uint64_t v;

        info = info_make((Layout){
                .pgd_pa = PGD_PA,
                .va_bits = 48,
                .t1sz = 16,
                .phys_offset = PHYS_OFFSET,
                .extra = "NUMBER(dec)=4096\nNUMBER(bad)=12z\nNUMBER(huge)=0x1ffffffffffffffff\n"
                         "NUMBER(empty)=\nSYMBOL(prefixed)=0x10\nNUMBER(PAGESIZE)=2\n",
        });
        c = core_open(&(Spec){ .info = info, .cpus = cpus, .n_cpus = 2 }, &fd);

        assert(streq(vmcore_info(c, "OSRELEASE"), "6.1.0-test-arm64"));
        assert(streq(vmcore_info(c, "NUMBER(empty)"), ""));
        assert(!vmcore_info(c, "no equals sign on this line"));
        assert(!vmcore_info(c, "OSRELEASE=6.1.0-test-arm64"));
        assert(!vmcore_info(c, "SYMBOL(nothing)"));

        assert(vmcore_info_u64(c, "SYMBOL(_stext)", &v) == 0 && v == STEXT);
        assert(vmcore_info_u64(c, "KERNELOFFSET", &v) == 0 && v == UINT64_C(0x414207c00000));
        assert(vmcore_info_u64(c, "NUMBER(kimage_voffset)", &v) == 0 && v == KIMAGE_VOFFSET);
        assert(vmcore_info_u64(c, "NUMBER(VA_BITS)", &v) == 0 && v == 48);
        assert(vmcore_info_u64(c, "NUMBER(dec)", &v) == 0 && v == 4096);
        assert(vmcore_info_u64(c, "PAGESIZE", &v) == 0 && v == 4096);
        assert(vmcore_info_u64(c, "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", &v) == 0 && v == (uint64_t) -129);
        v = 7;
        assert(vmcore_info_u64(c, "NUMBER(bad)", &v) == -EINVAL && v == 7);
        assert(vmcore_info_u64(c, "NUMBER(huge)", &v) == -ERANGE && v == 7);
        assert(vmcore_info_u64(c, "NUMBER(empty)", &v) == -EINVAL && v == 7);
        assert(vmcore_info_u64(c, "SYMBOL(prefixed)", &v) == -EINVAL && v == 7);
        assert(vmcore_info_u64(c, "SYMBOL(nothing)", &v) == -ENOENT && v == 7);

        assert(vmcore_n_cpus(c) == 2);
        for (size_t i = 0; i < 2; i++) {
                const VmcoreCpu *cpu = vmcore_cpu(c, i);

                assert(cpu->pid == i + 1);
                assert(memcmp(cpu->regs, cpus[i].regs, sizeof(cpu->regs)) == 0);
                assert(cpu->sp == cpus[i].sp && cpu->pc == cpus[i].pc && cpu->pstate == 0x3c5);
        }
        assert(!vmcore_cpu(c, 2));
}

static void test_translate(void) {
        _cleanup_close_ int fd = -EBADF, fd2 = -EBADF, fd3 = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL, *fallback = NULL, *c39 = NULL;
        _cleanup_free_ char *info_fallback = NULL, *info39 = NULL;
        uint8_t buf[64], expect[64];
        uint64_t pa;
        Layout l;

        c = default_core(&fd);

        /* The linear map, by formula, and reads in and out of RAM. */
        assert(translated(c, LINEAR_VA(RAM_PA) + 0x1234) == RAM_PA + 0x1234);
        assert(vmcore_read_virt(c, LINEAR_VA(RAM_PA) + 0x1234, buf, 8) == 0);
        assert(memcmp(buf, at(RAM_PA + 0x1234), 8) == 0);
        assert(vmcore_read_virt(c, LINEAR_VA(RAM_PA) + RAM_SIZE - 4, buf, 8) == -EFAULT);
        assert(translated(c, PAGE_OFFSET) == PHYS_OFFSET);
        assert(vmcore_read_virt(c, PAGE_OFFSET, buf, 8) == -EFAULT);
        assert(vmcore_read_phys(c, RAM_PA + RAM_SIZE - 8, buf, 8) == 0);
        assert(vmcore_read_phys(c, RAM_PA + RAM_SIZE - 8, buf, 9) == -EFAULT);
        assert(vmcore_read_phys(c, RAM_PA - 1, buf, 1) == -EFAULT);

        /* The kernel image and the rest through the page tables. */
        assert(translated(c, STEXT) == KIMAGE_PA + 0x10000);
        assert(translated(c, KIMAGE_VA + 0x1fffff) == KIMAGE_PA + 0x1fffff);
        assert(vmcore_translate(c, KIMAGE_VA + 0x200000, &pa) == -EFAULT); /* not mapped: no formula */
        for (size_t i = 0; i < ELEMENTSOF(stack_pages); i++)
                assert(translated(c, STACK_VA + i * 4096 + 0x123) == stack_pages[i] + 0x123);
        assert(translated(c, BLOCK_VA + 0x12345) == 0x40412345);
        assert(translated(c, GIB_VA + 0x300000) == 0x40300000);
        assert(translated(c, GIB_VA + 0x20000000) == 0x60000000);
        assert(vmcore_read_virt(c, GIB_VA + 0x20000000, buf, 1) == -EFAULT);

        /* A read across pages that are apart in RAM. */
        assert(vmcore_read_virt(c, STACK_VA + 0xff0, buf, 32) == 0);
        memcpy(expect, at(stack_pages[0] + 0xff0), 16);
        memcpy(expect + 16, at(stack_pages[1]), 16);
        assert(memcmp(buf, expect, 32) == 0);
        assert(vmcore_read_virt(c, STACK_VA + 0x3ff8, buf, 16) == -EFAULT); /* into the hole after */

        /* Malformed or missing descriptors fail the translation. */
        assert(vmcore_translate(c, STACK_VA + 0x4000, &pa) == -EFAULT);   /* not valid */
        assert(vmcore_translate(c, STACK_VA + 0x5000, &pa) == -EFAULT);   /* reserved at level 3 */
        assert(vmcore_translate(c, BLOCK_VA + 0x200000, &pa) == -EFAULT); /* block not aligned */
        assert(vmcore_translate(c, BLOCK_VA + 0x400000, &pa) == -EFAULT); /* table not in the dump */
        assert(vmcore_translate(c, L0_BLOCK_VA, &pa) == -EFAULT);         /* a block at level 0 */
        assert(vmcore_translate(c, UINT64_C(0x0000ffff00001000), &pa) == -EFAULT); /* user half */
        assert(vmcore_translate(c, UINT64_C(0x00ff800008000000), &pa) == -EFAULT); /* not canonical */

        /* Page tables not in the dump: the image by kimage_voffset, within its window only. */
        l = LAYOUT_DEFAULT;
        l.pgd_pa = UINT64_C(0x80000000);
        info_fallback = info_make(l);
        fallback = core_open(&(Spec){ .info = info_fallback, .cpus = cpus, .n_cpus = 1 }, &fd2);
        assert(translated(fallback, STEXT) == KIMAGE_PA + 0x10000);
        assert(translated(fallback, KIMAGE_VA + 0x300000) == KIMAGE_PA + 0x300000);
        assert(vmcore_translate(fallback, KIMAGE_VA - 1, &pa) == -EFAULT);
        assert(vmcore_translate(fallback, KIMAGE_VA + (UINT64_C(256) << 20), &pa) == -EFAULT);
        assert(vmcore_translate(fallback, STACK_VA, &pa) == -EFAULT);
        assert(translated(fallback, LINEAR_VA(RAM_PA)) == RAM_PA);

        /* A TCR_EL1.T1SZ that makes no sense for VA_BITS: no page tables, the formulas only. */
        for (size_t i = 0; i < 3; i++) {
                _cleanup_close_ int fd4 = -EBADF;
                _cleanup_(vmcore_freep) Vmcore *bad = NULL;
                _cleanup_free_ char *info_bad = NULL;

                l = LAYOUT_DEFAULT;
                l.t1sz = (const unsigned[]){ 15, 17, 0x100 }[i];
                info_bad = info_make(l);
                bad = core_open(&(Spec){ .info = info_bad, .cpus = cpus, .n_cpus = 1 }, &fd4);
                assert(vmcore_translate(bad, STACK_VA, &pa) == -EFAULT);
                assert(translated(bad, STEXT) == KIMAGE_PA + 0x10000);
                assert(translated(bad, LINEAR_VA(RAM_PA)) == RAM_PA);
        }

        /* 39-bit VAs: three levels from level 1, and a linear map where this RAM is outside it. */
        l = (Layout){ .pgd_pa = 0x40020000, .va_bits = 39, .t1sz = 25, .phys_offset = RAM_PA, .extra = "" };
        info39 = info_make(l);
        c39 = core_open(&(Spec){ .info = info39, .cpus = cpus, .n_cpus = 1 }, &fd3);
        assert(translated(c39, UINT64_C(0xffffffc008000123)) == stack_pages[0] + 0x123);
        assert(translated(c39, UINT64_C(0xffffffc040abcdef)) == RAM_PA + 0xabcdef);
        assert(translated(c39, UINT64_C(0xffffff8000001000)) == RAM_PA + 0x1000);
        assert(vmcore_translate(c39, UINT64_C(0xffffffc000000000), &pa) == -EFAULT);
        assert(vmcore_translate(c39, STACK_VA, &pa) == -EFAULT); /* outside 39 bits */
}

static void test_no_layout(void) {
        _cleanup_close_ int fd = -EBADF, fd2 = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL, *c52 = NULL;
        _cleanup_free_ char *info52 = NULL;
        Kallsyms *k = NULL;
        VmcoreFrame f[8];
        uint64_t pa;
        size_t n;
        Layout l;

        /* No vmcoreinfo at all: registers, and nothing that needs the kernel's layout. */
        c = core_open(&(Spec){ .cpus = cpus, .n_cpus = _CPU_MAX }, &fd);
        assert(!vmcore_info(c, "OSRELEASE"));
        assert(vmcore_translate(c, STEXT, &pa) == -ENODATA);
        assert(vmcore_read_virt(c, STEXT, &pa, 8) == -ENODATA);
        assert(vmcore_read_phys(c, RAM_PA, &pa, 8) == 0);
        assert(vmcore_unwind(c, CPU_PANIC, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 2 && f[0].pc == P0 && f[1].pc == L && f[1].kind == VMCORE_FRAME_LR);
        assert(kallsyms_read(c, &k) == -ENODATA && !k);
        assert(vmcore_write_kernel_view(c, fd) == -ENODATA);

        /* A layout that is not ours (52-bit VAs) is none. */
        l = LAYOUT_DEFAULT;
        l.va_bits = 52;
        l.t1sz = 12;
        info52 = info_make(l);
        c52 = core_open(&(Spec){ .info = info52, .cpus = cpus, .n_cpus = 1 }, &fd2);
        assert(vmcore_translate(c52, STEXT, &pa) == -ENODATA);
}

static void check_symbols(const Kallsyms *k, const TestSymbol *expect, size_t n) {
        assert(kallsyms_n_symbols(k) == n);
        for (size_t i = 0; i < n; i++) {
                const KallsymsSymbol *s = kallsyms_symbol(k, i);

                assert(streq(s->name, expect[i].name));
                assert(s->type == expect[i].type);
                assert(s->address == STEXT + expect[i].offset);
        }
        assert(!kallsyms_symbol(k, n));
}

/* Decodes the current tables: the kallsyms_read() result. */
static int kallsyms_of_ram(Kallsyms **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL;

        c = default_core(&fd);
        return kallsyms_read(c, ret);
}

static void test_kallsyms(void) {
        _cleanup_(kallsyms_freep) Kallsyms *k = NULL, *unsorted = NULL;
        TestSymbol swapped[ELEMENTSOF(symbols)], bad[2];
        Kallsyms *none = NULL;
        char name600[601];
        uint8_t save;
        uint32_t num;

        assert(kallsyms_of_ram(&k) == 0);
        check_symbols(k, symbols, ELEMENTSOF(symbols));

        /* Sizes reach the next higher address; aliases share it; the last has none. */
        assert(kallsyms_symbol(k, 0)->size == 0x100);
        assert(kallsyms_symbol(k, 4)->size == 0x28);
        assert(kallsyms_symbol(k, 6)->size == 0x100 && kallsyms_symbol(k, 7)->size == 0x100);
        assert(kallsyms_symbol(k, 11)->size == 0);

        /* Lookups at the edges. */
        assert(!kallsyms_lookup(k, STEXT - 1));
        assert(kallsyms_lookup(k, STEXT) == kallsyms_symbol(k, 0));
        assert(kallsyms_lookup(k, SYM(1) - 1) == kallsyms_symbol(k, 0));
        assert(kallsyms_lookup(k, SYM(1)) == kallsyms_symbol(k, 1));
        assert(kallsyms_lookup(k, SYM(5) - 1) == kallsyms_symbol(k, 4));
        assert(kallsyms_lookup(k, SYM(5)) == kallsyms_symbol(k, 5));
        assert(kallsyms_lookup(k, SYM(7) + 0x10) == kallsyms_symbol(k, 6)); /* the first alias */
        assert(kallsyms_lookup(k, SYM(11)) == kallsyms_symbol(k, 11));
        assert(!kallsyms_lookup(k, SYM(11) + 1));

        /* An unsorted table is sorted, aliases kept in table order. */
        memcpy(swapped, symbols, sizeof(symbols));
        swapped[2] = symbols[9];
        swapped[9] = symbols[2];
        kallsyms_put(swapped, ELEMENTSOF(swapped));
        assert(kallsyms_of_ram(&unsorted) == 0);
        check_symbols(unsorted, symbols, ELEMENTSOF(symbols));

        /* Damaged tables. */
        memset(name600, 'y', 600);
        name600[600] = 0;
        bad[0] = symbols[0];
        bad[1] = (TestSymbol){ 0x10, 't', name600 };
        kallsyms_put(bad, 2);
        assert(kallsyms_of_ram(&none) == -EBADMSG && !none);

        kallsyms_put(symbols, ELEMENTSOF(symbols));
        save = *(uint8_t *) at(KS_NAMES);
        *(uint8_t *) at(KS_NAMES) = 0; /* length 0 */
        assert(kallsyms_of_ram(&none) == -EBADMSG);
        *(uint8_t *) at(KS_NAMES) = 0xff; /* two bytes: 0x7f | 0xff << 7 */
        assert(kallsyms_of_ram(&none) == -EBADMSG);
        *(uint8_t *) at(KS_NAMES) = save;

        memcpy(&num, at(KS_NUM), 4);
        memcpy(at(KS_NUM), &(uint32_t){ 0 }, 4);
        assert(kallsyms_of_ram(&none) == -EBADMSG);
        memcpy(at(KS_NUM), &(uint32_t){ KALLSYMS_SYMBOLS_MAX + 1 }, 4);
        assert(kallsyms_of_ram(&none) == -E2BIG);
        memcpy(at(KS_NUM), &(uint32_t){ 300000 }, 4); /* the names run out of the dump */
        assert(kallsyms_of_ram(&none) == -EFAULT);
        memcpy(at(KS_NUM), &num, 4);

        memcpy(at(ks_token_index + 2 * 'a'), &(uint16_t){ 0xfff0 }, 2); /* beyond the token table */
        assert(kallsyms_of_ram(&none) == -EBADMSG);
        kallsyms_put(symbols, ELEMENTSOF(symbols));
        save = *(uint8_t *) at(KS_TOKEN_TABLE + 1); /* "sysrq_": "" is at 0 */
        *(uint8_t *) at(KS_TOKEN_TABLE + 1) = '\t';
        assert(kallsyms_of_ram(&none) == -EBADMSG);
        *(uint8_t *) at(KS_TOKEN_TABLE + 1) = save;
        assert(kallsyms_of_ram(&none) == 0);
        none = kallsyms_free(none);
        assert(!none);
}

static void test_kallsyms_partial(void) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL;
        _cleanup_free_ char *info = info_make(LAYOUT_DEFAULT);
        Piece pieces[] = { { 0, 0x300000 }, { 0x302000, RAM_SIZE } }; /* without the names' pages */
        Kallsyms *k = NULL;

        c = core_open(&(Spec){ .info = info, .cpus = cpus, .n_cpus = 1, .pieces = pieces, .n_pieces = 2 }, &fd);
        assert(kallsyms_read(c, &k) == -EFAULT && !k);
}

static void test_unwind(void) {
        _cleanup_close_ int fd = -EBADF, fd2 = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL, *nopac = NULL;
        _cleanup_(kallsyms_freep) Kallsyms *k = NULL;
        _cleanup_free_ char *info = NULL;
        VmcoreFrame f[200];
        char line[KALLSYMS_FRAME_LINE_MAX], expect[KALLSYMS_FRAME_LINE_MAX];
        size_t n, cpu;
        Layout l;

        c = default_core(&fd);
        assert(kallsyms_read(c, &k) == 0);

        /* A leaf function's caller from x30, then the records, PAC stripped, until the zeroed one. */
        assert(vmcore_unwind(c, CPU_PANIC, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 5);
        assert(f[0].pc == P0 && f[0].kind == VMCORE_FRAME_PC);
        assert(f[1].pc == L && f[1].kind == VMCORE_FRAME_LR);
        assert(f[2].pc == A1 && f[2].kind == VMCORE_FRAME_RECORD);
        assert(f[3].pc == A2 && f[4].pc == A3);

        snprintf(expect, sizeof(expect), "#0  0x%016" PRIx64 " leaf_fn+0x8/0x30", P0);
        assert(streq(kallsyms_format_frame(k, 0, &f[0], line), expect));
        snprintf(expect, sizeof(expect), "#1  0x%016" PRIx64 " caller_fn+0x40/0xd0 (lr)", L);
        assert(streq(kallsyms_format_frame(k, 1, &f[1], line), expect));
        snprintf(expect, sizeof(expect), "#3  0x%016" PRIx64 " sysrq_handle_crash+0x28/0x28", A2);
        assert(streq(kallsyms_format_frame(k, 3, &f[3], line), expect));
        snprintf(expect, sizeof(expect), "#12 0x%016" PRIx64 " vfs_write+0x1c/0x100", A3);
        assert(streq(kallsyms_format_frame(k, 12, &f[4], line), expect));
        snprintf(expect, sizeof(expect), "#4  0x%016" PRIx64, A3);
        assert(streq(kallsyms_format_frame(NULL, 4, &f[4], line), expect));

        /* x30 that is the first record's return address is not there twice. */
        assert(vmcore_unwind(c, CPU_LR_IS_RECORD, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 4 && f[1].pc == A1 && f[1].kind == VMCORE_FRAME_RECORD && f[3].pc == A3);

        /* Where the pc's function returned to last is not its caller: kallsyms_unwind() drops it. */
        assert(vmcore_unwind(c, CPU_BUSY, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 3 && f[1].pc == BUSY_LR && f[2].pc == A3);
        assert(kallsyms_unwind(k, c, CPU_BUSY, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 2 && f[0].pc == BUSY_PC && f[1].pc == A3);
        assert(kallsyms_unwind(k, c, CPU_PANIC, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 5 && f[1].pc == L);

        /* Stops: misaligned x29 (x30 still there), a loop, a misaligned record, no fp, unmapped fp. */
        assert(vmcore_unwind(c, CPU_MISALIGNED_X29, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 2 && f[1].pc == L && f[1].kind == VMCORE_FRAME_LR);
        assert(vmcore_unwind(c, CPU_LOOP, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 3 && f[1].pc == R4_RET && f[2].pc == R5_RET);
        assert(vmcore_unwind(c, CPU_MISALIGNED_RECORD, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 2 && f[1].pc == R6_RET);
        assert(vmcore_unwind(c, CPU_SELF, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 2 && f[1].pc == R8_RET);
        assert(vmcore_unwind(c, CPU_NO_FP, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 1 && f[0].pc == P0);
        assert(vmcore_unwind(c, CPU_UNMAPPED_FP, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 2 && f[1].pc == 0x401000); /* a user address: PAC bits cleared */

        /* The frame limit. */
        assert(vmcore_unwind(c, CPU_CHAIN, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 1 + CHAIN_LENGTH && f[CHAIN_LENGTH].pc == SYM(2) + 4 * (CHAIN_LENGTH - 1));
        assert(vmcore_unwind(c, CPU_CHAIN, f, VMCORE_FRAMES_MAX, &n) == 0);
        assert(n == VMCORE_FRAMES_MAX);
        assert(vmcore_unwind(c, CPU_PANIC, f, 2, &n) == 0);
        assert(n == 2 && f[1].pc == L);
        assert(vmcore_unwind(c, CPU_PANIC, f, 1, &n) == 0);
        assert(n == 1);

        /* Which vCPU crashed: the first through panic(). */
        assert(kallsyms_find_crashed_cpu(k, c, &cpu) == 0 && cpu == CPU_PANIC);

        /* Without KERNELPACMASK the signed return address stays as it is. */
        l = LAYOUT_DEFAULT;
        l.pac_mask = 0;
        info = info_make(l);
        nopac = core_open(&(Spec){ .info = info, .cpus = cpus, .n_cpus = _CPU_MAX }, &fd2);
        assert(vmcore_unwind(nopac, CPU_PANIC, f, ELEMENTSOF(f), &n) == 0);
        assert(n == 5 && f[3].pc == A2_SIGNED);
}

/* The converted file's program headers, read as gdb would. */
static Elf64_Phdr *phdrs_read(int fd, size_t *ret_n) {
        Elf64_Ehdr e;
        Elf64_Phdr *ph;

        assert(pread(fd, &e, sizeof(e), 0) == sizeof(e));
        assert(e.e_phentsize == sizeof(Elf64_Phdr) && e.e_phoff % 8 == 0);
        ph = calloc(e.e_phnum, sizeof(Elf64_Phdr));
        assert(ph);
        assert(pread(fd, ph, e.e_phnum * sizeof(Elf64_Phdr), (off_t) e.e_phoff) ==
               (ssize_t) (e.e_phnum * sizeof(Elf64_Phdr)));
        *ret_n = e.e_phnum;
        return ph;
}

static void view_read(int fd, const Elf64_Phdr *ph, size_t n, uint64_t va, void *buf, size_t size) {
        for (size_t i = 0; i < n; i++)
                if (ph[i].p_type == PT_LOAD && va >= ph[i].p_vaddr &&
                    va + size <= ph[i].p_vaddr + ph[i].p_filesz) {
                        assert(pread(fd, buf, size, (off_t) (ph[i].p_offset + va - ph[i].p_vaddr)) ==
                               (ssize_t) size);
                        return;
                }
        assert(!"no PT_LOAD at this address");
}

typedef struct Load {
        uint64_t va, pa, size;
} Load;

/* What the default core's kernel view holds. */
static const Load default_loads[] = {
        { LINEAR_VA(RAM_PA), RAM_PA, RAM_SIZE },
        { STACK_VA, 0x40100000, 0x1000 },
        { STACK_VA + 0x1000, 0x40105000, 0x1000 },
        { STACK_VA + 0x2000, 0x40102000, 0x2000 }, /* contiguous in both */
        { BLOCK_VA, 0x40400000, 0x200000 },
        { GIB_VA, RAM_PA, RAM_SIZE }, /* the part in the dump */
        { KIMAGE_VA, KIMAGE_PA, 0x200000 },
};

/* The PT_LOADs are exactly these, in this order, and each points at its physical address's data. */
static void check_view(int fd, const Vmcore *c, const Load *loads, size_t n_loads) {
        _cleanup_free_ Elf64_Phdr *ph = NULL;
        _cleanup_free_ uint8_t *a = malloc(4096), *b = malloc(4096);
        size_t n;

        ph = phdrs_read(fd, &n);
        assert(n == 1 + n_loads);
        assert(ph[0].p_type == PT_NOTE);
        for (size_t i = 0; i < n_loads; i++) {
                const Elf64_Phdr *p = &ph[1 + i];

                assert(p->p_type == PT_LOAD && p->p_flags == (PF_R | PF_W | PF_X));
                assert(p->p_vaddr == loads[i].va && p->p_paddr == loads[i].pa);
                assert(p->p_filesz == loads[i].size && p->p_memsz == loads[i].size);
                assert(pread(fd, a, 4096, (off_t) p->p_offset) == 4096);
                assert(vmcore_read_phys(c, p->p_paddr, b, 4096) == 0);
                assert(memcmp(a, b, 4096) == 0);
        }
}

static void test_kernel_view(void) {
        _cleanup_close_ int fd = -EBADF, fd2 = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL, *again = NULL, *fallback = NULL;
        _cleanup_free_ Elf64_Phdr *ph = NULL;
        _cleanup_free_ char *info = NULL;
        struct stat st;
        off_t size1, size2;
        uint8_t a[64], b[64];
        size_t n;
        Layout l;

        c = default_core(&fd);
        assert(vmcore_write_kernel_view(c, fd) == 0);
        check_view(fd, c, default_loads, ELEMENTSOF(default_loads));
        assert(fstat(fd, &st) == 0);
        size1 = st.st_size;

        /* Through the new headers, the same bytes as through the kernel's tables. */
        ph = phdrs_read(fd, &n);
        for (size_t i = 0; i < 8; i++) {
                const uint64_t va = (const uint64_t[]){
                        STACK_VA + 0xfc0,          STACK_VA + 0x2ff0,   SYM(3),
                        KS_NAMES + KIMAGE_VOFFSET, BLOCK_VA + 0x1234,   GIB_VA + RAM_SIZE - 64,
                        LINEAR_VA(RAM_PA) + 8,     KIMAGE_VA + 0x1fffc0
                }[i];

                view_read(fd, ph, n, va, a, sizeof(a));
                assert(vmcore_read_virt(c, va, b, sizeof(b)) == 0);
                assert(memcmp(a, b, sizeof(a)) == 0);
        }

        /* Opened again it is the same dump: the views merge back into its RAM. */
        assert(vmcore_open(fd, &again) == 0);
        assert(vmcore_n_cpus(again) == _CPU_MAX && vmcore_cpu(again, CPU_PANIC)->pc == P0);
        assert(streq(vmcore_info(again, "OSRELEASE"), "6.1.0-test-arm64"));
        assert(vmcore_read_phys(again, RAM_PA, a, sizeof(a)) == 0 && memcmp(a, at(RAM_PA), sizeof(a)) == 0);
        assert(vmcore_read_phys(again, RAM_PA + RAM_SIZE - 8, a, 8) == 0);
        assert(vmcore_read_phys(again, RAM_PA + RAM_SIZE - 8, a, 9) == -EFAULT);

        /* Converting again gives the same view, and the file does not grow beyond two tables. */
        assert(vmcore_write_kernel_view(again, fd) == 0);
        check_view(fd, again, default_loads, ELEMENTSOF(default_loads));
        assert(fstat(fd, &st) == 0);
        size2 = st.st_size;
        assert(size2 == size1 + (off_t) ((1 + ELEMENTSOF(default_loads)) * sizeof(Elf64_Phdr)));
        assert(vmcore_write_kernel_view(again, fd) == 0);
        check_view(fd, again, default_loads, ELEMENTSOF(default_loads));
        assert(fstat(fd, &st) == 0 && st.st_size == size1);
        assert(vmcore_write_kernel_view(again, fd) == 0);
        assert(fstat(fd, &st) == 0 && st.st_size == size2);
        again = vmcore_free(again);
        assert(vmcore_open(fd, &again) == 0);
        assert(vmcore_write_kernel_view(again, fd) == 0);
        check_view(fd, again, default_loads, ELEMENTSOF(default_loads));
        assert(fstat(fd, &st) == 0 && st.st_size == size1);

        /* Without page tables in the dump: the linear map and the kernel image's window. */
        l = LAYOUT_DEFAULT;
        l.pgd_pa = UINT64_C(0x80000000);
        info = info_make(l);
        fallback = core_open(&(Spec){ .info = info, .cpus = cpus, .n_cpus = 1 }, &fd2);
        assert(vmcore_write_kernel_view(fallback, fd2) == 0);
        check_view(
                fd2,
                fallback,
                (const Load[]){ { LINEAR_VA(RAM_PA), RAM_PA, RAM_SIZE },
                                { KIMAGE_VA, KIMAGE_PA, RAM_PA + RAM_SIZE - KIMAGE_PA } },
                2);
}

static void test_partial(void) {
        _cleanup_close_ int fd = -EBADF, fd2 = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL, *cut = NULL;
        _cleanup_free_ char *info = info_make(LAYOUT_DEFAULT);
        _cleanup_free_ uint8_t *buf = NULL;
        const Piece pieces[] = { { 0x600000, RAM_SIZE }, { 0, 0x400000 } }; /* QMP's begin/length, twice */
        const Load loads[] = {
                { LINEAR_VA(RAM_PA), RAM_PA, 0x400000 },
                { LINEAR_VA(RAM_PA) + 0x600000, RAM_PA + 0x600000, 0x200000 },
                { STACK_VA, stack_pages[0], 0x1000 },
                { STACK_VA + 0x1000, stack_pages[1], 0x1000 },
                { STACK_VA + 0x2000, stack_pages[2], 0x2000 },
                { GIB_VA, RAM_PA, 0x400000 },
                { GIB_VA + 0x600000, RAM_PA + 0x600000, 0x200000 },
                { KIMAGE_VA, KIMAGE_PA, 0x200000 },
        };
        struct stat st;
        uint8_t a[16];
        uint64_t cut_size;
        size_t size;

        c = core_open(&(Spec){ .info = info, .cpus = cpus, .n_cpus = 2, .pieces = pieces, .n_pieces = 2 }, &fd);
        assert(vmcore_read_phys(c, RAM_PA + 0x400000 - 8, a, 8) == 0);
        assert(memcmp(a, at(RAM_PA + 0x400000 - 8), 8) == 0);
        assert(vmcore_read_phys(c, RAM_PA + 0x400000 - 8, a, 16) == -EFAULT);
        assert(vmcore_read_phys(c, RAM_PA + 0x500000, a, 1) == -EFAULT);
        assert(vmcore_read_phys(c, RAM_PA + 0x600000, a, 16) == 0);
        assert(memcmp(a, at(RAM_PA + 0x600000), 16) == 0);
        assert(vmcore_read_virt(c, BLOCK_VA, a, 1) == -EFAULT);
        assert(vmcore_write_kernel_view(c, fd) == 0);
        check_view(fd, c, loads, ELEMENTSOF(loads));

        /* Ranges adjacent in RAM and in the file are one. */
        c = vmcore_free(c);
        fd = safe_close(fd);
        c = core_open(
                &(Spec){ .info = info,
                         .cpus = cpus,
                         .n_cpus = 2,
                         .pieces = (const Piece[]){ { 0, 0x400000 }, { 0x400000, RAM_SIZE } },
                         .n_pieces = 2 },
                &fd);
        assert(vmcore_write_kernel_view(c, fd) == 0);
        check_view(fd, c, default_loads, ELEMENTSOF(default_loads));

        /* A dump cut short: what is there is readable, up to the end of the file. */
        buf = core_build(&(Spec){ .info = info, .cpus = cpus, .n_cpus = 2 }, &size);
        cut_size = size - RAM_SIZE + 0x500000 + 100;
        fd2 = memfd_with(buf, cut_size);
        assert(vmcore_open(fd2, &cut) == 0);
        assert(vmcore_read_phys(cut, RAM_PA + 0x500000 + 92, a, 8) == 0);
        assert(vmcore_read_phys(cut, RAM_PA + 0x500000 + 96, a, 8) == -EFAULT);
        assert(vmcore_write_kernel_view(cut, fd2) == 0);
        assert(fstat(fd2, &st) == 0 && (uint64_t) st.st_size > cut_size);
        cut = vmcore_free(cut);
        assert(vmcore_open(fd2, &cut) == 0);
        assert(vmcore_read_phys(cut, RAM_PA + 0x500000 + 92, a, 8) == 0);
        assert(vmcore_read_phys(cut, RAM_PA + 0x500000 + 96, a, 8) == -EFAULT);
}

static void test_xnum(void) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL, *again = NULL;
        _cleanup_free_ char *info = info_make(LAYOUT_DEFAULT);
        VmcoreFrame f[8];
        size_t n;

        c = core_open(&(Spec){ .info = info, .cpus = cpus, .n_cpus = 2, .xnum = true }, &fd);
        assert(vmcore_n_cpus(c) == 2);
        assert(vmcore_unwind(c, CPU_PANIC, f, ELEMENTSOF(f), &n) == 0 && n == 5);
        assert(vmcore_write_kernel_view(c, fd) == 0);
        assert(vmcore_open(fd, &again) == 0);
        assert(vmcore_n_cpus(again) == 2);
}

/* Page tables that map more than a view holds, and ones that point at each other without end. */
static void test_limits(void) {
        _cleanup_close_ int fd = -EBADF, fd2 = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL, *again = NULL, *loop = NULL;
        _cleanup_free_ Elf64_Phdr *ph = NULL;
        _cleanup_free_ char *info = NULL, *info_loop = NULL;
        uint64_t pa;
        size_t n;
        Layout l;

        /* 16 level 3 tables' worth of pages that are not contiguous: 8192 mappings. */
        memset(at(0x40030000), 0, 0x4000);
        put64(0x40030000 + 256 * 8, 0x40031000 | 3);
        put64(0x40031000, 0x40032000 | 3);
        for (unsigned i = 0; i < 16; i++)
                put64(0x40032000 + i * 8, 0x40033000 | 3);
        for (unsigned i = 0; i < 512; i++)
                put64(0x40033000 + i * 8, (0x40600000 + (i * 2 % 512) * 4096) | 3);
        l = LAYOUT_DEFAULT;
        l.pgd_pa = 0x40030000;
        info = info_make(l);
        c = core_open(&(Spec){ .info = info, .cpus = cpus, .n_cpus = 1 }, &fd);
        assert(translated(c, UINT64_C(0xffff800000000000) + 15 * 0x200000 + 3 * 4096) == 0x40606000);
        assert(vmcore_write_kernel_view(c, fd) == 0);
        ph = phdrs_read(fd, &n);
        assert(n == VMCORE_PHDRS_MAX);
        assert(ph[1].p_vaddr == LINEAR_VA(RAM_PA) && ph[1].p_filesz == RAM_SIZE);
        assert(ph[2].p_vaddr == UINT64_C(0xffff800000000000) && ph[2].p_paddr == 0x40600000);
        assert(vmcore_open(fd, &again) == 0);

        /* Every entry of three levels at one table: 256 * 512 * 512 level 3 tables to read, unless the
         * walk stops. Their pages are not in the dump. */
        memset(at(0x40040000), 0, 0x4000);
        for (unsigned i = 0; i < 512; i++) {
                if (i >= 256)
                        put64(0x40040000 + i * 8, 0x40041000 | 3);
                put64(0x40041000 + i * 8, 0x40042000 | 3);
                put64(0x40042000 + i * 8, 0x40043000 | 3);
                put64(0x40043000 + i * 8, (UINT64_C(0x80000000) + i * 4096) | 3);
        }
        l.pgd_pa = 0x40040000;
        info_loop = info_make(l);
        loop = core_open(&(Spec){ .info = info_loop, .cpus = cpus, .n_cpus = 1 }, &fd2);
        assert(translated(loop, UINT64_C(0xfffffffffffff123)) == UINT64_C(0x801ff123));
        assert(vmcore_read_virt(loop, UINT64_C(0xfffffffffffff123), &pa, 1) == -EFAULT);
        assert(vmcore_write_kernel_view(loop, fd2) == 0);
        free(ph);
        ph = phdrs_read(fd2, &n);
        assert(n == 2 && ph[1].p_vaddr == LINEAR_VA(RAM_PA));
}

static const uint8_t *
        section(const uint8_t *elf, size_t size, const char *name, Elf64_Shdr *ret, size_t *ret_index) {
        const Elf64_Ehdr *e = (const Elf64_Ehdr *) elf;
        Elf64_Shdr strtab;

        assert(e->e_shentsize == sizeof(Elf64_Shdr) && e->e_shstrndx < e->e_shnum);
        assert(e->e_shoff % 8 == 0 && e->e_shoff + e->e_shnum * sizeof(Elf64_Shdr) <= size);
        memcpy(&strtab, elf + e->e_shoff + e->e_shstrndx * sizeof(Elf64_Shdr), sizeof(strtab));
        for (size_t i = 1; i < e->e_shnum; i++) {
                Elf64_Shdr sh;

                memcpy(&sh, elf + e->e_shoff + i * sizeof(sh), sizeof(sh));
                assert(sh.sh_name < strtab.sh_size);
                if (streq((const char *) elf + strtab.sh_offset + sh.sh_name, name)) {
                        assert(sh.sh_type == SHT_NOBITS || sh.sh_offset + sh.sh_size <= size);
                        *ret = sh;
                        if (ret_index)
                                *ret_index = i;
                        return elf + sh.sh_offset;
                }
        }
        assert(!"no such section");
}

typedef struct Fde {
        uint64_t start, size;
        bool leaf;       /* leaf rules from the start */
        uint64_t record; /* then the CIE's rules from here on; 0: leaf all along */
} Fde;

/* .debug_frame: our CIE, then FDEs in order; returns how many. With a PAC mask, the return address is the
 * saved one with the mask's bits set (DW_CFA_val_expression), else the saved one; so is a leaf's x30. */
static size_t fdes_read(const uint8_t *p, size_t size, uint64_t pac_mask, Fde *fdes, size_t max) {
        uint8_t leaf[32] = { 0x0c, 31, 0, 0x08, 29, 0x08, 30 };
        size_t leaf_size = 7, n = 0, off;
        uint32_t length, id;
        uint64_t mask;

        memcpy(&length, p, 4);
        memcpy(&id, p + 4, 4);
        assert(length == 36 && id == UINT32_MAX && p[8] == 1 && p[12] == 30);
        assert(memcmp(p + 13, (const uint8_t[]){ 0x0c, 29, 16, 0x80 | 29, 2 }, 5) == 0);
        if (pac_mask == 0)
                assert(memcmp(p + 18, (const uint8_t[]){ 0x80 | 30, 1 }, 2) == 0);
        else {
                /* x30 = *(CFA - 8) | mask */
                assert(memcmp(p + 18, (const uint8_t[]){ 0x16, 30, 13, 0x38, 0x1c, 0x06, 0x0e }, 7) == 0);
                memcpy(&mask, p + 25, 8);
                assert(mask == pac_mask && p[33] == 0x21);
                /* A leaf's x30: x30 | mask. */
                memcpy(leaf + 5, (const uint8_t[]){ 0x16, 30, 12, 0x8e, 0, 0x0e }, 6);
                memcpy(leaf + 11, &pac_mask, 8);
                leaf[19] = 0x21;
                leaf_size = 20;
        }
        for (off = 40; off < size; n++) {
                const uint8_t *ins;
                size_t k;

                assert(n < max);
                memcpy(&length, p + off, 4);
                memcpy(&id, p + off + 4, 4);
                assert(id == 0 && off + 4 + length <= size && (length + 4) % 8 == 0);
                memcpy(&fdes[n].start, p + off + 8, 8);
                memcpy(&fdes[n].size, p + off + 16, 8);
                ins = p + off + 24;
                k = length + 4 - 24;
                fdes[n].leaf = k >= leaf_size && memcmp(ins, leaf, leaf_size) == 0;
                fdes[n].record = fdes[n].leaf ? 0 : fdes[n].start;
                if (fdes[n].leaf && k > leaf_size && ins[leaf_size] != 0) {
                        /* DW_CFA_advance_loc, then back to the CIE's rules */
                        assert((ins[leaf_size] & 0xc0) == 0x40);
                        fdes[n].record = fdes[n].start + 4 * (ins[leaf_size] & 0x3f);
                        assert(memcmp(ins + leaf_size + 1,
                                      (const uint8_t[]){ 0x0c, 29, 16, 0xc0 | 29, 0xc0 | 30 },
                                      5) == 0);
                }
                /* The rest is DW_CFA_nop. */
                for (size_t x = fdes[n].leaf ? leaf_size + (fdes[n].record ? 6 : 0) : 0; x < k; x++)
                        assert(ins[x] == 0);
                off += 4 + length;
        }
        assert(off == size);
        return n;
}

static void test_symbol_file(void) {
        _cleanup_close_ int fd = -EBADF, efd = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL;
        _cleanup_(kallsyms_freep) Kallsyms *k = NULL;
        _cleanup_free_ uint8_t *elf = NULL;
        Elf64_Shdr text, symtab, strtab, frame;
        const Elf64_Ehdr *e;
        const uint8_t *syms, *strs, *frames;
        size_t text_index, strtab_index, n;
        uint64_t end = SYM(11) + 1;
        struct stat st;
        Fde fdes[16];

        /* vfs_write begins as gcc's functions do: bti c; paciasp; stp x29, x30, [sp, #-32]!; mov x29, sp. */
        memcpy(at(SYM(6) - KIMAGE_VOFFSET),
               (const uint32_t[]){
                       htole32(0xd503245f), htole32(0xd503233f), htole32(0xa9be7bfd), htole32(0x910003fd) },
               16);
        c = default_core(&fd);
        assert(kallsyms_read(c, &k) == 0);

        for (int with_core = 0; with_core < 2; with_core++) {
                efd = memfd_create("symbols", MFD_CLOEXEC);
                assert(efd >= 0);
                assert(kallsyms_write_elf(k, with_core ? c : NULL, efd) == 0);
                assert(fstat(efd, &st) == 0);
                elf = realloc(elf, (size_t) st.st_size);
                assert(elf && pread(efd, elf, (size_t) st.st_size, 0) == st.st_size);
                efd = safe_close(efd);

                e = (const Elf64_Ehdr *) elf;
                assert(memcmp(e->e_ident, ELFMAG, SELFMAG) == 0 && e->e_ident[EI_CLASS] == ELFCLASS64);
                assert(e->e_ident[EI_DATA] == ELFDATA2LSB && e->e_type == ET_EXEC &&
                       e->e_machine == EM_AARCH64);

                (void) section(elf, (size_t) st.st_size, ".text", &text, &text_index);
                assert(text.sh_type == SHT_NOBITS && text.sh_flags == (SHF_ALLOC | SHF_EXECINSTR));
                assert(text.sh_addr == STEXT && text.sh_addr + text.sh_size == end);

                syms = section(elf, (size_t) st.st_size, ".symtab", &symtab, NULL);
                strs = section(elf, (size_t) st.st_size, ".strtab", &strtab, &strtab_index);
                assert(symtab.sh_type == SHT_SYMTAB && symtab.sh_entsize == sizeof(Elf64_Sym));
                assert(symtab.sh_link == strtab_index && strtab.sh_type == SHT_STRTAB);
                assert(symtab.sh_size == (1 + ELEMENTSOF(symbols)) * sizeof(Elf64_Sym));
                assert(strs[0] == 0 && strs[strtab.sh_size - 1] == 0);
                for (size_t i = 1; i <= ELEMENTSOF(symbols); i++) {
                        const KallsymsSymbol *s = NULL;
                        Elf64_Sym sym;
                        char type;

                        memcpy(&sym, syms + i * sizeof(sym), sizeof(sym));
                        assert(sym.st_name < strtab.sh_size);
                        for (size_t j = 0; j < kallsyms_n_symbols(k); j++)
                                if (streq(kallsyms_symbol(k, j)->name, (const char *) strs + sym.st_name))
                                        s = kallsyms_symbol(k, j);
                        assert(s);
                        type = s->type;
                        assert(sym.st_value == s->address && sym.st_size == s->size);
                        assert(sym.st_shndx == text_index);
                        assert(ELF64_ST_TYPE(sym.st_info) ==
                               (IN_SET(type, 't', 'T', 'W') ? STT_FUNC : STT_OBJECT));
                        assert(ELF64_ST_BIND(sym.st_info) ==
                               (type == 'W'         ? STB_WEAK :
                                        type == 't' ? STB_LOCAL :
                                                      STB_GLOBAL));
                        /* Locals first: sh_info is the first that is not. */
                        assert((i < symtab.sh_info) == (ELF64_ST_BIND(sym.st_info) == STB_LOCAL));
                }

                frames = section(elf, (size_t) st.st_size, ".debug_frame", &frame, NULL);
                n = fdes_read(frames, frame.sh_size, with_core ? PAC_MASK : 0, fdes, ELEMENTSOF(fdes));
                /* One per function (aliases share one, data has none), in address order. */
                assert(n == 9);
                for (size_t i = 0, f = 0; i < ELEMENTSOF(symbols) - 1; i++) {
                        if (symbols[i].type == 'D' || (i > 0 && symbols[i].offset == symbols[i - 1].offset))
                                continue;
                        assert(fdes[f].start == SYM(i) && fdes[f].size == SYM(i + 1 + (i == 6)) - SYM(i));
                        if (with_core && i == 1)
                                /* leaf_fn, where vCPUs stopped before pushing a record, returns through x30. */
                                assert(fdes[f].leaf && fdes[f].record == 0);
                        else if (with_core && i == 6)
                                /* vfs_write's prologue: its record is there after "mov x29, sp". */
                                assert(fdes[f].leaf && fdes[f].record == SYM(6) + 16);
                        else
                                assert(!fdes[f].leaf && fdes[f].record == SYM(i));
                        f++;
                }
        }
}

/* Whatever a damaged file opens as must work through every call, ending in errors, never worse. */
static void exercise(int fd) {
        _cleanup_(vmcore_freep) Vmcore *c = NULL, *again = NULL;
        _cleanup_(kallsyms_freep) Kallsyms *k = NULL;
        VmcoreFrame f[VMCORE_FRAMES_MAX];
        char line[KALLSYMS_FRAME_LINE_MAX];
        uint8_t buf[64];
        uint64_t v;
        size_t n;
        int r;

        r = vmcore_open(fd, &c);
        assert(IN_SET(r, 0, -EBADMSG, -EPROTONOSUPPORT, -E2BIG));
        if (r < 0) {
                assert(!c);
                return;
        }
        (void) vmcore_info_u64(c, "NUMBER(VA_BITS)", &v);
        (void) vmcore_read_virt(c, STEXT, buf, sizeof(buf));
        (void) vmcore_read_virt(c, STACK_VA + 0xff0, buf, sizeof(buf));
        r = kallsyms_read(c, &k);
        assert(IN_SET(r, 0, -ENODATA, -EFAULT, -EBADMSG, -E2BIG));
        for (size_t i = 0; i < vmcore_n_cpus(c); i++) {
                assert(vmcore_unwind(c, i, f, ELEMENTSOF(f), &n) == 0);
                assert(n >= 1 && n <= ELEMENTSOF(f) && f[0].pc == vmcore_cpu(c, i)->pc);
                for (size_t j = 0; j < n; j++)
                        assert(strlen(kallsyms_format_frame(k, j, &f[j], line)) < sizeof(line));
        }
        r = vmcore_write_kernel_view(c, fd);
        assert(IN_SET(r, 0, -ENODATA));
        if (r == 0)
                assert(vmcore_open(fd, &again) == 0);
}

static void expect_open(
        const uint8_t *base, size_t size, size_t at_offset, const void *patch, size_t n, int error) {
        _cleanup_free_ uint8_t *buf = malloc(MAX(size, 1U));
        _cleanup_close_ int fd = -EBADF;
        Vmcore *c = NULL;

        assert(buf);
        memcpy(buf, base, size);
        if (n > 0)
                memcpy(buf + at_offset, patch, n);
        fd = memfd_with(buf, size);
        assert(vmcore_open(fd, &c) == error);
        assert(!c);
}

static uint64_t xorshift(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static void test_damaged(void) {
        _cleanup_free_ char *info = info_make(LAYOUT_DEFAULT), *big = NULL;
        _cleanup_free_ uint8_t *base = NULL, *many = NULL;
        _cleanup_close_ int fd = -EBADF;
        int pipefd[2];
        const Elf64_Ehdr *e;
        Elf64_Phdr note, load;
        VmcoreCpu lots[VMCORE_CPUS_MAX + 1] = {};
        Vmcore *c = NULL;
        uint64_t seed = 0x9e3779b97f4a7c15;
        size_t size, data, size_many;

        base = core_build(&(Spec){ .info = info, .cpus = cpus, .n_cpus = _CPU_MAX }, &size);
        e = (const Elf64_Ehdr *) base;
        memcpy(&note, base + e->e_phoff, sizeof(note));
        memcpy(&load, base + e->e_phoff + sizeof(note), sizeof(load));
        data = load.p_offset;

        expect_open(base, 0, 0, NULL, 0, -EBADMSG);
        expect_open(base, 63, 0, NULL, 0, -EBADMSG);
        expect_open(
                base,
                size,
                0,
                "\x7f"
                "ELG",
                4,
                -EBADMSG);
        expect_open(base, size, EI_CLASS, (const uint8_t[]){ ELFCLASS32 }, 1, -EPROTONOSUPPORT);
        expect_open(base, size, EI_DATA, (const uint8_t[]){ ELFDATA2MSB }, 1, -EPROTONOSUPPORT);
        expect_open(base, size, offsetof(Elf64_Ehdr, e_type), &(uint16_t){ ET_EXEC }, 2, -EPROTONOSUPPORT);
        expect_open(base, size, offsetof(Elf64_Ehdr, e_machine), &(uint16_t){ EM_X86_64 }, 2, -EPROTONOSUPPORT);
        expect_open(base, size, offsetof(Elf64_Ehdr, e_phentsize), &(uint16_t){ 32 }, 2, -EBADMSG);
        expect_open(base, size, offsetof(Elf64_Ehdr, e_phnum), &(uint16_t){ 0 }, 2, -EBADMSG);
        expect_open(base, size, offsetof(Elf64_Ehdr, e_phnum), &(uint16_t){ VMCORE_PHDRS_MAX + 1 }, 2, -E2BIG);
        expect_open(base, size, offsetof(Elf64_Ehdr, e_phnum), &(uint16_t){ PN_XNUM }, 2, -EBADMSG);
        expect_open(base, size, offsetof(Elf64_Ehdr, e_phoff), &(uint64_t){ size - 100 }, 8, -EBADMSG);
        expect_open(base, size, offsetof(Elf64_Ehdr, e_phoff), &(uint64_t){ UINT64_MAX - 8 }, 8, -EBADMSG);
        expect_open(
                base, size, e->e_phoff + offsetof(Elf64_Phdr, p_offset), &(uint64_t){ size - 16 }, 8, -EBADMSG);
        expect_open(base, size, e->e_phoff + offsetof(Elf64_Phdr, p_filesz), &(uint64_t){ 2 << 20 }, 8, -E2BIG);
        expect_open(base, size, note.p_offset, &(uint32_t){ 0xfffffff0 }, 4, -EBADMSG);     /* namesz */
        expect_open(base, size, note.p_offset + 4, &(uint32_t){ 0xfffffff0 }, 4, -EBADMSG); /* descsz */
        expect_open(base, size, note.p_offset + 4, &(uint32_t){ 100 }, 4, -EBADMSG); /* prstatus too short */
        expect_open(
                base,
                size,
                e->e_phoff + sizeof(note) + offsetof(Elf64_Phdr, p_paddr),
                &(uint64_t){ UINT64_MAX - 10 },
                8,
                -EBADMSG);

        /* More vCPUs or notes than we take. */
        for (size_t i = 0; i < ELEMENTSOF(lots); i++)
                lots[i].pid = (uint32_t) i + 1;
        many = core_build(
                &(Spec){ .cpus = lots, .n_cpus = ELEMENTSOF(lots), .pieces = &(Piece){ 0, 4096 }, .n_pieces = 1 },
                &size_many);
        expect_open(many, size_many, 0, NULL, 0, -E2BIG);
        free(many);
        many = core_build(
                &(Spec){ .cpus = lots, .n_cpus = VMCORE_CPUS_MAX, .pieces = &(Piece){ 0, 4096 }, .n_pieces = 1 },
                &size_many);
        fd = memfd_with(many, size_many);
        assert(vmcore_open(fd, &c) == 0 && vmcore_n_cpus(c) == VMCORE_CPUS_MAX);
        c = vmcore_free(c);
        fd = safe_close(fd);
        free(many);
        big = malloc(VMCORE_NOTES_MAX + 1);
        memset(big, 'x', VMCORE_NOTES_MAX);
        big[VMCORE_NOTES_MAX] = 0;
        many = core_build(&(Spec){ .info = big, .pieces = &(Piece){ 0, 4096 }, .n_pieces = 1 }, &size_many);
        expect_open(many, size_many, 0, NULL, 0, -E2BIG);

        /* Not a file. */
        assert(pipe2(pipefd, O_CLOEXEC) == 0);
        assert(vmcore_open(pipefd[0], &c) == -EBADFD);
        safe_close(pipefd[0]);
        safe_close(pipefd[1]);

        /* Cut anywhere in the headers and notes, and in the RAM. */
        for (size_t cut = 0; cut < data + 64; cut += cut < 256 ? 1 : 7) {
                fd = memfd_with(base, cut);
                exercise(fd);
                fd = safe_close(fd);
        }
        for (size_t cut = data; cut < size; cut += 0x80000 - 24) {
                fd = memfd_with(base, cut);
                exercise(fd);
                fd = safe_close(fd);
        }

        /* Bytes changed at random in the headers and notes, the page tables, kallsyms and the stacks. */
        fd = memfd_with(base, size);
        for (unsigned i = 0; i < 600; i++) {
                size_t where[8];
                unsigned n = 1 + xorshift(&seed) % ELEMENTSOF(where);

                for (unsigned j = 0; j < n; j++) {
                        uint64_t r = xorshift(&seed);
                        size_t off;

                        switch (r % 4) {
                        case 0:
                                off = (r >> 8) % data;
                                break;
                        case 1:
                                off = data + (PGD_PA - RAM_PA) + (r >> 8) % 0x20000;
                                break;
                        case 2:
                                off = data + (KS_OFFSETS - RAM_PA) + (r >> 8) % 0x5000;
                                break;
                        default:
                                off = data + (stack_pages[(r >> 8) % 4] - RAM_PA) + (r >> 16) % 4096;
                        }
                        where[j] = off;
                        assert(pwrite(fd, &(uint8_t){ (uint8_t) (r >> 32) }, 1, (off_t) off) == 1);
                }
                exercise(fd);
                /* The conversion may have appended, and written the header. */
                assert(ftruncate(fd, (off_t) size) == 0);
                assert(pwrite(fd, base, data, 0) == (ssize_t) data);
                for (unsigned j = 0; j < n; j++)
                        assert(pwrite(fd, base + where[j], 1, (off_t) where[j]) == 1);
        }
}

static void check_names(const Kallsyms *k, const VmcoreFrame *f, size_t n) {
        static const char *const names[] = { "panic",          "sysrq_handle_crash",
                                             "__handle_sysrq", "write_sysrq_trigger",
                                             "vfs_write",      "el0t_64_sync" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                bool found = false;

                for (size_t j = 0; j < n && !found; j++) {
                        const KallsymsSymbol *s = kallsyms_lookup(
                                k, f[j].kind == VMCORE_FRAME_PC ? f[j].pc : f[j].pc - 4);

                        found = s && streq(s->name, names[i]);
                }
                if (!found) {
                        fprintf(stderr, "%s is not in the crashed vCPU's backtrace\n", names[i]);
                        abort();
                }
        }
}

/* A real dump (the sysrq crash that tests/integration makes): the trace through sysrq, and gdb's. */
static void test_sample(const char *path) {
        _cleanup_close_ int in = -EBADF, fd = -EBADF, sfd = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL, *again = NULL;
        _cleanup_(kallsyms_freep) Kallsyms *k = NULL, *k2 = NULL;
        _cleanup_free_ char *core = NULL, *syms = NULL, *cmd = NULL;
        VmcoreFrame f[VMCORE_FRAMES_MAX], g[VMCORE_FRAMES_MAX];
        char line[KALLSYMS_FRAME_LINE_MAX];
        size_t n, m, cpu, cpu2;
        struct stat st;
        uint64_t t;

        in = open(path, O_RDONLY | O_CLOEXEC);
        assert(in >= 0 && fstat(in, &st) == 0);
        assert(asprintf(&core, "%s/vmcore", tmpdir) >= 0 && asprintf(&syms, "%s/symbols.elf", tmpdir) >= 0);
        fd = open(core, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert(fd >= 0);
        assert(copy_bytes(in, fd, (uint64_t) st.st_size) == 0);

        assert(vmcore_open(fd, &c) == 0);
        printf("sample: %s, %zu vCPUs\n", strna(vmcore_info(c, "OSRELEASE")), vmcore_n_cpus(c));
        t = now_usec(CLOCK_MONOTONIC);
        assert(kallsyms_read(c, &k) == 0);
        printf("kallsyms_read: %zu symbols in %.1f ms\n",
               kallsyms_n_symbols(k),
               (double) (now_usec(CLOCK_MONOTONIC) - t) / 1000);

        assert(kallsyms_find_crashed_cpu(k, c, &cpu) == 0);
        for (size_t i = 0; i < vmcore_n_cpus(c); i++) {
                assert(kallsyms_unwind(k, c, i, f, ELEMENTSOF(f), &n) == 0);
                printf("vCPU %zu%s:\n", i, i == cpu ? " (crashed)" : "");
                for (size_t j = 0; j < n; j++)
                        printf("  %s\n", kallsyms_format_frame(k, j, &f[j], line));
        }
        assert(kallsyms_unwind(k, c, cpu, f, ELEMENTSOF(f), &n) == 0);
        check_names(k, f, n);

        t = now_usec(CLOCK_MONOTONIC);
        assert(vmcore_write_kernel_view(c, fd) == 0);
        printf("vmcore_write_kernel_view: %.1f ms\n", (double) (now_usec(CLOCK_MONOTONIC) - t) / 1000);
        sfd = open(syms, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert(sfd >= 0);
        t = now_usec(CLOCK_MONOTONIC);
        assert(kallsyms_write_elf(k, c, sfd) == 0);
        printf("kallsyms_write_elf: %.1f ms\n", (double) (now_usec(CLOCK_MONOTONIC) - t) / 1000);

        /* The converted file is the same dump. */
        assert(vmcore_open(fd, &again) == 0);
        assert(kallsyms_read(again, &k2) == 0 && kallsyms_n_symbols(k2) == kallsyms_n_symbols(k));
        assert(kallsyms_find_crashed_cpu(k2, again, &cpu2) == 0 && cpu2 == cpu);
        assert(kallsyms_unwind(k2, again, cpu, g, ELEMENTSOF(g), &m) == 0 && m == n);
        for (size_t i = 0; i < n; i++)
                assert(f[i].pc == g[i].pc && f[i].kind == g[i].kind);

        /* gdb, with the vCPU's thread: threads are numbered in note order, vCPU i is thread i + 1. */
        if (system("command -v gdb-multiarch >/dev/null") == 0) {
                _cleanup_free_ char *out = NULL;
                FILE *p;
                size_t size = 0;

                assert(asprintf(
                               &cmd,
                               "gdb-multiarch -nx -batch -ex 'set architecture aarch64' -ex 'symbol-file %s' "
                               "-ex 'core-file %s' -ex 'thread %zu' -ex 'bt 40' 2>&1",
                               syms,
                               core,
                               cpu + 1) >= 0);
                p = popen(cmd, "r");
                assert(p);
                out = calloc(1, 65536);
                assert(out);
                size = fread(out, 1, 65535, p);
                assert(pclose(p) == 0);
                out[size] = 0;
                printf("%s\n%s", cmd, out);
                assert(strstr(out, " in panic ()"));
                assert(strstr(out, " in sysrq_handle_crash ()"));
                assert(strstr(out, " in el0t_64_sync ()"));
        }
}

int main(int argc, char *argv[]) {
        const char *sample;

        ram = calloc(1, RAM_SIZE);
        assert(ram);
        for (size_t i = 0; i < RAM_SIZE; i += 8)
                put64(RAM_PA + i, UINT64_C(0x5a5a000000000000) | i);
        assert(mkdtemp(tmpdir));
        memset(long_name, 'x', 200);
        memcpy(long_name, "long_", 5);
        memset(at(PGD_PA), 0, 0x20000);
        page_tables();
        kallsyms_put(symbols, ELEMENTSOF(symbols));
        stacks();
        cpus_make();

        test_frame_kind();
        test_info();
        test_translate();
        test_no_layout();
        test_kallsyms();
        test_kallsyms_partial();
        test_unwind();
        test_kernel_view();
        test_partial();
        test_xnum();
        test_limits();
        test_symbol_file();
        test_damaged();

        sample = getenv("VMCORE_SAMPLE");
        if (!isempty(sample))
                test_sample(sample);
        else
                printf("VMCORE_SAMPLE not set: no real dump tested\n");

        (void) rm_rf(tmpdir);
        free(ram);
        return 0;
}
