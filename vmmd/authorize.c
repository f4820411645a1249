/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Authorization of every D-Bus call: one table of methods, access.yaml, polkit. */
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>

#include "authorize.h"
#include "bus-errors.h"
#include "crash.h"
#include "log.h"
#include "manager.h"
#include "vm.h"

typedef enum Permission {
        _PERMISSION_NONE = -1, /* not in the table */
        PERMISSION_READ,       /* open: what a caller sees is filtered where it is read */
        PERMISSION_CREATE,     /* CreateVM(persona, ...): access.yaml create, polkit org.vmmd1.create */
        PERMISSION_USE,        /* SwitchTo(name): access.yaml use (or more), polkit org.vmmd1.use */
        PERMISSION_MANAGE,     /* a VM's object: its owner (org.vmmd1.manage-own) or access.yaml manage
                                * (org.vmmd1.manage) */
        PERMISSION_RELOAD,     /* polkit org.vmmd1.reload */
        PERMISSION_CRASH,      /* a crash bundle (its id first): as its VM's manage */
        PERMISSION_DEBUG,      /* a guest's memory: its VM's manage, and polkit org.vmmd1.debug */
        PERMISSION_DISPLAY,    /* a VM's screen, touch and keys: as SwitchTo, on the VM's object */
} Permission;

/* Every method of org.vmmd1.*: one that is missing here is refused to everyone but root, so a new method
 * cannot slip past authorization. */
static const struct {
        const char *interface, *member;
        Permission permission;
} permissions[] = {
        { VMMD_MANAGER_INTERFACE, "CreateVM", PERMISSION_CREATE },
        { VMMD_MANAGER_INTERFACE, "GetVM", PERMISSION_READ },
        { VMMD_MANAGER_INTERFACE, "ListVMs", PERMISSION_READ },
        { VMMD_MANAGER_INTERFACE, "ListPersonas", PERMISSION_READ },
        { VMMD_MANAGER_INTERFACE, "SwitchTo", PERMISSION_USE },
        { VMMD_MANAGER_INTERFACE, "Reload", PERMISSION_RELOAD },
        { VMMD_MANAGER_INTERFACE, "RebuildGoldenSnapshot", PERMISSION_RELOAD },
        { VMMD_VM_INTERFACE, "Start", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "Stop", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "Pause", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "Resume", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "Reboot", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "Destroy", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "SetMemoryTarget", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "Snapshot", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "Restore", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "DeleteSnapshot", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "ListSnapshots", PERMISSION_READ },
        { VMMD_VM_INTERFACE, "ListSnapshotsDetailed", PERMISSION_READ },
        { VMMD_VM_INTERFACE, "ReadGuest", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "CrashTest", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "MemTest", PERMISSION_MANAGE },
        { VMMD_VM_INTERFACE, "GetDebugSymbols", PERMISSION_DEBUG },
        { VMMD_VM_INTERFACE, "OpenDebugger", PERMISSION_DEBUG },
        { VMMD_VM_INTERFACE, "OpenDisplay", PERMISSION_DISPLAY },
        { VMMD_MANAGER_INTERFACE, "ListCrashes", PERMISSION_READ },
        { VMMD_MANAGER_INTERFACE, "GetCrash", PERMISSION_CRASH },
        { VMMD_MANAGER_INTERFACE, "KeepCrash", PERMISSION_CRASH },
        { VMMD_MANAGER_INTERFACE, "DeleteCrash", PERMISSION_CRASH },
        { VMMD_MANAGER_INTERFACE, "OpenCrash", PERMISSION_DEBUG },
};

struct PolkitQuery {
        PolkitQuery *next;
        Manager *manager;
        sd_bus_message *request; /* the call, dispatched again once polkit answered */
        char *action;
        sd_bus_slot *slot; /* while polkit thinks */
        int verdict;       /* then: 1 authorized, or -EACCES with error_name and message */
        char *error_name, *message;
};

