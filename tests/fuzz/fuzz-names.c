/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the VM name rules against a second, independent implementation of them (names.h). */
#include "fuzz.h"
#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes one UTF-8 sequence by the ranges of Unicode's table 3-7 (well-formed byte sequences), a different
 * method from names.c's decode-then-range-check. Returns the length and the code point, or 0. */
static int decode_by_table(const unsigned char *s, uint32_t *ret_cp) {
        unsigned char lo = 0x80, hi = 0xbf;
        int len;

        if (s[0] < 0x80) {
                *ret_cp = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2;
        else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                len = 3;
                if (s[0] == 0xe0)
                        lo = 0xa0;
                else if (s[0] == 0xed)
                        hi = 0x9f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4;
                if (s[0] == 0xf0)
                        lo = 0x90;
                else if (s[0] == 0xf4)
                        hi = 0x8f;
        } else
                return 0;

        *ret_cp = s[0] & (0xff >> (len + 1));
        for (int i = 1; i < len; i++) {
                if (s[i] < lo || s[i] > hi)
                        return 0;
                lo = 0x80, hi = 0xbf; /* only the second byte has a narrower range */
                *ret_cp = (*ret_cp << 6) | (s[i] & 0x3f);
        }
        return len;
}

/* The rules of names.h, stated once more: NULL when valid. */
static const char *expected_reason(const char *name) {
        size_t n = strlen(name);
        const unsigned char *p;

        if (n == 0)
                return "is empty";
        if (n > VM_NAME_MAX)
                return "is longer than 64 bytes";
        for (p = (const unsigned char *) name; *p;) {
                uint32_t cp;
                int k = decode_by_table(p, &cp);

                if (k == 0)
                        return "is not valid UTF-8";
                p += k;
        }
        if (name[0] == '.')
                return "starts with '.'";
        if (name[0] == '-')
                return "starts with '-'";
        for (p = (const unsigned char *) name; *p;) {
                uint32_t cp;

                p += decode_by_table(p, &cp);
                if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
                        return "contains a control character";
                if (cp == '/')
                        return "contains '/'";
                if (cp == ',')
                        return "contains ','";
                if (cp == ' ' || cp == '\\' || cp == '\'' || cp == '"')
                        return "contains a space, quote or backslash";
        }
        return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *name = fuzz_strndup(data, size);
        const char *reason, *expected;
        bool valid_utf8 = true;

        /* utf8_decode() agrees with the table at every position, in length and code point. */
        for (const char *p = name; *p;) {
                uint32_t cp = UINT32_MAX, cp_table = UINT32_MAX;
                int n = utf8_decode(p, &cp);
                int n_table = decode_by_table((const unsigned char *) p, &cp_table);

                if (n_table == 0) {
                        fuzz_check(
                                n == -EINVAL,
                                "utf8_decode() accepted an ill-formed sequence at offset %zu",
                                (size_t) (p - name));
                        valid_utf8 = false;
                        break;
                }
                fuzz_check(n == n_table, "offset %zu: length %d, expected %d", (size_t) (p - name), n, n_table);
                fuzz_check(
                        cp == cp_table, "offset %zu: U+%04X, expected U+%04X", (size_t) (p - name), cp, cp_table);
                p += n;
        }
        fuzz_check(utf8_is_valid(name) == valid_utf8);

        reason = vm_name_invalid_reason(name);
        expected = expected_reason(name);
        /* Both directions: every accepted name keeps every rule, every rejected one breaks the rule named. */
        fuzz_check(
                streq_ptr(reason, expected), "\"%s\" is %s, expected %s", name, strna(reason), strna(expected));
        fuzz_check(vm_name_is_valid(name) == !reason);

        if (!reason) {
                /* The properties that make a valid name safe as a path component and in a QEMU -name. */
                fuzz_check(strlen(name) >= 1 && strlen(name) <= VM_NAME_MAX);
                fuzz_check(!strchr(name, '/'));
                fuzz_check(!strchr(name, ','));
                fuzz_check(name[0] != '.' && name[0] != '-');
                fuzz_check(!streq(name, ".") && !streq(name, ".."));
                for (const char *p = name; *p; p++)
                        fuzz_check((unsigned char) *p >= 0x20 && *p != 0x7f);
        }
        return 0;
}
