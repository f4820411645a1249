/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.vmmd1.Manager: CreateVM and friends, host properties, VMNew/VMRemoved. */
#include <sys/random.h>

#include "authorize.h"
#include "bus-errors.h"
#include "bus-util.h"
#include "config.h"
#include "crash-dbus.h"
#include "golden.h"
#include "log.h"
#include "manager-dbus.h"
#include "memory-loop.h"
#include "names.h"
#include "vm-dbus.h"
#include "vm-identity.h"
#include "vm.h"

typedef struct CreateOptions {
        int start;
        uint64_t memory_mib; /* 0: not given, the persona's */
        uint32_t vcpus;      /* 0: not given, the persona's */
        const char *accel;
        const char *vmm; /* NULL: the persona's */
        int cold;        /* boot, even where a golden snapshot could be cloned */
} CreateOptions;

/* Reads a{sv}; every key is known and of exactly its type, or the call fails naming it. */
static int read_create_options(sd_bus_message *m, CreateOptions *o, sd_bus_error *error) {
        static const struct {
                const char *key;
                const char *type;
        } known[] = {
                { "start", "b" }, { "memory_mib", "t" }, { "vcpus", "u" },
                { "accel", "s" }, { "cold", "b" },       { "vmm", "s" },
        };
        bool seen[ELEMENTSOF(known)] = {};
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;
                size_t i;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                for (i = 0; i < ELEMENTSOF(known); i++)
                        if (streq(known[i].key, key))
                                break;
                if (i >= ELEMENTSOF(known))
                        return sd_bus_error_setf(
                                error,
                                VMMD_ERROR_INVALID_ARGUMENT,
                                "Unknown option \"%s\" (known: start, memory_mib, vcpus, accel, cold, vmm)",
                                key);
                if (seen[i])
                        return sd_bus_error_setf(
                                error, VMMD_ERROR_INVALID_ARGUMENT, "Option \"%s\" given twice", key);
                seen[i] = true;
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                if (!streq(contents, known[i].type))
                        return sd_bus_error_setf(
                                error,
                                VMMD_ERROR_INVALID_ARGUMENT,
                                "Option \"%s\" must be of type '%s', not '%s'",
                                key,
                                known[i].type,
                                contents);
                if (i == 0)
                        r = sd_bus_message_read(m, "v", "b", &o->start);
                else if (i == 1)
                        r = sd_bus_message_read(m, "v", "t", &o->memory_mib);
                else if (i == 2)
                        r = sd_bus_message_read(m, "v", "u", &o->vcpus);
                else if (i == 4)
                        r = sd_bus_message_read(m, "v", "b", &o->cold);
                else if (i == 5)
                        r = sd_bus_message_read(m, "v", "s", &o->vmm);
                else
                        r = sd_bus_message_read(m, "v", "s", &o->accel);
                if (r < 0)
                        return r;
                /* 0 is not "the persona's value": that is what leaving the key out says. */
                if ((i == 1 && o->memory_mib == 0) || (i == 2 && o->vcpus == 0))
                        return sd_bus_error_setf(
                                error,
                                VMMD_ERROR_INVALID_ARGUMENT,
                                "Option \"%s\" is 0; leave it out for the persona's value",
                                key);
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* "<persona>-<6 hex digits>", unused. */
static int generate_name(Manager *m, const char *persona, char **ret) {
        for (unsigned attempt = 0; attempt < 16; attempt++) {
                uint32_t rnd;
                char *name;

                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return -errno;
                if (asprintf(&name, "%.*s-%06" PRIx32, VM_NAME_MAX - 7, persona, rnd & 0xffffff) < 0)
                        return -ENOMEM;
                if (!manager_find_vm(m, name)) {
                        *ret = name;
                        return 0;
                }
                free(name);
        }
        return -EEXIST;
}

static int method_create_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error);

/* CreateVM's answer: the new VM's object. */
static int create_reply(sd_bus_message *reply, void *userdata) {
        VM *vm = userdata;

        return sd_bus_message_append(reply, "o", vm->path);
}

static void redispatch_create_vm(sd_bus_message *msg, void *userdata) {
        bus_redispatch(msg, method_create_vm, userdata);
}

