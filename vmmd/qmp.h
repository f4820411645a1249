/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Asynchronous QMP client on sd-event: greeting, capabilities negotiation, commands, events. */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "util.h"

#define QMP_MESSAGE_MAX (1024 * 1024) /* a QEMU reply larger than this is treated as a protocol error */
#define QMP_PENDING_MAX 64            /* commands in flight per client */
/* The error class pending commands get when the connection ends; a peer's reply may not use it. */
#define QMP_ERROR_DISCONNECTED "Disconnected"

typedef struct QmpClient QmpClient;

/* The greeting arrived and qmp_capabilities was accepted: commands may be sent. */
typedef void (*qmp_ready_handler_t)(QmpClient *c, void *userdata);
/* An asynchronous event ("STOP", "RESUME", "SHUTDOWN", ...); data may be NULL. */
typedef void (*qmp_event_handler_t)(QmpClient *c, const char *event, json_object *data, void *userdata);
/* The connection closed or the peer broke the protocol; error is a negative errno, message says why
 * ("QMP reply is not a JSON object", "connection closed") and is valid only during the call. Runs once,
 * after the pending reply handlers got "Disconnected". The client sends nothing more; the socket is
 * already closed. */
typedef void (*qmp_disconnect_handler_t)(QmpClient *c, int error, const char *message, void *userdata);
/* The reply to one command: on success result is the "return" value and error_class NULL; on failure
 * result is NULL and error_class/error_desc come from QEMU's "error". On disconnect every pending
 * command gets error_class "Disconnected". */
typedef void (*qmp_reply_handler_t)(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata);

/* Takes ownership of fd (a connected stream socket) on success. */
int qmp_client_new(sd_event *e, int fd, QmpClient **ret);
/* Closes the socket and drops queued output; reply handlers of pending commands are NOT called. Safe to call
 * from inside any of the client's handlers: no handler of this client runs afterwards. */
QmpClient *qmp_client_free(QmpClient *c);

/* Handles at once everything the peer has sent so far, up to its hang-up if it hung up: for a VMM that
 * exited, whose last events (SHUTDOWN and its reason) must be seen before the exit is handled, whichever
 * of the two the event loop happens to dispatch first. Handlers run as from the loop and may free c. */
void qmp_client_drain(QmpClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(QmpClient *, qmp_client_free);

void qmp_client_set_handlers(
        QmpClient *c,
        qmp_ready_handler_t ready,
        qmp_event_handler_t event,
        qmp_disconnect_handler_t disconnect,
        void *userdata);

/* Queues a command; arguments (may be NULL) is consumed. Fails with -ENOTCONN before ready or after
 * disconnect, -EBUSY past QMP_PENDING_MAX. The reply handler runs exactly once, later, from the loop. */
int qmp_send(QmpClient *c, const char *command, json_object *arguments, qmp_reply_handler_t cb, void *userdata);
/* The same, passing a copy of fd along (SCM_RIGHTS), as "getfd" wants it. -EBUSY while one is on its way. */
int qmp_send_fd(
        QmpClient *c, const char *command, json_object *arguments, int fd, qmp_reply_handler_t cb, void *userdata);

/* The pure parsing layer, also used by the unit tests. */
typedef enum QmpMessageType {
        QMP_MESSAGE_GREETING,
        QMP_MESSAGE_RETURN,
        QMP_MESSAGE_ERROR,
        QMP_MESSAGE_EVENT,
        _QMP_MESSAGE_TYPE_MAX,
        _QMP_MESSAGE_TYPE_INVALID = -EINVAL,
} QmpMessageType;

typedef struct QmpMessage {
        QmpMessageType type;
        json_object *object;     /* the whole message; owns everything below */
        json_object *value;      /* "return" value, event "data" or greeting "QMP" object; may be NULL */
        const char *event;       /* QMP_MESSAGE_EVENT */
        const char *error_class; /* QMP_MESSAGE_ERROR */
        const char *error_desc;
        int64_t id; /* the "id" member of a return/error, -1 if absent */
} QmpMessage;

void qmp_message_done(QmpMessage *m);
/* Classifies one parsed JSON value (o may be NULL, a JSON null). On success ret takes its own reference
 * on o; release it with qmp_message_done(). -EBADMSG with *ret_error (if not NULL) set to a static phrase
 * when the object is not a valid QMP message; ret is then untouched. */
int qmp_message_parse(json_object *o, QmpMessage *ret, const char **ret_error);
