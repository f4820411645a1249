/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gdb's command lines for crash bundles and live guests, shell quoting, finding gdb, and the stdio relay
 * between gdb and a debugger socket: bytes both ways, half-closes passed on, either side ending it. */
#include <assert.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "gdb.h"

static void assert_strv(char **got, const char *const *expected) {
        size_t i = 0;

        for (; got[i] && expected[i]; i++)
                if (!streq(got[i], expected[i])) {
                        fprintf(stderr, "argument %zu: got \"%s\", expected \"%s\"\n", i, got[i], expected[i]);
                        assert(false);
                }
        if (got[i] || expected[i]) {
                fprintf(stderr, "argument %zu: got %s, expected %s\n", i, strna(got[i]), strna(expected[i]));
                assert(false);
        }
}

static void test_crash_argv(void) {
        _cleanup_strv_free_ char **argv = NULL, **plain = NULL;

        assert(gdb_crash_argv(5, 6, 2, (char *const *) STRV_MAKE("-batch", "-ex", "bt"), &argv) == 0);
        assert_strv(
                argv,
                STRV_MAKE(
                        "gdb-multiarch",
                        "-q",
                        "-ex",
                        "set architecture aarch64",
                        "-ex",
                        "symbol-file /proc/self/fd/6",
                        "-ex",
                        "core-file /proc/self/fd/5",
                        "-ex",
                        "thread 3",
                        "-batch",
                        "-ex",
                        "bt"));
        assert(gdb_crash_argv(3, 4, 0, NULL, &plain) == 0);
        assert(streq(plain[strv_length(plain) - 1], "thread 1"));
}

static void test_debug_argv(void) {
        _cleanup_strv_free_ char **argv = NULL;

        assert(gdb_debug_argv(
                       7,
                       (char *const *) STRV_MAKE(
                               "/opt/my build/vmctl", "--user", "debug", "--stdio", "work$1;x"),
                       (char *const *) STRV_MAKE("-ex", "bt"),
                       &argv) == 0);
        assert_strv(
                argv,
                STRV_MAKE(
                        "gdb-multiarch",
                        "-q",
                        "-ex",
                        "set architecture aarch64",
                        "-ex",
                        "symbol-file /proc/self/fd/7",
                        "-ex",
                        "target remote | '/opt/my build/vmctl' '--user' 'debug' '--stdio' 'work$1;x'",
                        "-ex",
                        "bt"));
}

static void test_shell_quote(void) {
        static const char *const cases[][2] = {
                { "", "''" },
                { "work", "'work'" },
                { "a b", "'a b'" },
                { "it's", "'it'\\''s'" },
                { "$(reboot)`x`", "'$(reboot)`x`'" },
                { "'", "''\\'''" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *q = shell_quote(cases[i][0]);

                assert(q);
                if (!streq(q, cases[i][1])) {
                        fprintf(stderr, "shell_quote(%s): got %s, expected %s\n", cases[i][0], q, cases[i][1]);
                        assert(false);
                }
        }
}

/* gdb_find() searches $PATH as execvp() does, for an executable regular file. */
static void test_find(void) {
        char dir[] = "/tmp/test-gdb-XXXXXX";
        _cleanup_free_ char *bin = NULL, *other = NULL, *found = NULL, *path = NULL, *gdb = NULL;
        const char *saved = getenv("PATH");
        _cleanup_free_ char *saved_copy = saved ? strdup(saved) : NULL;
        int fd;

        assert(mkdtemp(dir));
        assert(asprintf(&bin, "%s/bin", dir) >= 0 && mkdir(bin, 0755) == 0);
        assert(asprintf(&other, "%s/other", dir) >= 0 && mkdir(other, 0755) == 0);
        assert(asprintf(&gdb, "%s/" GDB_PROGRAM, bin) >= 0);

        assert(asprintf(&path, "%s:%s", other, bin) >= 0);
        assert(setenv("PATH", path, 1) == 0);
        assert(gdb_find(&found) == -ENOENT);

        /* Not executable: passed over. A directory of that name: passed over. */
        fd = open(gdb, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert(fd >= 0);
        (void) close(fd);
        assert(gdb_find(&found) == -ENOENT);
        assert(chmod(gdb, 0755) == 0);
        free(other);
        assert(asprintf(&other, "%s/other/" GDB_PROGRAM, dir) >= 0 && mkdir(other, 0755) == 0);
        assert(gdb_find(&found) == 0);
        assert(streq(found, gdb));

        assert(unlink(gdb) == 0 && rmdir(other) == 0 && rmdir(bin) == 0);
        free(other);
        assert(asprintf(&other, "%s/other", dir) >= 0 && rmdir(other) == 0 && rmdir(dir) == 0);
        if (saved_copy)
                assert(setenv("PATH", saved_copy, 1) == 0);
        else
                assert(unsetenv("PATH") == 0);
}

/* The program gets exactly the fds it is given, whatever their close-on-exec flag was; no others. */
static void test_exec(void) {
        int status;
        pid_t pid;

        pid = fork();
        assert(pid >= 0);
        if (pid == 0) {
                int given = open("/dev/null", O_RDONLY | O_CLOEXEC),
                    other = open("/dev/null", O_RDONLY | O_CLOEXEC);
                _cleanup_free_ char *script = NULL;

                if (given < 0 || other < 0 ||
                    asprintf(&script, "test -e /proc/self/fd/%i && ! test -e /proc/self/fd/%i", given, other) <
                            0)
                        _exit(2);
                (void) gdb_exec("/bin/sh", (char *const *) STRV_MAKE("sh", "-c", script), &given, 1);
                _exit(3);
        }
        assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* A program that is not there: the error, in this process. */
        assert(gdb_exec("/nonexistent/gdb-multiarch", (char *const *) STRV_MAKE("gdb-multiarch"), NULL, 0) ==
               -ENOENT);
}

/* The relay runs in a child with gdb's ends: in (a pipe it reads), out (a pipe it writes) and the debugger
 * socket; the test is gdb on the other ends of the pipes and vmmd on the socket's other end. */
typedef struct Relay {
        pid_t pid;
        int gdb_in;  /* what the test writes, as gdb, for the debugger */
        int gdb_out; /* what the test reads, as gdb, from the debugger */
        int vmmd;    /* the debugger's end */
} Relay;

static Relay relay_start(void) {
        int in[2], out[2], sock[2];
        Relay r;

        assert(pipe2(in, O_CLOEXEC) == 0);
        assert(pipe2(out, O_CLOEXEC) == 0);
        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) == 0);
        r.pid = fork();
        assert(r.pid >= 0);
        if (r.pid == 0) {
                (void) close(in[1]);
                (void) close(out[0]);
                (void) close(sock[1]);
                _exit(debug_relay(in[0], out[1], sock[0]) == 0 ? 0 : 1);
        }
        (void) close(in[0]);
        (void) close(out[1]);
        (void) close(sock[0]);
        r.gdb_in = in[1];
        r.gdb_out = out[0];
        r.vmmd = sock[1];
        return r;
}

