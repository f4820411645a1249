/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the qcow2 snapshot table reader (qcow2.h) with whole files: it reads a disk file that vmmd did not
 * write byte by byte, so no file may crash it, make it read past what it checked, or give a name with NUL. */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
        Qcow2Snapshot *s = NULL;
        size_t n = 0;
        int r;

        fuzz_check(fd >= 0);
        fuzz_check(write(fd, data, size) == (ssize_t) size);

        r = qcow2_read_snapshots(fd, &s, &n);
        fuzz_check(r == 0 || r == -EBADMSG || r == -ENOMEM, "unexpected error %d", r);
        if (r < 0) {
                fuzz_check(!s && n == 0);
                return 0;
        }
        fuzz_check(n <= 65536);
        fuzz_check((n == 0) == !s);
        for (size_t i = 0; i < n; i++) {
                /* Every entry is at least 40 bytes of the file, and its name lies within it. */
                fuzz_check(s[i].name);
                fuzz_check(strlen(s[i].name) < size);
                fuzz_check(qcow2_snapshot_find(s, n, s[i].name));
        }
        fuzz_check(n * 40 < size);
        qcow2_snapshots_free(s, n);
        return 0;
}
