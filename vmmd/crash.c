/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Crash bundles on disk: listing, keeping, limits, and making one from a guest's memory dump. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>

#include "crash.h"
#include "kallsyms.h"
#include "names.h"
#include "process.h"
#include "vmcore.h"

#define CRASH_JSON "crash.json"
#define CRASH_JSON_MAX (256U * 1024U)
#define CRASH_NEW_PREFIX ".new-"
#define CRASH_KEPT "kept"
#define CRASH_VERSION 1

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

void crash_bundle_done(CrashBundle *b) {
        if (!b)
                return;
        free(b->id);
        free(b->vm);
        free(b->persona);
        free(b->image);
        free(b->message);
        free(b->kernel);
        free(b->build_id);
        free(b->kernel_offset);
        strv_free(b->backtrace);
        free(b->core_error);
        *b = (CrashBundle){};
}

void crash_bundle_array_free(CrashBundle *b, size_t n) {
        for (size_t i = 0; i < n; i++)
                crash_bundle_done(&b[i]);
        free(b);
}

char *crash_find_panic(const char *console) {
        const char *p = NULL, *end;
        _cleanup_free_ char *line = NULL;

        /* The last one: a console may hold an earlier boot's. */
        for (const char *q = console; (q = strstr(q, CRASH_PANIC_MARK)); q++)
                p = q;
        if (!p)
                return NULL;
        end = p + strcspn(p, "\r\n");
        line = strndup(p, MIN((size_t) (end - p), CRASH_MESSAGE_MAX * 4));
        return line ? utf8_printable(line, CRASH_MESSAGE_MAX) : NULL;
}

static int crash_vm_dir(const char *state_dir, const char *vm, char **ret) {
        return asprintf(ret, "%s/" CRASH_DIR "/%s", state_dir, vm) < 0 ? -ENOMEM : 0;
}

int crash_new_id(const char *state_dir, const char *vm, uint64_t time_usec, char **ret) {
        _cleanup_free_ char *dir = NULL;
        time_t t = (time_t) (time_usec / USEC_PER_SEC);
        char stamp[32];
        struct tm tm;
        int r;

        if (!gmtime_r(&t, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm) == 0)
                return -EINVAL;
        r = crash_vm_dir(state_dir, vm, &dir);
        if (r < 0)
                return r;
        for (unsigned n = 1; n < 1000; n++) {
                _cleanup_free_ char *id = NULL, *path = NULL, *partial = NULL;

                if ((n == 1 ? asprintf(&id, "%s-%s", vm, stamp) : asprintf(&id, "%s-%s-%u", vm, stamp, n)) < 0 ||
                    asprintf(&path, "%s/%s", dir, id) < 0 ||
                    asprintf(&partial, "%s/" CRASH_NEW_PREFIX "%s", dir, id) < 0)
                        return -ENOMEM;
                if (access(path, F_OK) < 0 && errno == ENOENT && access(partial, F_OK) < 0 && errno == ENOENT) {
                        *ret = TAKE_PTR(id);
                        return 0;
                }
        }
        return -EEXIST;
}

/* A string of crash.json: written by a child that read the guest's memory, so it is the guest's to choose.
 * Bounded and printable before it goes anywhere. */
static int json_string(json_object *o, const char *key, size_t max, char **ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return -EBADMSG;
        *ret = utf8_printable(json_object_get_string(v), max);
        return *ret ? 0 : -ENOMEM;
}

static int json_u64(json_object *o, const char *key, uint64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) < 0)
                return -EBADMSG;
        *ret = (uint64_t) json_object_get_int64(v);
        return 0;
}

static uint64_t dir_disk_usage(int dfd) {
        _cleanup_(closedirp) DIR *d = NULL;
        int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        uint64_t sum = 0;

        if (fd < 0)
                return 0;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return 0;
        }
        rewinddir(d);
        for (struct dirent *de; (de = readdir(d));) {
                struct stat st;

                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode))
                        sum += (uint64_t) st.st_blocks * 512;
        }
        return sum;
}

/* Reads <vmdir>/<id>/crash.json. The directory is root's (vmmd's own): what is in it was written by the
 * bundle's child, whose strings are checked here. */
