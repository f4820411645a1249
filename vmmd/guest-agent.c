/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host side of the guest agent protocol: line framing, parsing and non-blocking writes. */
#include <sys/socket.h>

#include "guest-agent.h"
#include "names.h"

/* A guest that floods the channel is not heard for the rest of the second: what it says goes on the bus. */
#define AGENT_LINES_PER_SEC 50
/* Commands that may wait for their answers at once: well below the rate above, so that none is lost. */
#define AGENT_CALLS_MAX 32

typedef struct AgentCall {
        agent_reply_t cb; /* NULL: nobody waits for the answer */
        void *userdata;
        bool ping; /* only a PONG answers it, and a PONG answers nothing else */
} AgentCall;

struct AgentClient {
        sd_event_source *io;
        int fd;
        AgentHandlers handlers;
        void *userdata;
        bool ready;
        char *expected_pong;  /* after agent_client_reconnect(): only this PONG (or READY) means ready */
        bool discarding;      /* inside an over-long line: skip to its end */
        uint64_t window_usec; /* the current second of the rate limit, and the lines heard in it */
        unsigned lines_in_window;
        char in[AGENT_LINE_MAX + 1];
        size_t n_in;
        char *out;
        size_t n_out;
        /* The answers owed, in the order the commands went out: the agent answers every line in order. */
        AgentCall *calls;
        size_t n_calls;
};

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!*s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int agent_reply_parse(char *line, AgentReply *ret) {
        AgentReply r = {};
        char *arg;

        /* Whatever a guest says may reach the bus: printable UTF-8 only, or nothing of the line. */
        if (!utf8_is_valid(line))
                return -EBADMSG;
        for (const char *c = line; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return -EBADMSG;
        arg = strchr(line, ' ');

        if (arg)
                *arg++ = 0;
        if (streq(line, "READY"))
                r.type = AGENT_REPLY_READY;
        else if (streq(line, "PONG"))
                r.type = AGENT_REPLY_PONG;
        else if (streq(line, "OK"))
                r.type = AGENT_REPLY_OK;
        else if (streq(line, "ERR"))
                r.type = AGENT_REPLY_ERR;
        else if (streq(line, "BOOTID")) {
                /* A UUID as the kernel prints it: 8-4-4-4-12 lowercase hex digits. */
                r.type = AGENT_REPLY_BOOTID;
                if (!arg || strlen(arg) != 36)
                        return -EBADMSG;
                for (size_t i = 0; i < 36; i++)
                        if (IN_SET(i, 8, 13, 18, 23) ? arg[i] != '-' :
                                                       !strchr("0123456789abcdef", arg[i]) || !arg[i])
                                return -EBADMSG;
        } else if (streq(line, "MEMINFO")) {
                bool have[3] = {};

                r.type = AGENT_REPLY_MEMINFO;
                if (!arg)
                        return -EBADMSG;
                for (char *tok, *save = NULL, *p = arg; (tok = strtok_r(p, " ", &save)); p = NULL) {
                        static const char *const keys[3] = { "total_kib=", "free_kib=", "available_kib=" };
                        uint64_t *fields[3] = { &r.total_kib, &r.free_kib, &r.available_kib };
                        size_t i;

                        for (i = 0; i < 3; i++)
                                if (strncmp(tok, keys[i], strlen(keys[i])) == 0)
                                        break;
                        if (i == 3) /* unknown fields are for newer hosts */
                                continue;
                        if (parse_u64(tok + strlen(keys[i]), fields[i]) < 0)
                                return -EBADMSG;
                        have[i] = true;
                }
                if (!have[0] || !have[1] || !have[2])
                        return -EBADMSG;
                arg = NULL;
        } else if (strv_contains(
                           (char *const *) STRV_MAKE(
                                   "CLOCK", "HOSTNAME", "MACHINEID", "RANDOM", "MEMTEST", "INPUT"),
                           line)) {
                /* What the guest says of itself: the caller checks the value. */
                r.type = AGENT_REPLY_VALUE;
                if (!arg)
                        return -EBADMSG;
        } else
                return -EBADMSG;

        r.word = line;
        r.arg = arg ?: "";
        *ret = r;
        return 0;
}

/* The answers still owed will never come: each caller hears error. */
static void agent_fail_calls(AgentClient *a, int error) {
        AgentCall *calls = TAKE_PTR(a->calls);
        size_t n = a->n_calls;

        a->n_calls = 0;
        for (size_t i = 0; i < n; i++)
                if (calls[i].cb)
                        calls[i].cb(a, error, NULL, calls[i].userdata);
        free(calls);
}

/* The answer to the oldest command: reply, or NULL with error for a line that was no answer at all. */
static void agent_answer(AgentClient *a, int error, const AgentReply *reply) {
        AgentCall c;

        if (a->n_calls == 0)
                return; /* an answer nobody asked for: the guest's business */
        c = a->calls[0];
        memmove(a->calls, a->calls + 1, (a->n_calls - 1) * sizeof(AgentCall));
        a->n_calls--;
        if (c.cb)
                c.cb(a, error, reply, c.userdata);
}

static void agent_disconnect(AgentClient *a, int error, const char *message) {
        a->io = sd_event_source_disable_unref(a->io);
        a->fd = safe_close(a->fd);
        agent_fail_calls(a, -ECONNRESET);
        if (a->handlers.disconnect)
                a->handlers.disconnect(a, error, message, a->userdata);
}

static int agent_flush(AgentClient *a) {
        while (a->n_out > 0) {
                ssize_t k = send(a->fd, a->out, a->n_out, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                memmove(a->out, a->out + k, a->n_out - k);
                a->n_out -= k;
        }
        return sd_event_source_set_io_events(a->io, EPOLLIN | (a->n_out > 0 ? EPOLLOUT : 0));
}

static void agent_dispatch_line(AgentClient *a, char *line) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        AgentReply r;

        if (now - a->window_usec >= USEC_PER_SEC) {
                a->window_usec = now;
                a->lines_in_window = 0;
        }
        if (++a->lines_in_window > AGENT_LINES_PER_SEC)
                return;

        if (agent_reply_parse(line, &r) < 0) {
                /* A guest cannot hurt us with garbage: it is no answer, and goes nowhere else. */
                if (a->ready)
                        agent_answer(a, -EBADMSG, NULL);
                return;
        }
        switch (r.type) {
        case AGENT_REPLY_READY:
                /* The agent (re)started its side: whatever it was asked before is dropped. */
                agent_fail_calls(a, -ECONNRESET);
                a->ready = true;
                a->expected_pong = mfree(a->expected_pong);
                if (a->handlers.ready)
                        a->handlers.ready(a, r.arg, a->userdata);
                return;
        case AGENT_REPLY_PONG:
                /* A host that connects to a running guest pings it: the answer means ready too. An
                 * answer the replaced guest still owed is not that answer. */
                if (!a->ready && (!a->expected_pong || streq(r.arg, a->expected_pong))) {
                        a->ready = true;
                        a->expected_pong = mfree(a->expected_pong);
                        agent_answer(a, 0, &r); /* the PING, the only call left */
                        if (a->handlers.ready)
                                a->handlers.ready(a, NULL, a->userdata);
                        return;
                }
                break;
        case AGENT_REPLY_BOOTID:
                if (a->handlers.boot_id && a->ready)
                        a->handlers.boot_id(a, r.arg, a->userdata);
                break;
        case AGENT_REPLY_MEMINFO:
                if (a->handlers.meminfo && a->ready)
                        a->handlers.meminfo(a, r.total_kib, r.free_kib, r.available_kib, a->userdata);
                break;
        default:
                break;
        }
        /* Until the guest said it is there, lines are the old guest's: answers to nothing asked now. A PONG
         * that no PING waits for answered one that a READY (the agent started over) made void. */
        if (a->ready && (r.type == AGENT_REPLY_PONG) == (a->n_calls > 0 && a->calls[0].ping))
                agent_answer(a, 0, &r);
        else if (a->ready && r.type != AGENT_REPLY_PONG)
                agent_answer(a, -EBADMSG, NULL); /* a PING's answer must be a PONG */
}

static int agent_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        AgentClient *a = userdata;
        char buf[1024];
        ssize_t k;
        int r;

        if (revents & EPOLLOUT) {
                r = agent_flush(a);
                if (r < 0) {
                        agent_disconnect(a, r, "write to the guest agent failed");
                        return 0;
                }
        }
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;

        k = recv(a->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (k < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                agent_disconnect(a, -errno, "read from the guest agent failed");
                return 0;
        }
        if (k == 0) {
                agent_disconnect(a, -ECONNRESET, "connection closed");
                return 0;
        }
        /* The handlers and reply callbacks never free the client (its owner does that only from the
         * disconnect handler, which this loop does not call), so going on after them is safe. */
        for (ssize_t i = 0; i < k; i++) {
                char c = buf[i];

                if (c == '\n') {
                        if (!a->discarding) {
                                if (a->n_in > 0 && a->in[a->n_in - 1] == '\r')
                                        a->n_in--;
                                a->in[a->n_in] = 0;
                                agent_dispatch_line(a, a->in);
                        }
                        a->n_in = 0;
                        a->discarding = false;
                } else if (!a->discarding) {
                        if (a->n_in >= AGENT_LINE_MAX) {
                                a->discarding = true;
                                a->n_in = 0;
                        } else
                                a->in[a->n_in++] = c;
                }
        }
        return 0;
}

int agent_client_new(sd_event *e, int fd, const AgentHandlers *h, void *userdata, AgentClient **ret) {
        AgentClient *a;
        int r;

        a = calloc(1, sizeof(AgentClient));
        if (!a)
                return -ENOMEM;
        a->fd = -EBADF;
        r = sd_event_add_io(e, &a->io, fd, EPOLLIN, agent_io, a);
        if (r < 0) {
                free(a);
                return r;
        }
        (void) sd_event_source_set_description(a->io, "guest-agent");
        a->fd = fd;
        a->handlers = *h;
        a->userdata = userdata;
        *ret = a;
        return 0;
}

AgentClient *agent_client_free(AgentClient *a) {
        if (!a)
                return NULL;
        sd_event_source_disable_unref(a->io);
        a->io = NULL;
        a->fd = safe_close(a->fd);
        agent_fail_calls(a, -ECONNRESET);
        free(a->out);
        free(a->expected_pong);
        free(a);
        return NULL;
}

bool agent_client_is_ready(const AgentClient *a) {
        return a && a->ready && a->fd >= 0;
}

bool agent_client_idle(const AgentClient *a) {
        return a && a->n_calls == 0;
}

int agent_client_reconnect(AgentClient *a, const char *token) {
        _cleanup_free_ char *line = NULL;
        int r;

        if (asprintf(&line, "PING %s", token) < 0)
                return -ENOMEM;
        r = free_and_strdup(&a->expected_pong, token);
        if (r < 0)
                return r;
        /* The guest that owed the answers is gone. */
        agent_fail_calls(a, -ECONNRESET);
        a->ready = false;
        return agent_client_send(a, line);
}

int agent_client_send(AgentClient *a, const char *line) {
        return agent_client_call(a, line, NULL, NULL);
}

int agent_client_call(AgentClient *a, const char *line, agent_reply_t cb, void *userdata) {
        size_t n = strlen(line);
        AgentCall *calls;
        char *t;

        if (a->fd < 0)
                return -ENOTCONN;
        if (n >= AGENT_LINE_MAX || strchr(line, '\n'))
                return -EINVAL;
        if (a->n_out + n + 1 > 64 * 1024)
                return -ENOBUFS;
        if (a->n_calls >= AGENT_CALLS_MAX)
                return -EBUSY;
        t = realloc(a->out, a->n_out + n + 1);
        if (!t)
                return -ENOMEM;
        a->out = t;
        calls = reallocarray(a->calls, a->n_calls + 1, sizeof(AgentCall));
        if (!calls)
                return -ENOMEM;
        a->calls = calls;
        a->calls[a->n_calls++] = (AgentCall){ .cb = cb,
                                              .userdata = userdata,
                                              .ping = strncmp(line, "PING", 4) == 0 &&
                                                      IN_SET(line[4], 0, ' ') };
        memcpy(a->out + a->n_out, line, n);
        a->out[a->n_out + n] = '\n';
        a->n_out += n + 1;
        return agent_flush(a);
}
