/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure helpers of vmm-launcher: the order of the phones in the strip, their colours, text for --trace. */
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static int persona_rank(const char *persona) {
        if (g_strcmp0(persona, "work") == 0)
                return 0;
        if (g_strcmp0(persona, "home") == 0)
                return 1;
        return 2;
}

int phone_order(const char *persona_a, const char *name_a, const char *persona_b, const char *name_b) {
        int a = persona_rank(persona_a), b = persona_rank(persona_b);

        if (a != b)
                return a < b ? -1 : 1;
        return g_strcmp0(name_a, name_b);
}

int color_parse(const char *s, Rgb *ret) {
        unsigned v = 0;

        g_assert(ret);

        if (!s || s[0] != '#' || strlen(s) != 7)
                return -EINVAL;
        for (size_t i = 1; i < 7; i++) {
                int d = g_ascii_xdigit_value(s[i]);

                if (d < 0)
                        return -EINVAL;
                v = v << 4 | (unsigned) d;
        }
        *ret = (Rgb){ .r = v >> 16, .g = (v >> 8) & 0xff, .b = v & 0xff };
        return 0;
}

static double linear(uint8_t v) {
        double c = v / 255.0;

        return c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

bool color_is_dark(Rgb c) {
        double l = 0.2126 * linear(c.r) + 0.7152 * linear(c.g) + 0.0722 * linear(c.b);

        /* Below this, white text has more contrast (1.05 / (l + 0.05)) than black ((l + 0.05) / 0.05). */
        return l < 0.179;
}

void color_format(Rgb c, char buf[static 8]) {
        (void) snprintf(buf, 8, "#%02x%02x%02x", c.r, c.g, c.b);
}

char *trace_text(const char *s) {
        char *t;

        if (!s || !*s)
                return g_strdup("-");
        t = g_strdup(s);
        for (char *c = t; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        *c = ' ';
        return t;
}
