/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A QMP subset, server side. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>

#include "qmp-server.h"

typedef struct NamedFd {
        char *name;
        int fd;
} NamedFd;

struct QmpServer {
        sd_event *event;
        const QmpCommand *commands;
        void *userdata;
        char *package;

        int listen_fd, conn_fd;
        sd_event_source *listen_source, *conn_source;
        json_tokener *tokener;
        size_t message_size; /* bytes of the request being parsed */
        bool negotiated;     /* qmp_capabilities went through: commands and events flow */
        char *out;
        size_t out_size;
        int received_fd; /* the last fd that came with a message, for the getfd in it */
        NamedFd fds[QMP_SERVER_FDS_MAX];
};

int qmp_error_set(QmpError *err, const char *class, const char *fmt, ...) {
        va_list ap;

        err->class = class;
        va_start(ap, fmt);
        (void) vsnprintf(err->desc, sizeof(err->desc), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static int arg_get(
        json_object *args, const char *name, bool required, json_type type, json_object **ret, QmpError *err) {
        json_object *v;

        if (!args || !json_object_object_get_ex(args, name, &v)) {
                *ret = NULL;
                return required ? qmp_error_set(err, "GenericError", "Parameter '%s' is missing", name) : 0;
        }
        if (!json_object_is_type(v, type))
                return qmp_error_set(
                        err,
                        "GenericError",
                        "Invalid parameter type for '%s', expected: %s",
                        name,
                        json_type_to_name(type));
        *ret = v;
        return 1;
}

int qmp_arg_string(json_object *args, const char *name, bool required, const char **ret, QmpError *err) {
        json_object *v;
        int r = arg_get(args, name, required, json_type_string, &v, err);

        if (r > 0)
                *ret = json_object_get_string(v);
        return r;
}

int qmp_arg_int(json_object *args, const char *name, bool required, int64_t *ret, QmpError *err) {
        json_object *v;
        int r = arg_get(args, name, required, json_type_int, &v, err);

        if (r > 0)
                *ret = json_object_get_int64(v);
        return r;
}

static void disconnect(QmpServer *s) {
        s->conn_source = sd_event_source_disable_unref(s->conn_source);
        s->conn_fd = safe_close(s->conn_fd);
        s->received_fd = safe_close(s->received_fd);
        s->out = mfree(s->out);
        s->out_size = 0;
        s->negotiated = false;
        s->message_size = 0;
        json_tokener_reset(s->tokener);
        (void) sd_event_source_set_enabled(s->listen_source, SD_EVENT_ON);
}

static int flush(QmpServer *s) {
        while (s->out_size > 0) {
                ssize_t k = send(s->conn_fd, s->out, s->out_size, MSG_DONTWAIT | MSG_NOSIGNAL);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        break;
                if (k < 0)
                        return -errno;
                memmove(s->out, s->out + k, s->out_size - (size_t) k);
                s->out_size -= (size_t) k;
        }
        return sd_event_source_set_io_events(s->conn_source, EPOLLIN | (s->out_size > 0 ? EPOLLOUT : 0));
}

/* Queues one message (consumed) as a line and writes what the socket takes. */
static void send_message(QmpServer *s, json_object *o) {
        const char *text;
        size_t n;
        char *p;

        if (s->conn_fd < 0 || !o) {
                json_object_put(o);
                return;
        }
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        n = strlen(text);
        if (s->out_size + n + 2 > QMP_SERVER_OUTPUT_MAX) {
                /* A client that does not read: it is dropped rather than followed without bound. */
                json_object_put(o);
                disconnect(s);
                return;
        }
        p = realloc(s->out, s->out_size + n + 2);
        if (!p) {
                json_object_put(o);
                disconnect(s);
                return;
        }
        s->out = p;
        memcpy(s->out + s->out_size, text, n);
        memcpy(s->out + s->out_size + n, "\r\n", 2);
        s->out_size += n + 2;
        json_object_put(o);
        if (flush(s) < 0)
                disconnect(s);
}

static void reply(QmpServer *s, json_object *id, json_object *ret, const QmpError *err) {
        json_object *o = json_object_new_object();

        if (!o) {
                json_object_put(ret);
                return;
        }
        if (err) {
                json_object *e = json_object_new_object();

                (void) json_object_object_add(e, "class", json_object_new_string(err->class));
                (void) json_object_object_add(e, "desc", json_object_new_string(err->desc));
                (void) json_object_object_add(o, "error", e);
                json_object_put(ret);
        } else
                (void) json_object_object_add(o, "return", ret ?: json_object_new_object());
        if (id)
                (void) json_object_object_add(o, "id", json_object_get(id));
        send_message(s, o);
}

static json_object *timestamp(void) {
        struct timespec ts;
        json_object *t = json_object_new_object();

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        (void) json_object_object_add(t, "seconds", json_object_new_int64(ts.tv_sec));
        (void) json_object_object_add(t, "microseconds", json_object_new_int64(ts.tv_nsec / 1000));
        return t;
}

void qmp_server_event(QmpServer *s, const char *event, json_object *data) {
        json_object *o;

        if (!s->negotiated) {
                json_object_put(data);
                return;
        }
        o = json_object_new_object();
        if (!o) {
                json_object_put(data);
                return;
        }
        (void) json_object_object_add(o, "event", json_object_new_string(event));
        if (data)
                (void) json_object_object_add(o, "data", data);
        (void) json_object_object_add(o, "timestamp", timestamp());
        send_message(s, o);
}

static int getfd(QmpServer *s, json_object *args, QmpError *err) {
        const char *name;
        NamedFd *slot = NULL;
        int r;

        r = qmp_arg_string(args, "fdname", true, &name, err);
        if (r < 0)
                return r;
        if (s->received_fd < 0)
                return qmp_error_set(err, "GenericError", "No file descriptor supplied via SCM_RIGHTS");
        if (isempty(name) || strlen(name) > 64 || (name[0] >= '0' && name[0] <= '9'))
                return qmp_error_set(
                        err, "GenericError", "Parameter 'fdname' expects a name not starting with a digit");
        for (size_t i = 0; i < QMP_SERVER_FDS_MAX; i++)
                if (s->fds[i].name && streq(s->fds[i].name, name)) {
                        slot = s->fds + i; /* replaced, as QEMU does */
                        safe_close(slot->fd);
                        break;
                } else if (!s->fds[i].name && !slot)
                        slot = s->fds + i;
        if (!slot)
                return qmp_error_set(
                        err, "GenericError", "Too many named file descriptors (at most %u)", QMP_SERVER_FDS_MAX);
        if (!slot->name) {
                slot->name = strdup(name);
                if (!slot->name)
                        return qmp_error_set(err, "GenericError", "Out of memory");
        }
        slot->fd = TAKE_FD(s->received_fd);
        return 0;
}

int qmp_server_take_fd(QmpServer *s, const char *name) {
        for (size_t i = 0; i < QMP_SERVER_FDS_MAX; i++)
                if (s->fds[i].name && streq(s->fds[i].name, name)) {
                        s->fds[i].name = mfree(s->fds[i].name);
                        return TAKE_FD(s->fds[i].fd);
                }
        return -ENOENT;
}

static void dispatch(QmpServer *s, json_object *msg) {
        json_object *id = NULL, *execute, *args = NULL, *ret = NULL;
        QmpError err = {};
        const char *name;
        int r;

        if (!json_object_is_type(msg, json_type_object)) {
                qmp_error_set(&err, "GenericError", "QMP input must be a JSON object");
                return reply(s, NULL, NULL, &err);
        }
        (void) json_object_object_get_ex(msg, "id", &id);
        if (!json_object_object_get_ex(msg, "execute", &execute) ||
            !json_object_is_type(execute, json_type_string)) {
                qmp_error_set(&err, "GenericError", "QMP input lacks member 'execute'");
                return reply(s, id, NULL, &err);
        }
        json_object_object_foreach(msg, key, value) {
                (void) value;
                if (!IN_SET(0, strcmp(key, "execute"), strcmp(key, "arguments"), strcmp(key, "id"))) {
                        qmp_error_set(&err, "GenericError", "QMP input member '%s' is unexpected", key);
                        return reply(s, id, NULL, &err);
                }
        }
        if (json_object_object_get_ex(msg, "arguments", &args) &&
            !json_object_is_type(args, json_type_object)) {
                qmp_error_set(&err, "GenericError", "QMP input member 'arguments' must be an object");
                return reply(s, id, NULL, &err);
        }
        name = json_object_get_string(execute);

        if (streq(name, "qmp_capabilities")) {
                if (s->negotiated) {
                        qmp_error_set(
                                &err,
                                "CommandNotFound",
                                "Capabilities negotiation is already complete, command ignored");
                        return reply(s, id, NULL, &err);
                }
                s->negotiated = true;
                return reply(s, id, NULL, NULL);
        }
        if (!s->negotiated) {
                qmp_error_set(
                        &err, "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
                return reply(s, id, NULL, &err);
        }
        if (streq(name, "getfd")) {
                r = getfd(s, args, &err);
                return reply(s, id, NULL, r < 0 ? &err : NULL);
        }
        for (const QmpCommand *c = s->commands; c->name; c++)
                if (streq(c->name, name)) {
                        r = c->run(s, args, &ret, &err, s->userdata);
                        if (r < 0 && !err.class)
                                qmp_error_set(&err, "GenericError", "%s failed: %s", name, strerror(-r));
                        return reply(s, id, ret, r < 0 ? &err : NULL);
                }
        qmp_error_set(&err, "CommandNotFound", "The command %s has not been found", name);
        reply(s, id, NULL, &err);
}

static int receive(QmpServer *s) {
        char buf[4096];
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int) * 4)];
        } control;
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)
        };
        ssize_t k;

        k = recvmsg(s->conn_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (k < 0)
                return IN_SET(errno, EAGAIN, EINTR) ? 0 : -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        int *fds = (int *) CMSG_DATA(c);

                        /* The last one counts (getfd takes one); the others are closed. */
                        for (size_t i = 0; i < n; i++) {
                                safe_close(s->received_fd);
                                s->received_fd = fds[i];
                        }
                }
        if (k == 0)
                return -ECONNRESET;

        for (size_t off = 0; off < (size_t) k && s->conn_fd >= 0;) {
                size_t chunk = (size_t) k - off;
                json_object *o;
                enum json_tokener_error e;

                /* Whitespace between requests is not a request. */
                if (s->message_size == 0 && IN_SET(buf[off], ' ', '\t', '\r', '\n')) {
                        off++;
                        continue;
                }
                o = json_tokener_parse_ex(s->tokener, buf + off, (int) chunk);
                e = json_tokener_get_error(s->tokener);
                if (e == json_tokener_continue) {
                        s->message_size += chunk;
                        if (s->message_size > QMP_SERVER_MESSAGE_MAX)
                                return -EMSGSIZE;
                        break;
                }
                if (e != json_tokener_success) {
                        QmpError err = {};

                        json_tokener_reset(s->tokener);
                        s->message_size = 0;
                        qmp_error_set(&err, "GenericError", "JSON parse error, %s", json_tokener_error_desc(e));
                        reply(s, NULL, NULL, &err);
                        /* Resynchronize at the next line. */
                        const char *nl = memchr(buf + off, '\n', chunk);
                        off = nl ? (size_t) (nl - buf) + 1 : (size_t) k;
                        continue;
                }
                size_t used = json_tokener_get_parse_end(s->tokener);
                s->message_size = 0;
                json_tokener_reset(s->tokener);
                dispatch(s, o);
                json_object_put(o);
                off += used;
        }
        return 0;
}

