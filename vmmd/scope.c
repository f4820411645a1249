/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VMM scopes through org.freedesktop.systemd1.Manager.StartTransientUnit and SetUnitProperties. */
#include <stdio.h>

#include "log.h"
#include "scope.h"
#include "util.h"

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"

char *scope_unit_name(const char *vm_name) {
        static const char prefix[] = "vmm-", suffix[] = ".scope";
        char *s, *p;

        s = malloc(strlen(prefix) + strlen(vm_name) * 4 + strlen(suffix) + 1);
        if (!s)
                return NULL;
        p = stpcpy(s, prefix);
        for (const unsigned char *c = (const unsigned char *) vm_name; *c; c++) {
                if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                    IN_SET(*c, ':', '_') || (*c == '.' && c != (const unsigned char *) vm_name))
                        *p++ = (char) *c;
                else
                        p += sprintf(p, "\\x%02x", *c);
        }
        strcpy(p, suffix);
        return s;
}

struct ScopeWaiter {
        unsigned n_ref;
        sd_bus_message *call;
};

ScopeWaiter *scope_waiter_new(sd_bus_message *call) {
        ScopeWaiter *w = calloc(1, sizeof(ScopeWaiter));

        if (!w)
                return NULL;
        w->n_ref = 1;
        w->call = sd_bus_message_ref(call);
        return w;
}

static ScopeWaiter *scope_waiter_ref(ScopeWaiter *w) {
        if (w)
                w->n_ref++;
        return w;
}

ScopeWaiter *scope_waiter_unref(ScopeWaiter *w) {
        int r;

        if (!w || --w->n_ref > 0)
                return NULL;
        r = sd_bus_reply_method_return(w->call, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to answer a D-Bus call, ignoring: %m");
        sd_bus_message_unref(w->call);
        free(w);
        return NULL;
}

typedef struct ScopeCall {
        char *unit;
        ScopeWaiter *waiter;
} ScopeCall;

static void scope_call_free(ScopeCall *c) {
        free(c->unit);
        scope_waiter_unref(c->waiter);
        free(c);
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);
        ScopeCall *c = userdata;

        /* No systemd (a plain session bus, a container): the VMM simply stays where it is. */
        if (e)
                log_full_errno(
                        sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER) ?
                                LOG_DEBUG :
                                LOG_WARNING,
                        0,
                        "systemd did not set up %s: %s",
                        c->unit,
                        e->message ?: e->name);
        scope_call_free(c);
        return 0;
}

/* Sends m; unit is consumed. */
static int call_async(sd_bus *bus, sd_bus_message *m, char *unit, ScopeWaiter *waiter) {
        ScopeCall *c = calloc(1, sizeof(ScopeCall));
        int r;

        if (!c) {
                free(unit);
                return -ENOMEM;
        }
        c->unit = unit;
        c->waiter = scope_waiter_ref(waiter);
        r = sd_bus_call_async(bus, NULL, m, on_reply, c, 0);
        if (r < 0)
                scope_call_free(c);
        return r;
}

