/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VM lifecycle: disk overlay, VMM process, QMP and guest agent, stop escalation, destroy. */
#include <assert.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "bus-errors.h"
#include "crash.h"
#include "golden.h"
#include "log.h"
#include "manager-dbus.h"
#include "names.h"
#include "process.h"
#include "qemu.h"
#include "scope.h"
#include "vm-dbus.h"
#include "vm-identity.h"
#include "vm-internal.h"

static const char *const vm_state_table[_VM_STATE_MAX] = {
        [VM_CREATED] = "created", [VM_STARTING] = "starting", [VM_RUNNING] = "running",
        [VM_PAUSED] = "paused",   [VM_STOPPING] = "stopping", [VM_STOPPED] = "stopped",
        [VM_FAILED] = "failed",
};

DEFINE_STRING_TABLE_LOOKUP(vm_state, VMState, _VM_STATE_MAX);

static void vm_on_exit_finish(VM *vm);
static int vm_new_internal(Manager *m, const VMRecord *rec, Golden *builder_of, VM **ret);

static int vm_init_paths(VM *vm) {
        const ManagerConfig *c = &vm->manager->config;
        int r;

        r = sd_bus_path_encode(VMMD_VM_PATH_PREFIX, vm->name, &vm->path);
        if (r < 0)
                return r;
        /* A golden build's files are apart from the VMs'. */
        if (asprintf(&vm->runtime_dir, "%s/%s/%s", c->runtime_dir, vm->builder_of ? "golden" : "vms", vm->name) <
            0)
                return -ENOMEM;
        return 0;
}

static void vm_link(VM *vm) {
        Manager *m = vm->manager;

        vm->next = m->vms;
        if (m->vms)
                m->vms->prev = vm;
        m->vms = vm;
        m->n_vms++;
}

int vm_new(
        Manager *m,
        const char *name,
        const Persona *p,
        uint64_t memory_mib,
        uint32_t vcpus,
        const char *accel,
        VmmKind vmm,
        uid_t owner,
        Golden *builder_of,
        VM **ret) {
        _cleanup_free_ char *disk_path = NULL;
        bool ephemeral = p->disk == DISK_EPHEMERAL;

        assert(IN_SET(vmm, VMM_QEMU, VMM_HV));
        /* A directory of the VM's own (vm-identity.c), below the state directory for a disk that persists,
         * below the runtime directory for a throwaway's. QEMU's disk is a qcow2 overlay on the image's,
         * vmm-hv's a raw copy of it or (a clone's) an overlay of vmm-hv's own (hypervisor/hv/disk.h). */
        if (asprintf(
                    &disk_path,
                    "%s/%s/%s/disk/%s",
                    ephemeral ? m->config.runtime_dir : m->config.state_dir,
                    builder_of ? "golden" : "vms",
                    name,
                    vmm == VMM_HV ? "disk.img" : "disk.qcow2") < 0)
                return -ENOMEM;
        /* A new VM is the record it will be stored as, and gets its identity at once. */
        char machine_id[33];
        VM *vm;
        int r = vm_machine_id_new(machine_id);

        if (r < 0)
                return r;
        r = vm_new_internal(
                m,
                &(VMRecord){
                        .name = (char *) name,
                        .persona = p->name,
                        .image = p->image,
                        .state = (char *) vm_state_to_string(VM_CREATED),
                        .ephemeral = ephemeral,
                        .memory_mib = memory_mib,
                        .vcpus = vcpus,
                        .accel = (char *) accel,
                        .vmm = (char *) vmm_kind_to_string(vmm),
                        .disk_path = disk_path,
                        .created_usec = now_usec(CLOCK_REALTIME),
                        .owner_uid = owner,
                        .machine_id = machine_id,
                },
                builder_of,
                &vm);
        if (r < 0)
                return r;
        r = vm_identity_allocate(vm);
        if (r < 0) {
                vm_free(vm);
                return r;
        }
        *ret = vm;
        return 0;
}

static int vm_new_internal(Manager *m, const VMRecord *rec, Golden *builder_of, VM **ret) {
        VM *vm;
        int r;

        vm = calloc(1, sizeof(VM));
        if (!vm)
                return -ENOMEM;
        vm->manager = m;
        vm->state = vm_state_from_string(rec->state);
        if (vm->state < 0) {
                free(vm);
                return -EBADMSG;
        }
        vm->ephemeral = rec->ephemeral;
        vm->memory_mib = rec->memory_mib;
        vm->memory_target_mib = rec->memory_mib;
        vm->vcpus = rec->vcpus;
        vm->created_usec = rec->created_usec;
        vm->owner_uid = rec->owner_uid;
        vm->uid = rec->uid;
        r = vm_machine_id_init(vm, rec->machine_id);
        if (r < 0) {
                vm_free(vm);
                return r;
        }
        bool made_machine_id = r > 0;
        vm->pid = (pid_t) rec->pid;
        vm->name = strdup(rec->name);
        vm->persona = strdup(rec->persona);
        vm->image = strdup(rec->image);
        vm->accel = strdup(rec->accel);
        vm->vmm = vmm_kind_from_string(rec->vmm);
        if (!IN_SET(vm->vmm, VMM_QEMU, VMM_HV)) {
                vm_free(vm);
                return -EBADMSG;
        }
        vm->disk_path = rec->disk_path ? strdup(rec->disk_path) : NULL;
        vm->failure_reason = rec->failure_reason ? strdup(rec->failure_reason) : NULL;
        vm->golden = rec->golden ? strdup(rec->golden) : NULL;
        vm->instance_id = rec->instance_id ? strdup(rec->instance_id) : NULL;
        if (!vm->name || !vm->persona || !vm->image || !vm->accel || (rec->disk_path && !vm->disk_path) ||
            (rec->failure_reason && !vm->failure_reason) || (rec->golden && !vm->golden) ||
            (rec->instance_id && !vm->instance_id)) {
                vm_free(vm);
                return -ENOMEM;
        }
        vm_display_update(vm, false);
        /* A clone that never started yet starts from its golden snapshot, also after a restart of vmmd. */
        vm->from_golden = vm->golden && vm->state == VM_CREATED;
        vm->builder_of = builder_of;
        r = vm_init_paths(vm);
        if (r < 0) {
                vm_free(vm);
                return r;
        }
        if (!builder_of) {
                vm_link(vm);
                vm_crash_load_last(vm);
        }
        /* A VM recorded before VMs had machine IDs keeps the one it got now (vm_new() gives a new VM one). */
        if (made_machine_id)
                (void) vm_save(vm, false);
        *ret = vm;
        return 0;
}

int vm_new_from_record(Manager *m, const VMRecord *rec, VM **ret) {
        return vm_new_internal(m, rec, NULL, ret);
}

VM *vm_free(VM *vm) {
        Manager *m;

        if (!vm)
                return NULL;
        m = vm->manager;
        if (m && !vm->builder_of) {
                if (vm->prev)
                        vm->prev->next = vm->next;
                else if (m->vms == vm)
                        m->vms = vm->next;
                if (vm->next)
                        vm->next->prev = vm->prev;
                m->n_vms--;
        }
        /* Freeing the child sources kills what still runs: nothing outlives its VM object by accident. */
        sd_event_source_disable_unref(vm->child_source);
        sd_event_source_disable_unref(vm->adopted_source);
        sd_event_source_disable_unref(vm->helper_source);
        sd_event_source_disable_unref(vm->timer);
        vm_display_abort(vm, "The VM was destroyed");
        qmp_client_free(vm->qmp);
        agent_client_free(vm->agent);
        for (size_t i = 0; i < _PENDING_MAX; i++)
                operation_free(vm->pending[i]);
        free(vm->name);
        free(vm->persona);
        free(vm->image);
        free(vm->accel);
        free(vm->path);
        free(vm->failure_reason);
        free(vm->disk_path);
        free(vm->runtime_dir);
        free(vm->agent_version);
        free(vm->guest_boot_id);
        free(vm->machine_id);
        free(vm->golden);
        free(vm->instance_id);
        free(vm->pending_failure);
        free(vm->snapshot_name);
        free(vm->snapshot_job);
        free(vm->loadvm);
        vm_crash_capture_free(vm->crash);
        free(vm->last_crash);
        vm_debug_symbols_free(vm->debug_symbols);
        vm_debug_session_free(vm->debugger);
        free(vm);
        return NULL;
}

