/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An arm64 ELF core from QEMU's dump-guest-memory: headers, notes, kernel addresses, frame records. */
#include <assert.h>
#include <elf.h>
#include <endian.h>
#include <sys/stat.h>

#include "vmcore.h"

/* Headers and registers are used in place: the file is little-endian, as are the hosts vmmd runs on. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vmcore.c reads a little-endian ELF file in place"
#endif

#define PAGE_SIZE 4096U
#define SZ_2M (UINT64_C(2) * 1024 * 1024)
/* Where, from _stext on, kimage_voffset may stand in for page tables that cannot be read: the kernel
 * image is far smaller, and beyond it lie vmalloc addresses that the formula would get wrong. */
#define KIMAGE_WINDOW (UINT64_C(256) * 1024 * 1024)
/* Bits [47:12] of a descriptor: the next table, page or block (48-bit output addresses). */
#define DESC_ADDRESS_MASK UINT64_C(0x0000fffffffff000)
/* Page tables one walk of the kernel half reads at most: tables that point at each other again and
 * again must not make a walk of 512^4 entries. 8192 tables map 16 GiB in 4 KiB pages; and real tables
 * are distinct pages of the dump, so a small dump has few. */
#define WALK_TABLES_MAX 8192U

typedef struct RamRange {
        uint64_t pa;
        uint64_t size;
        uint64_t offset; /* in the file */
} RamRange;

typedef struct InfoLine {
        const char *key;
        const char *value;
} InfoLine;

struct Vmcore {
        int fd;
        Elf64_Ehdr ehdr;
        uint64_t phoff; /* the program header table in use */
        size_t phnum;
        uint64_t data_end; /* the end of all the headers point to, but the program header table */

        Elf64_Phdr *notes;
        size_t n_notes;
        RamRange *ram; /* sorted, disjoint */
        size_t n_ram;
        VmcoreCpu *cpus;
        size_t n_cpus;
        char *info_text;
        InfoLine *info;
        size_t n_info;

        /* The kernel's layout, from the vmcoreinfo. */
        bool have_layout;
        uint64_t page_offset; /* the linear map is [page_offset, page_end) */
        uint64_t page_end;
        uint64_t phys_offset;
        uint64_t kimage_voffset;
        uint64_t kimage_start; /* the window for kimage_voffset; 0 without _stext */
        uint64_t pac_mask;
        bool have_tables;
        uint64_t tables_pa; /* swapper_pg_dir */
        unsigned va_bits;   /* of TTBR1's half, 64 - TCR_EL1.T1SZ */
};

/* Exactly size bytes at offset; -EIO when the file ends before (it shrank since we checked it). */
static int pread_exact(int fd, void *buf, size_t size, uint64_t offset) {
        uint8_t *p = buf;

        while (size > 0) {
                ssize_t n = pread(fd, p, size, (off_t) offset);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                size -= (size_t) n;
                offset += (uint64_t) n;
        }
        return 0;
}

static bool range_within(uint64_t offset, uint64_t size, uint64_t limit) {
        return size <= limit && offset <= limit - size;
}

static uint64_t align8(uint64_t x) {
        return (x + 7) & ~UINT64_C(7);
}

Vmcore *vmcore_free(Vmcore *c) {
        if (!c)
                return NULL;
        free(c->notes);
        free(c->ram);
        free(c->cpus);
        free(c->info_text);
        free(c->info);
        return mfree(c);
}

static int ram_range_compare(const void *a, const void *b) {
        const RamRange *x = a, *y = b;

        if (x->pa != y->pa)
                return x->pa < y->pa ? -1 : 1;
        if (x->size != y->size)
                return x->size > y->size ? -1 : 1; /* the longest first: it absorbs the others */
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sorts the PT_LOADs' ranges and makes them disjoint. A kernel view maps the same RAM many times (linear
 * map, kernel image, vmalloc), each a piece of one range of the dump at the same file offset for a
 * physical address: those merge back into the dump's own ranges. Where ranges disagree, the first wins. */
