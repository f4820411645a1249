/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QMP client: message classification, and the client over a socketpair with the test playing QEMU. */
#include <assert.h>
#include <inttypes.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "qmp.h"

#define TIMEOUT_USEC (10 * USEC_PER_SEC)

static json_object *parse_json(const char *s) {
        json_object *o;
        enum json_tokener_error e;

        o = json_tokener_parse_verbose(s, &e);
        if (e != json_tokener_success) {
                fprintf(stderr, "test bug: cannot parse %s: %s\n", s, json_tokener_error_desc(e));
                abort();
        }
        return o;
}

static void check_streq(const char *file, int line, const char *a, const char *b) {
        if (streq_ptr(a, b))
                return;
        fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", file, line, strna(a), strna(b));
        abort();
}
#define assert_streq(a, b) check_streq(__FILE__, __LINE__, (a), (b))

static void check_int(const char *file, int line, const char *expr, int64_t a, int64_t b) {
        if (a == b)
                return;
        fprintf(stderr, "%s:%d: %s: %" PRIi64 " != %" PRIi64 "\n", file, line, expr, a, b);
        abort();
}
#define assert_int(a, b) check_int(__FILE__, __LINE__, #a, (int64_t) (a), (int64_t) (b))

/* ---- qmp_message_parse ---- */

static void parse_ok(const char *s, QmpMessage *ret) {
        json_object *o = parse_json(s);
        const char *why = NULL;
        int r;

        r = qmp_message_parse(o, ret, &why);
        if (r < 0) {
                fprintf(stderr, "rejected %s: %s\n", s, why);
                abort();
        }
        json_object_put(o); /* the message keeps its own reference */
        assert(ret->object);
}

static void parse_bad(const char *s, const char *expected) {
        json_object *o = s ? parse_json(s) : NULL;
        QmpMessage m = { .type = QMP_MESSAGE_EVENT, .id = 4711 };
        const char *why = NULL;

        assert_int(qmp_message_parse(o, &m, &why), -EBADMSG);
        assert_streq(why, expected);
        /* Untouched on failure. */
        assert_int(m.type, QMP_MESSAGE_EVENT);
        assert_int(m.id, 4711);
        assert(!m.object);
        /* ret_error may be NULL. */
        assert_int(qmp_message_parse(o, &m, NULL), -EBADMSG);
        json_object_put(o);
}

static void test_parse_valid(void) {
        QmpMessage m;

        parse_ok(
                "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}}, "
                "\"capabilities\": [\"oob\"]}}",
                &m);
        assert_int(m.type, QMP_MESSAGE_GREETING);
        assert(json_object_is_type(m.value, json_type_object));
        assert(json_object_object_get_ex(m.value, "capabilities", NULL));
        assert_int(m.id, -1);
        qmp_message_done(&m);
        assert(!m.object);

        parse_ok("{\"return\": {}, \"id\": 7}", &m);
        assert_int(m.type, QMP_MESSAGE_RETURN);
        assert(json_object_is_type(m.value, json_type_object));
        assert_int(m.id, 7);
        assert(!m.error_class && !m.event);
        qmp_message_done(&m);

        parse_ok("{\"return\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}", &m);
        assert_int(m.type, QMP_MESSAGE_RETURN);
        assert_int(json_object_array_length(m.value), 2);
        assert_int(m.id, -1);
        qmp_message_done(&m);

        parse_ok("{\"id\": 0, \"return\": {\"status\": \"prelaunch\", \"running\": false}}", &m);
        assert_int(m.type, QMP_MESSAGE_RETURN);
        assert_int(m.id, 0);
        qmp_message_done(&m);

        parse_ok(
                "{\"error\": {\"class\": \"CommandNotFound\", "
                "\"desc\": \"The command foo has not been found\"}, \"id\": 3}",
                &m);
        assert_int(m.type, QMP_MESSAGE_ERROR);
        assert_streq(m.error_class, "CommandNotFound");
        assert_streq(m.error_desc, "The command foo has not been found");
        assert_int(m.id, 3);
        assert(!m.value);
        qmp_message_done(&m);

        parse_ok("{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}", &m);
        assert_int(m.type, QMP_MESSAGE_EVENT);
        assert_streq(m.event, "STOP");
        assert(!m.value);
        qmp_message_done(&m);

        parse_ok(
                "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}, "
                "\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}",
                &m);
        assert_int(m.type, QMP_MESSAGE_EVENT);
        assert_streq(m.event, "SHUTDOWN");
        assert_streq(json_object_get_string(json_object_object_get(m.value, "reason")), "guest-shutdown");
        qmp_message_done(&m);

        parse_ok("{\"event\": \"RESUME\", \"data\": null}", &m);
        assert(!m.value);
        qmp_message_done(&m);

        /* done() on a cleared message is harmless */
        qmp_message_done(&m);
        qmp_message_done(NULL);
}

#define NO_CLASS_DESC "QMP error reply lacks a class or desc string"

