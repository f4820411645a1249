/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Following a VM's state (and its balloon) through PropertiesChanged, VMRemoved and vmmd's NameOwnerChanged
 * signals. */
#include <assert.h>
#include <inttypes.h>
#include <langinfo.h>

#include "bus-errors.h"
#include "bus-util.h"
#include "log.h"
#include "wait.h"

const char *const vm_states[] = {
        "created", "starting", "running", "paused", "stopping", "stopped", "failed", NULL,
};

const WaitSpec wait_running = {
        .target = "running",
        .pending = (const char *const[]){ "starting", "paused", NULL },
};
const WaitSpec wait_stopped = {
        .target = "stopped",
        .removal_ends = true,
        .pending = (const char *const[]){ "stopping", "running", "starting", "paused", NULL },
};
const WaitSpec wait_paused = {
        .target = "paused",
        .pending = (const char *const[]){ "running", "starting", NULL },
};
const WaitSpec wait_removed = {
        .removal_ends = true, .pending = vm_states, /* a failed VM is destroyed too */
};
/* The balloon moves while the guest runs; paused, it waits for resume. A VM that starts again has a new VMM,
 * whose balloon is empty: the target is lost. */
const WaitSpec wait_memory = {
        .target = "running",
        .pending = (const char *const[]){ "paused", NULL },
};

/* The end of "waiting for VM ... to be": "running", "removed", "at 256 MiB". */
#define WAIT_PHRASE_MAX 64
static const char *goal_phrase(const VMWait *w, char buf[static WAIT_PHRASE_MAX]) {
        if (w->spec->memory_mib == 0)
                return w->spec->target ?: "removed";
        (void) snprintf(buf, WAIT_PHRASE_MAX, "at %" PRIu64 " MiB", w->spec->memory_mib);
        return buf;
}

/* The end of "it is": "starting", "running at 412 MiB". */
static const char *state_phrase(const VMWait *w, char buf[static WAIT_PHRASE_MAX]) {
        if (w->spec->memory_mib == 0 || !w->state)
                return strna(w->state);
        (void) snprintf(buf, WAIT_PHRASE_MAX, "%s at %" PRIu64 " MiB", w->state, w->memory_actual_mib);
        return buf;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_json_put_ json_object *props = NULL;
        VMWait *w = userdata;
        const char *interface, *s;
        json_object *v;
        int r;

        if (w->stale || !w->path || !streq_ptr(sd_bus_message_get_path(m), w->path))
                return 0;
        r = sd_bus_message_read(m, "s", &interface);
        if (r < 0 || !streq(interface, VMMD_VM_INTERFACE))
                return 0;
        r = bus_message_read_json(m, &props);
        if (r < 0)
                return r;

        s = json_get_string(props, "State");
        if (s && free_and_strdup(&w->state, s) < 0)
                return -ENOMEM;
        s = json_get_string(props, "FailureReason");
        if (s && free_and_strdup(&w->failure_reason, s) < 0)
                return -ENOMEM;
        if (json_object_object_get_ex(props, "MemoryActualMiB", &v))
                w->memory_actual_mib = json_object_get_uint64(v);
        return 0;
}

static int on_vm_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        VMWait *w = userdata;
        const char *name, *path;

        if (w->stale || !w->path)
                return 0;
        if (sd_bus_message_read(m, "so", &name, &path) < 0)
                return 0;
        if (streq(path, w->path))
                w->removed = true;
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        VMWait *w = userdata;
        const char *name, *old_owner, *new_owner;

        if (w->stale)
                return 0;
        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (streq(name, VMMD_BUS_NAME) && isempty(new_owner))
                w->vmmd_gone = true;
        return 0;
}

int vm_wait_begin(VMWait *w, sd_bus *bus, bool progress) {
        static const struct {
                const char *match;
                sd_bus_message_handler_t handler;
        } matches[] = {
                /* Installed before the call, with the VM's path still unknown for CreateVM: hence the
                 * whole name space, and on_properties_changed() picks the VM. */
                { "type='signal',sender='" VMMD_BUS_NAME "',interface='org.freedesktop.DBus.Properties',"
                  "member='PropertiesChanged',path_namespace='" VMMD_VM_PATH_PREFIX "'",
                  on_properties_changed },
                { "type='signal',sender='" VMMD_BUS_NAME "',path='" VMMD_MANAGER_PATH "',"
                  "interface='" VMMD_MANAGER_INTERFACE "',member='VMRemoved'",
                  on_vm_removed },
                { "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                  "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" VMMD_BUS_NAME "'",
                  on_name_owner_changed },
        };
        int r;

        w->since = now_usec(CLOCK_MONOTONIC);
        if (w->bus)
                return 0;

        w->bus = sd_bus_ref(bus);
        w->progress = progress;
        for (size_t i = 0; i < ELEMENTSOF(matches); i++) {
                /* Synchronous: the match is in place at the broker once this returns. */
                r = sd_bus_add_match(bus, &w->slots[i], matches[i].match, matches[i].handler, w);
                if (r < 0)
                        return r;
        }
        return 0;
}