int vm_save(VM *vm, bool insert) {
        VMRecord r = {
                .name = vm->name,
                .persona = vm->persona,
                .image = vm->image,
                .state = (char *) vm_state_to_string(vm->state),
                .failure_reason = vm->failure_reason,
                .ephemeral = vm->ephemeral,
                .memory_mib = vm->memory_mib,
                .vcpus = vm->vcpus,
                .accel = vm->accel,
                .vmm = (char *) vmm_kind_to_string(vm->vmm),
                .disk_path = vm->disk_path,
                .created_usec = vm->created_usec,
                .pid = vm->pid,
                .owner_uid = vm->owner_uid,
                .uid = vm->uid,
                .machine_id = vm->machine_id,
                .golden = vm->golden,
                .instance_id = vm->instance_id,
        };

        if (vm->builder_of)
                return 0; /* a golden build is no VM of anyone's: it is not kept */
        return insert ? store_vm_insert(vm->manager->store, &r) : store_vm_update(vm->manager->store, &r);
}

void vm_complete_pending(VM *vm, PendingKind kind, int r, const char *message) {
        operation_complete(TAKE_PTR(vm->pending[kind]), r, message);
}

bool vm_vmm_runs(const VM *vm) {
        return vm->child_source || vm->adopted_source;
}

bool vm_is_active(const VM *vm) {
        return vm->child_source || vm->adopted_source || vm->helper_source;
}

/* Every state change goes through here: store, signal, log, in that order. */
void vm_set_state(VM *vm, VMState state, const char *reason) {
        bool reason_changed = !streq_ptr(vm->failure_reason, reason);
        int r;

        if (vm->state == state && !reason_changed)
                return;
        vm->state = state;
        if (reason_changed && free_and_strdup(&vm->failure_reason, reason) < 0)
                (void) log_oom();
        r = vm_save(vm, false);
        if (r < 0)
                log_vm_error_errno(
                        vm->name, r, "Failed to record state '%s', continuing: %m", vm_state_to_string(state));
        if (reason)
                log_vm_notice(vm->name, "VM %s is %s: %s", vm->name, vm_state_to_string(state), reason);
        else
                log_vm_info(vm->name, "VM %s is %s.", vm->name, vm_state_to_string(state));
        (void) vm_send_changed(vm, "State", "FailureReason", "Leader", NULL);
        manager_notify_status(vm->manager);
        /* A golden build's guest is up: its state is saved now. */
        if (vm->builder_of && state == VM_RUNNING)
                golden_builder_running(vm);
}

static int vm_kill(VM *vm, int sig) {
        int r = 0;

        if (vm->child_source)
                r = sd_event_source_send_child_signal(vm->child_source, sig, NULL, 0);
        else if (
                vm->adopted_source &&
                syscall(SYS_pidfd_send_signal, sd_event_source_get_io_fd(vm->adopted_source), sig, NULL, 0) < 0)
                r = -errno;
        if (vm->helper_source)
                (void) sd_event_source_send_child_signal(vm->helper_source, sig, NULL, 0);
        return r;
}

/* Kills the VMM; when it is gone the VM turns failed with this reason. */
void vm_abort(VM *vm, const char *reason) {
        if (!vm->pending_failure)
                vm->pending_failure = strdup(reason);
        log_vm_warning_errno(vm->name, 0, "Killing the VMM of %s: %s", vm->name, reason);
        if (vm_is_active(vm))
                (void) vm_kill(vm, SIGKILL);
}

int vm_timer_set(VM *vm, uint64_t usec, sd_event_time_handler_t cb) {
        vm->timer = sd_event_source_disable_unref(vm->timer);
        return sd_event_add_time_relative(
                vm->manager->event, &vm->timer, CLOCK_MONOTONIC, usec, USEC_PER_SEC / 10, cb, vm);
}

static void vm_abort_boot_timeout(VM *vm) {
        char reason[128];

        (void) snprintf(
                reason,
                sizeof(reason),
                "the guest agent did not report ready within %" PRIu64 " s",
                vm->manager->config.boot_timeout_usec / USEC_PER_SEC);
        vm_abort(vm, reason);
}

static int on_console_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        vm_abort_boot_timeout(userdata);
        return 0;
}

/* The end of the guest's console, for the log of a boot that did not finish: what it printed is the guest's
 * (printable UTF-8 only, bounded), and it goes to the journal, not the bus. */
static void on_console_tail(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;

        if (!error_class && json_object_is_type(result, json_type_string)) {
                _cleanup_free_ char *text = utf8_printable(json_object_get_string(result), 2048);
                log_vm_notice(
                        vm->name, "Console of %s before its boot timed out: %s", vm->name, strempty(text));
        }
        vm->timer = sd_event_source_disable_unref(vm->timer);
        vm_abort_boot_timeout(vm);
}

static int on_boot_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        VM *vm = userdata;
        json_object *args;

        /* Ask for the console first; a VMM that does not answer within 2 s is ended without it. */
        args = vm->qmp ? json_object_new_object() : NULL;
        if (args && json_object_object_add(args, "device", json_object_new_string("console")) >= 0 &&
            json_object_object_add(args, "size", json_object_new_int(2048)) >= 0) {
                if (qmp_send(vm->qmp, "ringbuf-read", TAKE_PTR(args), on_console_tail, vm) >= 0 &&
                    vm_timer_set(vm, 2 * USEC_PER_SEC, on_console_timeout) >= 0)
                        return 0;
        }
        json_object_put(args);
        vm_abort_boot_timeout(vm);
        return 0;
}

/* QMP */

static void vm_set_memory_actual(VM *vm, uint64_t bytes) {
        uint64_t mib = bytes >> 20;

        vm->memory_moved_usec = now_usec(CLOCK_MONOTONIC); /* the balloon moves */
        if (mib == vm->memory_actual_mib)
                return;
        if (mib > vm->memory_actual_mib && mib > vm->memory_target_mib && vm->memory_actual_mib > 0)
                vm->memory_deflated = true;
        vm->memory_actual_mib = mib;
        (void) vm_send_changed(vm, "MemoryActualMiB", NULL);
}

static void vm_set_memory_target_figure(VM *vm, uint64_t mib) {
        if (vm->memory_target_mib == mib)
                return;
        vm->memory_target_mib = mib;
        (void) vm_send_changed(vm, "MemoryTargetMiB", NULL);
}

/* {"actual": bytes}, in query-balloon's reply and BALLOON_CHANGE's data. */
static void vm_take_balloon_info(VM *vm, json_object *o) {
        json_object *actual;

        if (json_object_object_get_ex(o, "actual", &actual) && json_object_is_type(actual, json_type_int) &&
            json_object_get_int64(actual) >= 0)
                vm_set_memory_actual(vm, (uint64_t) json_object_get_int64(actual));
}

static void on_query_balloon_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;

        if (error_class) {
                log_vm_debug(vm->name, "QEMU has no balloon for %s: %s", vm->name, strna(error_desc));
                return;
        }
        vm_take_balloon_info(vm, result);
        /* An adopted VMM keeps the target an earlier vmmd set: what the balloon holds is the best guess. */
        if (vm->adopted_source && vm->memory_actual_mib > 0)
                vm_set_memory_target_figure(vm, vm->memory_actual_mib);
}

/* An adopted VMM may hold a guest that stopped while no vmmd listened. */
static void on_query_status_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;
        json_object *status;
        const char *s;

        if (error_class || !json_object_object_get_ex(result, "status", &status))
                return;
        s = json_object_get_string(status);
        if (streq_ptr(s, "shutdown") || streq_ptr(s, "guest-panicked"))
                vm_crash_on_guest_stop(vm, streq(s, "guest-panicked"));
}

static void on_qmp_ready(QmpClient *c, void *userdata) {
        VM *vm = userdata;

        log_vm_debug(vm->name, "QMP of %s is ready.", vm->name);
        (void) qmp_send(c, "query-balloon", NULL, on_query_balloon_reply, vm);
        if (vm->adopted_source)
                (void) qmp_send(c, "query-status", NULL, on_query_status_reply, vm);
        vm_complete_pending(vm, PENDING_START, 0, NULL);
}

static void on_qmp_event(QmpClient *c, const char *event, json_object *data, void *userdata) {
        VM *vm = userdata;
        json_object *reason;

        log_vm_debug(vm->name, "QMP event %s", event);
        if (streq(event, "SHUTDOWN")) {
                const char *r = data && json_object_object_get_ex(data, "reason", &reason) &&
                                json_object_is_type(reason, json_type_string) ?
                        json_object_get_string(reason) :
                        "";

                vm->shutdown_seen = true;
                /* QEMU holds the guest as it was (-action ...=pause) unless it was told to quit, which is
                 * how vmmd ends it then: the reason of the first tells a reboot (a fresh QEMU boots it) from
                 * a power-off. */
                if (!streq(r, "host-qmp-quit") && !streq(r, "host-signal")) {
                        vm->reset_requested = streq(r, "guest-reset") || streq(r, "host-qmp-system-reset");
                        vm_crash_on_guest_stop(vm, false);
                }
        }
        if (streq(event, "GUEST_PANICKED"))
                vm_crash_on_guest_stop(vm, true);
        if (streq(event, "BALLOON_CHANGE"))
                vm_take_balloon_info(vm, data);
        vm_snapshot_on_qmp_event(vm, event, data);
        if (vm->builder_of)
                golden_builder_qmp_event(vm, event, data);
}

