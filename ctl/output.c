/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tables, escaping and number formatting for vmctl's output. */
#include <inttypes.h>
#include <time.h>
#include <wchar.h>

#include "names.h"
#include "output.h"

struct Table {
        size_t n_columns;
        size_t n_cells; /* header cells included */
        char **cells;
};

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}

int table_add_row(Table *t, const char *const *cells) {
        char **a;

        a = reallocarray(t->cells, t->n_cells + t->n_columns, sizeof(char *));
        if (!a)
                return -ENOMEM;
        t->cells = a;

        for (size_t i = 0; i < t->n_columns; i++) {
                char *e = escape_controls(cells[i] ?: "-");

                if (!e) {
                        /* Drop the half-added row, the table stays consistent. */
                        for (size_t j = 0; j < i; j++)
                                free(t->cells[t->n_cells + j]);
                        return -ENOMEM;
                }
                t->cells[t->n_cells + i] = e;
        }
        t->n_cells += t->n_columns;
        return 0;
}

Table *table_new(size_t n_columns, const char *const *headers) {
        _cleanup_table_free_ Table *t = NULL;

        if (n_columns == 0)
                return NULL;
        t = calloc(1, sizeof(Table));
        if (!t)
                return NULL;
        t->n_columns = n_columns;

        if (table_add_row(t, headers) < 0)
                return NULL;
        return TAKE_PTR(t);
}

size_t table_get_rows(const Table *t) {
        return t->n_cells / t->n_columns - 1;
}

int table_print(const Table *t, FILE *f, bool header) {
        _cleanup_free_ size_t *widths = calloc(t->n_columns, sizeof(size_t));

        if (!widths)
                return -ENOMEM;
        for (size_t i = header ? 0 : t->n_columns; i < t->n_cells; i++)
                widths[i % t->n_columns] = MAX(widths[i % t->n_columns], display_width(t->cells[i]));

        for (size_t i = header ? 0 : t->n_columns; i < t->n_cells; i++) {
                size_t column = i % t->n_columns;

                fputs(t->cells[i], f);
                if (column + 1 == t->n_columns)
                        fputc('\n', f);
                else
                        fprintf(f, "%*s", (int) (widths[column] - display_width(t->cells[i]) + 1), "");
        }
        return fflush(f) == 0 ? 0 : -errno;
}

char *escape_controls(const char *s) {
        /* The worst case is a C1 control, 2 bytes in, "\u0085" (6 bytes) out, or a control byte of
         * invalid UTF-8 going to "\xNN" (4 bytes): at most 4 times the input. */
        char *buf = malloc(strlen(s) * 4 + 1), *o = buf;

        if (!buf)
                return NULL;
        while (*s) {
                uint32_t cp;
                int n = utf8_decode(s, &cp);

                if (n < 0) {
                        o += sprintf(o, "\\x%02x", (unsigned) (unsigned char) *s);
                        s++;
                        continue;
                }
                if (cp == '\n')
                        o = stpcpy(o, "\\n");
                else if (cp == '\t')
                        o = stpcpy(o, "\\t");
                else if (cp < 0x20 || cp == 0x7f)
                        o += sprintf(o, "\\x%02x", (unsigned) cp);
                else if (cp >= 0x80 && cp < 0xa0)
                        o += sprintf(o, "\\u%04x", (unsigned) cp);
                else {
                        memcpy(o, s, n);
                        o += n;
                }
                s += n;
        }
        *o = 0;
        return buf;
}

size_t display_width(const char *s) {
        size_t w = 0;

        while (*s) {
                uint32_t cp;
                int n = utf8_decode(s, &cp), cw;

                if (n < 0) {
                        w++, s++;
                        continue;
                }
                /* In the C locale wcwidth() knows no non-ASCII character: count those as 1. */
                cw = wcwidth((wchar_t) cp);
                w += cw < 0 ? 1 : (size_t) cw;
                s += n;
        }
        return w;
}

/* value in units of suffixes[0], in steps of 1024: "512M", "1.5G". The one decimal is rounded down, so that
 * 1023.99G never shows as 1024.0G; whole values get it too with always_decimal, except in the first unit. */
static const char *format_1024(
        char buf[static FORMAT_SIZE_MAX], uint64_t value, const char *suffixes, bool always_decimal) {
        size_t i = 0, n = strlen(suffixes);
        uint64_t div = 1;

        while (i + 1 < n && value / div >= 1024) {
                div *= 1024;
                i++;
        }
        if (value % div == 0 && !(always_decimal && i > 0))
                (void) snprintf(buf, FORMAT_SIZE_MAX, "%" PRIu64 "%c", value / div, suffixes[i]);
        else
                (void) snprintf(
                        buf,
                        FORMAT_SIZE_MAX,
                        "%" PRIu64 ".%u%c",
                        value / div,
                        (unsigned) ((value % div) * 10 / div),
                        suffixes[i]);
        return buf;
}

const char *format_mib(char buf[static FORMAT_MIB_MAX], uint64_t mib) {
        return format_1024(buf, mib, "MGTP", false);
}

const char *format_bytes(char buf[static FORMAT_BYTES_MAX], uint64_t bytes) {
        return format_1024(buf, bytes, "BKMGTPE", true);
}

/* usec as broken-down local time; false for 0, and for a time that localtime_r() cannot convert. */
static bool local_time(uint64_t usec, struct tm *ret) {
        time_t sec = (time_t) (usec / USEC_PER_SEC);

        return usec != 0 && localtime_r(&sec, ret);
}

const char *format_timestamp(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec) {
        struct tm tm;

        if (!local_time(usec, &tm) || strftime(buf, FORMAT_TIMESTAMP_MAX, "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                buf[0] = 0;
        return buf;
}

const char *format_datetime(char buf[static FORMAT_TIMESTAMP_MAX], uint64_t usec) {
        struct tm tm;

        if (!local_time(usec, &tm) || strftime(buf, FORMAT_TIMESTAMP_MAX, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                buf[0] = 0;
        return buf;
}

int json_print(json_object *o, FILE *f) {
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE;

        if (isatty(fileno(f)))
                flags |= JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;
        else
                flags |= JSON_C_TO_STRING_PLAIN;
        const char *s;

        s = json_object_to_json_string_ext(o, flags);
        if (!s)
                return -ENOMEM;
        fputs(s, f);
        fputc('\n', f);
        return fflush(f) == 0 ? 0 : -errno;
}
