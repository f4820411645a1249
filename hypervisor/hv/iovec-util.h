/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Scatter-gather lists: parts of them, as the disk and virtio-blk pass guest buffers to preadv/pwritev. */
#pragma once

#include <stdint.h>
#include <sys/uio.h>

#include "util.h"

/* The bytes [skip, skip + len) of the n buffers of iov as buffers of their own in ret (at most n of them,
 * none empty): how many. Fewer bytes if iov ends first. */
static inline unsigned
        iovec_slice(const struct iovec *iov, unsigned n, uint64_t skip, uint64_t len, struct iovec *ret) {
        unsigned k = 0;

        for (unsigned i = 0; i < n && len > 0; i++) {
                uint64_t l = iov[i].iov_len;

                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                l = MIN(l - skip, len);
                ret[k++] = (struct iovec){ (uint8_t *) iov[i].iov_base + skip, (size_t) l };
                len -= l;
                skip = 0;
        }
        return k;
}
