/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-launcher's side of the org.vmmd1 contract: the phones the caller sees, kept up to date from vmmd's
 * signals, and the calls the launcher makes. No widgets here.
 *
 * Everything follows vmmd's signals: ListVMs once vmmd is on the bus, then VMNew, VMRemoved and
 * PropertiesChanged. Signals and replies of one sender arrive in the order it sent them, so a reply applied
 * on arrival never overwrites a newer value from a signal. */
#include <gio/gunixfdlist.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "util.h"

#define VMMD_NAME "org.vmmd1"
#define MANAGER_PATH "/org/vmmd1"
#define MANAGER_IFACE "org.vmmd1.Manager"
#define VM_IFACE "org.vmmd1.VM"
#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

/* Reads and switches answer quickly; CreateVM returns once the VMM runs, Stop once it stopped. */
#define CALL_TIMEOUT_MS (60 * 1000)
#define LONG_CALL_TIMEOUT_MS (5 * 60 * 1000)

struct Client {
        GDBusConnection *bus;
        bool user;
        guint watch_id;
        guint manager_signal_id;
        guint properties_signal_id;

        /* vmmd owns org.vmmd1; service_announced: the callbacks were told up or down at least once. */
        bool up;
        bool service_announced;
        char *owner;
        /* The calls about the current owner (ListVMs, the Foreground); cancelled when it leaves. */
        GCancellable *session;
        /* Every call; cancelled by client_free(). */
        GCancellable *cancellable;

        GHashTable *phones; /* name → Phone, owned */
        char *foreground;

        const ClientCallbacks *callbacks;
        void *userdata;
};

typedef struct Call {
        Client *client;
        Phone *phone;
        char *subject;
        /* Owned references: the call's result is dropped once one of them is cancelled. */
        GCancellable *cancellable;
        GCancellable *extra_cancellable;
        ClientReply reply;
        ClientDisplayReply display_reply;
        void *userdata;
} Call;

static Call *call_new(Client *c, Phone *p, GCancellable *cancellable, const char *subject) {
        Call *call = g_new0(Call, 1);

        call->client = c;
        call->phone = p;
        call->cancellable = g_object_ref(cancellable);
        call->subject = g_strdup(subject);
        return call;
}

