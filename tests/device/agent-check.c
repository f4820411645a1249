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
#include <sys/stat.h>
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

/* A listening socket at dir/name, not CLOEXEC (it becomes one of the VMM's fds), and its address. */
static int listen_at(const char *dir, const char *name, struct sockaddr_un *ret_sa) {
        int fd;

        *ret_sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
        snprintf(ret_sa->sun_path, sizeof(ret_sa->sun_path), "%s/%s", dir, name);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) ret_sa, sizeof(*ret_sa)) < 0 || listen(fd, 1) < 0)
                return -errno;
        return fd;
}

static int connect_to(const struct sockaddr_un *sa) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) < 0)
                return -errno;
        (void) unlink(sa->sun_path);
        return fd;
}

/* QMP, the little a snapshot needs: lines are read until one contains what is expected or is an "error"
 * reply (events and other replies in between are skipped); the line in ret. */
static int qmp_read_until(Conn *q, const char *what, uint64_t deadline, char *ret, size_t size) {
        int r;

        for (;;) {
                r = read_line(q, deadline, ret, size);
                if (r < 0)
                        return r;
                if (strstr(ret, "\"error\"") || strstr(ret, what))
                        return 0;
        }
}

/* As qmp_read_until(), and an "error" reply fails. */
static int qmp_expect(Conn *q, const char *what, uint64_t deadline) {
        char line[4096];
        int r;

        r = qmp_read_until(q, what, deadline, line, sizeof(line));
        if (r < 0)
                return r;
        if (strstr(line, "\"error\"")) {
                fprintf(stderr, "agent-check: QMP: %s\n", line);
                return -EIO;
        }
        return 0;
}

static int qmp_send(Conn *q, const char *json, int fd) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { (void *) json, strlen(json) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (fd >= 0) {
                mh.msg_control = &control;
                mh.msg_controllen = sizeof(control);
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        }
        if (sendmsg(q->fd, &mh, MSG_NOSIGNAL) != (ssize_t) strlen(json))
                return -errno;
        return 0;
}

static int qmp_command(Conn *q, const char *json, int fd, uint64_t deadline) {
        int r = qmp_send(q, json, fd);

        return r < 0 ? r : qmp_expect(q, "\"return\"", deadline);
}

/* Sets the balloon's target and waits for the BALLOON_CHANGE that says the guest got there. */
static int qmp_balloon(Conn *q, uint64_t mib, uint64_t deadline) {
        char cmd[128], want[64];
        int r;

        if (q->fd < 0)
                return -ENOTCONN;
        snprintf(
                cmd,
                sizeof(cmd),
                "{\"execute\": \"balloon\", \"arguments\": {\"value\": %" PRIu64 "}}\n",
                mib << 20);
        snprintf(want, sizeof(want), "\"actual\":%" PRIu64 "}", mib << 20);
        r = qmp_command(q, cmd, -1, deadline);
        return r < 0 ? r : qmp_expect(q, want, deadline);
}

/* Stops the machine and has it write its snapshot into path, as vmmd's golden build does with QEMU;
 * incremental: a delta of its base (vmm-hv's "inc"). */
static int qmp_snapshot(Conn *q, const char *path, bool incremental, uint64_t deadline) {
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int r;

        if (fd < 0)
                return -errno;
        r = qmp_command(q, "{\"execute\": \"stop\"}\n", -1, deadline);
        if (r >= 0)
                r = qmp_command(
                        q, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"state\"}}\n", fd, deadline);
        if (r >= 0)
                r = qmp_command(
                        q,
                        incremental ?
                                "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"fd:state\", \"inc\": true}}\n" :
                                "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"fd:state\"}}\n",
                        -1,
                        deadline);
        if (r >= 0)
                r = qmp_expect(q, "\"completed\"", deadline);
        return r;
}

/* The VMM's resident memory from /proc/PID/smaps, in KiB: all of it, and all but the mappings of at least
 * ram_kib (guest RAM: a memfd or an anonymous mapping of its size), so that VMMs compare by their own. */
static int vmm_rss(pid_t pid, uint64_t ram_kib, uint64_t *ret_total, uint64_t *ret_besides_ram) {
        _cleanup_fclose_ FILE *f = NULL;
        char path[64], line[512];
        uint64_t total = 0, besides = 0, size = 0;
        unsigned long long start, end, kib;

        snprintf(path, sizeof(path), "/proc/%d/smaps", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                if (sscanf(line, "%llx-%llx ", &start, &end) == 2) /* a mapping's first line */
                        size = (end - start) / 1024;
                else if (sscanf(line, "Rss: %llu kB", &kib) == 1) {
                        total += kib;
                        if (size < ram_kib)
                                besides += kib;
                }
        }
        *ret_total = total;
        *ret_besides_ram = besides;
        return 0;
}

