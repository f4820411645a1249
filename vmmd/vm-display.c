/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A VM's screen, touch and keys (VM.OpenDisplay): QEMU's VNC server listens nowhere (-vnc none); each
 * caller that may see the VM gets one end of a socket pair, whose other end vmmd hands to QEMU (QMP getfd,
 * then add_client). No socket of it exists in any file system, so nobody else can reach a phone's screen:
 * not another VM's VMM, not another user. */
#include <sys/socket.h>

#include "log.h"
#include "manager.h"
#include "vm-dbus.h"
#include "vm-internal.h"

/* Callers waiting for a screen at once, per VM: a launcher asks for one per phone, one at a time. */
#define DISPLAY_REQUESTS_MAX 16U
#define DISPLAY_FDNAME "vmmd-display"

struct DisplayRequest {
        DisplayRequest *next;
        Operation *op;
        int fd;     /* the caller's end */
        int vmm_fd; /* QEMU's end, until it is on its way */
};

static DisplayRequest *display_request_free(DisplayRequest *d, int r, const char *message) {
        if (!d)
                return NULL;
        if (r >= 0)
                operation_complete_fd(d->op, d->fd);
        else
                operation_complete(d->op, r, message);
        safe_close(d->fd);
        safe_close(d->vmm_fd);
        return mfree(d);
}

static void display_request_done(VM *vm, int r, const char *message);

static void on_add_client_reply(
        QmpClient *q, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        _cleanup_free_ char *msg = NULL;
        VM *vm = userdata;

        if (!vm->display_requests)
                return; /* answered already: the VMM ended */
        if (streq_ptr(error_class, QMP_ERROR_DISCONNECTED)) {
                vm_display_abort(vm, "The VMM ended");
                return;
        }
        if (error_class) {
                if (asprintf(&msg, "QEMU refused the screen's connection: %s", strna(error_desc)) < 0)
                        msg = NULL;
                log_vm_warning_errno(vm->name, 0, "%s", msg ?: "QEMU refused the screen's connection");
                display_request_done(vm, -EIO, msg ?: "QEMU refused the screen's connection");
                return;
        }
        display_request_done(vm, 0, NULL);
}

/* getfd's answer needs no look: when it failed, so does the add_client after it, which says why. */
static void on_getfd_reply(
        QmpClient *q, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
}

/* Hands the first waiting request's socket to QEMU. */
static int display_request_start(VM *vm) {
        DisplayRequest *d = vm->display_requests;
        json_object *getfd = NULL, *add = NULL;
        int r = -ENOMEM;

        getfd = json_object_new_object();
        add = json_object_new_object();
        if (getfd && add &&
            json_object_object_add(getfd, "fdname", json_object_new_string(DISPLAY_FDNAME)) == 0 &&
            json_object_object_add(add, "protocol", json_object_new_string("vnc")) == 0 &&
            json_object_object_add(add, "fdname", json_object_new_string(DISPLAY_FDNAME)) == 0 &&
            json_object_object_add(add, "skipauth", json_object_new_boolean(true)) == 0) {
                r = qmp_send_fd(vm->qmp, "getfd", TAKE_PTR(getfd), d->vmm_fd, on_getfd_reply, vm);
                if (r >= 0)
                        r = qmp_send(vm->qmp, "add_client", TAKE_PTR(add), on_add_client_reply, vm);
        }
        json_object_put(getfd);
        json_object_put(add);
        if (r >= 0)
                d->vmm_fd = safe_close(d->vmm_fd);
        return r;
}

static DisplayRequest *display_request_pop(VM *vm) {
        DisplayRequest *d = vm->display_requests;

        vm->display_requests = d->next;
        return d;
}

/* Answers the first request, then starts the next one (or fails it, and so on). */
static void display_request_done(VM *vm, int r, const char *message) {
        display_request_free(display_request_pop(vm), r, message);
        while (vm->display_requests) {
                r = display_request_start(vm);
                if (r >= 0)
                        return;
                display_request_free(
                        display_request_pop(vm),
                        r == -ENOTCONN ? -EIO : r,
                        r == -ENOTCONN      ? "The VMM ended" :
                                r == -EBUSY ? "The VMM is busy taking a file; try again" :
                                              NULL);
        }
}

void vm_display_abort(VM *vm, const char *reason) {
        while (vm->display_requests)
                display_request_free(display_request_pop(vm), -EIO, reason);
}

int vm_open_display(VM *vm, Operation *op) {
        DisplayRequest *d, **tail;
        unsigned n = 0;
        int s[2], r;

        if (vm->display_width == 0)
                return -EOPNOTSUPP;
        if (!vm->qmp || !vm_vmm_runs(vm) || vm->destroying)
                return -EINVAL;
        for (tail = &vm->display_requests; *tail; tail = &(*tail)->next)
                n++;
        if (n >= DISPLAY_REQUESTS_MAX)
                return -EBUSY;
        /* Non-blocking on both ends: QEMU's chardev and a client's main loop want it so. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, s) < 0)
                return -errno;
        d = calloc(1, sizeof(DisplayRequest));
        if (!d) {
                safe_close(s[0]);
                safe_close(s[1]);
                return -ENOMEM;
        }
        *d = (DisplayRequest){ .fd = s[0], .vmm_fd = s[1] };
        *tail = d;
        /* The first in line goes to QEMU at once; if that fails, the caller hears it (op is not d's yet). */
        if (n == 0) {
                r = display_request_start(vm);
                if (r < 0) {
                        display_request_free(display_request_pop(vm), r, NULL);
                        return r == -ENOTCONN ? -EINVAL : r;
                }
        }
        d->op = op;
        return 0;
}

void vm_display_update(VM *vm, bool notify) {
        const Persona *p = manager_find_persona(vm->manager, vm->persona);
        uint32_t color = p ? p->color : persona_default_color(vm->persona);
        /* vmm-hv has no screen; a VM whose persona went keeps what it had. */
        uint32_t w = vm->vmm != VMM_QEMU ? 0 :
                p                        ? p->display_width :
                                           vm->display_width,
                 h = vm->vmm != VMM_QEMU ? 0 :
                p                        ? p->display_height :
                                           vm->display_height;

        if (color != vm->color) {
                vm->color = color;
                if (notify)
                        (void) vm_send_changed(vm, "Color", NULL);
        }
        if (w != vm->display_width || h != vm->display_height) {
                vm->display_width = w;
                vm->display_height = h;
                if (notify)
                        (void) vm_send_changed(vm, "DisplayWidth", "DisplayHeight", NULL);
        }
}
