/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Crash bundles on the bus: org.vmmd1.Manager's ListCrashes, GetCrash, OpenCrash, KeepCrash, DeleteCrash and
 * the Crashed signal. A bundle holds a guest's memory: only those who may manage its VM see it. */
#include <fcntl.h>

#include "authorize.h"
#include "bus-errors.h"
#include "crash-dbus.h"
#include "crash.h"
#include "log.h"
#include "names.h"
#include "operation.h"

bool crash_visible(Manager *m, const CrashBundle *b) {
        sd_bus_message *call = m->bus ? sd_bus_get_current_message(m->bus) : NULL;

        if (!call || !sd_bus_message_is_method_call(call, NULL, NULL))
                return true;
        return authorize_level(m, call, b->persona, b->owner) >= ACCESS_MANAGE;
}

/* The bundle named by the call's first argument, if the caller may see it. */
static int read_bundle(sd_bus_message *msg, Manager *m, CrashBundle *ret, sd_bus_error *error) {
        const char *id;
        int r;

        r = sd_bus_message_read(msg, "s", &id);
        if (r < 0)
                return r;
        r = crash_find(m->config.state_dir, id, ret);
        if (r == -ENOENT || (r >= 0 && !crash_visible(m, ret))) {
                if (r >= 0)
                        crash_bundle_done(ret);
                return sd_bus_error_setf(error, VMMD_ERROR_NO_SUCH_CRASH, "No crash bundle \"%s\"", id);
        }
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to read crash bundle \"%s\": %m", id);
        return 0;
}

static int method_list_crashes(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        CrashBundle *list = NULL;
        const char *vm;
        size_t n = 0;
        int r;

        r = sd_bus_message_read(msg, "s", &vm);
        if (r < 0)
                return r;
        /* A VM that is gone may have kept bundles: any valid name will do. */
        if (!isempty(vm) && vm_name_invalid_reason(vm))
                return sd_bus_error_setf(
                        error, VMMD_ERROR_INVALID_ARGUMENT, "VM name \"%s\" %s", vm, vm_name_invalid_reason(vm));
        r = crash_list(m->config.state_dir, isempty(vm) ? NULL : vm, &list, &n);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to list the crash bundles: %m");
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sssttsb)");
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (crash_visible(m, &list[i]))
                        r = sd_bus_message_append(
                                reply,
                                "(sssttsb)",
                                list[i].id,
                                list[i].vm,
                                list[i].persona,
                                list[i].time_usec,
                                list[i].size_bytes,
                                list[i].message,
                                (int) list[i].kept);
        crash_bundle_array_free(list, n);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r < 0 ? r : sd_bus_send(NULL, reply, NULL);
}

static int append_entry(sd_bus_message *reply, const char *key, const char *type, ...) {
        va_list ap;
        int r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', type);
        if (r >= 0) {
                va_start(ap, type);
                r = sd_bus_message_appendv(reply, type, ap);
                va_end(ap);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

/* A file of a bundle: written by its child as the VM's uid (through fds vmmd made), so only a regular file
 * is taken. */
static int open_bundle_file(Manager *m, const CrashBundle *b, const char *file) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/" CRASH_DIR "/%s/%s/%s", m->config.state_dir, b->vm, b->id, file) < 0)
                return -ENOMEM;
        return open_regular(path);
}

/* The console as saved: printable already (crash_build() made it so), at most CRASH_CONSOLE_MAX. */
static char *read_console(Manager *m, const CrashBundle *b) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = open_bundle_file(m, b, "console.txt");
        size_t n;

        if (fd < 0 || read_tail(fd, CRASH_CONSOLE_MAX, &text, &n) < 0)
                return strdup("");
        return utf8_printable_lines(text, CRASH_CONSOLE_MAX);
}

