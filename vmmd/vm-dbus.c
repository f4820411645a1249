/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.vmmd1.VM: methods, properties and object lookup for /org/vmmd1/vm/<name>. */
#include <stdarg.h>

#include "authorize.h"
#include "bus-errors.h"
#include "bus-util.h"
#include "log.h"
#include "names.h"
#include "vm-dbus.h"

static int property_get_state(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        VM *vm = userdata;

        return sd_bus_message_append(reply, "s", vm_state_to_string(vm->state));
}

static int property_get_foreground(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        VM *vm = userdata;

        return sd_bus_message_append(reply, "b", (int) streq_ptr(vm->manager->foreground, vm->name));
}

/* An error of vm.h's operations for the caller: message (NULL: a generic one, naming the VM and what) under
 * the org.vmmd1 error that operation.c's table gives the errno. */
static int reply_errno(sd_bus_error *error, int r, const char *message, VM *vm, const char *what) {
        _cleanup_free_ char *generic = NULL;

        if (!message && r == -EBUSY)
                (void) asprintf(&generic, "VM \"%s\" is busy with another %s", vm->name, what);
        else if (!message)
                (void) asprintf(&generic, "Failed to %s VM \"%s\": %s", what, vm->name, strerror(-r));
        return bus_error_set_errno(error, r, message ?: generic);
}

/* -EINVAL of vm.h's operations: the VM's state does not allow it; suffix says what would. */
_printf_(3, 4) static int reply_invalid_state(sd_bus_error *error, VM *vm, const char *suffix, ...) {
        _cleanup_free_ char *tail = NULL, *why = NULL;
        va_list ap;

        va_start(ap, suffix);
        if (vasprintf(&tail, suffix, ap) < 0)
                tail = NULL;
        va_end(ap);
        (void) asprintf(&why, "VM \"%s\" is %s%s", vm->name, vm_state_to_string(vm->state), strempty(tail));
        return bus_error_set_errno(error, -EINVAL, why);
}

static int method_start(sd_bus_message *m, void *userdata, sd_bus_error *error);

/* The VM may be gone by the time its image is verified: look it up again. */
static void redispatch_start(sd_bus_message *m, void *userdata) {
        _cleanup_free_ char *name = NULL;
        VM *vm = NULL;

        if (sd_bus_path_decode(sd_bus_message_get_path(m), VMMD_VM_PATH_PREFIX, &name) > 0)
                vm = manager_find_vm(userdata, name);
        if (!vm) {
                (void) sd_bus_reply_method_errorf(
                        m, SD_BUS_ERROR_UNKNOWN_OBJECT, "Unknown object '%s'.", sd_bus_message_get_path(m));
                return;
        }
        bus_redispatch(m, method_start, vm);
}

static int method_start(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(operation_freep) Operation *op = operation_new(m, NULL, NULL);
        _cleanup_free_ char *msg = NULL;
        VM *vm = userdata;
        int r;

        if (!op)
                return -ENOMEM;
        r = vm_start(vm, op, &msg);
        if (r == -EINPROGRESS) {
                r = image_cache_wait(vm->manager->images, vm->image, m, redispatch_start, vm->manager);
                return r < 0 ? reply_errno(error, -EBUSY, NULL, vm, "start") : 1;
        }
        if (r < 0)
                return reply_errno(error, r, msg, vm, "start");
        if (r > 0)
                return sd_bus_reply_method_return(m, NULL);
        TAKE_PTR(op); /* the VM's: answered when the VMM runs */
        return 1;
}

static int method_stop(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        VM *vm = userdata;
        int force, r;

        r = sd_bus_message_read(m, "b", &force);
        if (r < 0)
                return r;
        r = vm_stop(vm, force);
        if (r == -EINVAL)
                return reply_invalid_state(error, vm, ", not running");
        if (r < 0)
                return reply_errno(error, r, NULL, vm, "stop");
        return sd_bus_reply_method_return(m, NULL);
}

static int pause_or_resume(sd_bus_message *m, VM *vm, bool pause, sd_bus_error *error) {
        _cleanup_(operation_freep) Operation *op = operation_new(m, NULL, NULL);
        int r;

        if (!op)
                return -ENOMEM;
        r = vm_pause(vm, pause, op);
        if (r == -EINVAL)
                return reply_invalid_state(
                        error,
                        vm,
                        "; only a %s VM can be %s",
                        pause ? "running" : "paused",
                        pause ? "paused" : "resumed");
        if (r < 0)
                return reply_errno(error, r, NULL, vm, pause ? "pause" : "resume");
        TAKE_PTR(op);
        return 1;
}

