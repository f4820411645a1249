/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kallsyms from a memory dump (kernel/kallsyms.c's format, 6.1), lookups, and a symbol file for gdb. */
#include <assert.h>
#include <elf.h>
#include <endian.h>

#include "kallsyms.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kallsyms.c reads little-endian tables in place"
#endif

#define TOKENS 256
/* A name is at most KSYM_NAME_LEN - 1 characters, and every token stands for one or more. */
#define NAME_TOKENS_MAX (1 + KALLSYMS_NAME_MAX)
/* Without a token_index right after it, the token table is read this far past the last token's start. */
#define TOKEN_MAX 256U
#define PAGE_SIZE 4096U

struct Kallsyms {
        KallsymsSymbol *symbols;
        size_t n;
        char *names; /* NUL-separated; starts with an empty one, to be an ELF string table as is */
        size_t names_size;
};

Kallsyms *kallsyms_free(Kallsyms *k) {
        if (!k)
                return NULL;
        free(k->symbols);
        free(k->names);
        return mfree(k);
}

/* Reads the kallsyms_names stream a page at a time: its size is nowhere, only its number of entries. */
typedef struct Cursor {
        const Vmcore *c;
        uint64_t va; /* of buf[len] */
        uint8_t buf[2 * PAGE_SIZE];
        size_t pos;
        size_t len;
} Cursor;

static int cursor_get(Cursor *cur, size_t n, const uint8_t **ret) {
        int r;

        assert(n <= PAGE_SIZE);

        if (cur->len - cur->pos < n) {
                memmove(cur->buf, cur->buf + cur->pos, cur->len - cur->pos);
                cur->len -= cur->pos;
                cur->pos = 0;
                while (cur->len < n) {
                        size_t chunk = PAGE_SIZE - (size_t) (cur->va % PAGE_SIZE);

                        r = vmcore_read_virt(cur->c, cur->va, cur->buf + cur->len, chunk);
                        if (r < 0)
                                return r;
                        cur->len += chunk;
                        cur->va += chunk;
                }
        }
        *ret = cur->buf + cur->pos;
        cur->pos += n;
        return 0;
}

typedef struct Tokens {
        uint8_t *table;
        const char *token[TOKENS];
        uint8_t length[TOKENS];
} Tokens;

static void tokens_done(Tokens *t) {
        free(t->table);
}

static int tokens_read(const Vmcore *c, uint64_t table_va, uint64_t index_va, Tokens *ret) {
        uint16_t index[TOKENS];
        size_t size = 0;
        int r;

        r = vmcore_read_virt(c, index_va, index, sizeof(index));
        if (r < 0)
                return r;
        /* The kernel puts kallsyms_token_index right after the table, which so has its size. */
        if (index_va > table_va && index_va - table_va <= UINT16_MAX + TOKEN_MAX)
                size = index_va - table_va;
        else
                for (size_t i = 0; i < TOKENS; i++)
                        size = MAX(size, (size_t) le16toh(index[i]) + TOKEN_MAX);

        ret->table = malloc(size);
        if (!ret->table)
                return -ENOMEM;
        r = vmcore_read_virt(c, table_va, ret->table, size);
        if (r < 0)
                return r;
        for (size_t i = 0; i < TOKENS; i++) {
                size_t start = le16toh(index[i]);
                const uint8_t *nul;

                if (start >= size)
                        return -EBADMSG;
                nul = memchr(ret->table + start, 0, MIN(size - start, TOKEN_MAX));
                if (!nul)
                        return -EBADMSG;
                ret->token[i] = (const char *) ret->table + start;
                ret->length[i] = (uint8_t) (nul - (ret->table + start));
        }
        return 0;
}

/* One entry of kallsyms_names: a length (two bytes for 128 tokens or more: bit 7 of the first says so),
 * then as many token indexes, expanding to the type letter and the name. */
static int read_name(Cursor *cur, const Tokens *t, char name[static NAME_TOKENS_MAX + 1], size_t *ret_len) {
        const uint8_t *p;
        size_t n, len = 0;
        int r;

        r = cursor_get(cur, 1, &p);
        if (r < 0)
                return r;
        n = p[0];
        if (n & 0x80) {
                r = cursor_get(cur, 1, &p);
                if (r < 0)
                        return r;
                n = (n & 0x7f) | ((size_t) p[0] << 7);
        }
        if (n == 0 || n > NAME_TOKENS_MAX)
                return -EBADMSG;
        r = cursor_get(cur, n, &p);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                size_t l = t->length[p[i]];

                if (l > NAME_TOKENS_MAX - len)
                        return -EBADMSG;
                memcpy(name + len, t->token[p[i]], l);
                len += l;
        }
        name[len] = 0;
        /* A type letter and a name, both of what nm prints, for a text report and an ELF file. */
        if (len < 2 || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
                return -EBADMSG;
        for (size_t i = 1; i < len; i++)
                if (name[i] <= ' ' || name[i] > '~')
                        return -EBADMSG;
        *ret_len = len;
        return 0;
}

static int symbol_compare(const void *a, const void *b) {
        const KallsymsSymbol *x = a, *y = b;

        if (x->address != y->address)
                return x->address < y->address ? -1 : 1;
        /* Keep the kernel's order of aliases: the name pointers are still offsets, in table order. */
        return (uintptr_t) x->name < (uintptr_t) y->name ? -1 : (uintptr_t) x->name > (uintptr_t) y->name;
}

static int read_symbols(const Vmcore *c, Kallsyms *k) {
        uint64_t num_va, names_va, token_table_va, token_index_va, offsets_va, base_va, base;
        _cleanup_free_ int32_t *offsets = NULL;
        _cleanup_free_ Cursor *cur = NULL;
        _cleanup_(tokens_done) Tokens tokens = {};
        size_t allocated;
        uint32_t num;
        bool sorted = true;
        int r;

        if (vmcore_info_u64(c, "SYMBOL(kallsyms_num_syms)", &num_va) < 0 ||
            vmcore_info_u64(c, "SYMBOL(kallsyms_names)", &names_va) < 0 ||
            vmcore_info_u64(c, "SYMBOL(kallsyms_token_table)", &token_table_va) < 0 ||
            vmcore_info_u64(c, "SYMBOL(kallsyms_token_index)", &token_index_va) < 0 ||
            vmcore_info_u64(c, "SYMBOL(kallsyms_offsets)", &offsets_va) < 0 ||
            vmcore_info_u64(c, "SYMBOL(kallsyms_relative_base)", &base_va) < 0)
                return -ENODATA;

        r = vmcore_read_virt(c, num_va, &num, sizeof(num));
        if (r < 0)
                return r;
        num = le32toh(num);
        if (num == 0)
                return -EBADMSG;
        if (num > KALLSYMS_SYMBOLS_MAX)
                return -E2BIG;
        r = vmcore_read_virt(c, base_va, &base, sizeof(base));
        if (r < 0)
                return r;
        base = le64toh(base);

        offsets = malloc(num * sizeof(int32_t));
        if (!offsets)
                return -ENOMEM;
        r = vmcore_read_virt(c, offsets_va, offsets, num * sizeof(int32_t));
        if (r < 0)
                return r;
        k->symbols = calloc(num, sizeof(KallsymsSymbol));
        cur = calloc(1, sizeof(Cursor));
        allocated = 64 * 1024;
        k->names = malloc(allocated);
        if (!k->symbols || !cur || !k->names)
                return -ENOMEM;

        r = tokens_read(c, token_table_va, token_index_va, &tokens);
        if (r < 0)
                return r;

        *cur = (Cursor){ .c = c, .va = names_va };
        k->names[0] = 0;
        k->names_size = 1;
        for (uint32_t i = 0; i < num; i++) {
                char name[NAME_TOKENS_MAX + 1];
                size_t len;

                r = read_name(cur, &tokens, name, &len);
                if (r < 0)
                        return r;

                if (allocated - k->names_size < len) {
                        size_t s = MAX(allocated * 2, k->names_size + len);
                        char *p = realloc(k->names, s);

                        if (!p)
                                return -ENOMEM;
                        k->names = p;
                        allocated = s;
                }
                /* Without CONFIG_KALLSYMS_ABSOLUTE_PERCPU (arm64) the offsets are unsigned. */
                k->symbols[i] = (KallsymsSymbol){
                        .name = (const char *) (uintptr_t) k->names_size,
                        .address = base + (uint32_t) le32toh((uint32_t) offsets[i]),
                        .type = name[0],
                };
                memcpy(k->names + k->names_size, name + 1, len); /* with its NUL */
                k->names_size += len;
                if (i > 0 && k->symbols[i].address < k->symbols[i - 1].address)
                        sorted = false;
        }
        k->n = num;

        if (!sorted)
                qsort(k->symbols, k->n, sizeof(KallsymsSymbol), symbol_compare);
        for (size_t i = 0, next = 0; i < k->n; i++) {
                k->symbols[i].name = k->names + (uintptr_t) k->symbols[i].name;
                while (next < k->n && k->symbols[next].address <= k->symbols[i].address)
                        next++;
                k->symbols[i].size = next < k->n ? k->symbols[next].address - k->symbols[i].address : 0;
        }
        return 0;
}

int kallsyms_read(const Vmcore *c, Kallsyms **ret) {
        _cleanup_(kallsyms_freep) Kallsyms *k = NULL;
        int r;

        assert(c);
        assert(ret);

        k = calloc(1, sizeof(Kallsyms));
        if (!k)
                return -ENOMEM;
        r = read_symbols(c, k);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(k);
        return 0;
}

size_t kallsyms_n_symbols(const Kallsyms *k) {
        assert(k);
        return k->n;
}

const KallsymsSymbol *kallsyms_symbol(const Kallsyms *k, size_t i) {
        assert(k);
        return i < k->n ? &k->symbols[i] : NULL;
}

const KallsymsSymbol *kallsyms_lookup(const Kallsyms *k, uint64_t address) {
        size_t lo = 0, hi = k->n;
        const KallsymsSymbol *s;

        assert(k);

        /* The first symbol above address, then back to the first alias of the one before it. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (k->symbols[mid].address <= address)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == 0)
                return NULL;
        s = &k->symbols[lo - 1];
        while (s > k->symbols && s[-1].address == s->address)
                s--;
        if (address - s->address >= MAX(s->size, 1))
                return NULL;
        return s;
}

static const KallsymsSymbol *lookup_frame(const Kallsyms *k, const VmcoreFrame *f) {
        return kallsyms_lookup(k, f->kind == VMCORE_FRAME_PC ? f->pc : f->pc - 4);
}

int kallsyms_unwind(
        const Kallsyms *k, const Vmcore *c, size_t cpu, VmcoreFrame *frames, size_t max, size_t *ret_n) {
        const KallsymsSymbol *s;
        size_t n;
        int r;

        r = vmcore_unwind(c, cpu, frames, max, &n);
        if (r < 0)
                return r;
        /* vmcore_unwind() puts an x30 frame right after the pc, if any. */
        if (k && n >= 2 && frames[1].kind == VMCORE_FRAME_LR) {
                s = lookup_frame(k, &frames[0]);
                if (s && s == lookup_frame(k, &frames[1])) {
                        memmove(frames + 1, frames + 2, (n - 2) * sizeof(VmcoreFrame));
                        n--;
                }
        }
        *ret_n = n;
        return 0;
}

int kallsyms_find_crashed_cpu(const Kallsyms *k, const Vmcore *c, size_t *ret_cpu) {
        assert(k);
        assert(c);
        assert(ret_cpu);

        for (size_t cpu = 0; cpu < vmcore_n_cpus(c); cpu++) {
                VmcoreFrame frames[VMCORE_FRAMES_MAX];
                size_t n;

                if (kallsyms_unwind(k, c, cpu, frames, ELEMENTSOF(frames), &n) < 0)
                        continue;
                for (size_t i = 0; i < n; i++) {
                        const KallsymsSymbol *s = lookup_frame(k, &frames[i]);

                        if (s &&
                            (streq(s->name, "panic") || streq(s->name, "die") || streq(s->name, "__die"))) {
                                *ret_cpu = cpu;
                                return 0;
                        }
                }
        }
        return -ENOENT;
}

const char *kallsyms_format_frame(
        const Kallsyms *k, size_t index, const VmcoreFrame *f, char buf[static KALLSYMS_FRAME_LINE_MAX]) {
        const KallsymsSymbol *s;
        const char *lr;

        assert(f);

        s = k ? lookup_frame(k, f) : NULL;
        lr = f->kind == VMCORE_FRAME_LR ? " (lr)" : "";
        if (s)
                (void) snprintf(
                        buf,
                        KALLSYMS_FRAME_LINE_MAX,
                        "#%-2zu 0x%016" PRIx64 " %s+0x%" PRIx64 "/0x%" PRIx64 "%s",
                        index,
                        f->pc,
                        s->name,
                        f->pc - s->address,
                        s->size,
                        lr);
        else
                (void) snprintf(buf, KALLSYMS_FRAME_LINE_MAX, "#%-2zu 0x%016" PRIx64 "%s", index, f->pc, lr);
        return buf;
}

static uint64_t align8(uint64_t x) {
        return (x + 7) & ~UINT64_C(7);
}

static bool type_is_local(char type) {
        return type >= 'a' && type <= 'z' && type != 'w' && type != 'v';
}

static Elf64_Sym symbol_to_elf(const Kallsyms *k, const KallsymsSymbol *s) {
        unsigned bind = STB_GLOBAL, type = STT_OBJECT;

        if (IN_SET(s->type, 'w', 'W', 'v', 'V'))
                bind = STB_WEAK;
        else if (type_is_local(s->type))
                bind = STB_LOCAL;
        if (IN_SET(s->type, 't', 'T', 'w', 'W'))
                type = STT_FUNC;

        return (Elf64_Sym){
                .st_name = (Elf64_Word) (s->name - k->names),
                .st_info = ELF64_ST_INFO(bind, type),
                .st_shndx = 1, /* .text spans them all */
                .st_value = s->address,
                .st_size = s->size,
        };
}

/* .debug_frame (DWARF 2, version 1 CIE): by default the caller's x29 and return address are the frame
 * record at x29, which is the CFA less 16. Registers: 29 x29, 30 x30, 31 sp. A kernel with pointer
 * authentication signs the return addresses it saves (paciasp), and gdb knows no mask for them (QEMU's dump
 * has no NT_ARM_PAC_MASK note): then x30 is the saved value with the PAC bits set, as they are in a kernel
 * address (KERNELPACMASK), by a DW_CFA_val_expression. */
#define CIE_SIZE 40
/* clang-format off */
static const uint8_t cie_head[13] = {
        CIE_SIZE - 4, 0, 0, 0,  /* length */
        0xff, 0xff, 0xff, 0xff, /* CIE id */
        1,                      /* version */
        0,                      /* augmentation "" */
        4,                      /* code alignment factor */
        0x78,                   /* data alignment factor: -8 */
        30,                     /* return address column */
};
static const uint8_t cie_cfa[5] = {
        0x0c, 29, 16,           /* DW_CFA_def_cfa x29, 16 */
        0x80 | 29, 2,           /* DW_CFA_offset x29, cfa - 16 */
};
static const uint8_t cie_ra[2] = {
        0x80 | 30, 1,           /* DW_CFA_offset x30, cfa - 8 */
};
/* DW_CFA_val_expression x30, 13 bytes: the CFA (pushed first), DW_OP_lit8, DW_OP_minus, DW_OP_deref,
 * DW_OP_const8u <mask>, DW_OP_or. */
static const uint8_t cie_ra_pac[7] = { 0x16, 30, 13, 0x38, 0x1c, 0x06, 0x0e };
/* clang-format on */

static void cie_build(uint64_t pac_mask, uint8_t ret[static CIE_SIZE]) {
        uint8_t *p = ret;

        memset(ret, 0, CIE_SIZE); /* DW_CFA_nop to the end */
        p = mempcpy(p, cie_head, sizeof(cie_head));
        p = mempcpy(p, cie_cfa, sizeof(cie_cfa));
        if (pac_mask == 0) {
                (void) mempcpy(p, cie_ra, sizeof(cie_ra));
                return;
        }
        p = mempcpy(p, cie_ra_pac, sizeof(cie_ra_pac));
        for (unsigned i = 0; i < 8; i++)
                *p++ = (uint8_t) (pac_mask >> (8 * i));
        *p = 0x21; /* DW_OP_or */
}

/* Where a function is before its frame record is in place (its first instructions; and all of it for the
 * functions a vCPU was stopped in before it pushed a record): CFA sp, x29 and x30 still the caller's. x30
 * is signed if the function began with paciasp: then x30 | mask (DW_CFA_val_expression x30, 12 bytes:
 * DW_OP_breg30 0, DW_OP_const8u <mask>, DW_OP_or). */
/* clang-format off */
static const uint8_t leaf_head[5] = {
        0x0c, 31, 0,            /* DW_CFA_def_cfa sp, 0 */
        0x08, 29,               /* DW_CFA_same_value x29 */
};
static const uint8_t leaf_ra[2] = { 0x08, 30 }; /* DW_CFA_same_value x30 */
static const uint8_t leaf_ra_pac[6] = { 0x16, 30, 12, 0x8e, 0, 0x0e };
/* Back to the CIE's rules once the record is in place. */
static const uint8_t record_rules[5] = {
        0x0c, 29, 16,           /* DW_CFA_def_cfa x29, 16 */
        0xc0 | 29,              /* DW_CFA_restore x29 */
        0xc0 | 30,              /* DW_CFA_restore x30 */
};
/* clang-format on */

#define FDE_HEADER 24
#define FDE_MAX (FDE_HEADER + 40)

/* Appends one FDE over [start, start + size) to buf: leaf rules from the start up to record (0: for all of
 * it), the CIE's after that (record == start: none). */
static size_t fde_write(uint8_t *buf, uint64_t start, uint64_t size, uint64_t record, uint64_t pac_mask) {
        uint8_t *p = buf + FDE_HEADER;
        uint32_t length, cie = 0;

        if (record != start) {
                p = mempcpy(p, leaf_head, sizeof(leaf_head));
                if (pac_mask == 0)
                        p = mempcpy(p, leaf_ra, sizeof(leaf_ra));
                else {
                        p = mempcpy(p, leaf_ra_pac, sizeof(leaf_ra_pac));
                        for (unsigned i = 0; i < 8; i++)
                                *p++ = (uint8_t) (pac_mask >> (8 * i));
                        *p++ = 0x21; /* DW_OP_or */
                }
                if (record != 0) {
                        *p++ = (uint8_t) (0x40 | ((record - start) / 4)); /* DW_CFA_advance_loc */
                        p = mempcpy(p, record_rules, sizeof(record_rules));
                }
        }
        while ((p - buf) % 8 != 0)
                *p++ = 0; /* DW_CFA_nop */
        length = (uint32_t) (p - buf) - 4;
        memcpy(buf, &length, 4);
        memcpy(buf + 4, &cie, 4);
        memcpy(buf + 8, &start, 8);
        memcpy(buf + 16, &size, 8);
        return (size_t) (p - buf);
}

/* Where the function's frame record is in place: after its "add x29, sp, #n" ("mov x29, sp") that follows
 * "stp x29, x30, [sp, ...]" within its first instructions (after bti, ftrace's nops, paciasp), read from
 * the dump. 0 if it has no such prologue, or its code is not in the dump. */
#define PROLOGUE_INSNS 16U
/* The text is read a page at a time, once (a page walk per page, not per function: 50,000 functions took
 * 2 s of the device's emulated CPU); between the kernel's sections some pages are not mapped. */
#define TEXT_READ_MAX (UINT64_C(64) << 20)
#define TEXT_PAGE 4096U
typedef struct Text {
        uint64_t start, size; /* start: page aligned */
        uint8_t *bytes;       /* NULL: read function by function */
        bool *mapped;         /* per page */
} Text;

static void text_read(const Vmcore *c, Text *t) {
        size_t pages = t->size / TEXT_PAGE;

        t->bytes = malloc(t->size);
        t->mapped = calloc(pages, sizeof(bool));
        if (!t->bytes || !t->mapped) {
                t->bytes = mfree(t->bytes);
                t->mapped = mfree(t->mapped);
                return;
        }
        for (size_t i = 0; i < pages; i++)
                t->mapped[i] = vmcore_read_virt(
                                       c, t->start + i * TEXT_PAGE, t->bytes + i * TEXT_PAGE, TEXT_PAGE) >= 0;
}

static bool text_get(const Text *t, uint64_t address, void *buf, size_t n) {
        uint64_t off = address - t->start;

        if (!t->bytes || address < t->start || off + n > t->size || !t->mapped[off / TEXT_PAGE] ||
            !t->mapped[(off + n - 1) / TEXT_PAGE])
                return false;
        memcpy(buf, t->bytes + off, n);
        return true;
}

static uint64_t prologue_end(const Vmcore *c, const Text *t, const KallsymsSymbol *s) {
        uint32_t insn[PROLOGUE_INSNS];
        size_t n = MIN(PROLOGUE_INSNS, s->size / 4);
        bool stored = false;

        if (n == 0)
                return 0;
        if (!text_get(t, s->address, insn, n * 4) &&
            (t->bytes || vmcore_read_virt(c, s->address, insn, n * 4) < 0))
                return 0;
        for (size_t i = 0; i < n; i++) {
                uint32_t x = le32toh(insn[i]);

                if ((x & 0xffc07fff) == 0xa9807bfd || (x & 0xffc07fff) == 0xa9007bfd)
                        stored = true; /* stp x29, x30, [sp, #imm]! or [sp, #imm] */
                else if (stored && (x & 0xffc003ff) == 0x910003fd)
                        return s->address + 4 * (i + 1); /* add x29, sp, #imm */
        }
        return 0;
}

static bool is_text(char type) {
        return IN_SET(type, 't', 'T', 'w', 'W');
}

/* .debug_frame's contents: the CIE, then an FDE per function of [start, end): the leaf rules for its
 * prologue (or all of it, where a vCPU was stopped before it pushed its record), then the CIE's. */
static int debug_frame(
        const Kallsyms *k, const Vmcore *c, uint64_t start, uint64_t end, uint8_t **ret, size_t *ret_size) {
        uint64_t leaves[VMCORE_CPUS_MAX], pac_mask = 0;
        size_t n_leaves = 0, size = CIE_SIZE;
        _cleanup_free_ uint8_t *buf = NULL;
        Text text = { .start = start & ~(uint64_t) (TEXT_PAGE - 1) };

        for (size_t cpu = 0; c && cpu < vmcore_n_cpus(c); cpu++) {
                VmcoreFrame frames[2];
                const KallsymsSymbol *s;
                size_t m;

                if (kallsyms_unwind(k, c, cpu, frames, ELEMENTSOF(frames), &m) < 0 || m < 2 ||
                    frames[1].kind != VMCORE_FRAME_LR)
                        continue;
                s = lookup_frame(k, &frames[0]);
                if (s && s->size > 0)
                        leaves[n_leaves++] = s->address;
        }
        if (c)
                (void) vmcore_info_u64(c, "NUMBER(KERNELPACMASK)", &pac_mask);

        buf = malloc(CIE_SIZE + k->n * FDE_MAX);
        if (!buf)
                return -ENOMEM;
        cie_build(pac_mask, buf);
        text.size = ((end - text.start) + TEXT_PAGE - 1) & ~(uint64_t) (TEXT_PAGE - 1);
        if (c && text.size <= TEXT_READ_MAX)
                text_read(c, &text);
        for (size_t i = 0; i < k->n; i++) {
                const KallsymsSymbol *s = &k->symbols[i];
                uint64_t from = MAX(s->address, start), to = MIN(s->address + s->size, end), record;
                bool leaf = false;

                /* One FDE per address: aliases share it. */
                if ((i > 0 && k->symbols[i - 1].address == s->address) || !is_text(s->type) || from >= to)
                        continue;
                for (size_t l = 0; l < n_leaves; l++)
                        leaf = leaf || leaves[l] == s->address;
                record = leaf ? 0 : c ? prologue_end(c, &text, s) : 0;
                if (!leaf && record == 0)
                        record = from; /* no prologue known: the CIE's rules all along */
                size += fde_write(buf + size, from, to - from, record, pac_mask);
        }
        free(text.bytes);
        free(text.mapped);
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int kallsyms_write_elf(const Kallsyms *k, const Vmcore *c, int fd) {
        static const char shstrtab[] = "\0.text\0.symtab\0.strtab\0.shstrtab\0.debug_frame";
        _cleanup_free_ Elf64_Sym *syms = NULL;
        _cleanup_free_ uint8_t *frame = NULL;
        Elf64_Shdr sh[6] = {};
        const void *contents[6] = {};
        Elf64_Ehdr e;
        uint64_t text_start, text_end, symtab_size, offset;
        size_t n = 1, first_global = 1, frame_size;
        int r;

        assert(k);
        assert(fd >= 0);

        if (k->n == 0)
                return -ENODATA;
        if (k->names_size > UINT32_MAX)
                return -E2BIG;

        /* Locals first, as ELF wants: sh_info of .symtab is the index of the first other one. */
        syms = calloc(k->n + 1, sizeof(Elf64_Sym));
        if (!syms)
                return -ENOMEM;
        for (int pass = 0; pass < 2; pass++) {
                if (pass == 1)
                        first_global = n;
                for (size_t i = 0; i < k->n; i++)
                        if (type_is_local(k->symbols[i].type) == (pass == 0))
                                syms[n++] = symbol_to_elf(k, &k->symbols[i]);
        }
        symtab_size = n * sizeof(Elf64_Sym);

        text_start = k->symbols[0].address;
        text_end = k->symbols[k->n - 1].address + 1;
        r = debug_frame(k, c, text_start, text_end, &frame, &frame_size);
        if (r < 0)
                return r;

        /* The header, .symtab, .debug_frame, .strtab, .shstrtab, the section headers. */
        contents[2] = syms;
        contents[3] = frame;
        contents[4] = k->names;
        contents[5] = shstrtab;
        offset = sizeof(Elf64_Ehdr);
        sh[1] = (Elf64_Shdr){
                .sh_name = 1,
                .sh_type = SHT_NOBITS,
                .sh_flags = SHF_ALLOC | SHF_EXECINSTR,
                .sh_addr = text_start,
                .sh_offset = offset,
                .sh_size = text_end - text_start,
                .sh_addralign = 4,
        };
        sh[2] = (Elf64_Shdr){
                .sh_name = 7,
                .sh_type = SHT_SYMTAB,
                .sh_offset = offset,
                .sh_size = symtab_size,
                .sh_link = 4,
                .sh_info = (Elf64_Word) first_global,
                .sh_addralign = 8,
                .sh_entsize = sizeof(Elf64_Sym),
        };
        offset += symtab_size;
        sh[3] = (Elf64_Shdr){
                .sh_name = 33,
                .sh_type = SHT_PROGBITS,
                .sh_offset = offset,
                .sh_size = frame_size,
                .sh_addralign = 8,
        };
        offset += frame_size;
        sh[4] = (Elf64_Shdr){
                .sh_name = 15,
                .sh_type = SHT_STRTAB,
                .sh_offset = offset,
                .sh_size = k->names_size,
                .sh_addralign = 1,
        };
        offset += k->names_size;
        sh[5] = (Elf64_Shdr){
                .sh_name = 23,
                .sh_type = SHT_STRTAB,
                .sh_offset = offset,
                .sh_size = sizeof(shstrtab),
                .sh_addralign = 1,
        };
        offset += sizeof(shstrtab);

        e = (Elf64_Ehdr){
                .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
                .e_type = ET_EXEC,
                .e_machine = EM_AARCH64,
                .e_version = EV_CURRENT,
                .e_shoff = align8(offset),
                .e_ehsize = sizeof(Elf64_Ehdr),
                .e_phentsize = sizeof(Elf64_Phdr),
                .e_shentsize = sizeof(Elf64_Shdr),
                .e_shnum = ELEMENTSOF(sh),
                .e_shstrndx = 5,
        };

        r = pwrite_full(fd, &e, sizeof(e), 0);
        for (size_t i = 2; r >= 0 && i < ELEMENTSOF(sh); i++)
                r = pwrite_full(fd, contents[i], sh[i].sh_size, sh[i].sh_offset);
        if (r >= 0)
                r = pwrite_full(fd, sh, sizeof(sh), e.e_shoff);
        return r;
}
