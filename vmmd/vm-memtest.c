/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MemTest: guest memory that holds a known pattern (the agent's MEMTEST, images/agent/PROTOCOL.md), for
 * tests that reclaim, swap, merge and balloon guest memory and must find every byte where it was. */
#include <ctype.h>

#include "log.h"
#include "names.h"
#include "vm-internal.h"

static const char *const memtest_action_table[_MEMTEST_ACTION_MAX] = {
        [MEMTEST_FILL] = "fill",
        [MEMTEST_CHECK] = "check",
        [MEMTEST_FREE] = "free",
        [MEMTEST_POKE] = "poke",
};

DEFINE_STRING_TABLE_LOOKUP(memtest_action, MemTestAction, _MEMTEST_ACTION_MAX);

typedef struct MemTestCall {
        Operation *op;
        MemTestAction action;
        uint64_t units;
} MemTestCall;

int memtest_parse_check(const char *s, MemTestResult *ret) {
        MemTestResult r = {};
        int n = 0;

        /* sscanf() and strtoull() would take "-1" for a number. */
        if (strchr(s, '-') || strchr(s, '+'))
                return -EBADMSG;

        if (sscanf(s, "units=%" SCNu64 " bad=%" SCNu64 "%n", &r.units, &r.bad, &n) != 2 ||
            !IN_SET(s[n], ' ', 0) || r.bad > r.units)
                return -EBADMSG;
        s += n;
        if (*s) {
                if (strncmp(s, " first=", 7) != 0 || r.bad == 0)
                        return -EBADMSG;
                s += 7;
                for (;;) {
                        char *end;

                        if (r.n_first >= MEMTEST_FIRST_MAX || !isxdigit((unsigned char) *s))
                                return -EBADMSG;
                        errno = 0;
                        r.first[r.n_first++] = strtoull(s, &end, 16);
                        if (errno != 0 || end - s > 16)
                                return -EBADMSG;
                        s = end;
                        if (*s == 0)
                                break;
                        if (*s++ != ',')
                                return -EBADMSG;
                }
        }
        if (r.n_first != MIN(r.bad, (uint64_t) MEMTEST_FIRST_MAX))
                return -EBADMSG;
        *ret = r;
        return 0;
}

static void on_memtest_reply(AgentClient *a, int error, const AgentReply *reply, void *userdata) {
        _cleanup_free_ MemTestCall *c = userdata;
        MemTestResult *result = operation_userdata(c->op);
        _cleanup_free_ char *text = NULL, *message = NULL;

        if (error < 0) {
                operation_complete(c->op, -EIO, "The guest agent did not answer");
                return;
        }
        if (reply->type == AGENT_REPLY_ERR) {
                text = utf8_printable(reply->arg, 200);
                (void) asprintf(&message, "The guest agent failed: %s", strna(text));
                operation_complete(c->op, -EIO, message);
                return;
        }
        if (c->action == MEMTEST_CHECK ? reply->type != AGENT_REPLY_VALUE ||
                            !streq(reply->word, "MEMTEST") || memtest_parse_check(reply->arg, result) < 0 :
                                         reply->type != AGENT_REPLY_OK || !streq(reply->arg, "MEMTEST")) {
                operation_complete(c->op, -EIO, "The guest agent answered MEMTEST with garbage");
                return;
        }
        if (c->action == MEMTEST_FILL)
                *result = (MemTestResult){ .units = c->units };
        operation_complete(c->op, 0, NULL);
}

int vm_memtest(VM *vm, MemTestAction action, uint64_t mib, uint64_t value, Operation *op, char **ret_error) {
        _cleanup_free_ char *line = NULL;
        MemTestCall *c;
        int r;

        if (action < 0 || action >= _MEMTEST_ACTION_MAX)
                return -ERANGE;
        if (action == MEMTEST_FILL && (mib < 1 || mib > vm->memory_mib)) {
                (void) asprintf(
                        ret_error,
                        "MemTest fill takes 1 to %" PRIu64 " MiB (the VM's MemoryMiB)",
                        vm->memory_mib);
                return -ERANGE;
        }
        if (vm->state != VM_RUNNING || !agent_client_is_ready(vm->agent)) {
                (void) asprintf(
                        ret_error,
                        "VM \"%s\" is %s; only a running VM's guest can test its memory",
                        vm->name,
                        vm_state_to_string(vm->state));
                return -EINVAL;
        }
        r = action == MEMTEST_FILL ?
                asprintf(&line, "MEMTEST FILL %" PRIu64 " %" PRIx64, mib, value) :
                action == MEMTEST_POKE ?
                asprintf(&line, "MEMTEST POKE %" PRIu64, value) :
                asprintf(&line, "MEMTEST %s", action == MEMTEST_CHECK ? "CHECK" : "FREE");
        if (r < 0)
                return -ENOMEM;
        c = calloc(1, sizeof(MemTestCall));
        if (!c)
                return -ENOMEM;
        *c = (MemTestCall){ .op = op, .action = action, .units = mib * (1024 * 1024 / 4096) };
        r = agent_client_call(vm->agent, line, on_memtest_reply, c);
        if (r < 0) {
                free(c);
                if (r == -EBUSY || r == -ENOBUFS)
                        (void) asprintf(
                                ret_error,
                                "The guest agent of \"%s\" has too many questions to answer",
                                vm->name);
                return r == -ENOBUFS ? -EBUSY : r;
        }
        log_vm_info(vm->name, "Memory test of %s: %s.", vm->name, line + strlen("MEMTEST "));
        return 0;
}