static int method_pause(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return pause_or_resume(m, userdata, true, error);
}

static int method_resume(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return pause_or_resume(m, userdata, false, error);
}

static int method_reboot(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        VM *vm = userdata;
        int r;

        r = vm_reboot(vm);
        if (r == -EINVAL)
                return reply_invalid_state(error, vm, "; only a running VM can reboot");
        if (r < 0)
                return reply_errno(error, r, NULL, vm, "reboot");
        return sd_bus_reply_method_return(m, NULL);
}

static int method_destroy(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(operation_freep) Operation *op = operation_new(m, NULL, NULL);
        VM *vm = userdata;
        int r;

        if (!op)
                return -ENOMEM;
        /* May answer and free the VM before returning; the operation is the VM's but for -EBUSY. */
        r = vm_destroy(vm, op);
        if (r == -EBUSY)
                return reply_errno(error, r, "VM is already being destroyed", vm, "destroy");
        TAKE_PTR(op);
        return 1;
}

static int property_get_host_resident(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", vm_host_resident_kib(userdata));
}

/* PSI "some" avg10 of the VM's scope, percent; -1 where its VMM has no scope (no systemd) or runs not. */
static int property_get_memory_pressure(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        VM *vm = userdata;
        double v = -1;

        if (vm->pid <= 0 || scope_read_pressure(vm->pid, vm->name, &v) < 0)
                v = -1;
        return sd_bus_message_append(reply, "d", v);
}

static int method_set_memory_target(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(operation_freep) Operation *op = operation_new(m, NULL, NULL);
        _cleanup_free_ char *why = NULL;
        VM *vm = userdata;
        uint64_t mib;
        int r;

        if (!op)
                return -ENOMEM;
        r = sd_bus_message_read(m, "t", &mib);
        if (r < 0)
                return r;
        r = vm_set_memory_target(vm, mib, true, op, &why);
        if (r == -EINVAL && !why)
                return reply_invalid_state(error, vm, "; only a running VM's memory can be changed");
        if (r == -ERANGE && !why)
                (void) asprintf(
                        &why,
                        "Memory target %" PRIu64 " MiB is out of range [%u, %" PRIu64 "] (the VM's memory)",
                        mib,
                        VM_MEMORY_TARGET_MIN_MIB,
                        vm->memory_mib);
        if (r < 0)
                return reply_errno(error, r, why, vm, "change the memory of");
        TAKE_PTR(op); /* answered when QEMU took it */
        return 1;
}

/* Snapshot's answer: the name it was taken under (generated, perhaps). */
static int snapshot_reply(sd_bus_message *reply, void *userdata) {
        VM *vm = userdata;

        return sd_bus_message_append(reply, "s", vm->snapshot_name);
}

typedef int (*snapshot_op_t)(VM *vm, const char *name, Operation *op, char **ret_error);

/* Snapshot, Restore, DeleteSnapshot: a valid name (Snapshot may leave it empty), then the operation,
 * answered when it ends. */
static int snapshot_call(
        sd_bus_message *m,
        VM *vm,
        snapshot_op_t op,
        OperationReply reply,
        const char *what,
        bool may_be_empty,
        sd_bus_error *error) {
        _cleanup_(operation_freep) Operation *o = operation_new(m, reply, vm);
        _cleanup_free_ char *msg = NULL;
        const char *name, *why;
        int r;

        r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        if (!(may_be_empty && isempty(name)) && (why = snapshot_name_invalid_reason(name))) {
                _cleanup_free_ char *shown = utf8_printable(name, 80);

                return sd_bus_error_setf(
                        error, VMMD_ERROR_INVALID_ARGUMENT, "Snapshot name \"%s\" %s", strna(shown), why);
        }
        if (!o)
                return -ENOMEM;
        r = op(vm, name, o, &msg);
        if (r < 0)
                return reply_errno(error, r, msg, vm, what);
        TAKE_PTR(o);
        return 1;
}

static int method_snapshot(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return snapshot_call(m, userdata, vm_snapshot, snapshot_reply, "take a snapshot of", true, error);
}

static int method_restore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return snapshot_call(m, userdata, vm_restore, NULL, "restore", false, error);
}

static int method_delete_snapshot(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return snapshot_call(m, userdata, vm_delete_snapshot, NULL, "delete a snapshot of", false, error);
}

