/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the libFuzzer targets: invariant checks that abort with a message, and scratch files. */
#pragma once

#include <fcntl.h>
#include <stdarg.h>

#include "names.h"
#include "util.h"

/* Not assert(): the checks must also run in a build with NDEBUG, and say which invariant broke. */
#define fuzz_check(expr, ...) \
        do { \
                if (!(expr)) \
                        fuzz_fail(__FILE__, __LINE__, #expr, "" __VA_ARGS__); \
        } while (0)

_printf_(4, 5) __attribute__((noreturn)) static inline void fuzz_fail(
        const char *file, int line, const char *expr, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s:%d: invariant broken: %s", file, line, expr);
        if (*fmt) {
                fputs(": ", stderr);
                va_start(ap, fmt);
                vfprintf(stderr, fmt, ap);
                va_end(ap);
        }
        fputc('\n', stderr);
        abort();
}

/* Text that reaches D-Bus replies and logs: valid UTF-8 (sd-bus refuses anything else), no control chars. */
static inline void fuzz_check_text(const char *what, const char *s) {
        fuzz_check(utf8_is_valid(s), "%s is not valid UTF-8", what);
        for (const char *p = s; *p;) {
                uint32_t cp;
                int n = utf8_decode(p, &cp);

                fuzz_check(cp >= 0x20 && !(cp >= 0x7f && cp < 0xa0), "%s contains U+%04X: \"%s\"", what, cp, s);
                p += n;
        }
}

/* Replaces the contents of path with data (an existing file is truncated, not replaced). */
static inline int fuzz_write_file(const char *path, const void *data, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        const uint8_t *p = data;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

/* A NUL-terminated copy of the input (an embedded NUL ends the string early, as it would for C callers). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        fuzz_check(s);
        memcpy(s, data, size);
        s[size] = 0;
        return s;
}

/* A scratch directory under $TMPDIR for the whole run, removed at exit (libFuzzer exits with exit()). */
static char *fuzz_scratch_dir_path;

static inline void fuzz_scratch_dir_remove(void) {
        if (fuzz_scratch_dir_path)
                (void) rm_rf(fuzz_scratch_dir_path);
}

static inline const char *fuzz_scratch_dir(void) {
        const char *tmp;

        if (fuzz_scratch_dir_path)
                return fuzz_scratch_dir_path;
        tmp = getenv("TMPDIR") ?: "/tmp";
        fuzz_check(asprintf(&fuzz_scratch_dir_path, "%s/vmmd-fuzz.XXXXXX", tmp) >= 0);
        fuzz_check(mkdtemp(fuzz_scratch_dir_path), "mkdtemp(%s): %m", fuzz_scratch_dir_path);
        fuzz_check(atexit(fuzz_scratch_dir_remove) == 0);
        return fuzz_scratch_dir_path;
}
