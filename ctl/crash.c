/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The crash bundles of guest kernels that panicked (list, report, memory dump in gdb, keep, delete), crash
 * tests, and gdb on a live guest kernel through vmmd's debugger. */
#include <fcntl.h>
#include <signal.h>

#include "bus-errors.h"
#include "bus-util.h"
#include "crash.h"
#include "display.h"
#include "gdb.h"
#include "log.h"
#include "names.h"
#include "vmctl.h"
#include "wait.h"

/* crash show prints this much of the console's end unless --console: the kernel's report of the panic, with
 * an oops's registers and call trace (some 65 lines on arm64). */
#define CONSOLE_LINES 80

const char *crash_id_invalid_reason(const char *id) {
        if (isempty(id))
                return "is empty";
        if (strlen(id) > CRASH_ID_MAX)
                return "is longer than 127 bytes";
        if (!utf8_is_valid(id))
                return "is not valid UTF-8";
        for (const char *p = id; *p;) {
                uint32_t cp;
                int n = utf8_decode(p, &cp);

                if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
                        return "contains a control character";
                if (cp == '/')
                        return "contains '/'";
                p += n;
        }
        return NULL;
}

/* 0 when every ID may name a bundle, else logs why the first that does not fails and returns
 * VMCTL_EXIT_USAGE. */
static int check_crash_ids(char *const ids[], int n) {
        for (int i = 0; i < n; i++) {
                const char *reason = crash_id_invalid_reason(ids[i]);

                if (reason) {
                        _cleanup_free_ char *escaped = escape_controls(ids[i]);

                        log_error("Crash bundle ID \"%s\" %s.", strna(escaped), reason);
                        return VMCTL_EXIT_USAGE;
                }
        }
        return 0;
}

/* Operands after the verb's own go to gdb, and only after "--": "vmctl crash gdb A B" is a mistake. */
static int check_gdb_args(int argc, int own, const char *verb, const char *synopsis) {
        if (argc <= own || arg_end_of_options)
                return 0;
        log_error(
                "%s: too many arguments (gdb's go after '--'). Usage: vmctl [OPTIONS...] %s %s",
                verb,
                verb,
                synopsis);
        return VMCTL_EXIT_USAGE;
}

/* The path of gdb-multiarch: 0, or the exit status once the failure was logged. */
static int find_gdb(char **ret) {
        int r = gdb_find(ret);

        if (r == -ENOENT) {
                log_error(GDB_PROGRAM " is not in $PATH: install the Debian package " GDB_PACKAGE ".");
                return VMCTL_EXIT_FAILURE;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to look for " GDB_PROGRAM ": %m");
                return VMCTL_EXIT_FAILURE;
        }
        return 0;
}

/* Runs gdb as this process, with fds inherited. Returns only on failure, an exit status. */
static int exec_gdb(const char *gdb, char **argv, const int *fds, size_t n_fds) {
        int r;

        fflush(stdout);
        fflush(stderr);
        r = gdb_exec(gdb, argv, fds, n_fds);
        log_error_errno(r, "Failed to run %s: %m", gdb);
        return VMCTL_EXIT_FAILURE;
}

static int get_crash(sd_bus *bus, const char *id, sd_bus_error *error, json_object **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = bus_call(bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "GetCrash", 0, error, &reply, "s", id);
        if (r < 0)
                return r;
        return bus_message_read_json(reply, ret);
}

static int compare_by_time(const void *a, const void *b) {
        json_object *const *x = a, *const *y = b;
        uint64_t p = json_get_uint64(*x, "time_usec"), q = json_get_uint64(*y, "time_usec");

        if (p != q)
                return p < q ? -1 : 1;
        return compare_member(x, y, "id");
}

