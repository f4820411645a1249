/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Asynchronous QMP client: non-blocking socket on sd-event, incremental JSON, replies matched by id. */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "names.h"
#include "qmp.h"

#define QMP_READ_CHUNK (16U * 1024U)
#define QMP_JSON_DEPTH 64

typedef enum QmpState {
        QMP_STATE_GREETING,     /* waiting for {"QMP": ...} */
        QMP_STATE_CAPABILITIES, /* qmp_capabilities sent, waiting for its return */
        QMP_STATE_READY,
        QMP_STATE_DISCONNECTED,
} QmpState;

typedef struct QmpPending {
        int64_t id;
        qmp_reply_handler_t cb; /* NULL for our own qmp_capabilities */
        void *userdata;
} QmpPending;

struct QmpClient {
        /* One reference is the owner's, dropped by qmp_client_free(); the dispatcher holds another while it
         * runs callbacks, so a handler may free the client and the dispatcher still finds valid memory. */
        unsigned n_ref;
        bool freed;
        QmpState state;

        int fd;
        sd_event_source *io;

        json_tokener *tokener;
        bool in_message;     /* the tokener has seen the first byte of a message */
        size_t message_size; /* bytes of the current message fed to the tokener */
        unsigned utf8_need;  /* continuation bytes still expected, and their valid range */
        uint8_t utf8_lo, utf8_hi;

        char *out; /* queued output: out[out_offset..out_size) is still to be written */
        size_t out_offset, out_size, out_allocated;
        int out_fd; /* a file descriptor to pass with the byte at out[out_fd_at] (getfd), or -EBADF */
        size_t out_fd_at;

        QmpPending *pending; /* in the order the commands were sent */
        size_t n_pending;
        int64_t next_id;

        qmp_ready_handler_t ready_cb;
        qmp_event_handler_t event_cb;
        qmp_disconnect_handler_t disconnect_cb;
        void *userdata;

        char read_buffer[QMP_READ_CHUNK];
};

static inline void json_object_putp(json_object **o) {
        json_object_put(*o);
}

static QmpClient *qmp_client_ref(QmpClient *c) {
        assert(c->n_ref > 0);
        c->n_ref++;
        return c;
}

/* Releases the connection: no more I/O and no more callbacks. Memory stays until the last reference. */
static void qmp_client_detach(QmpClient *c) {
        c->io = sd_event_source_disable_unref(c->io);
        c->fd = safe_close(c->fd);
        free(c->out);
        c->out = NULL;
        c->out_offset = c->out_size = c->out_allocated = 0;
        c->out_fd = safe_close(c->out_fd);
}

