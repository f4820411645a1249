/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager: owns the bus, the store, the personas, the images and every VM. */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "access.h"
#include "image-cache.h"
#include "image.h"
#include "memory-policy.h"
#include "persona.h"
#include "probe.h"
#include "process.h"
#include "scope.h"
#include "store.h"
#include "util.h"

#define MANAGER_VMS_MAX 64

typedef struct VM VM;

typedef struct ManagerConfig {
        bool user;
        char *state_dir, *runtime_dir, *cache_dir, *config_dir;
        char *policy_dir;      /* the shipped policies and personas/ (config_dir's go first) */
        bool policy_dir_fixed; /* VMMD_POLICY_DIR: its personas are the only ones */
        char *image_dir;       /* holds <image>/manifest.yaml */
        char *qemu, *qemu_img;
        char *vmm_hv; /* hypervisor/hv's VMM: used where it can run (manager_resolve_vmm()) */
        char *kvm_path;
        uint64_t boot_timeout_usec;
        uint64_t stop_timeout_usec; /* per escalation step */
} ManagerConfig;

typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        ManagerConfig config;
        Store *store;

        Persona **personas;
        size_t n_personas;
        char *persona_error;          /* why the persona directory could not be read, if it could not */
        char **broken_personas;       /* personas whose file is invalid ... */
        char **broken_persona_errors; /* ... and why, naming file, line and key */

        ImageCache *images;
        MemoryPolicy memory_policy;
        AccessPolicy access; /* policies/access.yaml; system mode only */

        /* Authorization (authorize.c): polkit questions in flight, and the caller of the message being
         * handled (its names resolved once per message). */
        struct PolkitQuery *polkit_queries;
        size_t n_polkit_queries;
        Caller caller;
        sd_bus_message *caller_message; /* not a reference: compared with sender and cookie */
        char *caller_sender;
        uint64_t caller_cookie;

        HostInfo host;

        /* vmmd runs as root: every VM gets an identity of its own (vm-identity.h); kvm's gid for /dev/kvm
         * ((gid_t) -1: none). */
        bool identities;
        gid_t kvm_gid;
        const char *accel; /* what a new VM gets: "kvm" or "tcg" */
        char *accel_reason;

        struct Golden **goldens; /* one per persona with golden snapshots (golden.h) */
        size_t n_goldens;

        /* The memory policy loop (memory-loop.c): its timer, the host as last read, whether the host is
         * under pressure, and whether vmmd turned ksmd on. */
        sd_event_source *memory_timer;
        MemoryHost memory_host;
        bool memory_pressure;
        bool ksm_started;

        VM *vms; /* list */
        size_t n_vms;
        char *foreground;

        bool exiting;
        sd_event_source *exit_timer;
} Manager;

/* Fills the directories from $STATE_DIRECTORY & co. (system) or the XDG variables (user). */
int manager_config_from_environment(bool user, ManagerConfig *ret);
void manager_config_done(ManagerConfig *c);

int manager_new(const ManagerConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Loads personas, probes the host, opens the store and restores the VMs it lists. */
int manager_startup(Manager *m);
/* Connects to the bus, registers the objects and takes the name. */
int manager_connect_bus(Manager *m);
/* Starts the existing persistent VMs of autostart personas that do not run. */
void manager_autostart(Manager *m);
/* Begins an orderly exit: stops every VM, then leaves the event loop. */
void manager_begin_exit(Manager *m);

/* Reads the personas and the memory policy again (SIGHUP, Reload()): the new set of personas replaces the
 * old one as a whole. VMs keep running; a new persona is used by the next CreateVM. Images are verified
 * when first used. A broken memory.yaml keeps the old policy: an error with ret_error. */
int manager_reload(Manager *m, char **ret_error);
Persona *manager_find_persona(Manager *m, const char *name);
/* Guest memory promised now: the memory targets of every VM whose VMM runs or starts, but except's. */
uint64_t manager_memory_committed_mib(Manager *m, const VM *except);
uint64_t manager_memory_limit_mib(Manager *m);
/* Whether the VM name (vm, or NULL for one not made yet) may be promised mib MiB more than now
 * (policies/memory.yaml); -ENOSPC with a message if not. */
/* Why vmm-hv cannot run a VM under accel here (no KVM, not installed), or NULL if it can. */
const char *manager_hv_unusable(Manager *m, const char *accel);

/* The VMM a new VM of persona runs in under accel: want (the persona's choice, or CreateVM's), with "auto"
 * made hv where vmm-hv can run (KVM, and the program installed) and qemu elsewhere. -EOPNOTSUPP, with
 * *ret_error saying why, for hv where it cannot run. */
int manager_resolve_vmm(
        Manager *m, const char *persona, VmmKind want, const char *accel, VmmKind *ret, char **ret_error);

int manager_memory_admit(Manager *m, const VM *vm, const char *name, uint64_t mib, char **ret_error);
/* Why the persona name is not available, if its file is broken; NULL otherwise. */
const char *manager_persona_error(Manager *m, const char *name);
VM *manager_find_vm(Manager *m, const char *name);
/* Verified image by name, from the cache while its files are unchanged. -EINPROGRESS: it is being verified,
 * wait with image_cache_wait(m->images, ...). */
int manager_get_image(Manager *m, const char *name, Image **ret, char **ret_error);
/* waiter (NULL: none) is held until systemd took the new CPU weights. */
void manager_set_foreground(Manager *m, const char *name, ScopeWaiter *waiter);
void manager_notify_status(Manager *m);
