/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gdb-multiarch's command lines for guest kernels, its file descriptors, and the stdio relay between gdb and
 * vmmd's debugger socket. */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "gdb.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define RELAY_BUFFER_SIZE (64U * 1024U)

int gdb_find(char **ret) {
        const char *path = getenv("PATH");

        if (isempty(path))
                path = DEFAULT_PATH;
        for (const char *p = path;;) {
                size_t n = strcspn(p, ":");
                _cleanup_free_ char *candidate = NULL;
                struct stat st;

                /* An empty entry is the current directory, as for execvp(). */
                if (asprintf(&candidate, "%.*s%s" GDB_PROGRAM, (int) n, p, n > 0 ? "/" : "") < 0)
                        return -ENOMEM;
                if (stat(candidate, &st) >= 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) >= 0) {
                        *ret = TAKE_PTR(candidate);
                        return 0;
                }
                if (p[n] == '\0')
                        return -ENOENT;
                p += n + 1;
        }
}

char *shell_quote(const char *s) {
        size_t n = 2;
        char *q, *t;

        for (const char *p = s; *p; p++)
                n += *p == '\'' ? 4 : 1;
        q = malloc(n + 1);
        if (!q)
                return NULL;
        t = q;
        *t++ = '\'';
        for (const char *p = s; *p; p++)
                if (*p == '\'')
                        t = stpcpy(t, "'\\''");
                else
                        *t++ = *p;
        *t++ = '\'';
        *t = '\0';
        return q;
}

/* argv = GDB_PROGRAM -q, then "-ex" with each of commands, then extra. */
static int gdb_argv(char **commands, char *const *extra, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL;
        int r;

        r = strv_extend(&argv, GDB_PROGRAM);
        if (r >= 0)
                r = strv_extend(&argv, "-q");
        STRV_FOREACH(c, commands) {
                if (r >= 0)
                        r = strv_extend(&argv, "-ex");
                if (r >= 0)
                        r = strv_extend(&argv, *c);
        }
        STRV_FOREACH(e, (char **) extra)
                if (r >= 0)
                        r = strv_extend(&argv, *e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(argv);
        return 0;
}

int gdb_crash_argv(int core_fd, int symbols_fd, unsigned cpu, char *const *extra, char ***ret) {
        _cleanup_strv_free_ char **commands = NULL;
        int r;

        /* The symbol file first: gdb reads the core's registers in the light of the architecture it has. */
        r = strv_extend(&commands, "set architecture aarch64");
        if (r >= 0)
                r = strv_extendf(&commands, "symbol-file /proc/self/fd/%i", symbols_fd);
        if (r >= 0)
                r = strv_extendf(&commands, "core-file /proc/self/fd/%i", core_fd);
        if (r >= 0)
                r = strv_extendf(&commands, "thread %u", cpu + 1);
        if (r < 0)
                return r;
        return gdb_argv(commands, extra, ret);
}

int gdb_debug_argv(int symbols_fd, char *const *remote, char *const *extra, char ***ret) {
        _cleanup_strv_free_ char **commands = NULL;
        _cleanup_free_ char *command = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&command, &size);
        if (!f)
                return -ENOMEM;
        fputs("target remote |", f);
        STRV_FOREACH(a, (char **) remote) {
                _cleanup_free_ char *q = shell_quote(*a);

                if (!q) {
                        (void) fclose(f);
                        return -ENOMEM;
                }
                fprintf(f, " %s", q);
        }
        if (fclose(f) != 0)
                return -ENOMEM;

        r = strv_extend(&commands, "set architecture aarch64");
        if (r >= 0)
                r = strv_extendf(&commands, "symbol-file /proc/self/fd/%i", symbols_fd);
        if (r >= 0)
                r = strv_extend(&commands, command);
        if (r < 0)
                return r;
        return gdb_argv(commands, extra, ret);
}

int gdb_exec(const char *path, char *const *argv, const int *fds, size_t n_fds) {
        for (size_t i = 0; i < n_fds; i++) {
                int r = fd_cloexec(fds[i], false);

                if (r < 0)
                        return r;
        }
        (void) execv(path, argv);
        return -errno;
}

/* Bytes on their way from one fd to another. */
typedef struct RelayBuffer {
        char data[RELAY_BUFFER_SIZE];
        size_t start, end; /* what is to be written: data[start..end) */
} RelayBuffer;

static bool relay_buffer_has_room(const RelayBuffer *b) {
        return b->end < sizeof(b->data);
}

static bool relay_buffer_is_empty(const RelayBuffer *b) {
        return b->start == b->end;
}

/* Reads what fd has into b: > 0 bytes read, 0 at its end, -EAGAIN when there was nothing after all. */
static ssize_t relay_read(int fd, RelayBuffer *b) {
        ssize_t n = read(fd, b->data + b->end, sizeof(b->data) - b->end);

        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        b->end += (size_t) n;
        return n;
}