static int method_create_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *generated = NULL, *image_error = NULL, *start_error = NULL;
        const char *persona_name, *name, *why;
        CreateOptions o = { .start = true };
        Manager *m = userdata;
        Persona *p;
        Image *image;
        VM *vm;
        int r;

        r = sd_bus_message_read(msg, "ss", &persona_name, &name);
        if (r < 0)
                return r;
        r = read_create_options(msg, &o, error);
        if (r < 0)
                return r;

        if (m->exiting)
                return sd_bus_error_set(error, VMMD_ERROR_BUSY, "vmmd is shutting down");
        if ((why = vm_name_invalid_reason(persona_name)))
                return sd_bus_error_setf(
                        error, VMMD_ERROR_INVALID_ARGUMENT, "Persona name \"%s\" %s", persona_name, why);
        p = manager_find_persona(m, persona_name);
        if (!p) {
                const char *broken = manager_persona_error(m, persona_name);

                if (broken)
                        return sd_bus_error_setf(
                                error,
                                VMMD_ERROR_NO_SUCH_PERSONA,
                                "Persona \"%s\" is not available: %s",
                                persona_name,
                                broken);
                return sd_bus_error_setf(
                        error, VMMD_ERROR_NO_SUCH_PERSONA, "Persona \"%s\" does not exist", persona_name);
        }

        if (isempty(name)) {
                if (p->disk != DISK_EPHEMERAL)
                        return sd_bus_error_setf(
                                error,
                                VMMD_ERROR_INVALID_ARGUMENT,
                                "VM name is empty; only ephemeral personas get generated names, "
                                "\"%s\" is persistent",
                                persona_name);
                r = generate_name(m, p->name, &generated);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "Failed to generate a VM name: %m");
                name = generated;
        } else if ((why = vm_name_invalid_reason(name)))
                return sd_bus_error_setf(error, VMMD_ERROR_INVALID_ARGUMENT, "VM name \"%s\" %s", name, why);

        if (o.memory_mib == 0)
                o.memory_mib = p->memory_mib;
        else if (o.memory_mib < PERSONA_MEMORY_MIN_MIB || o.memory_mib > PERSONA_MEMORY_MAX_MIB)
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_INVALID_ARGUMENT,
                        "memory_mib %" PRIu64 " is out of range [%" PRIu64 ", %" PRIu64 "]",
                        o.memory_mib,
                        PERSONA_MEMORY_MIN_MIB,
                        PERSONA_MEMORY_MAX_MIB);
        if (o.vcpus == 0)
                o.vcpus = p->vcpus;
        else if (o.vcpus < PERSONA_VCPUS_MIN || o.vcpus > PERSONA_VCPUS_MAX)
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_INVALID_ARGUMENT,
                        "vcpus %" PRIu32 " is out of range [%u, %u]",
                        o.vcpus,
                        PERSONA_VCPUS_MIN,
                        PERSONA_VCPUS_MAX);
        if (m->host.max_vcpus > 0 && o.vcpus > m->host.max_vcpus)
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_INVALID_ARGUMENT,
                        "vcpus %" PRIu32 " exceeds what KVM supports here (%u)",
                        o.vcpus,
                        m->host.max_vcpus);
        /* Overcommit is the point, but one guest larger than the whole host can never run. */
        if (m->host.memory_mib > 0 && o.memory_mib > m->host.memory_mib)
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_INSUFFICIENT_MEMORY,
                        "memory_mib %" PRIu64 " exceeds the host's memory (%" PRIu64 " MiB)",
                        o.memory_mib,
                        m->host.memory_mib);

        /* Forcing TCG is for debugging and for measuring what KVM gains; KVM cannot be forced. */
        if (!o.accel)
                o.accel = m->accel;
        else if (!streq(o.accel, "kvm") && !streq(o.accel, "tcg"))
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_INVALID_ARGUMENT,
                        "accel \"%s\" is neither \"kvm\" nor \"tcg\"",
                        o.accel);
        else if (streq(o.accel, "kvm") && !m->host.kvm_usable)
                return sd_bus_error_setf(
                        error, VMMD_ERROR_INVALID_ARGUMENT, "accel \"kvm\" is not available: %s", m->host.reason);

        VmmKind vmm = p->vmm;
        if (o.vmm) {
                vmm = vmm_kind_from_string(o.vmm);
                if (vmm < 0)
                        return sd_bus_error_setf(
                                error,
                                VMMD_ERROR_INVALID_ARGUMENT,
                                "vmm \"%s\" is not one of \"qemu\", \"hv\", \"auto\"",
                                o.vmm);
        }
        _cleanup_free_ char *vmm_error = NULL;
        r = manager_resolve_vmm(m, p->name, vmm, o.accel, &vmm, &vmm_error);
        if (r < 0)
                return sd_bus_error_set(error, VMMD_ERROR_NOT_SUPPORTED, vmm_error ?: "vmm-hv cannot run here");

        if (manager_find_vm(m, name))
                return sd_bus_error_setf(error, VMMD_ERROR_EXISTS, "VM \"%s\" already exists", name);
        if (m->n_vms >= MANAGER_VMS_MAX)
                return sd_bus_error_setf(error, VMMD_ERROR_BUSY, "Too many VMs (at most %d)", MANAGER_VMS_MAX);

        /* Verify the image before anything is recorded: a corrupt image changes nothing. Hashing runs
         * elsewhere; meanwhile the call waits and is handled again once the verdict is in. */
        r = manager_get_image(m, p->image, &image, &image_error);
        if (r == -EINPROGRESS) {
                r = image_cache_wait(m->images, p->image, msg, redispatch_create_vm, m);
                if (r < 0)
                        return sd_bus_error_setf(
                                error, VMMD_ERROR_BUSY, "Too many calls wait for image \"%s\"", p->image);
                return 1;
        }
        if (r == -EBADMSG)
                return sd_bus_error_setf(error, VMMD_ERROR_IMAGE_CORRUPT, "%s", strna(image_error));
        if (r < 0)
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_FAILED,
                        "Image \"%s\" of persona \"%s\" is not usable: %s",
                        p->image,
                        p->name,
                        image_error ?: strerror(-r));

        /* Refused before anything is made: a VM that could not start is not created either. */
        if (o.start) {
                _cleanup_free_ char *why = NULL;

                r = manager_memory_admit(m, NULL, name, o.memory_mib, &why);
                if (r < 0)
                        return sd_bus_error_set(
                                error, VMMD_ERROR_INSUFFICIENT_MEMORY, why ?: "Not enough memory");
        }

        /* The caller owns what it creates (the filter made sure it may). */
        const Caller *caller = authorize_caller(m, msg);
        r = vm_new(m, name, p, o.memory_mib, o.vcpus, o.accel, vmm, caller ? caller->uid : getuid(), NULL, &vm);
        if (r == -EUSERS)
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_BUSY,
                        "No identity left for VM \"%s\": all %u uids of vmmd's range are taken",
                        name,
                        VM_UID_COUNT);
        if (r < 0)
                return r;
        /* A throwaway of a persona with golden snapshots is a clone, if one fits (else it boots). */
        Golden *g = o.cold ? NULL : golden_for_clone(m, vm);
        if (g) {
                vm->golden = strdup(g->id);
                if (!vm->golden) {
                        vm_free(vm);
                        return -ENOMEM;
                }
                vm->from_golden = true; /* its first start (vm_new_from_record() says so after a restart) */
        }
        r = vm_save(vm, true);
        if (r < 0) {
                vm_free(vm);
                return sd_bus_error_setf(
                        error, VMMD_ERROR_FAILED, "Failed to record VM \"%s\": %s", name, strerror(-r));
        }
        log_vm_info(
                vm->name,
                "Created VM %s from persona %s (%" PRIu64 " MiB, %" PRIu32 " vCPUs, %s, %s%s%s).",
                vm->name,
                p->name,
                vm->memory_mib,
                vm->vcpus,
                vm->accel,
                vmm_kind_to_string(vm->vmm),
                vm->golden ? ", a clone of golden snapshot " : "",
                strempty(vm->golden));
        (void) manager_send_vm_new(m, vm);
        manager_notify_status(m);

        if (!o.start)
                return sd_bus_reply_method_return(msg, "o", vm->path);
        _cleanup_(operation_freep) Operation *op = operation_new(msg, create_reply, vm);
        if (!op)
                return -ENOMEM;
        r = vm_start(vm, op, &start_error);
        if (r < 0) {
                _cleanup_free_ char *why = NULL;

                (void) asprintf(
                        &why, "VM \"%s\" was created but did not start: %s", name, start_error ?: strerror(-r));
                return bus_error_set_errno(error, r == -EBADMSG || r == -ENOSPC ? r : -EIO, why);
        }
        TAKE_PTR(op); /* answered once the VMM runs */
        return 1;
}

