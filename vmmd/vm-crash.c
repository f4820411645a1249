/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A guest kernel that panics: noticing it, saving its crash bundle (crash.h) while its memory is intact,
 * then the persona's on_crash. And crashing a guest on purpose.
 *
 * Debian's arm64 kernel has no pvpanic driver, so the panic is told by what the kernel does next: it
 * resets at once (panic=-1 in the image's command line). QEMU runs with -action reboot=shutdown,
 * shutdown=pause: every reset or power-off of the guest leaves QEMU paused with the guest's memory as it
 * was, and vmmd decides. The console says whether it was a panic ("Kernel panic - not syncing"); a kernel
 * with a pvpanic driver says it itself (GUEST_PANICKED, QEMU's pvpanic-pci with -action panic=pause). */
#include <assert.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "crash-dbus.h"
#include "crash.h"
#include "golden.h"
#include "log.h"
#include "manager-dbus.h"
#include "vm-dbus.h"
#include "vm-internal.h"

#define CRASH_DUMP_FDNAME "vmmd-crash-dump"
/* A VMM that does not finish its dump in this long is ended (256 MiB take 0.1 s here, 1 s in the device). */
#define CRASH_DUMP_TIMEOUT_USEC (120 * USEC_PER_SEC)
/* Room left on the state directory's file system after a core. */
#define CRASH_DISK_RESERVE_BYTES (UINT64_C(256) << 20)

struct CrashCapture {
        VM *vm;
        char *console;
        CrashBundle facts; /* id, vm, persona, image, owner, time, message, core_error */
        char *dir;         /* <state>/crashes/<vm> */
        int dir_fd;        /* the new bundle's ".new-<id>" in it */
        int dump_fd;       /* the read end of the pipe QEMU dumps into */
        sd_event_source *child, *timer;
        uint64_t started_usec; /* CLOCK_MONOTONIC */
};

CrashCapture *vm_crash_capture_free(CrashCapture *c) {
        if (!c)
                return NULL;
        free(c->console);
        crash_bundle_done(&c->facts);
        free(c->dir);
        safe_close(c->dir_fd);
        safe_close(c->dump_fd);
        sd_event_source_disable_unref(c->child);
        sd_event_source_disable_unref(c->timer);
        return mfree(c);
}

/* The VMM ended or the VM went while a bundle was being made: what there is of it goes. */
void vm_crash_abort(VM *vm) {
        CrashCapture *c = vm->crash;
        _cleanup_free_ char *partial = NULL;

        if (!c)
                return;
        if (c->facts.id && asprintf(&partial, "%s/.new-%s", c->dir, c->facts.id) >= 0)
                (void) rm_rf(partial);
        vm->crash = vm_crash_capture_free(c);
}

static const Persona *vm_persona(VM *vm) {
        return manager_find_persona(vm->manager, vm->persona);
}

/* The bundle is complete (or could not be made): then on_crash. */
static void vm_crash_act(VM *vm, bool saved) {
        const Persona *p = vm_persona(vm);
        CrashAction action = p ? p->on_crash : vm->ephemeral ? CRASH_ACTION_KEEP : CRASH_ACTION_RESTART;
        _cleanup_free_ char *reason = NULL, *id = saved && vm->crash ? TAKE_PTR(vm->crash->facts.id) : NULL;

        vm->crash = vm_crash_capture_free(vm->crash);
        log_vm_notice(vm->name, "on_crash of %s: %s.", vm->name, crash_action_to_string(action));
        switch (action) {
        case CRASH_ACTION_KEEP:
                /* Paused as it crashed: for gdb (vmctl debug), until Stop, Destroy, or Resume boots it. */
                if (asprintf(
                            &reason,
                            "the guest kernel panicked%s%s; kept as it crashed (Resume boots it again)",
                            id ? ", crash bundle " : "",
                            strempty(id)) < 0)
                        reason = NULL;
                vm->crashed = true;
                vm_complete_pending(vm, PENDING_PAUSE, -EIO, "The guest crashed");
                vm_set_state(vm, VM_PAUSED, reason ?: "the guest kernel panicked");
                break;
        case CRASH_ACTION_RESTART:
                vm->reset_requested = true;
                if (vm_quit(vm) < 0)
                        vm_abort(vm, "cannot end the crashed guest's VMM");
                break;
        case CRASH_ACTION_DESTROY:
                (void) vm_destroy(vm, NULL);
                break;
        default:
                assert(false);
        }
}

static void on_crash_built(int r, const char *message, void *userdata) {
        VM *vm = userdata;
        CrashCapture *c = vm->crash;
        _cleanup_free_ char *partial = NULL, *final = NULL;
        const Persona *p = vm_persona(vm);
        _cleanup_(crash_bundle_done) CrashBundle b = {};
        Manager *m = vm->manager;
        int k;

        c->child = sd_event_source_unref(c->child);
        if (asprintf(&partial, "%s/.new-%s", c->dir, c->facts.id) < 0 ||
            asprintf(&final, "%s/%s", c->dir, c->facts.id) < 0)
                r = -ENOMEM;
        if (r >= 0 && rename(partial, final) < 0)
                r = -errno;
        if (r < 0) {
                log_vm_warning_errno(
                        vm->name, r, "Failed to save the crash bundle of %s: %s", vm->name, strna(message));
                (void) rm_rf(partial);
                vm_crash_act(vm, false);
                return;
        }
        /* The rename on disk too: the bundle was complete before it, it is there after it. */
        _cleanup_close_ int parent = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent >= 0)
                (void) fsync(parent);
        k = crash_find(m->config.state_dir, c->facts.id, &b);
        if (k >= 0 && !b.core) {
                /* The child could not read the dump; it leaves the files empty and cannot remove them. */
                for (const char *const *f = (const char *const[]){ "vmcore", "symbols.elf", NULL }; *f; f++) {
                        _cleanup_free_ char *path = NULL;

                        if (asprintf(&path, "%s/%s", final, *f) >= 0)
                                (void) unlink(path);
                }
        }
        log_vm_notice(
                vm->name,
                "Crash bundle %s of %s saved in %.2f s%s%s.",
                c->facts.id,
                vm->name,
                (double) (now_usec(CLOCK_MONOTONIC) - c->started_usec) / USEC_PER_SEC,
                message ? ": " : "",
                strempty(message));
        k = crash_prune(
                m->config.state_dir,
                vm->name,
                p ? p->crash_bundles : PERSONA_CRASH_BUNDLES_DEFAULT,
                (p ? p->crash_bundles_mib : PERSONA_CRASH_BUNDLES_MIB_DEFAULT) << 20);
        if (k < 0)
                log_vm_warning_errno(
                        vm->name, k, "Failed to drop old crash bundles of %s, ignoring: %m", vm->name);
        if (free_and_strdup(&vm->last_crash, c->facts.id) < 0)
                (void) log_oom();
        (void) vm_send_changed(vm, "LastCrash", NULL);
        (void) manager_emit_crashed(m, vm->name, c->facts.id);
        vm_crash_act(vm, true);
}

static int on_dump_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        VM *vm = userdata;

        log_vm_warning_errno(vm->name, 0, "The VMM of %s did not finish its memory dump in time.", vm->name);
        /* A VMM that stalls here is taken over or broken: it ends, and the half-made bundle with it. */
        vm->crash->timer = sd_event_source_disable_unref(vm->crash->timer);
        vm_abort(vm, "the VMM did not finish the crash dump");
        return 0;
}