static void test_parse_invalid(void) {
        parse_bad(NULL, "QMP reply is not a JSON object");
        parse_bad("[1, 2]", "QMP reply is not a JSON object");
        parse_bad("\"return\"", "QMP reply is not a JSON object");
        parse_bad("42", "QMP reply is not a JSON object");
        parse_bad("{}", "QMP message is neither greeting, return, error nor event");
        parse_bad("{\"id\": 1, \"foo\": {}}", "QMP message is neither greeting, return, error nor event");
        parse_bad(
                "{\"return\": {}, \"error\": {\"class\": \"a\", \"desc\": \"b\"}}",
                "QMP message is more than one of greeting, return, error and event");
        parse_bad(
                "{\"event\": \"STOP\", \"return\": {}}",
                "QMP message is more than one of greeting, return, error and event");
        parse_bad("{\"QMP\": []}", "QMP greeting is not a JSON object");
        parse_bad("{\"QMP\": null}", "QMP greeting is not a JSON object");
        parse_bad(
                "{\"error\": {\"class\": \"GenericError\"}, \"id\": 1}",
                "QMP error reply lacks a class or desc string");
        parse_bad("{\"error\": {\"desc\": \"oops\"}, \"id\": 1}", NO_CLASS_DESC);
        parse_bad("{\"error\": {\"class\": 1, \"desc\": \"oops\"}}", NO_CLASS_DESC);
        parse_bad("{\"error\": {\"class\": \"a\", \"desc\": null}}", NO_CLASS_DESC);
        parse_bad("{\"error\": \"GenericError\"}", "QMP error reply lacks a class or desc string");
        /* The class the client gives pending commands when the connection ends is not the peer's to use. */
        parse_bad(
                "{\"error\": {\"class\": \"Disconnected\", \"desc\": \"x\"}, \"id\": 3}",
                "QMP error reply claims the class \"Disconnected\"");
        parse_bad("{\"event\": 5}", "QMP event name is not a non-empty string without NUL");
        parse_bad("{\"event\": \"\"}", "QMP event name is not a non-empty string without NUL");
        parse_bad("{\"event\": \"\\u0000STOP\"}", "QMP event name is not a non-empty string without NUL");
        parse_bad("{\"event\": \"STOP\", \"data\": [1]}", "QMP event data is not a JSON object");
        parse_bad("{\"return\": {}, \"id\": \"1\"}", "QMP reply id is not a non-negative integer");
        parse_bad("{\"return\": {}, \"id\": -1}", "QMP reply id is not a non-negative integer");
        parse_bad("{\"return\": {}, \"id\": 1.5}", "QMP reply id is not a non-negative integer");
        parse_bad(
                "{\"error\": {\"class\": \"a\", \"desc\": \"b\"}, \"id\": {}}",
                "QMP reply id is not a non-negative integer");
}

/* ---- the client, with the test as QEMU on the other end of a socketpair ---- */

typedef struct Reply {
        unsigned n_calls;
        unsigned seq; /* global order in which handlers ran */
        char *result; /* JSON text of the return value */
        char *error_class;
        char *error_desc;
        struct Fixture *fixture;
        bool free_client; /* free the client from inside this handler */
} Reply;

typedef struct Fixture {
        sd_event *event;
        QmpClient *client;
        int peer;
        sd_event_source *peer_source;
        char *in; /* what the client sent, not yet consumed by the test */
        size_t in_size;
        bool peer_eof;

        unsigned seq;
        unsigned n_ready;
        unsigned n_disconnect;
        int disconnect_error;
        char *disconnect_message;
        char **events; /* "NAME DATA-JSON" */
        unsigned n_events;

        bool free_on_disconnect;
        bool free_on_event;
} Fixture;

static void reply_done(Reply *r) {
        free(r->result);
        free(r->error_class);
        free(r->error_desc);
        *r = (Reply){};
}

static void on_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        Reply *r = userdata;

        assert(r->fixture);
        assert(c == r->fixture->client);
        r->n_calls++;
        r->seq = ++r->fixture->seq;
        if (error_class) {
                assert(!result);
                assert(error_desc);
                r->error_class = strdup(error_class);
                r->error_desc = strdup(error_desc);
                assert(r->error_class && r->error_desc);
        } else {
                assert(!error_desc);
                r->result = strdup(json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN));
                assert(r->result);
        }
        if (r->free_client)
                r->fixture->client = qmp_client_free(c);
}

static void on_ready(QmpClient *c, void *userdata) {
        Fixture *f = userdata;

        assert(c == f->client);
        f->n_ready++;
}

static void on_event(QmpClient *c, const char *event, json_object *data, void *userdata) {
        Fixture *f = userdata;

        assert(c == f->client);
        f->n_events++;
        assert(strv_extendf(
                       &f->events,
                       "%s %s",
                       event,
                       data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN) : "-") >= 0);
        if (f->free_on_event)
                f->client = qmp_client_free(c);
}

static void on_disconnect(QmpClient *c, int error, const char *message, void *userdata) {
        Fixture *f = userdata;

        assert(c == f->client);
        assert(error < 0);
        f->n_disconnect++;
        f->disconnect_error = error;
        assert(free_and_strdup(&f->disconnect_message, message) >= 0);
        if (f->free_on_disconnect)
                f->client = qmp_client_free(c);
}

static int on_peer_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Fixture *f = userdata;
        char buf[65536];
        ssize_t n;

        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EAGAIN)
                        return 0;
                assert(errno == ECONNRESET);
                n = 0;
        }
        if (n == 0) {
                f->peer_eof = true;
                assert(sd_event_source_set_enabled(s, SD_EVENT_OFF) >= 0);
                return 0;
        }
        f->in = realloc(f->in, f->in_size + n);
        assert(f->in);
        memcpy(f->in + f->in_size, buf, n);
        f->in_size += n;
        return 0;
}