/* Reads a VM name argument and finds the VM, or fails with NoSuchVM. */
static int read_vm_name(sd_bus_message *msg, Manager *m, const char **ret_name, VM **ret, sd_bus_error *error) {
        const char *name;
        VM *vm;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        /* One the caller may not see does not exist for it. */
        vm = manager_find_vm(m, name);
        if (!vm || !authorize_vm_visible(m, vm))
                return sd_bus_error_setf(error, VMMD_ERROR_NO_SUCH_VM, "No VM named \"%s\"", name);
        *ret_name = name;
        *ret = vm;
        return 0;
}

static int method_get_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *name = NULL;
        VM *vm = NULL;
        int r;

        r = read_vm_name(msg, m, &name, &vm, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", vm->path);
}

static int method_list_vms(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssso)");
        if (r < 0)
                return r;
        for (VM *vm = m->vms; vm; vm = vm->next) {
                if (!authorize_vm_visible(m, vm))
                        continue;
                r = sd_bus_message_append(
                        reply, "(ssso)", vm->name, vm->persona, vm_state_to_string(vm->state), vm->path);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_personas(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ss)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_personas; i++) {
                r = sd_bus_message_append(
                        reply, "(ss)", m->personas[i]->name, strempty(m->personas[i]->description));
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        if (m->exiting)
                return sd_bus_error_set(error, VMMD_ERROR_BUSY, "vmmd is shutting down");
        _cleanup_free_ char *why = NULL;
        r = manager_reload(m, &why);
        if (r == -EINVAL && why)
                return sd_bus_error_set(error, VMMD_ERROR_INVALID_ARGUMENT, why);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to reload the personas: %m");
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_switch_to(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *name = NULL;
        VM *vm = NULL;
        int r;

        r = read_vm_name(msg, m, &name, &vm, error);
        if (r < 0)
                return r;
        if (!IN_SET(vm->state, VM_STARTING, VM_RUNNING, VM_PAUSED))
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_INVALID_STATE,
                        "VM \"%s\" is %s; only a starting, running or paused VM can be in front",
                        name,
                        vm_state_to_string(vm->state));
        /* Answered once systemd has the new CPU weights (at once where no scope is involved). */
        ScopeWaiter *w = scope_waiter_new(msg);
        if (!w)
                return -ENOMEM;
        manager_set_foreground(m, name, w);
        scope_waiter_unref(w);
        return 1;
}

