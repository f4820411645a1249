/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SHA-256 against the FIPS 180-2 vectors, padding boundaries, chunked input, files and hex. */
#include <assert.h>
#include <fcntl.h>

#include "sha256.h"

static void check(const void *data, size_t n, const char *expected) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[SHA256_HEX_SIZE];

        sha256(data, n, d);
        if (!streq(sha256_to_hex(d, hex), expected)) {
                fprintf(stderr, "sha256 of %zu bytes: expected %s, got %s\n", n, expected, hex);
                abort();
        }
}

static void test_fips_180_2(void) {
        _cleanup_free_ char *million = NULL;
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[SHA256_HEX_SIZE];
        Sha256 s;

        check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
              56,
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

        million = malloc(1000000);
        assert(million);
        memset(million, 'a', 1000000);
        check(million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

        /* The same million, fed in uneven pieces. */
        sha256_init(&s);
        for (size_t done = 0, step = 1; done < 1000000; step = step % 191 + 1) {
                size_t k = MIN(step, 1000000 - done);

                sha256_update(&s, million + done, k);
                done += k;
        }
        sha256_final(&s, d);
        assert(streq(
                sha256_to_hex(d, hex), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

static void test_padding_boundaries(void) {
        /* Lengths around the 56-byte padding limit and the 64-byte block (from Python's hashlib). */
        static const struct {
                size_t n;
                const char *hex;
        } v[] = {
                { 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
                { 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
                { 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
                { 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
                { 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
                { 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
                { 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
        };
        char a[128];

        memset(a, 'a', sizeof(a));
        for (size_t i = 0; i < ELEMENTSOF(v); i++)
                check(a, v[i].n, v[i].hex);
}

static void test_fd(void) {
        char path[] = "/tmp/test-sha256-XXXXXX";
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *data = NULL;
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[SHA256_HEX_SIZE];
        uint64_t size = 0;

        /* 200000 bytes: three full 64 KiB reads and a partial one. */
        data = malloc(200000);
        assert(data);
        for (size_t i = 0; i < 200000; i++)
                data[i] = (uint8_t) (i * 7 + 3);
        fd = mkostemp(path, O_CLOEXEC);
        assert(fd >= 0);
        assert(unlink(path) == 0);
        assert(write(fd, data, 200000) == 200000);
        assert(lseek(fd, 0, SEEK_SET) == 0);

        assert(sha256_fd(fd, d, &size) == 0);
        assert(size == 200000);
        assert(streq(
                sha256_to_hex(d, hex), "ec0ebf98b6f2954bf0f7b839402b1ba245996c39d18e155414e91a2b4353c157"));

        /* At the end of the file there is nothing left to hash. */
        assert(sha256_fd(fd, d, NULL) == 0);
        assert(streq(
                sha256_to_hex(d, hex), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));

        assert(sha256_fd(-EBADF, d, &size) == -EBADF);
        assert(size == 200000); /* untouched on failure */
}

static void test_hex(void) {
        static const char abc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        uint8_t d[SHA256_DIGEST_SIZE], e[SHA256_DIGEST_SIZE];
        char hex[SHA256_HEX_SIZE];

        assert(sha256_from_hex(abc, d) == 0);
        assert(d[0] == 0xba && d[1] == 0x78 && d[31] == 0xad);
        assert(streq(sha256_to_hex(d, hex), abc));
        sha256("abc", 3, e);
        assert(memcmp(d, e, sizeof(d)) == 0);

        assert(sha256_from_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", e) == 0);
        assert(memcmp(d, e, sizeof(d)) == 0);

        memset(e, 0x55, sizeof(e));
        assert(sha256_from_hex("", e) == -EINVAL);
        assert(sha256_from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a", e) ==
               -EINVAL);
        assert(sha256_from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0", e) ==
               -EINVAL);
        assert(sha256_from_hex("ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", e) ==
               -EINVAL);
        assert(sha256_from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a ", e) ==
               -EINVAL);
        assert(sha256_from_hex("0xa816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", e) ==
               -EINVAL);
        for (size_t i = 0; i < sizeof(e); i++)
                assert(e[i] == 0x55); /* untouched on failure */
}

int main(void) {
        test_fips_180_2();
        test_padding_boundaries();
        test_fd();
        test_hex();
        return 0;
}