static void on_qmp_disconnect(QmpClient *c, int error, const char *message, void *userdata) {
        VM *vm = userdata;

        /* QEMU closes QMP when it exits; the child source then tells us how. Anything else while the VMM
         * runs is a broken monitor, and a VMM we cannot control must not keep running. */
        vm->qmp = qmp_client_free(vm->qmp);
        if (error != -ECONNRESET && vm_vmm_runs(vm)) {
                _cleanup_free_ char *reason = NULL;

                if (asprintf(&reason, "QMP protocol error: %s", message) < 0)
                        reason = NULL;
                vm_abort(vm, reason ?: "QMP protocol error");
        }
}

/* The guest agent */

/* Gives the guest its identity (vm-identity.h), then asks the agent for what vmmd shows of the guest; the
 * answer to the last (MEMINFO) makes a starting VM running. An agent older than these commands answers
 * ERR, which changes nothing. */
static int vm_agent_refresh(VM *vm) {
        int r = vm_identity_send(vm, vm->agent);

        if (r >= 0)
                r = agent_client_send(vm->agent, "BOOTID");
        return r < 0 ? r : agent_client_send(vm->agent, "MEMINFO");
}

int vm_expect_guest_back(VM *vm) {
        int r;

        if (!vm->agent)
                return -ENOTCONN;
        r = agent_client_reconnect(vm->agent, "restored");
        if (r < 0)
                return r;
        vm->agent_refresh_pending = false;
        vm_set_state(vm, VM_STARTING, NULL);
        return vm_timer_set(vm, vm->manager->config.boot_timeout_usec, on_boot_timeout);
}

static const struct {
        const char *item, *command;
} guest_items[] = {
        { "hostname", "HOSTNAME" }, { "machine-id", "MACHINEID" }, { "clock", "CLOCK" },
        { "random", "RANDOM" },     { "boot-id", "BOOTID" },       { "input", "INPUT" },
};

/* Skips prefix, then a run of 1 to max characters of set; NULL if either is not there. */
static const char *skip_field(const char *s, const char *prefix, const char *set, size_t min, size_t max) {
        size_t n;

        if (!s || strncmp(s, prefix, strlen(prefix)) != 0)
                return NULL;
        s += strlen(prefix);
        n = strspn(s, set);
        return n >= min && n <= max ? s + n : NULL;
}

bool guest_input_valid(const char *s) {
        const char *digits = "0123456789", *hex;

        s = skip_field(s, "keys=", digits, 1, 20);
        hex = s ? s + strlen(" text=") : NULL;
        s = skip_field(s, " text=", "0123456789abcdef", 0, 256);
        if (!s || (s - hex) % 2 != 0) /* whole bytes */
                return false;
        s = skip_field(s, " taps=", digits, 1, 20);
        s = skip_field(s, " last=", "-0123456789", 1, 11);
        s = skip_field(s, ",", "-0123456789", 1, 11);
        return s && *s == '\0';
}

typedef struct GuestQuestion {
        Operation *op;
        const char *command; /* its answer starts with the same word */
} GuestQuestion;

static void on_read_guest_reply(AgentClient *a, int error, const AgentReply *reply, void *userdata) {
        _cleanup_free_ GuestQuestion *q = userdata;
        _cleanup_free_ char *text = NULL, *message = NULL;

        if (error < 0)
                operation_complete(q->op, -EIO, "The guest agent did not answer");
        else if (reply->type == AGENT_REPLY_ERR) {
                text = utf8_printable(reply->arg, 200);
                (void) asprintf(&message, "The guest agent failed: %s", strna(text));
                operation_complete(q->op, -EIO, message);
        } else if (!streq(reply->word, q->command))
                operation_complete(q->op, -EIO, "The guest agent answered another question");
        else if (streq(q->command, "INPUT") && !guest_input_valid(reply->arg))
                operation_complete(
                        q->op,
                        -EIO,
                        "The guest agent's answer is not of the form \"keys=N text=HEX taps=N last=X,Y\"");
        else
                operation_complete_string(q->op, reply->arg);
}

int vm_read_guest(VM *vm, const char *item, Operation *op, char **ret_error) {
        size_t i;
        int r;

        for (i = 0; i < ELEMENTSOF(guest_items); i++)
                if (streq(item, guest_items[i].item))
                        break;
        if (i == ELEMENTSOF(guest_items)) {
                _cleanup_free_ char *shown = utf8_printable(item, 64);
                (void) asprintf(
                        ret_error,
                        "Unknown item \"%s\": expected hostname, machine-id, clock, random, boot-id or input",
                        strna(shown));
                return -ERANGE;
        }
        if (vm->state != VM_RUNNING || !agent_client_is_ready(vm->agent)) {
                (void) asprintf(
                        ret_error,
                        "VM \"%s\" is %s; only a running VM's guest can be asked",
                        vm->name,
                        vm_state_to_string(vm->state));
                return -EINVAL;
        }
        GuestQuestion *q = calloc(1, sizeof(GuestQuestion));
        if (!q)
                return -ENOMEM;
        *q = (GuestQuestion){ .op = op, .command = guest_items[i].command };
        r = agent_client_call(vm->agent, guest_items[i].command, on_read_guest_reply, q);
        if (r < 0)
                free(q);
        if (r == -EBUSY || r == -ENOBUFS)
                (void) asprintf(
                        ret_error, "The guest agent of \"%s\" has too many questions to answer", vm->name);
        return r == -ENOBUFS ? -EBUSY : r;
}

static void on_agent_ready(AgentClient *a, const char *version, void *userdata) {
        VM *vm = userdata;

        if (version && !streq_ptr(vm->agent_version, version) &&
            free_and_strdup(&vm->agent_version, version) >= 0)
                (void) vm_send_changed(vm, "AgentVersion", NULL);
        /* Running means the agent answers: its answers are the guest's boot ID and memory, which
         * clients then see together with the state. */
        if (vm_agent_refresh(vm) >= 0)
                vm->agent_refresh_pending = true;
        else if (vm->state == VM_STARTING) {
                vm->timer = sd_event_source_disable_unref(vm->timer);
                vm_set_state(vm, VM_RUNNING, NULL);
        }
}

static void on_agent_boot_id(AgentClient *a, const char *boot_id, void *userdata) {
        VM *vm = userdata;

        if (streq_ptr(vm->guest_boot_id, boot_id))
                return;
        if (free_and_strdup(&vm->guest_boot_id, boot_id) >= 0)
                (void) vm_send_changed(vm, "GuestBootID", NULL);
}

static void on_agent_meminfo(
        AgentClient *a, uint64_t total_kib, uint64_t free_kib, uint64_t available_kib, void *userdata) {
        VM *vm = userdata;

        vm->guest_memory_usec = now_usec(CLOCK_MONOTONIC);
        if (vm->guest_memory_total_kib != total_kib || vm->guest_memory_available_kib != available_kib) {
                vm->guest_memory_total_kib = total_kib;
                vm->guest_memory_available_kib = available_kib;
                (void) vm_send_changed(vm, "GuestMemoryTotalKiB", "GuestMemoryAvailableKiB", NULL);
        }
        if (vm->state == VM_STARTING && vm->agent_refresh_pending) {
                vm->agent_refresh_pending = false;
                vm->timer = sd_event_source_disable_unref(vm->timer);
                vm_set_state(vm, VM_RUNNING, NULL);
        }
}

static void on_agent_disconnect(AgentClient *a, int error, const char *message, void *userdata) {
        VM *vm = userdata;

        /* QEMU keeps its end open while it runs, so this is the VMM going away: the child source
         * reports that. */
        log_vm_debug(vm->name, "Guest agent channel of %s closed: %s", vm->name, message);
        vm->agent = agent_client_free(vm->agent);
}

static const AgentHandlers agent_handlers = {
        .ready = on_agent_ready,
        .meminfo = on_agent_meminfo,
        .boot_id = on_agent_boot_id,
        .disconnect = on_agent_disconnect,
};

/* The VMM process */

/* A VMM or helper that did not get to run: its failure reason says where it stopped (in its sandbox, say). */
static int vm_spawn_failed(VM *vm, const char *program, const char *step, int r) {
        if (step && !vm->pending_failure)
                (void) asprintf(
                        &vm->pending_failure, "Failed to start %s: %s: %s", program, step, strerror(-r));
        return log_vm_error_errno(
                vm->name, r, "Failed to start '%s'%s%s: %m", program, step ? " while " : "", strempty(step));
}

/* What a VMM or helper of the VM sees in its sandbox: the image's files read-only, the directory of its disk
 * writable, /dev/kvm with KVM, and /usr; nothing of other VMs, vmmd or the host. */