static PolkitQuery *polkit_query_free(PolkitQuery *q) {
        if (!q)
                return NULL;
        sd_bus_slot_unref(q->slot);
        sd_bus_message_unref(q->request);
        free(q->action);
        free(q->error_name);
        free(q->message);
        free(q);
        return NULL;
}

static void polkit_query_unlink(PolkitQuery *q) {
        Manager *m = q->manager;

        for (PolkitQuery **p = &m->polkit_queries; *p; p = &(*p)->next)
                if (*p == q) {
                        *p = q->next;
                        m->n_polkit_queries--;
                        return;
                }
}

void authorize_done(Manager *m) {
        while (m->polkit_queries) {
                PolkitQuery *q = m->polkit_queries;

                polkit_query_unlink(q);
                polkit_query_free(q);
        }
        caller_done(&m->caller);
        m->caller_message = NULL;
        m->caller_sender = mfree(m->caller_sender);
}

static int resolve_caller(uid_t uid, Caller *ret) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ gid_t *gids = NULL;
        _cleanup_(caller_done) Caller c = { .uid = uid };
        struct passwd pw, *pwp = NULL;
        size_t bufsize = 16384;
        int n = 64, r;

        buf = malloc(bufsize);
        if (!buf)
                return -ENOMEM;
        r = getpwuid_r(uid, &pw, buf, bufsize, &pwp);
        if (r != 0 || !pwp) {
                /* A uid without a name is in no list but "*". */
                *ret = c;
                c = (Caller){};
                return 0;
        }
        c.user = strdup(pw.pw_name);
        if (!c.user)
                return -ENOMEM;
        for (;;) {
                gid_t *t = reallocarray(gids, n, sizeof(gid_t));

                if (!t)
                        return -ENOMEM;
                gids = t;
                if (getgrouplist(pw.pw_name, pw.pw_gid, gids, &n) >= 0)
                        break;
                if (n > 65536)
                        return -E2BIG;
        }
        c.groups = calloc(1, sizeof(char *));
        if (!c.groups)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                struct group gr, *grp = NULL;
                char gbuf[16384];

                if (getgrgid_r(gids[i], &gr, gbuf, sizeof(gbuf), &grp) != 0 || !grp)
                        continue;
                r = strv_extend(&c.groups, gr.gr_name);
                if (r < 0)
                        return r;
        }
        *ret = c;
        c = (Caller){};
        return 0;
}

const Caller *authorize_caller(Manager *m, sd_bus_message *call) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *sender = sd_bus_message_get_sender(call);
        uint64_t cookie = 0;
        uint32_t uid;

        /* A message is its sender's unique name and its cookie: the pointer alone may be reused. */
        (void) sd_bus_message_get_cookie(call, &cookie);
        if (m->caller_message == call && m->caller_cookie == cookie && streq_ptr(m->caller_sender, sender))
                return &m->caller;
        caller_done(&m->caller);
        m->caller_message = NULL;
        if (free_and_strdup(&m->caller_sender, sender) < 0)
                return NULL;
        /* The uid the bus vouches for (the peer's at connect time), asked of the bus itself: sd-bus's own
         * credential queries read the rest from /proc, which shows vmmd no other user's processes
         * (ProtectProc=invisible). */
        if (!sender ||
            sd_bus_call_method(
                    sd_bus_message_get_bus(call),
                    "org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "GetConnectionUnixUser",
                    NULL,
                    &reply,
                    "s",
                    sender) < 0 ||
            sd_bus_message_read(reply, "u", &uid) < 0)
                return NULL;
        if (resolve_caller((uid_t) uid, &m->caller) < 0)
                return NULL;
        m->caller_message = call;
        m->caller_cookie = cookie;
        return &m->caller;
}

AccessLevel authorize_vm_level(Manager *m, sd_bus_message *call, const VM *vm) {
        return authorize_level(m, call, vm->persona, vm->owner_uid);
}

