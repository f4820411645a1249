/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Following a VM's state (and its balloon) through PropertiesChanged, VMRemoved and vmmd's NameOwnerChanged
 * signals; a golden snapshot's build through the Manager's PropertiesChanged; a crash test through the
 * Manager's Crashed. */
#include <assert.h>
#include <inttypes.h>
#include <langinfo.h>

#include "bus-errors.h"
#include "bus-util.h"
#include "log.h"
#include "output.h"
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

typedef struct WaitMatch {
        const char *match;
        sd_bus_message_handler_t handler;
} WaitMatch;

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SignalWait *s = userdata;
        const char *name, *old_owner, *new_owner;

        if (s->stale)
                return 0;
        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (streq(name, VMMD_BUS_NAME) && isempty(new_owner))
                s->vmmd_gone = true;
        return 0;
}

/* Installs the n matches (their slots into slots[], userdata theirs) and one on vmmd leaving the bus; once. */
static int signal_wait_begin(
        SignalWait *s, sd_bus *bus, const WaitMatch *matches, size_t n, sd_bus_slot **slots, void *userdata) {
        int r;

        if (s->bus)
                return 0;
        s->bus = sd_bus_ref(bus);
        /* Synchronous: each match is in place at the broker once this returns. */
        r = sd_bus_add_match(
                bus,
                &s->slot,
                "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" VMMD_BUS_NAME "'",
                on_name_owner_changed,
                s);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_add_match(bus, &slots[i], matches[i].match, matches[i].handler, userdata);
        return r < 0 ? r : 0;
}

static void signal_wait_done(SignalWait *s) {
        s->slot = sd_bus_slot_unref(s->slot);
        s->bus = sd_bus_unref(s->bus);
}

/* After the wait read what it waits for: every message queued now reached us before that answer, so its news
 * is older than what we know. Dispatches those without looking at them. */
static int signal_wait_skip_stale(SignalWait *s) {
        uint64_t n = 0;
        int r;

        r = sd_bus_get_n_queued_read(s->bus, &n);
        if (r < 0)
                return r;
        s->stale = true;
        for (; n > 0; n--) {
                r = sd_bus_process(s->bus, NULL);
                if (r < 0)
                        break;
        }
        s->stale = false;
        return r < 0 ? r : 0;
}

/* Dispatches signals until outcome(userdata) ends the wait (anything but -EAGAIN: returned) or timeout_usec
 * (UINT64_MAX: never) passes (-ETIMEDOUT). Whenever no signal is queued, idle(userdata, now) may show
 * progress; it returns how soon it wants to run again. Any other negative errno: the bus failed. */
static int signal_wait_run(
        SignalWait *s,
        uint64_t timeout_usec,
        int (*outcome)(void *userdata),
        uint64_t (*idle)(void *userdata, uint64_t now),
        void *userdata) {
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        int r;

        for (;;) {
                uint64_t now, left;

                r = outcome(userdata);
                if (r != -EAGAIN)
                        return r;

                r = sd_bus_process(s->bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue; /* look at the outcome before waiting */

                now = now_usec(CLOCK_MONOTONIC);
                if (timeout_usec != UINT64_MAX && now - start >= timeout_usec)
                        return -ETIMEDOUT;
                left = timeout_usec == UINT64_MAX ? UINT64_MAX : timeout_usec - (now - start);
                left = MIN(left, idle(userdata, now));

                r = sd_bus_wait(s->bus, left);
                if (r < 0 && r != -EINTR)
                        return r;
        }
}

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

        if (w->signals.stale || !w->path || !streq_ptr(sd_bus_message_get_path(m), w->path))
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

        if (w->signals.stale || !w->path)
                return 0;
        if (sd_bus_message_read(m, "so", &name, &path) < 0)
                return 0;
        if (streq(path, w->path))
                w->removed = true;
        return 0;
}

int vm_wait_begin(VMWait *w, sd_bus *bus, bool progress) {
        static const WaitMatch matches[] = {
                /* Installed before the call, with the VM's path still unknown for CreateVM: hence the
                 * whole name space, and on_properties_changed() picks the VM. */
                { "type='signal',sender='" VMMD_BUS_NAME "',interface='org.freedesktop.DBus.Properties',"
                  "member='PropertiesChanged',path_namespace='" VMMD_VM_PATH_PREFIX "'",
                  on_properties_changed },
                { "type='signal',sender='" VMMD_BUS_NAME "',path='" VMMD_MANAGER_PATH "',"
                  "interface='" VMMD_MANAGER_INTERFACE "',member='VMRemoved'",
                  on_vm_removed },
        };

        w->since = now_usec(CLOCK_MONOTONIC);
        w->progress = progress;
        return signal_wait_begin(&w->signals, bus, matches, ELEMENTSOF(matches), w->slots, w);
}

