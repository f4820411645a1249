/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VMM sandbox, tried from inside: what is bound is there (read-only or writable as asked), nothing
 * else of the host's files is, there is no network, and the uid is unchanged. */
#include <assert.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "process.h"

static char dir[] = "/tmp/test-sandbox-XXXXXX";

/* As root, the sandbox is also tried as a VM's uid, as vmmd enters it. */
static uid_t as_uid = (uid_t) -1;

/* Runs a shell script in the sandbox; its exit status. */
static int run_in(const Sandbox *sb, const char *script) {
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) script, NULL };
        SpawnOptions o = { .output_fd = -EBADF, .drop_privileges = true, .sandbox = sb };

        if (as_uid != (uid_t) -1) {
                o.switch_user = true;
                o.uid = as_uid;
                o.gid = (gid_t) as_uid;
        }
        _cleanup_close_ int pidfd = -EBADF;
        int status;
        pid_t pid;
        int r;

        _cleanup_free_ char *step = NULL;
        r = spawn(argv, &o, &pid, &pidfd, &step);
        if (r < 0) {
                fprintf(stderr, "spawn in the sandbox: %s: %s\n", strna(step), strerror(-r));
                abort();
        }
        assert(waitpid(pid, &status, 0) == pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_sandbox(void) {
        _cleanup_free_ char *ro = NULL, *rw = NULL, *secret = NULL, *script = NULL, *written = NULL;

        strcpy(dir, "/tmp/test-sandbox-XXXXXX");
        assert(mkdtemp(dir));
        /* Traversable for the other uid, as vmmd's directories are; the VM's own is its own. */
        assert(chmod(dir, 0711) == 0);
        assert(asprintf(&ro, "%s/image", dir) >= 0 && mkdir(ro, 0755) == 0);
        assert(asprintf(&rw, "%s/vm", dir) >= 0 && mkdir(rw, 0700) == 0);
        assert(chmod(ro, 0755) == 0);
        if (as_uid != (uid_t) -1)
                assert(chown(rw, as_uid, (gid_t) as_uid) == 0);
        assert(asprintf(&secret, "%s/secret", dir) >= 0);
        assert(write_file_atomic(secret, "other VM's disk\n") == 0);
        assert(asprintf(&written, "%s/from-inside", rw) >= 0);

        Sandbox sb = {
                .read_only = STRV_MAKE(ro),
                .writable = STRV_MAKE(rw),
        };
        assert(asprintf(
                       &script,
                       "set -e\n"
                       /* Its own directories are there: the image read-only, the VM's writable. */
                       "test -d '%1$s' && ! touch '%1$s/x' 2>/dev/null\n"
                       "echo inside > '%2$s/from-inside'\n"
                       /* Nothing else of the host: not the sibling file, not /etc, /home, /run, /proc. */
                       "! test -e '%3$s'\n"
                       "! test -e /etc/passwd && ! test -e /home && ! test -e /run && ! test -e /proc/1\n"
                       /* /usr and the root read-only (the test's /tmp holds what is bound), the devices. */
                       "! touch /usr/x 2>/dev/null && ! touch /x 2>/dev/null && ! mkdir /tmp/x 2>/dev/null\n"
                       "echo > /dev/null && head -c 16 /dev/urandom | wc -c | grep -qx 16\n"
                       /* The same uid as outside, mapped to itself. */
                       "test \"$(id -u)\" = %4$u\n",
                       ro,
                       rw,
                       secret,
                       (unsigned) (as_uid != (uid_t) -1 ? as_uid : getuid())) >= 0);
        assert(run_in(&sb, script) == 0);
        {
                _cleanup_free_ char *text = NULL;
                assert(read_full_file(written, &text, NULL) == 0 && streq(text, "inside\n"));
        }
        /* No network: the only interface is a loopback that is down. */
        assert(run_in(&sb, "exec 3<>/dev/tcp/127.0.0.1/22") != 0);
        assert(run_in(&sb,
                      "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 1), 1)' 2>/dev/null") !=
               0);
        /* With nothing given below /tmp, /tmp is its own: empty and writable. */
        Sandbox bare = {};
        assert(run_in(&bare, "touch /tmp/x && test \"$(ls /tmp)\" = x && ! test -e /tmp/test-sandbox-*") == 0);
        /* The probe of the test itself: a failing script fails. */
        assert(run_in(&sb, "test -e /etc/passwd") != 0);

        assert(system("rm -rf /tmp/test-sandbox-*") == 0);
}

int main(void) {
        test_sandbox();
        if (geteuid() == 0) {
                as_uid = 0x7a6d0000U + 4242;
                test_sandbox();
        }
        return 0;
}
