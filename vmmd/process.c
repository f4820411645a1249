/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fork+exec with a clean fd table, reset signals, and an exec-status pipe. */
#include <cap-ng.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "names.h"
#include "process.h"

static int pidfd_open_compat(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

/* What the child says when it fails before exec: its errno and what it was doing. */
typedef struct ChildFailure {
        int error;
        char step[SPAWN_STEP_MAX];
} ChildFailure;

_Noreturn static void child(char *const *argv, const SpawnOptions *o, int status_fd, pid_t parent) {
        ChildFailure f = {};
        sigset_t ss;
        int nullfd, r;

        /* sd-event blocked signals in the parent; QEMU expects a clean slate. */
        (void) sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                (void) signal(sig, SIG_DFL);
        (void) setsid();

        /* Keep the status pipe clear of the fd numbers the child is to get. */
        status_fd = fcntl(status_fd, F_DUPFD_CLOEXEC, 64);
        if (status_fd < 0)
                _exit(127);
        nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nullfd < 0)
                goto fail;
        /* Move the passed fds out of the way first, so dup2 into 3.. cannot clobber one of them. */
        int moved[8];
        if (o->n_fds > ELEMENTSOF(moved)) {
                errno = E2BIG;
                goto fail;
        }
        for (size_t i = 0; i < o->n_fds; i++) {
                moved[i] = fcntl(o->fds[i], F_DUPFD_CLOEXEC, 64);
                if (moved[i] < 0)
                        goto fail;
        }
        if (dup2(nullfd, STDIN_FILENO) < 0)
                goto fail;
        r = o->output_fd >= 0 ? o->output_fd : nullfd;
        if (dup2(r, STDOUT_FILENO) < 0 || dup2(r, STDERR_FILENO) < 0)
                goto fail;
        for (size_t i = 0; i < o->n_fds; i++)
                if (dup2(moved[i], 3 + (int) i) < 0) /* dup2 clears O_CLOEXEC on the copy */
                        goto fail;
        /* The child gets exactly these fds; the status pipe must survive until exec closes it. */
        (void) close_range(3 + o->n_fds, status_fd - 1, 0);
        (void) close_range(status_fd + 1, ~0U, 0);

        if (o->drop_privileges) {
                if (o->switch_user &&
                    (setgroups(o->n_groups, o->groups) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 ||
                     setresuid(o->uid, o->uid, o->uid) < 0))
                        goto fail;
                /* What the VM's identity creates is its own; vmmd reads it as the VM (vm_fs_enter()). */
                if (o->switch_user)
                        (void) umask(0077);
                if (o->sandbox) {
                        r = sandbox_enter(o->sandbox, f.step, sizeof(f.step));
                        if (r < 0) {
                                errno = -r;
                                goto fail;
                        }
                        f.step[0] = 0;
                }
                capng_clear(CAPNG_SELECT_BOTH);
                /* After the switch the bounding set cannot shrink (no CAP_SETPCAP): with no_new_privs and
                 * a non-root uid nothing in it can be gained back anyway. */
                if (capng_apply(o->switch_user ? CAPNG_SELECT_CAPS : CAPNG_SELECT_BOTH) < 0 && geteuid() == 0) {
                        errno = EPERM;
                        goto fail;
                }
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                        goto fail;
        }

        /* Last: a change of credentials clears it. A parent that died already is checked for by hand. */
        if (o->die_with_parent &&
            (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || (getppid() != parent && (errno = ESRCH))))
                goto fail;

        execvp(argv[0], argv);
        (void) snprintf(f.step, sizeof(f.step), "executing %s", argv[0]);
fail:
        f.error = errno;
        (void) !write(status_fd, &f, sizeof(f));
        _exit(127);
}

int spawn(char *const *argv, const SpawnOptions *o, pid_t *ret_pid, int *ret_pidfd, char **ret_step) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF, pidfd = -EBADF;
        ChildFailure f = {};
        pid_t pid, parent = getpid();
        int p[2];
        ssize_t k;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        rfd = p[0];
        wfd = p[1];

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                child(argv, o, wfd, parent);

        wfd = safe_close(wfd);
        pidfd = pidfd_open_compat(pid);
        /* The pipe closes on a successful exec; before that, the child writes why not. This read blocks
         * only for the fork-to-exec window, which is short and bounded. */
        do
                k = read(rfd, &f, sizeof(f));
        while (k < 0 && errno == EINTR);
        if (k == sizeof(f)) {
                (void) waitpid(pid, NULL, 0);
                f.step[sizeof(f.step) - 1] = 0;
                if (ret_step && f.step[0])
                        *ret_step = strdup(f.step);
                return f.error > 0 ? -f.error : -EIO;
        }
        if (pidfd < 0) {
                int r = -errno;
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        *ret_pid = pid;
        *ret_pidfd = TAKE_FD(pidfd);
        return 0;
}