static void on_dump_reply(
        QmpClient *q, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;

        /* A dump QEMU refuses ends its pipe: the bundle is made without a core. */
        if (error_class)
                log_vm_warning_errno(vm->name, 0, "QEMU refused to dump %s: %s", vm->name, strna(error_desc));
}

static int crash_child(void *userdata, char **ret_message) {
        CrashCapture *c = userdata;
        CrashBuild b = {
                .dir_fd = c->dir_fd,
                .dump_fd = c->dump_fd,
                .core_max_bytes = (c->vm->memory_mib << 20) + (UINT64_C(16) << 20),
                .uid = c->vm->uid,
                .gid = (gid_t) c->vm->uid,
                .facts = &c->facts,
                .console = c->console,
        };

        return crash_build(&b, ret_message);
}

/* Asks QEMU for the guest's memory as an ELF core, into a pipe that a child reads: a VMM cannot write more
 * than a dump of its guest holds, nor anywhere else. */
static int vm_crash_dump(VM *vm) {
        CrashCapture *c = vm->crash;
        json_object *getfd = NULL, *dump = NULL;
        _cleanup_close_ int wfd = -EBADF;
        struct statvfs sv;
        int p[2], r = -ENOMEM;

        if (fstatvfs(c->dir_fd, &sv) >= 0 &&
            (uint64_t) sv.f_bavail * sv.f_frsize < (vm->memory_mib << 20) + CRASH_DISK_RESERVE_BYTES)
                return free_and_strdup(&c->facts.core_error, "not enough disk space for the memory dump");
        if (!vm->qmp)
                return free_and_strdup(&c->facts.core_error, "no monitor connection to the VMM");
        if (vm->vmm == VMM_HV)
                return free_and_strdup(&c->facts.core_error, "vmm-hv makes no memory dumps");
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        c->dump_fd = p[0];
        wfd = p[1];
        getfd = json_object_new_object();
        dump = json_object_new_object();
        if (getfd && dump &&
            json_object_object_add(getfd, "fdname", json_object_new_string(CRASH_DUMP_FDNAME)) == 0 &&
            json_object_object_add(dump, "paging", json_object_new_boolean(false)) == 0 &&
            json_object_object_add(dump, "protocol", json_object_new_string("fd:" CRASH_DUMP_FDNAME)) == 0 &&
            json_object_object_add(dump, "detach", json_object_new_boolean(true)) == 0) {
                r = qmp_send_fd(vm->qmp, "getfd", TAKE_PTR(getfd), wfd, on_dump_reply, vm);
                if (r >= 0)
                        r = qmp_send(vm->qmp, "dump-guest-memory", TAKE_PTR(dump), on_dump_reply, vm);
        }
        json_object_put(getfd);
        json_object_put(dump);
        if (r < 0) {
                c->dump_fd = safe_close(c->dump_fd);
                return free_and_strdup(&c->facts.core_error, "cannot ask the VMM for a memory dump");
        }
        return sd_event_add_time_relative(
                vm->manager->event,
                &c->timer,
                CLOCK_MONOTONIC,
                CRASH_DUMP_TIMEOUT_USEC,
                USEC_PER_SEC,
                on_dump_timeout,
                vm);
}