static void call_free(Call *call) {
        if (!call)
                return;
        g_clear_object(&call->cancellable);
        g_clear_object(&call->extra_cancellable);
        g_free(call->subject);
        g_free(call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Call, call_free);

static bool call_cancelled(Call *call) {
        return g_cancellable_is_cancelled(call->cancellable) ||
                (call->extra_cancellable && g_cancellable_is_cancelled(call->extra_cancellable));
}

static void phone_free(Phone *p) {
        if (!p)
                return;
        g_cancellable_cancel(p->cancellable);
        g_clear_object(&p->cancellable);
        g_free(p->name);
        g_free(p->path);
        g_free(p->persona);
        g_free(p->state);
        g_free(p->failure_reason);
        g_free(p->color);
        g_free(p);
}

static Phone *phone_new(Client *c, const char *name, const char *path) {
        Phone *p = g_new0(Phone, 1);

        p->client = c;
        p->name = g_strdup(name);
        p->path = g_strdup(path);
        p->persona = g_strdup("");
        p->state = g_strdup("");
        p->failure_reason = g_strdup("");
        p->cancellable = g_cancellable_new();
        return p;
}

static bool set_str(char **field, const char *s) {
        if (g_strcmp0(*field, s) == 0)
                return false;
        g_free(*field);
        *field = g_strdup(s);
        return true;
}

static bool set_string(char **field, GVariant *v) {
        if (!g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
                return false;
        return set_str(field, g_variant_get_string(v, NULL));
}

static bool set_color(Phone *p, GVariant *v) {
        const char *s;
        Rgb rgb;

        if (!g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
                return false;
        s = g_variant_get_string(v, NULL);
        /* An invalid colour counts as none: the launcher derives one from the persona. */
        if (color_parse(s, &rgb) < 0)
                s = NULL;
        if (g_strcmp0(p->color, s) == 0)
                return false;
        g_free(p->color);
        p->color = g_strdup(s);
        return true;
}

static bool set_display_size(Phone *p, uint32_t *field, GVariant *v) {
        uint32_t u;

        if (!g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
                return false;
        u = g_variant_get_uint32(v);
        if (p->has_display_size && *field == u)
                return false;
        if (!p->has_display_size) {
                /* The other one stays 0 until its value comes, as vmmd sends both together. */
                p->has_display_size = true;
                p->display_width = p->display_height = 0;
        }
        *field = u;
        return true;
}

/* Applies an a{sv} of VM properties; returns the PhoneChange bits of what changed. */
static unsigned phone_apply(Phone *p, GVariant *dict) {
        unsigned changes = 0;
        GVariantIter iter;
        const char *key;
        GVariant *value;

        g_variant_iter_init(&iter, dict);
        while (g_variant_iter_loop(&iter, "{&sv}", &key, &value)) {
                if (strcmp(key, "Persona") == 0) {
                        if (set_string(&p->persona, value))
                                changes |= PHONE_CHANGE_PERSONA;
                } else if (strcmp(key, "State") == 0) {
                        if (set_string(&p->state, value))
                                changes |= PHONE_CHANGE_STATE;
                } else if (strcmp(key, "FailureReason") == 0) {
                        if (set_string(&p->failure_reason, value))
                                changes |= PHONE_CHANGE_FAILURE_REASON;
                } else if (strcmp(key, "Ephemeral") == 0) {
                        if (g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN) &&
                            p->ephemeral != !!g_variant_get_boolean(value)) {
                                p->ephemeral = g_variant_get_boolean(value);
                                changes |= PHONE_CHANGE_EPHEMERAL;
                        }
                } else if (strcmp(key, "Color") == 0) {
                        if (set_color(p, value))
                                changes |= PHONE_CHANGE_COLOR;
                } else if (strcmp(key, "DisplayWidth") == 0) {
                        if (set_display_size(p, &p->display_width, value))
                                changes |= PHONE_CHANGE_DISPLAY_SIZE;
                } else if (strcmp(key, "DisplayHeight") == 0) {
                        if (set_display_size(p, &p->display_height, value))
                                changes |= PHONE_CHANGE_DISPLAY_SIZE;
                }
        }
        return changes;
}

static void remove_phone(Client *c, Phone *p) {
        /* Cancel first: a reply about it that is on its way must not reach the launcher. */
        g_cancellable_cancel(p->cancellable);
        if (c->callbacks->phone_removed)
                c->callbacks->phone_removed(c, p, c->userdata);
        g_hash_table_remove(c->phones, p->name);
}

static Phone *find_phone_by_path(Client *c, const char *path) {
        GHashTableIter iter;
        Phone *p;

        g_hash_table_iter_init(&iter, c->phones);
        while (g_hash_table_iter_next(&iter, NULL, (void **) &p))
                if (strcmp(p->path, path) == 0)
                        return p;
        return NULL;
}

static void on_get_all(GObject *source, GAsyncResult *result, gpointer userdata) {
        g_autoptr(Call) call = userdata;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) dict = NULL;
        unsigned changes;
        Phone *p;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
        if (call_cancelled(call))
                return;
        p = call->phone;
        /* A VM that went meanwhile: VMRemoved is on its way. */
        if (!reply)
                return;
        dict = g_variant_get_child_value(reply, 0);
        changes = phone_apply(p, dict);
        if (!p->loaded) {
                p->loaded = true;
                /* Everything is new to whoever waited for the first answer. */
                changes |= PHONE_CHANGE_PERSONA | PHONE_CHANGE_STATE | PHONE_CHANGE_FAILURE_REASON |
                        PHONE_CHANGE_EPHEMERAL | PHONE_CHANGE_COLOR | PHONE_CHANGE_DISPLAY_SIZE;
        }
        if (changes && call->client->callbacks->phone_changed)
                call->client->callbacks->phone_changed(call->client, p, changes, call->client->userdata);
}

static void phone_load(Client *c, Phone *p) {
        g_dbus_connection_call(
                c->bus,
                VMMD_NAME,
                p->path,
                PROPERTIES_IFACE,
                "GetAll",
                g_variant_new("(s)", VM_IFACE),
                G_VARIANT_TYPE("(a{sv})"),
                G_DBUS_CALL_FLAGS_NONE,
                CALL_TIMEOUT_MS,
                p->cancellable,
                on_get_all,
                call_new(c, p, p->cancellable, p->name));
}

/* The phone called name at path, made if new (then announced). */
static Phone *ensure_phone(Client *c, const char *name, const char *path, bool *ret_new) {
        Phone *p = g_hash_table_lookup(c->phones, name);

        if (p && strcmp(p->path, path) != 0) {
                remove_phone(c, p);
                p = NULL;
        }
        *ret_new = !p;
        if (!p) {
                p = phone_new(c, name, path);
                g_hash_table_insert(c->phones, p->name, p);
        }
        return p;
}

static void set_foreground(Client *c, const char *name) {
        if (g_strcmp0(c->foreground, name) == 0)
                return;
        g_free(c->foreground);
        c->foreground = g_strdup(name);
        if (c->callbacks->foreground)
                c->callbacks->foreground(c, name, c->userdata);
}

static void on_get_foreground(GObject *source, GAsyncResult *result, gpointer userdata) {
        g_autoptr(Call) call = userdata;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) value = NULL;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
        if (call_cancelled(call) || !reply)
                return;
        g_variant_get(reply, "(v)", &value);
        if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
                set_foreground(call->client, g_variant_get_string(value, NULL));
}

static void get_foreground(Client *c) {
        g_dbus_connection_call(
                c->bus,
                VMMD_NAME,
                MANAGER_PATH,
                PROPERTIES_IFACE,
                "Get",
                g_variant_new("(ss)", MANAGER_IFACE, "Foreground"),
                G_VARIANT_TYPE("(v)"),
                G_DBUS_CALL_FLAGS_NONE,
                CALL_TIMEOUT_MS,
                c->session,
                on_get_foreground,
                call_new(c, NULL, c->session, NULL));
}

static void on_list_vms(GObject *source, GAsyncResult *result, gpointer userdata) {
        g_autoptr(Call) call = userdata;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariantIter) iter = NULL;
        g_autoptr(GPtrArray) gone = g_ptr_array_new();
        const char *name, *persona, *state, *path;
        GHashTableIter hiter;
        Client *c;
        Phone *p;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
        if (call_cancelled(call))
                return;
        c = call->client;
        if (!reply) {
                g_autofree char *message = client_error_message(error);

                g_printerr("Failed to list the VMs of vmmd: %s\n", message);
                return;
        }

        g_hash_table_iter_init(&hiter, c->phones);
        while (g_hash_table_iter_next(&hiter, NULL, (void **) &p))
                p->listed = false;

        g_variant_get(reply, "(a(ssso))", &iter);
        while (g_variant_iter_loop(iter, "(&s&s&s&o)", &name, &persona, &state, &path)) {
                unsigned changes = 0;
                bool is_new;

                p = ensure_phone(c, name, path, &is_new);
                p->listed = true;
                if (set_str(&p->persona, persona))
                        changes |= PHONE_CHANGE_PERSONA;
                if (set_str(&p->state, state))
                        changes |= PHONE_CHANGE_STATE;
                if (is_new) {
                        if (c->callbacks->phone_new)
                                c->callbacks->phone_new(c, p, c->userdata);
                } else if (changes && c->callbacks->phone_changed)
                        c->callbacks->phone_changed(c, p, changes, c->userdata);
                phone_load(c, p);
        }

        /* What vmmd no longer has (it restarted without them) or no longer shows this caller. */
        g_hash_table_iter_init(&hiter, c->phones);
        while (g_hash_table_iter_next(&hiter, NULL, (void **) &p))
                if (!p->listed)
                        g_ptr_array_add(gone, p);
        for (size_t i = 0; i < gone->len; i++)
                remove_phone(c, gone->pdata[i]);
}