static void help(void) {
        printf("%s [OPTIONS...] -- VMM [ARGS...]\n\n"
               "Starts VMM with a listening unix socket as fd 3 for the guest agent's port, waits for READY\n"
               "and prints ready_ms=N (from the VMM's start), then each --send line's answer.\n\n"
               "  -h --help         Show this help\n"
               "     --timeout=SEC  Give up after SEC seconds waiting for anything (default 300)\n"
               "     --send=LINE    Send LINE after READY and print its answer (repeatable, in order);\n"
               "                    \"!rss\" prints the VMM's resident memory, \"!balloon MIB\" sets the\n"
               "                    balloon's target over QMP and waits until the guest got there, \"!qmp JSON\"\n"
               "                    sends a QMP command and prints its reply (a return or an error)\n"
               "     --interval-ms=N  Wait N ms before each --send after the first (a clock's rate shows)\n"
               "     --timestamps   Print each answer after the ms since the VMM's start\n"
               "     --wait-exit    After the last answer, wait for the VMM to exit by itself (instead of\n"
               "                    SIGTERM) and print exit_status=N\n"
               "     --poweroff     Send POWEROFF last, --wait-exit\n"
               "     --resume       The guest runs already (a restored snapshot): PING it, and take READY\n"
               "                    or the PONG as ready\n"
               "     --qmp          Also a listening socket as fd 4, for the VMM's QMP\n"
               "     --rss=MIB      After the answers, print the VMM's resident memory, and that besides\n"
               "                    its guest RAM (mappings of MIB or more), in KiB\n"
               "     --snapshot=FILE  After the answers, stop the machine and have it write a snapshot\n"
               "                    into FILE (QMP stop, getfd, migrate); then quit it (needs --qmp)\n"
               "     --snapshot-inc=FILE  The same, an incremental snapshot (migrate with inc: true): a delta\n"
               "                    of the snapshot the machine was restored from or last wrote\n",
               program_invocation_short_name);
}

