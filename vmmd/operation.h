/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An in-flight D-Bus call, as systemd-machined's Operation: it owns the call and answers it once, when the
 * object layer completes it with an errno and a message for a person. vm.c holds Operations and never sees
 * an sd_bus_message nor picks a D-Bus error name: bus_error_set_errno() is the one table for that. (Who may
 * make the call was decided before it got here, in authorize.c.) */
#pragma once

#include <systemd/sd-bus.h>

#include "util.h"

typedef struct Operation Operation;

/* Appends the values of a successful reply (CreateVM's path, Snapshot's name). */
typedef int (*OperationReply)(sd_bus_message *reply, void *userdata);

/* reply NULL: an empty method return. */
Operation *operation_new(sd_bus_message *call, OperationReply reply, void *userdata);
/* The same, owning userdata (free()d with the operation): where the object layer fills in what the reply
 * carries (operation_userdata()). */
Operation *operation_new_owning(sd_bus_message *call, OperationReply reply, void *userdata);
void *operation_userdata(Operation *o);
/* Drops an operation without answering (its caller answers otherwise). */
Operation *operation_free(Operation *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(Operation *, operation_free);

/* Answers and frees o (NULL: nothing to do). r >= 0: success; r < 0: the error for r, with message (NULL: a
 * generic one). */
void operation_complete(Operation *o, int r, const char *message);

/* Answers and frees o with the one string value (ReadGuest's). */
void operation_complete_string(Operation *o, const char *value);

/* Answers and frees o with a file descriptor (a dup of fd goes out; fd stays the caller's). */
void operation_complete_fd(Operation *o, int fd);

/* The one table from the errnos of vmmd's operations to org.vmmd1 errors. Returns r (negative). */
int bus_error_set_errno(sd_bus_error *error, int r, const char *message);