static void refresh(Client *c) {
        get_foreground(c);
        g_dbus_connection_call(
                c->bus,
                VMMD_NAME,
                MANAGER_PATH,
                MANAGER_IFACE,
                "ListVMs",
                NULL,
                G_VARIANT_TYPE("(a(ssso))"),
                G_DBUS_CALL_FLAGS_NONE,
                CALL_TIMEOUT_MS,
                c->session,
                on_list_vms,
                call_new(c, NULL, c->session, NULL));
}

static void on_manager_signal(
        GDBusConnection *bus,
        const char *sender,
        const char *path,
        const char *iface,
        const char *member,
        GVariant *params,
        gpointer userdata) {
        bool name_path = g_variant_is_of_type(params, G_VARIANT_TYPE("(so)"));
        bool one_name = g_variant_is_of_type(params, G_VARIANT_TYPE("(s)"));
        Client *c = userdata;
        const char *name, *vm_path;
        bool is_new;
        Phone *p;

        if (strcmp(member, "VMNew") == 0 && name_path) {
                g_variant_get(params, "(&s&o)", &name, &vm_path);
                p = ensure_phone(c, name, vm_path, &is_new);
                if (is_new) {
                        if (c->callbacks->phone_new)
                                c->callbacks->phone_new(c, p, c->userdata);
                        phone_load(c, p);
                }
        } else if (strcmp(member, "VMRemoved") == 0 && name_path) {
                g_variant_get(params, "(&s&o)", &name, &vm_path);
                p = g_hash_table_lookup(c->phones, name);
                if (p && strcmp(p->path, vm_path) == 0)
                        remove_phone(c, p);
        } else if (strcmp(member, "ForegroundChanged") == 0 && one_name) {
                g_variant_get(params, "(&s)", &name);
                set_foreground(c, name);
        }
}

