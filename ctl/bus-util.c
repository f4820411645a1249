/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Connecting to vmmd, calling it, reading its properties as JSON, turning its errors into exit statuses. */
#include <fcntl.h>
#include <stdarg.h>

#include "bus-errors.h"
#include "bus-util.h"
#include "log.h"

int bus_connect(bool user, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        r = user ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        *ret = bus;
        return 0;
}

int bus_callv(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *member,
        uint64_t timeout_usec,
        sd_bus_error *error,
        sd_bus_message **ret_reply,
        const char *types,
        va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, VMMD_BUS_NAME, path, interface, member);
        if (r < 0)
                return r;
        if (types) {
                r = sd_bus_message_appendv(m, types, ap);
                if (r < 0)
                        return r;
        }
        r = sd_bus_call(bus, m, timeout_usec, error, &reply);
        if (r < 0)
                return r;
        if (ret_reply)
                *ret_reply = TAKE_PTR(reply);
        return 0;
}

int bus_call(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *member,
        uint64_t timeout_usec,
        sd_bus_error *error,
        sd_bus_message **ret_reply,
        const char *types,
        ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = bus_callv(bus, path, interface, member, timeout_usec, error, ret_reply, types, ap);
        va_end(ap);
        return r;
}

static const struct {
        const char *name;
        VmctlExit status;
} error_map[] = {
        { VMMD_ERROR_INVALID_ARGUMENT, VMCTL_EXIT_USAGE },
        { SD_BUS_ERROR_INVALID_ARGS, VMCTL_EXIT_USAGE },
        { VMMD_ERROR_NO_SUCH_VM, VMCTL_EXIT_NOT_FOUND },
        { VMMD_ERROR_NO_SUCH_PERSONA, VMCTL_EXIT_NOT_FOUND },
        { VMMD_ERROR_NO_SUCH_SNAPSHOT, VMCTL_EXIT_NOT_FOUND },
        { VMMD_ERROR_NO_SUCH_CRASH, VMCTL_EXIT_NOT_FOUND },
        { SD_BUS_ERROR_UNKNOWN_OBJECT, VMCTL_EXIT_NOT_FOUND },
        { VMMD_ERROR_INVALID_STATE, VMCTL_EXIT_CONFLICT },
        { VMMD_ERROR_EXISTS, VMCTL_EXIT_CONFLICT },
        { VMMD_ERROR_BUSY, VMCTL_EXIT_CONFLICT },
        { VMMD_ERROR_IMAGE_CORRUPT, VMCTL_EXIT_IMAGE_CORRUPT },
        { VMMD_ERROR_INSUFFICIENT_MEMORY, VMCTL_EXIT_NO_MEMORY },
        { VMMD_ERROR_ACCESS_DENIED, VMCTL_EXIT_ACCESS_DENIED },
        { SD_BUS_ERROR_ACCESS_DENIED, VMCTL_EXIT_ACCESS_DENIED },
        { SD_BUS_ERROR_AUTH_FAILED, VMCTL_EXIT_ACCESS_DENIED },
        { SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED, VMCTL_EXIT_ACCESS_DENIED },
        { SD_BUS_ERROR_SERVICE_UNKNOWN, VMCTL_EXIT_UNREACHABLE },
        { SD_BUS_ERROR_NAME_HAS_NO_OWNER, VMCTL_EXIT_UNREACHABLE },
        { SD_BUS_ERROR_NO_SERVER, VMCTL_EXIT_UNREACHABLE },
        { SD_BUS_ERROR_DISCONNECTED, VMCTL_EXIT_UNREACHABLE },
        { SD_BUS_ERROR_NO_REPLY, VMCTL_EXIT_UNREACHABLE },
        { SD_BUS_ERROR_TIMEOUT, VMCTL_EXIT_UNREACHABLE },
};

#define SPAWN_ERROR_PREFIX "org.freedesktop.DBus.Error.Spawn."