#define RUN_UNTIL(f, cond) \
        do { \
                while (!(cond)) { \
                        int _r = sd_event_run((f)->event, TIMEOUT_USEC); \
                        assert(_r >= 0); \
                        if (_r == 0) { \
                                fprintf(stderr, "%s:%d: timed out waiting for %s\n", __FILE__, __LINE__, #cond); \
                                abort(); \
                        } \
                } \
        } while (0)

/* Runs everything that is ready now, without waiting: after a write to a local socket the other end is
 * readable at once, so this processes exactly what was sent. A source that stays ready for nothing (a busy
 * loop) fails the test. */
static void drain(Fixture *f) {
        unsigned n = 0;
        int r;

        while ((r = sd_event_run(f->event, 0)) > 0)
                if (++n > 10000) {
                        fprintf(stderr, "event loop does not go idle\n");
                        abort();
                }
        assert(r == 0);
}

static void fixture_init(Fixture *f) {
        int pair[2];

        *f = (Fixture){};
        assert(sd_event_new(&f->event) >= 0);
        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) >= 0);
        assert(qmp_client_new(f->event, pair[0], &f->client) >= 0);
        qmp_client_set_handlers(f->client, on_ready, on_event, on_disconnect, f);
        f->peer = pair[1];
        assert(fd_nonblock(f->peer, true) >= 0);
        assert(sd_event_add_io(f->event, &f->peer_source, f->peer, EPOLLIN, on_peer_io, f) >= 0);
}

static void fixture_done(Fixture *f) {
        f->client = qmp_client_free(f->client);
        f->peer_source = sd_event_source_disable_unref(f->peer_source);
        f->peer = safe_close(f->peer);
        f->event = sd_event_unref(f->event);
        free(f->in);
        free(f->disconnect_message);
        strv_free(f->events);
        *f = (Fixture){};
}

/* Writes everything, letting the loop run while the socket is full. False if the client hung up. */
static bool peer_write(Fixture *f, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t n = send(f->peer, p, size, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EPIPE || errno == ECONNRESET)
                                return false;
                        assert(errno == EAGAIN);
                        assert(sd_event_run(f->event, TIMEOUT_USEC) > 0);
                        continue;
                }
                p += n;
                size -= n;
        }
        return true;
}

static void peer_send(Fixture *f, const char *s) {
        assert(peer_write(f, s, strlen(s)));
}

/* Waits for the next line the client sent and parses it. */
static json_object *peer_receive(Fixture *f) {
        json_object *o;
        char *nl;
        size_t n;

        RUN_UNTIL(f, (f->in && memchr(f->in, '\n', f->in_size)) || f->peer_eof);
        nl = f->in ? memchr(f->in, '\n', f->in_size) : NULL;
        assert(nl);
        n = nl - f->in;
        *nl = 0;
        o = parse_json(f->in);
        memmove(f->in, nl + 1, f->in_size - n - 1);
        f->in_size -= n + 1;
        return o;
}

/* Receives a command, checks its name, and returns its id. */
static int64_t peer_expect(Fixture *f, const char *command, json_object **ret_arguments) {
        json_object *o = peer_receive(f), *v;
        int64_t id;

        assert(json_object_object_get_ex(o, "execute", &v));
        assert_streq(json_object_get_string(v), command);
        assert(json_object_object_get_ex(o, "id", &v));
        assert(json_object_is_type(v, json_type_int));
        id = json_object_get_int64(v);
        if (ret_arguments)
                *ret_arguments = json_object_object_get_ex(o, "arguments", &v) ? json_object_get(v) : NULL;
        else
                assert(!json_object_object_get_ex(o, "arguments", NULL));
        json_object_put(o);
        return id;
}

static void peer_reply(Fixture *f, int64_t id, const char *result) {
        char buf[4096];

        (void) snprintf(buf, sizeof(buf), "{\"return\": %s, \"id\": %" PRIi64 "}\r\n", result, id);
        peer_send(f, buf);
}

#define GREETING \
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, " \
        "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18\"}, \"capabilities\": [\"oob\"]}}\r\n"

static void handshake(Fixture *f) {
        int64_t id;

        assert_int(qmp_send(f->client, "query-status", NULL, on_reply, NULL), -ENOTCONN);
        peer_send(f, GREETING);
        id = peer_expect(f, "qmp_capabilities", NULL);
        assert_int(f->n_ready, 0);
        assert_int(qmp_send(f->client, "query-status", NULL, on_reply, NULL), -ENOTCONN);
        peer_reply(f, id, "{}");
        RUN_UNTIL(f, f->n_ready > 0);
        assert_int(f->n_ready, 1);
        assert_int(f->n_disconnect, 0);
}

static void test_handshake_and_command(void) {
        Fixture f;
        Reply r = { .fixture = &f };
        json_object *args;
        int64_t id;

        fixture_init(&f);
        handshake(&f);

        args = json_object_new_object();
        json_object_object_add(args, "device", json_object_new_string("virtio-disk0"));
        assert(qmp_send(f.client, "query-block-jobs", args, on_reply, &r) >= 0);
        id = peer_expect(&f, "query-block-jobs", &args);
        assert_streq(
                json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN), "{\"device\":\"virtio-disk0\"}");
        json_object_put(args);
        drain(&f);
        assert_int(r.n_calls, 0);

        peer_reply(&f, id, "{\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}");
        RUN_UNTIL(&f, r.n_calls > 0);
        assert_streq(r.result, "{\"status\":\"prelaunch\",\"singlestep\":false,\"running\":false}");
        assert(!r.error_class);

        /* Exactly once: nothing else arrives, and a late duplicate reply is a protocol error. */
        drain(&f);
        assert_int(r.n_calls, 1);
        peer_reply(&f, id, "{}");
        RUN_UNTIL(&f, f.n_disconnect > 0);
        assert_int(r.n_calls, 1);
        assert_int(f.disconnect_error, -EPROTO);
        assert_streq(f.disconnect_message, "QMP reply with unknown id 2");

        /* Non-object arguments and empty command names are rejected (and the arguments consumed). */
        assert_int(qmp_send(f.client, "cont", json_object_new_array(), on_reply, &r), -EINVAL);
        assert_int(qmp_send(f.client, "", NULL, on_reply, &r), -EINVAL);
        assert_int(qmp_send(f.client, "cont", json_object_new_object(), on_reply, &r), -ENOTCONN);

        reply_done(&r);
        fixture_done(&f);
}