int main(int argc, char *argv[]) {
        enum {
                ARG_TIMEOUT = 0x100,
                ARG_SEND,
                ARG_POWEROFF,
                ARG_INTERVAL,
                ARG_TIMESTAMPS,
                ARG_WAIT_EXIT,
                ARG_RESUME,
                ARG_QMP,
                ARG_SNAPSHOT,
                ARG_SNAPSHOT_INC,
                ARG_RSS,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "send", required_argument, NULL, ARG_SEND },
                { "poweroff", no_argument, NULL, ARG_POWEROFF },
                { "interval-ms", required_argument, NULL, ARG_INTERVAL },
                { "timestamps", no_argument, NULL, ARG_TIMESTAMPS },
                { "wait-exit", no_argument, NULL, ARG_WAIT_EXIT },
                { "resume", no_argument, NULL, ARG_RESUME },
                { "qmp", no_argument, NULL, ARG_QMP },
                { "snapshot", required_argument, NULL, ARG_SNAPSHOT },
                { "snapshot-inc", required_argument, NULL, ARG_SNAPSHOT_INC },
                { "rss", required_argument, NULL, ARG_RSS },
                {},
        };
        _cleanup_strv_free_ char **send = NULL;
        char dir[] = "/tmp/agent-check-XXXXXX", line[LINE_MAX_AGENT + 1];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        unsigned timeout_s = 300, interval_ms = 0;
        bool poweroff = false, timestamps = false, wait_exit = false, resume = false, qmp = false,
             snapshot_inc = false;
        const char *snapshot = NULL;
        uint64_t rss_ram_mib = 0;
        int c, r, listen_fd, qmp_listen_fd = -EBADF, status;
        struct sockaddr_un qmp_sa;
        Conn qmp_conn = { .fd = -EBADF };
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
                case ARG_RESUME:
                        resume = true;
                        break;
                case ARG_QMP:
                        qmp = true;
                        break;
                case ARG_SNAPSHOT:
                case ARG_SNAPSHOT_INC:
                        snapshot = optarg;
                        snapshot_inc = c == ARG_SNAPSHOT_INC;
                        break;
                case ARG_RSS:
                        rss_ram_mib = strtoull(optarg, NULL, 10);
                        break;
                default:
                        return 1;
                }
        if (optind >= argc) {
                fprintf(stderr, "agent-check: no VMM command given\n");
                return 1;
        }

        if (snapshot && !qmp) {
                fprintf(stderr, "agent-check: --snapshot needs --qmp\n");
                return 1;
        }
        if (!mkdtemp(dir))
                return perror("mkdtemp"), 1;
        listen_fd = listen_at(dir, "agent", &sa);
        if (listen_fd < 0)
                return perror("agent socket"), 1;
        if (qmp) {
                qmp_listen_fd = listen_at(dir, "qmp", &qmp_sa);
                if (qmp_listen_fd < 0)
                        return perror("qmp socket"), 1;
        }

        start = now_ms();
        pid = fork();
        if (pid < 0)
                return perror("fork"), 1;
        if (pid == 0) {
                if (dup2(listen_fd, 3) < 0 || (qmp_listen_fd >= 0 && dup2(qmp_listen_fd, 4) < 0))
                        _exit(127);
                execvp(argv[optind], argv + optind);
                perror("execvp");
                _exit(127);
        }
        close(listen_fd);
        safe_close(qmp_listen_fd);

        conn.fd = connect_to(&sa);
        if (conn.fd < 0)
                return perror("connect"), 1;
        deadline = start + timeout_s * 1000ull;
        if (qmp) {
                qmp_conn.fd = connect_to(&qmp_sa);
                if (qmp_conn.fd < 0 || qmp_expect(&qmp_conn, "\"QMP\"", deadline) < 0 ||
                    qmp_command(&qmp_conn, "{\"execute\": \"qmp_capabilities\"}\n", -1, deadline) < 0) {
                        fprintf(stderr, "agent-check: no QMP\n");
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        return 1;
                }
        }
        (void) rmdir(dir);

        /* A restored guest's agent sent its READY long ago, to another host: it answers the PING. */
        if (resume && write(conn.fd, "PING resume\n", 12) != 12)
                return perror("write"), 1;
        r = read_line(&conn, deadline, line, sizeof(line));
        if (r < 0 || (strncmp(line, "READY ", 6) != 0 && !(resume && streq(line, "PONG resume")))) {
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
                if (streq(*s, "!rss")) {
                        uint64_t total = 0, besides = 0;

                        if (vmm_rss(pid, 1024 * 1024, &total, &besides) < 0)
                                return perror("smaps"), 1;
                        printf("vmm_rss_kib=%" PRIu64 "\n", total);
                        continue;
                }
                if (strncmp(*s, "!balloon ", 9) == 0) {
                        uint64_t mib = strtoull(*s + 9, NULL, 10);

                        r = qmp_balloon(&qmp_conn, mib, now_ms() + timeout_s * 1000ull);
                        if (r < 0) {
                                fprintf(stderr,
                                        "agent-check: the balloon did not get to %" PRIu64 " MiB: %s\n",
                                        mib,
                                        strerror(-r));
                                kill(pid, SIGKILL);
                                waitpid(pid, NULL, 0);
                                return 1;
                        }
                        printf("balloon %" PRIu64 " MiB\n", mib);
                        continue;
                }
                if (strncmp(*s, "!qmp ", 5) == 0) {
                        char cmd[1024], reply[4096];

                        snprintf(cmd, sizeof(cmd), "%s\n", *s + 5);
                        r = qmp_conn.fd < 0 ? -ENOTCONN : qmp_send(&qmp_conn, cmd, -1);
                        if (r >= 0)
                                r = qmp_read_until(
                                        &qmp_conn,
                                        "\"return\"",
                                        now_ms() + timeout_s * 1000ull,
                                        reply,
                                        sizeof(reply));
                        if (r < 0) {
                                fprintf(stderr, "agent-check: no QMP reply to %s: %s\n", *s + 5, strerror(-r));
                                kill(pid, SIGKILL);
                                waitpid(pid, NULL, 0);
                                return 1;
                        }
                        printf("%s\n", reply);
                        continue;
                }
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
        if (rss_ram_mib > 0) {
                uint64_t total = 0, besides = 0;

                if (vmm_rss(pid, rss_ram_mib * 1024, &total, &besides) < 0)
                        return perror("smaps"), 1;
                printf("vmm_rss_kib=%" PRIu64 "\nvmm_rss_besides_ram_kib=%" PRIu64 "\n", total, besides);
        }
        if (snapshot) {
                uint64_t t0 = now_ms();

                r = qmp_snapshot(&qmp_conn, snapshot, snapshot_inc, now_ms() + timeout_s * 1000ull);
                if (r < 0) {
                        fprintf(stderr, "agent-check: the snapshot failed: %s\n", strerror(-r));
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        return 1;
                }
                printf("snapshot_ms=%" PRIu64 "\n", now_ms() - t0);
                r = qmp_command(&qmp_conn, "{\"execute\": \"quit\"}\n", -1, now_ms() + timeout_s * 1000ull);
                if (r < 0)
                        return 1;
                wait_exit = true;
        }
        if (!wait_exit) {
                kill(pid, SIGTERM);
                waitpid(pid, &status, 0);
                return 0;
        }
        /* With a QMP client, a VMM holds a guest that stopped (QEMU's -action ...=pause, vmm-hv's default
         * then) until it is told to quit: the client's part. */
        if (qmp_conn.fd >= 0 && !snapshot) {
                r = qmp_expect(&qmp_conn, "\"SHUTDOWN\"", now_ms() + timeout_s * 1000ull);
                if (r >= 0)
                        r = qmp_command(
                                &qmp_conn, "{\"execute\": \"quit\"}\n", -1, now_ms() + timeout_s * 1000ull);
                if (r < 0) {
                        fprintf(stderr,
                                "agent-check: no SHUTDOWN over QMP, or quit failed: %s\n",
                                strerror(-r));
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        return 1;
                }
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