int verb_crashes(int argc, char *argv[]) {
        static const Column columns[] = {
                { "ID", "id" },
                { "VM", "vm" },
                { "TIME", "time_usec", COLUMN_DATETIME },
                { "SIZE", "size_bytes", COLUMN_BYTES },
                { "KEPT", "kept", COLUMN_BOOLEAN },
                { "MESSAGE", "message", .zero = "-" },
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_put_ json_object *rows = NULL;
        _cleanup_free_ char *what = NULL;
        const char *vm = argc > 1 ? argv[1] : "";
        int r;

        /* No VM of that name is needed: the kept bundles of a VM outlive it. */
        if (argc > 1) {
                r = check_vm_name(vm);
                if (r != 0)
                        return r;
                if (asprintf(&what, "the crash bundles of VM %s", vm) < 0)
                        return log_oom(), VMCTL_EXIT_FAILURE;
        }
        r = acquire_bus(&bus);
        if (r == 0)
                r = call_rows(
                        bus,
                        VMMD_MANAGER_PATH,
                        VMMD_MANAGER_INTERFACE,
                        "ListCrashes",
                        STRV_MAKE("id", "vm", "persona", "time_usec", "size_bytes", "message", "kept"),
                        what ?: "crash bundles",
                        &rows,
                        "s",
                        vm);
        if (r != 0)
                return r;
        return print_rows(rows, columns, ELEMENTSOF(columns), compare_by_time, "crash bundle", "crash bundles");
}

int verb_crash(int argc, char *argv[]) {
        log_error("crash: missing command: show, gdb, keep, unkeep or delete. See 'vmctl crash --help'.");
        return VMCTL_EXIT_USAGE;
}

/* "6.1.0-56-arm64 (KASLR offset 0x...)", "unknown". NULL on OOM. */
static char *kernel_phrase(json_object *crash) {
        const char *release = json_get_string(crash, "kernel");
        const char *offset = json_get_string(crash, "kernel_offset");
        char *s;

        if (isempty(release))
                return strdup("unknown");
        if (isempty(offset))
                return strdup(release);
        /* The vmcoreinfo's KERNELOFFSET is hex without "0x". */
        if (asprintf(&s, "%s (KASLR offset %s%s)", release, strncmp(offset, "0x", 2) == 0 ? "" : "0x", offset) <
            0)
                return NULL;
        return s;
}

/* "yes", "none: why". NULL on OOM. */
static char *memory_dump_phrase(json_object *crash) {
        const char *error = json_get_string(crash, "core_error");
        json_object *core;
        char *s;

        if (json_object_object_get_ex(crash, "core", &core) && json_object_get_boolean(core))
                return strdup("yes ('vmctl crash gdb' opens it)");
        if (isempty(error))
                return strdup("none");
        return asprintf(&s, "none: %s", error) < 0 ? NULL : s;
}

/* The lines of the console, the last CONSOLE_LINES of them unless full. */
static int print_console(const char *console, bool full) {
        size_t n = 0, skip;
        const char *p;

        if (isempty(console)) {
                printf("\nThe bundle holds no console output.\n");
                return VMCTL_EXIT_SUCCESS;
        }
        for (p = console; *p; p++)
                if (*p == '\n' || !p[1])
                        n++;
        skip = full || n <= CONSOLE_LINES ? 0 : n - CONSOLE_LINES;
        if (skip > 0)
                printf("\nConsole (its last %u of %zu lines; --console prints all):\n", CONSOLE_LINES, n);
        else
                printf("\nConsole:\n");

        for (p = console; *p;) {
                size_t len = strcspn(p, "\n");

                if (skip > 0)
                        skip--;
                else {
                        _cleanup_free_ char *line = strndup(p, len), *escaped = NULL;

                        if (!line || !(escaped = escape_controls(line)))
                                return log_oom(), VMCTL_EXIT_FAILURE;
                        printf("%s\n", escaped);
                }
                p += len;
                if (*p == '\n')
                        p++;
        }
        return VMCTL_EXIT_SUCCESS;
}

/* What 'crash show' prints for a person: the facts, the panic, the backtrace and the console's end. */
static int print_report(json_object *crash, bool full_console) {
        char time_buf[FORMAT_TIMESTAMP_MAX], size_buf[FORMAT_BYTES_MAX];
        _cleanup_free_ char *kernel = kernel_phrase(crash), *dump = memory_dump_phrase(crash), *capture = NULL;
        const char *message = json_get_string(crash, "message");
        json_object *backtrace, *v;
        bool kept = json_object_object_get_ex(crash, "kept", &v) && json_object_get_boolean(v);
        bool core = json_object_object_get_ex(crash, "core", &v) && json_object_get_boolean(v);
        int width = 0;

        if (!kernel || !dump ||
            asprintf(&capture, "%.2fs", (double) json_get_uint64(crash, "capture_usec") / USEC_PER_SEC) < 0)
                return log_oom(), VMCTL_EXIT_FAILURE;

        const struct {
                const char *label;
                const char *value; /* NULL or "": the line is left out */
        } lines[] = {
                { "Bundle", json_get_string(crash, "id") },
                { "VM", json_get_string(crash, "vm") },
                { "Persona", json_get_string(crash, "persona") },
                { "Image", json_get_string(crash, "image") },
                { "Kernel", kernel },
                { "Build ID", json_get_string(crash, "build_id") },
                { "Time", format_timestamp(time_buf, json_get_uint64(crash, "time_usec")) },
                { "Size", format_bytes(size_buf, json_get_uint64(crash, "size_bytes")) },
                { "Memory dump", dump },
                { "Kept", kept ? "yes" : "no" },
                { "Capture time", capture },
        };

        for (size_t i = 0; i < ELEMENTSOF(lines); i++)
                width = MAX(width, (int) strlen(lines[i].label));
        for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                _cleanup_free_ char *escaped = NULL;

                if (isempty(lines[i].value))
                        continue;
                escaped = escape_controls(lines[i].value);
                if (!escaped)
                        return log_oom(), VMCTL_EXIT_FAILURE;
                printf("%*s: %s\n", width, lines[i].label, escaped);
        }

        if (!isempty(message)) {
                _cleanup_free_ char *escaped = escape_controls(message);

                if (!escaped)
                        return log_oom(), VMCTL_EXIT_FAILURE;
                printf("\n%s\n", escaped);
        }

        if (json_object_object_get_ex(crash, "backtrace", &backtrace) &&
            json_object_is_type(backtrace, json_type_array) && json_object_array_length(backtrace) > 0) {
                printf("\nBacktrace (CPU %" PRIu64 "):\n", json_get_uint64(crash, "cpu"));
                for (size_t i = 0; i < json_object_array_length(backtrace); i++) {
                        _cleanup_free_ char *escaped = escape_controls(
                                strempty(json_object_get_string(json_object_array_get_idx(backtrace, i))));

                        if (!escaped)
                                return log_oom(), VMCTL_EXIT_FAILURE;
                        printf("  %s\n", escaped);
                }
        } else if (core)
                printf("\nNo backtrace: vmmd could not unwind the stack of CPU %" PRIu64 ".\n",
                       json_get_uint64(crash, "cpu"));
        else
                printf("\nNo backtrace: it is read from the memory dump, and there is none.\n");

        return print_console(json_get_string(crash, "console"), full_console);
}

