/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl: the command-line client of vmmd, speaking only the org.vmmd1 D-Bus API. */
#include <assert.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>

#include "bus-errors.h"
#include "bus-util.h"
#include "config.h"
#include "crash.h"
#include "display.h"
#include "log.h"
#include "names.h"
#include "output.h"
#include "vmctl.h"
#include "wait.h"

#define DEFAULT_TIMEOUT_USEC (300 * USEC_PER_SEC)
#define HELP_COMMAND_WIDTH 24 /* the commands' column in vmctl --help */

/* Options that belong to one verb; the others are global. */
typedef enum VerbOption {
        VERB_OPTION_MEMORY = 1 << 0,
        VERB_OPTION_VCPUS = 1 << 1,
        VERB_OPTION_NO_START = 1 << 2,
        VERB_OPTION_FORCE = 1 << 3,
        VERB_OPTION_CREATE_FROM = 1 << 4,
        VERB_OPTION_ACCEL = 1 << 5,
        VERB_OPTION_COLD = 1 << 6,
        VERB_OPTION_FORCE_CRASH = 1 << 7, /* --force of crash-test: the same option, another meaning */
        VERB_OPTION_CONSOLE = 1 << 8,
        VERB_OPTION_STDIO = 1 << 9,
        VERB_OPTION_VMM = 1 << 10,
} VerbOption;

bool arg_user = false;
bool arg_json = false;
bool arg_legend = true;
bool arg_wait = true;
static bool arg_ask_password = true;
uint64_t arg_timeout = DEFAULT_TIMEOUT_USEC;
static uint64_t arg_memory_mib = 0;  /* 0: the persona's */
static uint32_t arg_vcpus = 0;       /* 0: the persona's */
static const char *arg_accel = NULL; /* NULL: what vmmd picks */
static const char *arg_vmm = NULL;   /* NULL: the persona's */
static bool arg_cold = false;
static bool arg_start = true;
bool arg_force = false;
bool arg_console = false;
bool arg_stdio = false;
bool arg_end_of_options = false;
static const char *arg_create_from = NULL; /* start: the persona to create a missing VM from */
static VerbOption arg_verb_options = 0;    /* the verb options given */

typedef struct Verb {
        const char *name;
        const char *synopsis; /* operands */
        unsigned min_args;
        unsigned max_args; /* UINT_MAX: any number */
        VerbOption options;
        unsigned exit_statuses;  /* bit mask of the VmctlExit values it can end with, for its help */
        const char *summary;     /* one line in vmctl --help */
        const char *description; /* vmctl VERB --help */
        int (*run)(int argc, char *argv[]); /* argv[0] is the verb; returns an exit status */
} Verb;

static const struct {
        VerbOption option;
        const char *synopsis;
        const char *help;
} verb_option_help[] = {
        { VERB_OPTION_MEMORY, "--memory MIB", "Memory in MiB, instead of the persona's" },
        { VERB_OPTION_VCPUS, "--vcpus N", "Virtual CPUs, instead of the persona's" },
        { VERB_OPTION_NO_START, "--no-start", "Only create the VM, do not start it" },
        { VERB_OPTION_FORCE, "--force", "End the VMM at once, no guest shutdown" },
        { VERB_OPTION_ACCEL, "--accel kvm|tcg", "Accelerator, instead of what vmmd picks" },
        { VERB_OPTION_VMM, "--vmm qemu|hv|auto", "VMM, instead of the persona's" },
        { VERB_OPTION_COLD, "--cold", "Boot instead of cloning a golden snapshot" },
        { VERB_OPTION_CREATE_FROM, "--create-from PERSONA", "Create the VM from PERSONA if it does not exist" },
        { VERB_OPTION_FORCE_CRASH, "--force", "Crash even where the persona wants force" },
        { VERB_OPTION_CONSOLE, "--console", "Print all of the console the bundle holds" },
        { VERB_OPTION_STDIO, "--stdio", "Relay vmmd's debugger on stdin/stdout, for gdb" },
};

static const char *const global_option_help[][2] = {
        { "-h --help", "Show this help; after a command, that command's help" },
        { "   --version", "Show the version" },
        { "   --user", "Talk to the user's vmmd on the session bus" },
        { "   --system", "Talk to the system's vmmd on the system bus (default)" },
        { "   --json", "Print JSON (indented on a terminal)" },
        { "   --no-legend", "Print no column headers and no summary line" },
        { "   --no-wait", "Return once vmmd accepted the request" },
        { "   --timeout SECS", "Stop waiting after SECS s (default 300, 0: never)" },
        { "   --no-ask-password", "Never let polkit ask for a password (refused instead)" },
};

static const char *const exit_status_help[_VMCTL_EXIT_MAX] = {
        [VMCTL_EXIT_SUCCESS] = "Success",
        [VMCTL_EXIT_FAILURE] = "The operation failed",
        [VMCTL_EXIT_USAGE] = "Invalid usage, or vmmd rejected an argument",
        [VMCTL_EXIT_NOT_FOUND] = "No such VM, persona, snapshot or crash bundle",
        [VMCTL_EXIT_CONFLICT] = "Not in the VM's state, the name exists, or vmmd is busy",
        [VMCTL_EXIT_VM_FAILED] = "The VM or build failed, stopped or vanished while waited for",
        [VMCTL_EXIT_TIMEOUT] = "Timed out waiting (--timeout)",
        [VMCTL_EXIT_UNREACHABLE] = "Cannot reach vmmd (no bus, not running or answering, gone)",
        [VMCTL_EXIT_IMAGE_CORRUPT] = "The VM's image is corrupt",
        [VMCTL_EXIT_NO_MEMORY] = "Not enough memory for the VM",
        [VMCTL_EXIT_ACCESS_DENIED] = "Access denied",
};

#define EXIT_BIT(x) (1u << (x))
/* What every verb that talks to vmmd can end with. */
#define EXITS_BUS \
        (EXIT_BIT(VMCTL_EXIT_SUCCESS) | EXIT_BIT(VMCTL_EXIT_FAILURE) | EXIT_BIT(VMCTL_EXIT_USAGE) | \
         EXIT_BIT(VMCTL_EXIT_UNREACHABLE) | EXIT_BIT(VMCTL_EXIT_ACCESS_DENIED))
#define EXITS_WAIT (EXIT_BIT(VMCTL_EXIT_VM_FAILED) | EXIT_BIT(VMCTL_EXIT_TIMEOUT))
#define EXITS_VM (EXIT_BIT(VMCTL_EXIT_NOT_FOUND) | EXIT_BIT(VMCTL_EXIT_CONFLICT))
#define EXITS_BOOT (EXIT_BIT(VMCTL_EXIT_IMAGE_CORRUPT) | EXIT_BIT(VMCTL_EXIT_NO_MEMORY))

static const Verb *find_verb(char *const *words, int n_words, int *ret_used);

int acquire_bus(sd_bus **ret) {
        sd_bus *bus;
        int r;

        r = bus_connect(arg_user, &bus);
        if (r < 0) {
                log_error_errno(r, "Failed to connect to the %s bus: %m", arg_user ? "user" : "system");
                return VMCTL_EXIT_UNREACHABLE;
        }
        /* Let polkit ask the person at the terminal, if vmmd needs their consent. */
        (void) sd_bus_set_allow_interactive_authorization(bus, arg_ask_password && isatty(STDIN_FILENO));
        *ret = bus;
        return 0;
}

/* Returns 0 when every name keeps the rules (names.h) that vmmd applies too, else logs why the first that
 * does not fails ("VM name ...", "Snapshot name ...") and returns VMCTL_EXIT_USAGE. */
typedef const char *(*NameRule)(const char *name); /* NULL for a valid name, else why it is not */

static int check_names(char *const names[], int n, const char *what, NameRule invalid_reason) {
        for (int i = 0; i < n; i++) {
                const char *reason = invalid_reason(names[i]);

                if (reason) {
                        log_error("%s name \"%s\" %s.", what, names[i], reason);
                        return VMCTL_EXIT_USAGE;
                }
        }
        return 0;
}

static int check_vm_names(char *const names[], int n) {
        return check_names(names, n, "VM", vm_name_invalid_reason);
}

int check_vm_name(const char *name) {
        return check_vm_names((char *const[]){ (char *) name }, 1);
}

static int check_snapshot_names(char *const names[], int n) {
        return check_names(names, n, "Snapshot", snapshot_name_invalid_reason);
}

/* Persona names are vmmd's to check (they are its file names); only "" is plainly wrong. */
static int check_persona_name(const char *name) {
        if (isempty(name)) {
                log_error("Persona name is empty.");
                return VMCTL_EXIT_USAGE;
        }
        return 0;
}

/* Returns 0 when value is one of known (NULL-terminated) or also (NULL: none), else logs
 * 'Unknown <what> "<value>": expected a, b or c.' and returns VMCTL_EXIT_USAGE. */
static int check_one_of(const char *what, const char *value, const char *const *known, const char *also) {
        _cleanup_free_ char *expected = NULL;
        size_t n = strv_length((char *const *) known), total = n + !!also, size = 0;
        FILE *f;

        if (strv_contains((char *const *) known, value) || streq_ptr(value, also))
                return 0;

        f = open_memstream(&expected, &size);
        if (!f)
                return log_oom(), VMCTL_EXIT_FAILURE;
        for (size_t i = 0; i < total; i++) {
                const char *separator = i == 0 ? "" : i + 1 < total ? ", " : " or ";

                fprintf(f, "%s%s", separator, i < n ? known[i] : also);
        }
        if (fclose(f) != 0)
                return log_oom(), VMCTL_EXIT_FAILURE;
        log_error("Unknown %s \"%s\": expected %s.", what, value, expected);
        return VMCTL_EXIT_USAGE;
}

int acquire_vm(const char *name, sd_bus **ret_bus, char **ret_path, const char *what_fmt, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        va_list ap;
        int r;

        r = check_vm_name(name);
        if (r != 0)
                return r;
        r = acquire_bus(&bus);
        if (r != 0)
                return r;
        r = bus_get_vm_path(bus, name, &error, &path);
        if (r < 0) {
                va_start(ap, what_fmt);
                r = log_bus_errorv(&error, r, what_fmt, ap);
                va_end(ap);
                return r;
        }
        *ret_bus = TAKE_PTR(bus);
        *ret_path = TAKE_PTR(path);
        return 0;
}

/* What start, stop, pause, resume and destroy do: one method on the VM, one outcome to wait for. */
typedef struct VMOperation {
        const char *verb;
        const char *method;
        uint64_t call_timeout_usec;
        const WaitSpec *spec;
        bool force_argument; /* the method takes (b force) */
} VMOperation;

