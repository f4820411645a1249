/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager: directories, personas, images, host probe, store, restored VMs, orderly exit. */
#include <cap-ng.h>
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "authorize.h"
#include "bus-errors.h"
#include "config.h"
#include "crash.h"
#include "golden.h"
#include "log.h"
#include "manager-dbus.h"
#include "memory-loop.h"
#include "scope.h"
#include "vm-dbus.h"
#include "vm-identity.h"
#include "vm.h"

#define BOOT_TIMEOUT_USEC_DEFAULT (180 * USEC_PER_SEC)
#define STOP_TIMEOUT_USEC_DEFAULT (10 * USEC_PER_SEC)

void manager_config_done(ManagerConfig *c) {
        free(c->state_dir);
        free(c->runtime_dir);
        free(c->cache_dir);
        free(c->config_dir);
        free(c->policy_dir);
        free(c->image_dir);
        free(c->qemu);
        free(c->qemu_img);
        free(c->vmm_hv);
        free(c->kvm_path);
        *c = (ManagerConfig){};
}

/* $ENV (systemd's per-service directory, or an XDG base) + suffix, else the fallback. */
static int dir_from_env(const char *env, const char *suffix, const char *fallback, char **ret) {
        const char *e = secure_getenv(env);

        if (!isempty(e)) {
                /* systemd passes a ':'-separated list when a unit names several; the first is ours. */
                size_t n = strcspn(e, ":");
                if (asprintf(ret, "%.*s%s", (int) n, e, suffix) < 0)
                        return -ENOMEM;
                return 0;
        }
        if (!fallback)
                return -ENXIO;
        *ret = strdup(fallback);
        return *ret ? 0 : -ENOMEM;
}

static int home_dir(const char *suffix, char **ret) {
        const char *home = secure_getenv("HOME");

        if (isempty(home) || home[0] != '/')
                return -ENXIO;
        return asprintf(ret, "%s/%s", home, suffix) < 0 ? -ENOMEM : 0;
}

static uint64_t env_seconds(const char *name, uint64_t def) {
        const char *e = secure_getenv(name);
        char *end;
        unsigned long v;

        if (isempty(e))
                return def;
        errno = 0;
        v = strtoul(e, &end, 10);
        if (errno != 0 || *end || v == 0 || v > 3600)
                return def;
        return (uint64_t) v * USEC_PER_SEC;
}

int manager_config_from_environment(bool user, ManagerConfig *ret) {
        ManagerConfig c = { .user = user };
        int r;

        if (user) {
                _cleanup_free_ char *state = NULL, *cache = NULL, *config = NULL;

                /* XDG_RUNTIME_DIR has no fallback: without it there is no safe place for sockets. */
                r = dir_from_env("XDG_RUNTIME_DIR", "/vmmd", NULL, &c.runtime_dir);
                if (r < 0)
                        goto fail;
                if ((r = home_dir(".local/state/vmmd", &state)) < 0 && r != -ENXIO)
                        goto fail;
                if ((r = dir_from_env("XDG_STATE_HOME", "/vmmd", state, &c.state_dir)) < 0)
                        goto fail;
                if ((r = home_dir(".cache/vmmd", &cache)) < 0 && r != -ENXIO)
                        goto fail;
                if ((r = dir_from_env("XDG_CACHE_HOME", "/vmmd", cache, &c.cache_dir)) < 0)
                        goto fail;
                if ((r = home_dir(".config/vmmd", &config)) < 0 && r != -ENXIO)
                        goto fail;
                if ((r = dir_from_env("XDG_CONFIG_HOME", "/vmmd", config, &c.config_dir)) < 0)
                        goto fail;
        } else {
                if ((r = dir_from_env("STATE_DIRECTORY", "", "/var/lib/vmmd", &c.state_dir)) < 0 ||
                    (r = dir_from_env("RUNTIME_DIRECTORY", "", "/run/vmmd", &c.runtime_dir)) < 0 ||
                    (r = dir_from_env("CACHE_DIRECTORY", "", "/var/cache/vmmd", &c.cache_dir)) < 0 ||
                    (r = dir_from_env("CONFIGURATION_DIRECTORY", "", "/etc/vmmd", &c.config_dir)) < 0)
                        goto fail;
        }

        /* Uninstalled runs (meson devenv, tests) point at the source tree's policies and built image: then
         * those personas are the only ones. */
        r = dir_from_env("VMMD_POLICY_DIR", "", NULL, &c.policy_dir);
        c.policy_dir_fixed = r >= 0;
        if (r == -ENXIO) {
                c.policy_dir = strdup(PKGDATADIR "/policies");
                r = c.policy_dir ? 0 : -ENOMEM;
        }
        if (r < 0)
                goto fail;
        if ((r = dir_from_env("VMMD_IMAGE_DIR", "", PKGDATADIR "/images", &c.image_dir)) < 0 ||
            (r = dir_from_env("VMMD_QEMU", "", QEMU_SYSTEM_AARCH64, &c.qemu)) < 0 ||
            (r = dir_from_env("VMMD_QEMU_IMG", "", QEMU_IMG, &c.qemu_img)) < 0 ||
            (r = dir_from_env("VMMD_VMM_HV", "", VMM_HV_PATH, &c.vmm_hv)) < 0 ||
            (r = dir_from_env("VMMD_KVM_DEVICE", "", "/dev/kvm", &c.kvm_path)) < 0)
                goto fail;
        c.boot_timeout_usec = env_seconds("VMMD_BOOT_TIMEOUT_SEC", BOOT_TIMEOUT_USEC_DEFAULT);
        c.stop_timeout_usec = env_seconds("VMMD_STOP_TIMEOUT_SEC", STOP_TIMEOUT_USEC_DEFAULT);
        *ret = c;
        return 0;
fail:
        manager_config_done(&c);
        return r;
}