int verb_crash_show(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_put_ json_object *crash = NULL;
        const char *id = argv[1];
        int r;

        r = check_crash_ids(argv + 1, 1);
        if (r != 0)
                return r;
        r = acquire_bus(&bus);
        if (r != 0)
                return r;
        r = get_crash(bus, id, &error, &crash);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to read crash bundle %s", id);
        if (arg_json)
                return json_print(crash, stdout) < 0 ? VMCTL_EXIT_FAILURE : VMCTL_EXIT_SUCCESS;
        return print_report(crash, arg_console);
}

int verb_crash_gdb(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_put_ json_object *crash = NULL;
        _cleanup_strv_free_ char **gdb_argv = NULL;
        _cleanup_close_ int core = -EBADF, symbols = -EBADF;
        _cleanup_free_ char *gdb = NULL;
        const char *id = argv[1];
        int r;

        r = check_crash_ids(argv + 1, 1);
        if (r == 0)
                r = check_gdb_args(argc, 2, "crash gdb", "ID [-- GDB-ARGS...]");
        if (r == 0)
                r = find_gdb(&gdb);
        if (r == 0)
                r = acquire_bus(&bus);
        if (r != 0)
                return r;

        /* The bundle's facts first, for the CPU that panicked; OpenCrash refuses a bundle without a dump. */
        r = get_crash(bus, id, &error, &crash);
        if (r >= 0)
                r = bus_call(
                        bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "OpenCrash", 0, &error, &reply, "s", id);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to open crash bundle %s", id);
        r = bus_message_read_fd(reply, &core);
        if (r >= 0)
                r = bus_message_read_fd(reply, &symbols);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to read the reply of OpenCrash");
        reply = sd_bus_message_unref(reply);
        bus = sd_bus_flush_close_unref(bus);

        r = gdb_crash_argv(core, symbols, (unsigned) json_get_uint64(crash, "cpu"), argv + 2, &gdb_argv);
        if (r < 0)
                return log_oom(), VMCTL_EXIT_FAILURE;
        return exec_gdb(gdb, gdb_argv, (const int[]){ core, symbols }, 2);
}

/* keep, unkeep, delete: one call per ID; like delete-snapshot, stop at the first failure (the bundles after
 * it are left as they are). */