/* ListSnapshots (name, creation time) and ListSnapshotsDetailed (and the size of the saved VM state). */
static int list_snapshots(sd_bus_message *m, VM *vm, bool detailed, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Qcow2Snapshot *list = NULL;
        size_t n = 0;
        int r;

        r = vm_list_snapshots(vm, &list, &n);
        if (r < 0) {
                _cleanup_free_ char *why = NULL;

                (void) asprintf(
                        &why,
                        "Failed to read the snapshots of \"%s\": %s",
                        vm->name,
                        r == -EBADMSG        ? "its disk's snapshot table is damaged" :
                                r == -EBADFD ? "its disk is not a regular file" :
                                               strerror(-r));
                return reply_errno(error, r, why, vm, "list the snapshots of");
        }

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', detailed ? "(stt)" : "(st)");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                /* A name vmmd did not write (someone ran qemu-img on the disk) that D-Bus cannot carry. */
                if (!utf8_is_valid(list[i].name))
                        continue;
                if (detailed)
                        r = sd_bus_message_append(
                                reply, "(stt)", list[i].name, list[i].created_usec, list[i].vm_state_size);
                else
                        r = sd_bus_message_append(reply, "(st)", list[i].name, list[i].created_usec);
        }
        qcow2_snapshots_free(list, n);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_snapshots(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return list_snapshots(m, userdata, false, error);
}

static int method_list_snapshots_detailed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return list_snapshots(m, userdata, true, error);
}

static int method_read_guest(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(operation_freep) Operation *op = operation_new(m, NULL, NULL);
        _cleanup_free_ char *msg = NULL;
        const char *item;
        int r;

        if (!op)
                return -ENOMEM;
        r = sd_bus_message_read(m, "s", &item);
        if (r < 0)
                return r;
        r = vm_read_guest(userdata, item, op, &msg);
        if (r < 0)
                return reply_errno(error, r, msg, userdata, "ask the guest of");
        TAKE_PTR(op); /* answered with the agent's answer */
        return 1;
}

static int method_crash_test(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *msg = NULL;
        VM *vm = userdata;
        int force, r;

        r = sd_bus_message_read(m, "b", &force);
        if (r < 0)
                return r;
        r = vm_crash_test(vm, force, &msg);
        if (r == -EINVAL)
                return reply_invalid_state(error, vm, "; only a running guest with its agent can be crashed");
        if (r < 0)
                return reply_errno(error, r, msg, vm, "crash");
        /* The panic follows: Crashed, and LastCrash changes, once its bundle is saved. */
        return sd_bus_reply_method_return(m, NULL);
}

static int debug_method(
        sd_bus_message *m, VM *vm, int (*fn)(VM *, Operation *), const char *what, sd_bus_error *error) {
        _cleanup_(operation_freep) Operation *op = operation_new(m, NULL, NULL);
        int r;

        if (!op)
                return -ENOMEM;
        /* vmm-hv has no gdbstub and no memory dump: a persona with "vmm: qemu" is debugged. */
        if (vm->vmm == VMM_HV)
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_NOT_SUPPORTED,
                        "Cannot %s VM \"%s\": it runs in vmm-hv, which has no debugger stub and no memory dump "
                        "(a persona with \"vmm: qemu\" has both)",
                        what,
                        vm->name);
        r = fn(vm, op);
        if (r == -EINVAL)
                return reply_invalid_state(error, vm, "; only a guest whose VMM runs can be debugged");
        if (r == -EBUSY)
                return reply_errno(
                        error,
                        r,
                        vm->debugger ? "A debugger is attached already (one at a time)" :
                                vm->crash ?
                                       "A crash bundle is being saved" :
                                       "The VM is busy (its kernel symbols are being read, or a snapshot)",
                        vm,
                        what);
        if (r < 0)
                return reply_errno(error, r, NULL, vm, what);
        TAKE_PTR(op); /* answered with the fd */
        return 1;
}

static int method_get_debug_symbols(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return debug_method(m, userdata, vm_debug_symbols, "read the kernel symbols of", error);
}

static int method_open_debugger(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return debug_method(m, userdata, vm_open_debugger, "attach a debugger to", error);
}

static int method_open_display(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(operation_freep) Operation *op = operation_new(m, NULL, NULL);
        VM *vm = userdata;
        int r;

        if (!op)
                return -ENOMEM;
        r = vm_open_display(vm, op);
        if (r == -EOPNOTSUPP)
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_NOT_SUPPORTED,
                        vm->vmm == VMM_HV ?
                                "VM \"%s\" runs in vmm-hv, which has no screen (a persona with \"vmm: "
                                "qemu\" has one)" :
                                "VM \"%s\" has no screen: its persona says \"display: none\"",
                        vm->name);
        if (r == -EINVAL)
                return reply_invalid_state(error, vm, "; only a VM whose VMM runs has a screen to show");
        if (r == -EBUSY)
                return reply_errno(error, r, "Too many callers wait for its screen; try again", vm, "show");
        if (r < 0)
                return reply_errno(error, r, NULL, vm, "show");
        TAKE_PTR(op); /* answered with the socket */
        return 1;
}