static int config_copy(const ManagerConfig *s, ManagerConfig *d) {
        *d = *s;
        d->state_dir = strdup(s->state_dir);
        d->runtime_dir = strdup(s->runtime_dir);
        d->cache_dir = strdup(s->cache_dir);
        d->config_dir = strdup(s->config_dir);
        d->policy_dir = strdup(s->policy_dir);
        d->image_dir = strdup(s->image_dir);
        d->qemu = strdup(s->qemu);
        d->qemu_img = strdup(s->qemu_img);
        d->vmm_hv = strdup(s->vmm_hv);
        d->kvm_path = strdup(s->kvm_path);
        if (!d->state_dir || !d->runtime_dir || !d->cache_dir || !d->config_dir || !d->policy_dir ||
            !d->image_dir || !d->qemu || !d->qemu_img || !d->vmm_hv || !d->kvm_path) {
                manager_config_done(d);
                return -ENOMEM;
        }
        return 0;
}

int manager_new(const ManagerConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        r = config_copy(config, &m->config);
        if (r < 0) {
                free(TAKE_PTR(m));
                return r;
        }
        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        r = image_cache_new(m->event, m->config.image_dir, &m->images);
        if (r < 0)
                return r;
        m->foreground = strdup("");
        if (!m->foreground)
                return -ENOMEM;
        *ret = TAKE_PTR(m);
        return 0;
}

static void manager_personas_clear(Manager *m) {
        persona_array_free(m->personas, m->n_personas);
        m->personas = NULL;
        m->n_personas = 0;
        m->persona_error = mfree(m->persona_error);
        strv_free(TAKE_PTR(m->broken_personas));
        strv_free(TAKE_PTR(m->broken_persona_errors));
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        memory_loop_stop(m);
        golden_free_all(m); /* kills a build's VMM */
        while (m->vms)
                vm_free(m->vms);
        manager_personas_clear(m);
        image_cache_free(m->images);
        authorize_done(m);
        access_policy_done(&m->access);
        free(m->accel_reason);
        free(m->foreground);
        store_free(m->store);
        sd_event_source_disable_unref(m->exit_timer);
        sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        manager_config_done(&m->config);
        free(m);
        return NULL;
}