AccessLevel authorize_level(Manager *m, sd_bus_message *call, const char *persona, uid_t owner) {
        const Caller *c;

        if (m->config.user)
                return ACCESS_OWNER; /* the filter let only vmmd's own user in */
        c = authorize_caller(m, call);
        if (!c)
                return ACCESS_NONE;
        if (c->uid == 0)
                return ACCESS_OWNER;
        return access_level(&m->access, persona, owner, c);
}

bool authorize_vm_visible(Manager *m, const VM *vm) {
        sd_bus_message *call = m->bus ? sd_bus_get_current_message(m->bus) : NULL;

        if (!call || !sd_bus_message_is_method_call(call, NULL, NULL))
                return true;
        return authorize_vm_level(m, call, vm) != ACCESS_NONE;
}

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PolkitQuery *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int authorized = 0, challenge = 0, r;

        q->slot = sd_bus_slot_unref(q->slot);
        if (e) {
                bool absent = sd_bus_error_has_names(
                        e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_NO_REPLY);
                log_warning("polkit did not answer for %s: %s", q->action, e->message ?: e->name);
                (void) asprintf(
                        &q->message,
                        "Not authorized: %s (polkit action %s)",
                        absent ? "polkit is not available to decide" : "polkit failed to decide",
                        q->action);
        } else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0)
                        (void) asprintf(
                                &q->message,
                                "Not authorized: polkit's answer was not understood (%s)",
                                q->action);
                else if (!authorized && challenge)
                        (void) asprintf(
                                &q->message,
                                "Interactive authentication is required for %s (polkit action %s)",
                                sd_bus_message_get_member(q->request),
                                q->action);
                else if (!authorized)
                        (void) asprintf(&q->message, "Not authorized (polkit action %s)", q->action);
        }
        q->verdict = authorized && !e ? 1 : -EACCES;
        if (q->verdict < 0)
                q->error_name = strdup(
                        !e && challenge ? SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED :
                                          VMMD_ERROR_ACCESS_DENIED);

        /* The call goes through the filter again, which now finds the verdict. */
        r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(reply), q->request);
        if (r < 0) {
                log_warning_errno(r, "Failed to dispatch a call again after polkit answered: %m");
                (void) sd_bus_reply_method_errno(q->request, r, NULL);
                polkit_query_unlink(q);
                polkit_query_free(q);
        }
        return 0;
}

/* 1 and the verdict: polkit answered for this call; 0: it did not ask. */
static int polkit_take_verdict(Manager *m, sd_bus_message *call, sd_bus_error *error) {
        for (PolkitQuery *q = m->polkit_queries; q; q = q->next) {
                int verdict;

                if (q->request != call || q->slot)
                        continue;
                verdict = q->verdict;
                if (verdict < 0)
                        (void) sd_bus_error_set(
                                error,
                                q->error_name ?: VMMD_ERROR_ACCESS_DENIED,
                                q->message ?: "Not authorized");
                polkit_query_unlink(q);
                polkit_query_free(q);
                return verdict;
        }
        return 0;
}