void vm_wait_done(VMWait *w) {
        for (size_t i = 0; i < ELEMENTSOF(w->slots); i++)
                w->slots[i] = sd_bus_slot_unref(w->slots[i]);
        signal_wait_done(&w->signals);
        (void) free_and_strdup(&w->path, NULL);
        (void) free_and_strdup(&w->name, NULL);
        (void) free_and_strdup(&w->state, NULL);
        (void) free_and_strdup(&w->failure_reason, NULL);
        (void) free_and_strdup(&w->drawn_state, NULL);
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
        int r;

        r = bus_get_properties(w->signals.bus, w->path, VMMD_VM_INTERFACE, &error, &props);
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

        r = signal_wait_skip_stale(&w->signals);
        if (r < 0)
                return log_error_errno(r, "Failed to process the bus: %m"), bus_error_exit_status(NULL, r);
        return VMCTL_EXIT_SUCCESS;
}

/* -EAGAIN while the wait goes on, else the exit status it ends with (failures logged). */
static int wait_outcome(void *userdata) {
        VMWait *w = userdata;
        char buf[WAIT_PHRASE_MAX];
        const char *goal = goal_phrase(w, buf);

        if (w->signals.vmmd_gone) {
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
                                    w->signals.bus,
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

/* Redraws the status line on news, and when its seconds counter moves on. */
static uint64_t wait_idle(void *userdata, uint64_t now) {
        VMWait *w = userdata;

        if (!w->progress)
                return UINT64_MAX;
        if (w->drawn == UINT64_MAX || !streq_ptr(w->drawn_state, w->state) ||
            w->drawn_actual_mib != w->memory_actual_mib ||
            (now - w->since) / USEC_PER_SEC != (w->drawn - w->since) / USEC_PER_SEC) {
                progress_draw(w, now);
                w->drawn = now;
                w->drawn_actual_mib = w->memory_actual_mib;
                (void) free_and_strdup(&w->drawn_state, w->state); /* out of memory: drawn again */
        }
        return USEC_PER_SEC - (now - w->since) % USEC_PER_SEC;
}

int vm_wait_finish(VMWait *w, const char *path, const WaitSpec *spec, uint64_t timeout_usec) {
        int r;

        assert(w->signals.bus);
        w->spec = spec;
        w->removed = false;
        w->memory_actual_mib = 0;
        w->drawn = UINT64_MAX;
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

        r = signal_wait_run(&w->signals, timeout_usec, wait_outcome, wait_idle, w);
        progress_clear(w);
        if (r == -ETIMEDOUT) {
                char goal[WAIT_PHRASE_MAX], state[WAIT_PHRASE_MAX];

                log_error(
                        "Timed out after %gs waiting for VM %s to be %s; it is %s.",
                        (double) timeout_usec / USEC_PER_SEC,
                        w->name,
                        goal_phrase(w, goal),
                        state_phrase(w, state));
                return VMCTL_EXIT_TIMEOUT;
        }
        if (r < 0) {
                log_error_errno(r, "Lost the connection to the bus while waiting for VM %s: %m", w->name);
                return bus_error_exit_status(NULL, r);
        }
        return r;
}

/* Takes the persona's entry from rows, GoldenSnapshots keyed by golden_snapshot_keys. */
static void golden_wait_update(GoldenWait *w, json_object *rows) {
        json_object_putp(&w->entry);
        w->entry = NULL;
        for (size_t i = 0; i < json_object_array_length(rows); i++) {
                json_object *row = json_object_array_get_idx(rows, i);

                if (streq_ptr(json_get_string(row, "persona"), w->persona)) {
                        w->entry = json_object_get(row);
                        break;
                }
        }
}

static int on_manager_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_json_put_ json_object *props = NULL, *rows = NULL;
        GoldenWait *w = userdata;
        const char *interface;
        json_object *list;

        if (w->signals.stale)
                return 0;
        if (sd_bus_message_read(m, "s", &interface) < 0 || !streq(interface, VMMD_MANAGER_INTERFACE))
                return 0;
        if (bus_message_read_json(m, &props) < 0 ||
            !json_object_object_get_ex(props, "GoldenSnapshots", &list))
                return 0; /* news of other properties */
        if (json_name_members(list, golden_snapshot_keys, &rows) < 0)
                return 0;
        golden_wait_update(w, rows);
        return 0;
}

int golden_wait_begin(GoldenWait *w, sd_bus *bus, const char *persona) {
        static const WaitMatch matches[] = {
                { "type='signal',sender='" VMMD_BUS_NAME "',path='" VMMD_MANAGER_PATH "',"
                  "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
                  "arg0='" VMMD_MANAGER_INTERFACE "'",
                  on_manager_properties_changed },
        };

        if (free_and_strdup(&w->persona, persona) < 0)
                return -ENOMEM;
        return signal_wait_begin(&w->signals, bus, matches, ELEMENTSOF(matches), &w->slot, w);
}

void golden_wait_done(GoldenWait *w) {
        w->slot = sd_bus_slot_unref(w->slot);
        signal_wait_done(&w->signals);
        json_object_putp(&w->entry);
        w->entry = NULL;
        (void) free_and_strdup(&w->persona, NULL);
        (void) free_and_strdup(&w->printed, NULL);
}

/* What follows the state in "building golden snapshot of throwaway: booting (20%)": the step (or why it
 * failed) and, while building, the percentage; escaped for the terminal. NULL when out of memory. */
static char *golden_detail(const GoldenWait *w) {
        const char *message = json_get_string(w->entry, "message");
        _cleanup_free_ char *s = NULL;
        char percent[32] = "";

        if (streq_ptr(json_get_string(w->entry, "state"), "building"))
                (void) snprintf(
                        percent, sizeof(percent), " (%" PRIu64 "%%)", json_get_uint64(w->entry, "progress"));
        if (asprintf(&s, "%s%s%s", isempty(message) ? "" : ": ", strempty(message), percent) < 0)
                return NULL;
        return escape_controls(s);
}

/* Prints a line on stderr when the state, step or percentage changed since the last one. */
static uint64_t golden_wait_idle(void *userdata, uint64_t now) {
        GoldenWait *w = userdata;
        _cleanup_free_ char *detail = golden_detail(w), *line = NULL;

        if (!detail ||
            asprintf(
                    &line,
                    "%s golden snapshot of %s%s",
                    strna(json_get_string(w->entry, "state")),
                    w->persona,
                    detail) < 0)
                return UINT64_MAX; /* out of memory: no progress, the wait goes on */
        if (!streq_ptr(line, w->printed)) {
                fprintf(stderr, "%s\n", line);
                free(w->printed);
                w->printed = TAKE_PTR(line);
        }
        return UINT64_MAX;
}

/* -EAGAIN while the build goes on (whatever the state, but ready or failed), else the exit status it ends
 * with (failures logged). */
static int golden_wait_outcome(void *userdata) {
        GoldenWait *w = userdata;
        const char *state = json_get_string(w->entry, "state");

        if (w->signals.vmmd_gone) {
                log_error(
                        "vmmd disappeared while waiting for the golden snapshot of %s to be ready.",
                        w->persona);
                return VMCTL_EXIT_UNREACHABLE;
        }
        if (!w->entry) {
                log_error("Persona %s no longer uses golden snapshots.", w->persona);
                return VMCTL_EXIT_VM_FAILED;
        }
        if (streq_ptr(state, "ready"))
                return VMCTL_EXIT_SUCCESS;
        if (streq_ptr(state, "failed")) {
                const char *message = json_get_string(w->entry, "message");
                _cleanup_free_ char *escaped = escape_controls(
                        isempty(message) ? "vmmd gave no reason." : message);

                log_error("Failed to build the golden snapshot of %s: %s", w->persona, strna(escaped));
                return VMCTL_EXIT_VM_FAILED;
        }
        return -EAGAIN;
}

int golden_wait_finish(GoldenWait *w, uint64_t timeout_usec) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_json_put_ json_object *rows = NULL;
        int r;

        assert(w->signals.bus);
        r = bus_get_golden_snapshots(w->signals.bus, &error, &rows);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to read the golden snapshots of vmmd");
        golden_wait_update(w, rows);
        r = signal_wait_skip_stale(&w->signals);
        if (r < 0)
                return log_error_errno(r, "Failed to process the bus: %m"), bus_error_exit_status(NULL, r);

        r = signal_wait_run(&w->signals, timeout_usec, golden_wait_outcome, golden_wait_idle, w);
        if (r == -ETIMEDOUT) {
                _cleanup_free_ char *detail = golden_detail(w);

                log_error(
                        "Timed out after %gs waiting for the golden snapshot of %s to be ready; it is %s%s.",
                        (double) timeout_usec / USEC_PER_SEC,
                        w->persona,
                        strna(json_get_string(w->entry, "state")),
                        strempty(detail));
                return VMCTL_EXIT_TIMEOUT;
        }
        if (r < 0) {
                log_error_errno(
                        r,
                        "Lost the connection to the bus while waiting for the golden snapshot of %s: %m",
                        w->persona);
                return bus_error_exit_status(NULL, r);
        }
        return r;
}

