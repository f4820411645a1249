/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure helpers of vmm-launcher: the order of the phones in the strip, their colours, text for --trace. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct Rgb {
        uint8_t r, g, b;
} Rgb;

/* The order of the strip: the work phone, the home phone, then the others by name. A persona not known
 * yet (NULL) counts as "other". */
int phone_order(const char *persona_a, const char *name_a, const char *persona_b, const char *name_b);

/* "#rrggbb" (the VM property Color); -EINVAL for anything else. */
int color_parse(const char *s, Rgb *ret);

/* A tile's colour when vmmd gives none (an older vmmd without the Color property): vmmd alone picks the
 * colours of personas (policies/schema.md, "color"). */
#define COLOR_UNKNOWN ((Rgb){ 0x60, 0x66, 0x6c })

/* Whether black text reads worse than white on c (relative luminance, WCAG). */
bool color_is_dark(Rgb c);

/* "#rrggbb" */
void color_format(Rgb c, char buf[static 8]);

/* A copy of s for one line of --trace: control characters (newlines) become spaces, "" becomes "-". Free
 * with g_free(). */
char *trace_text(const char *s);
