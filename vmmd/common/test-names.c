/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Name rules: what vmmd and vmctl accept and reject. */
#include <assert.h>

#include "names.h"

static void test_valid(void) {
        assert(vm_name_is_valid("work"));
        assert(vm_name_is_valid("throwaway-3fa9c1"));
        assert(vm_name_is_valid("Arbeit_2.0"));
        assert(vm_name_is_valid("Büro"));
        assert(vm_name_is_valid("a..b")); /* only whole-component ".." is dangerous, and '.' cannot lead */
        assert(vm_name_is_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

static void test_invalid(void) {
        assert(streq(vm_name_invalid_reason(""), "is empty"));
        assert(streq(vm_name_invalid_reason(NULL), "is empty"));
        assert(streq(vm_name_invalid_reason("a/b"), "contains '/'"));
        assert(streq(vm_name_invalid_reason(".."), "starts with '.'"));
        assert(streq(vm_name_invalid_reason(".hidden"), "starts with '.'"));
        assert(streq(vm_name_invalid_reason("-rf"), "starts with '-'"));
        assert(streq(vm_name_invalid_reason("a\nb"), "contains a control character"));
        assert(streq(vm_name_invalid_reason("a\x7f"), "contains a control character"));
        assert(streq(vm_name_invalid_reason("a\xc2\x85"), "contains a control character"));
        assert(streq(vm_name_invalid_reason("a\xff"), "is not valid UTF-8"));
        assert(streq(vm_name_invalid_reason("\xc0\xaf"), "is not valid UTF-8"));     /* overlong '/' */
        assert(streq(vm_name_invalid_reason("\xed\xa0\x80"), "is not valid UTF-8")); /* surrogate */
        assert(streq(vm_name_invalid_reason("a,b"), "contains ','"));
        assert(streq(vm_name_invalid_reason("a b"), "contains a space, quote or backslash"));
        assert(streq(
                vm_name_invalid_reason("01234567890123456789012345678901234567890123456789012345678901234"),
                "is longer than 64 bytes"));
}

static void test_printable(void) {
        _cleanup_free_ char *a = utf8_printable("QEMU said \x1b[31mno\x1b[0m", 100);
        _cleanup_free_ char *b = utf8_printable("B\xc3\xbcro", 2); /* "Bü" would be 3 bytes */
        _cleanup_free_ char *c = utf8_printable("x\xffy\xe2\x82", 100);
        _cleanup_free_ char *d = utf8_printable("Büro", 100);

        assert(streq(a, "QEMU said ?[31mno?[0m"));
        assert(streq(b, "B"));
        assert(streq(c, "x?y??"));
        assert(streq(d, "Büro"));
        assert(utf8_is_valid(c));
}

static void test_snapshot_names(void) {
        assert(!snapshot_name_invalid_reason("snap-1"));
        assert(!snapshot_name_invalid_reason("before-update"));
        assert(!snapshot_name_invalid_reason("1a"));
        assert(streq(
                snapshot_name_invalid_reason("12"), "is all digits (QEMU would take it for a snapshot ID)"));
        assert(streq(
                snapshot_name_invalid_reason("0"), "is all digits (QEMU would take it for a snapshot ID)"));
        assert(streq(snapshot_name_invalid_reason(""), "is empty"));
        assert(streq(snapshot_name_invalid_reason("-d"), "starts with '-'"));
        assert(streq(snapshot_name_invalid_reason("a,b"), "contains ','"));
}

int main(void) {
        test_printable();
        test_snapshot_names();
        test_valid();
        test_invalid();
        return 0;
}
