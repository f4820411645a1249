/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What launcher UIs rely on (DESIGN.md): signals carry values and come in order. Runs against the vmmd on
 * $DBUS_SESSION_BUS_ADDRESS (test_signals.py sets one up) and prints one line per event it saw; exits 0
 * only if every rule held:
 *   - VMNew comes before CreateVM's reply, with the path the reply returns;
 *   - State changes arrive as PropertiesChanged with values (starting, then running), never invalidated;
 *   - SwitchTo: the Manager's Foreground and ForegroundChanged carry the name, the VM's Foreground is true;
 *   - Stop of a throwaway: stopping, then VMRemoved; the Manager's Foreground returns to "". */
#include <assert.h>
#include <stdarg.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-errors.h"
#include "util.h"

#define MAX_EVENTS 64

static char *events[MAX_EVENTS];
static size_t n_events;
static char *vm_path;
static bool create_replied;

static void record(const char *fmt, ...) _printf_(1, 2);
static void record(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        assert(vasprintf(&s, fmt, ap) >= 0);
        va_end(ap);
        printf("%s\n", s);
        fflush(stdout);
        assert(n_events < MAX_EVENTS);
        events[n_events++] = s;
}

static int on_manager_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *member = sd_bus_message_get_member(m), *name, *path;

        if (streq(member, "VMNew") || streq(member, "VMRemoved")) {
                assert(sd_bus_message_read(m, "so", &name, &path) >= 0);
                record("%s %s %s", member, name, path);
        } else if (streq(member, "ForegroundChanged")) {
                assert(sd_bus_message_read(m, "s", &name) >= 0);
                record("ForegroundChanged %s", name);
        }
        return 0;
}

/* PropertiesChanged: every changed property must carry its value; invalidated ones are a contract breach. */
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *interface, *prop, *path = sd_bus_message_get_path(m);

        assert(sd_bus_message_read(m, "s", &interface) >= 0);
        assert(sd_bus_message_enter_container(m, 'a', "{sv}") >= 0);
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                const char *contents, *s;
                int b;

                assert(sd_bus_message_read(m, "s", &prop) >= 0);
                assert(sd_bus_message_peek_type(m, NULL, &contents) >= 0);
                if (streq(prop, "State") || streq(prop, "Foreground") || streq(prop, "FailureReason")) {
                        if (streq(contents, "s")) {
                                assert(sd_bus_message_read(m, "v", "s", &s) >= 0);
                                record("changed %s %s.%s=%s", path, interface, prop, s);
                        } else {
                                assert(sd_bus_message_read(m, "v", "b", &b) >= 0);
                                record("changed %s %s.%s=%s", path, interface, prop, b ? "true" : "false");
                        }
                } else
                        assert(sd_bus_message_skip(m, "v") >= 0);
                assert(sd_bus_message_exit_container(m) >= 0);
        }
        assert(sd_bus_message_exit_container(m) >= 0);
        assert(sd_bus_message_enter_container(m, 'a', "s") >= 0);
        while (sd_bus_message_read(m, "s", &prop) > 0)
                record("INVALIDATED %s %s.%s", path, interface, prop);
        return 0;
}

static int on_create_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *path;

        if (sd_bus_message_is_method_error(m, NULL)) {
                fprintf(stderr, "CreateVM failed: %s\n", sd_bus_message_get_error(m)->message);
                exit(EXIT_FAILURE);
        }
        assert(sd_bus_message_read(m, "o", &path) >= 0);
        vm_path = strdup(path);
        create_replied = true;
        record("reply CreateVM %s", path);
        return 0;
}

static bool seen(const char *event) {
        for (size_t i = 0; i < n_events; i++)
                if (streq(events[i], event))
                        return true;
        return false;
}

static ssize_t index_of(const char *event) {
        for (size_t i = 0; i < n_events; i++)
                if (streq(events[i], event))
                        return (ssize_t) i;
        return -1;
}

/* Runs the loop until event was recorded, at most 120 s. */
static void wait_for(sd_event *e, const char *event) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + 120 * USEC_PER_SEC;

        while (!seen(event)) {
                if (now_usec(CLOCK_MONOTONIC) > deadline) {
                        fprintf(stderr, "timed out waiting for \"%s\"\n", event);
                        exit(EXIT_FAILURE);
                }
                assert(sd_event_run(e, USEC_PER_SEC) >= 0);
        }
}

