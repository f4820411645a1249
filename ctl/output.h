/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What vmctl prints: tables sized to their content, escaped values, sizes, timestamps and JSON. */
#pragma once

#include "json-util.h"

typedef struct Table Table;

/* A table with n_columns columns, named by headers[0..n_columns). */
Table *table_new(size_t n_columns, const char *const *headers);
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);
#define _cleanup_table_free_ _cleanup_(table_freep)

/* Appends a row of n_columns cells (NULL prints as "-"); control characters are escaped. */
int table_add_row(Table *t, const char *const *cells);
size_t table_get_rows(const Table *t);
/* Columns are as wide as their widest cell, one space apart; the last one is not padded. */
int table_print(const Table *t, FILE *f, bool header);

/* A copy of s that is safe to print on a terminal: C0/C1 control characters become \n, \t, \xNN or \uNNNN,
 * NULL on OOM. */
char *escape_controls(const char *s);
/* Terminal columns that s takes (wide characters count 2 when the locale knows them). */
size_t display_width(const char *s);

#define FORMAT_SIZE_MAX 48
#define FORMAT_MIB_MAX FORMAT_SIZE_MAX
/* "512M", "2G", "1.5G", "2T". */
const char *format_mib(char buf[static FORMAT_MIB_MAX], uint64_t mib);
#define FORMAT_BYTES_MAX FORMAT_SIZE_MAX
/* Like systemd's format_bytes(): "512B", "1.0K", "60.0M", "1.5G"; one decimal, rounded down. */
const char *format_bytes(char buf[static FORMAT_BYTES_MAX], uint64_t bytes);
#define FORMAT_TIMESTAMP_MAX 64
/* "Tue 2024-11-26 10:00:00 UTC" in local time; "" for 0. */
const char *format_timestamp(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec);
/* "2024-11-26 10:00:00" in local time, for tables; "" for 0. */
const char *format_datetime(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec);

/* Prints o and a newline: indented when f is a terminal, one line otherwise; '/' is not escaped. */
int json_print(json_object *o, FILE *f);
