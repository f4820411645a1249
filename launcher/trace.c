/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-launcher --trace: one line per event on stdout, for tests and the benchmark (README.md, "--trace"). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "trace.h"

static bool enabled = false;

void trace_enable(bool enable) {
        enabled = enable;
}

bool trace_enabled(void) {
        return enabled;
}

G_GNUC_PRINTF(2, 0) static void trace_va(int64_t now, const char *format, va_list ap) {
        (void) vprintf(format, ap);
        if (now >= 0)
                (void) printf(" t=%" PRId64, now);
        (void) putchar('\n');
        (void) fflush(stdout);
}

void trace(const char *format, ...) {
        va_list ap;

        if (!enabled)
                return;
        va_start(ap, format);
        trace_va(-1, format, ap);
        va_end(ap);
}

void trace_at(const char *format, ...) {
        int64_t now = g_get_monotonic_time();
        va_list ap;

        if (!enabled)
                return;
        va_start(ap, format);
        trace_va(now, format, ap);
        va_end(ap);
}
