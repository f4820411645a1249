/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QMP client against a real qemu-system-aarch64 that gets its listening QMP socket as fd 3. */
#include <assert.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "config.h"
#include "qmp.h"

#define TIMEOUT_USEC (120 * USEC_PER_SEC) /* TCG on a loaded two-core machine */
#define QMP_FD 3

typedef struct Test {
        sd_event *event;
        QmpClient *client;
        pid_t pid;
        bool ready;
        bool exited;
        int exit_code;
        int exit_status;
        unsigned n_disconnect;
        char *disconnect_message;
        char **events;
        /* the reply being waited for */
        bool replied;
        json_object *result;
        char *error_class;
        char *error_desc;
} Test;

/* for the failure path only */
static Test *test_global;
static char *test_dir, *test_sock_path;

static void fail(const char *fmt, ...) _printf_(1, 2);
static void fail(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("FAIL: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        if (test_global && test_global->pid > 0 && !test_global->exited)
                (void) kill(test_global->pid, SIGKILL);
        if (test_sock_path)
                (void) unlink(test_sock_path);
        if (test_dir)
                (void) rmdir(test_dir);
        abort();
}

static char *find_qemu(void) {
        const char *path;
        _cleanup_free_ char *copy = NULL;
        char *saveptr = NULL;

        if (strchr(QEMU_SYSTEM_AARCH64, '/'))
                return access(QEMU_SYSTEM_AARCH64, X_OK) == 0 ? strdup(QEMU_SYSTEM_AARCH64) : NULL;

        path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
        copy = strdup(path);
        assert(copy);
        for (char *dir = strtok_r(copy, ":", &saveptr); dir; dir = strtok_r(NULL, ":", &saveptr)) {
                char *p;

                if (asprintf(&p, "%s/%s", dir, QEMU_SYSTEM_AARCH64) < 0)
                        abort();
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

static void on_ready(QmpClient *c, void *userdata) {
        Test *t = userdata;

        t->ready = true;
}

static void on_event(QmpClient *c, const char *event, json_object *data, void *userdata) {
        Test *t = userdata;

        fprintf(stderr,
                "event: %s %s\n",
                event,
                data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN) : "");
        assert(strv_extend(&t->events, event) >= 0);
}

static void on_disconnect(QmpClient *c, int error, const char *message, void *userdata) {
        Test *t = userdata;

        fprintf(stderr, "disconnect: %s (%s)\n", message, strerror(-error));
        t->n_disconnect++;
        assert(free_and_strdup(&t->disconnect_message, message) >= 0);
        /* What the daemon does: the VM drops its QMP client when the connection ends. */
        t->client = qmp_client_free(c);
}

static void on_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        Test *t = userdata;

        assert(!t->replied);
        t->replied = true;
        t->result = json_object_get(result);
        t->error_class = error_class ? strdup(error_class) : NULL;
        t->error_desc = error_desc ? strdup(error_desc) : NULL;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Test *t = userdata;

        t->exited = true;
        t->exit_code = si->si_code;
        t->exit_status = si->si_status;
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        fail("timed out");
        return 0;
}

/* Runs the loop until cond; QEMU exiting or the connection ending meanwhile fails the test at once. */
#define RUN_UNTIL(t, cond) \
        do { \
                while (!(cond)) { \
                        int _r = sd_event_run((t)->event, UINT64_MAX); \
                        if (_r < 0) \
                                fail("sd_event_run: %s", strerror(-_r)); \
                        if (!(cond) && ((t)->exited || (t)->n_disconnect > 0)) \
                                fail("QEMU exited or QMP disconnected while waiting for %s", #cond); \
                } \
        } while (0)

static bool has_event(Test *t, const char *name) {
        STRV_FOREACH(e, t->events)
                if (streq(*e, name))
                        return true;
        return false;
}

/* Sends a command and runs the loop until its reply; returns the "return" value (a new reference). */
static json_object *call(Test *t, const char *command, json_object *arguments) {
        int r;

        t->replied = false;
        free(t->error_class);
        free(t->error_desc);
        t->error_class = t->error_desc = NULL;

        r = qmp_send(t->client, command, arguments, on_reply, t);
        if (r < 0)
                fail("qmp_send(%s): %s", command, strerror(-r));
        RUN_UNTIL(t, t->replied);
        if (t->error_class)
                fail("%s: %s: %s", command, t->error_class, t->error_desc);
        fprintf(stderr,
                "%s -> %s\n",
                command,
                json_object_to_json_string_ext(t->result, JSON_C_TO_STRING_PLAIN));
        return TAKE_PTR(t->result);
}

static void expect_status(Test *t, const char *status, bool running) {
        json_object *result = call(t, "query-status", NULL), *v;

        if (!json_object_object_get_ex(result, "status", &v) || !streq(json_object_get_string(v), status))
                fail("query-status: expected \"%s\"", status);
        if (!json_object_object_get_ex(result, "running", &v) || json_object_get_boolean(v) != running)
                fail("query-status: expected running=%s", running ? "true" : "false");
        json_object_put(result);
}

static pid_t spawn_qemu(const char *qemu, int listen_fd) {
        const char *argv[] = {
                qemu,
                "-machine",
                "virt,gic-version=3",
                "-accel",
                "tcg",
                "-cpu",
                "max",
                "-nodefaults",
                "-no-user-config",
                "-display",
                "none",
                "-S",
                "-m",
                "64",
                "-chardev",
                "socket,id=qmp,fd=3,server=on,wait=off" /* QMP_FD */,
                "-mon",
                "chardev=qmp,mode=control",
                NULL,
        };
        pid_t pid;

        pid = fork();
        if (pid < 0)
                fail("fork: %m");
        if (pid > 0)
                return pid;

        /* Child: only async-signal-safe calls. fd 3 is the listening socket, without O_CLOEXEC. stdin from
         * /dev/null, stdout/stderr shared for diagnostics. */
        sigset_t ss;
        int null_fd;

        (void) sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0)
                _exit(126);
        if (listen_fd == QMP_FD) {
                if (fd_cloexec(QMP_FD, false) < 0)
                        _exit(126);
        } else if (dup2(listen_fd, QMP_FD) < 0) /* dup2() clears O_CLOEXEC on the new fd */
                _exit(126);
        /* Also what we inherited ourselves without O_CLOEXEC: QEMU gets exactly 0, 1, 2 and 3. */
        if (close_range(QMP_FD + 1, ~0U, 0) < 0)
                _exit(126);
        execv(qemu, (char **) argv);
        _exit(127);
}

int main(void) {
        _cleanup_free_ char *qemu = NULL, *dir = NULL, *sock_path = NULL;
        _cleanup_close_ int listen_fd = -EBADF, conn_fd = -EBADF;
        _cleanup_(sd_event_source_unrefp) sd_event_source *child = NULL, *timeout = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        json_object *result;
        sigset_t ss;
        Test t = {};
        int r;

        qemu = find_qemu();
        if (!qemu) {
                fprintf(stderr, "%s not found, skipping.\n", QEMU_SYSTEM_AARCH64);
                return 77;
        }
        test_global = &t;

        (void) sigemptyset(&ss);
        (void) sigaddset(&ss, SIGCHLD);
        assert(sigprocmask(SIG_BLOCK, &ss, NULL) >= 0);

        assert(sd_event_new(&t.event) >= 0);

        /* The listening socket: bound in a private temporary directory. */
        dir = strdup("/tmp/test-qmp-qemu.XXXXXX");
        assert(dir);
        if (!mkdtemp(dir))
                fail("mkdtemp: %m");
        assert(asprintf(&sock_path, "%s/qmp.sock", dir) >= 0);
        assert(strlen(sock_path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, sock_path);

        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(listen_fd >= 0);
        if (bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                fail("bind: %m");
        if (listen(listen_fd, 1) < 0)
                fail("listen: %m");

        test_dir = dir;
        test_sock_path = sock_path;

        /* Connect before QEMU even exists: the connection waits in the backlog until QEMU accepts it, so
         * there is no window in which we could be too early. */
        conn_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(conn_fd >= 0);
        if (connect(conn_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                fail("connect: %m");

        t.pid = spawn_qemu(qemu, listen_fd);
        listen_fd = safe_close(listen_fd); /* only QEMU listens now */
        fprintf(stderr, "started %s as %d\n", qemu, (int) t.pid);

        r = sd_event_add_child(t.event, &child, t.pid, WEXITED, on_child, &t);
        if (r < 0)
                fail("sd_event_add_child: %s", strerror(-r));
        r = sd_event_add_time_relative(t.event, &timeout, CLOCK_MONOTONIC, TIMEOUT_USEC, 0, on_timeout, NULL);
        assert(r >= 0);

        r = qmp_client_new(t.event, conn_fd, &t.client);
        assert(r >= 0);
        TAKE_FD(conn_fd);
        qmp_client_set_handlers(t.client, on_ready, on_event, on_disconnect, &t);

        RUN_UNTIL(&t, t.ready);
        fprintf(stderr, "QMP ready\n");

        expect_status(&t, "prelaunch", false);

        json_object_put(call(&t, "cont", NULL));
        RUN_UNTIL(&t, has_event(&t, "RESUME"));
        expect_status(&t, "running", true);

        json_object_put(call(&t, "stop", NULL));
        RUN_UNTIL(&t, has_event(&t, "STOP"));
        expect_status(&t, "paused", false);

        /* A failing command comes back as an error, and the connection stays usable. */
        r = qmp_send(t.client, "no-such-command", NULL, on_reply, &t);
        assert(r >= 0);
        t.replied = false;
        RUN_UNTIL(&t, t.replied);
        if (!streq_ptr(t.error_class, "CommandNotFound"))
                fail("no-such-command: expected CommandNotFound, got %s", strna(t.error_class));
        fprintf(stderr, "no-such-command -> %s: %s\n", t.error_class, t.error_desc);
        expect_status(&t, "paused", false);

        /* Re-adoption after a daemon restart: drop the connection, connect again through the path. QEMU
         * (server=on) listens again on the same socket and greets the new client. */
        t.client = qmp_client_free(t.client);
        conn_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(conn_fd >= 0);
        if (connect(conn_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                fail("reconnect: %m");
        t.ready = false;
        assert(qmp_client_new(t.event, conn_fd, &t.client) >= 0);
        TAKE_FD(conn_fd);
        qmp_client_set_handlers(t.client, on_ready, on_event, on_disconnect, &t);
        RUN_UNTIL(&t, t.ready);
        fprintf(stderr, "QMP ready again after reconnecting\n");
        expect_status(&t, "paused", false);

        result = call(&t, "quit", NULL);
        json_object_put(result);
        /* Both ends come in either order. */
        while (!(t.n_disconnect > 0 && t.exited)) {
                r = sd_event_run(t.event, UINT64_MAX);
                if (r < 0)
                        fail("sd_event_run: %s", strerror(-r));
        }

        if (!streq_ptr(t.disconnect_message, "connection closed"))
                fail("disconnect: expected \"connection closed\", got \"%s\"", strna(t.disconnect_message));
        if (t.exit_code != CLD_EXITED || t.exit_status != 0)
                fail("QEMU: code %d status %d, expected a clean exit", t.exit_code, t.exit_status);
        assert(!t.client);
        if (!has_event(&t, "SHUTDOWN"))
                fail("no SHUTDOWN event after quit");
        fprintf(stderr, "QEMU exited with status 0; events:");
        STRV_FOREACH(e, t.events)
                fprintf(stderr, " %s", *e);
        fputc('\n', stderr);

        /* QEMU 7.2 unlinks the socket's path (as getsockname() reports it) when it closes the chardev. */
        assert(unlink(sock_path) >= 0 || errno == ENOENT);
        assert(rmdir(dir) >= 0);
        test_dir = test_sock_path = NULL;

        child = sd_event_source_unref(child);
        timeout = sd_event_source_unref(timeout);
        t.event = sd_event_unref(t.event);
        strv_free(t.events);
        free(t.disconnect_message);
        free(t.error_class);
        free(t.error_desc);
        return 0;
}