/* The relay's exit status once it ended; -1 if it did not within timeout_ms. */
static int relay_wait(Relay *r, int timeout_ms) {
        int status;

        for (int waited = 0; waited <= timeout_ms; waited += 10) {
                pid_t p = waitpid(r->pid, &status, WNOHANG);

                assert(p >= 0);
                if (p == r->pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                (void) poll(NULL, 0, 10);
        }
        return -1;
}

static void write_all(int fd, const void *buf, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, buf, n);

                assert(k > 0);
                buf = (const char *) buf + k;
                n -= (size_t) k;
        }
}

/* Reads exactly n bytes (the test fails on an early end). */
static void read_all(int fd, void *buf, size_t n) {
        while (n > 0) {
                ssize_t k = read(fd, buf, n);

                assert(k > 0);
                buf = (char *) buf + k;
                n -= (size_t) k;
        }
}

static void assert_eof(int fd) {
        char c;

        assert(read(fd, &c, 1) == 0);
}

static void test_relay_packets(void) {
        Relay r = relay_start();
        char buf[64];

        /* A round trip of the remote protocol. */
        write_all(r.gdb_in, "$qSupported#37", 14);
        read_all(r.vmmd, buf, 14);
        assert(memcmp(buf, "$qSupported#37", 14) == 0);
        write_all(r.vmmd, "+$PacketSize=4000#00", 20);
        read_all(r.gdb_out, buf, 20);
        assert(memcmp(buf, "+$PacketSize=4000#00", 20) == 0);

        /* gdb detaches: the debugger sees its end, may still answer, and then closes. */
        write_all(r.gdb_in, "$D#44", 5);
        (void) close(r.gdb_in);
        read_all(r.vmmd, buf, 5);
        assert(memcmp(buf, "$D#44", 5) == 0);
        assert_eof(r.vmmd);
        write_all(r.vmmd, "+$OK#9a", 7);
        assert(relay_wait(&r, 200) == -1); /* the socket has not ended yet */
        (void) close(r.vmmd);
        read_all(r.gdb_out, buf, 7);
        assert(memcmp(buf, "+$OK#9a", 7) == 0);
        assert_eof(r.gdb_out);
        assert(relay_wait(&r, 5000) == 0);
        (void) close(r.gdb_out);
}

/* Several MiB both ways at once, more than any buffer holds: the relay never blocks one way while the
 * other way waits. A writer child fills gdb's side; the test echoes on the debugger's side and drains gdb's,
 * never blocking either (as gdb and vmmd do not). */