static int on_crashed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CrashWait *w = userdata;
        const char *vm, *id;

        if (w->signals.stale || w->bundle)
                return 0;
        if (sd_bus_message_read(m, "ss", &vm, &id) < 0 || !streq(vm, w->vm))
                return 0;
        return free_and_strdup(&w->bundle, id);
}

static int on_crash_vm_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_json_put_ json_object *props = NULL;
        CrashWait *w = userdata;
        const char *interface, *state;

        if (w->signals.stale || !streq_ptr(sd_bus_message_get_path(m), w->path))
                return 0;
        if (sd_bus_message_read(m, "s", &interface) < 0 || !streq(interface, VMMD_VM_INTERFACE))
                return 0;
        if (bus_message_read_json(m, &props) < 0)
                return 0;
        state = json_get_string(props, "State");
        return state ? free_and_strdup(&w->state, state) : 0;
}

static int on_crash_vm_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CrashWait *w = userdata;
        const char *name, *path;

        if (w->signals.stale)
                return 0;
        if (sd_bus_message_read(m, "so", &name, &path) >= 0 && streq(path, w->path))
                w->removed = true;
        return 0;
}

int crash_wait_begin(CrashWait *w, sd_bus *bus, const char *vm, const char *path) {
        static const WaitMatch matches[] = {
                { "type='signal',sender='" VMMD_BUS_NAME "',path='" VMMD_MANAGER_PATH "',"
                  "interface='" VMMD_MANAGER_INTERFACE "',member='Crashed'",
                  on_crashed },
                { "type='signal',sender='" VMMD_BUS_NAME "',interface='org.freedesktop.DBus.Properties',"
                  "member='PropertiesChanged',path_namespace='" VMMD_VM_PATH_PREFIX "'",
                  on_crash_vm_properties_changed },
                { "type='signal',sender='" VMMD_BUS_NAME "',path='" VMMD_MANAGER_PATH "',"
                  "interface='" VMMD_MANAGER_INTERFACE "',member='VMRemoved'",
                  on_crash_vm_removed },
        };

        if (free_and_strdup(&w->vm, vm) < 0 || free_and_strdup(&w->path, path) < 0)
                return -ENOMEM;
        return signal_wait_begin(&w->signals, bus, matches, ELEMENTSOF(matches), w->slots, w);
}