typedef struct VMView {
        const char *read_only[_IMAGE_FILE_MAX + 5];
        const char *writable[2];
        const char *devices[2];
        char *disk_dir;
        char *golden_disk;
        Sandbox sandbox;
} VMView;

static void vm_view_done(VMView *v) {
        free(v->disk_dir);
        free(v->golden_disk);
}

static int vm_view(VM *vm, const Image *image, VMView *v) {
        size_t n = 0;

        *v = (VMView){};
        for (ImageFileKind k = 0; k < _IMAGE_FILE_MAX; k++)
                if (image->has_file[k])
                        v->read_only[n++] = image->files[k].path;
        /* The programs, where they are not in /usr (VMMD_QEMU, VMMD_QEMU_IMG, VMMD_VMM_HV). */
        for (const char *const *p = STRV_MAKE(
                     vm->manager->config.qemu, vm->manager->config.qemu_img, vm->manager->config.vmm_hv);
             *p;
             p++)
                if ((*p)[0] == '/' && strncmp(*p, "/usr/", 5) != 0)
                        v->read_only[n++] = *p;
        /* A clone's disk has its golden snapshot's as backing file, at every boot. */
        if (vm->golden) {
                v->golden_disk = golden_disk_path(vm->manager, vm->persona, vm->golden, vm->vmm);
                if (!v->golden_disk)
                        return -ENOMEM;
                v->read_only[n++] = v->golden_disk;
        }
        if (vm->disk_path) {
                v->disk_dir = vm_disk_dir(vm);
                if (!v->disk_dir)
                        return -ENOMEM;
                v->writable[0] = v->disk_dir;
        }
        if (streq(vm->accel, "kvm"))
                v->devices[0] = vm->manager->config.kvm_path;
        v->sandbox = (Sandbox){ .read_only = v->read_only, .writable = v->writable, .devices = v->devices };
        return 0;
}

/* A listening socket for QEMU and our connection to it; no race, the backlog holds the connection
 * until QEMU accepts it. */
static int socket_pair_listen(const char *path, int *ret_listen, int *ret_conn) {
        _cleanup_close_ int l = -EBADF, c = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        (void) unlink(path);
        l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0)
                return -errno;
        if (bind(l, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(l, 4) < 0)
                return -errno;
        c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c < 0)
                return -errno;
        if (connect(c, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        *ret_listen = TAKE_FD(l);
        *ret_conn = TAKE_FD(c);
        return 0;
}

/* The VMM ended: code and status as from waitid(), or code 0 for an adopted VMM, which is not our child
 * (its exit status goes to its parent): then QEMU's SHUTDOWN event tells an orderly end. */
static void vm_vmm_ended(VM *vm, int code, int status) {
        _cleanup_free_ char *how = NULL, *tail = NULL, *log_path = NULL, *reason = NULL;
        bool clean;

        /* QEMU closed its sockets before it exited, so all it said is here: its SHUTDOWN event (a reboot
         * or a power-off?) must count even when the loop dispatches the exit first. */
        qmp_client_drain(vm->qmp);

        /* A VMM that was asked to stop is stopped however it ended (Stop(force=true) kills it). */
        clean = vm->state == VM_STOPPING ||
                (code == 0 ? vm->shutdown_seen : code == CLD_EXITED && status == 0);

        if (code == 0)
                how = strdup(vm->shutdown_seen ? "exited after a shutdown" : "ended without a shutdown");
        else
                (void) describe_exit(code, status, &how);
        log_vm_info(
                vm->name, "%s of %s (pid %d) %s.", vmm_display_name(vm->vmm), vm->name, (int) vm->pid, strna(how));

        vm->child_source = sd_event_source_disable_unref(vm->child_source);
        vm->adopted_source = sd_event_source_disable_unref(vm->adopted_source);
        vm->timer = sd_event_source_disable_unref(vm->timer);
        vm_display_abort(vm, "The VMM ended");
        vm->qmp = qmp_client_free(vm->qmp);
        vm->agent = agent_client_free(vm->agent);
        vm->pid = 0;
        vm->stop_stage = STOP_NONE;
        vm->crash_check = CRASH_CHECK_NONE;
        vm->crashed = false;
        vm_crash_abort(vm);
        vm->debug_symbols = vm_debug_symbols_free(vm->debug_symbols);
        if (vm->debugger) {
                vm->debugger = vm_debug_session_free(vm->debugger);
                (void) vm_send_changed(vm, "DebuggerAttached", NULL);
        }
        vm_snapshot_abort(vm, "the VMM ended");
        vm_complete_pending(vm, PENDING_MEMORY, -EIO, "The VMM ended");
        vm_set_memory_actual(vm, 0);
        vm_set_memory_target_figure(vm, vm->memory_mib);
        if (vm->memory_requested_mib != 0) { /* 0 without a VMM, like MemoryActualMiB */
                vm->memory_requested_mib = 0;
                (void) vm_send_changed(vm, "MemoryRequestedMiB", NULL);
        }
        if (vm->memory_merge) {
                vm->memory_merge = false;
                (void) vm_send_changed(vm, "MemoryMerging", NULL);
        }

        if (!clean && !vm->pending_failure) {
                if (asprintf(&log_path, "%s/%s", vm->runtime_dir, vmm_log_name(vm->vmm)) >= 0)
                        tail = log_tail_line(log_path, 200);
                if (asprintf(
                            &reason,
                            "%s %s%s%s",
                            vmm_display_name(vm->vmm),
                            strna(how),
                            tail ? ": " : "",
                            strempty(tail)) < 0)
                        reason = NULL;
                vm->pending_failure = TAKE_PTR(reason);
        } else if (clean && !vm->pending_failure && vm->state == VM_STARTING && vm->pending[PENDING_START])
                (void) asprintf(
                        &vm->pending_failure, "%s exited before the VM started", vmm_display_name(vm->vmm));
        vm_on_exit_finish(vm);
}

static int on_vmm_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        vm_vmm_ended(userdata, si->si_code, si->si_status);
        return 0;
}

static int on_adopted_vmm_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        vm_vmm_ended(userdata, 0, 0);
        return 0;
}

#define REBOOT_WINDOW_USEC (60 * USEC_PER_SEC)
#define REBOOTS_PER_WINDOW_MAX 5

static int vm_spawn_vmm(VM *vm);

/* The guest rebooted: QEMU ran with -no-reboot, so a fresh one boots it again. A guest that reboots
 * again and again (a kernel panic with panic=-1 does) is failed instead, so it cannot spin forever. */
static void vm_restart_after_reset(VM *vm) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        if (now - vm->reboot_window_usec > REBOOT_WINDOW_USEC) {
                vm->reboot_window_usec = now;
                vm->reboots_in_window = 0;
        }
        if (++vm->reboots_in_window > REBOOTS_PER_WINDOW_MAX) {
                (void) asprintf(
                        &vm->pending_failure,
                        "the guest rebooted more than %d times within %" PRIu64 " s",
                        REBOOTS_PER_WINDOW_MAX,
                        REBOOT_WINDOW_USEC / USEC_PER_SEC);
                vm_on_exit_finish(vm);
                return;
        }
        log_vm_info(vm->name, "Guest of %s rebooted, starting it again.", vm->name);
        vm_set_state(vm, VM_STARTING, NULL);
        r = vm_spawn_vmm(vm);
        if (r < 0 && !vm_is_active(vm)) {
                if (!vm->pending_failure)
                        (void) asprintf(&vm->pending_failure, "Failed to restart the VMM: %s", strerror(-r));
                vm_on_exit_finish(vm);
        }
}

/* The VMM or the helper is gone: settle the state, answer whoever waits, and remove throwaways. */
static void vm_on_exit_finish(VM *vm) {
        _cleanup_free_ char *failure = TAKE_PTR(vm->pending_failure);
        char path[PATH_MAX];

        for (const char *const *n = (const char *const[]){ "qmp.sock", "agent.sock", NULL }; *n; n++) {
                (void) snprintf(path, sizeof(path), "%s/%s", vm->runtime_dir, *n);
                (void) unlink(path);
        }

        if (vm->builder_of) {
                golden_builder_ended(vm, failure); /* frees vm */
                return;
        }
        if (vm->destroying) {
                (void) vm_destroy(vm, NULL);
                return;
        }
        if (!failure && vm->reset_requested && vm->state != VM_STOPPING && !vm->manager->exiting) {
                vm_restart_after_reset(vm);
                return;
        }
        vm_complete_pending(vm, PENDING_START, -EIO, failure ?: "The VM stopped while starting");
        vm_complete_pending(vm, PENDING_PAUSE, -EIO, failure ?: "The VM stopped");

        vm_set_state(vm, failure ? VM_FAILED : VM_STOPPED, failure);
        if (!failure && vm->ephemeral)
                /* A throwaway that stops leaves nothing behind. */
                (void) vm_destroy(vm, NULL);
        else if (vm->manager->exiting)
                manager_begin_exit(vm->manager);
}

