/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QMP subset's server side, spoken to over a real socket as vmmd's client speaks it: greeting,
 * capabilities, commands with ids, errors by class, events, getfd with SCM_RIGHTS, and bad input. */
#include <assert.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "qmp-server.h"

typedef struct Test {
        sd_event *event;
        QmpServer *server;
        int client;
        char buf[65536];
        size_t n;
        int echo_calls;
} Test;

static int cmd_echo(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        Test *t = userdata;
        const char *text;
        int64_t times = 1;
        int r;

        t->echo_calls++;
        r = qmp_arg_string(args, "text", true, &text, err);
        if (r >= 0)
                r = qmp_arg_int(args, "times", false, &times, err);
        if (r < 0)
                return r;
        *ret = json_object_new_object();
        (void) json_object_object_add(*ret, "text", json_object_new_string(text));
        (void) json_object_object_add(*ret, "times", json_object_new_int64(times));
        return 0;
}

static int cmd_fail(QmpServer *s, json_object *args, json_object **ret, QmpError *err, void *userdata) {
        return -EIO; /* no class set: the server says which command failed and why */
}

static const QmpCommand commands[] = {
        { "echo", cmd_echo },
        { "fail", cmd_fail },
        {},
};

/* Runs the server's loop until the client has a whole line, and returns it parsed. */
static json_object *next(Test *t) {
        for (;;) {
                char *nl = memchr(t->buf, '\n', t->n);

                if (nl) {
                        size_t l = (size_t) (nl - t->buf) + 1;
                        json_object *o;

                        assert(l >= 2 && t->buf[l - 2] == '\r'); /* QEMU ends lines with \r\n */
                        t->buf[l - 1] = '\0';
                        o = json_tokener_parse(t->buf);
                        assert(o);
                        memmove(t->buf, t->buf + l, t->n - l);
                        t->n -= l;
                        return o;
                }
                assert(sd_event_run(t->event, 1000 * 1000) >= 0);
                ssize_t k = recv(t->client, t->buf + t->n, sizeof(t->buf) - t->n, MSG_DONTWAIT);
                if (k == 0)
                        return NULL;
                if (k > 0)
                        t->n += (size_t) k;
        }
}

static void send_text(Test *t, const char *text) {
        assert(send(t->client, text, strlen(text), MSG_NOSIGNAL) == (ssize_t) strlen(text));
}

static const char *get_str(json_object *o, const char *path1, const char *path2) {
        json_object *v;

        if (!json_object_object_get_ex(o, path1, &v))
                return NULL;
        if (path2 && !json_object_object_get_ex(v, path2, &v))
                return NULL;
        return json_object_get_string(v);
}

static void expect_error(Test *t, const char *cls, const char *desc_part) {
        json_object *o = next(t);

        assert(o);
        assert(streq_ptr(get_str(o, "error", "class"), cls));
        assert(strstr(get_str(o, "error", "desc"), desc_part));
        json_object_put(o);
}

static void expect_return(Test *t, const char *id, const char *expected_json) {
        json_object *o = next(t), *ret;

        assert(o);
        assert(json_object_object_get_ex(o, "return", &ret));
        if (expected_json &&
            !streq(json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN), expected_json)) {
                fprintf(stderr,
                        "got %s, expected %s\n",
                        json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN),
                        expected_json);
                assert(false);
        }
        assert(streq_ptr(get_str(o, "id", NULL), id));
        json_object_put(o);
}