static void ram_normalize(Vmcore *c) {
        size_t k = 0;

        qsort(c->ram, c->n_ram, sizeof(RamRange), ram_range_compare);
        for (size_t i = 0; i < c->n_ram; i++) {
                RamRange r = c->ram[i];

                if (k > 0) {
                        RamRange *prev = &c->ram[k - 1];
                        uint64_t prev_end = prev->pa + prev->size;

                        if (r.pa <= prev_end && r.offset - r.pa == prev->offset - prev->pa) {
                                prev->size = MAX(prev_end, r.pa + r.size) - prev->pa;
                                continue;
                        }
                        if (r.pa < prev_end) {
                                uint64_t cut = prev_end - r.pa;

                                if (cut >= r.size)
                                        continue;
                                r.pa += cut;
                                r.offset += cut;
                                r.size -= cut;
                        }
                }
                c->ram[k++] = r;
        }
        c->n_ram = k;
}

/* The index of the first range that ends after pa, or n_ram. */
static size_t ram_lookup(const Vmcore *c, uint64_t pa) {
        size_t lo = 0, hi = c->n_ram;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (c->ram[mid].pa + c->ram[mid].size <= pa)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static bool note_name_is(const uint8_t *name, uint32_t namesz, const char *s) {
        size_t l = strlen(s);

        /* The NUL is counted in namesz, but some writers leave it out. */
        return (namesz == l || (namesz == l + 1 && name[l] == 0)) && memcmp(name, s, l) == 0;
}

static int parse_vmcoreinfo(Vmcore *c, const uint8_t *text, size_t size) {
        size_t n = 1;
        char *p;

        size = strnlen((const char *) text, size);
        c->info_text = malloc(size + 1);
        if (!c->info_text)
                return -ENOMEM;
        memcpy(c->info_text, text, size);
        c->info_text[size] = 0;

        for (size_t i = 0; i < size; i++)
                n += text[i] == '\n';
        c->info = calloc(n, sizeof(InfoLine));
        if (!c->info)
                return -ENOMEM;

        p = c->info_text;
        while (p) {
                char *line = strsep(&p, "\n"), *eq = strchr(line, '=');

                if (!eq)
                        continue;
                *eq = 0;
                c->info[c->n_info++] = (InfoLine){ line, eq + 1 };
        }
        return 0;
}

static int parse_prstatus(Vmcore *c, const uint8_t *desc, uint32_t size) {
        /* struct elf_prstatus for arm64: pr_pid at 32, then at 112 the user_pt_regs. */
        const size_t regs_offset = 112;
        VmcoreCpu *cpu;

        if (size < regs_offset + 34 * sizeof(uint64_t))
                return -EBADMSG;
        if (c->n_cpus >= VMCORE_CPUS_MAX)
                return -E2BIG;
        if (!c->cpus) {
                c->cpus = calloc(VMCORE_CPUS_MAX, sizeof(VmcoreCpu));
                if (!c->cpus)
                        return -ENOMEM;
        }
        cpu = &c->cpus[c->n_cpus++];
        memcpy(&cpu->pid, desc + 32, sizeof(cpu->pid));
        memcpy(cpu->regs, desc + regs_offset, sizeof(cpu->regs));
        memcpy(&cpu->sp, desc + regs_offset + 31 * 8, sizeof(uint64_t));
        memcpy(&cpu->pc, desc + regs_offset + 32 * 8, sizeof(uint64_t));
        memcpy(&cpu->pstate, desc + regs_offset + 33 * 8, sizeof(uint64_t));
        return 0;
}

static int parse_notes(Vmcore *c, const uint8_t *p, size_t size) {
        int r;

        while (size > 0) {
                Elf64_Nhdr h;
                size_t name_size, desc_size;

                if (size < sizeof(h))
                        return -EBADMSG;
                memcpy(&h, p, sizeof(h));
                p += sizeof(h);
                size -= sizeof(h);

                name_size = ((size_t) h.n_namesz + 3) & ~(size_t) 3;
                if (name_size > size)
                        return -EBADMSG;
                desc_size = ((size_t) h.n_descsz + 3) & ~(size_t) 3;
                if (h.n_descsz > size - name_size)
                        return -EBADMSG;

                if (note_name_is(p, h.n_namesz, "CORE") && h.n_type == NT_PRSTATUS)
                        r = parse_prstatus(c, p + name_size, h.n_descsz);
                else if (note_name_is(p, h.n_namesz, "VMCOREINFO") && !c->info_text)
                        r = parse_vmcoreinfo(c, p + name_size, h.n_descsz);
                else
                        r = 0;
                if (r < 0)
                        return r;

                /* The padding after the last note may be missing. */
                desc_size = MIN(desc_size, size - name_size);
                p += name_size + desc_size;
                size -= name_size + desc_size;
        }
        return 0;
}

static unsigned level_shift(unsigned level) {
        return 39 - 9 * level;
}

static unsigned start_level(unsigned va_bits) {
        return va_bits > 39 ? 0 : va_bits > 30 ? 1 : 2;
}

static size_t level_entries(unsigned va_bits, unsigned level) {
        if (level == start_level(va_bits))
                return (size_t) 1 << (va_bits - level_shift(level));
        return 512;
}

/* What the vmcoreinfo says about where things are; without it, no virtual address translates. */
static void parse_layout(Vmcore *c) {
        uint64_t page_size, va_bits, stext, pgd, t1sz;

        if (vmcore_info_u64(c, "PAGESIZE", &page_size) < 0 || page_size != PAGE_SIZE ||
            vmcore_info_u64(c, "NUMBER(VA_BITS)", &va_bits) < 0 || va_bits < 36 || va_bits > 48 ||
            vmcore_info_u64(c, "NUMBER(kimage_voffset)", &c->kimage_voffset) < 0 ||
            vmcore_info_u64(c, "NUMBER(PHYS_OFFSET)", &c->phys_offset) < 0)
                return;

        c->have_layout = true;
        c->page_offset = -(UINT64_C(1) << va_bits);
        c->page_end = -(UINT64_C(1) << (va_bits - 1));
        if (vmcore_info_u64(c, "NUMBER(KERNELPACMASK)", &c->pac_mask) < 0)
                c->pac_mask = 0;

        if (vmcore_info_u64(c, "SYMBOL(_stext)", &stext) >= 0 && stext >= c->page_end &&
            stext <= UINT64_MAX - KIMAGE_WINDOW)
                c->kimage_start = stext & ~(SZ_2M - 1);

        if (vmcore_info_u64(c, "SYMBOL(swapper_pg_dir)", &pgd) < 0)
                return;
        if (vmcore_info_u64(c, "NUMBER(TCR_EL1_T1SZ)", &t1sz) < 0)
                t1sz = 64 - va_bits;
        /* The linear map must lie in TTBR1's half; more than 48 bits would need a fifth level. */
        if (t1sz < 16 || t1sz > 64 - va_bits || (pgd - c->kimage_voffset) % PAGE_SIZE != 0)
                return;
        c->have_tables = true;
        c->tables_pa = pgd - c->kimage_voffset;
        c->va_bits = (unsigned) (64 - t1sz);
}

static int read_headers(Vmcore *c, uint64_t file_size, Elf64_Phdr **ret) {
        const Elf64_Ehdr *e = &c->ehdr;
        _cleanup_free_ Elf64_Phdr *ph = NULL;
        int r;

        if (file_size < sizeof(Elf64_Ehdr))
                return -EBADMSG;
        r = pread_exact(c->fd, &c->ehdr, sizeof(c->ehdr), 0);
        if (r < 0)
                return r;
        if (memcmp(e->e_ident, ELFMAG, SELFMAG) != 0)
                return -EBADMSG;
        if (e->e_ident[EI_CLASS] != ELFCLASS64 || e->e_ident[EI_DATA] != ELFDATA2LSB ||
            e->e_type != ET_CORE || e->e_machine != EM_AARCH64)
                return -EPROTONOSUPPORT;
        if (e->e_phentsize != sizeof(Elf64_Phdr))
                return -EBADMSG;

        c->phoff = e->e_phoff;
        c->phnum = e->e_phnum;
        if (c->phnum == PN_XNUM) {
                /* More program headers than e_phnum holds: the count is in section header 0. */
                Elf64_Shdr sh0;

                if (e->e_shentsize != sizeof(Elf64_Shdr) || !range_within(e->e_shoff, sizeof(sh0), file_size))
                        return -EBADMSG;
                r = pread_exact(c->fd, &sh0, sizeof(sh0), e->e_shoff);
                if (r < 0)
                        return r;
                c->phnum = sh0.sh_info;
        }
        if (c->phnum == 0)
                return -EBADMSG;
        if (c->phnum > VMCORE_PHDRS_MAX)
                return -E2BIG;
        if (!range_within(c->phoff, c->phnum * sizeof(Elf64_Phdr), file_size))
                return -EBADMSG;

        ph = calloc(c->phnum, sizeof(Elf64_Phdr));
        if (!ph)
                return -ENOMEM;
        r = pread_exact(c->fd, ph, c->phnum * sizeof(Elf64_Phdr), c->phoff);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(ph);
        return 0;
}

/* Where the section headers and sections end, so that a new program header table goes after them. */
static int sections_end(Vmcore *c, uint64_t file_size, uint64_t *ret) {
        const Elf64_Ehdr *e = &c->ehdr;
        Elf64_Shdr sh[16];
        uint64_t end;
        size_t n;
        int r;

        if (e->e_shoff == 0 || e->e_shnum == 0) {
                *ret = 0;
                return 0;
        }
        n = e->e_shnum;
        /* QEMU writes one or two: with more, or headers not in the file, assume all the file is used. */
        if (n > ELEMENTSOF(sh) || e->e_shentsize != sizeof(Elf64_Shdr) ||
            !range_within(e->e_shoff, n * sizeof(Elf64_Shdr), file_size)) {
                *ret = file_size;
                return 0;
        }
        r = pread_exact(c->fd, sh, n * sizeof(Elf64_Shdr), e->e_shoff);
        if (r < 0)
                return r;
        end = e->e_shoff + n * sizeof(Elf64_Shdr);
        for (size_t i = 0; i < n; i++)
                if (sh[i].sh_type != SHT_NOBITS && sh[i].sh_offset < file_size)
                        end = MAX(end, sh[i].sh_offset + MIN(sh[i].sh_size, file_size - sh[i].sh_offset));
        *ret = end;
        return 0;
}

int vmcore_open(int fd, Vmcore **ret) {
        _cleanup_(vmcore_freep) Vmcore *c = NULL;
        _cleanup_free_ Elf64_Phdr *ph = NULL;
        _cleanup_free_ uint8_t *notes = NULL;
        uint64_t file_size, notes_size = 0, end;
        struct stat st;
        int r;

        assert(fd >= 0);
        assert(ret);

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        file_size = (uint64_t) st.st_size;

        c = calloc(1, sizeof(Vmcore));
        if (!c)
                return -ENOMEM;
        c->fd = fd;

        r = read_headers(c, file_size, &ph);
        if (r < 0)
                return r;
        r = sections_end(c, file_size, &c->data_end);
        if (r < 0)
                return r;
        c->data_end = MAX(c->data_end, sizeof(Elf64_Ehdr));

        c->notes = calloc(c->phnum, sizeof(Elf64_Phdr));
        c->ram = calloc(c->phnum, sizeof(RamRange));
        if (!c->notes || !c->ram)
                return -ENOMEM;
        for (size_t i = 0; i < c->phnum; i++) {
                const Elf64_Phdr *p = &ph[i];
                uint64_t size;

                if (p->p_type == PT_NOTE) {
                        if (!range_within(p->p_offset, p->p_filesz, file_size))
                                return -EBADMSG;
                        if (p->p_filesz > VMCORE_NOTES_MAX - notes_size)
                                return -E2BIG;
                        notes_size += p->p_filesz;
                        c->notes[c->n_notes++] = *p;
                        c->data_end = MAX(c->data_end, p->p_offset + p->p_filesz);
                } else if (p->p_type == PT_LOAD) {
                        /* A dump cut short keeps what it has. */
                        if (p->p_offset >= file_size)
                                continue;
                        size = MIN(p->p_filesz, file_size - p->p_offset);
                        if (size == 0)
                                continue;
                        if (p->p_paddr > UINT64_MAX - size)
                                return -EBADMSG;
                        c->ram[c->n_ram++] = (RamRange){ p->p_paddr, size, p->p_offset };
                        c->data_end = MAX(c->data_end, p->p_offset + size);
                }
        }
        ram_normalize(c);

        notes = malloc(MAX(notes_size, 1));
        if (!notes)
                return -ENOMEM;
        end = 0;
        for (size_t i = 0; i < c->n_notes; i++) {
                r = pread_exact(fd, notes + end, c->notes[i].p_filesz, c->notes[i].p_offset);
                if (r < 0)
                        return r;
                /* Notes do not span segments: each is parsed on its own. */
                r = parse_notes(c, notes + end, c->notes[i].p_filesz);
                if (r < 0)
                        return r;
                end += c->notes[i].p_filesz;
        }

        parse_layout(c);
        *ret = TAKE_PTR(c);
        return 0;
}

const char *vmcore_info(const Vmcore *c, const char *key) {
        assert(c);
        assert(key);

        for (size_t i = 0; i < c->n_info; i++)
                if (streq(c->info[i].key, key))
                        return c->info[i].value;
        return NULL;
}

static int parse_number(const char *s, bool hex, uint64_t *ret) {
        unsigned base = hex ? 16 : 10;
        bool negative = false;
        uint64_t v = 0;

        if (!hex && *s == '-') {
                negative = true;
                s++;
        }
        if (!hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
        }
        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                unsigned d;

                if (*s >= '0' && *s <= '9')
                        d = (unsigned) (*s - '0');
                else if (base == 16 && *s >= 'a' && *s <= 'f')
                        d = (unsigned) (*s - 'a' + 10);
                else if (base == 16 && *s >= 'A' && *s <= 'F')
                        d = (unsigned) (*s - 'A' + 10);
                else
                        return -EINVAL;
                if (v > (UINT64_MAX - d) / base)
                        return -ERANGE;
                v = v * base + d;
        }
        *ret = negative ? -v : v;
        return 0;
}