static int vm_spawn_vmm(VM *vm) {
        _cleanup_close_ int qmp_listen = -EBADF, qmp_conn = -EBADF, agent_listen = -EBADF,
                            agent_conn = -EBADF, log_fd = -EBADF, state_fd = -EBADF;
        bool from_golden = vm->from_golden; /* this start only: a reboot of a clone boots cold */
        _cleanup_free_ char *qmp_path = NULL, *agent_path = NULL, *log_path = NULL, *image_error = NULL,
                            *loadvm = TAKE_PTR(vm->loadvm); /* this start only */
        _cleanup_strv_free_ char **argv = NULL;
        Manager *m = vm->manager;
        Image *image;
        pid_t pid;
        int r;

        r = manager_get_image(m, vm->image, &image, &image_error);
        if (r < 0) {
                vm_abort(
                        vm,
                        r == -EINPROGRESS ?
                                "the image changed while the VM started; it is being verified again" :
                                image_error ?:
                                              "image verification failed");
                return r;
        }
        vm->from_golden = false;
        if (from_golden) {
                Golden *g = golden_find(m, vm->persona, vm->golden);

                state_fd = g ? golden_open_file(g, GOLDEN_FILE_STATE) : -ENOENT;
                if (state_fd < 0) {
                        vm_abort(vm, "its golden snapshot changed or went away while it started");
                        return state_fd;
                }
        }
        if (asprintf(&qmp_path, "%s/qmp.sock", vm->runtime_dir) < 0 ||
            asprintf(&agent_path, "%s/agent.sock", vm->runtime_dir) < 0 ||
            asprintf(&log_path, "%s/%s", vm->runtime_dir, vmm_log_name(vm->vmm)) < 0)
                return -ENOMEM;

        r = socket_pair_listen(qmp_path, &qmp_listen, &qmp_conn);
        if (r >= 0)
                r = socket_pair_listen(agent_path, &agent_listen, &agent_conn);
        if (r < 0)
                return log_vm_error_errno(vm->name, r, "Failed to create the VMM sockets of %s: %m", vm->name);

        _cleanup_free_ char *disk_backing = NULL;
        /* vmm-hv's clone: its disk is vmm-hv's overlay on the golden disk, at every boot. */
        if (vm->vmm == VMM_HV && vm->golden && image->has_file[IMAGE_FILE_DISK]) {
                disk_backing = golden_disk_path(m, vm->persona, vm->golden, vm->vmm);
                if (!disk_backing)
                        return -ENOMEM;
        }
        const char *binary = vm->vmm == VMM_HV ? m->config.vmm_hv : m->config.qemu;
        vm_display_update(vm, true);
        VmmConfig vc = {
                .binary = binary,
                .name = vm->name,
                .accel = vm->accel,
                .memory_mib = vm->memory_mib,
                .vcpus = vm->vcpus,
                .kernel = image->files[IMAGE_FILE_KERNEL].path,
                .initrd = image->files[IMAGE_FILE_INITRD].path,
                .cmdline = image->cmdline,
                .disk_path = image->has_file[IMAGE_FILE_DISK] ? vm->disk_path : NULL,
                .disk_backing = disk_backing,
                .loadvm = loadvm,
                .incoming = from_golden,
                .golden_build = vm->builder_of,
                .sandbox = true,
                .display_width = vm->display_width,
                .display_height = vm->display_height,
        };
        r = vmm_build_argv(vm->vmm, &vc, &argv);
        if (r < 0)
                return log_vm_error_errno(
                        vm->name, r, "Failed to build the %s command line: %m", vmm_display_name(vm->vmm));

        log_fd = create_regular(log_path, 0600);
        if (log_fd < 0)
                return log_vm_error_errno(vm->name, log_fd, "Failed to create '%s': %m", log_path);

        _cleanup_(vm_view_done) VMView view = {};
        r = vm_view(vm, image, &view);
        if (r < 0)
                return r;
        /* A clone reads its golden state at VMM_STATE_FD (a golden build gets its file through QMP). */
        SpawnOptions so = {
                .fds = (const int[]){ qmp_listen, agent_listen, state_fd },
                .n_fds = state_fd >= 0 ? 3 : 2,
                .output_fd = log_fd,
                .drop_privileges = true,
                .sandbox = &view.sandbox,
                .die_with_parent = vm->builder_of,
        };
        vm_identity_spawn_options(vm, &so);
        _cleanup_free_ char *step = NULL;
        r = spawn_watched(m->event, argv, &so, on_vmm_exit, vm, &vm->child_source, &pid, &step);
        if (r < 0)
                return vm_spawn_failed(vm, binary, step, r);
        vm->pid = pid;
        vm_new_instance(vm);
        /* Every VMM starts with its balloon empty, and unmerged. Known now, not only once QEMU answers
         * query-balloon: the start completes when QMP is ready, before that reply. */
        vm->memory_target_mib = vm->memory_mib;
        vm_set_memory_actual(vm, (uint64_t) vm->memory_mib << 20);
        vm->memory_requested_mib = vm->memory_mib;
        (void) vm_send_changed(vm, "MemoryRequestedMiB", NULL);
        vm->guest_memory_usec = 0; /* what the last guest said */
        vm->agent_refresh_pending = false;
        vm->memory_deflated = false;
        vm->reset_requested = false;
        vm->shutdown_seen = false;
        log_vm_info(
                vm->name,
                "Started %s for %s (pid %d, accel %s).",
                vmm_display_name(vm->vmm),
                vm->name,
                (int) pid,
                vm->accel);
        r = scope_start(
                m->bus,
                vm->name,
                pid,
                streq_ptr(m->foreground, vm->name),
                &(ScopeLimits){ .memory_mib = vm->memory_mib,
                                .kvm_device = streq(vm->accel, "kvm") ? m->config.kvm_path : NULL });
        if (r < 0)
                log_vm_warning_errno(
                        vm->name, r, "Failed to ask systemd for a scope for %s, ignoring: %m", vm->name);

        /* From here on, failures kill the running VMM and end up in on_vmm_exit(). */
        r = qmp_client_new(m->event, qmp_conn, &vm->qmp);
        if (r < 0)
                goto fail;
        TAKE_FD(qmp_conn);
        qmp_client_set_handlers(vm->qmp, on_qmp_ready, on_qmp_event, on_qmp_disconnect, vm);
        r = agent_client_new(m->event, agent_conn, &agent_handlers, vm, &vm->agent);
        if (r < 0)
                goto fail;
        TAKE_FD(agent_conn);
        /* A guest restored from a snapshot booted long ago: its agent answers instead of announcing. */
        if (loadvm || from_golden) {
                r = agent_client_reconnect(vm->agent, from_golden ? "clone" : "restored");
                if (r < 0)
                        goto fail;
        }
        r = vm_timer_set(vm, m->config.boot_timeout_usec, on_boot_timeout);
        if (r < 0)
                goto fail;
        r = vm_save(vm, false);
        if (r < 0)
                log_vm_warning_errno(vm->name, r, "Failed to record the VMM's pid, ignoring: %m");
        return 0;
fail:
        vm_abort(vm, "out of resources while setting up the VMM");
        return 0;
}

char *vm_helper_failure(VM *vm, const siginfo_t *si) {
        _cleanup_free_ char *how = NULL, *tail = NULL, *log_path = NULL;
        char *reason;

        if (si->si_code == CLD_EXITED && si->si_status == 0)
                return NULL;
        (void) describe_exit(si->si_code, si->si_status, &how);
        if (asprintf(&log_path, "%s/qemu-img.log", vm->runtime_dir) >= 0)
                tail = log_tail_line(log_path, 200);
        if (asprintf(&reason, "qemu-img %s%s%s", strna(how), tail ? ": " : "", strempty(tail)) < 0)
                return strdup("qemu-img failed");
        return reason;
}

int vm_spawn_helper(VM *vm, char *const *argv, sd_event_child_handler_t cb) {
        _cleanup_free_ char *log_path = NULL;
        _cleanup_close_ int log_fd = -EBADF;
        Manager *m = vm->manager;
        pid_t pid;
        int r;

        r = vm_make_dirs(vm, NULL);
        if (r < 0)
                return log_vm_error_errno(vm->name, r, "Failed to create the directories of %s: %m", vm->name);
        if (asprintf(&log_path, "%s/qemu-img.log", vm->runtime_dir) < 0)
                return -ENOMEM;
        log_fd = create_regular(log_path, 0600);
        if (log_fd < 0)
                return log_vm_error_errno(vm->name, log_fd, "Failed to create '%s': %m", log_path);

        _cleanup_(vm_view_done) VMView view = {};
        Image *image;
        r = manager_get_image(m, vm->image, &image, NULL);
        if (r >= 0)
                r = vm_view(vm, image, &view);
        if (r < 0)
                return log_vm_error_errno(
                        vm->name, r, "Failed to find what the helper of %s needs: %m", vm->name);

        SpawnOptions so = { .output_fd = log_fd, .drop_privileges = true, .sandbox = &view.sandbox };
        vm_identity_spawn_options(vm, &so);
        _cleanup_free_ char *step = NULL;
        r = spawn_watched(m->event, argv, &so, cb, vm, &vm->helper_source, &pid, &step);
        if (r < 0)
                return vm_spawn_failed(vm, argv[0], step, r);
        return 0;
}

