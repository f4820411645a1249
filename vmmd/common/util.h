/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cleanup helpers, ownership transfer and small macros shared by every part of vmmd. */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _pure_ __attribute__((pure))
#define _sentinel_ __attribute__((sentinel))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define USEC_PER_SEC ((uint64_t) 1000000ULL)
#define USEC_PER_MSEC ((uint64_t) 1000ULL)
#define NSEC_PER_USEC ((uint64_t) 1000ULL)

/* True if x equals one of the following values. */
#define IN_SET(x, ...) \
        ({ \
                const __typeof__(x) _set_[] = { __VA_ARGS__ }; \
                __typeof__(x) _x_ = (x); \
                bool _found_ = false; \
                for (size_t _i_ = 0; _i_ < ELEMENTSOF(_set_); _i_++) \
                        if (_set_[_i_] == _x_) { \
                                _found_ = true; \
                                break; \
                        } \
                _found_; \
        })

/* Hands ownership of a pointer or fd on: returns the value and leaves NULL/-EBADF behind. */
#define TAKE_PTR(p) \
        ({ \
                __typeof__(p) _ptr_ = (p); \
                (p) = NULL; \
                _ptr_; \
        })
#define TAKE_FD(fd) \
        ({ \
                int _fd_ = (fd); \
                (fd) = -EBADF; \
                _fd_; \
        })

/* Declares func##p(type **p), calling func(*p) when *p is not NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p) { \
                if (*p) \
                        func(*p); \
        }

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void strv_free(char **l) {
        if (!l)
                return;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

#define STRV_FOREACH(s, l) for (char **s = (l); s && *s; s++)
#define STRV_MAKE(...) ((const char *const[]){ __VA_ARGS__, NULL })

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}
static inline bool isempty(const char *s) {
        return !s || !*s;
}
static inline const char *strempty(const char *s) {
        return s ?: "";
}
static inline const char *strna(const char *s) {
        return s ?: "n/a";
}

/* Replaces *p with a copy of s (or NULL). */
int free_and_strdup(char **p, const char *s);
size_t strv_length(char *const *l);
bool strv_contains(char *const *l, const char *s);

/* n bytes as 2n lowercase hex digits and a NUL into ret. */
void hexmem(const void *buf, size_t n, char *ret);
/* Hex digits (either case, an even number of them) into at most max bytes: how many, or -EINVAL. */
int unhexmem(const char *s, void *buf, size_t max);
/* Appends a copy of s; the list stays NULL-terminated. */
int strv_extend(char ***l, const char *s);
int strv_extendf(char ***l, const char *fmt, ...) _printf_(2, 3);
/* Appends formatted text to the string *s (NULL: empty). */
int strextendf(char **s, const char *fmt, ...) _printf_(2, 3);
/* For functions that return a negative errno and, when ret_error is not NULL, a message: sets the message
 * (NULL if it cannot be made) and returns r. */
int errorf(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);

int mkdir_p(const char *path, mode_t mode);
/* Removes a directory tree; missing is fine. */
int rm_rf(const char *path);
int read_full_file(const char *path, char **ret, size_t *ret_size);
/* Opens a file that someone else may control (a file in a VM's directory) for reading: never follows a
 * symlink, never blocks on a FIFO or a device, and takes only a regular file (-EBADFD for anything else).
 * The fd is blocking again when returned. */
int open_regular(const char *path);
/* Creates path anew for writing (what was there is removed first, whatever it was): no symlink, FIFO or
 * file of someone else's is ever opened in its place. */
int create_regular(const char *path, mode_t mode);
/* Reads at most the last max bytes of fd (from its end), NUL-terminated. */
int read_tail(int fd, size_t max, char **ret, size_t *ret_size);
/* Copies n bytes from in to out (from their offsets); -EIO if in ends before. */
int copy_bytes(int in, int out, uint64_t n);
/* Writes all of buf at offset (pwrite() until done), or all of it at the file position (offset -1). */
int pwrite_full(int fd, const void *buf, size_t size, uint64_t offset);
/* Writes atomically: temporary file, fsync, rename. */
int write_file_atomic(const char *path, const char *contents);
uint64_t now_usec(clockid_t clock);
/* A field of /proc/meminfo ("MemAvailable"), in KiB. -ENOENT: no such field. */
int meminfo_kib(const char *field, uint64_t *ret);
/* The "some avg10" figure of a PSI file (/proc/pressure/memory, a cgroup's memory.pressure), percent. */
int psi_read_some_avg10(const char *path, double *ret);
int fd_cloexec(int fd, bool cloexec);
int fd_nonblock(int fd, bool nonblock);

/* Enum <-> string tables; from_string() answers -EINVAL for unknown strings. */
#define DEFINE_STRING_TABLE_LOOKUP(name, type, max) \
        const char *name##_to_string(type i) { \
                if ((int) i < 0 || (size_t) i >= ELEMENTSOF(name##_table)) \
                        return NULL; \
                return name##_table[i]; \
        } \
        type name##_from_string(const char *s) { \
                if (!s) \
                        return (type) -EINVAL; \
                for (size_t i = 0; i < ELEMENTSOF(name##_table); i++) \
                        if (name##_table[i] && streq(name##_table[i], s)) \
                                return (type) i; \
                return (type) -EINVAL; \
        }