static int property_get_color(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        VM *vm = userdata;
        char s[8];

        (void) snprintf(s, sizeof(s), "#%06" PRIx32, vm->color & 0xffffffU);
        return sd_bus_message_append(reply, "s", s);
}

static int property_get_vmm(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        VM *vm = userdata;

        return sd_bus_message_append(reply, "s", vmm_kind_to_string(vm->vmm));
}

static int property_get_debugger(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        VM *vm = userdata;

        return sd_bus_message_append(reply, "b", (int) !!vm->debugger);
}

static int reply_memtest(sd_bus_message *reply, void *userdata) {
        const MemTestResult *r = userdata;
        int k;

        k = sd_bus_message_append(reply, "tt", r->units, r->bad);
        if (k >= 0)
                k = sd_bus_message_append_array(reply, 't', r->first, r->n_first * sizeof(uint64_t));
        return k;
}

static int method_memtest(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(operation_freep) Operation *op = NULL;
        _cleanup_free_ char *msg = NULL, *shown = NULL;
        MemTestResult *result;
        const char *action;
        uint64_t mib, value;
        MemTestAction a;
        int r;

        r = sd_bus_message_read(m, "stt", &action, &mib, &value);
        if (r < 0)
                return r;
        a = memtest_action_from_string(action);
        if (a < 0) {
                shown = utf8_printable(action, 64);
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_INVALID_ARGUMENT,
                        "Unknown MemTest action \"%s\": expected fill, check, free or poke",
                        strna(shown));
        }
        result = calloc(1, sizeof(MemTestResult));
        op = result ? operation_new_owning(m, reply_memtest, result) : NULL;
        if (!op) {
                free(result);
                return -ENOMEM;
        }
        r = vm_memtest(userdata, a, mib, value, op, &msg);
        if (r < 0)
                return reply_errno(error, r, msg, userdata, "test the memory of");
        TAKE_PTR(op); /* answered with the agent's answer */
        return 1;
}