static QmpClient *qmp_client_unref(QmpClient *c) {
        if (!c)
                return NULL;
        assert(c->n_ref > 0);
        if (--c->n_ref > 0)
                return NULL;

        qmp_client_detach(c);
        free(c->pending);
        if (c->tokener)
                json_tokener_free(c->tokener);
        free(c);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(QmpClient *, qmp_client_unref);

QmpClient *qmp_client_free(QmpClient *c) {
        if (!c)
                return NULL;
        assert(!c->freed);

        /* Pending reply handlers are dropped without being called: the owner is going away. */
        c->freed = true;
        c->state = QMP_STATE_DISCONNECTED;
        c->ready_cb = NULL;
        c->event_cb = NULL;
        c->disconnect_cb = NULL;
        free(c->pending);
        c->pending = NULL;
        c->n_pending = 0;
        qmp_client_detach(c);
        return qmp_client_unref(c);
}

/* True when a callback ended the client's active life: the dispatcher must not touch it any further. */
static bool qmp_client_gone(QmpClient *c) {
        return c->freed || c->state == QMP_STATE_DISCONNECTED;
}

static int qmp_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

int qmp_client_new(sd_event *e, int fd, QmpClient **ret) {
        _cleanup_(qmp_client_unrefp) QmpClient *c = NULL;
        int r;

        assert(e);
        assert(ret);

        if (fd < 0)
                return -EBADF;

        r = fd_nonblock(fd, true);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(QmpClient));
        if (!c)
                return -ENOMEM;
        c->n_ref = 1;
        c->fd = -EBADF;
        c->out_fd = -EBADF;
        c->next_id = 1;

        c->tokener = json_tokener_new_ex(QMP_JSON_DEPTH);
        if (!c->tokener)
                return -ENOMEM;
        /* Not JSON_TOKENER_VALIDATE_UTF8: json-c 0.16 rejects a valid sequence split across two calls. */
        json_tokener_set_flags(c->tokener, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);

        r = sd_event_add_io(e, &c->io, fd, EPOLLIN, qmp_client_io, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(c->io, "qmp");

        c->fd = fd; /* owned from here on: only on success */
        *ret = TAKE_PTR(c);
        return 0;
}

void qmp_client_set_handlers(
        QmpClient *c,
        qmp_ready_handler_t ready,
        qmp_event_handler_t event,
        qmp_disconnect_handler_t disconnect,
        void *userdata) {
        assert(c);

        c->ready_cb = ready;
        c->event_cb = event;
        c->disconnect_cb = disconnect;
        c->userdata = userdata;
}

void qmp_message_done(QmpMessage *m) {
        if (!m)
                return;
        json_object_put(m->object);
        *m = (QmpMessage){
                .type = _QMP_MESSAGE_TYPE_INVALID,
                .id = -1,
        };
}

static int qmp_message_fail(const char *why, const char **ret_error) {
        if (ret_error)
                *ret_error = why;
        return -EBADMSG;
}

int qmp_message_parse(json_object *o, QmpMessage *ret, const char **ret_error) {
        json_object *greeting = NULL, *retval = NULL, *error = NULL, *event = NULL, *v;
        QmpMessage m = {
                .type = _QMP_MESSAGE_TYPE_INVALID,
                .id = -1,
        };
        bool is_greeting, is_return, is_error, is_event;
        unsigned n_kinds;

        assert(ret);

        if (!json_object_is_type(o, json_type_object))
                return qmp_message_fail("QMP reply is not a JSON object", ret_error);

        /* A member may be present with a null value: presence decides the kind. */
        is_greeting = json_object_object_get_ex(o, "QMP", &greeting);
        is_return = json_object_object_get_ex(o, "return", &retval);
        is_error = json_object_object_get_ex(o, "error", &error);
        is_event = json_object_object_get_ex(o, "event", &event);
        n_kinds = is_greeting + is_return + is_error + is_event;
        if (n_kinds == 0)
                return qmp_message_fail("QMP message is neither greeting, return, error nor event", ret_error);
        if (n_kinds > 1)
                return qmp_message_fail(
                        "QMP message is more than one of greeting, return, error and event", ret_error);

        if (is_greeting) {
                if (!json_object_is_type(greeting, json_type_object))
                        return qmp_message_fail("QMP greeting is not a JSON object", ret_error);
                m.type = QMP_MESSAGE_GREETING;
                m.value = greeting;

        } else if (is_event) {
                /* A "\u0000" in it would make the name that handlers see shorter than the one sent. */
                if (!json_object_is_type(event, json_type_string) || json_object_get_string_len(event) == 0 ||
                    strlen(json_object_get_string(event)) != (size_t) json_object_get_string_len(event))
                        return qmp_message_fail(
                                "QMP event name is not a non-empty string without NUL", ret_error);
                m.type = QMP_MESSAGE_EVENT;
                m.event = json_object_get_string(event);

                if (json_object_object_get_ex(o, "data", &v) && !json_object_is_type(v, json_type_null)) {
                        if (!json_object_is_type(v, json_type_object))
                                return qmp_message_fail("QMP event data is not a JSON object", ret_error);
                        m.value = v;
                }

        } else {
                /* "return" or "error": both may carry the id of the command they answer. */
                if (json_object_object_get_ex(o, "id", &v)) {
                        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
                                return qmp_message_fail(
                                        "QMP reply id is not a non-negative integer", ret_error);
                        m.id = json_object_get_int64(v);
                }

                if (is_return) {
                        m.type = QMP_MESSAGE_RETURN;
                        m.value = retval; /* any JSON value, also null */
                } else {
                        json_object *class, *desc;

                        if (!json_object_is_type(error, json_type_object) ||
                            !json_object_object_get_ex(error, "class", &class) ||
                            !json_object_is_type(class, json_type_string) ||
                            !json_object_object_get_ex(error, "desc", &desc) ||
                            !json_object_is_type(desc, json_type_string))
                                return qmp_message_fail(
                                        "QMP error reply lacks a class or desc string", ret_error);
                        /* "Disconnected" is the client's own word for a connection that ended: a peer that
                         * says it would make a handler believe so while the connection lives on. */
                        if (streq(json_object_get_string(class), QMP_ERROR_DISCONNECTED))
                                return qmp_message_fail(
                                        "QMP error reply claims the class \"" QMP_ERROR_DISCONNECTED "\"",
                                        ret_error);
                        m.type = QMP_MESSAGE_ERROR;
                        m.error_class = json_object_get_string(class);
                        m.error_desc = json_object_get_string(desc);
                }
        }

        m.object = json_object_get(o);
        *ret = m;
        return 0;
}

/* Ends the connection once: pending commands get "Disconnected" (in the order they were sent), then the
 * disconnect handler runs. Any handler may free the client; the caller must hold a reference. */
static void qmp_client_disconnect(QmpClient *c, int error, const char *message) {
        _cleanup_free_ QmpPending *pending = NULL;
        size_t n_pending;

        assert(error < 0);
        assert(message);

        if (qmp_client_gone(c))
                return;

        c->state = QMP_STATE_DISCONNECTED;
        qmp_client_detach(c);

        pending = TAKE_PTR(c->pending);
        n_pending = c->n_pending;
        c->n_pending = 0;

        for (size_t i = 0; i < n_pending; i++) {
                if (c->freed)
                        return;
                if (pending[i].cb)
                        pending[i].cb(c, NULL, QMP_ERROR_DISCONNECTED, message, pending[i].userdata);
        }

        if (!c->freed && c->disconnect_cb)
                c->disconnect_cb(c, error, message, c->userdata);
}

static int qmp_client_update_events(QmpClient *c) {
        if (!c->io)
                return 0;
        return sd_event_source_set_io_events(c->io, c->out_offset < c->out_size ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* Adds a member; consumes value, also on failure. */
static int json_add(json_object *o, const char *key, json_object *value) {
        if (!value)
                return -ENOMEM;
        if (json_object_object_add(o, key, value) < 0) {
                json_object_put(value);
                return -ENOMEM;
        }
        return 0;
}

/* Queues the command; ret_at (may be NULL) gets where it starts in the output. */
static int qmp_client_enqueue(
        QmpClient *c, const char *command, json_object *arguments, int64_t id, size_t *ret_at) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *s;
        size_t n, need;
        int r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = json_add(o, "execute", json_object_new_string(command));
        if (r < 0)
                return r;
        if (arguments) {
                r = json_add(o, "arguments", json_object_get(arguments));
                if (r < 0)
                        return r;
        }
        r = json_add(o, "id", json_object_new_int64(id));
        if (r < 0)
                return r;

        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return -ENOMEM;
        n = strlen(s);

        if (c->out_offset == c->out_size)
                c->out_offset = c->out_size = 0;
        else if (c->out_offset > c->out_allocated / 2) {
                memmove(c->out, c->out + c->out_offset, c->out_size - c->out_offset);
                c->out_size -= c->out_offset;
                c->out_fd_at -= MIN(c->out_fd_at, c->out_offset);
                c->out_offset = 0;
        }

        need = c->out_size + n + 1;
        if (need > c->out_allocated) {
                size_t a = MAX(need, MAX(c->out_allocated * 2, (size_t) 4096));
                char *p = realloc(c->out, a);
                if (!p)
                        return -ENOMEM;
                c->out = p;
                c->out_allocated = a;
        }

        /* Watch for writability before committing the data, so a failure leaves nothing half queued. */
        if (!(c->out_offset < c->out_size)) {
                r = sd_event_source_set_io_events(c->io, EPOLLIN | EPOLLOUT);
                if (r < 0)
                        return r;
        }

        if (ret_at)
                *ret_at = c->out_size;
        memcpy(c->out + c->out_size, s, n);
        c->out[c->out_size + n] = '\n';
        c->out_size += n + 1;
        return 0;
}

static int qmp_client_add_pending(QmpClient *c, qmp_reply_handler_t cb, void *userdata, int64_t *ret_id) {
        QmpPending *p;

        p = reallocarray(c->pending, c->n_pending + 1, sizeof(QmpPending));
        if (!p)
                return -ENOMEM;
        c->pending = p;
        c->pending[c->n_pending++] = (QmpPending){
                .id = c->next_id,
                .cb = cb,
                .userdata = userdata,
        };
        *ret_id = c->next_id++;
        return 0;
}

int qmp_send(QmpClient *c, const char *command, json_object *arguments, qmp_reply_handler_t cb, void *userdata) {
        return qmp_send_fd(c, command, arguments, -EBADF, cb, userdata);
}

int qmp_send_fd(
        QmpClient *c, const char *command, json_object *arguments, int fd, qmp_reply_handler_t cb, void *userdata) {
        _cleanup_(json_object_putp) json_object *args = arguments;
        _cleanup_close_ int copy = -EBADF;
        size_t at;
        int64_t id;
        int r;

        assert(c);
        assert(cb);

        if (isempty(command))
                return -EINVAL;
        if (args && !json_object_is_type(args, json_type_object))
                return -EINVAL;
        if (c->state != QMP_STATE_READY)
                return -ENOTCONN;
        if (c->n_pending >= QMP_PENDING_MAX)
                return -EBUSY;
        if (fd >= 0) {
                if (c->out_fd >= 0)
                        return -EBUSY; /* one on its way at a time */
                copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (copy < 0)
                        return -errno;
        }

        r = qmp_client_add_pending(c, cb, userdata, &id);
        if (r < 0)
                return r;

        r = qmp_client_enqueue(c, command, args, id, &at);
        if (r < 0) {
                c->n_pending--;
                return r;
        }
        if (copy >= 0) {
                c->out_fd = TAKE_FD(copy);
                c->out_fd_at = at;
        }
        return 0;
}

static ssize_t qmp_client_find_pending(QmpClient *c, int64_t id) {
        for (size_t i = 0; i < c->n_pending; i++)
                if (c->pending[i].id == id)
                        return (ssize_t) i;
        return -1;
}

static void qmp_client_dispatch_reply(QmpClient *c, const QmpMessage *m) {
        char buf[96];
        QmpPending p;
        ssize_t i;

        if (m->id < 0) {
                qmp_client_disconnect(c, -EPROTO, "QMP reply without id");
                return;
        }

        i = qmp_client_find_pending(c, m->id);
        if (i < 0) {
                (void) snprintf(buf, sizeof(buf), "QMP reply with unknown id %" PRIi64, m->id);
                qmp_client_disconnect(c, -EPROTO, buf);
                return;
        }

        /* Remove the entry before calling, so the handler runs once and may send further commands. */
        p = c->pending[i];
        memmove(c->pending + i, c->pending + i + 1, (c->n_pending - i - 1) * sizeof(QmpPending));
        c->n_pending--;

        /* QEMU's words end up in D-Bus errors and FailureReason: printable UTF-8 only. */
        if (m->type == QMP_MESSAGE_ERROR) {
                _cleanup_free_ char *class = utf8_printable(m->error_class, 64);
                _cleanup_free_ char *desc = utf8_printable(m->error_desc, 200);

                if (p.cb) {
                        p.cb(c, NULL, class ?: "GenericError", desc ?: "", p.userdata);
                        return;
                }
                /* Our own qmp_capabilities. */
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "qmp_capabilities failed: %s: %s", strna(class), strna(desc)) < 0)
                        msg = NULL;
                qmp_client_disconnect(c, -EPROTO, msg ?: "qmp_capabilities failed");
                return;
        }
        if (p.cb) {
                p.cb(c, m->value, NULL, NULL, p.userdata);
                return;
        }
        c->state = QMP_STATE_READY;
        if (c->ready_cb)
                c->ready_cb(c, c->userdata);
}

