/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl's output: table layout, escaping, sizes, timestamps, JSON. */
#include <assert.h>
#include <locale.h>
#include <time.h>

#include "output.h"

/* Runs print(arg) into a memory buffer and compares what it wrote with expected. */
static void assert_table(const Table *t, bool header, const char *expected) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert(f);
        assert(table_print(t, f, header) == 0);
        assert(fclose(f) == 0);
        if (!streq(buf, expected)) {
                fprintf(stderr, "got:\n%s\nexpected:\n%s\n", buf, expected);
                assert(false);
        }
}

static void test_table(void) {
        _cleanup_table_free_ Table *t = table_new(3, (const char *[]){ "NAME", "STATE", "MEMORY" });

        assert(t);
        assert(table_get_rows(t) == 0);
        assert(table_add_row(t, (const char *[]){ "work", "running", "2G" }) == 0);
        assert(table_add_row(t, (const char *[]){ "throwaway-3fa9c1", NULL, "512M" }) == 0);
        assert(table_get_rows(t) == 2);

        /* Columns as wide as their widest cell, one space apart, the last one not padded. */
        assert_table(
                t,
                true,
                "NAME             STATE   MEMORY\n"
                "work             running 2G\n"
                "throwaway-3fa9c1 -       512M\n");
        /* Without the header, the header does not widen the columns either. */
        assert_table(
                t,
                false,
                "work             running 2G\n"
                "throwaway-3fa9c1 -       512M\n");
}

static void test_table_escapes(void) {
        _cleanup_table_free_ Table *t = table_new(2, (const char *[]){ "NAME", "DESCRIPTION" });

        assert(t);
        assert(table_add_row(t, (const char *[]){ "evil", "a\033[2Jb\nc" }) == 0);
        assert(table_add_row(t, (const char *[]){ "Büro", "ok" }) == 0);
        /* Büro is 4 columns wide, not 5 bytes. */
        assert_table(
                t,
                true,
                "NAME DESCRIPTION\n"
                "evil a\\x1b[2Jb\\nc\n"
                "Büro ok\n");
}

static void assert_escape(const char *in, const char *expected) {
        _cleanup_free_ char *s = escape_controls(in);

        assert(s);
        if (!streq(s, expected)) {
                fprintf(stderr, "escape_controls(\"%s\") = \"%s\", expected \"%s\"\n", in, s, expected);
                assert(false);
        }
}

static void test_escape_controls(void) {
        assert_escape("", "");
        assert_escape("plain text", "plain text");
        assert_escape("Büro", "Büro");
        assert_escape("a\tb\nc", "a\\tb\\nc");
        assert_escape("\033]0;title\007", "\\x1b]0;title\\x07");
        assert_escape("del\x7f", "del\\x7f");
        assert_escape("c1\xc2\x9b", "c1\\u009b"); /* CSI as a C1 control */
        assert_escape("bad\xff", "bad\\xff");
        assert_escape("back\\slash", "back\\slash");
}

static void test_display_width(void) {
        assert(display_width("") == 0);
        assert(display_width("work") == 4);
        assert(display_width("Büro") == 4);
        if (setlocale(LC_ALL, "C.UTF-8")) {
                assert(display_width("日本") == 4);
                (void) setlocale(LC_ALL, "C");
        }
}

static void assert_mib(uint64_t mib, const char *expected) {
        char buf[FORMAT_MIB_MAX];

        if (!streq(format_mib(buf, mib), expected)) {
                fprintf(stderr,
                        "format_mib(%llu) = \"%s\", expected \"%s\"\n",
                        (unsigned long long) mib,
                        buf,
                        expected);
                assert(false);
        }
}

static void test_format_mib(void) {
        assert_mib(0, "0M");
        assert_mib(512, "512M");
        assert_mib(1023, "1023M");
        assert_mib(1024, "1G");
        assert_mib(1536, "1.5G");
        assert_mib(2047, "1.9G"); /* rounded down, never "2.0G" for less than 2G */
        assert_mib(7812, "7.6G");
        assert_mib(1024 * 1024, "1T");
        assert_mib(UINT64_C(1024) * 1024 * 1024 * 3, "3P");
        assert_mib(UINT64_C(1024) * 1024 * 1024 * 1024 * 2, "2048P"); /* P is the largest unit */
}

static void assert_bytes(uint64_t bytes, const char *expected) {
        char buf[FORMAT_BYTES_MAX];

        if (!streq(format_bytes(buf, bytes), expected)) {
                fprintf(stderr,
                        "format_bytes(%llu) = \"%s\", expected \"%s\"\n",
                        (unsigned long long) bytes,
                        buf,
                        expected);
                assert(false);
        }
}

static void test_format_bytes(void) {
        assert_bytes(0, "0B");
        assert_bytes(1023, "1023B");
        assert_bytes(1024, "1.0K");
        assert_bytes(1536, "1.5K");
        assert_bytes(UINT64_C(60) * 1024 * 1024, "60.0M"); /* a decimal even when whole, like systemd */
        assert_bytes(UINT64_C(2) * 1024 * 1024 * 1024 - 1, "1.9G"); /* rounded down */
        assert_bytes(UINT64_C(1024) * 1024 * 1024 * 1024 * 1024 * 1024, "1.0E");
        assert_bytes(UINT64_MAX, "15.9E"); /* E is the largest unit */
}

static void test_format_timestamp(void) {
        char buf[FORMAT_TIMESTAMP_MAX];

        assert(streq(format_timestamp(buf, 0), ""));
        assert(setenv("TZ", "UTC", 1) == 0);
        tzset();
        assert(
                streq(format_timestamp(buf, UINT64_C(1732615200) * USEC_PER_SEC + 999999),
                      "Tue 2024-11-26 10:00:00 UTC"));

        assert(streq(format_datetime(buf, 0), ""));
        assert(streq(
                format_datetime(buf, UINT64_C(1732615200) * USEC_PER_SEC + 999999), "2024-11-26 10:00:00"));
}

static void test_json_print(void) {
        _cleanup_json_put_ json_object *o = json_object_new_object();
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        assert(o);
        assert(json_object_object_add(o, "path", json_object_new_string("/org/vmmd1/vm/work")) == 0);
        assert(json_object_object_add(o, "name", json_object_new_string("say \"hi\"\n")) == 0);
        assert(json_object_object_add(o, "memory_mib", json_object_new_uint64(UINT64_MAX)) == 0);

        f = open_memstream(&buf, &size);
        assert(f);
        assert(json_print(o, f) == 0);
        assert(fclose(f) == 0);
        /* Not a terminal: one line; '/' is left alone, quotes and newlines escaped, uint64 exact. */
        assert(
                streq(buf,
                      "{\"path\":\"/org/vmmd1/vm/work\",\"name\":\"say \\\"hi\\\"\\n\","
                      "\"memory_mib\":18446744073709551615}\n"));
}

int main(void) {
        test_table();
        test_table_escapes();
        test_escape_controls();
        test_display_width();
        test_format_mib();
        test_format_bytes();
        test_format_timestamp();
        test_json_print();
        return 0;
}