static int manager_load_personas(Manager *m) {
        _cleanup_free_ char *dir = NULL, *error = NULL;
        _cleanup_strv_free_ char **files = NULL;
        int r;

        /* An administrator's personas replace the shipped ones as a whole, from the load on that finds
         * them (a reload, too); the shipped policy files stay where an administrator has none. */
        if (!m->config.policy_dir_fixed) {
                if (asprintf(&dir, "%s/personas", m->config.config_dir) < 0)
                        return -ENOMEM;
                if (access(dir, F_OK) < 0)
                        dir = mfree(dir);
        }
        if (!dir && asprintf(&dir, "%s/personas", m->config.policy_dir) < 0)
                return -ENOMEM;
        r = persona_list_dir(dir, &files, &error);
        if (r < 0) {
                /* The daemon still serves its VMs; CreateVM then tells the caller what is wrong. */
                log_error_errno(r, "Failed to read personas from '%s': %s", dir, error ?: strerror(-r));
                m->persona_error = error ? TAKE_PTR(error) : strdup(strerror(-r));
                return 0;
        }
        m->personas = calloc(strv_length(files) + 1, sizeof(Persona *));
        if (!m->personas)
                return log_oom();
        /* One broken file (say, the employer's work persona) takes only its own persona away. */
        STRV_FOREACH(f, files) {
                _cleanup_free_ char *message = NULL, *name = NULL;
                const char *base = strrchr(*f, '/') + 1;

                r = persona_load(*f, &m->personas[m->n_personas], &message);
                if (r >= 0) {
                        m->n_personas++;
                        continue;
                }
                log_error_errno(r, "Ignoring persona: %s", message ?: strerror(-r));
                name = strndup(base, strlen(base) - strlen(".yaml"));
                if (!name || strv_extend(&m->broken_personas, name) < 0 ||
                    strv_extend(&m->broken_persona_errors, message ?: strerror(-r)) < 0)
                        return log_oom();
        }
        log_info(
                "Loaded %zu personas from '%s' (%zu invalid).",
                m->n_personas,
                dir,
                strv_length(m->broken_personas));
        return 0;
}

static int load_memory_policy(Manager *m, const char *path, char **ret_error) {
        MemoryPolicy p;
        int r = memory_policy_load(path, &p, ret_error);

        if (r < 0)
                return r;
        m->memory_policy = p;
        if (p.interval_ms > 0)
                log_info(
                        "Memory policy from '%s': guests may be promised %" PRIu64
                        " MiB; the policy loop looks every %" PRIu64 " ms, KSM %s.",
                        path,
                        manager_memory_limit_mib(m),
                        p.interval_ms,
                        p.ksm ? "for clones of one golden snapshot" : "off");
        else
                log_info(
                        "Memory policy from '%s': guests may be promised %" PRIu64 " MiB; no policy loop.",
                        path,
                        manager_memory_limit_mib(m));
        r = m->exiting ? 0 : memory_loop_start(m);
        if (r < 0)
                log_error_errno(r, "Failed to start the memory policy loop: %m");
        return 0;
}

static int load_access_policy(Manager *m, const char *path, char **ret_error) {
        AccessPolicy p;
        int r = access_policy_load(path, &p, ret_error);

        if (r < 0)
                return r;
        access_policy_done(&m->access);
        m->access = p;
        log_info("Access policy from '%s': rules for %zu personas.", path, p.n_rules);
        return 0;
}

/* A policy file: the administrator's (configuration directory), else the policy directory's. A file that
 * is broken leaves the policy as it was and says why; with none, -ENOENT. */
static int manager_load_policy_file(
        Manager *m,
        const char *name,
        int (*load)(Manager *m, const char *path, char **ret_error),
        char **ret_error) {
        const char *dirs[] = { m->config.config_dir, m->config.policy_dir };
        int r = -ENOENT;

        for (size_t i = 0; i < ELEMENTSOF(dirs) && r == -ENOENT; i++) {
                _cleanup_free_ char *path = NULL;

                if (!dirs[i] || asprintf(&path, "%s/%s", dirs[i], name) < 0)
                        continue;
                r = load(m, path, ret_error);
        }
        return r;
}

static int manager_load_memory_policy(Manager *m, char **ret_error) {
        int r = manager_load_policy_file(m, "memory.yaml", load_memory_policy, ret_error);

        if (r == -ENOENT) {
                m->memory_policy = MEMORY_POLICY_DEFAULT;
                return 0;
        }
        return r;
}