void crash_wait_done(CrashWait *w) {
        for (size_t i = 0; i < ELEMENTSOF(w->slots); i++)
                w->slots[i] = sd_bus_slot_unref(w->slots[i]);
        signal_wait_done(&w->signals);
        (void) free_and_strdup(&w->vm, NULL);
        (void) free_and_strdup(&w->path, NULL);
        (void) free_and_strdup(&w->bundle, NULL);
        (void) free_and_strdup(&w->state, NULL);
}

#define NO_BUNDLE_REASON \
        "no crash bundle was saved (its persona keeps none, crash_bundles: 0, or saving it failed: see vmmd's log)"

/* -EAGAIN while the wait goes on, else the exit status it ends with (failures logged). vmmd sends Crashed
 * before on_crash changes the VM: a VM that changed first got no bundle. */
static int crash_wait_outcome(void *userdata) {
        CrashWait *w = userdata;

        if (w->bundle)
                return VMCTL_EXIT_SUCCESS;
        if (w->signals.vmmd_gone) {
                log_error("vmmd disappeared while waiting for the crash bundle of VM %s.", w->vm);
                return VMCTL_EXIT_UNREACHABLE;
        }
        if (w->removed) {
                log_error("VM %s was removed, and " NO_BUNDLE_REASON ".", w->vm);
                return VMCTL_EXIT_VM_FAILED;
        }
        if (w->state && !streq(w->state, "running")) {
                log_error("VM %s went to state '%s', and " NO_BUNDLE_REASON ".", w->vm, w->state);
                return VMCTL_EXIT_VM_FAILED;
        }
        return -EAGAIN;
}

static uint64_t crash_wait_idle(void *userdata, uint64_t now) {
        return UINT64_MAX;
}

int crash_wait_finish(CrashWait *w, uint64_t timeout_usec) {
        int r;

        assert(w->signals.bus);
        /* What is queued now came before the call's reply, before the guest was asked to crash. No state is
         * read: CrashTest answered only for a running VM, and any change since is a signal after the reply. */
        r = signal_wait_skip_stale(&w->signals);
        if (r < 0)
                return log_error_errno(r, "Failed to process the bus: %m"), bus_error_exit_status(NULL, r);

        r = signal_wait_run(&w->signals, timeout_usec, crash_wait_outcome, crash_wait_idle, w);
        if (r == -ETIMEDOUT) {
                log_error(
                        "Timed out after %gs waiting for the crash bundle of VM %s; it is %s.",
                        (double) timeout_usec / USEC_PER_SEC,
                        w->vm,
                        w->state ?: "running");
                return VMCTL_EXIT_TIMEOUT;
        }
        if (r < 0) {
                log_error_errno(r, "Lost the connection to the bus while waiting for VM %s: %m", w->vm);
                return bus_error_exit_status(NULL, r);
        }
        return r;
}