int vmcore_info_u64(const Vmcore *c, const char *key, uint64_t *ret) {
        const char *v;

        assert(ret);

        v = vmcore_info(c, key);
        if (!v)
                return -ENOENT;
        /* The kernel prints symbols and KERNELOFFSET with %lx, numbers with %ld or 0x%lx. */
        return parse_number(v, strncmp(key, "SYMBOL(", 7) == 0 || streq(key, "KERNELOFFSET"), ret);
}

size_t vmcore_n_cpus(const Vmcore *c) {
        assert(c);
        return c->n_cpus;
}

const VmcoreCpu *vmcore_cpu(const Vmcore *c, size_t i) {
        assert(c);
        return i < c->n_cpus ? &c->cpus[i] : NULL;
}

int vmcore_read_phys(const Vmcore *c, uint64_t pa, void *buf, size_t size) {
        uint8_t *p = buf;
        int r;

        assert(c);
        assert(buf || size == 0);

        while (size > 0) {
                size_t i = ram_lookup(c, pa);
                const RamRange *range;
                uint64_t n;

                if (i >= c->n_ram || c->ram[i].pa > pa)
                        return -EFAULT;
                range = &c->ram[i];
                n = MIN(size, range->pa + range->size - pa);
                r = pread_exact(c->fd, p, n, range->offset + (pa - range->pa));
                if (r < 0)
                        return r;
                p += n;
                size -= n;
                pa += n;
        }
        return 0;
}