static int vm_crash_begin(VM *vm, char *console, const char *message) {
        Manager *m = vm->manager;
        const Persona *p = vm_persona(vm);
        CrashCapture *c;
        _cleanup_free_ char *partial = NULL;
        int r;

        c = calloc(1, sizeof(CrashCapture));
        if (!c) {
                free(console);
                return -ENOMEM;
        }
        *c = (CrashCapture){
                .vm = vm,
                .console = console,
                .dir_fd = -EBADF,
                .dump_fd = -EBADF,
                .started_usec = now_usec(CLOCK_MONOTONIC),
                .facts = {
                        .vm = strdup(vm->name),
                        .persona = strdup(vm->persona),
                        .image = strdup(vm->image),
                        .owner = vm->owner_uid,
                        .time_usec = now_usec(CLOCK_REALTIME),
                        .message = strdup(message),
                },
        };
        vm->crash = c;
        log_vm_notice(vm->name, "Guest kernel of %s panicked: %s", vm->name, message);

        if (p && p->crash_bundles == 0) {
                vm_crash_act(vm, false);
                return 0;
        }
        r = !c->facts.vm || !c->facts.persona || !c->facts.image || !c->facts.message ||
                        asprintf(&c->dir, "%s/" CRASH_DIR "/%s", m->config.state_dir, vm->name) < 0 ?
                -ENOMEM :
                crash_new_id(m->config.state_dir, vm->name, c->facts.time_usec, &c->facts.id);
        if (r >= 0)
                r = mkdir_p(c->dir, 0700);
        if (r >= 0 && asprintf(&partial, "%s/.new-%s", c->dir, c->facts.id) < 0)
                r = -ENOMEM;
        if (r >= 0 && mkdir(partial, 0700) < 0)
                r = -errno;
        if (r >= 0) {
                c->dir_fd = open(partial, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (c->dir_fd < 0)
                        r = -errno;
        }
        if (r >= 0)
                r = vm_crash_dump(vm);
        if (r >= 0)
                r = fork_call(m->event, "crash bundle", crash_child, c, on_crash_built, vm, &c->child);
        c->dump_fd = safe_close(c->dump_fd); /* the child's now */
        if (r < 0) {
                log_vm_warning_errno(vm->name, r, "Failed to save a crash bundle of %s: %m", vm->name);
                vm_crash_abort(vm);
                vm_crash_act(vm, false); /* still the crash it was */
        }
        return 0;
}

static void on_console_read(
        QmpClient *q, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;
        _cleanup_free_ char *console = NULL, *message = NULL;
        bool panicked = vm->crash_check == CRASH_CHECK_PANICKED;

        vm->crash_check = CRASH_CHECK_NONE;
        vm->timer = sd_event_source_disable_unref(vm->timer);
        if (!error_class && json_object_is_type(result, json_type_string))
                console = strdup(json_object_get_string(result));
        message = console ? crash_find_panic(console) : NULL;
        if (!message && panicked)
                message = strdup("the guest reported a kernel panic (pvpanic)");
        if (!message) {
                /* A reboot or a power-off: QEMU ends, and the VM goes on as its reason says. */
                if (vm_quit(vm) < 0)
                        vm_abort(vm, "cannot end the VMM after the guest's shutdown");
                return;
        }
        if (vm_crash_begin(vm, TAKE_PTR(console), message) < 0)
                vm_abort(vm, "out of memory saving a crash");
}

static int on_console_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        VM *vm = userdata;

        vm->timer = sd_event_source_disable_unref(vm->timer);
        vm_abort(vm, "the VMM did not answer after the guest stopped");
        return 0;
}