static int property_get_host(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        Manager *m = userdata;
        const HostInfo *h = &m->host;

        if (streq(property, "Architecture"))
                return sd_bus_message_append(reply, "s", h->arch);
        if (streq(property, "KVMMode"))
                return sd_bus_message_append(reply, "s", kvm_mode_to_string(h->mode));
        if (streq(property, "KVMAPIVersion"))
                return sd_bus_message_append(reply, "i", h->api_version);
        if (streq(property, "IPABits"))
                return sd_bus_message_append(reply, "u", h->ipa_bits);
        if (streq(property, "GICVersion"))
                return sd_bus_message_append(reply, "u", h->gic_version);
        if (streq(property, "MaxVCPUs"))
                return sd_bus_message_append(reply, "u", h->max_vcpus);
        if (streq(property, "HostMemoryMiB"))
                return sd_bus_message_append(reply, "t", h->memory_mib);
        if (streq(property, "HostCPUs"))
                return sd_bus_message_append(reply, "u", h->cpus);
        return -EINVAL;
}

/* Whether vmm-hv runs VMs here, and why not: asked when read (the program may come and go). */
static int property_get_hv(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        Manager *m = userdata;
        const char *why = manager_hv_unusable(m, m->accel);

        if (streq(property, "HvUsable"))
                return sd_bus_message_append(reply, "b", !why);
        return sd_bus_message_append(reply, "s", strempty(why));
}