enum {
        DESC_INVALID,
        DESC_TABLE,
        DESC_MAPPING, /* a page, or a block of 1 << level_shift(level) bytes */
};

/* A 4 KiB granule descriptor; -EBADMSG for encodings the architecture reserves. */
static int descriptor_decode(uint64_t d, unsigned level, uint64_t *ret_address) {
        uint64_t address = d & DESC_ADDRESS_MASK;

        if (!(d & 1))
                return DESC_INVALID;
        if (level == 3) {
                if (!(d & 2))
                        return -EBADMSG;
                *ret_address = address;
                return DESC_MAPPING;
        }
        if (d & 2) {
                *ret_address = address;
                return DESC_TABLE;
        }
        /* Blocks exist at levels 1 and 2, aligned to their size. */
        if (level == 0 || (address & ((UINT64_C(1) << level_shift(level)) - 1)) != 0)
                return -EBADMSG;
        *ret_address = address;
        return DESC_MAPPING;
}

/* Where the kernel's page tables map va, and how many bytes from there on map contiguously. -ENOENT: not
 * mapped; -EBADMSG: a malformed descriptor; -EFAULT: a table not in the dump. */
static int tables_translate(const Vmcore *c, uint64_t va, uint64_t *ret_pa, uint64_t *ret_size) {
        uint64_t table = c->tables_pa;

        if (va >> c->va_bits != UINT64_MAX >> c->va_bits)
                return -ENOENT; /* not in TTBR1's half */

        for (unsigned level = start_level(c->va_bits); level <= 3; level++) {
                unsigned shift = level_shift(level);
                uint64_t d, index = (va >> shift) & (level_entries(c->va_bits, level) - 1), address;
                int r;

                r = vmcore_read_phys(c, table + index * sizeof(d), &d, sizeof(d));
                if (r < 0)
                        return r;
                r = descriptor_decode(le64toh(d), level, &address);
                if (r < 0)
                        return r;
                if (r == DESC_INVALID)
                        return -ENOENT;
                if (r == DESC_MAPPING) {
                        uint64_t mask = (UINT64_C(1) << shift) - 1;

                        *ret_pa = address | (va & mask);
                        *ret_size = (mask + 1) - (va & mask);
                        return 0;
                }
                table = address;
        }
        return -EBADMSG; /* not reached: level 3 has no tables */
}

