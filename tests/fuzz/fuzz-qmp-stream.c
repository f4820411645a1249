/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes a real QmpClient on sd-event: the input is what "QEMU" writes to the other end of a socketpair.
 *
 * The first byte chooses how the run goes, the rest is the stream:
 *   bit 0      close our end after the stream (the client must then report the disconnect)
 *   bit 1      free the client from inside the first event handler
 *   bit 2      free the client from inside its disconnect handler (what vmmd does)
 *   bits 3..7  where the stream is split into two writes, in 31sts of its length
 * The harness answers nothing: the replies are in the input. Once ready it sends query-status (id 2) and
 * query-name (id 3), and cont (id 4) when query-status succeeds; qmp_capabilities is id 1. */
#include <sys/socket.h>

#include "fuzz.h"
#include "qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_COMMANDS 3

typedef struct Run Run;

typedef struct Command {
        Run *run;
        unsigned index;
        unsigned n_replies;
} Command;

struct Run {
        sd_event *event;
        QmpClient *client;
        int peer;
        bool free_on_event, free_on_disconnect;
        bool freed; /* the harness freed the client: none of its handlers may run any more */

        unsigned n_ready, n_disconnect, n_events;
        Command commands[N_COMMANDS];
        const char *sent[N_COMMANDS]; /* commands queued, in order */
        unsigned n_sent;

        char *out; /* what the client wrote, up to the last line not yet checked */
        size_t n_out;
        unsigned n_out_lines;
};

static const char *const command_names[N_COMMANDS] = { "query-status", "query-name", "cont" };

/* No handler runs once the client has reported its disconnect or was freed. */
static void check_alive(Run *run, QmpClient *c, const char *handler) {
        fuzz_check(!run->freed, "%s handler after qmp_client_free()", handler);
        fuzz_check(run->n_disconnect == 0, "%s handler after the disconnect handler", handler);
        fuzz_check(c == run->client);
}

static void on_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata);

static void send_command(Run *run, unsigned index) {
        int r;

        r = qmp_send(run->client, command_names[index], NULL, on_reply, &run->commands[index]);
        fuzz_check(r == 0, "qmp_send(%s) on a ready client: %d", command_names[index], r);
        run->sent[run->n_sent++] = command_names[index];
}

static void on_ready(QmpClient *c, void *userdata) {
        Run *run = userdata;

        check_alive(run, c, "ready");
        fuzz_check(++run->n_ready == 1, "ready twice");
        fuzz_check(run->n_sent == 0);
        send_command(run, 0);
        send_command(run, 1);
}

static void on_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        Command *cmd = userdata;
        Run *run = cmd->run;

        check_alive(run, c, "reply");
        fuzz_check(run->n_ready == 1, "reply before ready");
        fuzz_check(++cmd->n_replies == 1, "%s answered twice", command_names[cmd->index]);
        if (error_class) {
                fuzz_check(!result && error_desc, "error reply with a result or without a description");
                if (streq(error_class, "Disconnected")) {
                        /* Pending replies come first, then the disconnect handler. */
                        fuzz_check(qmp_send(c, "query-status", NULL, on_reply, cmd) == -ENOTCONN);
                        return;
                }
        } else
                fuzz_check(!error_desc, "success with an error description");

        if (cmd->index == 0 && !error_class)
                send_command(run, 2); /* from inside a reply handler */
}

static void on_event(QmpClient *c, const char *event, json_object *data, void *userdata) {
        Run *run = userdata;

        check_alive(run, c, "event");
        fuzz_check(!isempty(event));
        fuzz_check(!data || json_object_is_type(data, json_type_object));
        run->n_events++;

        if (run->free_on_event) {
                run->client = qmp_client_free(c);
                run->freed = true;
        }
}

static void on_disconnect(QmpClient *c, int error, const char *message, void *userdata) {
        Run *run = userdata;

        check_alive(run, c, "disconnect");
        run->n_disconnect++;
        fuzz_check(error < 0, "error %d", error);
        fuzz_check(!isempty(message));
        fuzz_check_text("disconnect message", message);
        /* Every command sent got exactly one reply before this. */
        for (unsigned i = 0; i < run->n_sent; i++)
                fuzz_check(
                        run->commands[i].n_replies == 1,
                        "%s: %u replies at disconnect",
                        command_names[i],
                        run->commands[i].n_replies);
        fuzz_check(qmp_send(c, "query-status", NULL, on_reply, &run->commands[0]) == -ENOTCONN);

        if (run->free_on_disconnect) {
                run->client = qmp_client_free(c);
                run->freed = true;
        }
}

