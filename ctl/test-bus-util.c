/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl's D-Bus helpers: error names to exit statuses, D-Bus values to JSON. */
#include <assert.h>
#include <sys/socket.h>

#include "bus-errors.h"
#include "bus-util.h"

static void assert_status(const char *name, int r, VmctlExit expected) {
        sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(name, "message");
        VmctlExit got = bus_error_exit_status(name ? &e : NULL, r);

        if (got != expected) {
                fprintf(stderr, "%s (%d): exit status %d, expected %d\n", strna(name), r, got, expected);
                assert(false);
        }
}

static void test_exit_status(void) {
        assert_status(VMMD_ERROR_FAILED, -EIO, VMCTL_EXIT_FAILURE);
        assert_status("org.example.Unheard.Of", -EIO, VMCTL_EXIT_FAILURE);
        assert_status(VMMD_ERROR_INVALID_ARGUMENT, -EINVAL, VMCTL_EXIT_USAGE);
        assert_status(SD_BUS_ERROR_INVALID_ARGS, -EINVAL, VMCTL_EXIT_USAGE);
        assert_status(VMMD_ERROR_NO_SUCH_VM, -ENXIO, VMCTL_EXIT_NOT_FOUND);
        assert_status(VMMD_ERROR_NO_SUCH_PERSONA, -ENXIO, VMCTL_EXIT_NOT_FOUND);
        assert_status(VMMD_ERROR_NO_SUCH_SNAPSHOT, -ENXIO, VMCTL_EXIT_NOT_FOUND);
        assert_status(VMMD_ERROR_NO_SUCH_CRASH, -ENXIO, VMCTL_EXIT_NOT_FOUND);
        assert_status(SD_BUS_ERROR_UNKNOWN_OBJECT, -EBADR, VMCTL_EXIT_NOT_FOUND);
        assert_status(VMMD_ERROR_INVALID_STATE, -EIO, VMCTL_EXIT_CONFLICT);
        assert_status(VMMD_ERROR_EXISTS, -EIO, VMCTL_EXIT_CONFLICT);
        assert_status(VMMD_ERROR_BUSY, -EIO, VMCTL_EXIT_CONFLICT);
        assert_status(VMMD_ERROR_IMAGE_CORRUPT, -EIO, VMCTL_EXIT_IMAGE_CORRUPT);
        assert_status(VMMD_ERROR_INSUFFICIENT_MEMORY, -EIO, VMCTL_EXIT_NO_MEMORY);
        assert_status(VMMD_ERROR_ACCESS_DENIED, -EIO, VMCTL_EXIT_ACCESS_DENIED);
        assert_status(SD_BUS_ERROR_ACCESS_DENIED, -EACCES, VMCTL_EXIT_ACCESS_DENIED);
        assert_status(SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED, -EACCES, VMCTL_EXIT_ACCESS_DENIED);
        assert_status(SD_BUS_ERROR_SERVICE_UNKNOWN, -EHOSTUNREACH, VMCTL_EXIT_UNREACHABLE);
        assert_status(SD_BUS_ERROR_NAME_HAS_NO_OWNER, -ENXIO, VMCTL_EXIT_UNREACHABLE);
        assert_status(SD_BUS_ERROR_NO_REPLY, -ETIMEDOUT, VMCTL_EXIT_UNREACHABLE);
        assert_status(SD_BUS_ERROR_DISCONNECTED, -ECONNRESET, VMCTL_EXIT_UNREACHABLE);
        assert_status("org.freedesktop.DBus.Error.Spawn.ChildExited", -EIO, VMCTL_EXIT_UNREACHABLE);
        /* Without an error name: by errno. */
        assert_status(NULL, -ECONNREFUSED, VMCTL_EXIT_UNREACHABLE);
        assert_status(NULL, -ENOENT, VMCTL_EXIT_UNREACHABLE);
        assert_status(NULL, -ECONNRESET, VMCTL_EXIT_UNREACHABLE);
        assert_status(NULL, -EACCES, VMCTL_EXIT_ACCESS_DENIED);
        assert_status(NULL, -ENOMEM, VMCTL_EXIT_FAILURE);
}

/* A message needs a bus that is past BUS_UNSET; one end of a socket pair is enough, nothing is sent. */
static sd_bus *unconnected_bus(void) {
        sd_bus *bus;
        int fds[2];

        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        assert(sd_bus_new(&bus) >= 0);
        assert(sd_bus_set_fd(bus, fds[0], fds[0]) >= 0);
        assert(sd_bus_start(bus) >= 0);
        (void) close(fds[1]);
        return bus;
}