static void qmp_client_dispatch(QmpClient *c, json_object *o) {
        _cleanup_(qmp_message_done) QmpMessage m = {};
        const char *why = NULL;
        int64_t id;
        int r;

        r = qmp_message_parse(o, &m, &why);
        if (r < 0) {
                qmp_client_disconnect(c, r, why);
                return;
        }

        if (m.type == QMP_MESSAGE_GREETING) {
                if (c->state != QMP_STATE_GREETING) {
                        qmp_client_disconnect(c, -EPROTO, "second QMP greeting");
                        return;
                }
                r = qmp_client_add_pending(c, NULL, NULL, &id);
                if (r >= 0) {
                        r = qmp_client_enqueue(c, "qmp_capabilities", NULL, id, NULL);
                        if (r < 0)
                                c->n_pending--;
                }
                if (r < 0) {
                        qmp_client_disconnect(c, r, "failed to queue qmp_capabilities");
                        return;
                }
                c->state = QMP_STATE_CAPABILITIES;
                return;
        }

        if (c->state == QMP_STATE_GREETING) {
                qmp_client_disconnect(c, -EPROTO, "QMP message before the greeting");
                return;
        }

        if (m.type == QMP_MESSAGE_EVENT) {
                if (c->event_cb)
                        c->event_cb(c, m.event, m.value, c->userdata);
                return;
        }

        qmp_client_dispatch_reply(c, &m);
}

