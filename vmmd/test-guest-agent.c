/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parsing of the guest agent's lines on the host side; a guest cannot crash the parser. */
#include <assert.h>
#include <sys/socket.h>

#include "guest-agent.h"
#include "vm.h"

static int parse(const char *line, AgentReply *r) {
        static char buf[512];

        snprintf(buf, sizeof(buf), "%s", line);
        return agent_reply_parse(buf, r);
}

typedef struct Seen {
        unsigned n_ready;
        char boot_id[40];
} Seen;

static void on_ready(AgentClient *a, const char *version, void *userdata) {
        ((Seen *) userdata)->n_ready++;
}

static void on_boot_id(AgentClient *a, const char *boot_id, void *userdata) {
        snprintf(((Seen *) userdata)->boot_id, sizeof(((Seen *) userdata)->boot_id), "%s", boot_id);
}

/* Writes lines as the guest, then runs the loop until it has nothing more to do. */
static void guest_says(sd_event *e, int fd, const char *lines) {
        assert(write(fd, lines, strlen(lines)) == (ssize_t) strlen(lines));
        while (sd_event_run(e, 0) > 0)
                ;
}

/* A guest restored from a snapshot under a live connection: only the answer to the new PING counts as
 * its return, not an answer the old guest still owed. */
static void test_reconnect(void) {
        static const AgentHandlers h = { .ready = on_ready, .boot_id = on_boot_id };
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        AgentClient *a = NULL;
        Seen seen = {};
        char buf[64];
        int pair[2];
        ssize_t n;

        assert(sd_event_new(&e) >= 0);
        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) >= 0);
        assert(agent_client_new(e, pair[0], &h, &seen, &a) >= 0);

        guest_says(e, pair[1], "READY 0.2\nBOOTID 0f6b5a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b\n");
        assert(seen.n_ready == 1 && agent_client_is_ready(a));
        assert(streq(seen.boot_id, "0f6b5a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b"));

        assert(agent_client_reconnect(a, "restore-1") >= 0);
        assert(!agent_client_is_ready(a));
        n = read(pair[1], buf, sizeof(buf) - 1);
        assert(n > 0);
        buf[n] = 0;
        assert(streq(buf, "PING restore-1\n"));
        guest_says(e, pair[1], "PONG adopt\n");
        assert(seen.n_ready == 1 && !agent_client_is_ready(a));
        guest_says(e, pair[1], "PONG restore-1\n");
        assert(seen.n_ready == 2 && agent_client_is_ready(a));

        agent_client_free(a);
        safe_close(pair[1]);
}

typedef struct Answer {
        int error;
        char text[128]; /* "WORD arg" */
        unsigned n;
} Answer;

static void on_answer(AgentClient *a, int error, const AgentReply *reply, void *userdata) {
        Answer *x = userdata;

        x->n++;
        x->error = error;
        if (reply)
                snprintf(x->text, sizeof(x->text), "%s %s", reply->word, reply->arg);
}

/* Answers reach the commands they answer, by order; garbage answers a command with -EBADMSG, so the rest
 * stay matched; a READY (the agent restarted) or a lost connection fails what was still owed. */