static void on_properties_changed(
        GDBusConnection *bus,
        const char *sender,
        const char *path,
        const char *iface,
        const char *member,
        GVariant *params,
        gpointer userdata) {
        g_autoptr(GVariant) changed = NULL;
        g_autofree const char **invalidated = NULL;
        Client *c = userdata;
        const char *interface;
        unsigned changes;
        Phone *p;

        if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(sa{sv}as)")))
                return;
        g_variant_get(params, "(&s@a{sv}^a&s)", &interface, &changed, &invalidated);

        if (strcmp(interface, MANAGER_IFACE) == 0 && strcmp(path, MANAGER_PATH) == 0) {
                const char *fg;

                if (g_variant_lookup(changed, "Foreground", "&s", &fg))
                        set_foreground(c, fg);
                else if (g_strv_contains(invalidated, "Foreground") && c->up)
                        get_foreground(c);
                return;
        }
        if (strcmp(interface, VM_IFACE) != 0)
                return;
        p = find_phone_by_path(c, path);
        if (!p)
                return;
        changes = phone_apply(p, changed);
        if (changes && c->callbacks->phone_changed)
                c->callbacks->phone_changed(c, p, changes, c->userdata);
        /* vmmd sends values; an invalidated property is read again with the rest. */
        if (invalidated[0])
                phone_load(c, p);
}

static void announce(Client *c, bool up) {
        c->service_announced = true;
        if (c->callbacks->service)
                c->callbacks->service(c, up, c->userdata);
}

static void on_name_appeared(GDBusConnection *bus, const char *name, const char *owner, gpointer userdata) {
        Client *c = userdata;

        if (c->up && g_strcmp0(c->owner, owner) == 0)
                return;
        g_cancellable_cancel(c->session);
        g_clear_object(&c->session);
        c->session = g_cancellable_new();
        g_free(c->owner);
        c->owner = g_strdup(owner);
        c->up = true;
        announce(c, true);
        refresh(c);
}

static void on_name_vanished(GDBusConnection *bus, const char *name, gpointer userdata) {
        Client *c = userdata;

        if (!c->up && c->service_announced)
                return;
        g_cancellable_cancel(c->session);
        g_clear_pointer(&c->owner, g_free);
        c->up = false;
        announce(c, false);
}

static void on_bus_closed(GDBusConnection *bus, gboolean remote_peer_vanished, GError *error, gpointer userdata) {
        Client *c = userdata;

        if (c->callbacks->closed)
                c->callbacks->closed(c, error ? error->message : "closed", c->userdata);
}