/* Asks polkit, with the VM and persona as details for rules. 0: asked; < 0 with error. */
static int polkit_ask(
        Manager *m,
        sd_bus_message *call,
        const char *action,
        const char *vm,
        const char *persona,
        sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *pk = NULL;
        PolkitQuery *q;
        int r;

        if (m->n_polkit_queries >= POLKIT_QUERIES_MAX)
                return sd_bus_error_setf(error, VMMD_ERROR_BUSY, "Too many calls wait for polkit; try again");
        r = sd_bus_message_new_method_call(
                m->bus,
                &pk,
                "org.freedesktop.PolicyKit1",
                "/org/freedesktop/PolicyKit1/Authority",
                "org.freedesktop.PolicyKit1.Authority",
                "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(
                        pk, "(sa{sv})s", "system-bus-name", 1, "name", "s", sd_bus_message_get_sender(call), action);
        if (r >= 0)
                r = sd_bus_message_open_container(pk, 'a', "{ss}");
        if (r >= 0 && vm)
                r = sd_bus_message_append(pk, "{ss}", "vm", vm);
        if (r >= 0 && persona)
                r = sd_bus_message_append(pk, "{ss}", "persona", persona);
        if (r >= 0)
                r = sd_bus_message_close_container(pk);
        if (r >= 0)
                r = sd_bus_message_append(
                        pk, "us", (uint32_t) sd_bus_message_get_allow_interactive_authorization(call), "");
        if (r < 0)
                return r;

        q = calloc(1, sizeof(PolkitQuery));
        if (!q)
                return -ENOMEM;
        q->manager = m;
        q->request = sd_bus_message_ref(call);
        q->action = strdup(action);
        /* A person may take a while to type a password. */
        r = q->action ? sd_bus_call_async(m->bus, &q->slot, pk, on_polkit_reply, q, 5 * 60 * USEC_PER_SEC) :
                        -ENOMEM;
        if (r < 0) {
                polkit_query_free(q);
                return r;
        }
        q->next = m->polkit_queries;
        m->polkit_queries = q;
        m->n_polkit_queries++;
        return 0;
}

_printf_(3, 4) static int deny(sd_bus_error *error, const char *action, const char *fmt, ...) {
        char text[512];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        return sd_bus_error_setf(error, VMMD_ERROR_ACCESS_DENIED, "%s (polkit action %s)", text, action);
}

/* Managing a VM (name, of persona, made by owner) or what it left: its owner or access.yaml's manage, and
 * polkit's action for it (debug: the guest's memory, org.vmmd1.debug). 1: dispatch (the handler says it
 * does not exist); 0: polkit asked; < 0: refused. */
static int check_manage(
        Manager *m,
        sd_bus_message *call,
        const char *name,
        const char *persona,
        uid_t owner,
        bool debug,
        const char *who,
        sd_bus_error *error) {
        AccessLevel level = authorize_level(m, call, persona, owner);
        const char *action;

        if (level == ACCESS_NONE)
                return 1; /* not seen: it does not exist for the caller */
        action = debug                ? "org.vmmd1.debug" :
                level == ACCESS_OWNER ? "org.vmmd1.manage-own" :
                                        "org.vmmd1.manage";
        if (level == ACCESS_USE)
                return deny(error, action, "access.yaml lets %s use VM \"%s\", not manage it", who, name);
        return polkit_ask(m, call, action, name, persona, error);
}