static int method_get_crash(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(crash_bundle_done) CrashBundle b = {};
        _cleanup_free_ char *console = NULL;
        Manager *m = userdata;
        int r;

        r = read_bundle(msg, m, &b, error);
        if (r < 0)
                return r;
        console = read_console(m, &b);
        if (!console)
                return -ENOMEM;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = append_entry(reply, "id", "s", b.id);
        if (r >= 0)
                r = append_entry(reply, "vm", "s", b.vm);
        if (r >= 0)
                r = append_entry(reply, "persona", "s", b.persona);
        if (r >= 0)
                r = append_entry(reply, "image", "s", b.image);
        if (r >= 0)
                r = append_entry(reply, "owner", "u", (uint32_t) b.owner);
        if (r >= 0)
                r = append_entry(reply, "time_usec", "t", b.time_usec);
        if (r >= 0)
                r = append_entry(reply, "size_bytes", "t", b.size_bytes);
        if (r >= 0)
                r = append_entry(reply, "message", "s", b.message);
        if (r >= 0)
                r = append_entry(reply, "kernel", "s", b.kernel);
        if (r >= 0)
                r = append_entry(reply, "build_id", "s", b.build_id);
        if (r >= 0)
                r = append_entry(reply, "kernel_offset", "s", b.kernel_offset);
        if (r >= 0)
                r = append_entry(reply, "cpu", "u", b.cpu);
        if (r >= 0) {
                r = sd_bus_message_open_container(reply, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "s", "backtrace");
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'v', "as");
                if (r >= 0)
                        r = sd_bus_message_append_strv(reply, b.backtrace);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = append_entry(reply, "core", "b", (int) b.core);
        if (r >= 0)
                r = append_entry(reply, "core_error", "s", b.core_error);
        if (r >= 0)
                r = append_entry(reply, "capture_usec", "t", b.capture_usec);
        if (r >= 0)
                r = append_entry(reply, "kept", "b", (int) b.kept);
        if (r >= 0)
                r = append_entry(reply, "console", "s", console);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r < 0 ? r : sd_bus_send(NULL, reply, NULL);
}

static int method_open_crash(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(crash_bundle_done) CrashBundle b = {};
        _cleanup_close_ int core = -EBADF, symbols = -EBADF;
        Manager *m = userdata;
        int r;

        r = read_bundle(msg, m, &b, error);
        if (r < 0)
                return r;
        if (!b.core)
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_INVALID_STATE,
                        "Crash bundle \"%s\" has no memory dump: %s",
                        b.id,
                        strna(b.core_error));
        core = open_bundle_file(m, &b, "vmcore");
        symbols = core >= 0 ? open_bundle_file(m, &b, "symbols.elf") : -EBADF;
        if (core < 0 || symbols < 0)
                return sd_bus_error_set_errnof(
                        error, core < 0 ? core : symbols, "Failed to open crash bundle \"%s\": %m", b.id);
        const Caller *c = authorize_caller(m, msg);
        log_info("Handing the memory dump of crash bundle %s to uid %u.", b.id, c ? (unsigned) c->uid : 0U);
        return sd_bus_reply_method_return(msg, "hh", core, symbols);
}

static int method_keep_crash(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(crash_bundle_done) CrashBundle b = {};
        Manager *m = userdata;
        int keep, r;

        r = read_bundle(msg, m, &b, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "b", &keep);
        if (r < 0)
                return r;
        r = crash_set_kept(m->config.state_dir, &b, keep);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to mark crash bundle \"%s\": %m", b.id);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_delete_crash(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(crash_bundle_done) CrashBundle b = {};
        Manager *m = userdata;
        int r;

        r = read_bundle(msg, m, &b, error);
        if (r < 0)
                return r;
        r = crash_remove(m->config.state_dir, &b);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to remove crash bundle \"%s\": %m", b.id);
        log_info("Crash bundle %s removed.", b.id);
        return sd_bus_reply_method_return(msg, NULL);
}

int manager_emit_crashed(Manager *m, const char *vm, const char *id) {
        if (!m->bus)
                return 0;
        return sd_bus_emit_signal(m->bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "Crashed", "ss", vm, id);
}

const sd_bus_vtable crash_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS(
                "ListCrashes",
                SD_BUS_ARGS("s", vm),
                SD_BUS_RESULT("a(sssttsb)", crashes),
                method_list_crashes,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "GetCrash",
                SD_BUS_ARGS("s", id),
                SD_BUS_RESULT("a{sv}", crash),
                method_get_crash,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "OpenCrash",
                SD_BUS_ARGS("s", id),
                SD_BUS_RESULT("h", core, "h", symbols),
                method_open_crash,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "KeepCrash",
                SD_BUS_ARGS("s", id, "b", keep),
                SD_BUS_NO_RESULT,
                method_keep_crash,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "DeleteCrash",
                SD_BUS_ARGS("s", id),
                SD_BUS_NO_RESULT,
                method_delete_crash,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Crashed", SD_BUS_ARGS("s", vm, "s", id), 0),
        SD_BUS_VTABLE_END,
};