static const VMOperation vm_operations[] = {
        { "start", "Start", BUS_LONG_CALL_USEC, &wait_running },
        { "stop", "Stop", 0, &wait_stopped, true },
        { "pause", "Pause", 0, &wait_paused },
        { "resume", "Resume", 0, &wait_running },
        { "reboot", "Reboot", 0, &wait_running },
        { "destroy", "Destroy", BUS_LONG_CALL_USEC, &wait_removed },
};

static int verb_create(int argc, char *argv[]);

/* Runs op on the VM called name and, unless --no-wait, waits for its outcome. Returns an exit status. */
static int vm_operation_run(const VMOperation *op, sd_bus *bus, VMWait *w, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = bus_get_vm_path(bus, name, &error, &path);
        if (r < 0 && arg_create_from && sd_bus_error_has_name(&error, VMMD_ERROR_NO_SUCH_VM)) {
                /* start --create-from: a personal VM is made on its first boot (vmm-persona@.service). */
                char *create_argv[] = { (char *) "create", (char *) arg_create_from, (char *) name, NULL };
                return verb_create(3, create_argv);
        }
        if (r < 0)
                return log_bus_error(&error, r, "Failed to %s VM %s", op->verb, name);

        if (arg_wait) {
                r = vm_wait_begin(w, bus, isatty(STDOUT_FILENO));
                if (r < 0)
                        return log_bus_error(NULL, r, "Failed to subscribe to the signals of vmmd");
        }

        if (op->force_argument)
                r = bus_call(
                        bus,
                        path,
                        VMMD_VM_INTERFACE,
                        op->method,
                        op->call_timeout_usec,
                        &error,
                        NULL,
                        "b",
                        (int) arg_force);
        else
                r = bus_call(
                        bus, path, VMMD_VM_INTERFACE, op->method, op->call_timeout_usec, &error, NULL, NULL);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to %s VM %s", op->verb, name);

        if (!arg_wait)
                return VMCTL_EXIT_SUCCESS;
        return vm_wait_finish(w, path, op->spec, arg_timeout);
}

static int append_create_options(sd_bus_message *m) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (!arg_start) {
                r = sd_bus_message_append(m, "{sv}", "start", "b", 0);
                if (r < 0)
                        return r;
        }
        if (arg_memory_mib > 0) {
                r = sd_bus_message_append(m, "{sv}", "memory_mib", "t", arg_memory_mib);
                if (r < 0)
                        return r;
        }
        if (arg_vcpus > 0) {
                r = sd_bus_message_append(m, "{sv}", "vcpus", "u", arg_vcpus);
                if (r < 0)
                        return r;
        }
        if (arg_accel) {
                r = sd_bus_message_append(m, "{sv}", "accel", "s", arg_accel);
                if (r < 0)
                        return r;
        }
        if (arg_vmm) {
                r = sd_bus_message_append(m, "{sv}", "vmm", "s", arg_vmm);
                if (r < 0)
                        return r;
        }
        if (arg_cold) {
                r = sd_bus_message_append(m, "{sv}", "cold", "b", 1);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static int print_created(const char *name, const char *path, const char *state) {
        if (arg_json) {
                _cleanup_json_put_ json_object *o = json_object_new_object();

                if (!o || json_object_object_add(o, "name", json_object_new_string(name)) < 0 ||
                    json_object_object_add(o, "path", json_object_new_string(path)) < 0 ||
                    json_object_object_add(o, "state", json_object_new_string(state)) < 0)
                        return log_oom(), VMCTL_EXIT_FAILURE;
                (void) json_print(o, stdout);
        } else
                printf("Created %s (%s).\n", name, state);
        return VMCTL_EXIT_SUCCESS;
}

static int verb_create(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_put_ json_object *props = NULL;
        _cleanup_(vm_wait_done) VMWait w = {};
        const char *persona = argv[1], *name = argc > 2 ? argv[2] : "", *path;
        bool wait = arg_wait && arg_start;
        int r;

        r = check_persona_name(persona);
        if (r != 0)
                return r;
        if (argc > 2) {
                r = check_vm_name(name);
                if (r != 0)
                        return r;
        }

        r = acquire_bus(&bus);
        if (r != 0)
                return r;

        if (wait) {
                r = vm_wait_begin(&w, bus, isatty(STDOUT_FILENO));
                if (r < 0)
                        return log_bus_error(NULL, r, "Failed to subscribe to the signals of vmmd");
        }

        r = sd_bus_message_new_method_call(
                bus, &m, VMMD_BUS_NAME, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "CreateVM");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", persona, name);
        if (r >= 0)
                r = append_create_options(m);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to build the CreateVM call");

        r = sd_bus_call(bus, m, BUS_LONG_CALL_USEC, &error, &reply);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to create VM");
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to read the reply of CreateVM");

        if (wait) {
                r = vm_wait_finish(&w, path, &wait_running, arg_timeout);
                if (r != VMCTL_EXIT_SUCCESS)
                        return r;
                return print_created(w.name, path, w.state);
        }

        /* The name may be a generated one: ask the VM. */
        r = bus_get_properties(bus, path, VMMD_VM_INTERFACE, &error, &props);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to read the properties of the new VM %s", path);
        return print_created(
                strna(json_get_string(props, "Name")), path, strna(json_get_string(props, "State")));
}

static int verb_vm_operation(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(vm_wait_done) VMWait w = {};
        const VMOperation *op = NULL;
        int r, ret = VMCTL_EXIT_SUCCESS;

        for (size_t i = 0; i < ELEMENTSOF(vm_operations); i++)
                if (streq(vm_operations[i].verb, argv[0]))
                        op = &vm_operations[i];
        assert(op);

        r = check_vm_names(argv + 1, argc - 1);
        if (r != 0)
                return r;
        r = acquire_bus(&bus);
        if (r != 0)
                return r;

        /* With several VMs (destroy), like rm: try each, end with the first failure; but without vmmd
         * the others cannot fare better. */
        for (int i = 1; i < argc; i++) {
                r = vm_operation_run(op, bus, &w, argv[i]);
                if (r != VMCTL_EXIT_SUCCESS && ret == VMCTL_EXIT_SUCCESS)
                        ret = r;
                if (r == VMCTL_EXIT_UNREACHABLE)
                        break;
        }
        return ret;
}

static int verb_wait(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(vm_wait_done) VMWait w = {};
        _cleanup_free_ char *path = NULL;
        const char *state = argv[2];
        bool removed = streq(state, "removed");
        WaitSpec spec = { .target = state };
        int r;

        r = check_vm_name(argv[1]);
        if (r != 0)
                return r;
        r = check_one_of("state", state, vm_states, "removed");
        if (r != 0)
                return r;
        if (removed)
                spec = wait_removed;

        r = acquire_bus(&bus);
        if (r != 0)
                return r;

        r = bus_get_vm_path(bus, argv[1], &error, &path);
        if (r < 0 && removed && sd_bus_error_has_name(&error, VMMD_ERROR_NO_SUCH_VM))
                return VMCTL_EXIT_SUCCESS;
        if (r < 0)
                return log_bus_error(&error, r, "Failed to wait for VM %s", argv[1]);

        r = vm_wait_begin(&w, bus, isatty(STDOUT_FILENO));
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to subscribe to the signals of vmmd");
        return vm_wait_finish(&w, path, &spec, arg_timeout);
}

static int verb_switch(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = check_vm_name(argv[1]);
        if (r != 0)
                return r;
        r = acquire_bus(&bus);
        if (r != 0)
                return r;

        r = bus_call(bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "SwitchTo", 0, &error, NULL, "s", argv[1]);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to switch to VM %s", argv[1]);
        return VMCTL_EXIT_SUCCESS;
}

static int verb_reload(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = acquire_bus(&bus);
        if (r != 0)
                return r;
        r = bus_call(bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "Reload", 0, &error, NULL, NULL);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to reload vmmd's personas");
        return VMCTL_EXIT_SUCCESS;
}

int compare_member(json_object *const *x, json_object *const *y, const char *key) {
        return strcmp(strempty(json_get_string(*x, key)), strempty(json_get_string(*y, key)));
}

static int compare_by_name(const void *a, const void *b) {
        return compare_member(a, b, "name");
}

static int compare_by_persona(const void *a, const void *b) {
        return compare_member(a, b, "persona");
}

static int compare_by_created(const void *a, const void *b) {
        json_object *const *x = a, *const *y = b;
        uint64_t p = json_get_uint64(*x, "created_usec"), q = json_get_uint64(*y, "created_usec");

        if (p != q)
                return p < q ? -1 : 1;
        return compare_by_name(a, b);
}

int print_rows(
        json_object *rows,
        const Column *columns,
        size_t n_columns,
        int (*compare)(const void *, const void *),
        const char *singular,
        const char *plural) {
        _cleanup_table_free_ Table *t = NULL;
        size_t n = json_object_array_length(rows);
        int r;

        json_object_array_sort(rows, compare);
        if (arg_json)
                return json_print(rows, stdout) < 0 ? VMCTL_EXIT_FAILURE : VMCTL_EXIT_SUCCESS;

        if (n == 0) {
                if (arg_legend)
                        printf("No %s.\n", plural);
                return VMCTL_EXIT_SUCCESS;
        }

        const char *headers[n_columns];
        for (size_t c = 0; c < n_columns; c++)
                headers[c] = columns[c].header;
        t = table_new(n_columns, headers);
        if (!t)
                return log_oom(), VMCTL_EXIT_FAILURE;

        for (size_t i = 0; i < n; i++) {
                json_object *row = json_object_array_get_idx(rows, i);
                char buf[n_columns][FORMAT_CELL_MAX];
                const char *cells[n_columns];

                for (size_t c = 0; c < n_columns; c++) {
                        json_object *o;

                        cells[c] = NULL;
                        if (!json_object_object_get_ex(row, columns[c].key, &o))
                                continue;
                        if (columns[c].zero &&
                            (json_object_is_type(o, json_type_string) ? isempty(json_object_get_string(o)) :
                                                                        json_object_get_uint64(o) == 0)) {
                                cells[c] = columns[c].zero;
                                continue;
                        }
                        if (columns[c].cell) {
                                cells[c] = columns[c].cell(row, buf[c]);
                                continue;
                        }
                        switch (columns[c].format) {
                        case COLUMN_MIB:
                                cells[c] = format_mib(buf[c], json_object_get_uint64(o));
                                break;
                        case COLUMN_BYTES:
                                cells[c] = format_bytes(buf[c], json_object_get_uint64(o));
                                break;
                        case COLUMN_DATETIME:
                                /* No time (0): "-". */
                                if (!isempty(format_datetime(buf[c], json_object_get_uint64(o))))
                                        cells[c] = buf[c];
                                break;
                        case COLUMN_BOOLEAN:
                                cells[c] = json_object_get_boolean(o) ? "yes" : "no";
                                break;
                        default:
                                cells[c] = json_object_get_string(o);
                        }
                }
                r = table_add_row(t, cells);
                if (r < 0)
                        return log_oom(), VMCTL_EXIT_FAILURE;
        }

        (void) table_print(t, stdout, arg_legend);
        if (arg_legend)
                printf("\n%zu %s listed.\n", n, n == 1 ? singular : plural);
        return VMCTL_EXIT_SUCCESS;
}

int json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        return json_object_object_add(o, key, v) < 0 ? -ENOMEM : 0;
}

