/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the reader of vmm-hv's snapshot files (snapshot.h) with whole files: a clone starts from a file
 * that a guest's VMM wrote, so no file may crash it or make it read a section past what it checked. */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int fd = memfd_create("fuzz-snapshot", MFD_CLOEXEC);
        Snapshot s = {};
        int r;

        fuzz_check(fd >= 0);
        fuzz_check(write(fd, data, size) == (ssize_t) size);
        r = snapshot_read(fd, &s);
        fuzz_check(r == 0 || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENOMEM, "unexpected error %d", r);
        if (r < 0)
                return 0;
        /* What was accepted adds up: state and RAM inside the file, every section inside the state. */
        fuzz_check(s.header.state_offset + s.header.state_size <= s.header.ram_offset);
        fuzz_check(s.header.ram_offset + s.header.ram_size <= size);
        for (uint32_t tag = 1; tag < _SNAPSHOT_TAG_MAX; tag++)
                for (uint64_t index = 0; index < 4; index++) {
                        size_t n;
                        const uint8_t *p = snapshot_find(&s, tag, index, &n);

                        if (!p)
                                continue;
                        fuzz_check(p >= s.state && p + n <= s.state + s.header.state_size);
                        /* Reading it all must be fine under ASan. */
                        volatile uint8_t sum = 0;
                        for (size_t i = 0; i < n; i++)
                                sum ^= p[i];
                        (void) sum;
                }
        snapshot_done(&s);
        return 0;
}
