/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VMM sandbox: namespaces and a minimal root, set up in the child between fork and exec. */
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#include "sandbox.h"

/* The new root is built in a scratch tmpfs that becomes the root for a while (mounted over /tmp in the new
 * mount namespace only), with the host's root below it at /oldroot and the new one at /newroot. */
#define SANDBOX_BASE "/tmp"
#define OLD_ROOT "/oldroot"
#define NEW_ROOT "/newroot"

static const char *const sandbox_devices[] = {
        "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"
};

/* Merged-/usr symlinks of the host (/lib -> usr/lib ...), made again in the new root. */
static const char *const sandbox_usr_links[] = { "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32" };

static int write_string(const char *path, const char *s) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        size_t n = strlen(s);

        if (fd < 0)
                return -errno;
        if (write(fd, s, n) != (ssize_t) n)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

static int map_self(uid_t uid, gid_t gid) {
        char map[64];
        int r;

        /* After a change of uid the kernel makes us undumpable, and /proc/self root's: writable again. */
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
                return -errno;
        (void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) uid, (unsigned) uid);
        r = write_string("/proc/self/uid_map", map);
        if (r < 0)
                return r;
        r = write_string("/proc/self/setgroups", "deny");
        if (r < 0 && r != -ENOENT)
                return r;
        (void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) gid, (unsigned) gid);
        return write_string("/proc/self/gid_map", map);
}

/* The mount flags a bind mount must keep: the kernel refuses to drop them in a user namespace. */
static unsigned long locked_flags(const char *path) {
        static const struct {
                unsigned long st, ms;
        } flags[] = {
                { ST_NOSUID, MS_NOSUID },     { ST_NODEV, MS_NODEV },     { ST_NOEXEC, MS_NOEXEC },
                { ST_RDONLY, MS_RDONLY },     { ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
                { ST_RELATIME, MS_RELATIME },
        };
        struct statvfs sv;
        unsigned long f = 0;

        if (statvfs(path, &sv) < 0)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(flags); i++)
                if (sv.f_flag & flags[i].st)
                        f |= flags[i].ms;
        return f;
}

/* Binds the host's src at the same path below the new root, read-only unless writable. */
static int bind(const char *src, bool writable, char *step, size_t n) {
        _cleanup_free_ char *from = NULL, *dst = NULL;
        struct stat st;
        int r;

        (void) snprintf(step, n, "binding %s", src);
        /* Already there, read-only, with all of /usr. */
        if (!writable && strncmp(src, "/usr/", 5) == 0)
                return 0;
        if (asprintf(&from, OLD_ROOT "%s", src) < 0 || asprintf(&dst, NEW_ROOT "%s", src) < 0)
                return -ENOMEM;
        if (stat(from, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                r = mkdir_p(dst, 0755);
        else {
                _cleanup_free_ char *parent = strdup(dst);
                _cleanup_close_ int fd = -EBADF;

                if (!parent)
                        return -ENOMEM;
                *strrchr(parent, '/') = 0;
                r = mkdir_p(parent, 0755);
                if (r >= 0) {
                        fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                        r = fd < 0 && errno != EEXIST ? -errno : 0;
                }
        }
        if (r < 0)
                return r;
        if (mount(from, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
                return -errno;
        if (mount(NULL,
                  dst,
                  NULL,
                  MS_BIND | MS_REMOUNT | MS_NOSUID | locked_flags(from) | (writable ? 0 : MS_RDONLY),
                  NULL) < 0)
                return -errno;
        return 0;
}

static int bind_all(const char *const *paths, bool writable, char *step, size_t n) {
        for (const char *const *p = paths; p && *p; p++) {
                int r = bind(*p, writable, step, n);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sandbox_enter(const Sandbox *s, char *step, size_t n) {
        /* Inside, until mapped, we are the overflow uid: who we are is taken before. */
        uid_t uid = geteuid();
        gid_t gid = getegid();
        int r;

        (void) snprintf(step, n, "creating its namespaces");
        /* No UTS namespace: without one a VMM cannot change the host's name anyway (that takes
         * CAP_SYS_ADMIN where the host's lives), and vmmd.service then allows one namespace type less. */
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) < 0)
                return -errno;
        (void) snprintf(step, n, "mapping uid %u and gid %u", (unsigned) uid, (unsigned) gid);
        r = map_self(uid, gid);
        if (r < 0)
                return r;
        /* Nothing of what follows propagates out. */
        (void) snprintf(step, n, "setting up its root");
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return -errno;
        if (mount("tmpfs", SANDBOX_BASE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0 ||
            mkdir(SANDBOX_BASE OLD_ROOT, 0755) < 0 ||
            syscall(SYS_pivot_root, SANDBOX_BASE, SANDBOX_BASE OLD_ROOT) < 0 || chdir("/") < 0 ||
            mkdir(NEW_ROOT, 0755) < 0 ||
            mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
                return -errno;

        r = bind("/usr", false, step, n);
        if (r >= 0)
                r = bind_all(s->read_only, false, step, n);
        if (r >= 0)
                r = bind_all(s->writable, true, step, n);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(sandbox_devices); i++)
                r = bind(sandbox_devices[i], true, step, n);
        if (r >= 0)
                r = bind_all(s->devices, true, step, n);
        if (r < 0)
                return r;
        (void) snprintf(step, n, "entering its root");
        for (size_t i = 0; i < ELEMENTSOF(sandbox_usr_links); i++) {
                char target[PATH_MAX], path[PATH_MAX];
                ssize_t k;

                (void) snprintf(path, sizeof(path), OLD_ROOT "%s", sandbox_usr_links[i]);
                k = readlink(path, target, sizeof(target) - 1);
                if (k < 0)
                        continue; /* not a symlink here (or missing): nothing of it is needed */
                target[k] = 0;
                (void) snprintf(path, sizeof(path), NEW_ROOT "%s", sandbox_usr_links[i]);
                if (symlink(target, path) < 0)
                        return -errno;
        }
        /* A /tmp of its own, unless what it was given lives there (then it is the read-only path to it). */
        bool own_tmp = mkdir(NEW_ROOT "/tmp", 01777) >= 0;
        if (!own_tmp && errno != EEXIST)
                return -errno;

        /* Into the new root; the scratch root and the host's below it go away. */
        if (chdir(NEW_ROOT) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
            chdir("/") < 0)
                return -errno;
        /* The root itself is read-only from here on. */
        if ((own_tmp && mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=01777,size=16m") < 0) ||
            mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
                return -errno;
        return 0;
}