static int verb_list(int argc, char *argv[]) {
        static const Column columns[] = {
                { "NAME", "name" },   { "PERSONA", "persona" }, { "STATE", "state" },
                { "ACCEL", "accel" }, { "VMM", "vmm" },         { "MEMORY", "memory_mib", COLUMN_MIB },
                { "VCPUS", "vcpus" },
        };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_put_ json_object *rows = NULL;
        const char *name, *persona, *state, *path, *accel, *vmm;
        uint64_t memory_mib, vcpus;
        int r;

        r = acquire_bus(&bus);
        if (r != 0)
                return r;

        r = bus_call(bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, "ListVMs", 0, &error, &reply, NULL);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to list VMs");

        rows = json_object_new_array();
        if (!rows)
                return log_oom(), VMCTL_EXIT_FAILURE;

        r = sd_bus_message_enter_container(reply, 'a', "(ssso)");
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to read the list of VMs");
        while ((r = sd_bus_message_read(reply, "(ssso)", &name, &persona, &state, &path)) > 0) {
                _cleanup_json_put_ json_object *props = NULL, *row = NULL;

                r = bus_get_properties(bus, path, VMMD_VM_INTERFACE, &error, &props);
                if (r < 0 &&
                    sd_bus_error_has_names(&error, SD_BUS_ERROR_UNKNOWN_OBJECT, VMMD_ERROR_NO_SUCH_VM)) {
                        /* Removed since ListVMs answered. */
                        sd_bus_error_free(&error);
                        continue;
                }
                if (r < 0)
                        return log_bus_error(&error, r, "Failed to read the properties of VM %s", name);

                accel = strempty(json_get_string(props, "Accel"));
                vmm = strempty(json_get_string(props, "VMM"));
                memory_mib = json_get_uint64(props, "MemoryMiB");
                vcpus = json_get_uint64(props, "VCPUs");
                row = json_object_new_object();
                if (!row || json_add(row, "name", json_object_new_string(name)) < 0 ||
                    json_add(row, "persona", json_object_new_string(persona)) < 0 ||
                    json_add(row, "state", json_object_new_string(state)) < 0 ||
                    json_add(row, "accel", json_object_new_string(accel)) < 0 ||
                    json_add(row, "vmm", json_object_new_string(vmm)) < 0 ||
                    json_add(row, "memory_mib", json_object_new_uint64(memory_mib)) < 0 ||
                    json_add(row, "vcpus", json_object_new_uint64(vcpus)) < 0 ||
                    json_add(row, "path", json_object_new_string(path)) < 0 ||
                    json_object_array_add(rows, row) < 0)
                        return log_oom(), VMCTL_EXIT_FAILURE;
                row = NULL;
        }
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to read the list of VMs");

        return print_rows(rows, columns, ELEMENTSOF(columns), compare_by_name, "VM", "VMs");
}

int call_rows(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *member,
        const char *const *keys,
        const char *what,
        json_object **ret,
        const char *types,
        ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_json_put_ json_object *list = NULL;
        va_list ap;
        int r;

        va_start(ap, types);
        r = bus_callv(bus, path, interface, member, 0, &error, &reply, types, ap);
        va_end(ap);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to list %s", what);
        r = bus_message_read_json(reply, &list);
        if (r >= 0)
                r = json_name_members(list, keys, ret);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to read the list of %s", what);
        return 0;
}