static int crash_load(int vmdir_fd, const char *id, CrashBundle *ret) {
        _cleanup_(crash_bundle_done) CrashBundle b = {};
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        json_object *o, *v;
        uint64_t u;
        size_t n;
        int r;

        dfd = openat(vmdir_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        fd = openat(dfd, CRASH_JSON, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = read_tail(fd, CRASH_JSON_MAX, &text, &n);
        if (r < 0)
                return r;
        o = json_tokener_parse(text);
        if (!o)
                return -EBADMSG;
        b.id = strdup(id);
        r = !b.id ? -ENOMEM : json_u64(o, "version", &u);
        if (r >= 0 && u != CRASH_VERSION)
                r = -EPROTONOSUPPORT;
        if (r >= 0)
                r = json_string(o, "vm", VM_NAME_MAX, &b.vm);
        if (r >= 0)
                r = json_string(o, "persona", VM_NAME_MAX, &b.persona);
        if (r >= 0)
                r = json_string(o, "image", VM_NAME_MAX, &b.image);
        if (r >= 0)
                r = json_u64(o, "owner", &u);
        if (r >= 0) {
                b.owner = (uid_t) u;
                r = json_u64(o, "time_usec", &b.time_usec);
        }
        if (r >= 0)
                r = json_string(o, "message", CRASH_MESSAGE_MAX, &b.message);
        if (r >= 0)
                r = json_string(o, "kernel", 128, &b.kernel);
        if (r >= 0)
                r = json_string(o, "build_id", 128, &b.build_id);
        if (r >= 0)
                r = json_string(o, "kernel_offset", 32, &b.kernel_offset);
        if (r >= 0)
                r = json_string(o, "core_error", CRASH_MESSAGE_MAX, &b.core_error);
        if (r >= 0)
                r = json_u64(o, "cpu", &u);
        if (r >= 0) {
                b.cpu = (uint32_t) MIN(u, UINT32_MAX);
                r = json_u64(o, "capture_usec", &b.capture_usec);
        }
        if (r >= 0 && (!json_object_object_get_ex(o, "core", &v) || !json_object_is_type(v, json_type_boolean)))
                r = -EBADMSG;
        if (r >= 0)
                b.core = json_object_get_boolean(v);
        if (r >= 0 &&
            (!json_object_object_get_ex(o, "backtrace", &v) || !json_object_is_type(v, json_type_array)))
                r = -EBADMSG;
        if (r >= 0) {
                b.backtrace = calloc(1, sizeof(char *));
                if (!b.backtrace)
                        r = -ENOMEM;
        }
        for (size_t i = 0; r >= 0 && i < MIN(json_object_array_length(v), CRASH_FRAMES_MAX); i++) {
                json_object *f = json_object_array_get_idx(v, i);
                _cleanup_free_ char *s = NULL;

                if (!json_object_is_type(f, json_type_string)) {
                        r = -EBADMSG;
                        break;
                }
                s = utf8_printable(json_object_get_string(f), 256);
                r = s ? strv_extend(&b.backtrace, s) : -ENOMEM;
        }
        json_object_put(o);
        if (r < 0)
                return r;
        b.kept = faccessat(dfd, CRASH_KEPT, F_OK, AT_SYMLINK_NOFOLLOW) >= 0;
        b.size_bytes = dir_disk_usage(dfd);
        *ret = b;
        b = (CrashBundle){};
        return 0;
}

static int cmp_bundle_time(const void *a, const void *b) {
        const CrashBundle *x = a, *y = b;

        if (x->time_usec != y->time_usec)
                return x->time_usec < y->time_usec ? -1 : 1;
        return strcmp(x->id, y->id);
}

/* Appends the bundles in <state>/crashes/<vm>/. */
static int list_vm_dir(int crashes_fd, const char *vm, CrashBundle **list, size_t *n) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_close_ int vfd = -EBADF;
        int fd;

        vfd = openat(crashes_fd, vm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (vfd < 0)
                return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : -errno;
        fd = fcntl(vfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }
        for (struct dirent *de; (de = readdir(d));) {
                CrashBundle b = {}, *t;

                if (de->d_name[0] == '.' || strlen(de->d_name) >= CRASH_ID_MAX)
                        continue;
                if (crash_load(vfd, de->d_name, &b) < 0)
                        continue; /* not (yet) a bundle */
                t = reallocarray(*list, *n + 1, sizeof(CrashBundle));
                if (!t) {
                        crash_bundle_done(&b);
                        return -ENOMEM;
                }
                *list = t;
                (*list)[(*n)++] = b;
        }
        return 0;
}

int crash_list(const char *state_dir, const char *vm, CrashBundle **ret, size_t *ret_n) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int cfd = -EBADF;
        CrashBundle *list = NULL;
        size_t n = 0;
        int r = 0;

        if (asprintf(&path, "%s/" CRASH_DIR, state_dir) < 0)
                return -ENOMEM;
        cfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cfd < 0 && errno != ENOENT)
                return -errno;
        if (cfd >= 0 && vm)
                r = list_vm_dir(cfd, vm, &list, &n);
        else if (cfd >= 0) {
                _cleanup_(closedirp) DIR *d = NULL;
                int fd = fcntl(cfd, F_DUPFD_CLOEXEC, 3);

                d = fd >= 0 ? fdopendir(fd) : NULL;
                if (!d) {
                        r = -errno;
                        safe_close(fd);
                }
                for (struct dirent *de; r >= 0 && d && (de = readdir(d));)
                        if (de->d_name[0] != '.')
                                r = list_vm_dir(cfd, de->d_name, &list, &n);
        }
        if (r < 0) {
                crash_bundle_array_free(list, n);
                return r;
        }
        if (n > 0)
                qsort(list, n, sizeof(CrashBundle), cmp_bundle_time);
        *ret = list;
        *ret_n = n;
        return 0;
}