static void test_relay_bulk(void) {
        const size_t size = 8U << 20, cap = 256U * 1024U;
        Relay r = relay_start();
        _cleanup_free_ char *echo = malloc(cap), *buf = malloc(64 * 1024);
        size_t got = 0, pending = 0, back = 0;
        pid_t writer;
        int status;

        assert(echo && buf);
        writer = fork();
        assert(writer >= 0);
        if (writer == 0) {
                (void) close(r.vmmd);
                (void) close(r.gdb_out);
                for (size_t i = 0; i < size; i += 4096) {
                        char block[4096];

                        for (size_t j = 0; j < sizeof(block); j++)
                                block[j] = (char) ((i + j) % 251);
                        write_all(r.gdb_in, block, sizeof(block));
                }
                _exit(0);
        }
        (void) close(r.gdb_in);

        assert(fcntl(r.vmmd, F_SETFL, O_NONBLOCK) == 0);
        while (back < size) {
                struct pollfd p[2] = {
                        { .fd = r.vmmd,
                          .events = (got < size && pending < cap ? POLLIN : 0) | (pending > 0 ? POLLOUT : 0) },
                        { .fd = r.gdb_out, .events = POLLIN },
                };
                ssize_t k;

                assert(poll(p, 2, 10000) > 0);
                if (p[0].revents & POLLIN) {
                        k = read(r.vmmd, echo + pending, cap - pending);
                        assert(k > 0);
                        for (ssize_t j = 0; j < k; j++)
                                assert(echo[pending + (size_t) j] == (char) ((got + (size_t) j) % 251));
                        got += (size_t) k;
                        pending += (size_t) k;
                }
                if (p[0].revents & POLLOUT && pending > 0) {
                        k = write(r.vmmd, echo, pending);
                        assert(k > 0 || (k < 0 && errno == EAGAIN));
                        if (k > 0) {
                                memmove(echo, echo + k, pending - (size_t) k);
                                pending -= (size_t) k;
                        }
                }
                if (p[1].revents & POLLIN) {
                        k = read(r.gdb_out, buf, 64 * 1024);
                        assert(k > 0);
                        for (ssize_t j = 0; j < k; j++)
                                assert(buf[j] == (char) ((back + (size_t) j) % 251));
                        back += (size_t) k;
                }
        }
        assert(got == size && pending == 0);
        assert(waitpid(writer, &status, 0) == writer && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert(fcntl(r.vmmd, F_SETFL, 0) == 0);
        assert_eof(r.vmmd); /* gdb's end passed on */
        (void) close(r.vmmd);
        assert_eof(r.gdb_out);
        assert(relay_wait(&r, 5000) == 0);
        (void) close(r.gdb_out);
}

/* The debugger ends first (vmmd closed it, the VM went): the relay delivers what it said and ends, though
 * gdb still has its end open. */
static void test_relay_debugger_ends(void) {
        Relay r = relay_start();
        char buf[16];

        write_all(r.vmmd, "$W00#b7", 7);
        (void) close(r.vmmd);
        read_all(r.gdb_out, buf, 7);
        assert(memcmp(buf, "$W00#b7", 7) == 0);
        assert_eof(r.gdb_out);
        assert(relay_wait(&r, 5000) == 0);
        /* What gdb sends now goes nowhere; the pipe's reader is gone. */
        (void) close(r.gdb_in);
        (void) close(r.gdb_out);
}

/* gdb is gone altogether (both its ends closed): the relay ends once it has something for it, not later. */
static void test_relay_gdb_gone(void) {
        Relay r = relay_start();

        (void) close(r.gdb_out);
        (void) close(r.gdb_in);
        /* Its end of input is passed on first. */
        assert_eof(r.vmmd);
        write_all(r.vmmd, "+", 1);
        assert(relay_wait(&r, 5000) == 0);
        (void) close(r.vmmd);
}

/* stdin and stdout as one socket, as gdb's "target remote |" hands them over; the flags come back as they
 * were. */
static void test_relay_one_socket(void) {
        int gdb[2], sock[2], status, flags;
        pid_t pid;
        char buf[8];

        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gdb) == 0);
        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) == 0);
        pid = fork();
        assert(pid >= 0);
        if (pid == 0) {
                int in = dup(gdb[1]), r;

                (void) close(gdb[0]);
                (void) close(sock[1]);
                r = debug_relay(in, gdb[1], sock[0]);
                _exit(r == 0 && fcntl(in, F_GETFL) == fcntl(gdb[1], F_GETFL) &&
                                      !(fcntl(in, F_GETFL) & O_NONBLOCK) ?
                              0 :
                              1);
        }
        (void) close(gdb[1]);
        (void) close(sock[0]);
        flags = fcntl(gdb[0], F_GETFL);
        assert(flags >= 0);

        write_all(gdb[0], "$g#67", 5);
        read_all(sock[1], buf, 5);
        assert(memcmp(buf, "$g#67", 5) == 0);
        write_all(sock[1], "+$00#60", 7);
        read_all(gdb[0], buf, 7);
        assert(memcmp(buf, "+$00#60", 7) == 0);
        assert(shutdown(gdb[0], SHUT_WR) == 0);
        assert_eof(sock[1]);
        (void) close(sock[1]);
        assert_eof(gdb[0]);
        assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        (void) close(gdb[0]);
}

int main(void) {
        /* As vmctl debug --stdio does: a reader that went is EPIPE. */
        (void) signal(SIGPIPE, SIG_IGN);

        test_crash_argv();
        test_debug_argv();
        test_shell_quote();
        test_find();
        test_exec();
        test_relay_packets();
        test_relay_bulk();
        test_relay_debugger_ends();
        test_relay_gdb_gone();
        test_relay_one_socket();
        return 0;
}