static int on_helper_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        VM *vm = userdata;
        int r;

        vm->helper_source = sd_event_source_disable_unref(vm->helper_source);

        if (vm->destroying || vm->state == VM_STOPPING) {
                vm_remove_disk(vm);
                vm_on_exit_finish(vm);
                return 0;
        }
        if (si->si_code != CLD_EXITED || si->si_status != 0) {
                vm_remove_disk(vm);
                vm->pending_failure = vm_helper_failure(vm, si);
                vm_on_exit_finish(vm);
                return 0;
        }
        r = vm_spawn_vmm(vm);
        if (r < 0 && !vm_is_active(vm)) {
                if (!vm->pending_failure)
                        (void) asprintf(
                                &vm->pending_failure,
                                "Failed to start %s: %s",
                                vmm_display_name(vm->vmm),
                                strerror(-r));
                vm_on_exit_finish(vm);
        }
        return 0;
}

/* Creates the VM's disk from the image's with qemu-img, asynchronously: for QEMU a qcow2 overlay on it, for
 * vmm-hv (which reads no qcow2) a raw copy, sparse (the reference image's 32 MiB take a few milliseconds). */
static int vm_spawn_overlay(VM *vm, const Image *image) {
        _cleanup_free_ char *backing = NULL;
        Manager *m = vm->manager;

        backing = strdup(image->files[IMAGE_FILE_DISK].path);
        if (!backing)
                return -ENOMEM;

        if (vm->vmm == VMM_HV) {
                char *argv[] = { m->config.qemu_img, (char *) "convert",
                                 (char *) "-q",      (char *) "-f",
                                 image->disk_format, (char *) "-O",
                                 (char *) "raw",     backing,
                                 vm->disk_path,      NULL };
                return vm_spawn_helper(vm, argv, on_helper_exit);
        }
        char *argv[] = { m->config.qemu_img,
                         (char *) "create",
                         (char *) "-q",
                         (char *) "-f",
                         (char *) "qcow2",
                         (char *) "-F",
                         image->disk_format,
                         (char *) "-b",
                         backing,
                         vm->disk_path,
                         NULL };
        return vm_spawn_helper(vm, argv, on_helper_exit);
}

/* A clone's disk: a copy of its golden snapshot's empty overlay on the golden disk (itself one on the
 * image's), made in the VM's directory as the VM. */
static int vm_copy_golden_overlay(VM *vm) {
        _cleanup_close_ int in = -EBADF, out = -EBADF;
        Golden *g = golden_find(vm->manager, vm->persona, vm->golden);
        struct stat st;
        int r;

        in = g ? golden_open_file(g, GOLDEN_FILE_OVERLAY) : -ESTALE;
        if (in < 0 || fstat(in, &st) < 0)
                return log_vm_error_errno(
                        vm->name,
                        in < 0 ? in : -errno,
                        "The golden snapshot of %s changed or went away: %m",
                        vm->name);
        {
                _cleanup_(vm_fs_leave) _unused_ VMFs fs = vm_fs_enter(vm);
                out = create_regular(vm->disk_path, 0600);
        }
        if (out < 0)
                return log_vm_error_errno(vm->name, out, "Failed to create the disk of %s: %m", vm->name);
        r = copy_bytes(in, out, (uint64_t) st.st_size);
        if (r < 0)
                return log_vm_error_errno(vm->name, r, "Failed to write the disk of %s: %m", vm->name);
        return 0;
}

int vm_start(VM *vm, Operation *op, char **ret_error) {
        _cleanup_free_ char *image_error = NULL;
        Image *image;
        int r;

        /* Like systemctl start: starting what runs (or is on its way) is a success. */
        if (IN_SET(vm->state, VM_STARTING, VM_RUNNING) && !vm->destroying)
                return 1; /* the caller answers at once */
        if (vm->snapshot_op != SNAPSHOT_OP_NONE) {
                if (ret_error)
                        (void) asprintf(
                                ret_error, "VM \"%s\" is busy with snapshot \"%s\"", vm->name, vm->snapshot_name);
                return -EBUSY;
        }
        if (!IN_SET(vm->state, VM_CREATED, VM_STOPPED, VM_FAILED) || vm->destroying) {
                if (ret_error)
                        (void) asprintf(
                                ret_error,
                                "VM \"%s\" is %s; only a created, stopped or failed VM can start",
                                vm->name,
                                vm_state_to_string(vm->state));
                return -EINVAL;
        }
        r = manager_memory_admit(vm->manager, vm, vm->name, vm->memory_mib, ret_error);
        if (r < 0)
                return r;
        r = manager_get_image(vm->manager, vm->image, &image, &image_error);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(image_error);
                return r;
        }
        /* Its own identity first, then its directories, handed to it. */
        if (!vm->manager->identities && !vm->manager->config.user) {
                if (ret_error)
                        (void) asprintf(
                                ret_error,
                                "vmmd runs without root here and cannot give VM \"%s\" an identity of its own",
                                vm->name);
                return -EPERM;
        }
        if (vm->uid == 0 && vm->manager->identities) {
                r = vm_identity_allocate(vm);
                if (r >= 0)
                        r = vm_save(vm, false);
                if (r >= 0)
                        (void) vm_send_changed(vm, "UID", NULL);
                if (r < 0) {
                        if (ret_error)
                                (void) asprintf(
                                        ret_error,
                                        "Failed to give VM \"%s\" an identity: %s",
                                        vm->name,
                                        strerror(-r));
                        return r;
                }
        }
        _cleanup_free_ char *dirs_error = NULL;
        r = vm_make_dirs(vm, &dirs_error);
        if (r < 0) {
                if (ret_error && dirs_error)
                        *ret_error = TAKE_PTR(dirs_error);
                else if (ret_error)
                        (void) asprintf(
                                ret_error,
                                "Failed to create the directories of \"%s\": %s",
                                vm->name,
                                strerror(-r));
                return log_vm_error_errno(vm->name, r, "Failed to create the directories of %s: %m", vm->name);
        }

        free(vm->pending_failure);
        vm->pending_failure = NULL;
        vm->stop_stage = STOP_NONE;
        vm_set_state(vm, VM_STARTING, NULL);
        if (op)
                vm->pending[PENDING_START] = op;

        /* Made as a clone (CreateVM without start), but its golden snapshot went meanwhile: it boots. */
        if (vm->from_golden && !golden_find(vm->manager, vm->persona, vm->golden)) {
                log_vm_info(vm->name, "Golden snapshot %s is gone; %s boots instead.", vm->golden, vm->name);
                vm->golden = mfree(vm->golden);
                vm->from_golden = false;
                (void) vm_save(vm, false);
        }
        if (image->has_file[IMAGE_FILE_DISK] && !vm_disk_exists(vm))
                r = vm->from_golden ? vm_copy_golden_overlay(vm) ?: vm_spawn_vmm(vm) :
                                      vm_spawn_overlay(vm, image);
        else
                r = vm_spawn_vmm(vm);
        if (r < 0 && !vm_is_active(vm)) {
                if (!vm->pending_failure)
                        (void) asprintf(&vm->pending_failure, "Failed to start the VMM: %s", strerror(-r));
                vm_on_exit_finish(vm);
        }
        return 0;
}

/* Stop escalation: agent poweroff, then the power button, then QMP quit, then SIGKILL. */
static int vm_stop_step(VM *vm, StopStage stage);

int vm_quit(VM *vm) {
        return vm_stop_step(vm, STOP_QUIT);
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        VM *vm = userdata;

        log_vm_notice(vm->name, "VM %s did not stop in time, escalating.", vm->name);
        (void) vm_stop_step(vm, vm->stop_stage + 1);
        return 0;
}

static void on_stop_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;

        if (error_class && vm->stop_stage < STOP_KILL && vm_vmm_runs(vm))
                (void) vm_stop_step(vm, vm->stop_stage + 1);
}