/* Writes what it can of b to fd: 0, or a negative errno (not -EAGAIN). */
static int relay_write(int fd, RelayBuffer *b) {
        ssize_t n = write(fd, b->data + b->start, b->end - b->start);

        if (n < 0)
                return IN_SET(errno, EAGAIN, EINTR) ? 0 : -errno;
        b->start += (size_t) n;
        if (b->start == b->end)
                b->start = b->end = 0;
        return 0;
}

/* The fds' flags as they were, restored at the end of the relay. */
typedef struct RelayFlags {
        int fd[3];
        int flags[3];
} RelayFlags;

/* In reverse: of two fds that share their flags (stdin and stdout as one socket), the first one's are the
 * flags as they were. */
static void relay_flags_restore(RelayFlags *f) {
        for (size_t i = ELEMENTSOF(f->fd); i > 0; i--)
                if (f->flags[i - 1] >= 0)
                        (void) fcntl(f->fd[i - 1], F_SETFL, f->flags[i - 1]);
}

int debug_relay(int in_fd, int out_fd, int sock_fd) {
        _cleanup_free_ RelayBuffer *up = NULL, *down = NULL; /* up: in_fd → sock_fd; down: sock_fd → out_fd */
        _cleanup_(relay_flags_restore) RelayFlags saved = {
                .fd = { in_fd, out_fd, sock_fd },
                .flags = { -1, -1, -1 },
        };
        bool in_done = false, sock_done = false, shut = false;
        int r;

        up = calloc(1, sizeof(RelayBuffer));
        down = calloc(1, sizeof(RelayBuffer));
        if (!up || !down)
                return -ENOMEM;

        /* Never block on one side while the other has news: all three non-blocking. (stdin and stdout may
         * be one socket, as gdb's pipe is: the second time its flags are non-blocking already.) */
        for (size_t i = 0; i < ELEMENTSOF(saved.fd); i++) {
                int flags = fcntl(saved.fd[i], F_GETFL);

                if (flags < 0)
                        return -errno;
                saved.flags[i] = flags;
                if (fcntl(saved.fd[i], F_SETFL, flags | O_NONBLOCK) < 0)
                        return -errno;
        }

        for (;;) {
                ssize_t n;

                /* gdb is done sending: the debugger hears so, and may still answer. */
                if (in_done && relay_buffer_is_empty(up) && !shut) {
                        if (shutdown(sock_fd, SHUT_WR) < 0 && errno != ENOTCONN)
                                return -errno;
                        shut = true;
                }
                if (sock_done && relay_buffer_is_empty(down))
                        return 0;

                /* An fd with nothing to wait for is left out: poll() would report its hangup again and
                 * again. */
                struct pollfd p[3] = {
                        { .fd = in_fd, .events = !in_done && relay_buffer_has_room(up) ? POLLIN : 0 },
                        { .fd = sock_fd,
                          .events = (!sock_done && relay_buffer_has_room(down) ? POLLIN : 0) |
                                  (!sock_done && !relay_buffer_is_empty(up) ? POLLOUT : 0) },
                        { .fd = out_fd, .events = !relay_buffer_is_empty(down) ? POLLOUT : 0 },
                };
                for (size_t i = 0; i < ELEMENTSOF(p); i++)
                        if (p[i].events == 0)
                                p[i].fd = -1;

                if (poll(p, ELEMENTSOF(p), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }

                if (p[0].revents != 0) {
                        n = relay_read(in_fd, up);
                        if (n == 0 || n == -ECONNRESET)
                                in_done = true;
                        else if (n < 0 && n != -EAGAIN)
                                return (int) n;
                }

                if (p[1].revents & (POLLIN | POLLHUP | POLLERR) && relay_buffer_has_room(down)) {
                        n = relay_read(sock_fd, down);
                        if (n == 0 || n == -ECONNRESET)
                                sock_done = true;
                        else if (n < 0 && n != -EAGAIN)
                                return (int) n;
                }
                if (p[1].revents & (POLLOUT | POLLHUP | POLLERR) && !sock_done && !relay_buffer_is_empty(up)) {
                        r = relay_write(sock_fd, up);
                        if (IN_SET(r, -EPIPE, -ECONNRESET))
                                /* The debugger went: what gdb still sends has nowhere to go. */
                                sock_done = true;
                        else if (r < 0)
                                return r;
                }

                if (p[2].revents != 0) {
                        r = relay_write(out_fd, down);
                        if (IN_SET(r, -EPIPE, -ECONNRESET))
                                return 0; /* gdb is gone */
                        if (r < 0)
                                return r;
                }
        }
}