static void test_out_of_order(void) {
        Fixture f;
        Reply a = { .fixture = &f }, b = { .fixture = &f }, e = { .fixture = &f };
        int64_t ida, idb, ide;
        char buf[64];

        fixture_init(&f);
        handshake(&f);

        assert(qmp_send(f.client, "query-status", NULL, on_reply, &a) >= 0);
        assert(qmp_send(f.client, "query-name", NULL, on_reply, &b) >= 0);
        assert(qmp_send(f.client, "no-such-command", NULL, on_reply, &e) >= 0);
        ida = peer_expect(&f, "query-status", NULL);
        idb = peer_expect(&f, "query-name", NULL);
        ide = peer_expect(&f, "no-such-command", NULL);
        assert(ida != idb && idb != ide && ida != ide);

        /* The error reply split across two writes, the others after it. */
        peer_send(
                &f,
                "{\"error\": {\"class\": \"CommandNotFound\", "
                "\"desc\": \"The command no-such-command has not been found\"}, ");
        (void) snprintf(buf, sizeof(buf), "\"id\": %" PRIi64 "}\r\n", ide);
        peer_send(&f, buf);
        peer_reply(&f, idb, "{\"name\": \"work\"}");
        peer_reply(&f, ida, "{\"status\": \"running\"}");
        RUN_UNTIL(&f, a.n_calls > 0);

        assert_int(e.n_calls, 1);
        assert_streq(e.error_class, "CommandNotFound");
        assert_streq(e.error_desc, "The command no-such-command has not been found");
        assert(!e.result);
        assert_int(b.n_calls, 1);
        assert_streq(b.result, "{\"name\":\"work\"}");
        assert_int(a.n_calls, 1);
        assert_streq(a.result, "{\"status\":\"running\"}");
        assert(e.seq < b.seq && b.seq < a.seq);
        assert_int(f.n_disconnect, 0);

        reply_done(&a);
        reply_done(&b);
        reply_done(&e);
        fixture_done(&f);
}

static void test_events(void) {
        Fixture f;

        fixture_init(&f);
        handshake(&f);

        peer_send(
                &f,
                "{\"timestamp\": {\"seconds\": 1732540000, \"microseconds\": 5}, "
                "\"event\": \"STOP\"}\r\n");
        peer_send(
                &f,
                "{\"event\": \"SHUTDOWN\", "
                "\"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}, "
                "\"timestamp\": {\"seconds\": 1732540001, \"microseconds\": 6}}\r\n");
        RUN_UNTIL(&f, f.n_events >= 2);
        assert_int(f.n_events, 2);
        assert_streq(f.events[0], "STOP -");
        assert_streq(f.events[1], "SHUTDOWN {\"guest\":true,\"reason\":\"guest-shutdown\"}");
        assert_int(f.n_disconnect, 0);

        fixture_done(&f);
}

/* The VMM exited: what it sent before it went is handled by qmp_client_drain() at once, without the loop,
 * up to the hang-up; with nothing sent, drain returns and changes nothing. */
static void test_drain_one(bool free_on_event) {
        Fixture f;

        fixture_init(&f);
        handshake(&f);
        f.free_on_event = free_on_event;

        qmp_client_drain(f.client);
        assert_int(f.n_events, 0);
        assert_int(f.n_disconnect, 0);

        peer_send(
                &f,
                "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-reset\"}, "
                "\"timestamp\": {\"seconds\": 1732540001, \"microseconds\": 6}}\r\n");
        f.peer_source = sd_event_source_disable_unref(f.peer_source);
        f.peer = safe_close(f.peer);
        qmp_client_drain(f.client);
        assert_int(f.n_events, 1);
        assert_streq(f.events[0], "SHUTDOWN {\"guest\":true,\"reason\":\"guest-reset\"}");
        assert_int(f.n_disconnect, free_on_event ? 0 : 1);
        assert(free_on_event == !f.client);
        qmp_client_drain(f.client); /* after the hang-up: nothing more */
        assert_int(f.n_disconnect, free_on_event ? 0 : 1);

        fixture_done(&f);
}

static void test_drain(void) {
        test_drain_one(false);
        test_drain_one(true);
}

/* Writes every byte on its own and runs the loop in between. Returns how many bytes were written when
 * cond became true, or strlen(s) + 1 if it never did. */
#define WRITE_BYTEWISE_UNTIL(f, s, cond) \
        ({ \
                size_t _i, _n = strlen(s); \
                for (_i = 0; _i < _n; _i++) { \
                        assert(peer_write((f), (s) + _i, 1)); \
                        drain(f); \
                        if (cond) \
                                break; \
                } \
                _i + 1; \
        })

/* Every byte in its own write, with the loop run in between: nothing may depend on write boundaries, and
 * a message is dispatched exactly when its last byte arrives. */