static int vm_stop_step(VM *vm, StopStage stage) {
        int r = -ENOTCONN;

        for (; stage < STOP_KILL; stage++) {
                if (stage == STOP_AGENT && agent_client_is_ready(vm->agent) && vm->state != VM_PAUSED)
                        r = agent_client_send(vm->agent, "POWEROFF");
                else if (stage == STOP_POWERDOWN && vm->qmp && vm->state != VM_PAUSED)
                        r = qmp_send(vm->qmp, "system_powerdown", NULL, on_stop_reply, vm);
                else if (stage == STOP_QUIT && vm->qmp)
                        r = qmp_send(vm->qmp, "quit", NULL, on_stop_reply, vm);
                else
                        continue;
                if (r >= 0)
                        break;
        }
        vm->stop_stage = stage;
        if (stage >= STOP_KILL) {
                vm->timer = sd_event_source_disable_unref(vm->timer);
                return vm_kill(vm, SIGKILL);
        }
        log_vm_debug(vm->name, "Stopping %s: step %d.", vm->name, (int) stage);
        return vm_timer_set(vm, vm->manager->config.stop_timeout_usec, on_stop_timeout);
}

int vm_stop(VM *vm, bool force) {
        bool was_starting = vm->state == VM_STARTING;

        if (vm->destroying || !IN_SET(vm->state, VM_STARTING, VM_RUNNING, VM_PAUSED, VM_STOPPING) ||
            !vm_is_active(vm))
                return -EINVAL;
        if (vm->state == VM_STOPPING && !force)
                return 0;
        /* The crash bundle first: the guest's memory is what it is about. */
        if ((vm->crash || vm->crash_check != CRASH_CHECK_NONE) && !force && !vm->manager->exiting)
                return -EBUSY;
        /* A snapshot in progress ends first, unless forced (it then fails) or vmmd exits. */
        if (vm->snapshot_op != SNAPSHOT_OP_NONE && !force && !vm->manager->exiting)
                return -EBUSY;
        vm_set_state(vm, VM_STOPPING, NULL);
        if (force || vm->helper_source)
                return vm_stop_step(vm, STOP_KILL);
        /* A guest that has not booted yet has nothing to shut down. */
        return vm_stop_step(vm, was_starting ? STOP_QUIT : STOP_AGENT);
}

static void on_pause_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;
        bool pausing = vm->state == VM_RUNNING;

        if (error_class) {
                _cleanup_free_ char *msg = NULL;

                if (asprintf(&msg, "QEMU refused to %s: %s", pausing ? "pause" : "resume", strna(error_desc)) <
                    0)
                        msg = NULL;
                vm_complete_pending(vm, PENDING_PAUSE, -EIO, msg ?: "QEMU refused");
                return;
        }
        if (!pausing && vm->restored_while_paused) {
                /* A guest restored while paused is another guest: running once its agent answers. */
                vm->restored_while_paused = false;
                if (vm_expect_guest_back(vm) < 0)
                        vm_abort(vm, "the guest agent cannot be reached after the restore");
        } else if (IN_SET(vm->state, VM_RUNNING, VM_PAUSED))
                vm_set_state(vm, pausing ? VM_PAUSED : VM_RUNNING, NULL);
        vm_complete_pending(vm, PENDING_PAUSE, 0, NULL);
}

int vm_pause(VM *vm, bool pause, Operation *op) {
        int r;

        if (vm->state != (pause ? VM_RUNNING : VM_PAUSED) || !vm->qmp || vm->destroying)
                return -EINVAL;
        if (vm->pending[PENDING_PAUSE] || vm->snapshot_op != SNAPSHOT_OP_NONE || vm->crash ||
            vm->crash_check != CRASH_CHECK_NONE)
                return -EBUSY;
        if (!pause && vm->crashed) {
                /* A crashed guest cannot go on: resuming it boots it again, as on_crash: restart would. */
                vm->reset_requested = true;
                r = vm_quit(vm);
                if (r < 0)
                        return r;
                vm->crashed = false;
                vm->pending[PENDING_PAUSE] = op;
                vm_complete_pending(vm, PENDING_PAUSE, 0, NULL);
                return 0;
        }
        r = qmp_send(vm->qmp, pause ? "stop" : "cont", NULL, on_pause_reply, vm);
        if (r < 0)
                return r;
        vm->pending[PENDING_PAUSE] = op;
        return 0;
}

static void on_balloon_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;
        _cleanup_free_ char *msg = NULL;

        if (error_class && asprintf(&msg, "QEMU refused the memory target: %s", strna(error_desc)) < 0)
                msg = NULL;
        vm_complete_pending(vm, PENDING_MEMORY, error_class ? -EIO : 0, msg ?: "QEMU refused");
}

/* Whether the balloon may move now: -EINVAL, the VM does not run; -EBUSY, something else is on its way. */
static int vm_balloon_ready(const VM *vm) {
        if (vm->state != VM_RUNNING || !vm->qmp || vm->destroying)
                return -EINVAL;
        if (vm->pending[PENDING_MEMORY] || vm->snapshot_op != SNAPSHOT_OP_NONE || vm->crash)
                return -EBUSY;
        return 0;
}

bool vm_memory_adjustable(const VM *vm) {
        return vm_balloon_ready(vm) >= 0 && agent_client_is_ready(vm->agent);
}

int vm_set_memory_target(VM *vm, uint64_t mib, bool by_owner, Operation *op, char **ret_error) {
        json_object *args;
        int r;

        r = vm_balloon_ready(vm);
        if (r == -EINVAL)
                return r;
        if (mib < VM_MEMORY_TARGET_MIN_MIB || mib > vm->memory_mib)
                return -ERANGE;
        if (r < 0)
                return r;
        /* Growing promises more: within the memory policy only. */
        if (mib > vm->memory_target_mib) {
                r = manager_memory_admit(vm->manager, vm, vm->name, mib, ret_error);
                if (r < 0)
                        return r;
        }
        args = json_object_new_object();
        if (!args || json_object_object_add(args, "value", json_object_new_int64((int64_t) (mib << 20))) < 0) {
                json_object_put(args);
                return -ENOMEM;
        }
        r = qmp_send(vm->qmp, "balloon", args, on_balloon_reply, vm);
        if (r < 0)
                return r;
        vm->pending[PENDING_MEMORY] = op;
        vm->memory_moved_usec = now_usec(CLOCK_MONOTONIC);
        vm->memory_deflated = false;
        if (by_owner && vm->memory_requested_mib != mib) {
                vm->memory_requested_mib = mib;
                (void) vm_send_changed(vm, "MemoryRequestedMiB", NULL);
        }
        log_vm_info(
                vm->name,
                "Memory target of %s: %" PRIu64 " MiB of %" PRIu64 "%s.",
                vm->name,
                mib,
                vm->memory_mib,
                by_owner ? "" : " (memory policy)");
        if (mib != vm->memory_target_mib) {
                r = scope_set_memory_high(vm->manager->bus, vm->name, mib);
                if (r < 0)
                        log_vm_full_errno(
                                vm->name,
                                LOG_DEBUG,
                                r,
                                "Failed to move the MemoryHigh of %s, ignoring: %m",
                                vm->name);
        }
        vm_set_memory_target_figure(vm, mib);
        return 0;
}

static void on_merge_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;

        if (error_class)
                log_vm_warning_errno(
                        vm->name, 0, "QEMU did not change KSM merging of %s: %s", vm->name, strna(error_desc));
}

int vm_set_memory_merge(VM *vm, bool merge) {
        json_object *args;
        int r;

        if (!vm->qmp)
                return -EINVAL;
        if (vm->memory_merge == merge)
                return 0;
        /* "-m" makes QEMU's RAM a memory backend at this path; "-machine mem-merge=off" starts it unmerged. */
        args = json_object_new_object();
        if (!args || json_object_object_add(args, "path", json_object_new_string(QEMU_RAM_OBJECT)) < 0 ||
            json_object_object_add(args, "property", json_object_new_string("merge")) < 0 ||
            json_object_object_add(args, "value", json_object_new_boolean(merge)) < 0) {
                json_object_put(args);
                return -ENOMEM;
        }
        r = qmp_send(vm->qmp, "qom-set", args, on_merge_reply, vm);
        if (r < 0)
                return r;
        log_vm_info(vm->name, "KSM %s the memory of %s.", merge ? "may merge" : "no longer merges", vm->name);
        vm->memory_merge = merge;
        (void) vm_send_changed(vm, "MemoryMerging", NULL);
        return 0;
}

uint64_t vm_host_resident_kib(const VM *vm) {
        _cleanup_free_ char *text = NULL;
        const char *p;

        if (vm_read_proc(vm, vm->pid, "status", &text, NULL) < 0)
                return 0;
        p = strstr(text, "\nVmRSS:");
        return p ? strtoull(p + strlen("\nVmRSS:"), NULL, 10) : 0;
}

static void on_reset_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;

        if (error_class)
                log_vm_warning_errno(vm->name, 0, "QEMU refused to reset %s: %s", vm->name, strna(error_desc));
}

/* The guest was asked to reboot and did not get its VMM to end in time (stuck syncing its disk, say): the
 * reset button. The boot timeout then covers a guest that never comes back. */