static int translate(const Vmcore *c, uint64_t va, uint64_t *ret_pa, uint64_t *ret_size) {
        int r;

        if (!c->have_layout)
                return -ENODATA;
        if (va >= c->page_offset && va < c->page_end) {
                *ret_pa = va - c->page_offset + c->phys_offset;
                *ret_size = c->page_end - va;
                return 0;
        }
        if (c->have_tables) {
                r = tables_translate(c, va, ret_pa, ret_size);
                if (r >= 0)
                        return 0;
                if (r == -ENOENT)
                        return -EFAULT;
        }
        /* The tables could not be read (a partial dump, or the crash trampled them): the kernel image
         * is still where kimage_voffset says. */
        if (c->kimage_start != 0 && va >= c->kimage_start && va - c->kimage_start < KIMAGE_WINDOW) {
                *ret_pa = va - c->kimage_voffset;
                *ret_size = KIMAGE_WINDOW - (va - c->kimage_start);
                return 0;
        }
        return -EFAULT;
}

int vmcore_translate(const Vmcore *c, uint64_t va, uint64_t *ret_pa) {
        uint64_t pa, size;
        int r;

        assert(c);
        assert(ret_pa);

        r = translate(c, va, &pa, &size);
        if (r < 0)
                return r;
        *ret_pa = pa;
        return 0;
}