/* Without an access.yaml (or with a broken one at startup) only root may act: nobody else is named. */
static int manager_load_access_policy(Manager *m, char **ret_error) {
        int r = manager_load_policy_file(m, "access.yaml", load_access_policy, ret_error);

        if (r == -ENOENT) {
                access_policy_done(&m->access);
                log_notice("No access.yaml: only root may create and manage VMs.");
                return 0;
        }
        return r;
}

uint64_t manager_memory_limit_mib(Manager *m) {
        return memory_policy_limit_mib(&m->memory_policy, m->host.memory_mib);
}

uint64_t manager_memory_committed_mib(Manager *m, const VM *except) {
        uint64_t sum = 0;

        for (VM *vm = m->vms; vm; vm = vm->next)
                if (vm != except && (vm_is_active(vm) || IN_SET(vm->state, VM_STARTING, VM_RUNNING, VM_PAUSED)))
                        sum += vm->memory_target_mib;
        return sum;
}

int manager_memory_admit(Manager *m, const VM *vm, const char *name, uint64_t mib, char **ret_error) {
        uint64_t committed = manager_memory_committed_mib(m, vm), limit = manager_memory_limit_mib(m),
                 reclaimable;

        if (m->host.memory_mib == 0 || committed + mib <= limit)
                return 0;
        /* The balloons of running guests may take back what those do not use. */
        if (memory_loop_make_room(m, vm, mib, &reclaimable) >= 0)
                return 0;
        if (ret_error)
                (void) asprintf(
                        ret_error,
                        "%" PRIu64 " MiB more for \"%s\" would promise guests %" PRIu64
                        " MiB, more than the %" PRIu64 " MiB this host allows (policies/memory.yaml; %" PRIu64
                        " MiB are promised, and the running guests' balloons can take back only %" PRIu64
                        " MiB): stop a VM or shrink one with vmctl set-memory",
                        mib,
                        name,
                        committed + mib,
                        limit,
                        committed,
                        reclaimable);
        return -ENOSPC;
}

int manager_reload(Manager *m, char **ret_error) {
        /* What was loaded before, kept until the new set is complete: out of memory keeps the old one. */
        Manager old = {
                .personas = TAKE_PTR(m->personas),
                .n_personas = m->n_personas,
                .persona_error = TAKE_PTR(m->persona_error),
                .broken_personas = TAKE_PTR(m->broken_personas),
                .broken_persona_errors = TAKE_PTR(m->broken_persona_errors),
        };
        int r;

        m->n_personas = 0;
        log_info("Reloading the personas.");
        (void) sd_notify(false, "RELOADING=1");
        r = manager_load_personas(m);
        (void) sd_notify(false, "READY=1");
        if (r < 0) {
                manager_personas_clear(m);
                m->personas = old.personas;
                m->n_personas = old.n_personas;
                m->persona_error = old.persona_error;
                m->broken_personas = old.broken_personas;
                m->broken_persona_errors = old.broken_persona_errors;
                return r;
        }
        /* VMs keep the persona's name only: a VM whose persona went away runs on, and is not made again. */
        manager_personas_clear(&old);
        (void) manager_emit_personas_changed(m);
        golden_sync(m);

        static const struct {
                const char *what;
                int (*load)(Manager *m, char **ret_error);
        } policies[] = {
                { "memory policy", manager_load_memory_policy },
                { "access policy", manager_load_access_policy },
        };
        for (size_t i = 0; i < ELEMENTSOF(policies); i++) {
                _cleanup_free_ char *error = NULL;

                r = policies[i].load(m, &error);
                if (r < 0) {
                        log_error_errno(r, "Keeping the %s: %s", policies[i].what, error ?: strerror(-r));
                        if (ret_error)
                                (void) asprintf(
                                        ret_error,
                                        "%s (the personas were reloaded; the %s is unchanged)",
                                        error ?: strerror(-r),
                                        policies[i].what);
                        return r;
                }
        }
        return 0;
}

const char *manager_persona_error(Manager *m, const char *name) {
        size_t i = 0;

        STRV_FOREACH(b, m->broken_personas) {
                if (streq(*b, name))
                        return m->broken_persona_errors[i];
                i++;
        }
        return m->persona_error;
}

Persona *manager_find_persona(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_personas; i++)
                if (streq(m->personas[i]->name, name))
                        return m->personas[i];
        return NULL;
}