int client_new(bool user, const ClientCallbacks *callbacks, void *userdata, Client **ret, GError **error) {
        g_autoptr(GDBusConnection) bus = NULL;
        Client *c;

        g_assert(callbacks);
        g_assert(ret);

        bus = g_bus_get_sync(user ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, NULL, error);
        if (!bus)
                return -EIO;

        c = g_new0(Client, 1);
        c->bus = g_steal_pointer(&bus);
        c->user = user;
        c->callbacks = callbacks;
        c->userdata = userdata;
        c->cancellable = g_cancellable_new();
        c->session = g_cancellable_new();
        c->phones = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify) phone_free);
        c->foreground = g_strdup("");

        /* Not the default exit(): the launcher says what happened and ends as it should. */
        g_dbus_connection_set_exit_on_close(c->bus, FALSE);
        g_signal_connect(c->bus, "closed", G_CALLBACK(on_bus_closed), c);

        /* Subscribed before anything is read, so that no change falls between a reply and its signal. */
        c->manager_signal_id = g_dbus_connection_signal_subscribe(
                c->bus,
                VMMD_NAME,
                MANAGER_IFACE,
                NULL,
                MANAGER_PATH,
                NULL,
                G_DBUS_SIGNAL_FLAGS_NONE,
                on_manager_signal,
                c,
                NULL);
        c->properties_signal_id = g_dbus_connection_signal_subscribe(
                c->bus,
                VMMD_NAME,
                PROPERTIES_IFACE,
                "PropertiesChanged",
                NULL,
                NULL,
                G_DBUS_SIGNAL_FLAGS_NONE,
                on_properties_changed,
                c,
                NULL);
        c->watch_id = g_bus_watch_name_on_connection(
                c->bus, VMMD_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE, on_name_appeared, on_name_vanished, c, NULL);

        *ret = c;
        return 0;
}

Client *client_free(Client *c) {
        if (!c)
                return NULL;
        g_cancellable_cancel(c->cancellable);
        g_cancellable_cancel(c->session);
        if (c->watch_id)
                g_bus_unwatch_name(c->watch_id);
        if (c->manager_signal_id)
                g_dbus_connection_signal_unsubscribe(c->bus, c->manager_signal_id);
        if (c->properties_signal_id)
                g_dbus_connection_signal_unsubscribe(c->bus, c->properties_signal_id);
        g_signal_handlers_disconnect_by_data(c->bus, c);
        g_hash_table_destroy(c->phones);
        g_clear_object(&c->cancellable);
        g_clear_object(&c->session);
        g_clear_object(&c->bus);
        g_free(c->owner);
        g_free(c->foreground);
        g_free(c);
        return NULL;
}

bool client_is_up(Client *c) {
        return c->up;
}

const char *client_bus_description(Client *c) {
        return c->user ? "session bus" : "system bus";
}

const char *client_foreground(Client *c) {
        return c->foreground;
}

Phone *client_get_phone(Client *c, const char *name) {
        return name ? g_hash_table_lookup(c->phones, name) : NULL;
}

GList *client_get_phones(Client *c) {
        return g_hash_table_get_values(c->phones);
}

static void on_reply(GObject *source, GAsyncResult *result, gpointer userdata) {
        g_autoptr(Call) call = userdata;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        const char *subject;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
        if (call_cancelled(call))
                return;
        subject = call->subject;
        if (reply && g_variant_is_of_type(reply, G_VARIANT_TYPE("(o)"))) {
                /* CreateVM: VMNew came before the reply, so the phone is known unless this caller may not
                 * see it. */
                const char *path;
                Phone *p;

                g_variant_get(reply, "(&o)", &path);
                p = find_phone_by_path(call->client, path);
                subject = p ? p->name : path;
        }
        if (call->reply)
                call->reply(call->client, subject, error, call->userdata);
}

static void call_method(
        Client *c,
        Phone *p,
        const char *path,
        const char *iface,
        const char *method,
        GVariant *params,
        const GVariantType *reply_type,
        int timeout_ms,
        const char *subject,
        ClientReply reply,
        void *userdata) {
        Call *call = call_new(c, p, p ? p->cancellable : c->cancellable, subject);

        if (p)
                /* The phone's calls end with the client too. */
                call->extra_cancellable = g_object_ref(c->cancellable);
        call->reply = reply;
        call->userdata = userdata;
        /* On the system bus vmmd asks polkit, which may ask the user. */
        g_dbus_connection_call(
                c->bus,
                VMMD_NAME,
                path,
                iface,
                method,
                params,
                reply_type,
                G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                timeout_ms,
                call->cancellable,
                on_reply,
                call);
}

