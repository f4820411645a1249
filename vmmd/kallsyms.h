/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest kernel's symbol table, decoded from its own kallsyms tables in a memory dump (Debian ships no
 * System.map, and its debug info is an 800 MB package): names for backtraces, and an ELF symbol file for
 * gdb. Kernel 6.1's layout (base-relative offsets, 1- or 2-byte name lengths). */
#pragma once

#include "util.h"
#include "vmcore.h"

#define KALLSYMS_SYMBOLS_MAX 1000000U
#define KALLSYMS_NAME_MAX 511U /* KSYM_NAME_LEN - 1 */

typedef struct Kallsyms Kallsyms;

typedef struct KallsymsSymbol {
        const char *name; /* printable ASCII */
        uint64_t address;
        uint64_t size; /* to the next higher address; 0 for the last */
        char type;     /* as nm prints it: t, T, d, W, ... */
} KallsymsSymbol;

/* Decodes the tables that the vmcoreinfo's SYMBOL(kallsyms_*) lines point to. -ENODATA: the vmcoreinfo
 * lacks them; -EFAULT: they are not in the dump; -EBADMSG: damaged (an index out of its table, a name too
 * long or not printable); -E2BIG: more than KALLSYMS_SYMBOLS_MAX. */
int kallsyms_read(const Vmcore *c, Kallsyms **ret);
Kallsyms *kallsyms_free(Kallsyms *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(Kallsyms *, kallsyms_free);

/* In address order; aliases (one address, several names) in the kernel's order. */
size_t kallsyms_n_symbols(const Kallsyms *k);
const KallsymsSymbol *kallsyms_symbol(const Kallsyms *k, size_t i);

/* The symbol whose [address, address + size) holds address (the first of its aliases), or NULL: below the
 * first symbol, or past the last one's address. */
const KallsymsSymbol *kallsyms_lookup(const Kallsyms *k, uint64_t address);

/* vmcore_unwind(), less the x30 frame where x30 lies in the pc's own function: there it is where that
 * function last returned to, not its caller. k may be NULL (the tables could not be read): then it is
 * vmcore_unwind(). */
int kallsyms_unwind(
        const Kallsyms *k, const Vmcore *c, size_t cpu, VmcoreFrame *frames, size_t max, size_t *ret_n);

/* The vCPU that crashed: the first whose backtrace passes through panic(), die() or __die(). -ENOENT:
 * none does. */
int kallsyms_find_crashed_cpu(const Kallsyms *k, const Vmcore *c, size_t *ret_cpu);

/* One backtrace line: "#3  0xffffc1420fe2b1c4 sysrq_handle_crash+0x28/0x28", the address alone where no
 * symbol covers it (or k is NULL). A return address is looked up at its call instruction (4 bytes before):
 * after a call to a function that does not return, it lies past the end of the caller. A frame taken from
 * x30 ends in " (lr)": the caller of a function without a frame record, or where it last returned to. */
#define KALLSYMS_FRAME_LINE_MAX (96 + KALLSYMS_NAME_MAX)
const char *kallsyms_format_frame(
        const Kallsyms *k, size_t index, const VmcoreFrame *f, char buf[static KALLSYMS_FRAME_LINE_MAX]);

/* Writes an ELF64 AArch64 symbol file into the empty file fd for gdb's symbol-file/add-symbol-file: .symtab
 * with every symbol (STT_FUNC for text, STT_OBJECT for the rest, sized to the next symbol, global for
 * upper-case types, weak for w/W/v/V) in a SHT_NOBITS .text that spans them, so that gdb reads code from the
 * core, and a .debug_frame that unwinds by frame records, as the kernel does: gdb's own prologue analysis
 * gives up at the first instruction it does not know (the stack protector's mrs x4, sp_el0), and then finds
 * the same caller again and again. One entry per function; with c, where its code is in the dump, its first
 * instructions up to its "mov x29, sp" return through x30, and the functions that vCPUs were stopped in
 * before pushing a frame record (where kallsyms_unwind() takes x30) do so all along. A return address that
 * pointer authentication signed gets its bits back (KERNELPACMASK). */
int kallsyms_write_elf(const Kallsyms *k, const Vmcore *c, int fd);
