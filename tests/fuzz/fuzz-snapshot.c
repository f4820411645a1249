/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the reader of vmm-hv's snapshot files (snapshot.h) with whole files: a clone starts from a file
 * that a guest's VMM wrote, so no file may crash it or make it read a section past what it checked. A
 * delta's section of pages, once accepted, fits its RAM, and its pages are read as a restore reads them. */
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
        fuzz_check(!snapshot_id_is_null(&s.header.id));
        fuzz_check(snapshot_is_delta(&s) == !snapshot_id_is_null(&s.header.base_id));
        if (snapshot_is_delta(&s)) {
                const SnapshotPages *pages = &s.pages;
                size_t words = (pages->n_pages + 63) / 64;
                _cleanup_free_ uint8_t *ram = malloc(s.header.ram_size);

                fuzz_check(
                        pages->page_size >= 4096 && pages->page_size <= SNAPSHOT_RAM_ALIGN &&
                        (pages->page_size & (pages->page_size - 1)) == 0);
                fuzz_check(pages->n_pages * pages->page_size == s.header.ram_size);
                fuzz_check(
                        (const uint8_t *) pages->bitmap >= s.state &&
                        (const uint8_t *) (pages->bitmap + words) <= s.state + s.header.state_size);
                fuzz_check(pages->n_pages % 64 == 0 || pages->bitmap[words - 1] >> (pages->n_pages % 64) == 0);
                fuzz_check(ram);
                fuzz_check(snapshot_read_pages(fd, &s, ram) == 0);
                for (uint64_t i = 0; i < pages->n_pages; i++)
                        if (pages->bitmap[i / 64] & (1ull << (i % 64)))
                                fuzz_check(
                                        memcmp(ram + i * pages->page_size,
                                               data + s.header.ram_offset + i * pages->page_size,
                                               pages->page_size) == 0);
        }
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