void client_switch_to(Client *c, const char *name, ClientReply reply, void *userdata) {
        call_method(
                c,
                NULL,
                MANAGER_PATH,
                MANAGER_IFACE,
                "SwitchTo",
                g_variant_new("(s)", name),
                G_VARIANT_TYPE_UNIT,
                CALL_TIMEOUT_MS,
                name,
                reply,
                userdata);
}

void client_create_vm(Client *c, const char *persona, ClientReply reply, void *userdata) {
        call_method(
                c,
                NULL,
                MANAGER_PATH,
                MANAGER_IFACE,
                "CreateVM",
                g_variant_new("(ssa{sv})", persona, "", NULL),
                G_VARIANT_TYPE("(o)"),
                LONG_CALL_TIMEOUT_MS,
                NULL,
                reply,
                userdata);
}

void client_stop(Client *c, Phone *p, bool force, ClientReply reply, void *userdata) {
        call_method(
                c,
                p,
                p->path,
                VM_IFACE,
                "Stop",
                g_variant_new("(b)", force),
                G_VARIANT_TYPE_UNIT,
                LONG_CALL_TIMEOUT_MS,
                p->name,
                reply,
                userdata);
}

void client_destroy(Client *c, Phone *p, ClientReply reply, void *userdata) {
        call_method(
                c,
                p,
                p->path,
                VM_IFACE,
                "Destroy",
                NULL,
                G_VARIANT_TYPE_UNIT,
                LONG_CALL_TIMEOUT_MS,
                p->name,
                reply,
                userdata);
}

static void on_open_display(GObject *source, GAsyncResult *result, gpointer userdata) {
        g_autoptr(Call) call = userdata;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GUnixFDList) fds = NULL;
        int fd = -1;

        reply = g_dbus_connection_call_with_unix_fd_list_finish(
                G_DBUS_CONNECTION(source), &fds, result, &error);
        if (call_cancelled(call))
                return;
        if (reply) {
                int32_t index;

                g_variant_get(reply, "(h)", &index);
                if (!fds || index < 0 || index >= g_unix_fd_list_get_length(fds))
                        g_set_error(
                                &error,
                                G_IO_ERROR,
                                G_IO_ERROR_INVALID_DATA,
                                "vmmd's reply to OpenDisplay carries no file descriptor");
                else
                        /* A duplicate of its own: the list closes the one it holds. */
                        fd = g_unix_fd_list_get(fds, index, &error);
        }
        call->display_reply(call->phone, fd, fd < 0 ? error : NULL, call->userdata);
}

void client_open_display(
        Client *c, Phone *p, GCancellable *cancellable, ClientDisplayReply reply, void *userdata) {
        Call *call = call_new(c, p, cancellable ?: p->cancellable, p->name);

        call->extra_cancellable = g_object_ref(p->cancellable);
        call->display_reply = reply;
        call->userdata = userdata;
        g_dbus_connection_call_with_unix_fd_list(
                c->bus,
                VMMD_NAME,
                p->path,
                VM_IFACE,
                "OpenDisplay",
                NULL,
                G_VARIANT_TYPE("(h)"),
                G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                CALL_TIMEOUT_MS,
                NULL,
                call->cancellable,
                on_open_display,
                call);
}

char *client_error_message(const GError *error) {
        g_autoptr(GError) copy = NULL;

        if (!error)
                return g_strdup("");
        copy = g_error_copy(error);
        if (g_dbus_error_is_remote_error(copy))
                (void) g_dbus_error_strip_remote_error(copy);
        return g_strdup(copy->message);
}

bool client_error_is(const GError *error, const char *name) {
        g_autofree char *remote = NULL;

        if (!error)
                return false;
        remote = g_dbus_error_get_remote_error(error);
        return remote && strcmp(remote, name) == 0;
}
