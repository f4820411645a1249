/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-hv's QMP commands and events. */
#include <assert.h>
#include <errno.h>

#include "config.h"
#include "control.h"

typedef enum ControlState {
        CONTROL_RUNNING,
        CONTROL_PAUSED,
        CONTROL_SHUTDOWN, /* the guest stopped itself: only quit is left */
} ControlState;

struct Control {
        sd_event *event;
        Machine *machine;
        QmpServer *server;
        ControlState state;
        /* A migrate under way: its file, written once the reply went out. */
        int migrate_fd;
        bool migrate_inc;
        sd_event_source *migrate_source;
        const char *migrate_status; /* for query-migrate: NULL (none yet), "completed", "failed" */
};

static const char *const status_table[] = {
        [CONTROL_RUNNING] = "running",
        [CONTROL_PAUSED] = "paused",
        [CONTROL_SHUTDOWN] = "shutdown",
};

#define RINGBUF_READ_MAX (1024 * 1024)

static int cmd_query_status(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Control *c = userdata;
        json_object *o = json_object_new_object();

        if (!o)
                return -ENOMEM;
        (void) json_object_object_add(o, "status", json_object_new_string(status_table[c->state]));
        (void) json_object_object_add(o, "running", json_object_new_boolean(c->state == CONTROL_RUNNING));
        (void) json_object_object_add(o, "singlestep", json_object_new_boolean(false));
        *ret = o;
        return 0;
}

static int cmd_query_name(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Control *c = userdata;
        json_object *o = json_object_new_object();

        if (!o)
                return -ENOMEM;
        (void) json_object_object_add(o, "name", json_object_new_string(machine_name(c->machine)));
        *ret = o;
        return 0;
}

static int cmd_stop(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Control *c = userdata;
        int r;

        if (c->state != CONTROL_RUNNING)
                return 0;
        r = machine_pause(c->machine);
        if (r < 0)
                return r;
        c->state = CONTROL_PAUSED;
        qmp_server_event(s, "STOP", NULL);
        return 0;
}

static int cmd_cont(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Control *c = userdata;
        int r;

        if (c->state == CONTROL_SHUTDOWN)
                return qmp_error_set(
                        err, "GenericError", "The guest has shut down: it can only be started anew");
        if (c->state == CONTROL_RUNNING)
                return 0;
        r = machine_resume(c->machine);
        if (r < 0)
                return r;
        c->state = CONTROL_RUNNING;
        qmp_server_event(s, "RESUME", NULL);
        return 0;
}

static int cmd_quit(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Control *c = userdata;

        /* The reply is queued and written once this returns; the loop ends at its next iteration. */
        machine_exit(c->machine, MACHINE_EXIT_POWEROFF);
        return 0;
}

static int cmd_ringbuf_read(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Control *c = userdata;
        _cleanup_free_ char *text = NULL;
        const char *device, *format = "utf8";
        int64_t size;
        size_t n;
        int r;

        r = qmp_arg_string(args, "device", true, &device, err);
        if (r >= 0)
                r = qmp_arg_int(args, "size", true, &size, err);
        if (r >= 0)
                r = qmp_arg_string(args, "format", false, &format, err);
        if (r < 0)
                return r;
        if (!streq(device, "console"))
                return qmp_error_set(err, "DeviceNotFound", "Device '%s' not found", device);
        if (!streq(format, "utf8"))
                return qmp_error_set(err, "GenericError", "Format '%s' is not supported (only utf8)", format);
        if (size < 0)
                return qmp_error_set(err, "GenericError", "Parameter 'size' expects a non-negative value");
        text = malloc((size_t) MIN(size, (int64_t) RINGBUF_READ_MAX) + 1);
        if (!text)
                return -ENOMEM;
        n = machine_console_read(c->machine, text, (size_t) MIN(size, (int64_t) RINGBUF_READ_MAX));
        /* The guest's bytes as text: what is not printable ASCII (or a line break, tab) becomes '?', so the
         * JSON is valid whatever the guest wrote. */
        for (size_t i = 0; i < n; i++)
                if (((unsigned char) text[i] < 0x20 && !IN_SET(text[i], '\n', '\r', '\t')) ||
                    (unsigned char) text[i] >= 0x7f)
                        text[i] = '?';
        text[n] = '\0';
        *ret = json_object_new_string_len(text, (int) n);
        return *ret ? 0 : -ENOMEM;
}

