/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl display: a VM's screen (VNC) on stdin/stdout, for a VNC viewer or socat. */
#include <signal.h>

#include "bus-errors.h"
#include "bus-util.h"
#include "display.h"
#include "exit-status.h"
#include "gdb.h"
#include "log.h"
#include "vmctl.h"

int relay_vm_socket(const char *vm, const char *method, const char *what) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = acquire_vm(vm, &bus, &path, "Failed to open the %s of VM %s", what, vm);
        if (r != 0)
                return r;
        r = bus_call(bus, path, VMMD_VM_INTERFACE, method, 0, &error, &reply, NULL);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to open the %s of VM %s", what, vm);
        r = bus_message_read_fd(reply, &fd);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to read the reply of %s", method);
        reply = sd_bus_message_unref(reply);
        bus = sd_bus_flush_close_unref(bus);

        /* The other side gone is an end like any other: EPIPE, not a signal. */
        (void) signal(SIGPIPE, SIG_IGN);
        r = debug_relay(STDIN_FILENO, STDOUT_FILENO, fd);
        if (r < 0) {
                log_error_errno(r, "Failed to relay the %s of VM %s: %m", what, vm);
                return VMCTL_EXIT_FAILURE;
        }
        return VMCTL_EXIT_SUCCESS;
}

int verb_display(int argc, char *argv[]) {
        int r = check_vm_name(argv[1]);

        if (r != 0)
                return r;
        /* The protocol is binary: a terminal gets nothing sensible from it, and could be confused by it. */
        if (isatty(STDOUT_FILENO)) {
                log_error("vmctl display relays the VNC protocol on stdin/stdout, not for a terminal: run it from "
                          "a VNC viewer or socat (see 'vmctl display --help').");
                return VMCTL_EXIT_USAGE;
        }
        return relay_vm_socket(argv[1], "OpenDisplay", "screen");
}
