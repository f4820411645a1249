/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Snapshots of a VM: qcow2 internal snapshots of its disk. A running or paused VM's snapshot holds its RAM
 * and device state too (QEMU's snapshot-save/-load/-delete jobs, on the event loop like every QMP
 * command); a stopped VM's is disk-only (qemu-img snapshot, a helper process). The disk file itself is the
 * list of snapshots: QEMU and qemu-img replace its snapshot table in one write, so a crash of vmmd or of
 * the VMM at any moment leaves a snapshot either whole or absent, and nothing to reconcile. */
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include "bus-errors.h"
#include "log.h"
#include "manager-dbus.h"
#include "names.h"
#include "vm-dbus.h"
#include "vm-identity.h"
#include "vm-internal.h"

static const struct {
        const char *gerund, *infinitive;
        const char *qmp_command;   /* the QEMU job, for a running or paused VM */
        const char *qemu_img_flag; /* qemu-img snapshot's, for a stopped one */
} ops[_SNAPSHOT_OP_MAX] = {
        [SNAPSHOT_OP_SAVE] = { "taken", "take", "snapshot-save", "-c" },
        [SNAPSHOT_OP_LOAD] = { "restored", "restore", "snapshot-load", "-a" },
        [SNAPSHOT_OP_DELETE] = { "deleted", "delete", "snapshot-delete", "-d" },
};

/* The node name of the disk in QEMU's command line (qemu.c), which also holds the VM state. */
#define DISK_NODE "disk0"

/* The disk is the VM's: read as the VM, whatever it put there. */
static int vm_read_snapshots(VM *vm, Qcow2Snapshot **ret, size_t *ret_n) {
        _cleanup_(vm_fs_leave) _unused_ VMFs fs = vm_fs_enter(vm);

        return qcow2_read_snapshots_at(vm->disk_path, ret, ret_n);
}

int vm_list_snapshots(VM *vm, Qcow2Snapshot **ret, size_t *ret_n) {
        /* vmm-hv's raw disk holds none. */
        int r = vm->vmm == VMM_HV ? -ENOENT : vm_read_snapshots(vm, ret, ret_n);

        if (r == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        return r;
}

static bool vm_snapshot_runs_in_qemu(const VM *vm) {
        return IN_SET(vm->state, VM_RUNNING, VM_PAUSED) && vm->qmp && vm_vmm_runs(vm);
}

/* Ends the operation in progress: answers its caller (with the snapshot's name for Snapshot()). */
static void vm_snapshot_finish(VM *vm, int r, const char *message) {
        SnapshotOp op = vm->snapshot_op;

        if (op == SNAPSHOT_OP_NONE)
                return;
        if (r < 0)
                log_vm_warning_errno(
                        vm->name,
                        0,
                        "Snapshot \"%s\" of %s could not be %s: %s",
                        vm->snapshot_name,
                        vm->name,
                        ops[op].gerund,
                        message);
        else
                log_vm_info(vm->name, "Snapshot \"%s\" of %s %s.", vm->snapshot_name, vm->name, ops[op].gerund);
        vm_complete_pending(vm, PENDING_SNAPSHOT, r, message);
        vm->snapshot_op = SNAPSHOT_OP_NONE;
        vm->snapshot_name = mfree(vm->snapshot_name);
        vm->snapshot_job = mfree(vm->snapshot_job);
}

static void vm_snapshot_failf(VM *vm, const char *fmt, ...) _printf_(2, 3);
static void vm_snapshot_failf(VM *vm, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        vm_snapshot_finish(vm, -EIO, msg ?: "Out of memory");
}

void vm_snapshot_abort(VM *vm, const char *message) {
        if (vm->snapshot_job)
                vm_snapshot_failf(
                        vm,
                        "Snapshot \"%s\" of \"%s\" could not be %s: %s",
                        vm->snapshot_name,
                        vm->name,
                        ops[vm->snapshot_op].gerund,
                        message);
}

static void on_dismiss_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;

        if (error_class)
                log_vm_debug(vm->name, "QEMU did not dismiss the snapshot job: %s", strna(error_desc));
}