int verb_crash_keep(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        bool delete = streq(argv[0], "delete"), keep = streq(argv[0], "keep");
        int r;

        r = check_crash_ids(argv + 1, argc - 1);
        if (r == 0)
                r = acquire_bus(&bus);
        if (r != 0)
                return r;
        for (int i = 1; i < argc; i++) {
                r = delete ? bus_call(
                                     bus,
                                     VMMD_MANAGER_PATH,
                                     VMMD_MANAGER_INTERFACE,
                                     "DeleteCrash",
                                     0,
                                     &error,
                                     NULL,
                                     "s",
                                     argv[i]) :
                             bus_call(
                                     bus,
                                     VMMD_MANAGER_PATH,
                                     VMMD_MANAGER_INTERFACE,
                                     "KeepCrash",
                                     0,
                                     &error,
                                     NULL,
                                     "sb",
                                     argv[i],
                                     (int) keep);
                if (r < 0)
                        return log_bus_error(&error, r, "Failed to %s crash bundle %s", argv[0], argv[i]);
        }
        return VMCTL_EXIT_SUCCESS;
}

int verb_crash_test(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(crash_wait_done) CrashWait w = {};
        _cleanup_free_ char *path = NULL;
        const char *vm = argv[1];
        int r;

        r = acquire_vm(vm, &bus, &path, "Failed to crash the guest kernel of VM %s", vm);
        if (r != 0)
                return r;

        if (arg_wait) {
                r = crash_wait_begin(&w, bus, vm, path);
                if (r < 0)
                        return log_bus_error(NULL, r, "Failed to subscribe to the signals of vmmd");
        }

        /* Answered once the agent was asked; the panic, the bundle and Crashed follow. */
        r = bus_call(bus, path, VMMD_VM_INTERFACE, "CrashTest", 0, &error, NULL, "b", (int) arg_force);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to crash the guest kernel of VM %s", vm);
        if (!arg_wait)
                return VMCTL_EXIT_SUCCESS;

        r = crash_wait_finish(&w, arg_timeout);
        if (r != VMCTL_EXIT_SUCCESS)
                return r;
        return print_value(w.bundle, "vm", vm, "bundle", w.bundle, NULL);
}

/* Where this vmctl is, for gdb to run it again: /proc/self/exe is gdb's once gdb runs. */
static int self_executable(char **ret) {
        char buf[PATH_MAX];
        ssize_t n;

        n = readlink("/proc/self/exe", buf, sizeof(buf));
        if (n < 0)
                return -errno;
        if ((size_t) n >= sizeof(buf))
                return -ENAMETOOLONG;
        buf[n] = '\0';
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

/* debug --stdio: the relay that gdb's "target remote |" runs. Nothing but the debugger's bytes on stdout. */
static int debug_stdio(int argc, char *argv[]) {
        if (argc > 2) {
                log_error("debug --stdio: too many arguments. Usage: vmctl [OPTIONS...] debug --stdio NAME");
                return VMCTL_EXIT_USAGE;
        }
        return relay_vm_socket(argv[1], "OpenDebugger", "debugger");
}

int verb_debug(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_strv_free_ char **gdb_argv = NULL, **remote = NULL;
        _cleanup_free_ char *gdb = NULL, *self = NULL, *path = NULL;
        _cleanup_close_ int symbols = -EBADF;
        const char *vm = argv[1];
        int r;

        if (arg_stdio)
                return debug_stdio(argc, argv);

        r = check_vm_name(vm);
        if (r == 0)
                r = check_gdb_args(argc, 2, "debug", "NAME [-- GDB-ARGS...]");
        if (r == 0)
                r = find_gdb(&gdb);
        if (r != 0)
                return r;
        r = self_executable(&self);
        if (r < 0)
                return log_error_errno(r, "Failed to find this program: %m"), VMCTL_EXIT_FAILURE;

        r = acquire_vm(vm, &bus, &path, "Failed to read the kernel symbols of VM %s", vm);
        if (r != 0)
                return r;
        r = bus_call(bus, path, VMMD_VM_INTERFACE, "GetDebugSymbols", BUS_LONG_CALL_USEC, &error, &reply, NULL);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to read the kernel symbols of VM %s", vm);
        r = bus_message_read_fd(reply, &symbols);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to read the reply of GetDebugSymbols");
        reply = sd_bus_message_unref(reply);
        bus = sd_bus_flush_close_unref(bus);

        /* The relay talks to the same vmmd, on the same bus. */
        r = strv_extend(&remote, self);
        if (r >= 0 && arg_user)
                r = strv_extend(&remote, "--user");
        if (r >= 0)
                r = strv_extend(&remote, "debug");
        if (r >= 0)
                r = strv_extend(&remote, "--stdio");
        if (r >= 0)
                r = strv_extend(&remote, vm);
        if (r >= 0)
                r = gdb_debug_argv(symbols, remote, argv + 2, &gdb_argv);
        if (r < 0)
                return log_oom(), VMCTL_EXIT_FAILURE;
        return exec_gdb(gdb, gdb_argv, &symbols, 1);
}