static void test_fragmented(void) {
        static const char event[] = "{\"event\": \"BLOCK_IO_ERROR\", \"data\": {\"device\": \"dr\\u00fcck\", "
                                    "\"reason\": \"Gr\xc3\xbc\xc3\x9f"
                                    "e \\\"quoted\\\" \\\\ \xe2\x82\xac\"}}\r\n";
        Fixture f;
        Reply r = { .fixture = &f };
        char reply[128];
        int64_t id;

        fixture_init(&f);
        /* qmp_capabilities goes out as soon as the greeting's '}' is in, before its "\r\n". */
        assert_int(WRITE_BYTEWISE_UNTIL(&f, GREETING, f.in_size > 0), strlen(GREETING) - 2);
        id = peer_expect(&f, "qmp_capabilities", NULL);

        (void) snprintf(reply, sizeof(reply), "{\"return\": {}, \"id\": %" PRIi64 "}\r\n", id);
        assert_int(WRITE_BYTEWISE_UNTIL(&f, reply, f.n_ready > 0), strlen(reply) - 2);
        drain(&f);
        assert_int(f.n_ready, 1);

        assert(qmp_send(f.client, "query-x", NULL, on_reply, &r) >= 0);
        id = peer_expect(&f, "query-x", NULL);

        assert_int(WRITE_BYTEWISE_UNTIL(&f, event, f.n_events > 0), strlen(event) - 2);
        assert_streq(
                f.events[0],
                "BLOCK_IO_ERROR {\"device\":\"dr\xc3\xbc"
                "ck\",\"reason\":\"Gr\xc3\xbc\xc3\x9f"
                "e \\\"quoted\\\" \\\\ \xe2\x82\xac\"}");

        (void) snprintf(
                reply, sizeof(reply), "{\"return\": [1, 2.5, \"x\", null, true], \"id\": %" PRIi64 "}", id);
        assert_int(WRITE_BYTEWISE_UNTIL(&f, reply, r.n_calls > 0), strlen(reply));
        assert_streq(r.result, "[1,2.5,\"x\",null,true]");

        drain(&f);
        assert_int(f.n_ready, 1);
        assert_int(f.n_events, 1);
        assert_int(r.n_calls, 1);
        assert_int(f.n_disconnect, 0);

        reply_done(&r);
        fixture_done(&f);
}

/* Several messages (and a message split in two) in single writes, also without line ends between them. */
static void test_coalesced(void) {
        Fixture f;
        Reply a = { .fixture = &f }, b = { .fixture = &f };
        char buf[1024];
        int64_t ida, idb;

        fixture_init(&f);
        handshake(&f);
        assert(qmp_send(f.client, "stop", NULL, on_reply, &a) >= 0);
        assert(qmp_send(f.client, "cont", NULL, on_reply, &b) >= 0);
        ida = peer_expect(&f, "stop", NULL);
        idb = peer_expect(&f, "cont", NULL);

        (void) snprintf(
                buf,
                sizeof(buf),
                "{\"return\": {}, \"id\": %" PRIi64 "}\r\n"
                "{\"event\": \"STOP\"}{\"event\": \"RESUME\"}\n\n"
                "  {\"return\": {\"ok\": 1}, \"id\": %" PRIi64 "}\r\n"
                "{\"event\": \"POWERDOWN\", \"da",
                ida,
                idb);
        peer_send(&f, buf);
        RUN_UNTIL(&f, b.n_calls > 0);
        drain(&f);
        assert_int(a.n_calls, 1);
        assert_streq(a.result, "{}");
        assert_streq(b.result, "{\"ok\":1}");
        assert_int(f.n_events, 2);
        assert_streq(f.events[0], "STOP -");
        assert_streq(f.events[1], "RESUME -");
        assert(a.seq < b.seq);

        peer_send(&f, "ta\": {}}\r\n");
        RUN_UNTIL(&f, f.n_events > 2);
        assert_streq(f.events[2], "POWERDOWN {}");
        assert_int(f.n_disconnect, 0);

        reply_done(&a);
        reply_done(&b);
        fixture_done(&f);
}

typedef struct BadCase {
        const char *name;
        bool before_handshake;
        const char *input;   /* NULL: qmp_capabilities is refused */
        size_t size;         /* of input, when it contains NUL bytes */
        bool shutdown_after; /* close the peer's write side after the input */
        int error;
        const char *message;
} BadCase;

#define BAD(n, in, err, msg) \
        { .name = n, .input = in, .error = err, .message = msg }
#define BAD_EOF(n, in, err, msg) \
        { .name = n, .input = in, .shutdown_after = true, .error = err, .message = msg }
#define BAD_EARLY(n, in, err, msg) \
        { .name = n, .before_handshake = true, .input = in, .error = err, .message = msg }