static int verb_personas(int argc, char *argv[]) {
        static const Column columns[] = {
                { "NAME", "name" },
                { "DESCRIPTION", "description" },
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_put_ json_object *rows = NULL;
        int r;

        r = acquire_bus(&bus);
        if (r == 0)
                r = call_rows(
                        bus,
                        VMMD_MANAGER_PATH,
                        VMMD_MANAGER_INTERFACE,
                        "ListPersonas",
                        STRV_MAKE("name", "description"),
                        "personas",
                        &rows,
                        NULL);
        if (r != 0)
                return r;
        return print_rows(rows, columns, ELEMENTSOF(columns), compare_by_name, "persona", "personas");
}

int print_value(const char *value, ...) {
        _cleanup_json_put_ json_object *o = NULL;
        _cleanup_free_ char *escaped = NULL;
        const char *key;
        va_list ap;
        int r = 0;

        if (!arg_json) {
                escaped = escape_controls(value);
                if (!escaped)
                        return log_oom(), VMCTL_EXIT_FAILURE;
                printf("%s\n", escaped);
                return VMCTL_EXIT_SUCCESS;
        }

        o = json_object_new_object();
        if (!o)
                return log_oom(), VMCTL_EXIT_FAILURE;
        va_start(ap, value);
        while (r >= 0 && (key = va_arg(ap, const char *)))
                r = json_add(o, key, json_object_new_string(va_arg(ap, const char *)));
        va_end(ap);
        if (r < 0)
                return log_oom(), VMCTL_EXIT_FAILURE;
        return json_print(o, stdout) < 0 ? VMCTL_EXIT_FAILURE : VMCTL_EXIT_SUCCESS;
}

static int verb_snapshot(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        const char *vm = argv[1], *snapshot = argc > 2 ? argv[2] : "", *taken;
        int r;

        r = check_vm_name(vm);
        if (r != 0)
                return r;
        r = check_snapshot_names(argv + 2, argc - 2);
        if (r != 0)
                return r;
        r = acquire_vm(vm, &bus, &path, "Failed to snapshot VM %s", vm);
        if (r != 0)
                return r;

        /* "": vmmd picks the name. */
        r = bus_call(
                bus, path, VMMD_VM_INTERFACE, "Snapshot", BUS_LONG_CALL_USEC, &error, &reply, "s", snapshot);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to snapshot VM %s", vm);
        r = sd_bus_message_read(reply, "s", &taken);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to read the reply of Snapshot");
        return print_value(taken, "vm", vm, "snapshot", taken, NULL);
}

static int verb_snapshots(int argc, char *argv[]) {
        static const Column columns[] = {
                { "NAME", "name" },
                { "CREATED", "created_usec", COLUMN_DATETIME },
                { "STATE", "state_bytes", COLUMN_BYTES, "disk only" },
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_put_ json_object *rows = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = acquire_vm(argv[1], &bus, &path, "Failed to list the snapshots of VM %s", argv[1]);
        if (r != 0)
                return r;
        r = call_rows(
                bus,
                path,
                VMMD_VM_INTERFACE,
                "ListSnapshotsDetailed",
                STRV_MAKE("name", "created_usec", "state_bytes"),
                "snapshots",
                &rows,
                NULL);
        if (r != 0)
                return r;
        return print_rows(rows, columns, ELEMENTSOF(columns), compare_by_created, "snapshot", "snapshots");
}

static int verb_restore(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(vm_wait_done) VMWait w = {};
        _cleanup_free_ char *path = NULL, *state_before = NULL, *state = NULL;
        const char *vm = argv[1], *snapshot = argv[2];
        int r;

        r = check_vm_name(vm);
        if (r != 0)
                return r;
        r = check_snapshot_names(argv + 2, 1);
        if (r != 0)
                return r;
        r = acquire_vm(vm, &bus, &path, "Failed to restore VM %s to snapshot %s", vm, snapshot);
        if (r != 0)
                return r;

        if (arg_wait) {
                r = vm_wait_begin(&w, bus, isatty(STDOUT_FILENO));
                if (r < 0)
                        return log_bus_error(NULL, r, "Failed to subscribe to the signals of vmmd");
                r = sd_bus_get_property_string(
                        bus, VMMD_BUS_NAME, path, VMMD_VM_INTERFACE, "State", &error, &state_before);
                if (r < 0)
                        return log_bus_error(&error, r, "Failed to read the state of VM %s", vm);
        }

        r = bus_call(bus, path, VMMD_VM_INTERFACE, "Restore", BUS_LONG_CALL_USEC, &error, NULL, "s", snapshot);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to restore VM %s to snapshot %s", vm, snapshot);
        if (!arg_wait)
                return VMCTL_EXIT_SUCCESS;

        /* Restore answers once the guest is replaced (a stopped VM: once its VMM runs); the VM is then
         * "starting" until the restored guest's agent answers: like start, wait until it runs. A VM that
         * failed since the reply failed in that start. Paused and disk-only restores need no wait. */
        r = sd_bus_get_property_string(bus, VMMD_BUS_NAME, path, VMMD_VM_INTERFACE, "State", &error, &state);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to read the state of VM %s", vm);
        if (!streq(state, "starting") && !(streq(state, "failed") && !streq(state_before, "failed")))
                return VMCTL_EXIT_SUCCESS;
        return vm_wait_finish(&w, path, &wait_running, arg_timeout);
}

static int parse_mib(const char *s, uint64_t *ret);

static int verb_set_memory(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(vm_wait_done) VMWait w = {};
        _cleanup_free_ char *path = NULL;
        WaitSpec spec = wait_memory;
        const char *vm = argv[1];
        int r;

        r = check_vm_name(vm);
        if (r != 0)
                return r;
        /* Like --memory; the range (64 MiB up to the VM's MemoryMiB) is vmmd's to check. */
        if (parse_mib(argv[2], &spec.memory_mib) < 0) {
                log_error("Invalid memory \"%s\": expected a positive number of MiB.", argv[2]);
                return VMCTL_EXIT_USAGE;
        }
        r = acquire_vm(vm, &bus, &path, "Failed to set the memory of VM %s", vm);
        if (r != 0)
                return r;

        if (arg_wait) {
                r = vm_wait_begin(&w, bus, isatty(STDOUT_FILENO));
                if (r < 0)
                        return log_bus_error(NULL, r, "Failed to subscribe to the signals of vmmd");
        }

        /* Answered once QEMU took the target; the guest's balloon driver then gets there in its time. */
        r = bus_call(bus, path, VMMD_VM_INTERFACE, "SetMemoryTarget", 0, &error, NULL, "t", spec.memory_mib);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to set the memory of VM %s", vm);
        if (!arg_wait)
                return VMCTL_EXIT_SUCCESS;
        return vm_wait_finish(&w, path, &spec, arg_timeout);
}

/* What ReadGuest answers about. */
static const char *const guest_items[] = { "hostname", "machine-id", "clock", "random",
                                           "boot-id",  "input",      NULL };

static int verb_guest(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        const char *vm = argv[1], *item = argv[2], *value;
        int r;

        r = check_vm_name(vm);
        if (r != 0)
                return r;
        r = check_one_of("item", item, guest_items, NULL);
        if (r != 0)
                return r;
        r = acquire_vm(vm, &bus, &path, "Failed to read %s from the guest of VM %s", item, vm);
        if (r != 0)
                return r;

        r = bus_call(bus, path, VMMD_VM_INTERFACE, "ReadGuest", 0, &error, &reply, "s", item);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to read %s from the guest of VM %s", item, vm);
        r = sd_bus_message_read(reply, "s", &value);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to read the reply of ReadGuest");
        return print_value(value, "vm", vm, "item", item, "value", value, NULL);
}

static int parse_uint64(const char *s, uint64_t *ret);
static int parse_mib(const char *s, uint64_t *ret);

/* What MemTest does. */
static const char *const memtest_actions[] = { "fill", "check", "free", "poke", NULL };

static int verb_memtest(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *list = NULL;
        _cleanup_json_put_ json_object *o = NULL, *first_json = NULL;
        const char *vm = argv[1], *action = argv[2];
        uint64_t mib = 0, value = 0, units, bad;
        const uint64_t *first;
        size_t n_first;
        int r;

        r = check_vm_name(vm);
        if (r != 0)
                return r;
        r = check_one_of("action", action, memtest_actions, NULL);
        if (r != 0)
                return r;
        if (streq(action, "fill") ? argc < 4 || argc > 5 : streq(action, "poke") ? argc != 4 : argc != 3) {
                log_error(
                        "memtest %s takes %s. Usage: vmctl [OPTIONS...] memtest NAME fill MIB [SEED] | check | "
                        "free | poke UNIT",
                        action,
                        streq(action, "fill")         ? "MIB and an optional SEED" :
                                streq(action, "poke") ? "one UNIT" :
                                                        "no more arguments");
                return VMCTL_EXIT_USAGE;
        }
        if (streq(action, "fill") && parse_mib(argv[3], &mib) < 0) {
                log_error("Invalid size '%s': expected a positive number of MiB", argv[3]);
                return VMCTL_EXIT_USAGE;
        }
        if (streq(action, "fill") && argc == 5 && parse_uint64(argv[4], &value) < 0) {
                log_error("Invalid seed '%s': expected a decimal number", argv[4]);
                return VMCTL_EXIT_USAGE;
        }
        if (streq(action, "poke") && parse_uint64(argv[3], &value) < 0) {
                log_error("Invalid unit '%s': expected a decimal number", argv[3]);
                return VMCTL_EXIT_USAGE;
        }
        r = acquire_vm(vm, &bus, &path, "Failed to test the memory of VM %s", vm);
        if (r != 0)
                return r;

        r = bus_call(
                bus, path, VMMD_VM_INTERFACE, "MemTest", BUS_LONG_CALL_USEC, &error, &reply, "stt", action, mib, value);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to test the memory of VM %s", vm);
        r = sd_bus_message_read(reply, "tt", &units, &bad);
        if (r >= 0)
                r = sd_bus_message_read_array(reply, 't', (const void **) &first, &n_first);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to read the reply of MemTest");
        n_first /= sizeof(uint64_t);

        if (arg_json) {
                o = json_object_new_object();
                first_json = json_object_new_array();
                if (!o || !first_json)
                        return log_oom(), VMCTL_EXIT_FAILURE;
                for (size_t i = 0; i < n_first; i++)
                        if (json_object_array_add(first_json, json_object_new_int64((int64_t) first[i])) < 0)
                                return log_oom(), VMCTL_EXIT_FAILURE;
                if (json_add(o, "vm", json_object_new_string(vm)) < 0 ||
                    json_add(o, "units", json_object_new_int64((int64_t) units)) < 0 ||
                    json_add(o, "bad", json_object_new_int64((int64_t) bad)) < 0 ||
                    json_add(o, "first_bad", TAKE_PTR(first_json)) < 0)
                        return log_oom(), VMCTL_EXIT_FAILURE;
                if (json_print(o, stdout) < 0)
                        return VMCTL_EXIT_FAILURE;
        } else {
                for (size_t i = 0; i < n_first; i++)
                        if (strextendf(&list, "%s%" PRIu64, i ? "," : " first=", first[i]) < 0)
                                return log_oom(), VMCTL_EXIT_FAILURE;
                printf("units=%" PRIu64 " bad=%" PRIu64 "%s\n", units, bad, strempty(list));
        }
        /* A check that found a byte out of place is a failure, for scripts. */
        return bad > 0 ? VMCTL_EXIT_FAILURE : VMCTL_EXIT_SUCCESS;
}

static int verb_delete_snapshot(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        const char *vm = argv[1];
        int r;

        r = check_vm_name(vm);
        if (r != 0)
                return r;
        r = check_snapshot_names(argv + 2, argc - 2);
        if (r != 0)
                return r;
        r = acquire_vm(vm, &bus, &path, "Failed to delete snapshot %s of VM %s", argv[2], vm);
        if (r != 0)
                return r;

        /* Unlike destroy: stop at the first failure, the snapshots after it are left as they are. */
        for (int i = 2; i < argc; i++) {
                r = bus_call(
                        bus,
                        path,
                        VMMD_VM_INTERFACE,
                        "DeleteSnapshot",
                        BUS_LONG_CALL_USEC,
                        &error,
                        NULL,
                        "s",
                        argv[i]);
                if (r < 0)
                        return log_bus_error(&error, r, "Failed to delete snapshot %s of VM %s", argv[i], vm);
        }
        return VMCTL_EXIT_SUCCESS;
}

/* "building 40%" while building, else the state. */
static const char *golden_state_cell(json_object *row, char buf[static FORMAT_CELL_MAX]) {
        const char *state = json_get_string(row, "state");

        if (!streq_ptr(state, "building"))
                return state;
        (void) snprintf(buf, FORMAT_CELL_MAX, "building %" PRIu64 "%%", json_get_uint64(row, "progress"));
        return buf;
}

static int verb_golden(int argc, char *argv[]) {
        static const Column columns[] = {
                { "PERSONA", "persona" },
                { "STATE", "state", .cell = golden_state_cell },
                { "ID", "id", .zero = "-" },
                { "IMAGE", "image", .zero = "-" },
                { "CREATED", "created_usec", COLUMN_DATETIME },
                { "MESSAGE", "message", .zero = "-" },
        };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_put_ json_object *rows = NULL;
        int r;

        r = acquire_bus(&bus);
        if (r != 0)
                return r;
        r = bus_get_golden_snapshots(bus, &error, &rows);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to list golden snapshots");
        return print_rows(
                rows, columns, ELEMENTSOF(columns), compare_by_persona, "golden snapshot", "golden snapshots");
}

static int verb_golden_rebuild(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(golden_wait_done) GoldenWait w = {};
        _cleanup_free_ char *id = NULL;
        const char *persona = argv[1];
        int r;

        r = check_persona_name(persona);
        if (r != 0)
                return r;
        r = acquire_bus(&bus);
        if (r != 0)
                return r;

        if (arg_wait) {
                r = golden_wait_begin(&w, bus, persona);
                if (r < 0)
                        return log_bus_error(NULL, r, "Failed to subscribe to the signals of vmmd");
        }

        /* Answered once the build began (its VMM spawned), in the background. */
        r = bus_call(
                bus,
                VMMD_MANAGER_PATH,
                VMMD_MANAGER_INTERFACE,
                "RebuildGoldenSnapshot",
                BUS_LONG_CALL_USEC,
                &error,
                NULL,
                "s",
                persona);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to rebuild the golden snapshot of %s", persona);
        if (!arg_wait)
                return VMCTL_EXIT_SUCCESS;

        r = golden_wait_finish(&w, arg_timeout);
        if (r != VMCTL_EXIT_SUCCESS)
                return r;
        if (arg_json)
                return json_print(w.entry, stdout) < 0 ? VMCTL_EXIT_FAILURE : VMCTL_EXIT_SUCCESS;
        id = escape_controls(strempty(json_get_string(w.entry, "id")));
        if (!id)
                return log_oom(), VMCTL_EXIT_FAILURE;
        printf("Built golden snapshot %s of %s.\n", id, persona);
        return VMCTL_EXIT_SUCCESS;
}

static bool endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);

        return a >= b && streq(s + a - b, suffix);
}