static void test_read_json(void) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = unconnected_bus();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_json_put_ json_object *o = NULL;
        const char *s;

        /* What a GetAll reply on org.vmmd1.VM looks like, with some types the contract does not use yet. */
        assert(sd_bus_message_new_signal(bus, &m, "/org/vmmd1/vm/work", "org.example.Test", "Test") >= 0);
        assert(sd_bus_message_append(
                       m,
                       "a{sv}",
                       9,
                       "Name",
                       "s",
                       "work",
                       "Ephemeral",
                       "b",
                       0,
                       "MemoryMiB",
                       "t",
                       UINT64_MAX,
                       "VCPUs",
                       "u",
                       4,
                       "Offset",
                       "x",
                       INT64_MIN,
                       "Path",
                       "o",
                       "/org/vmmd1/vm/work",
                       "Snapshots",
                       "a(st)",
                       2,
                       "a",
                       UINT64_C(1),
                       "b",
                       UINT64_C(2),
                       "Tags",
                       "as",
                       2,
                       "x\"y",
                       "z\n",
                       "ByCPU",
                       "a{uv}",
                       1,
                       7,
                       "v",
                       "s",
                       "deep") >= 0);
        assert(sd_bus_message_seal(m, 1, 0) >= 0);
        assert(sd_bus_message_rewind(m, true) >= 0);

        assert(bus_message_read_json(m, &o) >= 0);
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!streq(s,
                   "{\"Name\":\"work\",\"Ephemeral\":false,\"MemoryMiB\":18446744073709551615,"
                   "\"VCPUs\":4,\"Offset\":-9223372036854775808,\"Path\":\"/org/vmmd1/vm/work\","
                   "\"Snapshots\":[[\"a\",1],[\"b\",2]],\"Tags\":[\"x\\\"y\",\"z\\n\"],"
                   "\"ByCPU\":[[7,\"deep\"]]}")) {
                fprintf(stderr, "got %s\n", s);
                assert(false);
        }
        assert(streq(json_get_string(o, "Name"), "work"));
        assert(json_get_string(o, "VCPUs") == NULL);
        assert(json_get_uint64(o, "VCPUs") == 4);
        assert(json_get_uint64(o, "MemoryMiB") == UINT64_MAX);
        assert(json_get_uint64(o, "Name") == 0);
        assert(json_get_uint64(o, "Missing") == 0);

        /* Nothing left. */
        assert(bus_message_read_json(m, &o) == -ENXIO);
}

static void test_name_members(void) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = unconnected_bus();
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_json_put_ json_object *list = NULL, *rows = NULL, *short_structs = NULL, *not_array = NULL;
        json_object *row;

        /* GoldenSnapshots, a(sssusst), as the Manager's Get answers it. */
        assert(sd_bus_message_new_signal(bus, &m, "/org/vmmd1", "org.example.Test", "Test") >= 0);
        assert(sd_bus_message_append(
                       m,
                       "a(sssusst)",
                       2,
                       "throwaway",
                       "0123456789abcdef",
                       "ready",
                       0,
                       "",
                       "reference",
                       UINT64_C(1732615200000000),
                       "kiosk",
                       "",
                       "building",
                       40,
                       "booting",
                       "reference",
                       UINT64_C(0)) >= 0);
        assert(sd_bus_message_seal(m, 1, 0) >= 0);
        assert(sd_bus_message_rewind(m, true) >= 0);
        assert(bus_message_read_json(m, &list) >= 0);

        assert(json_name_members(list, golden_snapshot_keys, &rows) == 0);
        assert(json_object_array_length(rows) == 2);
        row = json_object_array_get_idx(rows, 0);
        assert(streq(json_get_string(row, "persona"), "throwaway"));
        assert(streq(json_get_string(row, "id"), "0123456789abcdef"));
        assert(streq(json_get_string(row, "state"), "ready"));
        assert(streq(json_get_string(row, "image"), "reference"));
        assert(json_get_uint64(row, "created_usec") == UINT64_C(1732615200000000));
        row = json_object_array_get_idx(rows, 1);
        assert(streq(json_get_string(row, "state"), "building"));
        assert(json_get_uint64(row, "progress") == 40);
        assert(streq(json_get_string(row, "message"), "booting"));
        assert(json_object_object_length(row) == 7);

        /* A struct with fewer members than keys, and no array at all, are refused. */
        short_structs = json_tokener_parse("[[\"throwaway\", \"id\"]]");
        assert(short_structs);
        assert(json_name_members(short_structs, golden_snapshot_keys, &rows) == -EBADMSG);
        not_array = json_object_new_string("x");
        assert(json_name_members(not_array, golden_snapshot_keys, &rows) == -EBADMSG);
        assert(json_object_array_length(rows) == 2); /* untouched on failure */
}

int main(void) {
        test_exit_status();
        test_read_json();
        test_name_members();
        return 0;
}