static int on_reboot_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        VM *vm = userdata;

        log_vm_notice(vm->name, "Guest of %s did not reboot in time, resetting it.", vm->name);
        vm->timer = sd_event_source_disable_unref(vm->timer);
        if (!vm->qmp || qmp_send(vm->qmp, "system_reset", NULL, on_reset_reply, vm) < 0)
                vm_abort(vm, "the guest did not reboot and cannot be reset");
        else
                (void) vm_timer_set(vm, vm->manager->config.boot_timeout_usec, on_boot_timeout);
        return 0;
}

int vm_reboot(VM *vm) {
        bool agent = agent_client_is_ready(vm->agent);
        int r;

        if (vm->state != VM_RUNNING || vm->destroying || !vm_vmm_runs(vm))
                return -EINVAL;
        if (vm->snapshot_op != SNAPSHOT_OP_NONE || vm->crash || vm->crash_check != CRASH_CHECK_NONE)
                return -EBUSY;
        if (agent)
                r = agent_client_send(vm->agent, "REBOOT");
        else if (vm->qmp)
                r = qmp_send(vm->qmp, "system_reset", NULL, on_reset_reply, vm);
        else
                r = -ENOTCONN;
        if (r < 0)
                return r;
        /* Counted like a guest's own reboot. Its VMM ends with the reset (-no-reboot); one that does not
         * within a stop step is reset, like a stop escalates. */
        vm->agent_refresh_pending = false;
        vm_set_state(vm, VM_STARTING, NULL);
        return agent ? vm_timer_set(vm, vm->manager->config.stop_timeout_usec, on_reboot_timeout) :
                       vm_timer_set(vm, vm->manager->config.boot_timeout_usec, on_boot_timeout);
}

int vm_destroy(VM *vm, Operation *op) {
        Manager *m = vm->manager;
        int r;

        if (op) {
                if (vm->pending[PENDING_DESTROY])
                        return -EBUSY;
                vm->pending[PENDING_DESTROY] = op;
        }
        vm->destroying = true;
        vm_crash_abort(vm);
        if (vm_is_active(vm)) {
                /* Finished from the exit handlers. */
                vm->timer = sd_event_source_disable_unref(vm->timer);
                return vm_kill(vm, SIGKILL);
        }

        /* The record goes first: a crash after it leaves only files, which startup sweeps away. */
        r = store_vm_delete(m->store, vm->name);
        if (r < 0 && r != -ENOENT) {
                log_vm_error_errno(vm->name, r, "Failed to remove %s from the store: %m", vm->name);
                vm->destroying = false;
                vm_complete_pending(vm, PENDING_DESTROY, r, "Failed to update the state database");
                return r;
        }
        vm_remove_files(vm);
        /* Its crash bundles go with it, but the kept ones. */
        r = crash_remove_vm(m->config.state_dir, vm->name);
        if (r < 0)
                log_vm_warning_errno(
                        vm->name, r, "Failed to remove the crash bundles of %s, ignoring: %m", vm->name);
        log_vm_info(vm->name, "VM %s removed.", vm->name);

        if (streq_ptr(m->foreground, vm->name))
                manager_set_foreground(m, "", NULL);
        vm_complete_pending(vm, PENDING_START, -EIO, "The VM was destroyed");
        vm_complete_pending(vm, PENDING_PAUSE, -EIO, "The VM was destroyed");
        vm_complete_pending(vm, PENDING_DESTROY, 0, NULL);
        (void) manager_send_vm_removed(m, vm);
        _cleanup_free_ char *clone_of = vm->golden ? strdup(vm->persona) : NULL;
        vm_free(vm);
        manager_notify_status(m);
        /* The last clone of an old golden snapshot takes it along. */
        if (clone_of)
                golden_collect(m, clone_of);
        if (m->exiting)
                manager_begin_exit(m);
        return 0;
}

/* True if pid runs the VM's VMM for this VM: what a stale pid in the store might otherwise hit. Its name is
 * in QEMU's "-name guest=NAME,..." and in vmm-hv's "--name=NAME" (one argument: the NUL after it counts). */
static bool pid_is_our_vmm(const VM *vm, pid_t pid) {
        _cleanup_free_ char *cmdline = NULL, *needle = NULL;
        size_t n;
        int k;

        if (vm_read_proc(vm, pid, "cmdline", &cmdline, &n) < 0)
                return false;
        k = vm->vmm == VMM_HV ? asprintf(&needle, "--name=%s%c", vm->name, 0) :
                                asprintf(&needle, "guest=%s,", vm->name);
        return k > 0 && memmem(cmdline, n, needle, (size_t) k) != NULL;
}

/* Connects to a unix socket the VMM listens on. */
static int socket_connect(const char *path, int *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        *ret = TAKE_FD(fd);
        return 0;
}

/* Takes over the VMM an earlier vmmd started: its pidfd tells when it ends, QMP and the agent accept a new
 * connection (QEMU's server sockets listen again once the old vmmd's side closed). */
static int vm_adopt(VM *vm) {
        _cleanup_close_ int pidfd = -EBADF, qmp_fd = -EBADF, agent_fd = -EBADF;
        _cleanup_free_ char *qmp_path = NULL, *agent_path = NULL;
        Manager *m = vm->manager;
        int r;

        if (asprintf(&qmp_path, "%s/qmp.sock", vm->runtime_dir) < 0 ||
            asprintf(&agent_path, "%s/agent.sock", vm->runtime_dir) < 0)
                return -ENOMEM;
        pidfd = (int) syscall(SYS_pidfd_open, vm->pid, 0);
        if (pidfd < 0)
                return -errno;
        r = socket_connect(qmp_path, &qmp_fd);
        if (r >= 0)
                r = socket_connect(agent_path, &agent_fd);
        if (r < 0)
                return r;

        r = sd_event_add_io(m->event, &vm->adopted_source, pidfd, EPOLLIN, on_adopted_vmm_exit, vm);
        if (r < 0)
                return r;
        (void) sd_event_source_set_io_fd_own(vm->adopted_source, true);
        TAKE_FD(pidfd);
        r = qmp_client_new(m->event, qmp_fd, &vm->qmp);
        if (r >= 0) {
                TAKE_FD(qmp_fd);
                qmp_client_set_handlers(vm->qmp, on_qmp_ready, on_qmp_event, on_qmp_disconnect, vm);
                r = agent_client_new(m->event, agent_fd, &agent_handlers, vm, &vm->agent);
        }
        if (r >= 0) {
                TAKE_FD(agent_fd);
                /* The answer tells that the guest runs; the agent also greets a new host with READY. */
                r = agent_client_send(vm->agent, "PING adopt");
        }
        if (r >= 0 && vm->state == VM_STARTING)
                r = vm_timer_set(vm, m->config.boot_timeout_usec, on_boot_timeout);
        if (r < 0) {
                vm->adopted_source = sd_event_source_disable_unref(vm->adopted_source);
                vm->qmp = qmp_client_free(vm->qmp);
                vm->agent = agent_client_free(vm->agent);
                return r;
        }
        /* What the earlier vmmd let KSM do is not known: the memory policy says it again, unmerging what it
         * must. */
        vm->memory_merge = true;
        log_vm_notice(
                vm->name,
                "Adopted %s of %s (pid %d), %s, from an earlier vmmd.",
                vmm_display_name(vm->vmm),
                vm->name,
                (int) vm->pid,
                vm_state_to_string(vm->state));
        if (vm->state == VM_STOPPING)
                (void) vm_stop_step(vm, STOP_AGENT);
        return 0;
}

int vm_reconcile_after_restart(VM *vm) {
        bool ran = IN_SET(vm->state, VM_STARTING, VM_RUNNING, VM_PAUSED, VM_STOPPING);
        int r;

        if (ran && vm->pid > 0 && pid_is_our_vmm(vm, vm->pid)) {
                r = vm_adopt(vm);
                if (r >= 0)
                        return 0;
                log_vm_warning_errno(
                        vm->name,
                        r,
                        "Failed to adopt %s of %s (pid %d), ending it: %m",
                        vmm_display_name(vm->vmm),
                        vm->name,
                        (int) vm->pid);
        }
        if (vm->pid > 0 && pid_is_our_vmm(vm, vm->pid)) {
                _cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, vm->pid, 0);

                /* Startup, before READY=1: waiting here (bounded) keeps the order simple: the old VMM is
                 * gone before anyone can start the VM again. */
                if (pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) >= 0)
                        (void) poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, 5000);
        }
        vm->pid = 0;
        (void) rm_rf(vm->runtime_dir);
        if (vm->ephemeral)
                /* A throwaway whose VMM is gone leaves nothing behind. */
                return vm_destroy(vm, NULL);
        if (ran)
                vm_set_state(vm, VM_FAILED, "the VMM ended while vmmd was not running");
        return 0;
}
