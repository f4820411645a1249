/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An arm64 guest's memory dump as QEMU's dump-guest-memory writes it (ELF core, physical addresses):
 * its vmcoreinfo, the vCPUs' registers, reads at kernel virtual addresses, frame-pointer backtraces, and
 * a second set of program headers that lets gdb read it at kernel virtual addresses. Everything in the
 * file is the guest's (or its VMM's) word: every size and offset is checked, it is read with pread() only,
 * never mapped, and never past its end. */
#pragma once

#include "util.h"

/* Limits on what a file can make us allocate. A kernel view written here always fits VMCORE_PHDRS_MAX,
 * so that it opens again. */
#define VMCORE_PHDRS_MAX 8192U
#define VMCORE_NOTES_MAX (1024U * 1024U)
#define VMCORE_CPUS_MAX 512U
/* Enough frames for any kernel backtrace a person reads; where to cut a garbage one. */
#define VMCORE_FRAMES_MAX 64U

typedef struct Vmcore Vmcore;

/* NT_PRSTATUS of one vCPU (struct user_pt_regs). */
typedef struct VmcoreCpu {
        uint32_t pid; /* QEMU: the vCPU's index + 1 */
        uint64_t regs[31];
        uint64_t sp;
        uint64_t pc;
        uint64_t pstate;
} VmcoreCpu;

typedef enum VmcoreFrameKind {
        VMCORE_FRAME_PC,     /* the vCPU's pc: the instruction it was at */
        VMCORE_FRAME_LR,     /* x30: where a function without a frame record of its own returns to */
        VMCORE_FRAME_RECORD, /* a return address from a frame record */
        _VMCORE_FRAME_KIND_MAX,
        _VMCORE_FRAME_KIND_INVALID = -EINVAL,
} VmcoreFrameKind;

/* "pc", "lr", "record" */
const char *vmcore_frame_kind_to_string(VmcoreFrameKind k);
VmcoreFrameKind vmcore_frame_kind_from_string(const char *s);

typedef struct VmcoreFrame {
        uint64_t pc; /* pointer authentication bits stripped */
        VmcoreFrameKind kind;
} VmcoreFrame;

/* Reads the headers, notes and registers of the core open at fd, which stays the caller's and must stay
 * open while the Vmcore is used. -EBADMSG: not an ELF file or a damaged one; -EPROTONOSUPPORT: an ELF
 * file but not a little-endian AArch64 core; -E2BIG: beyond the limits above; -EBADFD: fd is not a
 * regular file. A dump of only part of RAM
 * (QMP's begin/length) opens: reads outside it fail with -EFAULT. So does one cut short: its data ends
 * at the end of the file. */
int vmcore_open(int fd, Vmcore **ret);
Vmcore *vmcore_free(Vmcore *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Vmcore *, vmcore_free);

/* The value of a vmcoreinfo line "KEY=VALUE", or NULL (no such key, or no vmcoreinfo in the dump). */
const char *vmcore_info(const Vmcore *c, const char *key);
/* The same as a number: SYMBOL(...) and KERNELOFFSET are hex without 0x, everything else decimal or 0x
 * hex, possibly negative (two's complement). -ENOENT: no such key; -EINVAL: not a number. */
int vmcore_info_u64(const Vmcore *c, const char *key, uint64_t *ret);

size_t vmcore_n_cpus(const Vmcore *c);
const VmcoreCpu *vmcore_cpu(const Vmcore *c, size_t i);

/* Guest memory: -EFAULT when any byte of it is not in the dump (or the address is not mapped). Virtual
 * addresses are the kernel's (TTBR1 half): the linear map by formula, the rest through the kernel's page
 * tables (swapper_pg_dir, 4 KiB granule), the kernel image by kimage_voffset when those tables cannot be
 * read. -ENODATA: the dump's vmcoreinfo lacks what translation needs (or describes a layout other than
 * 4 KiB pages and VA_BITS <= 48). */
int vmcore_read_phys(const Vmcore *c, uint64_t pa, void *buf, size_t size);
int vmcore_read_virt(const Vmcore *c, uint64_t va, void *buf, size_t size);
int vmcore_translate(const Vmcore *c, uint64_t va, uint64_t *ret_pa);

/* The backtrace of vCPU cpu, as the kernel unwinds from pt_regs: its pc, then the return addresses of the
 * frame records from x29 on, with x30 in between when it is not the first record's return address (the pc
 * was in a function that had not pushed a record, such as the PSCI call the panicking vCPU stops in).
 * Return addresses lose their pointer authentication code (NUMBER(KERNELPACMASK)). It ends at a null,
 * misaligned (16) or not strictly increasing frame pointer, an unreadable record, a null return address or
 * after max frames; ret_n is at least 1. */
int vmcore_unwind(const Vmcore *c, size_t cpu, VmcoreFrame *frames, size_t max, size_t *ret_n);

/* Makes the dump open in gdb at kernel virtual addresses, copying no memory: appends a program header
 * table (its notes, one PT_LOAD per RAM range at its linear map address, and one per run of the kernel's
 * page tables outside the linear map that is contiguous in both address spaces and in the dump, p_paddr
 * kept), then points the ELF header at it. fd is the same file opened for writing. The ELF header is
 * written last, so a failure or a crash before leaves the file as it was; converting a converted file
 * again gives the same view and leaves at most two tables behind. Where the page tables cannot be read,
 * the kernel image is mapped by kimage_voffset as in vmcore_read_virt(). A view of more mappings than
 * VMCORE_PHDRS_MAX holds is cut (the linear map first, then in address order). -ENODATA: no kernel
 * layout in the vmcoreinfo. */
int vmcore_write_kernel_view(Vmcore *c, int fd);