/* Checks each complete line the client wrote: {"execute": ..., "id": n}, ids counting up from 1. */
static void check_output_line(Run *run, const char *line) {
        json_object *o, *v;
        const char *expected;
        unsigned n = run->n_out_lines++;

        o = json_tokener_parse(line);
        fuzz_check(json_object_is_type(o, json_type_object), "client wrote \"%s\"", line);
        fuzz_check(json_object_object_length(o) == 2, "client wrote \"%s\"", line);
        fuzz_check(
                json_object_object_get_ex(o, "id", &v) && json_object_is_type(v, json_type_int) &&
                        json_object_get_int64(v) == (int64_t) n + 1,
                "line %u: \"%s\"",
                n,
                line);
        if (n == 0)
                expected = "qmp_capabilities";
        else {
                fuzz_check(n - 1 < run->n_sent, "client wrote an extra command: \"%s\"", line);
                expected = run->sent[n - 1];
        }
        fuzz_check(
                json_object_object_get_ex(o, "execute", &v) && json_object_is_type(v, json_type_string) &&
                        streq(json_object_get_string(v), expected),
                "line %u: \"%s\", expected %s",
                n,
                line,
                expected);
        json_object_put(o);
}

static void drain_peer(Run *run) {
        char buf[4096];

        for (;;) {
                ssize_t n = recv(run->peer, buf, sizeof(buf), MSG_DONTWAIT);
                char *nl;

                if (n < 0) {
                        fuzz_check(IN_SET(errno, EAGAIN, ECONNRESET), "recv: %m");
                        return;
                }
                if (n == 0)
                        return;
                run->out = realloc(run->out, run->n_out + (size_t) n + 1);
                fuzz_check(run->out);
                memcpy(run->out + run->n_out, buf, (size_t) n);
                run->n_out += (size_t) n;
                run->out[run->n_out] = 0;

                while ((nl = memchr(run->out, '\n', run->n_out))) {
                        *nl = 0;
                        check_output_line(run, run->out);
                        run->n_out -= (size_t) (nl + 1 - run->out);
                        memmove(run->out, nl + 1, run->n_out + 1);
                }
        }
}

/* Dispatches until nothing is pending: never waits. */
static void run_until_idle(Run *run) {
        for (;;) {
                int r = sd_event_run(run->event, 0);

                fuzz_check(r >= 0, "sd_event_run: %d", r);
                drain_peer(run);
                if (r == 0)
                        return;
        }
}

static void feed(Run *run, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(run->peer, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);

                if (k < 0) {
                        if (IN_SET(errno, EPIPE, ECONNRESET)) {
                                /* Only a client that closed its end makes this happen. */
                                fuzz_check(run->freed || run->n_disconnect == 1, "send: %m");
                                return;
                        }
                        fuzz_check(errno == EAGAIN, "send: %m");
                        /* The socket buffer is full: the client must make progress reading. */
                        run_until_idle(run);
                        continue;
                }
                p += k;
                n -= (size_t) k;
        }
        run_until_idle(run);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Run run = { .peer = -EBADF };
        bool close_at_end;
        size_t split;
        int fds[2], r;

        if (size < 1)
                return 0;
        close_at_end = data[0] & 1;
        run.free_on_event = data[0] & 2;
        run.free_on_disconnect = data[0] & 4;
        split = (size - 1) * (data[0] >> 3) / 31;
        data++, size--;

        for (unsigned i = 0; i < N_COMMANDS; i++)
                run.commands[i] = (Command){ .run = &run, .index = i };

        fuzz_check(sd_event_new(&run.event) >= 0);
        fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) >= 0, "socketpair: %m");
        run.peer = fds[1];
        r = qmp_client_new(run.event, fds[0], &run.client);
        fuzz_check(r >= 0, "qmp_client_new: %d", r);
        qmp_client_set_handlers(run.client, on_ready, on_event, on_disconnect, &run);

        feed(&run, data, split);
        feed(&run, data + split, size - split);

        if (close_at_end) {
                fuzz_check(shutdown(run.peer, SHUT_WR) >= 0, "shutdown: %m");
                run_until_idle(&run);
                /* End of stream always ends the client's connection, reported once. */
                fuzz_check(run.freed || run.n_disconnect == 1, "no disconnect after the peer closed");
        }
        fuzz_check(run.n_disconnect <= 1);
        for (unsigned i = 0; i < N_COMMANDS; i++)
                fuzz_check(run.commands[i].n_replies <= 1);

        run.client = qmp_client_free(run.client);
        safe_close(run.peer);
        /* Freeing closed the socket; nothing may be left to dispatch. */
        fuzz_check(sd_event_run(run.event, 0) == 0);
        sd_event_unref(run.event);
        free(run.out);
        return 0;
}