static void test_calls(void) {
        static const AgentHandlers h = { .ready = on_ready };
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Answer x[5] = {};
        AgentClient *a = NULL;
        Seen seen = {};
        int pair[2];

        assert(sd_event_new(&e) >= 0);
        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) >= 0);
        assert(agent_client_new(e, pair[0], &h, &seen, &a) >= 0);
        guest_says(e, pair[1], "HOSTNAME early\nREADY 0.3\n");
        assert(seen.n_ready == 1);

        assert(agent_client_call(a, "HOSTNAME", on_answer, &x[0]) >= 0);
        assert(agent_client_send(a, "CLOCK 1.000000000") >= 0);
        assert(agent_client_call(a, "MACHINEID", on_answer, &x[1]) >= 0);
        assert(agent_client_call(a, "RANDOM", on_answer, &x[2]) >= 0);
        assert(agent_client_call(a, "CLOCK", on_answer, &x[3]) >= 0);
        guest_says(e, pair[1], "HOSTNAME vm-1\nOK CLOCK\nERR no machine-id\nRANDOM \x01\n");
        assert(x[0].n == 1 && x[0].error == 0 && streq(x[0].text, "HOSTNAME vm-1"));
        assert(x[1].n == 1 && x[1].error == 0 && streq(x[1].text, "ERR no machine-id"));
        assert(x[2].n == 1 && x[2].error == -EBADMSG);
        assert(x[3].n == 0);
        guest_says(e, pair[1], "READY 0.3\n");
        assert(x[3].n == 1 && x[3].error == -ECONNRESET && seen.n_ready == 2);

        /* A host that (re)connects pings; the agent may answer with READY (which voids the PING) and then
         * the PONG anyway: that late PONG answers nothing asked after the READY. */
        assert(agent_client_call(a, "PING adopt", on_answer, &x[3]) >= 0);
        guest_says(e, pair[1], "READY 0.3\n");
        assert(x[3].n == 2 && x[3].error == -ECONNRESET);
        assert(agent_client_call(a, "ENTROPY 00", on_answer, &x[0]) >= 0);
        guest_says(e, pair[1], "PONG adopt\nOK ENTROPY\n");
        assert(x[0].n == 2 && x[0].error == 0 && streq(x[0].text, "OK ENTROPY"));

        assert(agent_client_call(a, "HOSTNAME", on_answer, &x[4]) >= 0);
        safe_close(pair[1]);
        while (sd_event_run(e, 0) > 0)
                ;
        assert(x[4].n == 1 && x[4].error == -ECONNRESET);
        agent_client_free(a);
}

/* MEMTEST CHECK's answer is the guest's: taken only whole and consistent. */
static void test_memtest_parse(void) {
        MemTestResult r = { .units = 77 };

        assert(memtest_parse_check("units=1024 bad=0", &r) == 0 && r.units == 1024 && r.bad == 0 &&
               r.n_first == 0);
        assert(memtest_parse_check("units=1024 bad=2 first=5,3e8", &r) == 0);
        assert(r.bad == 2 && r.n_first == 2 && r.first[0] == 5 && r.first[1] == 1000);
        assert(memtest_parse_check("units=99 bad=13 first=0,1,2,3,4,5,6,7,8,9,a,b", &r) == 0 &&
               r.n_first == 12);
        r.units = 77;
        for (const char *const *bad = STRV_MAKE(
                     "",
                     "units=1",
                     "units=1 bad=2",           /* more bad than filled */
                     "units=4 bad=1",           /* a bad unit unnamed */
                     "units=4 bad=0 first=1",   /* a good one named */
                     "units=4 bad=2 first=1",   /* too few */
                     "units=4 bad=1 first=1,2", /* too many */
                     "units=4 bad=1 first=",    /* none */
                     "units=4 bad=1 first=x",   /* not hex */
                     "units=4 bad=1 first=1,",  /* trailing comma */
                     "units=4 bad=1 first=12345678901234567",
                     "units=99 bad=14 first=0,1,2,3,4,5,6,7,8,9,a,b,c",
                     "units=4 bad=0 extra",
                     "units=-1 bad=0");
             *bad;
             bad++)
                assert(memtest_parse_check(*bad, &r) == -EBADMSG && r.units == 77);
}

