/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* agent-check: starts a VMM with the guest agent's listening socket as fd 3, times the boot to the agent's
 * READY, sends lines and prints the answers, and with --poweroff waits for the VMM to end. The same for
 * any VMM that takes the socket as an fd (vmm-hv --agent-fd=3, QEMU -chardev socket,fd=3,server=on), so
 * that device cases and benchmarks measure both alike. */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "util.h"

#define LINE_MAX_AGENT 256

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

typedef struct Conn {
        int fd;
        char buf[4096];
        size_t n;
} Conn;

/* The next line from the agent (without '\n'), waiting until deadline (ms, CLOCK_MONOTONIC). */
static int read_line(Conn *c, uint64_t deadline, char *ret, size_t size) {
        for (;;) {
                char *nl = memchr(c->buf, '\n', c->n);

                if (nl) {
                        size_t l = (size_t) (nl - c->buf);

                        if (l >= size)
                                return -E2BIG;
                        memcpy(ret, c->buf, l);
                        ret[l] = 0;
                        memmove(c->buf, nl + 1, c->n - l - 1);
                        c->n -= l + 1;
                        return 0;
                }
                if (c->n == sizeof(c->buf))
                        return -E2BIG;
                uint64_t now = now_ms();
                if (now >= deadline)
                        return -ETIMEDOUT;
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                int r = poll(&p, 1, (int) MIN(deadline - now, (uint64_t) INT_MAX));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                ssize_t k = read(c->fd, c->buf + c->n, sizeof(c->buf) - c->n);
                if (k < 0 && errno != EINTR && errno != EAGAIN)
                        return -errno;
                if (k == 0)
                        return -ECONNRESET;
                if (k > 0)
                        c->n += (size_t) k;
        }
}

static void help(void) {
        printf("%s [OPTIONS...] -- VMM [ARGS...]\n\n"
               "Starts VMM with a listening unix socket as fd 3 for the guest agent's port, waits for READY\n"
               "and prints ready_ms=N (from the VMM's start), then each --send line's answer.\n\n"
               "  -h --help         Show this help\n"
               "     --timeout=SEC  Give up after SEC seconds waiting for anything (default 300)\n"
               "     --send=LINE    Send LINE after READY and print its answer (repeatable, in order)\n"
               "     --interval-ms=N  Wait N ms before each --send after the first (a clock's rate shows)\n"
               "     --timestamps   Print each answer after the ms since the VMM's start\n"
               "     --wait-exit    After the last answer, wait for the VMM to exit by itself (instead of\n"
               "                    SIGTERM) and print exit_status=N\n"
               "     --poweroff     Send POWEROFF last, --wait-exit\n",
               program_invocation_short_name);
}

int main(int argc, char *argv[]) {
        enum { ARG_TIMEOUT = 0x100, ARG_SEND, ARG_POWEROFF, ARG_INTERVAL, ARG_TIMESTAMPS, ARG_WAIT_EXIT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "send", required_argument, NULL, ARG_SEND },
                { "poweroff", no_argument, NULL, ARG_POWEROFF },
                { "interval-ms", required_argument, NULL, ARG_INTERVAL },
                { "timestamps", no_argument, NULL, ARG_TIMESTAMPS },
                { "wait-exit", no_argument, NULL, ARG_WAIT_EXIT },
                {},
        };
        _cleanup_strv_free_ char **send = NULL;
        char dir[] = "/tmp/agent-check-XXXXXX", path[sizeof(dir) + 16], line[LINE_MAX_AGENT + 1];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        unsigned timeout_s = 300, interval_ms = 0;
        bool poweroff = false, timestamps = false, wait_exit = false;
        int c, r, listen_fd, status;
        uint64_t start, deadline;
        Conn conn = {};
        pid_t pid;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_TIMEOUT:
                        timeout_s = (unsigned) atoi(optarg);
                        break;
                case ARG_SEND:
                        if (strv_extend(&send, optarg) < 0)
                                return 1;
                        break;
                case ARG_POWEROFF:
                        poweroff = true;
                        break;
                case ARG_INTERVAL:
                        interval_ms = (unsigned) atoi(optarg);
                        break;
                case ARG_TIMESTAMPS:
                        timestamps = true;
                        break;
                case ARG_WAIT_EXIT:
                        wait_exit = true;
                        break;
                default:
                        return 1;
                }
        if (optind >= argc) {
                fprintf(stderr, "agent-check: no VMM command given\n");
                return 1;
        }

        if (!mkdtemp(dir))
                return perror("mkdtemp"), 1;
        snprintf(path, sizeof(path), "%s/agent", dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        listen_fd = socket(AF_UNIX, SOCK_STREAM, 0); /* not CLOEXEC: it becomes the VMM's fd 3 */
        if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            listen(listen_fd, 1) < 0)
                return perror("agent socket"), 1;

        start = now_ms();
        pid = fork();
        if (pid < 0)
                return perror("fork"), 1;
        if (pid == 0) {
                if (dup2(listen_fd, 3) < 0)
                        _exit(127);
                execvp(argv[optind], argv + optind);
                perror("execvp");
                _exit(127);
        }
        close(listen_fd);

        conn.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (conn.fd < 0 || connect(conn.fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return perror("connect"), 1;
        (void) unlink(path);
        (void) rmdir(dir);
        deadline = start + timeout_s * 1000ull;

        r = read_line(&conn, deadline, line, sizeof(line));
        if (r < 0 || strncmp(line, "READY ", 6) != 0) {
                fprintf(stderr, "agent-check: no READY from the guest: %s\n", r < 0 ? strerror(-r) : line);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return 1;
        }
        printf("ready_ms=%" PRIu64 "\n%s\n", now_ms() - start, line);
        fflush(stdout);

        if (poweroff && strv_extend(&send, "POWEROFF") < 0)
                return 1;
        wait_exit = wait_exit || poweroff;
        STRV_FOREACH(s, send) {
                char out[LINE_MAX_AGENT + 2];

                if (s != send && interval_ms > 0)
                        (void) poll(
                                NULL,
                                0,
                                (int) interval_ms); /* a pause to measure over, not a wait for anything */
                snprintf(out, sizeof(out), "%s\n", *s);
                if (write(conn.fd, out, strlen(out)) != (ssize_t) strlen(out))
                        return perror("write"), 1;
                r = read_line(&conn, now_ms() + timeout_s * 1000ull, line, sizeof(line));
                if (r < 0) {
                        fprintf(stderr, "agent-check: no answer to '%s': %s\n", *s, strerror(-r));
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        return 1;
                }
                if (timestamps)
                        printf("%" PRIu64 " ", now_ms() - start);
                printf("%s\n", line);
                fflush(stdout);
        }
        if (!wait_exit) {
                kill(pid, SIGTERM);
                waitpid(pid, &status, 0);
                return 0;
        }
        /* The VMM should end by itself now; give it the timeout. */
        int pidfd = pidfd_open(pid, 0);
        if (pidfd < 0)
                return perror("pidfd_open"), 1;
        if (poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN },
                 1,
                 (int) MIN(timeout_s * 1000ull, (uint64_t) INT_MAX)) <= 0) {
                fprintf(stderr, "agent-check: the VMM did not exit by itself\n");
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return 1;
        }
        waitpid(pid, &status, 0);
        printf("exit_status=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        printf("total_ms=%" PRIu64 "\n", now_ms() - start);
        return 0;
}
