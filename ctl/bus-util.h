/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl's side of the org.vmmd1 contract: connecting, calling, reading properties, mapping errors. */
#pragma once

#include <stdarg.h>
#include <systemd/sd-bus.h>

#include "exit-status.h"
#include "json-util.h"

/* Method calls that verify images or spawn a VMM get this much time, independent of --timeout. */
#define BUS_LONG_CALL_USEC (120 * USEC_PER_SEC)

/* Opens a connection to the user's session bus ($DBUS_SESSION_BUS_ADDRESS) or to the system bus. */
int bus_connect(bool user, sd_bus **ret);

/* Calls member on vmmd's object at path, with arguments of the D-Bus signature types (NULL: none).
 * timeout_usec 0 is sd-bus' default. */
int bus_call(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *member,
        uint64_t timeout_usec,
        sd_bus_error *error,
        sd_bus_message **ret_reply,
        const char *types,
        ...);
int bus_callv(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *member,
        uint64_t timeout_usec,
        sd_bus_error *error,
        sd_bus_message **ret_reply,
        const char *types,
        va_list ap);

/* The exit status for a failed call: by the D-Bus error's name, else by the negative errno r. */
VmctlExit bus_error_exit_status(const sd_bus_error *error, int r);
/* Prints "vmctl: <what>: <message>" and returns bus_error_exit_status(). */
int log_bus_error(const sd_bus_error *error, int r, const char *what_fmt, ...) _printf_(3, 4);
int log_bus_errorv(const sd_bus_error *error, int r, const char *what_fmt, va_list ap) _printf_(3, 0);

/* Reads the next complete value of m, whatever its type, as JSON: dictionaries with string keys become
 * objects, other arrays and structs arrays, variants their content. */
/* A copy of the fd the message m carries next, our own (the message's goes with it). */
int bus_message_read_fd(sd_bus_message *m, int *ret);

int bus_message_read_json(sd_bus_message *m, json_object **ret);

/* All properties of interface on path (GetAll), as a JSON object keyed by property name. */
int bus_get_properties(
        sd_bus *bus, const char *path, const char *interface, sd_bus_error *error, json_object **ret);
/* The object path of the VM called name (GetVM). */
int bus_get_vm_path(sd_bus *bus, const char *name, sd_bus_error *error, char **ret);

/* structs, an array of arrays (what bus_message_read_json() makes of a(...)), as an array of objects: each
 * struct's members named by keys (NULL-terminated), in order. -EBADMSG when a struct has fewer members. */
int json_name_members(json_object *structs, const char *const *keys, json_object **ret);

/* The names vmctl gives the members of an entry of the Manager's GoldenSnapshots, a(sssusst). */
extern const char *const golden_snapshot_keys[];
/* The Manager's GoldenSnapshots, one object per persona with golden_snapshot_keys. */
int bus_get_golden_snapshots(sd_bus *bus, sd_bus_error *error, json_object **ret);