/* INPUT's answer is the guest's: it reaches the bus only in its form. */
static void test_input_answer(void) {
        assert(guest_input_valid("keys=9 text=48656c6c6f203432 taps=1 last=99,699"));
        assert(guest_input_valid("keys=0 text= taps=0 last=-1,-1"));
        for (const char *const *bad = STRV_MAKE(
                     "",
                     "keys=0",
                     "keys= text= taps=0 last=-1,-1",
                     "keys=9 text=486 taps=1 last=99,699",  /* half a byte */
                     "keys=0 text=4G taps=0 last=-1,-1",    /* not hex */
                     "keys=0 text=4A taps=0 last=-1,-1",    /* upper case */
                     "keys=0 text= taps=0 last=-1",         /* one coordinate */
                     "keys=0 text= taps=0 last=-1,-1 more", /* something after */
                     "keys=0  text= taps=0 last=-1,-1",     /* two spaces */
                     "keys=123456789012345678901 text= taps=0 last=0,0");
             *bad;
             bad++)
                assert(!guest_input_valid(*bad));
}

int main(void) {
        test_memtest_parse();
        test_input_answer();
        AgentReply r;

        test_reconnect();
        test_calls();
        assert(parse("CLOCK 12.000000001", &r) >= 0 && r.type == AGENT_REPLY_VALUE &&
               streq(r.word, "CLOCK") && streq(r.arg, "12.000000001"));
        assert(parse("RANDOM", &r) == -EBADMSG);
        assert(parse("BOOTID 0f6b5a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b", &r) >= 0 &&
               r.type == AGENT_REPLY_BOOTID && streq(r.arg, "0f6b5a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b"));
        assert(parse("BOOTID", &r) == -EBADMSG);
        assert(parse("BOOTID 0F6B5A4E-1C2D-4E3F-8A9B-0C1D2E3F4A5B", &r) == -EBADMSG);
        assert(parse("BOOTID 0f6b5a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5", &r) == -EBADMSG);
        assert(parse("BOOTID 0f6b5a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b0", &r) == -EBADMSG);
        assert(parse("BOOTID 0f6b5a4e11c2d-4e3f-8a9b-0c1d2e3f4a5b", &r) == -EBADMSG);

        assert(parse("READY 0.1", &r) >= 0 && r.type == AGENT_REPLY_READY && streq(r.arg, "0.1"));
        assert(parse("READY", &r) >= 0 && r.type == AGENT_REPLY_READY && streq(r.arg, ""));
        assert(parse("PONG 7", &r) >= 0 && r.type == AGENT_REPLY_PONG && streq(r.arg, "7"));
        assert(parse("OK POWEROFF", &r) >= 0 && r.type == AGENT_REPLY_OK && streq(r.arg, "POWEROFF"));
        assert(parse("ERR unknown command 'X'", &r) >= 0 && r.type == AGENT_REPLY_ERR);
        assert(parse("MEMINFO total_kib=1000 free_kib=500 available_kib=700", &r) >= 0);
        assert(r.type == AGENT_REPLY_MEMINFO && r.total_kib == 1000 && r.free_kib == 500 &&
               r.available_kib == 700);
        /* Unknown fields are for newer agents; order does not matter. */
        assert(parse("MEMINFO available_kib=7 swap_kib=1 total_kib=9 free_kib=8", &r) >= 0);
        assert(r.total_kib == 9 && r.free_kib == 8 && r.available_kib == 7);

        assert(parse("", &r) == -EBADMSG);
        assert(parse("HELLO", &r) == -EBADMSG);
        assert(parse("ready 1", &r) == -EBADMSG);
        assert(parse("MEMINFO total_kib=1 free_kib=2", &r) == -EBADMSG);
        assert(parse("MEMINFO", &r) == -EBADMSG);
        assert(parse("MEMINFO ", &r) == -EBADMSG);
        assert(parse("MEMINFO total_kib=-1 free_kib=2 available_kib=3", &r) == -EBADMSG);
        assert(parse("MEMINFO total_kib=99999999999999999999999 free_kib=2 available_kib=3", &r) == -EBADMSG);
        assert(parse("MEMINFO total_kib=1x free_kib=2 available_kib=3", &r) == -EBADMSG);
        assert(parse("MEMINFO total_kib= free_kib=2 available_kib=3", &r) == -EBADMSG);
        return 0;
}
