/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the crash dump reader (vmcore.h, kallsyms.h) with whole ELF cores: the guest wrote every byte of
 * its memory and the VMM its headers, so no dump may crash it, make it loop or read past what it checked,
 * and what it decodes keeps its promises (sorted printable symbols, bounded backtraces, a kernel view that
 * opens again). */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "kallsyms.h"
#include "vmcore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_symbols(const Kallsyms *k) {
        size_t n = kallsyms_n_symbols(k);

        fuzz_check(n > 0 && n <= KALLSYMS_SYMBOLS_MAX);
        for (size_t i = 0; i < n; i++) {
                const KallsymsSymbol *s = kallsyms_symbol(k, i), *found;

                fuzz_check(strlen(s->name) > 0 && strlen(s->name) <= KALLSYMS_NAME_MAX);
                fuzz_check_text("symbol name", s->name);
                if (i > 0)
                        fuzz_check(kallsyms_symbol(k, i - 1)->address <= s->address, "not sorted at %zu", i);
                found = kallsyms_lookup(k, s->address);
                fuzz_check(found && found->address == s->address);
        }
        fuzz_check(!kallsyms_lookup(k, kallsyms_symbol(k, n - 1)->address + 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int fd = memfd_create("fuzz-vmcore", MFD_CLOEXEC), sfd = -EBADF;
        _cleanup_(vmcore_freep) Vmcore *c = NULL, *again = NULL;
        _cleanup_(kallsyms_freep) Kallsyms *k = NULL;
        VmcoreFrame frames[VMCORE_FRAMES_MAX];
        char line[KALLSYMS_FRAME_LINE_MAX];
        uint64_t v;
        size_t n, cpu;
        int r;

        fuzz_check(fd >= 0);
        fuzz_check(write(fd, data, size) == (ssize_t) size);

        r = vmcore_open(fd, &c);
        fuzz_check(IN_SET(r, 0, -EBADMSG, -EPROTONOSUPPORT, -E2BIG, -ENOMEM), "unexpected error %d", r);
        if (r < 0) {
                fuzz_check(!c);
                return 0;
        }
        fuzz_check(vmcore_n_cpus(c) <= VMCORE_CPUS_MAX);
        if (vmcore_info(c, "OSRELEASE"))
                fuzz_check(strlen(vmcore_info(c, "OSRELEASE")) < size);
        (void) vmcore_info_u64(c, "NUMBER(VA_BITS)", &v);
        (void) vmcore_info_u64(c, "SYMBOL(_stext)", &v);

        r = kallsyms_read(c, &k);
        fuzz_check(IN_SET(r, 0, -ENODATA, -EFAULT, -EBADMSG, -E2BIG, -ENOMEM), "unexpected error %d", r);
        fuzz_check((r == 0) == !!k);
        if (k)
                check_symbols(k);

        for (size_t i = 0; i < vmcore_n_cpus(c); i++) {
                fuzz_check(kallsyms_unwind(k, c, i, frames, ELEMENTSOF(frames), &n) == 0);
                fuzz_check(n >= 1 && n <= ELEMENTSOF(frames));
                fuzz_check(frames[0].pc == vmcore_cpu(c, i)->pc && frames[0].kind == VMCORE_FRAME_PC);
                for (size_t j = 0; j < n; j++)
                        fuzz_check(strlen(kallsyms_format_frame(k, j, &frames[j], line)) < sizeof(line));
        }
        if (k) {
                if (kallsyms_find_crashed_cpu(k, c, &cpu) >= 0)
                        fuzz_check(cpu < vmcore_n_cpus(c));
                sfd = memfd_create("fuzz-vmcore-symbols", MFD_CLOEXEC);
                fuzz_check(sfd >= 0);
                fuzz_check(kallsyms_write_elf(k, c, sfd) == 0);
        }

        r = vmcore_write_kernel_view(c, fd);
        fuzz_check(IN_SET(r, 0, -ENODATA), "unexpected error %d", r);
        if (r == 0) {
                r = vmcore_open(fd, &again);
                fuzz_check(r == 0, "the kernel view does not open: %d", r);
                fuzz_check(vmcore_n_cpus(again) == vmcore_n_cpus(c));
        }
        return 0;
}