VM *manager_find_vm(Manager *m, const char *name) {
        for (VM *vm = m->vms; vm; vm = vm->next)
                if (streq(vm->name, name))
                        return vm;
        return NULL;
}

int manager_get_image(Manager *m, const char *name, Image **ret, char **ret_error) {
        return image_cache_get(m->images, name, ret, ret_error);
}

/* vmmd runs as root: each VM gets a uid and gid of its own, its VMM the kvm group for /dev/kvm. The bases
 * of vmmd's directories are traversable (not listable) for them; under systemd, StateDirectoryMode= and
 * RuntimeDirectoryMode= say the same, as systemd sets them again for every Exec*= line. */
static int manager_setup_identities(Manager *m) {
        struct group *gr;
        int r;

        m->identities = true;
        gr = getgrnam("kvm");
        m->kvm_gid = gr ? gr->gr_gid : (gid_t) -1;
        /* The VMs' directories are below these; the cache holds golden snapshots, whose disks are the
         * backing files of clones' disks; golden builds run below runtime/golden. */
        const struct {
                const char *base, *sub;
        } dirs[] = {
                { m->config.state_dir, "vms" },
                { m->config.runtime_dir, "vms" },
                { m->config.runtime_dir, "golden" },
                { m->config.cache_dir, "golden" },
        };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *sub = NULL;

                if (asprintf(&sub, "%s/%s", dirs[i].base, dirs[i].sub) < 0)
                        return log_oom();
                r = mkdir_p(sub, 0711);
                if (r >= 0 && (chmod(dirs[i].base, 0711) < 0 || chmod(sub, 0711) < 0))
                        r = -errno;
                if (r < 0)
                        return log_error_errno(r, "Failed to make '%s' traversable for the VMs: %m", sub);
        }
        log_info("Each VM runs as a uid of its own (from %u).", (unsigned) VM_UID_BASE);
        return 0;
}

/* Hashing an image takes a while (0.3 s for the reference image); before READY=1 it may block. Later
 * verifications (an image that changed) run in a child process (image-cache.c). */
static void manager_verify_images(Manager *m) {
        for (size_t i = 0; i < m->n_personas; i++) {
                _cleanup_free_ char *error = NULL;
                int r;

                r = image_cache_verify_now(m->images, m->personas[i]->image, &error);
                if (r < 0)
                        log_warning_errno(
                                r,
                                "Image \"%s\" of persona \"%s\" is not usable: %s",
                                m->personas[i]->image,
                                m->personas[i]->name,
                                error ?: strerror(-r));
        }
}

const char *manager_hv_unusable(Manager *m, const char *accel) {
        if (!streq(accel, "kvm"))
                return m->host.kvm_usable ? "the VM runs under TCG emulation" : m->host.reason;
        if (access(m->config.vmm_hv, X_OK) < 0)
                return "it is not installed";
        return NULL;
}

int manager_resolve_vmm(
        Manager *m, const char *persona, VmmKind want, const char *accel, VmmKind *ret, char **ret_error) {
        const char *why;

        if (want == VMM_QEMU) {
                *ret = VMM_QEMU;
                return 0;
        }
        why = manager_hv_unusable(m, accel);
        if (!why) {
                *ret = VMM_HV;
                return 0;
        }
        if (want == VMM_AUTO) {
                *ret = VMM_QEMU;
                return 0;
        }
        if (ret_error)
                (void) asprintf(
                        ret_error,
                        "A VM of persona \"%s\" is to run in vmm-hv (%s), which runs on KVM only: %s",
                        persona,
                        m->config.vmm_hv,
                        why);
        return -EOPNOTSUPP;
}

static int manager_probe_host(Manager *m) {
        int r;

        r = host_probe(m->config.kvm_path, &m->host);
        if (r < 0)
                return log_error_errno(r, "Failed to probe the host: %m");
        m->accel = m->host.kvm_usable ? "kvm" : "tcg";
        if (m->host.kvm_usable)
                r = asprintf(
                        &m->accel_reason,
                        "KVM works on this %s host (%s)",
                        m->host.arch,
                        kvm_mode_to_string(m->host.mode));
        else
                r = asprintf(&m->accel_reason, "KVM unusable: %s; using TCG emulation", m->host.reason);
        if (r < 0)
                return log_oom();
        log_info("Accelerator %s: %s.", m->accel, m->accel_reason);
        const char *why = manager_hv_unusable(m, m->accel);
        if (why)
                log_info("vmm-hv (%s) cannot run VMs here: %s; throwaways run in QEMU.", m->config.vmm_hv, why);
        else
                log_info("vmm-hv (%s) runs the VMs of personas with \"vmm: hv\" or \"auto\".", m->config.vmm_hv);
        return 0;
}