/* Computed when read: no PropertiesChanged for these. */
static int property_get_memory(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(
                reply,
                "t",
                streq(property, "MemoryLimitMiB") ? manager_memory_limit_mib(m) :
                                                    manager_memory_committed_mib(m, NULL));
}

/* The memory policy loop's figures (memory-loop.h), read when asked. */
static int property_get_memory_figures(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        Manager *m = userdata;
        MemoryFigures f;
        MemoryHost h;

        if (streq(property, "MemoryUnderPressure"))
                return sd_bus_message_append(reply, "b", m->memory_pressure);
        /* Read now: the loop may be off (interval_ms: 0). */
        memory_loop_read_host(&h);
        if (streq(property, "MemoryPressure"))
                return sd_bus_message_append(reply, "d", h.pressure);
        if (streq(property, "MemoryAvailableMiB"))
                return sd_bus_message_append(
                        reply, "t", h.available_mib == MEMORY_UNKNOWN ? UINT64_C(0) : h.available_mib);
        memory_loop_figures(m, &f);
        return sd_bus_message_append(
                reply,
                "t",
                streq(property, "MemoryRunningMiB")           ? f.running_mib :
                        streq(property, "MemoryResidentMiB")  ? f.resident_mib :
                        streq(property, "MemoryBalloonedMiB") ? f.ballooned_mib :
                        streq(property, "MemoryMergedMiB")    ? f.merged_mib :
                                                                f.reclaimable_mib);
}

static int property_get_golden(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        return golden_append_list(userdata, reply);
}

static int method_rebuild_golden(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *why = NULL;
        const char *persona;
        int r;

        r = sd_bus_message_read(msg, "s", &persona);
        if (r < 0)
                return r;
        r = golden_rebuild(userdata, persona, &why);
        if (r == -ENOENT)
                return sd_bus_error_set(error, VMMD_ERROR_NO_SUCH_PERSONA, why);
        if (r == -EINVAL)
                return sd_bus_error_set(error, VMMD_ERROR_INVALID_ARGUMENT, why);
        if (r < 0)
                return bus_error_set_errno(error, r, why);
        return sd_bus_reply_method_return(msg, NULL);
}