int vmcore_read_virt(const Vmcore *c, uint64_t va, void *buf, size_t size) {
        uint8_t *p = buf;
        int r;

        assert(c);
        assert(buf || size == 0);

        while (size > 0) {
                uint64_t pa, n;

                r = translate(c, va, &pa, &n);
                if (r < 0)
                        return r;
                n = MIN(n, size);
                r = vmcore_read_phys(c, pa, p, n);
                if (r < 0)
                        return r;
                p += n;
                size -= n;
                va += n;
        }
        return 0;
}

static const char *const vmcore_frame_kind_table[_VMCORE_FRAME_KIND_MAX] = {
        [VMCORE_FRAME_PC] = "pc",
        [VMCORE_FRAME_LR] = "lr",
        [VMCORE_FRAME_RECORD] = "record",
};

DEFINE_STRING_TABLE_LOOKUP(vmcore_frame_kind, VmcoreFrameKind, _VMCORE_FRAME_KIND_MAX);

static uint64_t strip_pac(const Vmcore *c, uint64_t address) {
        /* Bit 55 tells the halves apart and is never part of the code (ptrauth_strip_insn_pac()). */
        return address & (UINT64_C(1) << 55) ? address | c->pac_mask : address & ~c->pac_mask;
}

int vmcore_unwind(const Vmcore *c, size_t cpu, VmcoreFrame *frames, size_t max, size_t *ret_n) {
        const VmcoreCpu *regs;
        uint64_t fp, lr;
        bool lr_pending;
        size_t n = 0;

        assert(c);
        assert(cpu < c->n_cpus);
        assert(frames);
        assert(max > 0);
        assert(ret_n);

        regs = &c->cpus[cpu];
        frames[n++] = (VmcoreFrame){ regs->pc, VMCORE_FRAME_PC };
        lr = strip_pac(c, regs->regs[30]);
        lr_pending = lr != 0;

        for (fp = regs->regs[29]; n < max;) {
                uint64_t record[2], ret, prev = fp;

                /* Records are 16-byte aligned, and the stack grows down: a caller's record lies above. */
                if (fp == 0 || fp % 16 != 0)
                        break;
                if (vmcore_read_virt(c, fp, record, sizeof(record)) < 0)
                        break;
                ret = strip_pac(c, le64toh(record[1]));
                if (lr_pending) {
                        lr_pending = false;
                        if (lr != ret) {
                                frames[n++] = (VmcoreFrame){ lr, VMCORE_FRAME_LR };
                                if (n >= max)
                                        break;
                        }
                }
                /* The last record, in the pt_regs of the task's entry from user space, is zeroed. */
                if (ret == 0)
                        break;
                frames[n++] = (VmcoreFrame){ ret, VMCORE_FRAME_RECORD };
                fp = le64toh(record[0]);
                if (fp <= prev)
                        break;
        }
        if (lr_pending && n < max)
                frames[n++] = (VmcoreFrame){ lr, VMCORE_FRAME_LR };

        *ret_n = n;
        return 0;
}