/* Files of VMs the store does not know: a crash between steps of create or destroy left them. */
static void manager_sweep_orphans(Manager *m, const char *base) {
        _cleanup_free_ char *dir = NULL;
        DIR *d;

        if (asprintf(&dir, "%s/vms", base) < 0)
                return;
        d = opendir(dir);
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *p = NULL;

                if (de->d_name[0] == '.' || manager_find_vm(m, de->d_name))
                        continue;
                if (asprintf(&p, "%s/%s", dir, de->d_name) < 0)
                        break;
                log_notice("Removing '%s', which belongs to no known VM.", p);
                (void) rm_rf(p);
        }
        closedir(d);
}

static int manager_restore_vms(Manager *m) {
        VMRecord *records = NULL;
        size_t n = 0;
        int r;

        r = store_vm_load_all(m->store, &records, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to load VMs from the store: %m");
        for (size_t i = 0; i < n; i++) {
                VM *vm;

                r = vm_new_from_record(m, records + i, &vm);
                if (r < 0) {
                        log_warning_errno(r, "Skipping VM record '%s': %m", records[i].name);
                        continue;
                }
                (void) vm_reconcile_after_restart(vm);
        }
        vm_record_array_free(records, n);
        manager_sweep_orphans(m, m->config.runtime_dir);
        manager_sweep_orphans(m, m->config.state_dir);
        log_info("Restored %zu VMs.", m->n_vms);
        return 0;
}

/* What a vmmd that died left of crash bundles: half-made ones, and those of VMs that are gone (but the
 * kept ones). */
static void manager_sweep_crashes(Manager *m) {
        CrashBundle *list = NULL;
        size_t n = 0;
        int r;

        r = crash_cleanup_partial(m->config.state_dir);
        if (r >= 0)
                r = crash_list(m->config.state_dir, NULL, &list, &n);
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (!list[i].kept && !manager_find_vm(m, list[i].vm))
                        r = crash_remove(m->config.state_dir, &list[i]);
        crash_bundle_array_free(list, n);
        if (r < 0)
                log_warning_errno(r, "Failed to clean up crash bundles, ignoring: %m");
}

int manager_startup(Manager *m) {
        _cleanup_free_ char *db = NULL, *error = NULL;
        int r;

        for (char **d = (char *[]){ m->config.state_dir, m->config.runtime_dir, m->config.cache_dir, NULL };
             *d;
             d++) {
                r = mkdir_p(*d, 0700);
                if (r < 0)
                        return log_error_errno(r, "Failed to create '%s': %m", *d);
        }
        r = manager_load_personas(m);
        if (r < 0)
                return r;
        r = manager_probe_host(m);
        if (r < 0)
                return r;
        {
                _cleanup_free_ char *error = NULL;

                r = manager_load_memory_policy(m, &error);
                if (r < 0)
                        log_error_errno(
                                r, "Ignoring the memory policy, using the defaults: %s", error ?: strerror(-r));
        }
        if (!m->config.user) {
                _cleanup_free_ char *error = NULL;

                r = manager_load_access_policy(m, &error);
                if (r < 0)
                        log_error_errno(
                                r, "Ignoring the access policy, only root may act: %s", error ?: strerror(-r));
        }
        if (geteuid() == 0) {
                r = manager_setup_identities(m);
                if (r < 0)
                        return r;
        } else if (!m->config.user)
                log_warning(
                        "vmmd runs without root: it cannot give VMs identities of their own and starts none.");
        /* The probe was the last thing that could use a capability (CAP_SYSLOG for the kernel log).
         * vmmd's files and /dev/kvm belong to its own uid; its VMMs are its children. With identities it
         * keeps what it takes to start VMMs as them (SETUID, SETGID), to act on their files as them
         * (its effective ids: it also lets them make their own directories) and to stop them (KILL). */
        if (geteuid() == 0) {
                capng_clear(CAPNG_SELECT_BOTH);
                (void) capng_updatev(
                        CAPNG_ADD,
                        CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
                        CAP_KILL,
                        CAP_SETUID,
                        CAP_SETGID,
                        -1);
                if (capng_apply(CAPNG_SELECT_BOTH) < 0)
                        log_warning("Failed to drop capabilities, continuing with them.");
                else
                        log_debug("Dropped capabilities but KILL, SETUID, SETGID.");
        }
        if (asprintf(&db, "%s/vmmd.db", m->config.state_dir) < 0)
                return log_oom();
        r = store_open(db, &m->store, &error);
        if (r < 0)
                return log_error_errno(
                        r, "Failed to open the state database '%s': %s", db, error ?: strerror(-r));
        r = manager_restore_vms(m);
        if (r < 0)
                return r;
        manager_sweep_crashes(m);
        manager_verify_images(m);
        return 0;
}

void manager_set_foreground(Manager *m, const char *name, ScopeWaiter *waiter) {
        _cleanup_free_ char *old = NULL;
        VM *vm;

        if (streq_ptr(m->foreground, name))
                return;
        old = TAKE_PTR(m->foreground);
        m->foreground = strdup(name);
        if (!m->foreground) {
                m->foreground = TAKE_PTR(old);
                (void) log_oom();
                return;
        }
        log_info("Foreground VM: \"%s\".", name);
        if (!m->bus)
                return;
        (void) sd_bus_emit_properties_changed(
                m->bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "Foreground", NULL);
        (void) sd_bus_emit_signal(
                m->bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "ForegroundChanged", "s", name);
        if (old && (vm = manager_find_vm(m, old))) {
                (void) vm_send_changed(vm, "Foreground", NULL);
                if (vm->pid > 0)
                        (void) scope_set_foreground(m->bus, vm->name, false, waiter);
        }
        if ((vm = manager_find_vm(m, name))) {
                (void) vm_send_changed(vm, "Foreground", NULL);
                if (vm->pid > 0)
                        (void) scope_set_foreground(m->bus, vm->name, true, waiter);
        }
}

void manager_notify_status(Manager *m) {
        size_t running = 0;

        for (VM *vm = m->vms; vm; vm = vm->next)
                running += vm->state == VM_RUNNING;
        (void) sd_notifyf(false, "STATUS=%zu VMs, %zu running (%s)", m->n_vms, running, m->accel ?: "?");
}

void manager_autostart(Manager *m) {
        for (VM *vm = m->vms, *next; vm; vm = next) {
                _cleanup_free_ char *error = NULL;
                Persona *p = manager_find_persona(m, vm->persona);
                int r;

                next = vm->next;
                if (!p || !p->autostart || vm->ephemeral ||
                    !IN_SET(vm->state, VM_CREATED, VM_STOPPED, VM_FAILED))
                        continue;
                log_vm_info(vm->name, "Starting %s: persona %s starts with vmmd.", vm->name, p->name);
                r = vm_start(vm, NULL, &error);
                if (r < 0)
                        log_vm_error_errno(
                                vm->name, r, "Failed to start %s: %s", vm->name, error ?: strerror(-r));
        }
}

static int on_exit_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        log_warning("VMs did not stop in time, killing them.");
        /* Freeing the VMs kills their VMMs (the child sources own the processes). */
        return sd_event_exit(m->event, 0);
}

void manager_begin_exit(Manager *m) {
        size_t active = 0;

        if (!m->exiting) {
                m->exiting = true;
                memory_loop_stop(m);
                log_info("Stopping all VMs before exiting.");
                (void) sd_notify(false, "STOPPING=1");
                for (VM *vm = m->vms; vm; vm = vm->next)
                        if (vm_is_active(vm))
                                (void) vm_stop(vm, false);
                (void) sd_event_add_time_relative(
                        m->event,
                        &m->exit_timer,
                        CLOCK_MONOTONIC,
                        4 * m->config.stop_timeout_usec,
                        0,
                        on_exit_timeout,
                        m);
        }
        for (VM *vm = m->vms; vm; vm = vm->next)
                active += vm_is_active(vm);
        if (active == 0)
                (void) sd_event_exit(m->event, 0);
}