VmctlExit bus_error_exit_status(const sd_bus_error *error, int r) {
        if (sd_bus_error_is_set(error)) {
                for (size_t i = 0; i < ELEMENTSOF(error_map); i++)
                        if (sd_bus_error_has_name(error, error_map[i].name))
                                return error_map[i].status;
                /* Bus activation of vmmd failed. */
                if (strncmp(error->name, SPAWN_ERROR_PREFIX, strlen(SPAWN_ERROR_PREFIX)) == 0)
                        return VMCTL_EXIT_UNREACHABLE;
                return VMCTL_EXIT_FAILURE;
        }

        switch (-r) {
        case ECONNREFUSED:
        case ECONNRESET:
        case ENOTCONN:
        case ETIMEDOUT:
        case EHOSTUNREACH:
        case ENOENT:
                return VMCTL_EXIT_UNREACHABLE;
        case EACCES:
        case EPERM:
                return VMCTL_EXIT_ACCESS_DENIED;
        default:
                return VMCTL_EXIT_FAILURE;
        }
}

/* Says why vmmd could not be reached, for the errors that mean exactly that. */
static const char *unreachable_reason(const sd_bus_error *error) {
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return "vmmd is not running";
        if (sd_bus_error_is_set(error) &&
            strncmp(error->name, SPAWN_ERROR_PREFIX, strlen(SPAWN_ERROR_PREFIX)) == 0)
                return "vmmd could not be started";
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT))
                return "vmmd did not answer in time";
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_DISCONNECTED))
                return "lost the connection to the bus";
        return NULL;
}

int log_bus_error(const sd_bus_error *error, int r, const char *what_fmt, ...) {
        va_list ap;

        va_start(ap, what_fmt);
        r = log_bus_errorv(error, r, what_fmt, ap);
        va_end(ap);
        return r;
}

int log_bus_errorv(const sd_bus_error *error, int r, const char *what_fmt, va_list ap) {
        _cleanup_free_ char *what = NULL;
        const char *reason, *message;

        if (vasprintf(&what, what_fmt, ap) < 0)
                what = NULL;

        message = sd_bus_error_is_set(error) && !isempty(error->message) ? error->message : strerror(-r);
        reason = unreachable_reason(error);
        if (reason)
                log_error("%s: %s: %s", strempty(what), reason, message);
        else
                log_error("%s: %s", strempty(what), message);
        return bus_error_exit_status(error, r);
}