int spawn_watched(
        sd_event *e,
        char *const *argv,
        const SpawnOptions *o,
        sd_event_child_handler_t cb,
        void *userdata,
        sd_event_source **ret_source,
        pid_t *ret_pid,
        char **ret_step) {
        _cleanup_close_ int pidfd = -EBADF;
        sd_event_source *source;
        pid_t pid;
        int r;

        r = spawn(argv, o, &pid, &pidfd, ret_step);
        if (r < 0)
                return r;
        r = sd_event_add_child_pidfd(e, &source, pidfd, WEXITED, cb, userdata);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        (void) sd_event_source_set_child_pidfd_own(source, true);
        (void) sd_event_source_set_child_process_own(source, true);
        (void) sd_event_source_set_description(source, argv[0]);
        TAKE_FD(pidfd);
        *ret_source = source;
        *ret_pid = pid;
        return 0;
}

typedef struct ForkCall {
        int result_fd;
        fork_done_t done;
        void *userdata;
} ForkCall;

static void fork_call_free(void *userdata) {
        ForkCall *c = userdata;

        safe_close(c->result_fd);
        free(c);
}

/* In a fork_call() child: where its verdict goes. */
static int fork_call_result_fd = -EBADF;

static int cmp_int(const void *a, const void *b) {
        return *(const int *) a - *(const int *) b;
}

int fork_call_close_fds(const int *keep, size_t n) {
        int fds[64];
        size_t k = 0;
        unsigned next = 3;

        if (fork_call_result_fd < 0 || n + 1 > ELEMENTSOF(fds))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (keep[i] >= 3)
                        fds[k++] = keep[i];
        fds[k++] = fork_call_result_fd;
        qsort(fds, k, sizeof(int), cmp_int);
        for (size_t i = 0; i < k; i++) {
                if ((unsigned) fds[i] > next && close_range(next, (unsigned) fds[i] - 1, 0) < 0)
                        return -errno;
                next = (unsigned) fds[i] + 1;
        }
        return close_range(next, ~0U, 0) < 0 ? -errno : 0;
}

/* The verdict: an int (0 or a negative errno), then the message. */
static int on_fork_call_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        ForkCall *c = userdata;
        char buf[1024] = {};
        ssize_t n;
        int r = -EIO;

        n = read(c->result_fd, buf, sizeof(buf) - 1);
        if (si->si_code == CLD_EXITED && n >= (ssize_t) sizeof(int))
                memcpy(&r, buf, sizeof(int));
        c->done(r, n > (ssize_t) sizeof(int) ? buf + sizeof(int) : NULL, c->userdata);
        return 0;
}

int fork_call(
        sd_event *e,
        const char *description,
        fork_fn_t fn,
        void *fn_userdata,
        fork_done_t done,
        void *userdata,
        sd_event_source **ret) {
        _cleanup_close_ int pidfd = -EBADF, rfd = -EBADF;
        sd_event_source *source = NULL;
        ForkCall *c;
        int p[2], r;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        rfd = p[0];
        pid = fork();
        if (pid < 0) {
                r = -errno;
                safe_close(p[1]);
                return r;
        }
        if (pid == 0) {
                /* The child only computes and writes its verdict; the pipe holds it (well under PIPE_BUF). */
                _cleanup_free_ char *message = NULL;
                char buf[1024] = {};

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
                fork_call_result_fd = p[1];
                r = fn(fn_userdata, &message);
                memcpy(buf, &r, sizeof(int));
                if (message)
                        (void) snprintf(buf + sizeof(int), sizeof(buf) - sizeof(int), "%s", message);
                (void) !write(p[1], buf, sizeof(int) + (message ? strlen(buf + sizeof(int)) + 1 : 0));
                _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        }
        safe_close(p[1]);
        pidfd = pidfd_open_compat(pid);
        c = pidfd >= 0 ? calloc(1, sizeof(ForkCall)) : NULL;
        r = !c ? (pidfd < 0 ? -errno : -ENOMEM) :
                 sd_event_add_child_pidfd(e, &source, pidfd, WEXITED, on_fork_call_exit, c);
        if (r < 0) {
                free(c);
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        *c = (ForkCall){ .result_fd = TAKE_FD(rfd), .done = done, .userdata = userdata };
        (void) sd_event_source_set_destroy_callback(source, fork_call_free);
        (void) sd_event_source_set_child_pidfd_own(source, true);
        (void) sd_event_source_set_child_process_own(source, true);
        (void) sd_event_source_set_description(source, description);
        TAKE_FD(pidfd);
        *ret = source;
        return 0;
}

int describe_exit(int code, int status, char **ret) {
        int r;

        if (code == CLD_EXITED)
                r = asprintf(ret, "exited with status %d", status);
        else
                r = asprintf(
                        ret,
                        "was killed by signal %d (%s)%s",
                        status,
                        sigabbrev_np(status) ?: "?",
                        code == CLD_DUMPED ? ", core dumped" : "");
        return r < 0 ? -ENOMEM : 0;
}

char *log_tail_line(const char *path, size_t max) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        char *start;
        size_t n;

        /* The VMM writes this file: never more than its last few KiB, never anything but a file. */
        fd = open_regular(path);
        if (fd < 0 || read_tail(fd, 4096, &data, &n) < 0)
                return NULL;
        while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' '))
                data[--n] = 0;
        if (n == 0)
                return NULL;
        start = memrchr(data, '\n', n);
        start = start ? start + 1 : data;
        /* A failure reason goes over D-Bus: printable UTF-8 only (a NUL in the data ends it early). */
        return utf8_printable(start, max);
}