/* QEMU's job concluded: query-jobs tells whether it failed. */
static void on_query_jobs_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;
        SnapshotOp op = vm->snapshot_op;
        const char *error = NULL;
        bool found = false;

        if (!vm->snapshot_job)
                return;
        if (error_class) {
                vm_snapshot_failf(vm, "QEMU refused query-jobs: %s", strna(error_desc));
                return;
        }
        for (size_t i = 0;
             json_object_is_type(result, json_type_array) && i < json_object_array_length(result);
             i++) {
                json_object *job = json_object_array_get_idx(result, i), *id, *e;

                if (!json_object_object_get_ex(job, "id", &id) || !json_object_is_type(id, json_type_string) ||
                    !streq(json_object_get_string(id), vm->snapshot_job))
                        continue;
                found = true;
                if (json_object_object_get_ex(job, "error", &e) && json_object_is_type(e, json_type_string))
                        error = json_object_get_string(e);
        }
        if (found) {
                json_object *args = json_object_new_object();

                /* Concluded jobs stay until dismissed. */
                if (args && json_object_object_add(args, "id", json_object_new_string(vm->snapshot_job)) == 0)
                        (void) qmp_send(vm->qmp, "job-dismiss", TAKE_PTR(args), on_dismiss_reply, vm);
                json_object_put(args);
        }

        if (!found || error) {
                _cleanup_free_ char *reason = utf8_printable(error ?: "QEMU does not know the job", 200);

                vm_snapshot_failf(
                        vm,
                        "Snapshot \"%s\" of \"%s\" could not be %s: %s",
                        vm->snapshot_name,
                        vm->name,
                        ops[op].gerund,
                        strna(reason));
                /* A load that failed half-way leaves a guest that is neither the old one nor the snapshot. */
                if (op == SNAPSHOT_OP_LOAD)
                        vm_abort(vm, "restoring a snapshot failed");
                return;
        }
        /* The guest is back where the snapshot was taken: running again once its agent answers. */
        if (op == SNAPSHOT_OP_LOAD && vm->state == VM_RUNNING) {
                int r = vm_expect_guest_back(vm);

                if (r < 0)
                        vm_abort(vm, "the guest agent cannot be reached after the restore");
        } else if (op == SNAPSHOT_OP_LOAD)
                vm->restored_while_paused = true;
        vm_snapshot_finish(vm, 0, NULL);
}

void vm_snapshot_on_qmp_event(VM *vm, const char *event, json_object *data) {
        json_object *id, *status;
        int r;

        if (!vm->snapshot_job || !streq(event, "JOB_STATUS_CHANGE") ||
            !json_object_object_get_ex(data, "id", &id) ||
            !json_object_object_get_ex(data, "status", &status) ||
            !streq_ptr(json_object_get_string(id), vm->snapshot_job) ||
            !streq_ptr(json_object_get_string(status), "concluded"))
                return;
        r = qmp_send(vm->qmp, "query-jobs", NULL, on_query_jobs_reply, vm);
        if (r < 0)
                vm_snapshot_failf(vm, "Failed to ask QEMU about the snapshot job: %s", strerror(-r));
}

static void on_job_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;

        /* Success says only that the job was created: its end comes as JOB_STATUS_CHANGE. */
        if (error_class && vm->snapshot_job) {
                _cleanup_free_ char *reason = utf8_printable(strna(error_desc), 200);

                vm_snapshot_failf(
                        vm, "QEMU refused to %s the snapshot: %s", ops[vm->snapshot_op].infinitive, reason);
        }
}

static int on_helper_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        VM *vm = userdata;

        vm->helper_source = sd_event_source_disable_unref(vm->helper_source);
        if (vm->destroying) {
                vm_snapshot_failf(vm, "VM \"%s\" was destroyed", vm->name);
                (void) vm_destroy(vm, NULL);
                return 0;
        }

        _cleanup_free_ char *failure = vm_helper_failure(vm, si);
        vm_snapshot_finish(vm, failure ? -EIO : 0, failure);
        if (vm->manager->exiting)
                manager_begin_exit(vm->manager);
        return 0;
}