static void connect_client(Test *t, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        strcpy(sa.sun_path, path);
        t->client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(t->client >= 0);
        assert(connect(t->client, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        t->n = 0;
}

static void test_session(void) {
        char dir[] = "/tmp/test-qmp-server-XXXXXX", path[64];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        Test t = {};
        json_object *o;
        int listen_fd;

        assert(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/qmp", dir);
        strcpy(sa.sun_path, path);
        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(listen_fd >= 0);
        assert(bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 && listen(listen_fd, 2) == 0);
        assert(sd_event_new(&t.event) >= 0);
        assert(qmp_server_new(t.event, listen_fd, "test 1.0", commands, &t, &t.server) >= 0);

        /* Greeting first, as QEMU's. */
        connect_client(&t, path);
        o = next(&t);
        assert(o && streq_ptr(get_str(o, "QMP", "version"), NULL) == false);
        json_object *qmp, *version, *caps;
        assert(json_object_object_get_ex(o, "QMP", &qmp));
        assert(json_object_object_get_ex(qmp, "version", &version));
        assert(streq_ptr(get_str(version, "package", NULL), "test 1.0"));
        assert(json_object_object_get_ex(qmp, "capabilities", &caps) &&
               json_object_is_type(caps, json_type_array));
        json_object_put(o);

        /* Events wait for the negotiation; commands are refused before it. */
        qmp_server_event(t.server, "EARLY", NULL);
        send_text(&t, "{\"execute\": \"echo\", \"arguments\": {\"text\": \"x\"}}\n");
        expect_error(&t, "CommandNotFound", "qmp_capabilities");
        assert(t.echo_calls == 0);
        send_text(&t, "{\"execute\": \"qmp_capabilities\", \"id\": \"c\"}\n");
        expect_return(&t, "c", "{}");
        send_text(&t, "{\"execute\": \"qmp_capabilities\"}\n");
        expect_error(&t, "CommandNotFound", "already complete");

        /* Commands, ids echoed, arguments checked by type; two in one write, and one split across writes. */
        send_text(
                &t,
                "{\"execute\": \"echo\", \"arguments\": {\"text\": \"hi\", \"times\": 3}, \"id\": \"a\"}"
                "{\"execute\": \"echo\", \"arguments\": {\"text\": \"\\u00e9\"}, \"id\": \"b\"}\r\n");
        expect_return(&t, "a", "{\"text\":\"hi\",\"times\":3}");
        expect_return(&t, "b", "{\"text\":\"\xc3\xa9\",\"times\":1}"); /* UTF-8, as sent */
        send_text(&t, "{\"execute\": \"ec");
        assert(sd_event_run(t.event, 10000) >= 0);
        send_text(&t, "ho\", \"arguments\": {\"text\": \"split\"}, \"id\": 7}\n");
        o = next(&t);
        assert(o && json_object_get_int(json_object_object_get(o, "id")) == 7);
        json_object_put(o);

        send_text(&t, "{\"execute\": \"echo\", \"arguments\": {\"text\": 5}}\n");
        expect_error(&t, "GenericError", "'text'");
        send_text(&t, "{\"execute\": \"echo\"}\n");
        expect_error(&t, "GenericError", "'text' is missing");
        send_text(&t, "{\"execute\": \"echo\", \"arguments\": [1]}\n");
        expect_error(&t, "GenericError", "must be an object");
        send_text(&t, "{\"execute\": \"nope\", \"id\": 1}\n");
        expect_error(&t, "CommandNotFound", "nope");
        send_text(&t, "{\"execute\": \"fail\"}\n");
        expect_error(&t, "GenericError", "fail failed");
        send_text(&t, "{\"exec\": \"echo\"}\n");
        expect_error(&t, "GenericError", "lacks member 'execute'");
        send_text(&t, "{\"execute\": \"echo\", \"extra\": 1}\n");
        expect_error(&t, "GenericError", "'extra' is unexpected");
        send_text(&t, "[1, 2]\n");
        expect_error(&t, "GenericError", "JSON object");
        /* Broken JSON: an error, then the next line is read as if nothing happened. */
        send_text(
                &t,
                "{\"execute\": nonsense}\n{\"execute\": \"echo\", \"arguments\": {\"text\": \"after\"}, \"id\": \"z\"}\n");
        expect_error(&t, "GenericError", "JSON parse error");
        expect_return(&t, "z", "{\"text\":\"after\",\"times\":1}");

        /* Events carry data and a timestamp. */
        json_object *data = json_object_new_object();
        (void) json_object_object_add(data, "reason", json_object_new_string("guest-reset"));
        qmp_server_event(t.server, "SHUTDOWN", data);
        o = next(&t);
        assert(streq_ptr(get_str(o, "event", NULL), "SHUTDOWN"));
        assert(streq_ptr(get_str(o, "data", "reason"), "guest-reset"));
        assert(get_str(o, "timestamp", "seconds"));
        json_object_put(o);

        /* getfd: the fd that came with the command, under its name, once. */
        int p[2];
        assert(pipe2(p, O_CLOEXEC) == 0);
        const char *cmd = "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"state\"}, \"id\": \"g\"}\n";
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { (void *) cmd, strlen(cmd) };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)
        };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
        assert(sendmsg(t.client, &mh, MSG_NOSIGNAL) == (ssize_t) strlen(cmd));
        expect_return(&t, "g", "{}");
        int fd = qmp_server_take_fd(t.server, "state");
        assert(fd >= 0);
        assert(write(fd, "x", 1) == 1);
        char c;
        assert(read(p[0], &c, 1) == 1 && c == 'x');
        assert(qmp_server_take_fd(t.server, "state") == -ENOENT);
        safe_close(fd);
        safe_close(p[0]);
        safe_close(p[1]);
        send_text(&t, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"nofd\"}}\n");
        expect_error(&t, "GenericError", "No file descriptor");

        /* A request longer than the limit ends the connection; the next client is served from the start. */
        size_t big = QMP_SERVER_MESSAGE_MAX + 4096;
        char *huge = malloc(big + 1);
        assert(huge);
        const char *prefix = "{\"execute\": \"echo\", \"arguments\": {\"text\": \"";
        memset(huge, 'a', big);
        memcpy(huge, prefix, strlen(prefix));
        huge[big] = '\0';
        /* Written as the socket takes it, while the server reads: it hangs up once the limit is passed. */
        for (size_t sent = 0;;) {
                char tmp[256];
                ssize_t k;

                if (sent < big) {
                        k = send(t.client, huge + sent, big - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (k > 0)
                                sent += (size_t) k;
                        else if (errno == EPIPE || errno == ECONNRESET)
                                break;
                }
                assert(sd_event_run(t.event, 100 * 1000) >= 0);
                k = recv(t.client, tmp, sizeof(tmp), MSG_DONTWAIT);
                if (k == 0 || (k < 0 && errno == ECONNRESET))
                        break;
                assert(sent < big || k < 0); /* it must not read all of it and answer */
        }
        free(huge);
        safe_close(t.client);
        connect_client(&t, path);
        o = next(&t);
        assert(o && json_object_object_get_ex(o, "QMP", NULL));
        json_object_put(o);

        qmp_server_free(t.server);
        sd_event_unref(t.event);
        safe_close(t.client);
        (void) unlink(path);
        (void) rmdir(dir);
}

int main(void) {
        test_session();
        return 0;
}
