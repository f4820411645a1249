/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The server side of a QMP subset: what vmmd's QMP client speaks to QEMU, so that vmmd drives vmm-hv with
 * the code it drives QEMU with. One client at a time on a listening socket, like QEMU's
 * `-chardev socket,server=on -mon mode=control`: greeting, qmp_capabilities, commands with ids, events,
 * and fds passed with SCM_RIGHTS (getfd). */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "util.h"

#define QMP_SERVER_MESSAGE_MAX (64u * 1024u) /* a longer request closes the connection */
#define QMP_SERVER_OUTPUT_MAX (4u * 1024u * 1024u)
#define QMP_SERVER_FDS_MAX 8u

typedef struct QmpServer QmpServer;

typedef struct QmpError {
        const char *class; /* "GenericError", "CommandNotFound", ... */
        char desc[256];
} QmpError;

/* Runs a command: 0 and the "return" value in *ret_return (NULL: {}), or < 0 with err filled. */
typedef int (*qmp_command_t)(
        QmpServer *s, json_object *args, json_object **ret_return, QmpError *err, void *userdata);

typedef struct QmpCommand {
        const char *name;
        qmp_command_t run;
} QmpCommand;

/* Takes over listen_fd (a listening stream socket) on success. commands ends with a { NULL } entry. */
int qmp_server_new(
        sd_event *event,
        int listen_fd,
        const char *package,
        const QmpCommand *commands,
        void *userdata,
        QmpServer **ret);
QmpServer *qmp_server_free(QmpServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(QmpServer *, qmp_server_free);

/* Sends an event to the client that negotiated capabilities (dropped if none); takes data (may be NULL). */
void qmp_server_event(QmpServer *s, const char *event, json_object *data);
/* The fd a client named with getfd, handed over (the caller closes it), or -ENOENT. */
int qmp_server_take_fd(QmpServer *s, const char *name);

int qmp_error_set(QmpError *err, const char *class, const char *fmt, ...) _printf_(3, 4);
/* An argument of the right type, or an error naming it. */
int qmp_arg_string(json_object *args, const char *name, bool required, const char **ret, QmpError *err);
int qmp_arg_int(json_object *args, const char *name, bool required, int64_t *ret, QmpError *err);
