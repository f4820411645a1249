/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes agent_reply_parse(), the parser for lines from the guest agent (images/agent/PROTOCOL.md). */
#include <ctype.h>

#include "fuzz.h"
#include "guest-agent.h"
#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The value of "key=" in the MEMINFO fields: the last token with that key wins. */
static bool meminfo_field(const char *fields, const char *key, uint64_t *ret) {
        _cleanup_free_ char *copy = strdup(fields);
        const char *value = NULL;
        size_t n = strlen(key);

        fuzz_check(copy);
        for (char *tok, *save = NULL, *p = copy; (tok = strtok_r(p, " ", &save)); p = NULL)
                if (strncmp(tok, key, n) == 0)
                        value = fields + (tok - copy) + n;
        if (!value)
                return false;
        *ret = strtoull(value, NULL, 10);
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *line = fuzz_strndup(data, size), *orig = NULL;
        /* clang-format off */
        static const char *const words[_AGENT_REPLY_TYPE_MAX] = {
                [AGENT_REPLY_READY] = "READY",
                [AGENT_REPLY_PONG] = "PONG",
                [AGENT_REPLY_MEMINFO] = "MEMINFO",
                [AGENT_REPLY_BOOTID] = "BOOTID",
                [AGENT_REPLY_OK] = "OK",
                [AGENT_REPLY_ERR] = "ERR",
                [AGENT_REPLY_VALUE] = NULL, /* one of these: */
        };
        static const char *const value_words[] = { "CLOCK", "HOSTNAME", "MACHINEID", "RANDOM", "MEMTEST", "INPUT" };
        /* clang-format on */
        AgentReply r = { .type = _AGENT_REPLY_TYPE_INVALID, .total_kib = 4711 };
        const char *space, *rest;
        size_t word_len;
        int k;

        orig = strdup(line);
        fuzz_check(orig);
        space = strchr(orig, ' ');
        word_len = space ? (size_t) (space - orig) : strlen(orig);
        rest = space ? space + 1 : "";

        k = agent_reply_parse(line, &r);
        if (k < 0) {
                fuzz_check(k == -EBADMSG, "error %d", k);
                /* Untouched on failure. */
                fuzz_check(r.type == _AGENT_REPLY_TYPE_INVALID && r.total_kib == 4711 && !r.arg);
                /* A line that is not printable UTF-8 is refused whole, whatever its word. */
                if (!utf8_is_valid(orig))
                        return 0;
                for (const char *c = orig; *c; c++)
                        if ((unsigned char) *c < 0x20 || *c == 0x7f)
                                return 0;
                /* Only MEMINFO, BOOTID and the values with missing or bad arguments may fail once the word
                 * is known. */
                for (int t = 0; t < _AGENT_REPLY_TYPE_MAX; t++)
                        if (words[t] && !IN_SET(t, AGENT_REPLY_MEMINFO, AGENT_REPLY_BOOTID))
                                fuzz_check(
                                        !(strlen(words[t]) == word_len &&
                                          strncmp(orig, words[t], word_len) == 0),
                                        "\"%s\" rejected",
                                        orig);
                return 0;
        }

        fuzz_check(k == 0);
        fuzz_check(r.type >= 0 && r.type < _AGENT_REPLY_TYPE_MAX, "type %d", (int) r.type);
        /* The type is the first word, exactly; so is word. */
        fuzz_check(r.word == line && strlen(r.word) == word_len && strncmp(orig, r.word, word_len) == 0);
        if (r.type == AGENT_REPLY_VALUE) {
                bool known = false;

                for (size_t i = 0; i < ELEMENTSOF(value_words); i++)
                        known = known || streq(r.word, value_words[i]);
                fuzz_check(known && space, "\"%s\" parsed as a value", orig);
        } else
                fuzz_check(
                        strlen(words[r.type]) == word_len && strncmp(orig, words[r.type], word_len) == 0,
                        "\"%s\" parsed as %s",
                        orig,
                        words[r.type]);
        fuzz_check(r.arg);
        /* What reaches the bus is printable UTF-8. */
        fuzz_check(utf8_is_valid(orig), "\"%s\" is not UTF-8", orig);
        for (const char *c = orig; *c; c++)
                fuzz_check((unsigned char) *c >= 0x20 && *c != 0x7f, "control character in \"%s\"", orig);

        if (r.type == AGENT_REPLY_MEMINFO) {
                uint64_t v;

                fuzz_check(streq(r.arg, ""));
                fuzz_check(meminfo_field(rest, "total_kib=", &v) && v == r.total_kib);
                fuzz_check(meminfo_field(rest, "free_kib=", &v) && v == r.free_kib);
                fuzz_check(meminfo_field(rest, "available_kib=", &v) && v == r.available_kib);
        } else {
                if (r.type == AGENT_REPLY_BOOTID) {
                        /* A UUID as the kernel prints it, nothing else. */
                        fuzz_check(strlen(rest) == 36, "boot ID \"%s\"", rest);
                        for (size_t i = 0; i < 36; i++)
                                fuzz_check(
                                        IN_SET(i, 8, 13, 18, 23) ?
                                                rest[i] == '-' :
                                                isdigit(rest[i]) || (rest[i] >= 'a' && rest[i] <= 'f'),
                                        "boot ID \"%s\"",
                                        rest);
                }
                /* The argument is the rest of the line verbatim, inside the caller's buffer. */
                fuzz_check(streq(r.arg, rest), "arg \"%s\", expected \"%s\"", r.arg, rest);
                if (space)
                        fuzz_check(r.arg == line + word_len + 1);
                fuzz_check(r.total_kib == 0 && r.free_kib == 0 && r.available_kib == 0);
        }
        return 0;
}