static int property_get_version(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", VERSION);
}

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY(
                "Accel", "s", bus_property_get_string, offsetof(Manager, accel), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY(
                "AccelReason",
                "s",
                bus_property_get_string,
                offsetof(Manager, accel_reason),
                SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY(
                "Foreground",
                "s",
                bus_property_get_string,
                offsetof(Manager, foreground),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Architecture", "s", property_get_host, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("HvUsable", "b", property_get_hv, 0, 0),
        SD_BUS_PROPERTY("HvReason", "s", property_get_hv, 0, 0),
        SD_BUS_PROPERTY("KVMMode", "s", property_get_host, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("KVMAPIVersion", "i", property_get_host, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("IPABits", "u", property_get_host, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("GICVersion", "u", property_get_host, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MaxVCPUs", "u", property_get_host, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("HostMemoryMiB", "t", property_get_host, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("HostCPUs", "u", property_get_host, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MemoryLimitMiB", "t", property_get_memory, 0, 0),
        SD_BUS_PROPERTY("MemoryCommittedMiB", "t", property_get_memory, 0, 0),
        SD_BUS_PROPERTY("MemoryRunningMiB", "t", property_get_memory_figures, 0, 0),
        SD_BUS_PROPERTY("MemoryResidentMiB", "t", property_get_memory_figures, 0, 0),
        SD_BUS_PROPERTY("MemoryBalloonedMiB", "t", property_get_memory_figures, 0, 0),
        SD_BUS_PROPERTY("MemoryMergedMiB", "t", property_get_memory_figures, 0, 0),
        SD_BUS_PROPERTY("MemoryReclaimableMiB", "t", property_get_memory_figures, 0, 0),
        SD_BUS_PROPERTY("MemoryAvailableMiB", "t", property_get_memory_figures, 0, 0),
        SD_BUS_PROPERTY("MemoryPressure", "d", property_get_memory_figures, 0, 0),
        SD_BUS_PROPERTY(
                "MemoryUnderPressure", "b", property_get_memory_figures, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY(
                "GoldenSnapshots", "a(sssusst)", property_get_golden, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS(
                "RebuildGoldenSnapshot",
                SD_BUS_ARGS("s", persona),
                SD_BUS_NO_RESULT,
                method_rebuild_golden,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "CreateVM",
                SD_BUS_ARGS("s", persona, "s", name, "a{sv}", options),
                SD_BUS_RESULT("o", path),
                method_create_vm,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "GetVM", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", path), method_get_vm, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "ListVMs",
                SD_BUS_NO_ARGS,
                SD_BUS_RESULT("a(ssso)", vms),
                method_list_vms,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "ListPersonas",
                SD_BUS_NO_ARGS,
                SD_BUS_RESULT("a(ss)", personas),
                method_list_personas,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "SwitchTo", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method_switch_to, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("VMNew", SD_BUS_ARGS("s", name, "o", path), 0),
        SD_BUS_SIGNAL_WITH_ARGS("VMRemoved", SD_BUS_ARGS("s", name, "o", path), 0),
        SD_BUS_METHOD("Reload", NULL, NULL, method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("ForegroundChanged", SD_BUS_ARGS("s", name), 0),
        SD_BUS_SIGNAL("PersonasChanged", NULL, 0),
        SD_BUS_VTABLE_END,
};

int manager_send_vm_new(Manager *m, VM *vm) {
        if (!m->bus)
                return 0;
        return sd_bus_emit_signal(
                m->bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "VMNew", "so", vm->name, vm->path);
}

int manager_send_vm_removed(Manager *m, VM *vm) {
        if (!m->bus)
                return 0;
        return sd_bus_emit_signal(
                m->bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "VMRemoved", "so", vm->name, vm->path);
}

int manager_emit_golden_changed(Manager *m) {
        if (!m->bus)
                return 0;
        return sd_bus_emit_properties_changed(
                m->bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "GoldenSnapshots", NULL);
}

int manager_emit_personas_changed(Manager *m) {
        if (!m->bus)
                return 0;
        return sd_bus_emit_signal(m->bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "PersonasChanged", NULL);
}

int manager_connect_bus(Manager *m) {
        int r;

        r = m->config.user ? sd_bus_open_user(&m->bus) : sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(
                        r, "Failed to connect to the %s bus: %m", m->config.user ? "session" : "system");
        /* Before any object: every call passes authorization first. */
        r = authorize_install(m);
        if (r < 0)
                return log_error_errno(r, "Failed to install the authorization filter: %m");
        r = sd_bus_add_object_vtable(
                m->bus, NULL, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the Manager object: %m");
        r = sd_bus_add_object_vtable(m->bus, NULL, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, crash_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the crash bundles to the Manager object: %m");
        r = sd_bus_add_fallback_vtable(
                m->bus, NULL, VMMD_VM_PATH_PREFIX, VMMD_VM_INTERFACE, vm_vtable, vm_object_find, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the VM objects: %m");
        r = sd_bus_add_node_enumerator(m->bus, NULL, VMMD_VM_PATH_PREFIX, vm_node_enumerator, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the VM enumerator: %m");
        r = sd_bus_add_object_manager(m->bus, NULL, VMMD_MANAGER_PATH);
        if (r < 0)
                return log_error_errno(r, "Failed to add the object manager: %m");
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        r = sd_bus_request_name(m->bus, VMMD_BUS_NAME, 0);
        if (r == -EEXIST)
                return log_error_errno(r, "Another vmmd already owns %s on this bus.", VMMD_BUS_NAME);
        if (r < 0)
                return log_error_errno(r, "Failed to take the name %s: %m", VMMD_BUS_NAME);
        return 0;
}