/* {"job-id": job, "tag": tag, "devices": ["disk0"]}, with "vmstate": "disk0" to save or load the VM state:
 * the disk is named explicitly, QEMU would otherwise pick among all writable block nodes. */
static json_object *job_arguments(const char *job, const char *tag, bool vmstate) {
        json_object *o = json_object_new_object(), *devices = json_object_new_array();

        if (!o || !devices || json_object_object_add(o, "devices", devices) < 0) {
                json_object_put(o);
                json_object_put(devices);
                return NULL;
        }
        /* devices belongs to o from here on. */
        if (json_object_array_add(devices, json_object_new_string(DISK_NODE)) < 0 ||
            json_object_object_add(o, "job-id", json_object_new_string(job)) < 0 ||
            json_object_object_add(o, "tag", json_object_new_string(tag)) < 0 ||
            (vmstate && json_object_object_add(o, "vmstate", json_object_new_string(DISK_NODE)) < 0)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static int vm_snapshot_begin(VM *vm, SnapshotOp op, const char *name, Operation *operation) {
        _cleanup_free_ char *job = NULL, *tag = strdup(name);
        int r;

        if (!tag)
                return -ENOMEM;
        if (vm_snapshot_runs_in_qemu(vm)) {
                /* Unique, so that a job left behind by an earlier vmmd (crashed mid-way) never collides. */
                if (asprintf(&job, "vmmd-%s-%" PRIu64, ops[op].infinitive, now_usec(CLOCK_REALTIME)) < 0)
                        return -ENOMEM;
                json_object *args = job_arguments(job, name, op != SNAPSHOT_OP_DELETE);
                if (!args)
                        return -ENOMEM;
                r = qmp_send(vm->qmp, ops[op].qmp_command, args, on_job_reply, vm);
                if (r < 0)
                        return r;
                vm->snapshot_job = TAKE_PTR(job);
        } else {
                char *argv[] = { vm->manager->config.qemu_img,
                                 (char *) "snapshot",
                                 (char *) ops[op].qemu_img_flag,
                                 tag,
                                 vm->disk_path,
                                 NULL };

                r = vm_spawn_helper(vm, argv, on_helper_exit);
                if (r < 0)
                        return r;
        }
        vm->snapshot_op = op;
        vm->snapshot_name = TAKE_PTR(tag);
        vm->pending[PENDING_SNAPSHOT] = operation;
        log_vm_info(
                vm->name,
                "Snapshot \"%s\" of %s is being %s%s.",
                name,
                vm->name,
                ops[op].gerund,
                vm->snapshot_job ? "" : " (disk only, the VM is stopped)");
        return 0;
}

/* Whether the operation may begin now; then the snapshots in the disk. */
static int vm_snapshot_prepare(VM *vm, Qcow2Snapshot **ret, size_t *ret_n, char **ret_error) {
        bool stopped = IN_SET(vm->state, VM_CREATED, VM_STOPPED, VM_FAILED) && !vm_is_active(vm);
        int r;

        if (vm->destroying)
                return errorf(ret_error, -EINVAL, "VM \"%s\" is being destroyed", vm->name);
        if (vm->vmm == VMM_HV)
                return errorf(
                        ret_error,
                        -EOPNOTSUPP,
                        "VM \"%s\" runs in vmm-hv, whose raw disk keeps no snapshots (its persona's \"vmm: qemu\" "
                        "does)",
                        vm->name);
        if (vm->snapshot_op != SNAPSHOT_OP_NONE)
                return errorf(
                        ret_error,
                        -EBUSY,
                        "VM \"%s\" is busy: snapshot \"%s\" is being %s",
                        vm->name,
                        vm->snapshot_name,
                        ops[vm->snapshot_op].gerund);
        if (vm->pending[PENDING_PAUSE])
                return errorf(ret_error, -EBUSY, "VM \"%s\" is busy pausing or resuming", vm->name);
        if (!vm_snapshot_runs_in_qemu(vm) && !stopped)
                return errorf(
                        ret_error,
                        -EINVAL,
                        "VM \"%s\" is %s; snapshots are of running, paused or stopped VMs",
                        vm->name,
                        vm_state_to_string(vm->state));
        if (!vm_disk_exists(vm))
                return errorf(
                        ret_error,
                        -ENOMEDIUM,
                        "VM \"%s\" has no disk yet (it is made when the VM first starts)",
                        vm->name);
        r = vm_read_snapshots(vm, ret, ret_n);
        if (r < 0)
                return errorf(ret_error, r, "its snapshot table cannot be read: %s", strerror(-r));
        return 0;
}

int vm_snapshot(VM *vm, const char *name, Operation *op, char **ret_error) {
        Qcow2Snapshot *list = NULL;
        char generated[32];
        size_t n = 0;
        int r;

        r = vm_snapshot_prepare(vm, &list, &n, ret_error);
        if (r < 0)
                return r;
        if (isempty(name)) {
                for (unsigned i = 1;; i++) {
                        (void) snprintf(generated, sizeof(generated), "snap-%u", i);
                        if (!qcow2_snapshot_find(list, n, generated))
                                break;
                }
                name = generated;
        } else if (qcow2_snapshot_find(list, n, name))
                r = errorf(ret_error, -EEXIST, "VM \"%s\" already has a snapshot \"%s\"", vm->name, name);
        qcow2_snapshots_free(list, n);
        if (r < 0)
                return r;
        return vm_snapshot_begin(vm, SNAPSHOT_OP_SAVE, name, op);
}

int vm_restore(VM *vm, const char *name, Operation *op, char **ret_error) {
        const Qcow2Snapshot *s;
        Qcow2Snapshot *list = NULL;
        bool with_state;
        size_t n = 0;
        int r;

        r = vm_snapshot_prepare(vm, &list, &n, ret_error);
        if (r < 0)
                return r;
        s = qcow2_snapshot_find(list, n, name);
        with_state = s && s->vm_state_size > 0;
        qcow2_snapshots_free(list, n);
        if (!s)
                return errorf(ret_error, -ENOENT, "VM \"%s\" has no snapshot \"%s\"", vm->name, name);

        if (vm_snapshot_runs_in_qemu(vm)) {
                if (!with_state)
                        return errorf(
                                ret_error,
                                -EINVAL,
                                "Snapshot \"%s\" holds no memory state (it was taken while \"%s\" was stopped): "
                                "stop the VM to restore it",
                                name,
                                vm->name);
                return vm_snapshot_begin(vm, SNAPSHOT_OP_LOAD, name, op);
        }
        if (!with_state)
                return vm_snapshot_begin(vm, SNAPSHOT_OP_LOAD, name, op);

        /* A stopped VM comes back where the snapshot left it: its next VMM starts from it. */
        vm->loadvm = strdup(name);
        if (!vm->loadvm)
                return -ENOMEM;
        log_vm_info(vm->name, "Starting %s from snapshot \"%s\".", vm->name, name);
        r = vm_start(vm, op, ret_error);
        if (r == -EINPROGRESS)
                r = errorf(ret_error, -EBUSY, "The image of \"%s\" is being verified; try again", vm->name);
        if (r < 0)
                vm->loadvm = mfree(vm->loadvm);
        return r;
}

int vm_delete_snapshot(VM *vm, const char *name, Operation *op, char **ret_error) {
        Qcow2Snapshot *list = NULL;
        bool found;
        size_t n = 0;
        int r;

        r = vm_snapshot_prepare(vm, &list, &n, ret_error);
        if (r < 0)
                return r;
        found = qcow2_snapshot_find(list, n, name);
        qcow2_snapshots_free(list, n);
        if (!found)
                return errorf(ret_error, -ENOENT, "VM \"%s\" has no snapshot \"%s\"", vm->name, name);
        return vm_snapshot_begin(vm, SNAPSHOT_OP_DELETE, name, op);
}
