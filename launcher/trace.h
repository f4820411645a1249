/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-launcher --trace: one line per event on stdout, for tests and the benchmark (README.md, "--trace"). */
#pragma once

#include <glib.h>
#include <stdbool.h>

void trace_enable(bool enable);
bool trace_enabled(void);

/* Prints the formatted text and a newline, and flushes stdout; nothing unless --trace. */
void trace(const char *format, ...) G_GNUC_PRINTF(1, 2);

/* The same with " t=" and g_get_monotonic_time() (CLOCK_MONOTONIC, µs) before the newline, taken when
 * called: for the lines that say when something happened. */
void trace_at(const char *format, ...) G_GNUC_PRINTF(1, 2);