static const BadCase bad_cases[] = {
        BAD("malformed JSON",
            "{\"return\" {}}\r\n",
            -EBADMSG,
            "malformed JSON from QMP: object property name separator ':' expected"),
        BAD("trailing comma", "{\"return\": {},}\r\n", -EBADMSG, "malformed JSON from QMP: unexpected character"),
        BAD("stray brace", "}\r\n", -EBADMSG, "malformed JSON from QMP: unexpected character"),
        { .name = "NUL byte", .input = "{\"event\": \"ST\0OP\"}", .size = 18, .error = -EBADMSG },
        BAD("invalid UTF-8", "{\"event\": \"ST\xffOP\"}\r\n", -EBADMSG, "QMP message is not valid UTF-8"),
        BAD("UTF-8 surrogate",
            "{\"event\": \"STOP\", \"data\": {\"a\": \"\xed\xa0\x80\"}}\r\n",
            -EBADMSG,
            "QMP message is not valid UTF-8"),
        BAD("overlong UTF-8",
            "{\"event\": \"STOP\", \"data\": {\"a\": \"\xc0\xaf\"}}\r\n",
            -EBADMSG,
            "QMP message is not valid UTF-8"),
        BAD("truncated UTF-8",
            "{\"event\": \"STOP\", \"data\": {\"a\": \"\xe2\x82\"}}\r\n",
            -EBADMSG,
            "QMP message is not valid UTF-8"),
        BAD("array", "[{\"return\": {}, \"id\": 2}]\r\n", -EBADMSG, "QMP reply is not a JSON object"),
        BAD("string", "\"hello\"\r\n", -EBADMSG, "QMP reply is not a JSON object"),
        BAD("null", "null\r\n", -EBADMSG, "QMP reply is not a JSON object"),
        BAD("unknown kind",
            "{\"id\": 2, \"result\": {}}\r\n",
            -EBADMSG,
            "QMP message is neither greeting, return, error nor event"),
        BAD("error without desc",
            "{\"error\": {\"class\": \"GenericError\"}, \"id\": 2}\r\n",
            -EBADMSG,
            "QMP error reply lacks a class or desc string"),
        BAD("error without class",
            "{\"error\": {\"desc\": \"x\"}, \"id\": 2}\r\n",
            -EBADMSG,
            "QMP error reply lacks a class or desc string"),
        BAD("second greeting", GREETING, -EPROTO, "second QMP greeting"),
        BAD("unknown id", "{\"return\": {}, \"id\": 999}\r\n", -EPROTO, "QMP reply with unknown id 999"),
        BAD("reply without id", "{\"return\": {}}\r\n", -EPROTO, "QMP reply without id"),
        BAD("error without id",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\r\n",
            -EPROTO,
            "QMP reply without id"),
        BAD_EARLY(
                "reply before greeting",
                "{\"return\": {}, \"id\": 1}\r\n",
                -EPROTO,
                "QMP message before the greeting"),
        BAD_EARLY("event before greeting", "{\"event\": \"STOP\"}\r\n", -EPROTO, "QMP message before the greeting"),
        BAD_EARLY(
                "capabilities refused",
                NULL,
                -EPROTO,
                "qmp_capabilities failed: CommandNotFound: no capabilities here"),
        BAD_EOF("EOF in message",
                "{\"event\": \"STOP\", \"data\": {",
                -EBADMSG,
                "connection closed in the middle of a QMP message"),
        BAD_EOF("EOF in number", "12", -EBADMSG, "connection closed in the middle of a QMP message"),
        BAD_EOF("EOF", "", -ECONNRESET, "connection closed"),
        BAD_EOF("EOF after line end", "{\"event\": \"STOP\"}\r\n", -ECONNRESET, "connection closed"),
        { .name = "EOF before greeting",
          .before_handshake = true,
          .input = "",
          .shutdown_after = true,
          .error = -ECONNRESET,
          .message = "connection closed" },
};

static void test_bad_input_one(const BadCase *c) {
        Fixture f;
        Reply r = { .fixture = &f }, late = { .fixture = &f };

        fprintf(stderr, "  bad input: %s\n", c->name);
        fixture_init(&f);
        if (!c->before_handshake) {
                handshake(&f);
                assert(qmp_send(f.client, "query-status", NULL, on_reply, &r) >= 0);
                assert_int(peer_expect(&f, "query-status", NULL), 2);
        }

        if (c->input) {
                assert(peer_write(&f, c->input, c->size ?: strlen(c->input)));
        } else {
                /* the capabilities refusal */
                int64_t id;
                char buf[256];

                peer_send(&f, GREETING);
                id = peer_expect(&f, "qmp_capabilities", NULL);
                (void) snprintf(
                        buf,
                        sizeof(buf),
                        "{\"error\": {\"class\": \"CommandNotFound\", "
                        "\"desc\": \"no capabilities here\"}, \"id\": %" PRIi64 "}\r\n",
                        id);
                peer_send(&f, buf);
        }
        if (c->shutdown_after)
                assert(shutdown(f.peer, SHUT_WR) >= 0);

        RUN_UNTIL(&f, f.n_disconnect > 0);
        drain(&f);
        assert_int(f.n_disconnect, 1);
        assert_int(f.disconnect_error, c->error);
        if (c->message)
                assert_streq(f.disconnect_message, c->message);
        else
                assert(strncmp(f.disconnect_message, "malformed JSON from QMP: ", 25) == 0);
        assert_int(f.n_ready, c->before_handshake ? 0 : 1);

        if (!c->before_handshake) {
                /* The pending command learnt why, exactly once. */
                assert_int(r.n_calls, 1);
                assert_streq(r.error_class, "Disconnected");
                assert_streq(r.error_desc, f.disconnect_message);
                assert(!r.result);
        }

        /* The client closed its end, and sends nothing more. */
        RUN_UNTIL(&f, f.peer_eof);
        assert_int(qmp_send(f.client, "query-status", NULL, on_reply, &late), -ENOTCONN);
        drain(&f);
        assert_int(late.n_calls, 0);
        assert_int(f.n_disconnect, 1);

        reply_done(&r);
        fixture_done(&f);
}

static void test_bad_input(void) {
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++)
                test_bad_input_one(&bad_cases[i]);
}

/* An event of exactly QMP_MESSAGE_MAX bytes passes; one byte more ends the connection. */
static void test_size_limit_one(size_t size, bool split) {
        static const char head[] = "{\"event\": \"BIG\", \"data\": {\"pad\": \"";
        static const char tail[] = "\"}}";
        Fixture f;
        Reply r = { .fixture = &f };
        char *msg;

        fixture_init(&f);
        handshake(&f);
        assert(qmp_send(f.client, "query-status", NULL, on_reply, &r) >= 0);

        msg = malloc(size + 2);
        assert(msg);
        memcpy(msg, head, strlen(head));
        memset(msg + strlen(head), 'x', size - strlen(head) - strlen(tail));
        memcpy(msg + size - strlen(tail), tail, strlen(tail));
        memcpy(msg + size, "\r\n", 2);

        if (split) {
                /* All but the last byte, then that byte together with the line end: the tokener sees the
                 * message's end and the whitespace after it in one call. */
                assert(peer_write(&f, msg, size - 1));
                drain(&f);
                (void) peer_write(&f, msg + size - 1, 3);
        } else
                (void) peer_write(&f, msg, size + 2);

        if (size <= QMP_MESSAGE_MAX) {
                RUN_UNTIL(&f, f.n_events > 0);
                assert_int(
                        strlen(f.events[0]),
                        strlen("BIG {\"pad\":\"\"}") + size - strlen(head) - strlen(tail));
                drain(&f);
                assert_int(f.n_disconnect, 0);
                assert_int(r.n_calls, 0);
        } else {
                RUN_UNTIL(&f, f.n_disconnect > 0);
                assert_int(f.disconnect_error, -EMSGSIZE);
                assert_streq(f.disconnect_message, "QMP message exceeds the size limit of 1048576 bytes");
                assert_int(f.n_events, 0);
                assert_int(r.n_calls, 1);
                assert_streq(r.error_class, "Disconnected");
        }

        free(msg);
        reply_done(&r);
        fixture_done(&f);
}