/* Accepted as vmmd sends them to QEMU; a snapshot is written in one go, so neither changes anything. */
static int cmd_migrate_set_capabilities(
        QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        json_object *caps;

        if (!args || !json_object_object_get_ex(args, "capabilities", &caps) ||
            !json_object_is_type(caps, json_type_array))
                return qmp_error_set(
                        err, "GenericError", "Parameter 'capabilities' is missing or not an array");
        return 0;
}

static int cmd_migrate_set_parameters(
        QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        return 0;
}

static void migrate_event(Control *c, const char *status) {
        json_object *data = json_object_new_object();

        if (data)
                (void) json_object_object_add(data, "status", json_object_new_string(status));
        qmp_server_event(c->server, "MIGRATION", data);
}

static int on_migrate(sd_event_source *source, void *userdata) {
        Control *c = userdata;
        int r;

        c->migrate_source = sd_event_source_disable_unref(c->migrate_source);
        migrate_event(c, "active");
        r = machine_save(c->machine, c->migrate_fd, c->migrate_inc);
        c->migrate_fd = safe_close(c->migrate_fd);
        c->migrate_status = r < 0 ? "failed" : "completed";
        migrate_event(c, c->migrate_status);
        return 0;
}

/* A snapshot of the paused machine into a file the client passed with getfd ("fd:NAME"), as QEMU's
 * migration to a file: MIGRATION events say how it goes. The machine must be paused (stop) first: a
 * snapshot of one moment. "inc": true (the name of QEMU's old incremental flag) makes it a delta of the
 * machine's base, with the RAM pages written since then only. */
static int cmd_migrate(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Control *c = userdata;
        json_object *inc;
        bool incremental = false;
        const char *uri;
        int r, fd;

        r = qmp_arg_string(args, "uri", true, &uri, err);
        if (r < 0)
                return r;
        if (json_object_object_get_ex(args, "inc", &inc)) {
                if (!json_object_is_type(inc, json_type_boolean))
                        return qmp_error_set(
                                err, "GenericError", "Invalid parameter type for 'inc', expected: boolean");
                incremental = json_object_get_boolean(inc);
        }
        if (incremental && !machine_has_base(c->machine))
                return qmp_error_set(
                        err,
                        "GenericError",
                        "No base for an incremental snapshot: the machine booted and has written no snapshot "
                        "yet (take a full one first)");
        if (strncmp(uri, "fd:", 3) != 0)
                return qmp_error_set(
                        err, "GenericError", "vmm-hv saves only to a passed fd ('fd:NAME'), not '%s'", uri);
        if (c->state == CONTROL_RUNNING)
                return qmp_error_set(
                        err, "GenericError", "The machine runs: stop it first (a snapshot is of one moment)");
        if (c->migrate_fd >= 0)
                return qmp_error_set(err, "GenericError", "A snapshot is being written already");
        fd = qmp_server_take_fd(s, uri + 3);
        if (fd < 0)
                return qmp_error_set(
                        err, "GenericError", "File descriptor named '%s' has not been found", uri + 3);
        r = sd_event_add_defer(c->event, &c->migrate_source, on_migrate, c);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        c->migrate_fd = fd;
        c->migrate_inc = incremental;
        c->migrate_status = NULL;
        migrate_event(c, "setup");
        return 0;
}

static int cmd_query_migrate(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Control *c = userdata;
        json_object *o = json_object_new_object();

        if (!o)
                return -ENOMEM;
        if (c->migrate_fd >= 0 || c->migrate_status)
                (void) json_object_object_add(
                        o, "status", json_object_new_string(c->migrate_fd >= 0 ? "active" : c->migrate_status));
        *ret = o;
        return 0;
}

