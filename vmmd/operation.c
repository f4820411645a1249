/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* In-flight D-Bus calls and the one errno to org.vmmd1 error table. */
#include <assert.h>

#include "bus-errors.h"
#include "log.h"
#include "operation.h"

struct Operation {
        sd_bus_message *call;
        OperationReply reply;
        void *userdata;
        bool free_userdata;
};

Operation *operation_new(sd_bus_message *call, OperationReply reply, void *userdata) {
        Operation *o = calloc(1, sizeof(Operation));

        if (!o)
                return NULL;
        o->call = sd_bus_message_ref(call);
        o->reply = reply;
        o->userdata = userdata;
        return o;
}

Operation *operation_new_owning(sd_bus_message *call, OperationReply reply, void *userdata) {
        Operation *o = operation_new(call, reply, userdata);

        if (o)
                o->free_userdata = true;
        return o;
}

void *operation_userdata(Operation *o) {
        return o ? o->userdata : NULL;
}

Operation *operation_free(Operation *o) {
        if (!o)
                return NULL;
        sd_bus_message_unref(o->call);
        if (o->free_userdata)
                free(o->userdata);
        free(o);
        return NULL;
}

static const struct {
        int error;
        const char *name;
} errno_errors[] = {
        { EINVAL, VMMD_ERROR_INVALID_STATE },    /* not in a state that allows it */
        { ENOMEDIUM, VMMD_ERROR_INVALID_STATE }, /* no disk (yet) */
        { EBUSY, VMMD_ERROR_BUSY },
        { EEXIST, VMMD_ERROR_EXISTS },
        { ENOENT, VMMD_ERROR_NO_SUCH_SNAPSHOT },
        { EBADMSG, VMMD_ERROR_IMAGE_CORRUPT },
        { ENOSPC, VMMD_ERROR_INSUFFICIENT_MEMORY },
        { ERANGE, VMMD_ERROR_INVALID_ARGUMENT },
        { EPERM, VMMD_ERROR_ACCESS_DENIED },      /* a policy wants more (crash_test: force) */
        { EOPNOTSUPP, VMMD_ERROR_NOT_SUPPORTED }, /* not in the VM's VMM (vmm-hv) */
};

int bus_error_set_errno(sd_bus_error *error, int r, const char *message) {
        const char *name = VMMD_ERROR_FAILED;

        assert(r < 0);
        for (size_t i = 0; i < ELEMENTSOF(errno_errors); i++)
                if (errno_errors[i].error == -r)
                        name = errno_errors[i].name;
        (void) sd_bus_error_set(error, name, message ?: strerror(-r));
        return r;
}

static int reply_string(sd_bus_message *reply, void *userdata) {
        return sd_bus_message_append(reply, "s", userdata);
}

void operation_complete_string(Operation *o, const char *value) {
        if (!o)
                return;
        if (o->free_userdata)
                free(o->userdata);
        o->free_userdata = false;
        o->reply = reply_string;
        o->userdata = (void *) value;
        operation_complete(o, 0, NULL);
}

static int reply_fd(sd_bus_message *reply, void *userdata) {
        return sd_bus_message_append(reply, "h", *(int *) userdata);
}

void operation_complete_fd(Operation *o, int fd) {
        if (!o)
                return;
        if (o->free_userdata)
                free(o->userdata);
        o->free_userdata = false;
        o->reply = reply_fd;
        o->userdata = &fd;
        operation_complete(o, 0, NULL);
}

void operation_complete(Operation *o, int r, const char *message) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int k;

        if (!o)
                return;
        if (r < 0) {
                (void) bus_error_set_errno(&error, r, message);
                k = sd_bus_reply_method_error(o->call, &error);
        } else {
                k = sd_bus_message_new_method_return(o->call, &reply);
                if (k >= 0 && o->reply)
                        k = o->reply(reply, o->userdata);
                if (k >= 0)
                        k = sd_bus_send(NULL, reply, NULL);
        }
        if (k < 0)
                log_warning_errno(k, "Failed to answer a D-Bus call, ignoring: %m");
        operation_free(o);
}