static void check(bool cond, const char *what) {
        if (!cond) {
                fprintf(stderr, "FAILED: %s\n", what);
                exit(EXIT_FAILURE);
        }
}

int main(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char expect[512];
        const char *name;

        assert(sd_event_default(&e) >= 0);
        assert(sd_bus_open_user(&bus) >= 0);
        assert(sd_bus_attach_event(bus, e, 0) >= 0);
        assert(sd_bus_match_signal(
                       bus,
                       NULL,
                       VMMD_BUS_NAME,
                       VMMD_MANAGER_PATH,
                       VMMD_MANAGER_INTERFACE,
                       NULL,
                       on_manager_signal,
                       NULL) >= 0);
        assert(sd_bus_add_match(
                       bus,
                       NULL,
                       "type='signal',sender='" VMMD_BUS_NAME "',interface='org.freedesktop.DBus.Properties',"
                       "member='PropertiesChanged',path_namespace='/org/vmmd1'",
                       on_properties_changed,
                       NULL) >= 0);

        assert(sd_bus_call_method_async(
                       bus,
                       NULL,
                       VMMD_BUS_NAME,
                       VMMD_MANAGER_PATH,
                       VMMD_MANAGER_INTERFACE,
                       "CreateVM",
                       on_create_reply,
                       NULL,
                       "ssa{sv}",
                       "throwaway",
                       "",
                       0) >= 0);
        while (!create_replied)
                assert(sd_event_run(e, USEC_PER_SEC) >= 0);

        /* VMNew with the same path, before the reply. */
        name = strrchr(vm_path, '/') + 1;
        check(n_events >= 2 && strncmp(events[0], "VMNew ", 6) == 0, "VMNew is the first event");
        check(strstr(events[0], vm_path) != NULL, "VMNew names the path CreateVM returns");
        check(n_events > 1 && strncmp(events[n_events - 1], "reply ", 6) == 0, "the reply comes after VMNew");

        (void) snprintf(expect, sizeof(expect), "changed %s org.vmmd1.VM.State=running", vm_path);
        wait_for(e, expect);
        (void) snprintf(expect, sizeof(expect), "changed %s org.vmmd1.VM.State=starting", vm_path);
        check(seen(expect), "State=starting came with its value");
        check(index_of(expect) < (ssize_t) n_events - 1, "starting before running");

        /* The name, decoded from the path: throwaway-xxxxxx has '-' escaped as _2d. */
        char vm_name[128];
        assert(sscanf(name, "throwaway_2d%6s", vm_name + 10) == 1);
        memcpy(vm_name, "throwaway-", 10);

        assert(sd_bus_call_method(
                       bus,
                       VMMD_BUS_NAME,
                       VMMD_MANAGER_PATH,
                       VMMD_MANAGER_INTERFACE,
                       "SwitchTo",
                       &error,
                       NULL,
                       "s",
                       vm_name) >= 0);
        (void) snprintf(expect, sizeof(expect), "ForegroundChanged %s", vm_name);
        wait_for(e, expect);
        (void) snprintf(expect, sizeof(expect), "changed /org/vmmd1 org.vmmd1.Manager.Foreground=%s", vm_name);
        wait_for(e, expect);
        (void) snprintf(expect, sizeof(expect), "changed %s org.vmmd1.VM.Foreground=true", vm_path);
        wait_for(e, expect);

        assert(sd_bus_call_method(
                       bus, VMMD_BUS_NAME, vm_path, VMMD_VM_INTERFACE, "Stop", &error, NULL, "b", 0) >= 0);
        (void) snprintf(expect, sizeof(expect), "VMRemoved %s %s", vm_name, vm_path);
        wait_for(e, expect);
        (void) snprintf(expect, sizeof(expect), "changed %s org.vmmd1.VM.State=stopping", vm_path);
        check(seen(expect), "State=stopping came with its value");
        wait_for(e, "changed /org/vmmd1 org.vmmd1.Manager.Foreground=");
        wait_for(e, "ForegroundChanged ");

        for (size_t i = 0; i < n_events; i++)
                check(strncmp(events[i], "INVALIDATED", 11) != 0, "no property is only invalidated");
        printf("all rules held\n");
        return EXIT_SUCCESS;
}