void vm_wait_done(VMWait *w) {
        for (size_t i = 0; i < ELEMENTSOF(w->slots); i++)
                w->slots[i] = sd_bus_slot_unref(w->slots[i]);
        w->bus = sd_bus_unref(w->bus);
        (void) free_and_strdup(&w->path, NULL);
        (void) free_and_strdup(&w->name, NULL);
        (void) free_and_strdup(&w->state, NULL);
        (void) free_and_strdup(&w->failure_reason, NULL);
}

/* "→" where the locale's character set has it. */
static const char *glyph_arrow(void) {
        return streq(nl_langinfo(CODESET), "UTF-8") ? "→" : "->";
}

static void progress_draw(VMWait *w, uint64_t now) {
        bool other_state = !streq_ptr(w->state, w->spec->target);

        if (!w->progress)
                return;
        if (w->spec->memory_mib > 0)
                /* "Waiting for work: 412 MiB → 256 MiB, 3s"; the state only when it is not the target
                 * ("..., paused, 3s"). */
                printf("\r\033[KWaiting for %s: %" PRIu64 " MiB %s %" PRIu64 " MiB%s%s, %" PRIu64 "s",
                       w->name,
                       w->memory_actual_mib,
                       glyph_arrow(),
                       w->spec->memory_mib,
                       other_state ? ", " : "",
                       other_state ? strna(w->state) : "",
                       (now - w->since) / USEC_PER_SEC);
        else
                printf("\r\033[KWaiting for %s to be %s: %s, %" PRIu64 "s",
                       w->name,
                       w->spec->target ?: "removed",
                       w->state ?: "removed",
                       (now - w->since) / USEC_PER_SEC);
        fflush(stdout);
        w->line_drawn = true;
}

static void progress_clear(VMWait *w) {
        if (!w->line_drawn)
                return;
        fputs("\r\033[K", stdout);
        fflush(stdout);
        w->line_drawn = false;
}

/* Reads the properties once, after the call that the wait is about returned. */
static int read_initial_state(VMWait *w) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_json_put_ json_object *props = NULL;
        uint64_t n = 0;
        int r;

        r = bus_get_properties(w->bus, w->path, VMMD_VM_INTERFACE, &error, &props);
        if (r < 0 && sd_bus_error_has_names(&error, SD_BUS_ERROR_UNKNOWN_OBJECT, VMMD_ERROR_NO_SUCH_VM))
                w->removed = true;
        else if (r < 0)
                return log_bus_error(&error, r, "Failed to read the state of VM %s", w->name);
        else {
                const char *s;

                if ((s = json_get_string(props, "Name")) && free_and_strdup(&w->name, s) < 0)
                        return log_oom(), VMCTL_EXIT_FAILURE;
                if (free_and_strdup(&w->state, json_get_string(props, "State")) < 0 ||
                    free_and_strdup(&w->failure_reason, json_get_string(props, "FailureReason")) < 0)
                        return log_oom(), VMCTL_EXIT_FAILURE;
                w->memory_actual_mib = json_get_uint64(props, "MemoryActualMiB");
        }

        /* Every message queued now reached us before the answer we just got, so its news is older than
         * what we know: dispatch those without looking at them. */
        r = sd_bus_get_n_queued_read(w->bus, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to count queued messages: %m"), VMCTL_EXIT_FAILURE;
        w->stale = true;
        for (; n > 0; n--) {
                r = sd_bus_process(w->bus, NULL);
                if (r < 0)
                        break;
        }
        w->stale = false;
        if (r < 0)
                return log_error_errno(r, "Failed to process the bus: %m"), bus_error_exit_status(NULL, r);
        return VMCTL_EXIT_SUCCESS;
}