int crash_find(const char *state_dir, const char *id, CrashBundle *ret) {
        CrashBundle *list = NULL;
        size_t n = 0;
        int r;

        r = crash_list(state_dir, NULL, &list, &n);
        if (r < 0)
                return r;
        r = -ENOENT;
        for (size_t i = 0; i < n; i++)
                if (streq(list[i].id, id)) {
                        *ret = list[i];
                        list[i] = (CrashBundle){};
                        r = 0;
                        break;
                }
        crash_bundle_array_free(list, n);
        return r;
}

static int crash_path(const char *state_dir, const CrashBundle *b, const char *file, char **ret) {
        return (file ? asprintf(ret, "%s/" CRASH_DIR "/%s/%s/%s", state_dir, b->vm, b->id, file) :
                       asprintf(ret, "%s/" CRASH_DIR "/%s/%s", state_dir, b->vm, b->id)) < 0 ?
                -ENOMEM :
                0;
}

int crash_set_kept(const char *state_dir, const CrashBundle *b, bool kept) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = crash_path(state_dir, b, CRASH_KEPT, &path);
        if (r < 0)
                return r;
        if (!kept)
                return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
        fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        return fd < 0 ? -errno : 0;
}

int crash_remove(const char *state_dir, const CrashBundle *b) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = crash_path(state_dir, b, NULL, &path);
        return r < 0 ? r : rm_rf(path);
}