typedef struct View {
        Elf64_Phdr *phdrs;
        size_t n;
        size_t max;
        unsigned tables_left;
        unsigned tables_read;
        /* The mapping being extended while it stays contiguous in both address spaces. */
        uint64_t run_va;
        uint64_t run_pa;
        uint64_t run_size;
} View;

/* PT_LOADs for va mapping [pa, pa + size): the parts that are in the dump. */
static int view_add(const Vmcore *c, View *v, uint64_t va, uint64_t pa, uint64_t size) {
        uint64_t end = pa + size;

        for (size_t i = ram_lookup(c, pa); i < c->n_ram && c->ram[i].pa < end; i++) {
                const RamRange *r = &c->ram[i];
                uint64_t from = MAX(pa, r->pa), to = MIN(end, r->pa + r->size);

                if (v->n >= v->max)
                        return -E2BIG;
                v->phdrs[v->n++] = (Elf64_Phdr){
                        .p_type = PT_LOAD,
                        .p_flags = PF_R | PF_W | PF_X,
                        .p_offset = r->offset + (from - r->pa),
                        .p_vaddr = va + (from - pa),
                        .p_paddr = from,
                        .p_filesz = to - from,
                        .p_memsz = to - from,
                };
        }
        return 0;
}

static int view_flush(const Vmcore *c, View *v) {
        int r = 0;

        if (v->run_size > 0)
                r = view_add(c, v, v->run_va, v->run_pa, v->run_size);
        v->run_size = 0;
        return r;
}

static int view_add_mapping(const Vmcore *c, View *v, uint64_t va, uint64_t pa, uint64_t size) {
        int r;

        if (v->run_size > 0 && va == v->run_va + v->run_size && pa == v->run_pa + v->run_size) {
                v->run_size += size;
                return 0;
        }
        r = view_flush(c, v);
        if (r < 0)
                return r;
        v->run_va = va;
        v->run_pa = pa;
        v->run_size = size;
        return 0;
}

