/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of the launcher's pure helpers: the strip's order, colours, trace text. */
#include <glib.h>
#include <string.h>

#include "util.h"

static void test_order(void) {
        /* work, home, then the others by name, whatever the names. */
        g_assert_cmpint(phone_order("work", "zz", "home", "aa"), <, 0);
        g_assert_cmpint(phone_order("home", "aa", "work", "zz"), >, 0);
        g_assert_cmpint(phone_order("home", "zz", "throwaway", "aa"), <, 0);
        g_assert_cmpint(phone_order("throwaway", "throwaway-b", "throwaway", "throwaway-a"), >, 0);
        g_assert_cmpint(phone_order("throwaway", "a", "other", "b"), <, 0);
        g_assert_cmpint(phone_order(NULL, "a", "work", "b"), >, 0);
        g_assert_cmpint(phone_order("x", "same", "x", "same"), ==, 0);
}

static void test_color_parse(void) {
        static const char *const bad[] = { "",         "#",       "1a2b3c", "#1a2b3",
                                           "#1a2b3c4", "#1a2b3g", "red",    " #1a2b3c" };
        Rgb c = { 1, 2, 3 };
        char buf[8];

        g_assert_cmpint(color_parse("#1a2B3c", &c), ==, 0);
        g_assert_cmpint(c.r, ==, 0x1a);
        g_assert_cmpint(c.g, ==, 0x2b);
        g_assert_cmpint(c.b, ==, 0x3c);
        color_format(c, buf);
        g_assert_cmpstr(buf, ==, "#1a2b3c");

        /* Anything else is refused and leaves the result alone. */
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_assert_cmpint(color_parse(bad[i], &c), <, 0);
                g_assert_cmpint(c.r, ==, 0x1a);
        }
        g_assert_cmpint(color_parse(NULL, &c), <, 0);
}

static void test_color_is_dark(void) {
        g_assert_true(color_is_dark((Rgb){ 0, 0, 0 }));
        g_assert_true(color_is_dark((Rgb){ 0x1e, 0x3a, 0x8a }));
        g_assert_false(color_is_dark((Rgb){ 0xff, 0xff, 0xff }));
        g_assert_false(color_is_dark((Rgb){ 0xff, 0xd5, 0x4a }));
}

static void test_trace_text(void) {
        g_autofree char *a = trace_text("line one\nline\ttwo");
        g_autofree char *b = trace_text("");
        g_autofree char *c = trace_text(NULL);

        g_assert_cmpstr(a, ==, "line one line two");
        g_assert_cmpstr(b, ==, "-");
        g_assert_cmpstr(c, ==, "-");
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/launcher/order", test_order);
        g_test_add_func("/launcher/color-parse", test_color_parse);
        g_test_add_func("/launcher/color-is-dark", test_color_is_dark);
        g_test_add_func("/launcher/trace-text", test_trace_text);
        return g_test_run();
}
