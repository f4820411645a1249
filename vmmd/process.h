/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Starting child processes (QEMU, qemu-img) with exactly the fds they need, watched by pidfd. */
#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "sandbox.h"
#include "util.h"

typedef struct SpawnOptions {
        /* fds[i] becomes fd 3 + i in the child; every other fd is closed. */
        const int *fds;
        size_t n_fds;
        int output_fd;        /* stdout and stderr; -EBADF for /dev/null */
        bool drop_privileges; /* no capabilities, no_new_privs */
        /* With drop_privileges: become this user first (needs CAP_SETUID and CAP_SETGID). */
        bool switch_user;
        uid_t uid;
        gid_t gid;
        const gid_t *groups; /* supplementary groups */
        size_t n_groups;
        /* With drop_privileges: entered after the user switch (NULL: none). */
        const Sandbox *sandbox;
        /* Killed when vmmd ends (a golden build; VMMs outlive vmmd and are adopted again). */
        bool die_with_parent;
} SpawnOptions;

#define SPAWN_STEP_MAX 160

/* Forks and execs argv[0] (searched in $PATH). Returns the child's pid and a pidfd. The exec is checked:
 * a missing binary is reported here as -ENOENT, not as a child that exits 127; ret_step (may be NULL)
 * then says what the child was doing ("binding /usr/share/...", "executing qemu-img"). */
int spawn(char *const *argv, const SpawnOptions *o, pid_t *ret_pid, int *ret_pidfd, char **ret_step);

/* spawn(), then an sd-event child source on its pidfd that owns the process: unref'ing the source kills
 * the child, so nothing outlives its owner by accident. */
int spawn_watched(
        sd_event *e,
        char *const *argv,
        const SpawnOptions *o,
        sd_event_child_handler_t cb,
        void *userdata,
        sd_event_source **ret_source,
        pid_t *ret_pid,
        char **ret_step);

/* Runs fn in a forked child, so that the event loop does not wait for it (hashing files); done gets what fn
 * returned (0 or a negative errno; -EIO if the child died) and its message (or NULL) once the child ended.
 * The source owns the child: unref'ing it kills the child, and done is not called. */
typedef int (*fork_fn_t)(void *userdata, char **ret_message);
typedef void (*fork_done_t)(int r, const char *message, void *userdata);
int fork_call(
        sd_event *e,
        const char *description,
        fork_fn_t fn,
        void *fn_userdata,
        fork_done_t done,
        void *userdata,
        sd_event_source **ret);

/* In a fork_call() fn: closes every fd but keep[] (and the child's way to answer), so that a child about to
 * read what a guest made holds nothing of vmmd's (its bus connection, its database). */
int fork_call_close_fds(const int *keep, size_t n);

/* "exited with status 1", "was killed by signal 9 (KILL)" */
int describe_exit(int code, int status, char **ret);

/* The last non-empty line of a log file (for failure reasons), truncated to max bytes. */
char *log_tail_line(const char *path, size_t max);