static bool is_json_whitespace(char ch) {
        return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Validates UTF-8 across reads (the input outside strings is ASCII): no overlong forms, surrogates or code
 * points past U+10FFFF, as strings end up in D-Bus messages. */
static bool qmp_client_utf8_valid(QmpClient *c, const char *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                uint8_t b = (uint8_t) p[i];

                if (c->utf8_need > 0) {
                        if (b < c->utf8_lo || b > c->utf8_hi)
                                return false;
                        c->utf8_need--;
                        c->utf8_lo = 0x80;
                        c->utf8_hi = 0xbf;
                        continue;
                }

                c->utf8_lo = 0x80;
                c->utf8_hi = 0xbf;
                if (b < 0x80)
                        continue;
                else if (b >= 0xc2 && b <= 0xdf)
                        c->utf8_need = 1;
                else if (b == 0xe0) {
                        c->utf8_need = 2;
                        c->utf8_lo = 0xa0;
                } else if (b == 0xed) {
                        c->utf8_need = 2;
                        c->utf8_hi = 0x9f;
                } else if (b >= 0xe1 && b <= 0xef)
                        c->utf8_need = 2;
                else if (b == 0xf0) {
                        c->utf8_need = 3;
                        c->utf8_lo = 0x90;
                } else if (b >= 0xf1 && b <= 0xf3)
                        c->utf8_need = 3;
                else if (b == 0xf4) {
                        c->utf8_need = 3;
                        c->utf8_hi = 0x8f;
                } else
                        return false;
        }
        return true;
}

