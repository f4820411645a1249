/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parsing of the guest agent's lines on the host side; a guest cannot crash the parser. */
#include <assert.h>

#include "guest-agent.h"

static int parse(const char *line, AgentReply *r) {
        static char buf[512];

        snprintf(buf, sizeof(buf), "%s", line);
        return agent_reply_parse(buf, r);
}

int main(void) {
        AgentReply r;

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