static json_object *balloon_info(uint64_t actual) {
        json_object *o = json_object_new_object();

        if (o)
                (void) json_object_object_add(o, "actual", json_object_new_int64((int64_t) actual));
        return o;
}

/* QEMU's balloon: "value" is the RAM the guest is to keep, in bytes. */
static int cmd_balloon(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Control *c = userdata;
        int64_t value;
        int r;

        r = qmp_arg_int(args, "value", true, &value, err);
        if (r < 0)
                return r;
        if (value <= 0)
                return qmp_error_set(err, "GenericError", "Parameter 'value' expects a size");
        machine_balloon_set_target(c->machine, (uint64_t) MIN((uint64_t) value, machine_ram_size(c->machine)));
        return 0;
}

static int cmd_query_balloon(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Control *c = userdata;

        *ret = balloon_info(machine_balloon_actual(c->machine));
        return *ret ? 0 : -ENOMEM;
}

static void on_balloon(Machine *m, uint64_t actual, void *userdata) {
        Control *c = userdata;

        qmp_server_event(c->server, "BALLOON_CHANGE", balloon_info(actual));
}

/* The machine ended as reason says: paused with its RAM as it was, waiting for quit (QEMU's -action
 * reboot=shutdown,shutdown=pause, which vmmd relies on). */
static void control_shut_down(Control *c, bool guest, const char *reason) {
        json_object *data = json_object_new_object();

        c->state = CONTROL_SHUTDOWN;
        if (data) {
                (void) json_object_object_add(data, "guest", json_object_new_boolean(guest));
                (void) json_object_object_add(data, "reason", json_object_new_string(reason));
        }
        qmp_server_event(c->server, "SHUTDOWN", data);
        qmp_server_event(c->server, "STOP", NULL);
}

/* The reset button: like a guest's own reset, the machine ends and its owner starts a new one. */
static int cmd_system_reset(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Control *c = userdata;
        int r;

        if (c->state == CONTROL_SHUTDOWN)
                return 0;
        if (c->state == CONTROL_RUNNING) {
                r = machine_pause(c->machine);
                if (r < 0)
                        return r;
        }
        control_shut_down(c, false, "host-qmp-system-reset");
        return 0;
}

static const QmpCommand commands[] = {
        { "balloon", cmd_balloon },
        { "cont", cmd_cont },
        { "migrate", cmd_migrate },
        { "migrate-set-capabilities", cmd_migrate_set_capabilities },
        { "migrate-set-parameters", cmd_migrate_set_parameters },
        { "query-balloon", cmd_query_balloon },
        { "query-migrate", cmd_query_migrate },
        { "query-name", cmd_query_name },
        { "query-status", cmd_query_status },
        { "quit", cmd_quit },
        { "ringbuf-read", cmd_ringbuf_read },
        { "stop", cmd_stop },
        { "system_reset", cmd_system_reset },
        {},
};

static void on_guest_stop(Machine *m, MachineExit how, void *userdata) {
        control_shut_down(userdata, true, how == MACHINE_EXIT_RESET ? "guest-reset" : "guest-shutdown");
}

Control *control_free(Control *c) {
        if (!c)
                return NULL;
        if (c->machine) {
                machine_set_guest_stop_handler(c->machine, NULL, NULL);
                machine_set_balloon_handler(c->machine, NULL, NULL);
        }
        sd_event_source_disable_unref(c->migrate_source);
        safe_close(c->migrate_fd);
        qmp_server_free(c->server);
        sd_event_unref(c->event);
        return mfree(c);
}

int control_new(sd_event *event, Machine *m, int listen_fd, Control **ret) {
        _cleanup_(control_freep) Control *c = NULL;
        int r;

        assert(event);
        assert(m);
        assert(ret);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->migrate_fd = -EBADF;
        c->event = sd_event_ref(event);
        r = qmp_server_new(event, listen_fd, "vmm-hv " VERSION, commands, c, &c->server);
        if (r < 0)
                return r;
        c->machine = m;
        machine_set_guest_stop_handler(m, on_guest_stop, c);
        machine_set_balloon_handler(m, on_balloon, c);
        *ret = TAKE_PTR(c);
        return 0;
}