static int read_json_basic(sd_bus_message *m, char type, json_object **ret) {
        union {
                uint8_t u8;
                int16_t s16;
                uint16_t u16;
                int32_t s32;
                uint32_t u32;
                int64_t s64;
                uint64_t u64;
                double d;
                int b;
                const char *s;
                int fd;
        } v;
        json_object *o;
        int r;

        r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;

        switch (type) {
        case SD_BUS_TYPE_STRING:
        case SD_BUS_TYPE_OBJECT_PATH:
        case SD_BUS_TYPE_SIGNATURE:
                o = json_object_new_string(v.s);
                break;
        case SD_BUS_TYPE_BOOLEAN:
                o = json_object_new_boolean(v.b);
                break;
        case SD_BUS_TYPE_BYTE:
                o = json_object_new_int64(v.u8);
                break;
        case SD_BUS_TYPE_INT16:
                o = json_object_new_int64(v.s16);
                break;
        case SD_BUS_TYPE_UINT16:
                o = json_object_new_int64(v.u16);
                break;
        case SD_BUS_TYPE_INT32:
                o = json_object_new_int64(v.s32);
                break;
        case SD_BUS_TYPE_UINT32:
                o = json_object_new_int64(v.u32);
                break;
        case SD_BUS_TYPE_INT64:
                o = json_object_new_int64(v.s64);
                break;
        case SD_BUS_TYPE_UINT64:
                o = json_object_new_uint64(v.u64);
                break;
        case SD_BUS_TYPE_DOUBLE:
                o = json_object_new_double(v.d);
                break;
        case SD_BUS_TYPE_UNIX_FD:
                /* A file descriptor means nothing outside this process. */
                *ret = NULL;
                return 0;
        default:
                return -EINVAL;
        }
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

/* Reads the members of the container m is in, up to its end, into an array or (with string keys) object. */
static int read_json_members(sd_bus_message *m, bool dictionary, json_object **ret) {
        _cleanup_json_put_ json_object *o = dictionary ? json_object_new_object() : json_object_new_array();
        char type;
        const char *contents;
        int r;

        if (!o)
                return -ENOMEM;

        while ((r = sd_bus_message_peek_type(m, &type, &contents)) > 0) {
                _cleanup_json_put_ json_object *v = NULL;

                if (dictionary) {
                        const char *key;

                        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, contents);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_read_basic(m, contents[0], &key);
                        if (r < 0)
                                return r;
                        r = bus_message_read_json(m, &v);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                        if (json_object_object_add(o, key, TAKE_PTR(v)) < 0)
                                return -ENOMEM;
                } else {
                        r = bus_message_read_json(m, &v);
                        if (r < 0)
                                return r;
                        if (json_object_array_add(o, v) < 0)
                                return -ENOMEM;
                        v = NULL;
                }
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static bool is_container(char type) {
        return type == SD_BUS_TYPE_ARRAY || type == SD_BUS_TYPE_VARIANT || type == SD_BUS_TYPE_STRUCT ||
                type == SD_BUS_TYPE_DICT_ENTRY;
}

int bus_message_read_json(sd_bus_message *m, json_object **ret) {
        json_object *o = NULL;
        const char *contents;
        bool dictionary;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO; /* nothing left to read */

        if (!is_container(type))
                return read_json_basic(m, type, ret);

        r = sd_bus_message_enter_container(m, type, contents);
        if (r < 0)
                return r;
        if (type == SD_BUS_TYPE_VARIANT)
                r = bus_message_read_json(m, &o);
        else {
                /* a{sv}, a{ss}, a{os} ... become objects; a{uv} and the like arrays of [key, value]. */
                dictionary = type == SD_BUS_TYPE_ARRAY && contents[0] == SD_BUS_TYPE_DICT_ENTRY_BEGIN &&
                        (contents[1] == SD_BUS_TYPE_STRING || contents[1] == SD_BUS_TYPE_OBJECT_PATH);
                r = read_json_members(m, dictionary, &o);
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        *ret = o;
        return 0;
}

int bus_get_properties(
        sd_bus *bus, const char *path, const char *interface, sd_bus_error *error, json_object **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = bus_call(bus, path, "org.freedesktop.DBus.Properties", "GetAll", 0, error, &reply, "s", interface);
        if (r < 0)
                return r;
        return bus_message_read_json(reply, ret);
}

int bus_get_vm_path(sd_bus *bus, const char *name, sd_bus_error *error, char **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        char *p;
        int r;

        r = bus_call(bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "GetVM", 0, error, &reply, "s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int json_name_members(json_object *structs, const char *const *keys, json_object **ret) {
        _cleanup_json_put_ json_object *rows = NULL;
        size_t n_keys = strv_length((char *const *) keys);

        if (!json_object_is_type(structs, json_type_array))
                return -EBADMSG;
        rows = json_object_new_array();
        if (!rows)
                return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(structs); i++) {
                json_object *item = json_object_array_get_idx(structs, i), *row;

                if (!json_object_is_type(item, json_type_array) || json_object_array_length(item) < n_keys)
                        return -EBADMSG;
                row = json_object_new_object();
                if (!row || json_object_array_add(rows, row) < 0) {
                        json_object_put(row);
                        return -ENOMEM;
                }
                for (size_t k = 0; k < n_keys; k++)
                        if (json_object_object_add(
                                    row, keys[k], json_object_get(json_object_array_get_idx(item, k))) < 0)
                                return -ENOMEM;
        }
        *ret = TAKE_PTR(rows);
        return 0;
}

const char *const golden_snapshot_keys[] = {
        "persona", "id", "state", "progress", "message", "image", "created_usec", NULL,
};

int bus_get_golden_snapshots(sd_bus *bus, sd_bus_error *error, json_object **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_json_put_ json_object *list = NULL;
        int r;

        r = bus_call(
                bus,
                VMMD_MANAGER_PATH,
                "org.freedesktop.DBus.Properties",
                "Get",
                0,
                error,
                &reply,
                "ss",
                VMMD_MANAGER_INTERFACE,
                "GoldenSnapshots");
        if (r < 0)
                return r;
        r = bus_message_read_json(reply, &list);
        if (r < 0)
                return r;
        return json_name_members(list, golden_snapshot_keys, ret);
}

int bus_message_read_fd(sd_bus_message *m, int *ret) {
        int fd, r;

        r = sd_bus_message_read_basic(m, SD_BUS_TYPE_UNIX_FD, &fd);
        if (r < 0)
                return r;
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        *ret = fd;
        return 0;
}