int scope_start(sd_bus *bus, const char *vm_name, pid_t pid, bool foreground, const ScopeLimits *limits) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *unit = scope_unit_name(vm_name), *description = NULL;
        int r;

        if (!bus)
                return 0;
        if (!unit || asprintf(&description, "Virtual phone %s", vm_name) < 0)
                return -ENOMEM;
        r = sd_bus_message_new_method_call(
                bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "StartTransientUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", unit, "fail");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = sd_bus_message_append(
                        m,
                        "(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)",
                        "Description",
                        "s",
                        description,
                        "Slice",
                        "s",
                        "machine.slice",
                        "PIDs",
                        "au",
                        1,
                        (uint32_t) pid,
                        "CPUWeight",
                        "t",
                        foreground ? SCOPE_CPU_WEIGHT_FOREGROUND : SCOPE_CPU_WEIGHT_BACKGROUND,
                        /* The VM's memory and the VMM's own; reclaim starts a little earlier. */
                        "MemoryMax",
                        "t",
                        (limits->memory_mib + SCOPE_VMM_OVERHEAD_MIB) << 20,
                        "MemoryHigh",
                        "t",
                        scope_memory_high_bytes(limits->memory_mib),
                        "TasksMax",
                        "t",
                        (uint64_t) SCOPE_TASKS_MAX,
                        /* The usual pseudo-devices, and /dev/kvm where the VM uses it. */
                        "DevicePolicy",
                        "s",
                        "closed",
                        "CollectMode",
                        "s",
                        "inactive-or-failed",
                        /* At shutdown vmmd goes first: it powers the guests off through their agents. If
                         * systemd stopped the scope first, QEMU would get SIGTERM with the guest running. */
                        "Before",
                        "as",
                        1,
                        "vmmd.service");
        if (r >= 0 && limits->kvm_device)
                r = sd_bus_message_append(m, "(sv)", "DeviceAllow", "a(ss)", 1, limits->kvm_device, "rw");
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return r;
        return call_async(bus, m, TAKE_PTR(unit), NULL);
}

/* Sets one numeric property of the VM's scope; asynchronous. */
static int scope_set_property(
        sd_bus *bus, const char *vm_name, const char *property, uint64_t value, ScopeWaiter *waiter) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *unit = scope_unit_name(vm_name);
        int r;

        if (!bus)
                return 0;
        if (!unit)
                return -ENOMEM;
        r = sd_bus_message_new_method_call(
                bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "SetUnitProperties");
        if (r >= 0)
                r = sd_bus_message_append(m, "sba(sv)", unit, 1, 1, property, "t", value);
        if (r < 0)
                return r;
        return call_async(bus, m, TAKE_PTR(unit), waiter);
}

int scope_set_foreground(sd_bus *bus, const char *vm_name, bool foreground, ScopeWaiter *waiter) {
        return scope_set_property(
                bus,
                vm_name,
                "CPUWeight",
                foreground ? SCOPE_CPU_WEIGHT_FOREGROUND : SCOPE_CPU_WEIGHT_BACKGROUND,
                waiter);
}

uint64_t scope_memory_high_bytes(uint64_t target_mib) {
        return (target_mib + SCOPE_VMM_OVERHEAD_MIB / 2) << 20;
}

int scope_set_memory_high(sd_bus *bus, const char *vm_name, uint64_t target_mib) {
        return scope_set_property(bus, vm_name, "MemoryHigh", scope_memory_high_bytes(target_mib), NULL);
}

int scope_read_pressure(pid_t pid, const char *vm_name, double *ret) {
        _cleanup_free_ char *unit = scope_unit_name(vm_name), *text = NULL, *path = NULL;
        char proc[64];
        const char *cg;
        size_t n;
        int r;

        if (!unit)
                return -ENOMEM;
        /* The VMM's cgroup, as the kernel says (the VMM cannot change what it says): "0::/<path>\n". */
        (void) snprintf(proc, sizeof(proc), "/proc/%d/cgroup", (int) pid);
        r = read_full_file(proc, &text, NULL);
        if (r < 0)
                return r;
        if (strncmp(text, "0::/", 4) != 0)
                return -ENOMEDIUM;
        n = strcspn(text, "\n");
        text[n] = 0;
        cg = text + strlen("0::");
        /* Its own scope only: elsewhere (no systemd), the cgroup is vmmd's. */
        n = strlen(cg);
        if (n <= strlen(unit) || !streq(cg + n - strlen(unit), unit) || cg[n - strlen(unit) - 1] != '/' ||
            strstr(cg, "/.."))
                return -ENOMEDIUM;
        if (asprintf(&path, "/sys/fs/cgroup%s/memory.pressure", cg) < 0)
                return -ENOMEM;
        return psi_read_some_avg10(path, ret);
}