static int on_conn(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        QmpServer *s = userdata;
        int r = 0;

        if (revents & EPOLLOUT)
                r = flush(s);
        if (r >= 0 && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                r = receive(s);
        if (r < 0)
                disconnect(s);
        return 0;
}

static int on_listen(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        QmpServer *s = userdata;
        json_object *greeting, *qmp, *version, *qemu, *caps;
        int conn;

        conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn < 0)
                return 0;
        if (sd_event_add_io(s->event, &s->conn_source, conn, EPOLLIN, on_conn, s) < 0) {
                safe_close(conn);
                return 0;
        }
        s->conn_fd = conn;
        (void) sd_event_source_set_enabled(s->listen_source, SD_EVENT_OFF);

        /* {"QMP": {"version": {"qemu": {...}, "package": ...}, "capabilities": []}} */
        greeting = json_object_new_object();
        qmp = json_object_new_object();
        version = json_object_new_object();
        qemu = json_object_new_object();
        caps = json_object_new_array();
        (void) json_object_object_add(qemu, "major", json_object_new_int(7));
        (void) json_object_object_add(qemu, "minor", json_object_new_int(2));
        (void) json_object_object_add(qemu, "micro", json_object_new_int(0));
        (void) json_object_object_add(version, "qemu", qemu);
        (void) json_object_object_add(version, "package", json_object_new_string(s->package));
        (void) json_object_object_add(qmp, "version", version);
        (void) json_object_object_add(qmp, "capabilities", caps);
        (void) json_object_object_add(greeting, "QMP", qmp);
        send_message(s, greeting);
        return 0;
}