/* One property value for Key=Value output, escaped for the terminal. NULL on OOM. */
static char *format_property(const char *key, json_object *v) {
        char buf[FORMAT_TIMESTAMP_MAX];

        switch (json_object_get_type(v)) {
        case json_type_null:
                return strdup("");
        case json_type_string:
                return escape_controls(json_object_get_string(v));
        case json_type_boolean:
                return strdup(json_object_get_boolean(v) ? "yes" : "no");
        case json_type_int:
                /* Like systemctl show: µs since the epoch, as a date. */
                if (endswith(key, "Timestamp"))
                        return strdup(format_timestamp(buf, json_object_get_uint64(v)));
                return strdup(json_object_to_json_string(v));
        default:
                /* Arrays, structs, dictionaries: as JSON. */
                return escape_controls(json_object_to_json_string_ext(
                        v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        }
}

static int print_properties(json_object *props) {
        if (arg_json)
                return json_print(props, stdout) < 0 ? VMCTL_EXIT_FAILURE : VMCTL_EXIT_SUCCESS;

        json_object_object_foreach(props, key, v) {
                _cleanup_free_ char *s = format_property(key, v);

                if (!s)
                        return log_oom(), VMCTL_EXIT_FAILURE;
                printf("%s=%s\n", key, s);
        }
        return VMCTL_EXIT_SUCCESS;
}

static int verb_show(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_put_ json_object *props = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = acquire_vm(argv[1], &bus, &path, "Failed to read the properties of VM %s", argv[1]);
        if (r != 0)
                return r;
        r = bus_get_properties(bus, path, VMMD_VM_INTERFACE, &error, &props);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to read the properties of VM %s", argv[1]);
        return print_properties(props);
}

static int verb_host(int argc, char *argv[]) {
        /* Manager properties in the order a person reads them; Accel and AccelReason share a line, HvUsable
         * and HvReason too. */
        static const struct {
                const char *label;
                const char *key;
                bool mib;
                bool zero_is_na; /* KVM facts are 0 where there is no KVM */
                bool pressure;   /* PSI, percent, and whether vmmd sees pressure */
        } lines[] = {
                { "Version", "Version" },
                { "Architecture", "Architecture" },
                { "Acceleration", "Accel" },
                { "vmm-hv", "HvUsable" },
                { "KVM mode", "KVMMode" },
                { "KVM API version", "KVMAPIVersion", .zero_is_na = true },
                { "IPA bits", "IPABits", .zero_is_na = true },
                { "GIC version", "GICVersion", .zero_is_na = true },
                { "Max vCPUs", "MaxVCPUs", .zero_is_na = true },
                { "Host memory", "HostMemoryMiB", .mib = true },
                { "Host CPUs", "HostCPUs" },
                { "Host available", "MemoryAvailableMiB", .mib = true },
                { "Memory pressure", "MemoryPressure", .pressure = true },
                { "Guest memory", "MemoryRunningMiB", .mib = true },
                { "Promised", "MemoryCommittedMiB", .mib = true },
                { "Memory limit", "MemoryLimitMiB", .mib = true },
                { "Resident", "MemoryResidentMiB", .mib = true },
                { "Ballooned", "MemoryBalloonedMiB", .mib = true },
                { "KSM merged", "MemoryMergedMiB", .mib = true },
                { "Reclaimable", "MemoryReclaimableMiB", .mib = true },
                { "Foreground VM", "Foreground" },
        };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_put_ json_object *props = NULL;
        int r, width = 0;

        r = acquire_bus(&bus);
        if (r != 0)
                return r;
        r = bus_get_properties(bus, VMMD_MANAGER_PATH, VMMD_MANAGER_INTERFACE, &error, &props);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to read the properties of vmmd");
        if (arg_json)
                return print_properties(props);

        for (size_t i = 0; i < ELEMENTSOF(lines); i++)
                width = MAX(width, (int) strlen(lines[i].label));

        for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                _cleanup_free_ char *value = NULL;
                char buf[FORMAT_MIB_MAX];
                const char *reason;
                json_object *v;

                if (!json_object_object_get_ex(props, lines[i].key, &v))
                        continue; /* an older vmmd */

                if (lines[i].mib && streq(lines[i].key, "MemoryResidentMiB") && json_object_get_uint64(v) > 0) {
                        /* Overcommit as it stands: the guests' RAM per MiB they hold on the host. */
                        if (asprintf(
                                    &value,
                                    "%s (%.2f MiB of guest RAM per MiB)",
                                    format_mib(buf, json_object_get_uint64(v)),
                                    (double) json_get_uint64(props, "MemoryRunningMiB") /
                                            (double) json_object_get_uint64(v)) < 0)
                                value = NULL;
                } else if (lines[i].mib)
                        value = strdup(format_mib(buf, json_object_get_uint64(v)));
                else if (lines[i].pressure) {
                        if (json_object_get_double(v) < 0)
                                value = strdup("n/a");
                        else if (
                                asprintf(
                                        &value,
                                        "%.2f%% (PSI some avg10)%s",
                                        json_object_get_double(v),
                                        json_get_bool(props, "MemoryUnderPressure") ?
                                                ": under pressure, background phones give memory back" :
                                                "") < 0)
                                value = NULL;
                } else if (lines[i].zero_is_na && json_object_get_uint64(v) == 0)
                        value = strdup("n/a");
                else if (json_object_is_type(v, json_type_string) && isempty(json_object_get_string(v)))
                        value = strdup("n/a");
                else if (streq(lines[i].key, "Accel") && !isempty(reason = json_get_string(props, "AccelReason"))) {
                        if (asprintf(&value, "%s (%s)", json_object_get_string(v), reason) < 0)
                                value = NULL;
                } else if (streq(lines[i].key, "HvUsable")) {
                        reason = json_get_string(props, "HvReason");
                        if (asprintf(
                                    &value,
                                    "%s%s%s%s",
                                    json_object_get_boolean(v) ? "usable" : "not usable",
                                    isempty(reason) ? "" : " (",
                                    strempty(reason),
                                    isempty(reason) ? "" : ")") < 0)
                                value = NULL;
                } else
                        value = format_property(lines[i].key, v);
                if (!value)
                        return log_oom(), VMCTL_EXIT_FAILURE;

                /* The Accel line may carry the reason, which comes from the host: escape it. */
                _cleanup_free_ char *escaped = escape_controls(value);
                if (!escaped)
                        return log_oom(), VMCTL_EXIT_FAILURE;
                printf("%*s: %s\n", width, lines[i].label, escaped);
        }
        return VMCTL_EXIT_SUCCESS;
}

static const Verb verbs[];
static void print_help(void);
static void print_verb_help(const Verb *v);

static int verb_help(int argc, char *argv[]) {
        const Verb *v;
        int used;

        if (argc < 2) {
                print_help();
                return VMCTL_EXIT_SUCCESS;
        }
        v = find_verb(argv + 1, argc - 1, &used);
        if (!v || used < argc - 1) {
                log_error(
                        "Unknown command '%s%s%s'. See 'vmctl --help'.",
                        argv[1],
                        argc > 2 ? " " : "",
                        argc > 2 ? argv[2] : "");
                return VMCTL_EXIT_USAGE;
        }
        print_verb_help(v);
        return VMCTL_EXIT_SUCCESS;
}

static const Verb verbs[] = {
        { "list",
          "",
          0,
          0,
          0,
          EXITS_BUS,
          "List the VMs",
          "List the VMs of vmmd, sorted by name, with persona, state, accelerator\n"
          "(kvm or tcg), VMM (qemu or hv), memory and virtual CPUs. With --json: an\n"
          "array of objects with name, persona, state, accel, vmm, memory_mib,\n"
          "vcpus and path (the VM's D-Bus object). Waits for nothing.",
          verb_list },
        { "show",
          "NAME",
          1,
          1,
          0,
          EXITS_BUS | EXIT_BIT(VMCTL_EXIT_NOT_FOUND),
          "Show all properties of a VM",
          "Show every property of the VM NAME as Key=Value lines (booleans as\n"
          "yes/no, timestamps as dates); with --json as one object keyed by the\n"
          "D-Bus property names. Waits for nothing.",
          verb_show },
        { "create",
          "PERSONA [NAME]",
          1,
          2,
          VERB_OPTION_MEMORY | VERB_OPTION_VCPUS | VERB_OPTION_ACCEL | VERB_OPTION_VMM |
                  VERB_OPTION_NO_START | VERB_OPTION_COLD,
          EXITS_BUS | EXITS_VM | EXITS_WAIT | EXITS_BOOT,
          "Create a VM from a persona and start it",
          "Create a VM from the persona template PERSONA (see 'vmctl personas'),\n"
          "called NAME or, without NAME, a generated name such as\n"
          "throwaway-3fa9c1, and start it. Waits until the guest agent reports\n"
          "ready (State \"running\"), showing progress on a terminal; with\n"
          "--no-wait returns once the VMM process runs (\"starting\"). With\n"
          "--no-start only creates the VM (\"created\"). Prints the VM's name and\n"
          "state; with --json an object with name, path and state. A VM that\n"
          "fails while starting stays, \"failed\", until it is destroyed.\n"
          "A VM of a persona with golden snapshots (see 'vmctl golden') starts\n"
          "as a clone of its ready golden snapshot instead of booting (its\n"
          "GoldenSnapshot property in 'vmctl show' names it); --cold boots it.\n"
          "--vmm runs it in QEMU (qemu) or in vmm-hv (hv, KVM only; no snapshots\n"
          "or debugger), instead of the persona's choice (see 'vmctl personas').",
          verb_create },
        { "start",
          "NAME",
          1,
          1,
          VERB_OPTION_CREATE_FROM,
          EXITS_BUS | EXITS_VM | EXITS_WAIT | EXITS_BOOT,
          "Start a VM and wait until it runs",
          "Start the VM NAME. Waits until its guest agent reports ready (State\n"
          "\"running\"), showing progress on a terminal; with --no-wait returns\n"
          "once its VMM process runs (\"starting\"). Starting a VM that runs or\n"
          "is starting succeeds. With --create-from PERSONA, a VM NAME that does\n"
          "not exist yet is created from PERSONA and started (what\n"
          "vmm-persona@.service does at boot).",
          verb_vm_operation },
        { "stop",
          "NAME",
          1,
          1,
          VERB_OPTION_FORCE,
          EXITS_BUS | EXITS_VM | EXITS_WAIT,
          "Shut a VM down and wait until it stopped",
          "Shut the VM NAME down: its guest powers off or, with --force, its VMM\n"
          "is ended at once. Waits until the VM is \"stopped\" or, for a throwaway\n"
          "VM, removed; with --no-wait returns once the stop began (\"stopping\").",
          verb_vm_operation },
        { "pause",
          "NAME",
          1,
          1,
          0,
          EXITS_BUS | EXITS_VM | EXITS_WAIT,
          "Pause a running VM",
          "Pause the virtual CPUs of the VM NAME. Waits until its State is\n"
          "\"paused\" (unless --no-wait).",
          verb_vm_operation },
        { "resume",
          "NAME",
          1,
          1,
          0,
          EXITS_BUS | EXITS_VM | EXITS_WAIT,
          "Resume a paused VM",
          "Resume the paused VM NAME. Waits until its State is \"running\" (unless\n"
          "--no-wait).",
          verb_vm_operation },
        { "reboot",
          "NAME",
          1,
          1,
          0,
          EXITS_BUS | EXITS_VM | EXITS_WAIT,
          "Reboot a running VM",
          "Reboot the guest of the running VM NAME (through its agent, else a\n"
          "reset). Waits until it runs again (unless --no-wait). A guest that\n"
          "reboots more than 5 times within 60 s is failed.",
          verb_vm_operation },
        { "destroy",
          "NAME...",
          1,
          UINT_MAX,
          0,
          EXITS_BUS | EXITS_VM | EXIT_BIT(VMCTL_EXIT_TIMEOUT),
          "Power VMs off and delete them with all their data",
          "Destroy each VM NAME: its VMM is ended, its disks, snapshots and state\n"
          "are deleted. Waits until vmmd reports each VM removed (unless\n"
          "--no-wait). Goes on with the other VMs when one fails, unless vmmd\n"
          "cannot be reached; ends with the exit status of the first failure.",
          verb_vm_operation },
        { "wait",
          "NAME STATE",
          2,
          2,
          0,
          EXITS_BUS | EXIT_BIT(VMCTL_EXIT_NOT_FOUND) | EXITS_WAIT,
          "Wait until a VM is in a state",
          "Wait until the VM NAME is in STATE: created, starting, running, paused,\n"
          "stopping, stopped or failed; or, with STATE \"removed\", until it is\n"
          "gone. Returns at once if it already is. Follows vmmd's signals;\n"
          "--timeout applies. Ends with exit status 5 if the VM fails meanwhile\n"
          "(unless STATE is \"failed\") or is removed (unless STATE is \"removed\").",
          verb_wait },
        { "switch",
          "NAME",
          1,
          1,
          0,
          EXITS_BUS | EXITS_VM,
          "Make a VM the foreground persona",
          "Make the VM NAME the foreground persona: the one whose display and\n"
          "input the phone shows. Returns when vmmd has switched.",
          verb_switch },
        { "set-memory",
          "NAME MIB",
          2,
          2,
          0,
          EXITS_BUS | EXITS_VM | EXITS_WAIT,
          "Set how much memory a running VM keeps (balloon)",
          "Ask the guest of the running VM NAME to give memory back to the host\n"
          "(its balloon inflates) until it keeps MIB MiB, or to take memory back\n"
          "(the balloon deflates), up to the VM's MemoryMiB; vmmd accepts 64 up\n"
          "to MemoryMiB. Waits until the guest has MIB MiB (MemoryActualMiB, see\n"
          "'vmctl show'), showing progress on a terminal; with --no-wait returns\n"
          "once QEMU took the new target. A guest that cannot give as much (it\n"
          "needs the memory) keeps the wait going until --timeout ends it (exit\n"
          "status 6); one that stops, fails or is removed meanwhile ends it with\n"
          "exit status 5. The target lasts while the VMM runs: a VM that starts\n"
          "again has all its memory.",
          verb_set_memory },
        { "guest",
          "NAME ITEM",
          2,
          2,
          0,
          EXITS_BUS | EXITS_VM,
          "Ask the guest agent of a running VM",
          "Ask the guest agent of the running VM NAME for ITEM: hostname,\n"
          "machine-id, clock (the guest's wall clock, as seconds since the epoch\n"
          "with 9 digits of nanoseconds), random (128 hex digits: 64 bytes the\n"
          "guest read from /dev/urandom), boot-id or input (what its screen's\n"
          "keyboard and touch gave the guest since it booted: \"keys=N text=HEX\n"
          "taps=N last=X,Y\", the text typed as hex, the last tap in pixels).\n"
          "Prints the answer alone on a line; with --json an object with vm,\n"
          "item and value. Waits for nothing.",
          verb_guest },
        { "memtest",
          "NAME fill MIB [SEED] | check | free | poke UNIT",
          2,
          4,
          0,
          EXITS_BUS | EXITS_VM,
          "Test that a running guest's memory keeps every byte",
          "Ask the guest agent of the running VM NAME to fill MIB MiB of its memory\n"
          "with a pattern of SEED (default 0), each 4 KiB unit's own; to check\n"
          "every byte of it; to give it back (free); or to flip one byte of unit\n"
          "UNIT (poke), so that a check can be seen to find it. For tests that\n"
          "reclaim, swap, merge and balloon guest memory on the host: nothing of\n"
          "it may change. Prints units=N bad=K (and the first units that differ,\n"
          "as first=A,B,...); with --json an object with vm, units, bad and\n"
          "first_bad. Ends with exit status 1 if a check found units that differ.\n"
          "A fill beyond what the guest has available is refused.",
          verb_memtest },
        { "snapshot",
          "NAME [SNAPSHOT]",
          1,
          2,
          0,
          EXITS_BUS | EXITS_VM,
          "Take a snapshot of a VM",
          "Take a snapshot of the VM NAME, called SNAPSHOT or, without SNAPSHOT,\n"
          "by a name vmmd generates. Of a running or paused VM the snapshot holds\n"
          "its memory, devices and disk; of a stopped one only its disk. Prints\n"
          "the snapshot's name; with --json an object with vm and snapshot.\n"
          "Returns when the snapshot is taken.",
          verb_snapshot },
        { "snapshots",
          "NAME",
          1,
          1,
          0,
          EXITS_BUS | EXIT_BIT(VMCTL_EXIT_NOT_FOUND),
          "List the snapshots of a VM",
          "List the snapshots of the VM NAME, oldest first, with when each was\n"
          "taken (local time) and the size of the VM state it holds, or \"disk\n"
          "only\" for a snapshot of a stopped VM. With --json: an array of objects\n"
          "with name, created_usec (microseconds since the epoch) and state_bytes\n"
          "(0: disk only). Waits for nothing.",
          verb_snapshots },
        { "restore",
          "NAME SNAPSHOT",
          2,
          2,
          0,
          EXITS_BUS | EXITS_VM | EXITS_WAIT | EXITS_BOOT,
          "Return a VM to a snapshot",
          "Return the VM NAME to its snapshot SNAPSHOT. A running VM runs on in\n"
          "the guest of the snapshot; a stopped VM starts from a snapshot that\n"
          "holds its state. Either way, like start, waits until the guest agent\n"
          "answers (State \"running\"); with --no-wait returns once vmmd has\n"
          "restored (\"starting\"). A paused VM stays paused until resume. A\n"
          "disk-only snapshot (taken while stopped) restores only a stopped VM,\n"
          "which stays stopped.",
          verb_restore },
        { "delete-snapshot",
          "NAME SNAPSHOT...",
          2,
          UINT_MAX,
          0,
          EXITS_BUS | EXITS_VM,
          "Delete snapshots of a VM",
          "Delete each snapshot SNAPSHOT of the VM NAME, in order. Stops at the\n"
          "first one that cannot be deleted and ends with its exit status; the\n"
          "ones after it are kept. Waits for nothing.",
          verb_delete_snapshot },
        { "golden",
          "",
          0,
          0,
          0,
          EXITS_BUS,
          "List the golden snapshots that VMs are cloned from",
          "List the personas that use golden snapshots (\"golden: true\"), sorted\n"
          "by name, with the state of each one's golden snapshot (the saved state\n"
          "of a booted guest that its VMs start as clones of): none, building\n"
          "(with its progress, \"building 40%\"), ready or failed; its ID, the\n"
          "image it was made of, when it was made, and the step of a build or\n"
          "why it failed. With --json: an array of objects with persona, id,\n"
          "state, progress (percent), message, image and created_usec\n"
          "(microseconds since the epoch, 0: none). Waits for nothing. See\n"
          "'vmctl golden rebuild'.",
          verb_golden },
        { "golden rebuild",
          "PERSONA",
          1,
          1,
          0,
          EXITS_BUS | EXITS_VM | EXITS_WAIT,
          "Build a new golden snapshot of a persona",
          "Make vmmd build a new golden snapshot of the persona PERSONA in the\n"
          "background: it boots a VM of the persona and saves its state. Follows\n"
          "the build, printing a line on stderr whenever its step or progress\n"
          "changes (\"building golden snapshot of throwaway: booting (20%)\"),\n"
          "until the golden snapshot is ready; then prints its ID, with --json\n"
          "the persona's entry as 'vmctl golden --json' shows it. A build that\n"
          "fails ends the wait with its reason and exit status 5. --timeout\n"
          "applies; with --no-wait returns once the build began. A persona that\n"
          "does not use golden snapshots is refused (exit status 2), as is one\n"
          "being built already (4).",
          verb_golden_rebuild },
        { "crashes",
          "[NAME]",
          0,
          1,
          0,
          EXITS_BUS,
          "List the crash bundles of guest kernels that panicked",
          "List the crash bundles that vmmd saved when a guest kernel panicked,\n"
          "of the VM NAME or, without NAME, of every VM you may manage (and of\n"
          "VMs that are gone but whose bundles were kept), oldest first: each\n"
          "bundle's ID, its VM, when the panic was noticed (local time), the disk\n"
          "space it takes, whether it is kept and the panic message. With --json:\n"
          "an array of objects with id, vm, persona, time_usec (microseconds\n"
          "since the epoch), size_bytes, message and kept. Waits for nothing.\n"
          "See 'vmctl crash --help'.",
          verb_crashes },
        { "crash",
          "COMMAND ...",
          0,
          0,
          0,
          EXIT_BIT(VMCTL_EXIT_USAGE),
          "Inspect and manage crash bundles (see crash --help)",
          "When a guest kernel panics, vmmd saves a crash bundle before the\n"
          "persona's on_crash (keep, restart or destroy) applies: the guest's\n"
          "memory as an ELF core, the kernel's symbols, the end of its serial\n"
          "console and a backtrace of the CPU that panicked. A persona keeps at\n"
          "most crash_bundles bundles per VM, dropping the oldest, and bundles go\n"
          "with their VM, unless kept. 'vmctl crashes' lists them; these\n"
          "commands take a bundle's ID:\n"
          "  crash show ID       the report: facts, panic, backtrace, console\n"
          "  crash gdb ID        open its memory dump in gdb-multiarch\n"
          "  crash keep ID...    keep bundles beyond the limit and their VM\n"
          "  crash unkeep ID...  let the limit and their VM's end remove them\n"
          "  crash delete ID...  delete bundles\n"
          "'vmctl crash-test NAME' crashes a guest kernel on purpose, and\n"
          "'vmctl debug NAME' attaches gdb to a live one.",
          verb_crash },
        { "crash show",
          "ID",
          1,
          1,
          VERB_OPTION_CONSOLE,
          EXITS_BUS | EXIT_BIT(VMCTL_EXIT_NOT_FOUND),
          "Show the report of a crash bundle",
          "Show what the crash bundle ID holds: its VM, persona and image, the\n"
          "guest kernel's release (and KASLR offset), when it panicked, the\n"
          "bundle's size, whether it has a memory dump (else why not) and is\n"
          "kept, and how long saving it took; then the panic message, the\n"
          "backtrace of the CPU that panicked as vmmd decoded it from the memory\n"
          "dump (\"#N 0xADDRESS function+0xOFFSET/0xSIZE\"), and the end of the\n"
          "guest's serial console: its last 80 lines, where the kernel printed\n"
          "its report of the panic (an oops with registers and call trace\n"
          "fits), or with --console all that the bundle holds (up to 64 KiB).\n"
          "With --json: one object with id, vm, persona, image, owner (uid),\n"
          "time (microseconds since the epoch), size (bytes), message, kernel,\n"
          "build_id, kernel_offset, cpu, backtrace (an array of lines), core,\n"
          "core_error, capture_usec, kept and console (all of it), and whatever\n"
          "keys a newer vmmd adds. Waits for nothing.",
          verb_crash_show },
        { "crash gdb",
          "ID [-- GDB-ARGS...]",
          1,
          UINT_MAX,
          0,
          EXITS_BUS | EXIT_BIT(VMCTL_EXIT_NOT_FOUND) | EXIT_BIT(VMCTL_EXIT_CONFLICT),
          "Open the memory dump of a crash bundle in gdb",
          "Open the memory dump of the crash bundle ID in gdb-multiarch (the\n"
          "Debian package gdb-multiarch), with the guest kernel's symbols at the\n"
          "addresses it ran at and the CPU that panicked selected: 'bt' shows\n"
          "the panic's backtrace with function names, 'info threads' every\n"
          "vCPU, 'x' reads the guest's memory and 'info symbol ADDRESS' names\n"
          "code (the symbols are the kernel's own table: functions, no\n"
          "variables or types). vmctl asks vmmd for the bundle (GetCrash,\n"
          "OpenCrash), gets the memory dump and the symbol file as file\n"
          "descriptors C and S, and runs:\n"
          "  gdb-multiarch -q -ex 'set architecture aarch64'\n"
          "    -ex 'symbol-file /proc/self/fd/S' -ex 'core-file /proc/self/fd/C'\n"
          "    -ex 'thread N' [GDB-ARGS...]\n"
          "with N the panicking CPU's number plus 1 (gdb numbers the vCPUs of\n"
          "the dump from 1). GDB-ARGS go to gdb, after '--': 'vmctl crash gdb\n"
          "ID -- -batch -ex bt' prints the backtrace and ends. A bundle without\n"
          "a memory dump is refused with the reason (exit status 4). Once gdb\n"
          "runs, vmctl is gdb and ends with gdb's exit status.",
          verb_crash_gdb },
        { "crash keep",
          "ID...",
          1,
          UINT_MAX,
          0,
          EXITS_BUS | EXIT_BIT(VMCTL_EXIT_NOT_FOUND),
          "Keep crash bundles until they are deleted",
          "Keep each crash bundle ID, in order: a kept bundle is neither removed\n"
          "to make room for newer ones (the persona's crash_bundles) nor with its\n"
          "VM, only by 'vmctl crash delete'. Keeping a kept bundle succeeds.\n"
          "Stops at the first one that cannot be kept and ends with its exit\n"
          "status. Waits for nothing.",
          verb_crash_keep },
        { "crash unkeep",
          "ID...",
          1,
          UINT_MAX,
          0,
          EXITS_BUS | EXIT_BIT(VMCTL_EXIT_NOT_FOUND),
          "Let crash bundles be removed again",
          "Undo 'vmctl crash keep' for each crash bundle ID, in order: the\n"
          "bundle is removed again when newer ones of its VM need the room (the\n"
          "persona's crash_bundles) or with its VM; one whose VM is gone already\n"
          "stays until deleted. Unkeeping a bundle that is not kept succeeds.\n"
          "Stops at the first one that cannot be changed and ends with its exit\n"
          "status. Waits for nothing.",
          verb_crash_keep },
        { "crash delete",
          "ID...",
          1,
          UINT_MAX,
          0,
          EXITS_BUS | EXIT_BIT(VMCTL_EXIT_NOT_FOUND),
          "Delete crash bundles",
          "Delete each crash bundle ID, kept or not, in order. Stops at the first\n"
          "one that cannot be deleted and ends with its exit status; the ones\n"
          "after it are left. Waits for nothing.",
          verb_crash_keep },
        { "crash-test",
          "NAME",
          1,
          1,
          VERB_OPTION_FORCE_CRASH,
          EXITS_BUS | EXITS_VM | EXITS_WAIT,
          "Crash the guest kernel of a running VM, to test",
          "Make the guest agent of the running VM NAME panic its kernel (sysrq\n"
          "c), to try what follows: vmmd saves a crash bundle, then applies the\n"
          "persona's on_crash (keep: the VM stays paused as it crashed; restart:\n"
          "it boots again; destroy: it goes, with its bundles but the kept\n"
          "ones). A persona with crash_test: force (the work phone) refuses\n"
          "without --force (exit status 10). Waits for vmmd's Crashed signal\n"
          "and prints the new bundle's ID alone on a line, with --json an object\n"
          "with vm and bundle; --timeout applies. With --no-wait returns once\n"
          "the agent was asked. A persona with crash_bundles: 0 saves no bundle:\n"
          "the wait then ends with exit status 5 when on_crash changes the VM\n"
          "(so use --no-wait there), as it does when saving the bundle failed.",
          verb_crash_test },
        { "debug",
          "NAME [-- GDB-ARGS...]",
          1,
          UINT_MAX,
          VERB_OPTION_STDIO,
          EXITS_BUS | EXITS_VM,
          "Attach gdb to the guest kernel of a VM",
          "Debug the guest kernel of the VM NAME, live, in gdb-multiarch (the\n"
          "Debian package gdb-multiarch): vmctl asks vmmd for the running\n"
          "kernel's symbols at the addresses it runs at (GetDebugSymbols), gets\n"
          "them as file descriptor S, and runs:\n"
          "  gdb-multiarch -q -ex 'set architecture aarch64'\n"
          "    -ex 'symbol-file /proc/self/fd/S'\n"
          "    -ex 'target remote | vmctl [--user] debug --stdio NAME'\n"
          "    [GDB-ARGS...]\n"
          "(vmctl by its full path). The guest stops while gdb holds it and runs\n"
          "on when gdb detaches ('detach', or quitting gdb). GDB-ARGS go to gdb,\n"
          "after '--': 'vmctl debug NAME -- -batch -ex bt -ex detach'. Once gdb\n"
          "runs, vmctl is gdb and ends with gdb's exit status. A VM of a persona\n"
          "that is kept as it crashed (on_crash: keep) can be debugged too.\n"
          "With --stdio, vmctl opens vmmd's debugger connection to the guest\n"
          "(OpenDebugger) and relays the GDB remote protocol between it and\n"
          "stdin/stdout until either side ends; it prints nothing else on\n"
          "stdout, and cannot let polkit ask for a password (stdin is gdb's).\n"
          "gdb runs that; so can any debugger that speaks the protocol.",
          verb_debug },
        { "display",
          "NAME",
          1,
          1,
          0,
          EXITS_BUS | EXITS_VM,
          "Relay the screen of a VM on stdin/stdout (VNC)",
          "Open the screen, touch and keys of the VM NAME (OpenDisplay) and relay\n"
          "them as the VNC protocol (RFB 3.8, no password: vmmd already checked\n"
          "that you may use the VM) between stdin/stdout and the VM until either\n"
          "side ends. Nothing else goes to stdout. For a VNC viewer that reads a\n"
          "socket, let socat make one:\n"
          "  socat UNIX-LISTEN:/tmp/work.vnc,fork EXEC:'vmctl display work'\n"
          "  gvncviewer unix:/tmp/work.vnc   (or: vncviewer /tmp/work.vnc)\n"
          "vmm-launcher shows the phones' screens without it. A VM in vmm-hv,\n"
          "or of a persona with \"display: none\", has no screen (exit status 1).",
          verb_display },
        { "personas",
          "",
          0,
          0,
          0,
          EXITS_BUS,
          "List the persona templates",
          "List the persona templates that VMs are created from, with their\n"
          "descriptions. With --json: an array of objects with name and\n"
          "description. Waits for nothing.",
          verb_personas },
        { "reload",
          "",
          0,
          0,
          0,
          EXITS_BUS | EXIT_BIT(VMCTL_EXIT_CONFLICT),
          "Read the persona templates again",
          "Make vmmd read its persona templates again, as after an update of\n"
          "the policies (like systemctl reload vmmd). The new set replaces the\n"
          "old one; a file that is broken takes away only its own persona, and\n"
          "VMs keep running whatever became of their persona. Returns when the\n"
          "templates are loaded.",
          verb_reload },
        { "host",
          "",
          0,
          0,
          0,
          EXITS_BUS,
          "Show the host: accelerator, KVM, GIC, memory, CPUs",
          "Show what vmmd found on the host: the accelerator new VMs get (kvm or\n"
          "tcg) and why, whether vmm-hv runs VMs here (and why not), the\n"
          "architecture, the KVM mode (vhe, nvhe, protected),\n"
          "KVM API version, IPA bits, GIC version, the most vCPUs a VM can have,\n"
          "memory and CPUs, and the foreground VM. Memory, as vmmd's memory policy\n"
          "sees it (policies/memory.yaml): what the host has available and its\n"
          "memory pressure (PSI); the RAM of the running guests, what is promised\n"
          "to them (their balloons' targets) and the limit; what their VMMs hold\n"
          "(proportional resident memory, a page KSM shares counted once) and the\n"
          "overcommit that makes; what balloons gave back, what KSM merged, and what\n"
          "the balloons could still take back. With --json: vmmd's Manager\n"
          "properties as one object keyed by their D-Bus names.",
          verb_host },
        { "help",
          "[COMMAND]",
          0,
          2,
          0,
          EXIT_BIT(VMCTL_EXIT_SUCCESS) | EXIT_BIT(VMCTL_EXIT_USAGE),
          "Show this help, or a command's",
          "Show the help of vmctl, or of COMMAND.",
          verb_help },
};

/* The command that words start with, two words ("golden rebuild") before one; *ret_used: how many it took. */
static const Verb *find_verb(char *const *words, int n_words, int *ret_used) {
        char two[64];

        if (n_words >= 2 && (size_t) snprintf(two, sizeof(two), "%s %s", words[0], words[1]) < sizeof(two))
                for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                        if (streq(verbs[i].name, two)) {
                                *ret_used = 2;
                                return &verbs[i];
                        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (n_words >= 1 && streq(verbs[i].name, words[0])) {
                        *ret_used = 1;
                        return &verbs[i];
                }
        return NULL;
}

/* Whether commands of two words start with v's name ("golden" and "golden rebuild"). */
static bool has_subcommands(const Verb *v) {
        size_t n = strlen(v->name);

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strncmp(verbs[i].name, v->name, n) == 0 && verbs[i].name[n] == ' ')
                        return true;
        return false;
}

static void print_usage_line(const char *verb, const char *synopsis) {
        printf("vmctl [OPTIONS...] %s%s%s\n", verb, isempty(synopsis) ? "" : " ", synopsis);
}

static void print_global_options(void) {
        for (size_t i = 0; i < ELEMENTSOF(global_option_help); i++)
                printf("  %-20s %s\n", global_option_help[i][0], global_option_help[i][1]);
}

static void print_exit_statuses(unsigned mask) {
        printf("\nExit status:\n");
        for (int i = 0; i < _VMCTL_EXIT_MAX; i++)
                if (mask & EXIT_BIT(i))
                        printf("  %2d  %s\n", i, exit_status_help[i]);
}

static void print_help(void) {
        unsigned all = 0;

        printf("vmctl [OPTIONS...] COMMAND ...\n\n"
               "Create, start, stop and inspect the virtual phones (VMs) that vmmd runs.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                char left[64];

                (void) snprintf(left, sizeof(left), "%s %s", verbs[i].name, verbs[i].synopsis);
                if (strlen(left) > HELP_COMMAND_WIDTH)
                        /* Too wide for the column: the summary goes on the next line. */
                        printf("  %s\n  %-*s %s\n", left, HELP_COMMAND_WIDTH, "", verbs[i].summary);
                else
                        printf("  %-*s %s\n", HELP_COMMAND_WIDTH, left, verbs[i].summary);
                all |= verbs[i].exit_statuses;
        }
        printf("\nOptions:\n");
        print_global_options();
        printf("\nCommand options:\n");
        for (size_t i = 0; i < ELEMENTSOF(verb_option_help); i++)
                for (size_t j = 0; j < ELEMENTSOF(verbs); j++)
                        if (verbs[j].options & verb_option_help[i].option) {
                                printf("  %-20s %s (%s)\n",
                                       verb_option_help[i].synopsis,
                                       verb_option_help[i].help,
                                       verbs[j].name);
                                break;
                        }
        print_exit_statuses(all);
        printf("\nWithout a command, vmctl lists the VMs. Options may follow the command.\n"
               "See 'vmctl COMMAND --help' for what a command does, waits for and exits with.\n");
}

static void print_verb_help(const Verb *v) {
        print_usage_line(v->name, v->synopsis);
        printf("\n%s\n", v->description);
        if (v->options) {
                printf("\nOptions of %s:\n", v->name);
                for (size_t i = 0; i < ELEMENTSOF(verb_option_help); i++)
                        if (v->options & verb_option_help[i].option)
                                printf("  %-20s %s\n", verb_option_help[i].synopsis, verb_option_help[i].help);
        }
        printf("\nGlobal options:\n");
        print_global_options();
        print_exit_statuses(v->exit_statuses);
}

static int parse_uint64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (isempty(s) || !strchr("0123456789", s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -errno;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* A positive number of MiB: --memory, set-memory, memtest. */
static int parse_mib(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        int r;

        r = parse_uint64(s, &v);
        if (r < 0)
                return r;
        if (v == 0)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int parse_timeout(const char *s, uint64_t *ret) {
        double d;
        char *end;

        if (streq(s, "infinity")) {
                *ret = UINT64_MAX;
                return 0;
        }
        if (isempty(s) || !strchr("0123456789.", s[0]))
                return -EINVAL;
        errno = 0;
        d = strtod(s, &end);
        if (errno != 0 || *end || !isfinite(d) || d < 0 || d * USEC_PER_SEC >= (double) UINT64_MAX)
                return -EINVAL;
        *ret = d == 0 ? UINT64_MAX : (uint64_t) (d * USEC_PER_SEC);
        return 0;
}

/* Returns 1 to go on with the verb, 0 to exit successfully (--version), or -VMCTL_EXIT_USAGE. */
static int parse_argv(int argc, char *argv[], bool *ret_help) {
        enum {
                ARG_VERSION = 0x100,
                ARG_USER,
                ARG_SYSTEM,
                ARG_JSON,
                ARG_NO_LEGEND,
                ARG_NO_WAIT,
                ARG_TIMEOUT,
                ARG_MEMORY,
                ARG_VCPUS,
                ARG_NO_START,
                ARG_FORCE,
                ARG_CREATE_FROM,
                ARG_ACCEL,
                ARG_VMM,
                ARG_COLD,
                ARG_NO_ASK_PASSWORD,
                ARG_CONSOLE,
                ARG_STDIO,
        };
        static const struct option options[] = { { "help", no_argument, NULL, 'h' },
                                                 { "version", no_argument, NULL, ARG_VERSION },
                                                 { "user", no_argument, NULL, ARG_USER },
                                                 { "system", no_argument, NULL, ARG_SYSTEM },
                                                 { "json", no_argument, NULL, ARG_JSON },
                                                 { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                                                 { "no-wait", no_argument, NULL, ARG_NO_WAIT },
                                                 { "timeout", required_argument, NULL, ARG_TIMEOUT },
                                                 { "memory", required_argument, NULL, ARG_MEMORY },
                                                 { "vcpus", required_argument, NULL, ARG_VCPUS },
                                                 { "no-start", no_argument, NULL, ARG_NO_START },
                                                 { "force", no_argument, NULL, ARG_FORCE },
                                                 { "create-from", required_argument, NULL, ARG_CREATE_FROM },
                                                 { "accel", required_argument, NULL, ARG_ACCEL },
                                                 { "vmm", required_argument, NULL, ARG_VMM },
                                                 { "cold", no_argument, NULL, ARG_COLD },
                                                 { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
                                                 { "console", no_argument, NULL, ARG_CONSOLE },
                                                 { "stdio", no_argument, NULL, ARG_STDIO },
                                                 {} };
        bool help = false;
        uint64_t u;
        int c;

        /* Not POSIXLY_CORRECT: options may follow the verb, as with systemctl. */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help = true;
                        break;
                case ARG_VERSION:
                        printf("vmctl %s\n", VERSION);
                        return 0;
                case ARG_USER:
                        arg_user = true;
                        break;
                case ARG_SYSTEM:
                        arg_user = false;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_NO_LEGEND:
                        arg_legend = false;
                        break;
                case ARG_NO_WAIT:
                        arg_wait = false;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        arg_ask_password = false;
                        break;
                case ARG_TIMEOUT:
                        if (parse_timeout(optarg, &arg_timeout) < 0) {
                                log_error("Invalid --timeout \"%s\": expected seconds, or \"infinity\".", optarg);
                                return -VMCTL_EXIT_USAGE;
                        }
                        break;
                case ARG_MEMORY:
                        if (parse_mib(optarg, &arg_memory_mib) < 0) {
                                log_error("Invalid --memory \"%s\": expected a positive number of MiB.", optarg);
                                return -VMCTL_EXIT_USAGE;
                        }
                        arg_verb_options |= VERB_OPTION_MEMORY;
                        break;
                case ARG_VCPUS:
                        if (parse_uint64(optarg, &u) < 0 || u == 0 || u > UINT32_MAX) {
                                log_error("Invalid --vcpus \"%s\": expected a positive number.", optarg);
                                return -VMCTL_EXIT_USAGE;
                        }
                        arg_vcpus = (uint32_t) u;
                        arg_verb_options |= VERB_OPTION_VCPUS;
                        break;
                case ARG_NO_START:
                        arg_start = false;
                        arg_verb_options |= VERB_OPTION_NO_START;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        arg_verb_options |= VERB_OPTION_FORCE | VERB_OPTION_FORCE_CRASH;
                        break;
                case ARG_CONSOLE:
                        arg_console = true;
                        arg_verb_options |= VERB_OPTION_CONSOLE;
                        break;
                case ARG_STDIO:
                        arg_stdio = true;
                        arg_verb_options |= VERB_OPTION_STDIO;
                        break;
                case ARG_ACCEL:
                        if (!streq(optarg, "kvm") && !streq(optarg, "tcg")) {
                                log_error("Invalid --accel \"%s\": expected kvm or tcg.", optarg);
                                return -VMCTL_EXIT_USAGE;
                        }
                        arg_accel = optarg;
                        arg_verb_options |= VERB_OPTION_ACCEL;
                        break;
                case ARG_VMM:
                        if (!streq(optarg, "qemu") && !streq(optarg, "hv") && !streq(optarg, "auto")) {
                                log_error("Invalid --vmm \"%s\": expected qemu, hv or auto.", optarg);
                                return -VMCTL_EXIT_USAGE;
                        }
                        arg_vmm = optarg;
                        arg_verb_options |= VERB_OPTION_VMM;
                        break;
                case ARG_COLD:
                        arg_cold = true;
                        arg_verb_options |= VERB_OPTION_COLD;
                        break;
                case ARG_CREATE_FROM:
                        if (vm_name_invalid_reason(optarg)) {
                                log_error(
                                        "Invalid --create-from \"%s\": persona name %s.",
                                        optarg,
                                        vm_name_invalid_reason(optarg));
                                return -VMCTL_EXIT_USAGE;
                        }
                        arg_create_from = optarg;
                        arg_verb_options |= VERB_OPTION_CREATE_FROM;
                        break;
                case '?':
                        /* getopt_long() said what is wrong. */
                        return -VMCTL_EXIT_USAGE;
                default:
                        assert(false);
                }

        /* getopt_long() moves "--" in front of the operands it ends the options before. None of our options
         * takes "--" as its value. */
        arg_end_of_options = optind > 1 && streq(argv[optind - 1], "--");
        *ret_help = help;
        return 1;
}

static const char *verb_option_name(VerbOption o) {
        for (size_t i = 0; i < ELEMENTSOF(verb_option_help); i++)
                if (verb_option_help[i].option == o)
                        return verb_option_help[i].synopsis;
        return "?";
}

/* Whether the option given as o applies to v, under any of its meanings (--force: stop's or crash-test's). */
static bool verb_takes_option(const Verb *v, VerbOption o) {
        const char *name = verb_option_name(o);

        for (size_t i = 0; i < ELEMENTSOF(verb_option_help); i++)
                if ((v->options & verb_option_help[i].option) && streq(verb_option_help[i].synopsis, name))
                        return true;
        return false;
}

int main(int argc, char *argv[]) {
        static char list[] = "list";
        static char *default_argv[] = { list, NULL };
        char **verb_argv;
        int verb_argc, used;
        const Verb *v;
        bool help;
        unsigned n;
        int r;

        (void) setlocale(LC_ALL, "");
        log_set_ident("vmctl");

        r = parse_argv(argc, argv, &help);
        if (r <= 0)
                return -r;

        if (optind < argc) {
                verb_argv = argv + optind;
                verb_argc = argc - optind;
        } else {
                if (help) {
                        print_help();
                        return VMCTL_EXIT_SUCCESS;
                }
                /* Like machinectl: no command lists. */
                verb_argv = default_argv;
                verb_argc = 1;
        }

        v = find_verb(verb_argv, verb_argc, &used);
        if (!v) {
                log_error("Unknown command '%s'. See 'vmctl --help'.", verb_argv[0]);
                return VMCTL_EXIT_USAGE;
        }
        /* The verb's last word is its argv[0]. */
        verb_argv += used - 1;
        verb_argc -= used - 1;
        if (help) {
                print_verb_help(v);
                return VMCTL_EXIT_SUCCESS;
        }

        for (size_t i = 0; i < ELEMENTSOF(verb_option_help); i++)
                if ((arg_verb_options & verb_option_help[i].option) &&
                    !verb_takes_option(v, verb_option_help[i].option)) {
                        log_error(
                                "Option %s does not apply to '%s'. See 'vmctl %s --help'.",
                                verb_option_name(verb_option_help[i].option),
                                v->name,
                                v->name);
                        return VMCTL_EXIT_USAGE;
                }

        n = (unsigned) verb_argc - 1;
        if (n > v->max_args && has_subcommands(v)) {
                log_error("Unknown command '%s %s'. See 'vmctl %s --help'.", v->name, verb_argv[1], v->name);
                return VMCTL_EXIT_USAGE;
        }
        if (n < v->min_args || n > v->max_args) {
                log_error(
                        "%s: %s. Usage: vmctl [OPTIONS...] %s%s%s",
                        v->name,
                        n < v->min_args ? "missing argument" : "too many arguments",
                        v->name,
                        isempty(v->synopsis) ? "" : " ",
                        v->synopsis);
                return VMCTL_EXIT_USAGE;
        }

        return v->run(verb_argc, verb_argv);
}