static void test_size_limit(void) {
        test_size_limit_one(QMP_MESSAGE_MAX, false);
        test_size_limit_one(QMP_MESSAGE_MAX, true);
        test_size_limit_one(QMP_MESSAGE_MAX + 1, false);
        test_size_limit_one(QMP_MESSAGE_MAX + 1, true);
        test_size_limit_one(4 * QMP_MESSAGE_MAX, false);
}

static void test_free_in_disconnect(void) {
        Fixture f;
        Reply r1 = { .fixture = &f }, r2 = { .fixture = &f };

        fixture_init(&f);
        handshake(&f);
        f.free_on_disconnect = true;
        assert(qmp_send(f.client, "a", NULL, on_reply, &r1) >= 0);
        assert(qmp_send(f.client, "b", NULL, on_reply, &r2) >= 0);
        drain(&f);
        /* A protocol error followed by more input in the same write, then EOF. */
        peer_send(&f, "[]\r\n{\"event\": \"STOP\"}\r\n");
        f.peer = safe_close(f.peer);
        f.peer_source = sd_event_source_disable_unref(f.peer_source);
        RUN_UNTIL(&f, !f.client);
        drain(&f);
        assert_int(f.n_disconnect, 1);
        assert_int(f.n_events, 0);
        assert_streq(f.disconnect_message, "QMP reply is not a JSON object");
        assert_int(r1.n_calls, 1);
        assert_int(r2.n_calls, 1);
        assert(r1.seq < r2.seq);

        reply_done(&r1);
        reply_done(&r2);
        fixture_done(&f);
}

/* A reply handler frees the client while more messages wait in the same read: none of them is dispatched. */
static void test_free_in_reply(void) {
        Fixture f;
        Reply r1 = { .fixture = &f, .free_client = true }, r2 = { .fixture = &f };
        char buf[256];
        int64_t id1, id2;

        fixture_init(&f);
        handshake(&f);
        assert(qmp_send(f.client, "a", NULL, on_reply, &r1) >= 0);
        assert(qmp_send(f.client, "b", NULL, on_reply, &r2) >= 0);
        id1 = peer_expect(&f, "a", NULL);
        id2 = peer_expect(&f, "b", NULL);
        (void) snprintf(
                buf,
                sizeof(buf),
                "{\"return\": {}, \"id\": %" PRIi64 "}{\"event\": \"STOP\"}"
                "{\"return\": {}, \"id\": %" PRIi64 "}\r\n",
                id1,
                id2);
        peer_send(&f, buf);
        RUN_UNTIL(&f, !f.client);
        RUN_UNTIL(&f, f.peer_eof);
        drain(&f);
        assert_int(r1.n_calls, 1);
        assert_int(r2.n_calls, 0); /* free drops pending replies without calling them */
        assert_int(f.n_events, 0);
        assert_int(f.n_disconnect, 0);

        reply_done(&r1);
        reply_done(&r2);
        fixture_done(&f);
}

/* A "Disconnected" reply handler frees the client: later pending replies and the disconnect handler are
 * not called. Also freeing from an event handler. */
static void test_free_in_disconnected_reply(void) {
        Fixture f;
        Reply r1 = { .fixture = &f, .free_client = true }, r2 = { .fixture = &f };

        fixture_init(&f);
        handshake(&f);
        assert(qmp_send(f.client, "a", NULL, on_reply, &r1) >= 0);
        assert(qmp_send(f.client, "b", NULL, on_reply, &r2) >= 0);
        assert(shutdown(f.peer, SHUT_WR) >= 0);
        RUN_UNTIL(&f, !f.client);
        drain(&f);
        assert_int(r1.n_calls, 1);
        assert_streq(r1.error_class, "Disconnected");
        assert_streq(r1.error_desc, "connection closed");
        assert_int(r2.n_calls, 0);
        assert_int(f.n_disconnect, 0);
        reply_done(&r1);
        reply_done(&r2);
        fixture_done(&f);

        fixture_init(&f);
        handshake(&f);
        f.free_on_event = true;
        peer_send(&f, "{\"event\": \"STOP\"}{\"event\": \"RESUME\"}");
        assert(shutdown(f.peer, SHUT_WR) >= 0);
        RUN_UNTIL(&f, !f.client);
        drain(&f);
        assert_int(f.n_events, 1);
        assert_int(f.n_disconnect, 0);
        fixture_done(&f);

        /* Freed before the greeting was even read. */
        fixture_init(&f);
        peer_send(&f, GREETING);
        f.client = qmp_client_free(f.client);
        drain(&f);
        RUN_UNTIL(&f, f.peer_eof);
        assert_int(f.n_ready, 0);
        fixture_done(&f);
}