QmpServer *qmp_server_free(QmpServer *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->conn_source);
        sd_event_source_disable_unref(s->listen_source);
        safe_close(s->conn_fd);
        safe_close(s->listen_fd);
        safe_close(s->received_fd);
        for (size_t i = 0; i < QMP_SERVER_FDS_MAX; i++)
                if (s->fds[i].name) {
                        free(s->fds[i].name);
                        safe_close(s->fds[i].fd);
                }
        if (s->tokener)
                json_tokener_free(s->tokener);
        free(s->out);
        free(s->package);
        sd_event_unref(s->event);
        return mfree(s);
}

int qmp_server_new(
        sd_event *event,
        int listen_fd,
        const char *package,
        const QmpCommand *commands,
        void *userdata,
        QmpServer **ret) {
        _cleanup_(qmp_server_freep) QmpServer *s = NULL;
        int r;

        assert(event);
        assert(commands);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->listen_fd = s->conn_fd = s->received_fd = -EBADF;
        s->event = sd_event_ref(event);
        s->commands = commands;
        s->userdata = userdata;
        s->package = strdup(package);
        s->tokener = json_tokener_new_ex(32);
        if (!s->package || !s->tokener)
                return -ENOMEM;
        json_tokener_set_flags(s->tokener, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
        r = fd_nonblock(listen_fd, true);
        if (r < 0)
                return r;
        r = sd_event_add_io(event, &s->listen_source, listen_fd, EPOLLIN, on_listen, s);
        if (r < 0)
                return r;
        s->listen_fd = listen_fd;
        *ret = TAKE_PTR(s);
        return 0;
}