void vm_crash_on_guest_stop(VM *vm, bool panicked) {
        json_object *args;

        if (vm->crash || vm->crash_check != CRASH_CHECK_NONE)
                return;
        /* Asked for (a stop, vmmd's exit, a golden build's end): nothing to look into. */
        if (vm->builder_of || vm->state == VM_STOPPING || vm->destroying || vm->manager->exiting) {
                if (vm_quit(vm) < 0)
                        vm_abort(vm, "cannot end the VMM");
                return;
        }
        args = json_object_new_object();
        if (!args || json_object_object_add(args, "device", json_object_new_string("console")) < 0 ||
            json_object_object_add(args, "size", json_object_new_int(CRASH_CONSOLE_MAX)) < 0 ||
            json_object_object_add(args, "format", json_object_new_string("utf8")) < 0 ||
            qmp_send(vm->qmp, "ringbuf-read", TAKE_PTR(args), on_console_read, vm) < 0) {
                json_object_put(args);
                vm_abort(vm, "cannot read the console after the guest stopped");
                return;
        }
        vm->crash_check = panicked ? CRASH_CHECK_PANICKED : CRASH_CHECK_CONSOLE;
        /* In place of whatever waited (a boot, a reboot): the VMM must answer now. */
        (void) vm_timer_set(vm, vm->manager->config.stop_timeout_usec, on_console_timeout);
}

int vm_crash_test(VM *vm, bool force, char **ret_error) {
        const Persona *p = vm_persona(vm);

        if (vm->state != VM_RUNNING || !agent_client_is_ready(vm->agent))
                return -EINVAL;
        if (p && p->crash_test == CRASH_TEST_FORCE && !force) {
                if (asprintf(
                            ret_error,
                            "persona \"%s\" has crash_test: force: crashing VM \"%s\" on purpose needs force",
                            p->name,
                            vm->name) < 0)
                        return -ENOMEM;
                return -EPERM;
        }
        log_vm_notice(vm->name, "Crashing the guest kernel of %s on request.", vm->name);
        return agent_client_send(vm->agent, "CRASH");
}

void vm_crash_load_last(VM *vm) {
        CrashBundle *list = NULL;
        size_t n = 0;

        if (crash_list(vm->manager->config.state_dir, vm->name, &list, &n) >= 0 && n > 0)
                vm->last_crash = TAKE_PTR(list[n - 1].id);
        crash_bundle_array_free(list, n);
}