static void test_busy(void) {
        Fixture f;
        Reply replies[QMP_PENDING_MAX + 1] = {}, extra = { .fixture = &f };
        int64_t first;

        fixture_init(&f);
        handshake(&f);
        for (size_t i = 0; i < QMP_PENDING_MAX; i++) {
                replies[i].fixture = &f;
                assert(qmp_send(f.client, "query-status", NULL, on_reply, &replies[i]) >= 0);
        }
        replies[QMP_PENDING_MAX].fixture = &f;
        assert_int(qmp_send(f.client, "query-status", NULL, on_reply, &replies[QMP_PENDING_MAX]), -EBUSY);

        /* One reply frees a slot. */
        first = peer_expect(&f, "query-status", NULL);
        peer_reply(&f, first, "{}");
        RUN_UNTIL(&f, replies[0].n_calls > 0);
        assert(qmp_send(f.client, "query-status", NULL, on_reply, &replies[QMP_PENDING_MAX]) >= 0);
        assert_int(qmp_send(f.client, "query-status", NULL, on_reply, &extra), -EBUSY);

        /* Closing fails all of them, in the order they were sent. */
        assert(shutdown(f.peer, SHUT_WR) >= 0);
        RUN_UNTIL(&f, f.n_disconnect > 0);
        assert_int(replies[0].n_calls, 1);
        assert(replies[0].result);
        for (size_t i = 1; i <= QMP_PENDING_MAX; i++) {
                assert_int(replies[i].n_calls, 1);
                assert_streq(replies[i].error_class, "Disconnected");
                assert(replies[i].seq > replies[i - 1].seq);
        }
        assert_int(extra.n_calls, 0);

        for (size_t i = 0; i <= QMP_PENDING_MAX; i++)
                reply_done(&replies[i]);
        fixture_done(&f);
}

/* More output than the socket holds: the client keeps it queued without blocking or spinning, and all of it
 * arrives intact once the peer reads. */
static void test_big_output(void) {
        enum { N = QMP_PENDING_MAX, PAD = 16 * 1024 };
        Fixture f;
        Reply replies[N] = {};
        int sndbuf = 4096, pair[2];
        char *pad;
        int64_t ids[N];

        /* A small socket buffer on the client's side makes partial writes certain. */
        f = (Fixture){};
        assert(sd_event_new(&f.event) >= 0);
        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) >= 0);
        assert(setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) >= 0);
        assert(qmp_client_new(f.event, pair[0], &f.client) >= 0);
        qmp_client_set_handlers(f.client, on_ready, on_event, on_disconnect, &f);
        f.peer = pair[1];
        assert(fd_nonblock(f.peer, true) >= 0);
        assert(sd_event_add_io(f.event, &f.peer_source, f.peer, EPOLLIN, on_peer_io, &f) >= 0);
        handshake(&f);

        pad = malloc(PAD + 1);
        assert(pad);
        assert(sd_event_source_set_enabled(f.peer_source, SD_EVENT_OFF) >= 0);
        for (size_t i = 0; i < N; i++) {
                json_object *args = json_object_new_object();

                memset(pad, 'a' + i % 26, PAD);
                pad[PAD] = 0;
                json_object_object_add(args, "index", json_object_new_int64(i));
                json_object_object_add(args, "pad", json_object_new_string(pad));
                replies[i].fixture = &f;
                assert(qmp_send(f.client, "big", args, on_reply, &replies[i]) >= 0);
        }
        /* The loop goes idle although output is queued: the client waits for EPOLLOUT, no busy loop. */
        drain(&f);
        assert_int(f.in_size, 0);

        assert(sd_event_source_set_enabled(f.peer_source, SD_EVENT_ON) >= 0);
        for (size_t i = 0; i < N; i++) {
                json_object *args, *v;

                ids[i] = peer_expect(&f, "big", &args);
                assert(json_object_object_get_ex(args, "index", &v));
                assert_int(json_object_get_int64(v), i);
                assert(json_object_object_get_ex(args, "pad", &v));
                assert_int(json_object_get_string_len(v), PAD);
                memset(pad, 'a' + i % 26, PAD);
                assert(memcmp(json_object_get_string(v), pad, PAD) == 0);
                json_object_put(args);
        }
        assert_int(f.in_size, 0);

        for (size_t i = N; i > 0; i--) {
                char result[64];

                (void) snprintf(result, sizeof(result), "{\"n\": %zu}", i - 1);
                peer_reply(&f, ids[i - 1], result);
        }
        RUN_UNTIL(&f, replies[0].n_calls > 0);
        for (size_t i = 0; i < N; i++) {
                char result[64];

                (void) snprintf(result, sizeof(result), "{\"n\":%zu}", i);
                assert_int(replies[i].n_calls, 1);
                assert_streq(replies[i].result, result);
                reply_done(&replies[i]);
        }
        assert_int(f.n_disconnect, 0);

        free(pad);
        fixture_done(&f);
}

/* qmp_client_new() leaves the fd with the caller on failure, and rejects a bad fd. */
static void test_new(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        QmpClient *c = NULL;

        assert(sd_event_new(&e) >= 0);
        assert_int(qmp_client_new(e, -EBADF, &c), -EBADF);
        assert(!c);
        assert(qmp_client_free(NULL) == NULL);
}

int main(void) {
        test_parse_valid();
        test_parse_invalid();
        test_new();
        test_handshake_and_command();
        test_out_of_order();
        test_events();
        test_drain();
        test_fragmented();
        test_coalesced();
        test_bad_input();
        test_size_limit();
        test_free_in_disconnect();
        test_free_in_reply();
        test_free_in_disconnected_reply();
        test_busy();
        test_big_output();
        return 0;
}
