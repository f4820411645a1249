/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-launcher's side of the org.vmmd1 contract: the phones the caller sees, kept up to date from vmmd's
 * signals, and the calls the launcher makes. No widgets here. */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Client Client;

typedef enum PhoneChange {
        PHONE_CHANGE_PERSONA = 1u << 0,
        PHONE_CHANGE_STATE = 1u << 1,
        PHONE_CHANGE_FAILURE_REASON = 1u << 2,
        PHONE_CHANGE_EPHEMERAL = 1u << 3,
        PHONE_CHANGE_COLOR = 1u << 4,
        PHONE_CHANGE_DISPLAY_SIZE = 1u << 5,
} PhoneChange;

/* One VM as vmmd describes it. The strings are never NULL but color ("" until known, color NULL while vmmd
 * has no Color property). */
typedef struct Phone {
        Client *client;
        char *name;
        char *path;
        char *persona;
        char *state;
        char *failure_reason;
        char *color;
        bool ephemeral;
        /* DisplayWidth/DisplayHeight: has_display_size is false while vmmd has no such properties. */
        bool has_display_size;
        uint32_t display_width;
        uint32_t display_height;
        /* GetAll answered once. */
        bool loaded;

        /* The calls made about this phone; cancelled when it goes. */
        GCancellable *cancellable;
        /* Seen in the answer to the current ListVMs. */
        bool listed;

        /* The launcher's, for its widgets. */
        void *userdata;
} Phone;

typedef struct ClientCallbacks {
        /* vmmd appeared on the bus (up) or left it. The phones stay until the next ListVMs answers. */
        void (*service)(Client *c, bool up, void *userdata);
        void (*phone_new)(Client *c, Phone *p, void *userdata);
        /* changes: PhoneChange bits */
        void (*phone_changed)(Client *c, Phone *p, unsigned changes, void *userdata);
        /* Called before p is freed. */
        void (*phone_removed)(Client *c, Phone *p, void *userdata);
        /* The Manager's Foreground ("" for none); once per change. */
        void (*foreground)(Client *c, const char *name, void *userdata);
        /* The connection to the bus itself closed (the bus went away): nothing more comes. */
        void (*closed)(Client *c, const char *message, void *userdata);
} ClientCallbacks;

/* Connects to the session bus (user) or the system bus and watches for org.vmmd1. */
int client_new(bool user, const ClientCallbacks *callbacks, void *userdata, Client **ret, GError **error);
Client *client_free(Client *c);

bool client_is_up(Client *c);
/* "system bus" or "session bus", for messages. */
const char *client_bus_description(Client *c);
const char *client_foreground(Client *c);
Phone *client_get_phone(Client *c, const char *name);
/* The phones, in no order; free the list (not its elements) with g_list_free(). */
GList *client_get_phones(Client *c);

/* The reply of a call: what it was about (the VM's name; for client_create_vm() the new VM's name, or its
 * object path if no such VM is known), and the error, NULL on success. Not called when the call was
 * cancelled (the phone went, or the client was freed). */
typedef void (*ClientReply)(Client *c, const char *subject, const GError *error, void *userdata);

void client_switch_to(Client *c, const char *name, ClientReply reply, void *userdata);
void client_create_vm(Client *c, const char *persona, ClientReply reply, void *userdata);
void client_stop(Client *c, Phone *p, bool force, ClientReply reply, void *userdata);
void client_destroy(Client *c, Phone *p, ClientReply reply, void *userdata);

/* OpenDisplay: fd is a connected stream socket (RFB) that the callback owns, or -1 with error. Not called
 * when cancellable (or the phone's) is cancelled. */
typedef void (*ClientDisplayReply)(Phone *p, int fd, const GError *error, void *userdata);
void client_open_display(Client *c, Phone *p, GCancellable *cancellable, ClientDisplayReply reply, void *userdata);

/* The human part of a D-Bus error (without "GDBus.Error:name: "). Free with g_free(). */
char *client_error_message(const GError *error);
/* Whether error is the D-Bus error name. */
bool client_error_is(const GError *error, const char *name);