/* 1: dispatch the call; 0: polkit was asked, the call comes again; < 0: refused, with error. */
static int authorize_call(Manager *m, sd_bus_message *call, sd_bus_error *error) {
        const char *interface = sd_bus_message_get_interface(call), *member = sd_bus_message_get_member(call);
        const char *action, *arg = NULL, *who;
        _cleanup_free_ char *name = NULL;
        const Caller *c;
        Permission permission = _PERMISSION_NONE;
        VM *vm = NULL;
        int r;

        c = authorize_caller(m, call);
        if (!c)
                return sd_bus_error_set(error, VMMD_ERROR_ACCESS_DENIED, "The bus does not say who is calling");
        if (m->config.user) {
                if (c->uid == getuid())
                        return 1;
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_ACCESS_DENIED,
                        "This vmmd --user serves uid %u only, not uid %u",
                        (unsigned) getuid(),
                        (unsigned) c->uid);
        }
        if (c->uid == 0)
                return 1;
        r = polkit_take_verdict(m, call, error);
        if (r != 0)
                return r;
        /* Properties, introspection, the object manager, Peer: reads, filtered where they are read. */
        if (!interface || strncmp(interface, "org.vmmd1.", strlen("org.vmmd1.")) != 0)
                return 1;
        for (size_t i = 0; i < ELEMENTSOF(permissions); i++)
                if (streq(permissions[i].interface, interface) && streq_ptr(permissions[i].member, member))
                        permission = permissions[i].permission;
        who = c->user ?: "(a uid without a name)";

        switch (permission) {
        case PERMISSION_READ:
                return 1;
        case PERMISSION_CREATE: {
                const Persona *p;

                if (sd_bus_message_read(call, "s", &arg) < 0 || sd_bus_message_rewind(call, true) < 0)
                        return 1; /* the handler tells what is wrong with the arguments */
                p = manager_find_persona(m, arg);
                if (!p)
                        return 1; /* NoSuchPersona */
                action = "org.vmmd1.create";
                if (!access_may_create(&m->access, p->name, c))
                        return deny(
                                error,
                                action,
                                "access.yaml does not let %s create VMs of persona \"%s\"",
                                who,
                                p->name);
                return polkit_ask(m, call, action, NULL, p->name, error);
        }
        case PERMISSION_USE:
        case PERMISSION_DISPLAY:
                if (permission == PERMISSION_DISPLAY) {
                        if (sd_bus_path_decode(sd_bus_message_get_path(call), VMMD_VM_PATH_PREFIX, &name) > 0)
                                vm = manager_find_vm(m, name);
                } else if (sd_bus_message_read(call, "s", &arg) >= 0 && sd_bus_message_rewind(call, true) >= 0)
                        vm = manager_find_vm(m, arg);
                /* One the caller may not see is NoSuchVM (UnknownObject), from the handler. */
                if (!vm || authorize_vm_level(m, call, vm) == ACCESS_NONE)
                        return 1;
                return polkit_ask(m, call, "org.vmmd1.use", vm->name, vm->persona, error);
        case PERMISSION_MANAGE:
        case PERMISSION_DEBUG:
        case PERMISSION_CRASH:
                if (streq(interface, VMMD_MANAGER_INTERFACE)) {
                        _cleanup_(crash_bundle_done) CrashBundle b = {};

                        /* A crash bundle by id: a broken or missing one is NoSuchCrash, from the handler. */
                        if (sd_bus_message_read(call, "s", &arg) < 0 || sd_bus_message_rewind(call, true) < 0 ||
                            crash_find(m->config.state_dir, arg, &b) < 0)
                                return 1;
                        return check_manage(
                                m, call, b.vm, b.persona, b.owner, permission == PERMISSION_DEBUG, who, error);
                }
                if (sd_bus_path_decode(sd_bus_message_get_path(call), VMMD_VM_PATH_PREFIX, &name) > 0)
                        vm = manager_find_vm(m, name);
                if (!vm)
                        return 1; /* UnknownObject */
                return check_manage(
                        m, call, vm->name, vm->persona, vm->owner_uid, permission == PERMISSION_DEBUG, who, error);
        case PERMISSION_RELOAD:
                return polkit_ask(m, call, "org.vmmd1.reload", NULL, NULL, error);
        default:
                return sd_bus_error_setf(
                        error,
                        VMMD_ERROR_ACCESS_DENIED,
                        "%s.%s is not in vmmd's table of permissions: root only",
                        interface,
                        strna(member));
        }
}

static int on_filter(sd_bus_message *call, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Manager *m = userdata;
        int r;

        if (!sd_bus_message_is_method_call(call, NULL, NULL))
                return 0;
        r = authorize_call(m, call, &error);
        if (r > 0)
                return 0; /* on to the object */
        if (r == 0)
                return 1; /* polkit decides, then the call comes again */
        if (!sd_bus_error_is_set(&error))
                (void) sd_bus_error_set_errno(&error, r);
        log_debug(
                "Refused %s.%s from %s: %s",
                strna(sd_bus_message_get_interface(call)),
                strna(sd_bus_message_get_member(call)),
                strna(sd_bus_message_get_sender(call)),
                error.message);
        r = sd_bus_reply_method_error(call, &error);
        if (r < 0)
                log_warning_errno(r, "Failed to answer a refused call, ignoring: %m");
        return 1;
}

int authorize_install(Manager *m) {
        return sd_bus_add_filter(m->bus, NULL, on_filter, m);
}