static void qmp_client_disconnect_oversize(QmpClient *c) {
        char buf[80];

        (void) snprintf(
                buf, sizeof(buf), "QMP message exceeds the size limit of %u bytes", (unsigned) QMP_MESSAGE_MAX);
        qmp_client_disconnect(c, -EMSGSIZE, buf);
}

/* Feeds bytes to the tokener and dispatches every complete message, until the client is gone. */
static void qmp_client_parse(QmpClient *c, const char *p, size_t n) {
        while (n > 0 && !qmp_client_gone(c)) {
                _cleanup_(json_object_putp) json_object *o = NULL;
                enum json_tokener_error jerr;
                size_t chunk, used, end;

                if (!c->in_message) {
                        /* Line ends between messages are not part of either message. */
                        if (is_json_whitespace(*p)) {
                                p++;
                                n--;
                                continue;
                        }
                        c->in_message = true;
                        c->message_size = 0;
                }

                /* Never hand the tokener more than the limit allows, so it never buffers more than that. */
                chunk = MIN(n, QMP_MESSAGE_MAX - c->message_size + 1);
                o = json_tokener_parse_ex(c->tokener, p, (int) chunk);
                jerr = json_tokener_get_error(c->tokener);

                if (jerr == json_tokener_continue) {
                        if (!qmp_client_utf8_valid(c, p, chunk)) {
                                qmp_client_disconnect(c, -EBADMSG, "QMP message is not valid UTF-8");
                                return;
                        }
                        c->message_size += chunk;
                        p += chunk;
                        n -= chunk;
                        if (c->message_size > QMP_MESSAGE_MAX) {
                                qmp_client_disconnect_oversize(c);
                                return;
                        }
                        continue;
                }

                if (jerr != json_tokener_success) {
                        char buf[128];

                        (void) snprintf(
                                buf, sizeof(buf), "malformed JSON from QMP: %s", json_tokener_error_desc(jerr));
                        json_tokener_reset(c->tokener);
                        qmp_client_disconnect(c, -EBADMSG, buf);
                        return;
                }

                /* Success; o is NULL for a JSON null, which qmp_message_parse() rejects as not an object. */
                used = json_tokener_get_parse_end(c->tokener);
                assert(used <= chunk);

                /* The tokener also eats whitespace that follows a value; it is not part of the message. */
                end = used;
                while (end > 0 && is_json_whitespace(p[end - 1]))
                        end--;
                c->message_size += end;
                c->in_message = false;
                if (!qmp_client_utf8_valid(c, p, used)) {
                        qmp_client_disconnect(c, -EBADMSG, "QMP message is not valid UTF-8");
                        return;
                }
                assert(c->utf8_need == 0); /* a JSON value ends in ASCII */
                p += used;
                n -= used;

                if (c->message_size > QMP_MESSAGE_MAX) {
                        qmp_client_disconnect_oversize(c);
                        return;
                }

                qmp_client_dispatch(c, o);
        }
}

