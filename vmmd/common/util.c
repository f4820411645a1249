/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small file, string and time helpers. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

int free_and_strdup(char **p, const char *s) {
        char *t = NULL;

        if (s) {
                t = strdup(s);
                if (!t)
                        return -ENOMEM;
        }
        free(*p);
        *p = t;
        return 0;
}

void hexmem(const void *buf, size_t n, char *ret) {
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = buf;

        for (size_t i = 0; i < n; i++) {
                ret[2 * i] = digits[b[i] >> 4];
                ret[2 * i + 1] = digits[b[i] & 0xf];
        }
        ret[2 * n] = 0;
}

static int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int unhexmem(const char *s, void *buf, size_t max) {
        size_t n = strlen(s);
        uint8_t *b = buf;

        if (n % 2 != 0 || n / 2 > max)
                return -EINVAL;
        for (size_t i = 0; i < n / 2; i++) {
                int hi = unhexchar(s[2 * i]), lo = unhexchar(s[2 * i + 1]);

                if (hi < 0 || lo < 0)
                        return -EINVAL;
                b[i] = (uint8_t) (hi << 4 | lo);
        }
        return (int) (n / 2);
}

bool strv_contains(char *const *l, const char *s) {
        for (; l && *l; l++)
                if (streq_ptr(*l, s))
                        return true;
        return false;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        for (; l && l[n]; n++)
                ;
        return n;
}

int strv_extend(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char **t, *c;

        c = strdup(s);
        if (!c)
                return -ENOMEM;
        t = reallocarray(*l, n + 2, sizeof(char *));
        if (!t) {
                free(c);
                return -ENOMEM;
        }
        t[n] = c;
        t[n + 1] = NULL;
        *l = t;
        return 0;
}

int strv_extendf(char ***l, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return strv_extend(l, s);
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int rm_rf_at(int dfd, const char *name) {
        struct stat st;
        int r = 0;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                DIR *d;

                /* One we may not look into may still be empty (emptied by its owner): remove it if so. */
                if (fd < 0 && errno == EACCES)
                        return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;

                if (fd < 0)
                        return -errno;
                d = fdopendir(fd);
                if (!d)
                        return -errno;
                fd = -EBADF; /* owned by d now */
                for (struct dirent *de; (de = readdir(d));) {
                        int k;

                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        k = rm_rf_at(dirfd(d), de->d_name);
                        if (k < 0 && r == 0)
                                r = k;
                }
                closedir(d);
                if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                        r = -errno;
                return r;
        }
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int rm_rf(const char *path) {
        return rm_rf_at(AT_FDCWD, path);
}

int read_full_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated = 0;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        for (;;) {
                size_t k;

                if (allocated - n < 4096) {
                        char *t;

                        if (allocated > 64 * 1024 * 1024)
                                return -EFBIG;
                        allocated = allocated ? allocated * 2 : 8192;
                        t = realloc(buf, allocated + 1);
                        if (!t)
                                return -ENOMEM;
                        buf = t;
                }
                k = fread(buf + n, 1, allocated - n, f);
                n += k;
                if (k == 0) {
                        if (ferror(f))
                                return -EIO;
                        break;
                }
        }
        buf[n] = 0;
        if (ret_size)
                *ret_size = n;
        *ret = TAKE_PTR(buf);
        return 0;
}

int open_regular(const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return errno == ELOOP ? -EBADFD : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        r = fd_nonblock(fd, false);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

int create_regular(const char *path, mode_t mode) {
        int fd;

        if (unlink(path) < 0 && errno != ENOENT) {
                int r = errno == EISDIR ? rm_rf(path) : -errno; /* a directory in its place */

                if (r < 0)
                        return r;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, mode);
        return fd < 0 ? -errno : fd;
}

int read_tail(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;
        off_t off;

        if (fstat(fd, &st) < 0)
                return -errno;
        off = st.st_size > (off_t) max ? st.st_size - (off_t) max : 0;
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        while (n < max) {
                ssize_t k = pread(fd, buf + n, max - n, off + (off_t) n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        if (ret_size)
                *ret_size = n;
        *ret = TAKE_PTR(buf);
        return 0;
}

int copy_bytes(int in, int out, uint64_t n) {
        while (n > 0) {
                ssize_t k = sendfile(out, in, NULL, (size_t) MIN(n, (uint64_t) 1 << 30));

                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                n -= (uint64_t) k;
        }
        return 0;
}

int write_file_atomic(const char *path, const char *contents) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(contents);

        if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (size_t done = 0; done < n;) {
                ssize_t k = write(fd, contents + done, n - done);
                if (k < 0) {
                        int r = -errno;
                        (void) unlink(tmp);
                        return r;
                }
                done += k;
        }
        if (fsync(fd) < 0 || rename(tmp, path) < 0) {
                int r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

static int fd_flag(int fd, int get, int set, int flag, bool on) {
        int flags = fcntl(fd, get);

        if (flags < 0)
                return -errno;
        if (fcntl(fd, set, on ? flags | flag : flags & ~flag) < 0)
                return -errno;
        return 0;
}

int fd_cloexec(int fd, bool cloexec) {
        return fd_flag(fd, F_GETFD, F_SETFD, FD_CLOEXEC, cloexec);
}

int fd_nonblock(int fd, bool nonblock) {
        return fd_flag(fd, F_GETFL, F_SETFL, O_NONBLOCK, nonblock);
}

int errorf(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return r;
}

int strextendf(char **s, const char *fmt, ...) {
        _cleanup_free_ char *add = NULL;
        va_list ap;
        size_t n, k;
        char *t;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&add, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        n = *s ? strlen(*s) : 0;
        k = (size_t) r;
        t = realloc(*s, n + k + 1);
        if (!t)
                return -ENOMEM;
        memcpy(t + n, add, k + 1);
        *s = t;
        return 0;
}

int pwrite_full(int fd, const void *buf, size_t size, uint64_t offset) {
        const uint8_t *p = buf;

        while (size > 0) {
                ssize_t n = offset == UINT64_MAX ? write(fd, p, size) : pwrite(fd, p, size, (off_t) offset);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t) n;
                if (offset != UINT64_MAX)
                        offset += (uint64_t) n;
        }
        return 0;
}

int meminfo_kib(const char *field, uint64_t *ret) {
        _cleanup_free_ char *text = NULL;
        unsigned long long kib;
        size_t n = strlen(field);
        int r;

        r = read_full_file("/proc/meminfo", &text, NULL);
        if (r < 0)
                return r;
        for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
                if (strncmp(l, field, n) == 0 && l[n] == ':') {
                        if (sscanf(l + n + 1, "%llu kB", &kib) != 1)
                                return -EBADMSG;
                        *ret = kib;
                        return 0;
                }
        return -ENOENT;
}

int psi_read_some_avg10(const char *path, double *ret) {
        _cleanup_free_ char *text = NULL;
        double v;
        int r;

        r = read_full_file(path, &text, NULL);
        if (r < 0)
                return r;
        if (sscanf(text, "some avg10=%lf ", &v) != 1 || v < 0 || v > 100)
                return -EBADMSG;
        *ret = v;
        return 0;
}