int crash_prune(const char *state_dir, const char *vm, uint32_t max_count, uint64_t max_bytes) {
        CrashBundle *list = NULL;
        uint64_t total = 0;
        size_t n = 0, count = 0;
        int r, removed = 0;

        r = crash_list(state_dir, vm, &list, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (!list[i].kept) {
                        count++;
                        total += list[i].size_bytes;
                }
        /* Oldest first; the newest is what a person wants to see, whatever its size. */
        for (size_t i = 0; i + 1 < n && (count > max_count || total > max_bytes); i++) {
                if (list[i].kept)
                        continue;
                r = crash_remove(state_dir, &list[i]);
                if (r < 0)
                        break;
                count--;
                total -= list[i].size_bytes;
                removed++;
        }
        if (r >= 0 && max_count == 0 && n > 0 && !list[n - 1].kept) {
                r = crash_remove(state_dir, &list[n - 1]);
                removed += r >= 0;
        }
        crash_bundle_array_free(list, n);
        return r < 0 ? r : removed;
}

int crash_remove_vm(const char *state_dir, const char *vm) {
        _cleanup_free_ char *dir = NULL;
        CrashBundle *list = NULL;
        bool kept = false;
        size_t n = 0;
        int r;

        r = crash_list(state_dir, vm, &list, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                if (list[i].kept)
                        kept = true;
                else
                        r = crash_remove(state_dir, &list[i]);
        }
        crash_bundle_array_free(list, n);
        if (r < 0 || kept)
                return r;
        r = crash_vm_dir(state_dir, vm, &dir);
        return r < 0 ? r : rm_rf(dir);
}

int crash_cleanup_partial(const char *state_dir) {
        _cleanup_free_ char *path = NULL;
        _cleanup_(closedirp) DIR *d = NULL;

        if (asprintf(&path, "%s/" CRASH_DIR, state_dir) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_(closedirp) DIR *v = NULL;
                _cleanup_free_ char *vpath = NULL;

                if (de->d_name[0] == '.' || asprintf(&vpath, "%s/%s", path, de->d_name) < 0)
                        continue;
                v = opendir(vpath);
                for (struct dirent *e; v && (e = readdir(v));) {
                        _cleanup_free_ char *p = NULL;

                        if (strncmp(e->d_name, CRASH_NEW_PREFIX, strlen(CRASH_NEW_PREFIX)) == 0 &&
                            asprintf(&p, "%s/%s", vpath, e->d_name) >= 0)
                                (void) rm_rf(p);
                }
        }
        return 0;
}

/* Making a bundle */

#define DUMP_CHUNK (1024U * 1024U)
#define PAGE 4096U

static bool all_zero(const uint8_t *p, size_t n) {
        return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

int crash_copy_dump(int in, int out, uint64_t max, uint64_t *ret_size) {
        _cleanup_free_ uint8_t *buf = malloc(DUMP_CHUNK);
        uint64_t off = 0;
        int r;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                size_t have = 0;

                /* Whole chunks, so that the zero test sees whole pages. */
                while (have < DUMP_CHUNK) {
                        ssize_t k = read(in, buf + have, DUMP_CHUNK - have);

                        if (k < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        if (k == 0)
                                break;
                        have += (size_t) k;
                }
                if (have == 0)
                        break;
                if (off + have > max)
                        return -EFBIG;
                for (size_t p = 0; p < have; p += PAGE) {
                        size_t n = MIN(PAGE, have - p);

                        if (all_zero(buf + p, n))
                                continue;
                        r = pwrite_full(out, buf + p, n, off + p);
                        if (r < 0)
                                return r;
                }
                off += have;
                if (have < DUMP_CHUNK)
                        break;
        }
        if (ftruncate(out, (off_t) off) < 0)
                return -errno;
        *ret_size = off;
        return 0;
}

static int create_at(int dfd, const char *name, int flags, int *ret) {
        int fd = openat(dfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

        if (fd < 0)
                return -errno;
        *ret = fd;
        return 0;
}

static int write_text(int fd, const char *s) {
        return pwrite_full(fd, s, strlen(s), UINT64_MAX);
}

/* The console's end as text a person can read: printable, lines kept. */
static char *console_text(const char *console) {
        size_t n = strlen(console);

        return utf8_printable_lines(
                console + (n > CRASH_CONSOLE_MAX ? n - CRASH_CONSOLE_MAX : 0), CRASH_CONSOLE_MAX);
}

/* Appends a backtrace of vCPU cpu to report (and, if it is the one that crashed, to facts). */
static int report_cpu(
        const Vmcore *c, const Kallsyms *k, size_t cpu, bool crashed, CrashBundle *facts, char **report) {
        VmcoreFrame frames[CRASH_FRAMES_MAX];
        size_t n = 0;
        int r;

        r = kallsyms_unwind(k, c, cpu, frames, ELEMENTSOF(frames), &n);
        if (r < 0)
                return strextendf(report, "\nCPU %zu: no backtrace: %s\n", cpu, strerror(-r));
        r = strextendf(report, "\nCPU %zu%s:\n", cpu, crashed ? " (panicked)" : "");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                char line[KALLSYMS_FRAME_LINE_MAX];

                kallsyms_format_frame(k, i, &frames[i], line);
                r = strextendf(report, "  %s\n", line);
                if (r >= 0 && crashed)
                        r = strv_extend(&facts->backtrace, line);
        }
        return r;
}

/* What the dump tells: the kernel, its symbols and a backtrace of every vCPU, into report and facts; the
 * symbol file for gdb, and the core made readable at kernel addresses. */
static int analyze_core(int core_fd, int symbols_fd, CrashBundle *facts, char **report, char **ret_error) {
        _cleanup_(vmcore_freep) Vmcore *c = NULL;
        _cleanup_(kallsyms_freep) Kallsyms *k = NULL;
        size_t crashed = 0;
        const char *v;
        int r;

        r = vmcore_open(core_fd, &c);
        if (r < 0)
                return (void) asprintf(ret_error, "the memory dump is not an arm64 ELF core: %s", strerror(-r)),
                       r;
        for (const char *const *f = (const char *const[]){ "OSRELEASE", "BUILD-ID", "KERNELOFFSET", NULL }; *f;
             f++) {
                char **dst = streq(*f, "OSRELEASE") ? &facts->kernel :
                        streq(*f, "BUILD-ID")       ? &facts->build_id :
                                                      &facts->kernel_offset;
                _cleanup_free_ char *p = NULL;

                v = vmcore_info(c, *f);
                p = v ? utf8_printable(v, 64) : NULL;
                if (p) {
                        free(*dst);
                        *dst = TAKE_PTR(p);
                }
        }
        r = kallsyms_read(c, &k);
        if (r < 0)
                return (void) asprintf(
                               ret_error,
                               "the kernel's symbol table cannot be read from the dump: %s",
                               strerror(-r)),
                       r;
        if (kallsyms_find_crashed_cpu(k, c, &crashed) < 0)
                crashed = 0;
        facts->cpu = (uint32_t) crashed;
        facts->backtrace = calloc(1, sizeof(char *));
        if (!facts->backtrace)
                return -ENOMEM;
        r = report_cpu(c, k, crashed, true, facts, report);
        for (size_t i = 0; r >= 0 && i < vmcore_n_cpus(c); i++)
                if (i != crashed)
                        r = report_cpu(c, k, i, false, facts, report);
        if (r >= 0)
                r = kallsyms_write_elf(k, c, symbols_fd);
        if (r >= 0)
                r = vmcore_write_kernel_view(c, core_fd);
        if (r < 0)
                return (void) asprintf(ret_error, "writing the bundle's core and symbols: %s", strerror(-r)),
                       r;
        return 0;
}

int crash_child_sandbox(const int *keep, size_t n_keep, uid_t uid, gid_t gid) {
        int r;

        r = fork_call_close_fds(keep, n_keep);
        if (r < 0 || uid == 0)
                return r;
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                return -errno;
        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}

int crash_build(const CrashBuild *b, char **ret_message) {
        _cleanup_close_ int core_fd = -EBADF, symbols_fd = -EBADF, console_fd = -EBADF, report_fd = -EBADF,
                            json_fd = -EBADF;
        _cleanup_free_ char *console = NULL, *report = NULL, *error = NULL;
        _cleanup_(crash_bundle_done) CrashBundle facts = {};
        json_object *o = NULL, *frames = NULL;
        uint64_t size = 0;
        int r;

        assert(b);
        assert(b->facts);

        /* Every file is made first, as vmmd's; then the child reads what the guest wrote as the guest's own
         * uid, with nothing else open to it. */
        r = create_at(b->dir_fd, "console.txt", O_WRONLY, &console_fd);
        if (r >= 0)
                r = create_at(b->dir_fd, "report.txt", O_WRONLY, &report_fd);
        if (r >= 0)
                r = create_at(b->dir_fd, CRASH_JSON, O_WRONLY, &json_fd);
        if (r >= 0 && b->dump_fd >= 0)
                r = create_at(b->dir_fd, "vmcore", O_RDWR, &core_fd);
        if (r >= 0 && b->dump_fd >= 0)
                r = create_at(b->dir_fd, "symbols.elf", O_RDWR, &symbols_fd);
        if (r < 0)
                return (void) asprintf(ret_message, "cannot create the bundle's files: %s", strerror(-r)), r;
        r = crash_child_sandbox(
                (const int[]){ b->dir_fd, b->dump_fd, core_fd, symbols_fd, console_fd, report_fd, json_fd },
                7,
                b->uid,
                b->gid);
        if (r < 0)
                return (void) asprintf(ret_message, "cannot drop privileges: %s", strerror(-r)), r;

        facts = (CrashBundle){
                .id = strdup(b->facts->id),
                .vm = strdup(b->facts->vm),
                .persona = strdup(b->facts->persona),
                .image = strdup(b->facts->image),
                .owner = b->facts->owner,
                .time_usec = b->facts->time_usec,
                .message = strdup(b->facts->message),
                .kernel = strdup(""),
                .build_id = strdup(""),
                .kernel_offset = strdup(""),
                .core_error = strdup(strempty(b->facts->core_error)),
        };
        if (!facts.id || !facts.vm || !facts.persona || !facts.image || !facts.message || !facts.kernel ||
            !facts.build_id || !facts.kernel_offset || !facts.core_error)
                return -ENOMEM;

        if (core_fd >= 0) {
                r = crash_copy_dump(b->dump_fd, core_fd, b->core_max_bytes, &size);
                if (r == -EFBIG)
                        error = strdup("the VMM sent more than the guest's memory");
                else if (r < 0)
                        (void) asprintf(&error, "reading the dump: %s", strerror(-r));
                else
                        r = analyze_core(core_fd, symbols_fd, &facts, &report, &error);
                if (r < 0) {
                        free(facts.core_error);
                        facts.core_error = TAKE_PTR(error);
                        /* A core that cannot be read is of no use: only the console is kept (vmmd removes
                         * the empty files, which this child no longer may). */
                        (void) ftruncate(core_fd, 0);
                        (void) ftruncate(symbols_fd, 0);
                } else
                        facts.core = true;
        }

        console = console_text(strempty(b->console));
        if (!console)
                return -ENOMEM;
        r = write_text(console_fd, console);
        if (r >= 0) {
                _cleanup_free_ char *head = NULL;
                time_t t = (time_t) (facts.time_usec / USEC_PER_SEC);
                char when[64] = "";
                struct tm tm;

                if (gmtime_r(&t, &tm))
                        (void) strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
                r = strextendf(
                        &head,
                        "%s\nVM %s (persona %s, image %s), kernel %s, %s\n",
                        facts.message,
                        facts.vm,
                        facts.persona,
                        facts.image,
                        isempty(facts.kernel) ? "unknown" : facts.kernel,
                        when);
                if (r >= 0 && !facts.core)
                        r = strextendf(&head, "No memory dump: %s\n", strempty(facts.core_error));
                if (r >= 0)
                        r = write_text(report_fd, head);
        }
        if (r >= 0 && report)
                r = write_text(report_fd, report);
        if (r < 0)
                return (void) asprintf(ret_message, "cannot write the report: %s", strerror(-r)), r;

        o = json_object_new_object();
        frames = json_object_new_array();
        if (!o || !frames) {
                json_object_put(o);
                json_object_put(frames);
                return -ENOMEM;
        }
        STRV_FOREACH(f, facts.backtrace)
                json_object_array_add(frames, json_object_new_string(*f));
        json_object_object_add(o, "version", json_object_new_int(CRASH_VERSION));
        json_object_object_add(o, "vm", json_object_new_string(facts.vm));
        json_object_object_add(o, "persona", json_object_new_string(facts.persona));
        json_object_object_add(o, "image", json_object_new_string(facts.image));
        json_object_object_add(o, "owner", json_object_new_int64(facts.owner));
        json_object_object_add(o, "time_usec", json_object_new_int64((int64_t) facts.time_usec));
        json_object_object_add(o, "message", json_object_new_string(facts.message));
        json_object_object_add(o, "kernel", json_object_new_string(facts.kernel));
        json_object_object_add(o, "build_id", json_object_new_string(facts.build_id));
        json_object_object_add(o, "kernel_offset", json_object_new_string(facts.kernel_offset));
        json_object_object_add(o, "cpu", json_object_new_int64(facts.cpu));
        json_object_object_add(o, "backtrace", frames);
        json_object_object_add(o, "core", json_object_new_boolean(facts.core));
        json_object_object_add(o, "core_error", json_object_new_string(facts.core_error));
        json_object_object_add(
                o,
                "capture_usec",
                json_object_new_int64((int64_t) (now_usec(CLOCK_REALTIME) - facts.time_usec)));
        r = write_text(json_fd, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
        json_object_put(o);
        if (r >= 0)
                r = write_text(json_fd, "\n");

        /* On disk before the rename makes it a bundle. */
        for (int *fd = (int[]){ core_fd, symbols_fd, console_fd, report_fd, json_fd, b->dir_fd, -1 };
             *fd != -1;
             fd++)
                if (r >= 0 && *fd >= 0 && fsync(*fd) < 0)
                        r = -errno;
        if (r < 0)
                return (void) asprintf(ret_message, "cannot write the bundle: %s", strerror(-r)), r;
        if (!facts.core)
                (void) asprintf(ret_message, "%s", facts.core_error);
        return 0;
}