const sd_bus_vtable vm_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(VM, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Persona", "s", NULL, offsetof(VM, persona), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Image", "s", NULL, offsetof(VM, image), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "FailureReason",
                "s",
                bus_property_get_string,
                offsetof(VM, failure_reason),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "Ephemeral", "b", bus_property_get_bool, offsetof(VM, ephemeral), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Foreground", "b", property_get_foreground, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MemoryMiB", "t", NULL, offsetof(VM, memory_mib), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("VCPUs", "u", NULL, offsetof(VM, vcpus), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Accel", "s", NULL, offsetof(VM, accel), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("VMM", "s", property_get_vmm, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("OwnerUID", "u", NULL, offsetof(VM, owner_uid), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("UID", "u", NULL, offsetof(VM, uid), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MachineID", "s", NULL, offsetof(VM, machine_id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY(
                "GoldenSnapshot", "s", bus_property_get_string, offsetof(VM, golden), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY(
                "InstanceID",
                "s",
                bus_property_get_string,
                offsetof(VM, instance_id),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "CreationTimestamp", "t", NULL, offsetof(VM, created_usec), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Leader", "u", NULL, offsetof(VM, pid), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "AgentVersion",
                "s",
                bus_property_get_string,
                offsetof(VM, agent_version),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "MemoryTargetMiB", "t", NULL, offsetof(VM, memory_target_mib), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "MemoryActualMiB", "t", NULL, offsetof(VM, memory_actual_mib), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "MemoryRequestedMiB",
                "t",
                NULL,
                offsetof(VM, memory_requested_mib),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "MemoryMerging",
                "b",
                bus_property_get_bool,
                offsetof(VM, memory_merge),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MemoryPressure", "d", property_get_memory_pressure, 0, 0),
        SD_BUS_PROPERTY("HostResidentKiB", "t", property_get_host_resident, 0, 0),
        SD_BUS_PROPERTY(
                "GuestBootID",
                "s",
                bus_property_get_string,
                offsetof(VM, guest_boot_id),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "GuestMemoryTotalKiB",
                "t",
                NULL,
                offsetof(VM, guest_memory_total_kib),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "GuestMemoryAvailableKiB",
                "t",
                NULL,
                offsetof(VM, guest_memory_available_kib),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "LastCrash",
                "s",
                bus_property_get_string,
                offsetof(VM, last_crash),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD("Start", NULL, NULL, method_start, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Stop", SD_BUS_ARGS("b", force), SD_BUS_NO_RESULT, method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Pause", NULL, NULL, method_pause, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Resume", NULL, NULL, method_resume, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Reboot", NULL, NULL, method_reboot, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Destroy", NULL, NULL, method_destroy, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "SetMemoryTarget",
                SD_BUS_ARGS("t", mib),
                SD_BUS_NO_RESULT,
                method_set_memory_target,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Snapshot",
                SD_BUS_ARGS("s", name),
                SD_BUS_RESULT("s", name),
                method_snapshot,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Restore", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method_restore, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "ListSnapshots",
                SD_BUS_NO_ARGS,
                SD_BUS_RESULT("a(st)", snapshots),
                method_list_snapshots,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "ListSnapshotsDetailed",
                SD_BUS_NO_ARGS,
                SD_BUS_RESULT("a(stt)", snapshots),
                method_list_snapshots_detailed,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "ReadGuest",
                SD_BUS_ARGS("s", item),
                SD_BUS_RESULT("s", value),
                method_read_guest,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("Color", "s", property_get_color, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "DisplayWidth", "u", NULL, offsetof(VM, display_width), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "DisplayHeight", "u", NULL, offsetof(VM, display_height), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS(
                "OpenDisplay",
                SD_BUS_NO_ARGS,
                SD_BUS_RESULT("h", connection),
                method_open_display,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("DebuggerAttached", "b", property_get_debugger, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS(
                "GetDebugSymbols",
                SD_BUS_NO_ARGS,
                SD_BUS_RESULT("h", symbols),
                method_get_debug_symbols,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "OpenDebugger",
                SD_BUS_NO_ARGS,
                SD_BUS_RESULT("h", connection),
                method_open_debugger,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "MemTest",
                SD_BUS_ARGS("s", action, "t", mib, "t", value),
                SD_BUS_RESULT("t", units, "t", bad, "at", first_bad),
                method_memtest,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "CrashTest",
                SD_BUS_ARGS("b", force),
                SD_BUS_NO_RESULT,
                method_crash_test,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "DeleteSnapshot",
                SD_BUS_ARGS("s", name),
                SD_BUS_NO_RESULT,
                method_delete_snapshot,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* Lookups also serve signals that vmmd emits while it handles some call: only a call that reads this
 * object itself, or every object (GetManagedObjects), is filtered by what its caller may see. */
static bool vm_visible_to_call(sd_bus *bus, const char *path, VM *vm) {
        sd_bus_message *call = sd_bus_get_current_message(bus);

        if (!call || !sd_bus_message_is_method_call(call, NULL, NULL))
                return true;
        if (!streq_ptr(sd_bus_message_get_path(call), path) &&
            !sd_bus_message_is_method_call(call, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"))
                return true;
        return authorize_vm_visible(vm->manager, vm);
}

int vm_object_find(
        sd_bus *bus,
        const char *path,
        const char *interface,
        void *userdata,
        void **ret_found,
        sd_bus_error *error) {
        _cleanup_free_ char *name = NULL;
        Manager *m = userdata;
        VM *vm;
        int r;

        r = sd_bus_path_decode(path, VMMD_VM_PATH_PREFIX, &name);
        if (r <= 0)
                return r;
        vm = manager_find_vm(m, name);
        if (!vm || !vm_visible_to_call(bus, path, vm))
                return 0;
        *ret_found = vm;
        return 1;
}

int vm_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***ret_nodes, sd_bus_error *error) {
        _cleanup_strv_free_ char **l = NULL;
        Manager *m = userdata;
        int r;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (VM *vm = m->vms; vm; vm = vm->next) {
                if (!authorize_vm_visible(m, vm))
                        continue;
                r = strv_extend(&l, vm->path);
                if (r < 0)
                        return r;
        }
        *ret_nodes = TAKE_PTR(l);
        return 1;
}

int vm_send_changed(VM *vm, const char *property, ...) {
        _cleanup_strv_free_ char **l = NULL;
        va_list ap;
        int r = 0;

        if (!vm->manager->bus || vm->builder_of)
                return 0;
        va_start(ap, property);
        for (const char *p = property; p && r >= 0; p = va_arg(ap, const char *))
                r = strv_extend(&l, p);
        va_end(ap);
        if (r < 0)
                return r;
        return sd_bus_emit_properties_changed_strv(vm->manager->bus, vm->path, VMMD_VM_INTERFACE, l);
}