/* -EAGAIN while the wait goes on, else the exit status it ends with (failures logged). */
static int wait_outcome(VMWait *w) {
        char buf[WAIT_PHRASE_MAX];
        const char *goal = goal_phrase(w, buf);

        if (w->vmmd_gone) {
                progress_clear(w);
                log_error("vmmd disappeared while waiting for VM %s to be %s.", w->name, goal);
                return VMCTL_EXIT_UNREACHABLE;
        }
        if (w->removed) {
                if (w->spec->removal_ends)
                        return VMCTL_EXIT_SUCCESS;
                progress_clear(w);
                log_error("VM %s was removed before it was %s.", w->name, goal);
                return VMCTL_EXIT_VM_FAILED;
        }
        if (w->spec->target && streq_ptr(w->state, w->spec->target)) {
                if (w->spec->memory_mib == 0 || w->memory_actual_mib == w->spec->memory_mib)
                        return VMCTL_EXIT_SUCCESS;
                return -EAGAIN; /* the balloon is on its way */
        }
        if (w->spec->pending ? strv_contains((char *const *) w->spec->pending, w->state) :
                               !streq_ptr(w->state, "failed"))
                return -EAGAIN;

        progress_clear(w);
        if (streq_ptr(w->state, "failed")) {
                if (isempty(w->failure_reason)) {
                        /* The reason may be on its way in a later signal: ask once. */
                        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                        char *reason = NULL;

                        if (sd_bus_get_property_string(
                                    w->bus,
                                    VMMD_BUS_NAME,
                                    w->path,
                                    VMMD_VM_INTERFACE,
                                    "FailureReason",
                                    &error,
                                    &reason) >= 0) {
                                free(w->failure_reason);
                                w->failure_reason = reason;
                        }
                }
                log_error(
                        "VM %s failed: %s",
                        w->name,
                        isempty(w->failure_reason) ? "vmmd gave no reason." : w->failure_reason);
        } else if (w->spec->memory_mib > 0)
                log_error("VM %s went to state '%s' before it was %s.", w->name, strna(w->state), goal);
        else
                log_error("VM %s went to state '%s' instead of '%s'.", w->name, strna(w->state), goal);
        return VMCTL_EXIT_VM_FAILED;
}

int vm_wait_finish(VMWait *w, const char *path, const WaitSpec *spec, uint64_t timeout_usec) {
        _cleanup_free_ char *drawn_state = NULL;
        uint64_t start, drawn = UINT64_MAX, drawn_actual_mib = 0;
        int r;

        assert(w->bus);
        w->spec = spec;
        w->removed = false;
        w->memory_actual_mib = 0;
        (void) free_and_strdup(&w->state, NULL);
        (void) free_and_strdup(&w->failure_reason, NULL);
        if (free_and_strdup(&w->path, path) < 0)
                return log_oom(), VMCTL_EXIT_FAILURE;
        /* Until the Name property is read: the name from the path, for messages. */
        (void) free_and_strdup(&w->name, NULL);
        if (sd_bus_path_decode(path, VMMD_VM_PATH_PREFIX, &w->name) <= 0 && free_and_strdup(&w->name, path) < 0)
                return log_oom(), VMCTL_EXIT_FAILURE;

        r = read_initial_state(w);
        if (r != VMCTL_EXIT_SUCCESS)
                return r;

        start = now_usec(CLOCK_MONOTONIC);
        for (;;) {
                uint64_t now, left, t;

                r = wait_outcome(w);
                if (r != -EAGAIN) {
                        progress_clear(w);
                        return r;
                }

                r = sd_bus_process(w->bus, NULL);
                if (r < 0) {
                        progress_clear(w);
                        log_error_errno(
                                r, "Lost the connection to the bus while waiting for VM %s: %m", w->name);
                        return bus_error_exit_status(NULL, r);
                }
                if (r > 0)
                        continue; /* look at the outcome before waiting */

                now = now_usec(CLOCK_MONOTONIC);
                if (timeout_usec != UINT64_MAX && now - start >= timeout_usec) {
                        char goal[WAIT_PHRASE_MAX], state[WAIT_PHRASE_MAX];

                        progress_clear(w);
                        log_error(
                                "Timed out after %gs waiting for VM %s to be %s; it is %s.",
                                (double) timeout_usec / USEC_PER_SEC,
                                w->name,
                                goal_phrase(w, goal),
                                state_phrase(w, state));
                        return VMCTL_EXIT_TIMEOUT;
                }
                left = timeout_usec == UINT64_MAX ? UINT64_MAX : timeout_usec - (now - start);

                if (w->progress) {
                        /* Redraw on news, and when the seconds counter moves on. */
                        if (drawn == UINT64_MAX || !streq_ptr(drawn_state, w->state) ||
                            drawn_actual_mib != w->memory_actual_mib ||
                            (now - w->since) / USEC_PER_SEC != (drawn - w->since) / USEC_PER_SEC) {
                                progress_draw(w, now);
                                drawn = now;
                                drawn_actual_mib = w->memory_actual_mib;
                                if (free_and_strdup(&drawn_state, w->state) < 0)
                                        return log_oom(), VMCTL_EXIT_FAILURE;
                        }
                        t = USEC_PER_SEC - (now - w->since) % USEC_PER_SEC;
                        left = MIN(left, t);
                }

                r = sd_bus_wait(w->bus, left);
                if (r < 0 && r != -EINTR) {
                        progress_clear(w);
                        log_error_errno(r, "Failed to wait for VM %s: %m", w->name);
                        return bus_error_exit_status(NULL, r);
                }
        }
}