/* Reads once and handles what came. Returns true if there may be more to read at once. */
static bool qmp_client_read(QmpClient *c) {
        ssize_t n;

        n = recv(c->fd, c->read_buffer, sizeof(c->read_buffer), MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EINTR)
                        return true;
                if (errno == EAGAIN)
                        return false;
                if (errno == ECONNRESET || errno == EPIPE)
                        qmp_client_disconnect(c, -ECONNRESET, "connection closed");
                else
                        qmp_client_disconnect(c, -errno, "failed to read from the QMP socket");
                return false;
        }
        if (n == 0) {
                if (c->in_message)
                        qmp_client_disconnect(c, -EBADMSG, "connection closed in the middle of a QMP message");
                else
                        qmp_client_disconnect(c, -ECONNRESET, "connection closed");
                return false;
        }

        qmp_client_parse(c, c->read_buffer, (size_t) n);
        return !qmp_client_gone(c);
}

void qmp_client_drain(QmpClient *c) {
        _cleanup_(qmp_client_unrefp) QmpClient *ref = NULL;

        if (!c || qmp_client_gone(c))
                return;
        ref = qmp_client_ref(c);
        while (qmp_client_read(c))
                ;
}

static void qmp_client_write(QmpClient *c) {
        int r;

        while (c->out_offset < c->out_size) {
                ssize_t n;

                if (c->out_fd >= 0 && c->out_offset == c->out_fd_at) {
                        /* The fd goes with the first byte of its command (QEMU's getfd takes it from there). */
                        union {
                                struct cmsghdr h;
                                char buf[CMSG_SPACE(sizeof(int))];
                        } control = {};
                        struct iovec iov = { c->out + c->out_offset, c->out_size - c->out_offset };
                        struct msghdr mh = { .msg_iov = &iov,
                                             .msg_iovlen = 1,
                                             .msg_control = &control,
                                             .msg_controllen = sizeof(control) };
                        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(cm), &c->out_fd, sizeof(int));
                        n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
                        if (n > 0)
                                c->out_fd = safe_close(c->out_fd);
                } else
                        n = send(
                                c->fd,
                                c->out + c->out_offset,
                                (c->out_fd >= 0 && c->out_fd_at > c->out_offset ? c->out_fd_at : c->out_size) -
                                        c->out_offset,
                                MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return;
                        if (errno == ECONNRESET || errno == EPIPE)
                                qmp_client_disconnect(c, -ECONNRESET, "connection closed");
                        else
                                qmp_client_disconnect(c, -errno, "failed to write to the QMP socket");
                        return;
                }
                c->out_offset += (size_t) n;
        }

        c->out_offset = c->out_size = 0;
        r = qmp_client_update_events(c);
        if (r < 0)
                qmp_client_disconnect(c, r, "failed to update the QMP event source");
}

static int qmp_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        _cleanup_(qmp_client_unrefp) QmpClient *c = qmp_client_ref(userdata);

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                (void) qmp_client_read(c);

        /* Write what is queued, also what handlers queued just now, without another loop iteration. */
        if (!qmp_client_gone(c) && c->out_offset < c->out_size)
                qmp_client_write(c);

        return 0;
}
