/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SHA-256 (FIPS 180-4), small and dependency-free, for verifying image files. */
#pragma once

#include "util.h"

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE (SHA256_DIGEST_SIZE * 2 + 1) /* with the terminating NUL */

typedef struct Sha256 {
        uint32_t state[8];
        uint64_t length; /* bytes hashed so far */
        uint8_t buffer[64];
        size_t buffered;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
/* Writes the digest; s must be initialised again before it is reused. */
void sha256_final(Sha256 *s, uint8_t ret[static SHA256_DIGEST_SIZE]);

void sha256(const void *data, size_t n, uint8_t ret[static SHA256_DIGEST_SIZE]);

/* Hashes everything from fd's current offset to its end, reading 64 KiB at a time.
 * ret_size (may be NULL) gets the number of bytes hashed. */
int sha256_fd(int fd, uint8_t ret[static SHA256_DIGEST_SIZE], uint64_t *ret_size);

/* Lower-case hex of a digest, NUL-terminated; returns ret. */
char *sha256_to_hex(const uint8_t digest[static SHA256_DIGEST_SIZE], char ret[static SHA256_HEX_SIZE]);
/* Parses exactly 64 hex digits (either case); -EINVAL otherwise. */
int sha256_from_hex(const char *s, uint8_t ret[static SHA256_DIGEST_SIZE]);
