/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Crash bundles on disk (crash.h): the panic line, ids, a bundle made by crash_build() in a fork_call()
 * child (without a core: the integration test makes real ones), listing, keeping, limits, a VM's end,
 * half-made and damaged bundles. */
#include <assert.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include "crash.h"
#include "process.h"

static const char *state;

static void write_at(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert(fd >= 0);
        assert(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
        safe_close(fd);
}

static void test_find_panic(void) {
        char *p;

        assert(!crash_find_panic(""));
        assert(!crash_find_panic("[    1.0] reboot: Restarting system\n"));
        /* The last one, without its timestamp, "\r" or the next line. */
        p = crash_find_panic("[ 1.0] Kernel panic - not syncing: old\r\n[ 2.0] Kernel panic - not syncing: "
                             "sysrq triggered crash\r\n[ 2.1] CPU: 0 PID: 1\n");
        assert(p && streq(p, "Kernel panic - not syncing: sysrq triggered crash"));
        free(p);
        /* What the guest printed is the guest's: control bytes and invalid UTF-8 become '?', and it is bounded. */
        p = crash_find_panic("Kernel panic - not syncing: \x1b[31m\xff");
        assert(p && streq(p, "Kernel panic - not syncing: ?[31m?"));
        free(p);
        {
                char big[4096];

                memset(big, 'x', sizeof(big) - 1);
                big[sizeof(big) - 1] = 0;
                memcpy(big, CRASH_PANIC_MARK, strlen(CRASH_PANIC_MARK));
                p = crash_find_panic(big);
                assert(p && strlen(p) == CRASH_MESSAGE_MAX);
                free(p);
        }
}

typedef struct Build {
        sd_event *event;
        CrashBuild build;
        int r;
        bool done;
} Build;

static int build_child(void *userdata, char **ret_message) {
        return crash_build(&((Build *) userdata)->build, ret_message);
}

static void build_done(int r, const char *message, void *userdata) {
        Build *b = userdata;

        b->r = r;
        b->done = true;
        (void) sd_event_exit(b->event, 0);
}

/* Makes <state>/crashes/<vm>/<id> as vmmd does: ".new-<id>", crash_build() in a child, rename. */
static void make_bundle(const char *vm, uint64_t time_usec, const char *console, char **ret_id) {
        _cleanup_free_ char *id = NULL, *dir = NULL, *partial = NULL, *final = NULL;
        CrashBundle facts = {
                .vm = (char *) vm,
                .persona = (char *) "throwaway",
                .image = (char *) "reference",
                .owner = 1000,
                .time_usec = time_usec,
                .message = (char *) "Kernel panic - not syncing: test",
        };
        Build b = {};
        sd_event_source *child = NULL;

        assert(crash_new_id(state, vm, time_usec, &id) == 0);
        facts.id = id;
        assert(asprintf(&dir, "%s/" CRASH_DIR "/%s", state, vm) > 0);
        assert(asprintf(&partial, "%s/.new-%s", dir, id) > 0 && asprintf(&final, "%s/%s", dir, id) > 0);
        assert(mkdir_p(dir, 0700) >= 0 && mkdir(partial, 0700) == 0);
        assert(sd_event_default(&b.event) >= 0);
        b.build = (CrashBuild){
                .dir_fd = open(partial, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                .dump_fd = -EBADF,
                .facts = &facts,
                .console = console,
        };
        assert(b.build.dir_fd >= 0);
        assert(fork_call(b.event, "test", build_child, &b, build_done, &b, &child) >= 0);
        assert(sd_event_loop(b.event) >= 0);
        assert(b.done && b.r == 0);
        sd_event_source_unref(child);
        safe_close(b.build.dir_fd);
        sd_event_unref(b.event);
        assert(rename(partial, final) == 0);
        *ret_id = TAKE_PTR(id);
}

static void test_bundles(void) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *console = NULL, *path = NULL;
        CrashBundle *list = NULL, one = {};
        size_t n = 0;

        /* 2026-11-29 09:00:00 UTC; two in one second get "-2". */
        make_bundle("vm1", UINT64_C(1795942800) * USEC_PER_SEC, "boot\r\nKernel panic\x01\n", &a);
        assert(streq(a, "vm1-20261129-090000"));
        make_bundle("vm1", UINT64_C(1795942800) * USEC_PER_SEC + 1, "x", &b);
        assert(streq(b, "vm1-20261129-090000-2"));
        make_bundle("vm1", UINT64_C(1795942900) * USEC_PER_SEC, "y", &c);
        make_bundle("vm2", UINT64_C(1795942850) * USEC_PER_SEC, "z", &d);

        /* What crash_build() wrote, as crash_list() reads it back: every VM, oldest first. */
        assert(crash_list(state, NULL, &list, &n) == 0);
        assert(n == 4);
        assert(streq(list[0].id, a) && streq(list[1].id, b) && streq(list[2].id, d) && streq(list[3].id, c));
        assert(streq(list[0].vm, "vm1") && streq(list[0].persona, "throwaway") && list[0].owner == 1000);
        assert(streq(list[0].message, "Kernel panic - not syncing: test"));
        assert(!list[0].core && streq(list[0].core_error, "") && !list[0].kept);
        assert(list[0].size_bytes > 0);
        crash_bundle_array_free(list, n);
        /* The console as lines a person can read. */
        assert(asprintf(&path, "%s/" CRASH_DIR "/vm1/%s/console.txt", state, a) > 0);
        assert(read_full_file(path, &console, NULL) >= 0);
        assert(streq(console, "boot\nKernel panic?\n"));
        /* The report for people: the panic, the facts, why there is no backtrace. */
        free(path);
        free(console);
        assert(asprintf(&path, "%s/" CRASH_DIR "/vm1/%s/report.txt", state, a) > 0);
        assert(read_full_file(path, &console, NULL) >= 0);
        assert(
                streq(console,
                      "Kernel panic - not syncing: test\n"
                      "VM vm1 (persona throwaway, image reference), kernel unknown, 2026-11-29 09:00:00 UTC\n"
                      "No memory dump: \n"));

        /* Keeping, and the limits: the oldest that are not kept go first; the newest always stays. */
        assert(crash_find(state, a, &one) == 0);
        assert(crash_set_kept(state, &one, true) == 0);
        crash_bundle_done(&one);
        assert(crash_prune(state, "vm1", 1, UINT64_MAX) == 1); /* b goes, a is kept, c stays */
        assert(crash_list(state, "vm1", &list, &n) == 0);
        assert(n == 2 && streq(list[0].id, a) && list[0].kept && streq(list[1].id, c) && !list[1].kept);
        crash_bundle_array_free(list, n);
        assert(crash_prune(state, "vm1", 10, 1) == 0); /* c is the newest */
        assert(crash_prune(state, "vm1", 0, UINT64_MAX) == 1);
        assert(crash_find(state, c, &one) == -ENOENT);

        /* A VM's end takes its bundles, but the kept ones; then unkept, they can go too. */
        assert(crash_remove_vm(state, "vm2") == 0);
        assert(crash_find(state, d, &one) == -ENOENT);
        assert(crash_remove_vm(state, "vm1") == 0);
        assert(crash_find(state, a, &one) == 0);
        assert(crash_set_kept(state, &one, false) == 0);
        assert(crash_remove(state, &one) == 0);
        crash_bundle_done(&one);
        assert(crash_list(state, NULL, &list, &n) == 0 && n == 0);
        free(list);
}

static void test_damaged(void) {
        _cleanup_free_ char *id = NULL, *dir = NULL, *json = NULL, *partial = NULL;
        CrashBundle *list = NULL;
        size_t n = 0;

        make_bundle("vm3", UINT64_C(1795942800) * USEC_PER_SEC, "", &id);
        assert(asprintf(&dir, "%s/" CRASH_DIR "/vm3/%s", state, id) > 0);
        assert(asprintf(&json, "%s/crash.json", dir) > 0);
        /* A crash.json that is not one is no bundle: skipped, never an error for the others. */
        for (const char *const *bad = STRV_MAKE(
                     "",
                     "{",
                     "[]",
                     "{\"version\": 2}",
                     "{\"version\": 1, \"vm\": 7}",
                     "{\"version\": 1, \"vm\": \"vm3\", \"persona\": \"p\", \"image\": \"i\", \"owner\": -1}");
             *bad;
             bad++) {
                write_at(json, *bad);
                assert(crash_list(state, NULL, &list, &n) == 0);
                assert(n == 0);
                free(list);
        }
        /* Strings are the guest's: what reaches the bus is printable, whatever the file holds. */
        write_at(
                json,
                "{\"version\": 1, \"vm\": \"vm3\", \"persona\": \"p\", \"image\": \"i\", \"owner\": 0, "
                "\"time_usec\": 1, \"message\": \"a\\u0007b\", \"kernel\": \"\", \"build_id\": \"\", "
                "\"kernel_offset\": \"\", \"core_error\": \"\", \"cpu\": 0, \"capture_usec\": 0, "
                "\"core\": false, \"backtrace\": [\"#0 f\\n\"]}");
        assert(crash_list(state, NULL, &list, &n) == 0);
        assert(n == 1 && streq(list[0].message, "a?b") && streq(list[0].backtrace[0], "#0 f?"));
        crash_bundle_array_free(list, n);

        /* A half-made one (vmmd died while saving it) is never listed, and goes at the next start. */
        assert(asprintf(&partial, "%s/" CRASH_DIR "/vm3/.new-vm3-20261129-090001", state) > 0);
        assert(mkdir(partial, 0700) == 0);
        assert(crash_cleanup_partial(state) == 0);
        assert(access(partial, F_OK) < 0 && errno == ENOENT);
        assert(access(dir, F_OK) == 0);
}

int main(void) {
        char tmp[] = "/tmp/test-crash-XXXXXX";
        sigset_t ss;

        /* sd-event's child sources (fork_call) want SIGCHLD blocked, as vmmd's main() does. */
        assert(sigemptyset(&ss) == 0 && sigaddset(&ss, SIGCHLD) == 0);
        assert(sigprocmask(SIG_BLOCK, &ss, NULL) == 0);

        assert(mkdtemp(tmp));
        state = tmp;
        test_find_panic();
        test_bundles();
        test_damaged();
        assert(rm_rf(tmp) >= 0);
        return 0;
}