/* Every mapping of the table at pa and below, in address order, but the linear map's. */
static int view_walk(const Vmcore *c, View *v, uint64_t pa, unsigned level, uint64_t va_base) {
        uint64_t table[512];
        size_t n = level_entries(c->va_bits, level);
        unsigned shift = level_shift(level);
        int r;

        if (v->tables_left == 0)
                return -E2BIG;
        v->tables_left--;
        if (vmcore_read_phys(c, pa, table, n * sizeof(uint64_t)) < 0)
                return 0; /* what it maps is not in the dump either, most likely */
        v->tables_read++;

        for (size_t i = 0; i < n; i++) {
                uint64_t va = va_base + ((uint64_t) i << shift), size = UINT64_C(1) << shift, address;

                if (va + (size - 1) < c->page_end)
                        continue;
                r = descriptor_decode(le64toh(table[i]), level, &address);
                if (r == DESC_TABLE)
                        r = view_walk(c, v, address, level + 1, va);
                else if (r == DESC_MAPPING)
                        r = view_add_mapping(c, v, va, address, size);
                else
                        r = 0; /* not mapped, or malformed: nothing to show */
                if (r < 0)
                        return r;
        }
        return 0;
}

static int view_build(const Vmcore *c, View *v) {
        uint64_t span = c->page_end - c->page_offset;
        int r;

        for (size_t i = 0; i < c->n_ram; i++) {
                const RamRange *ram = &c->ram[i];
                uint64_t linear = ram->pa - c->phys_offset;

                if (linear >= span)
                        continue;
                r = view_add(c, v, c->page_offset + linear, ram->pa, MIN(ram->size, span - linear));
                if (r < 0)
                        return r;
        }

        if (c->have_tables) {
                uint64_t pages = 0;

                for (size_t i = 0; i < c->n_ram; i++)
                        pages += c->ram[i].size / PAGE_SIZE;
                v->tables_left = (unsigned) MIN(pages, WALK_TABLES_MAX);
                r = view_walk(c, v, c->tables_pa, start_level(c->va_bits), -(UINT64_C(1) << c->va_bits));
                if (r >= 0)
                        r = view_flush(c, v);
                if (r < 0)
                        return r;
        }
        if (v->tables_read == 0 && c->kimage_start != 0)
                return view_add(c, v, c->kimage_start, c->kimage_start - c->kimage_voffset, KIMAGE_WINDOW);
        return 0;
}

int vmcore_write_kernel_view(Vmcore *c, int fd) {
        _cleanup_free_ Elf64_Phdr *phdrs = NULL;
        Elf64_Ehdr ehdr;
        uint64_t offset, size, table_end;
        bool truncate;
        struct stat st;
        View v;
        int r;

        assert(c);
        assert(fd >= 0);

        if (!c->have_layout)
                return -ENODATA;

        phdrs = calloc(VMCORE_PHDRS_MAX, sizeof(Elf64_Phdr));
        if (!phdrs)
                return -ENOMEM;
        memcpy(phdrs, c->notes, c->n_notes * sizeof(Elf64_Phdr));
        v = (View){ .phdrs = phdrs, .n = c->n_notes, .max = VMCORE_PHDRS_MAX };
        r = view_build(c, &v);
        if (r < 0 && r != -E2BIG)
                return r;
        /* Too many mappings (or page tables) for one view: the linear map and the lowest of the rest. */
        size = v.n * sizeof(Elf64_Phdr);

        if (fstat(fd, &st) < 0)
                return -errno;

        /* The table goes after all data. If the file was converted before, the table in use lies there:
         * the new one goes before it if it fits, and then the file ends after it, or else after the old
         * one, so that the file is always valid and does not grow with each conversion. */
        table_end = c->phoff + c->phnum * sizeof(Elf64_Phdr);
        truncate = c->phoff >= c->data_end && align8(c->data_end) + size <= c->phoff;
        offset = truncate ? align8(c->data_end) : align8((uint64_t) st.st_size);
        truncate = truncate && table_end == (uint64_t) st.st_size;

        r = pwrite_full(fd, phdrs, size, offset);
        if (r < 0)
                return r;

        ehdr = c->ehdr;
        ehdr.e_phoff = offset;
        ehdr.e_phnum = (uint16_t) v.n;
        r = pwrite_full(fd, &ehdr, sizeof(ehdr), 0);
        if (r < 0)
                return r;
        c->ehdr = ehdr;
        c->phoff = offset;
        c->phnum = v.n;

        if (truncate && ftruncate(fd, (off_t) (offset + size)) < 0)
                return -errno;
        return 0;
}
