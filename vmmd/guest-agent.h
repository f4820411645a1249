/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host end of the guest agent's line protocol (images/agent/PROTOCOL.md) on sd-event. */
#pragma once

#include <systemd/sd-event.h>

#include "util.h"

#define AGENT_LINE_MAX 256

typedef struct AgentClient AgentClient;
typedef struct AgentReply AgentReply;

/* The answer to one command: reply (an ERR one included), or error < 0 and reply NULL when none will come
 * (-ECONNRESET: the connection ended or the guest was replaced; -EBADMSG: the guest answered garbage). */
typedef void (*agent_reply_t)(AgentClient *a, int error, const AgentReply *reply, void *userdata);

typedef struct AgentHandlers {
        /* "READY <version>": the guest booted; or the first "PONG" (version NULL) of a guest that runs. */
        void (*ready)(AgentClient *a, const char *version, void *userdata);
        /* "MEMINFO total_kib=… free_kib=… available_kib=…" */
        void (*meminfo)(
                AgentClient *a, uint64_t total_kib, uint64_t free_kib, uint64_t available_kib, void *userdata);
        /* "BOOTID <uuid>": the guest kernel's boot ID (agents before 0.2 answer ERR instead). */
        void (*boot_id)(AgentClient *a, const char *boot_id, void *userdata);
        /* The connection ended (the guest or QEMU went away) or the guest broke the protocol. */
        void (*disconnect)(AgentClient *a, int error, const char *message, void *userdata);
} AgentHandlers;

/* Takes ownership of fd, a connected stream socket to QEMU's agent chardev. */
int agent_client_new(sd_event *e, int fd, const AgentHandlers *h, void *userdata, AgentClient **ret);
AgentClient *agent_client_free(AgentClient *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(AgentClient *, agent_client_free);

/* Sends one command line ("POWEROFF", "PING 7", "MEMINFO"); cb (may be NULL) gets its answer. The agent
 * answers in order, so the answers are matched to the commands by their place. -EBUSY: too many answers
 * are owed already. cb must not free the client (it runs from the client's own loop and from its free). */
int agent_client_call(AgentClient *a, const char *line, agent_reply_t cb, void *userdata);
int agent_client_send(AgentClient *a, const char *line);
bool agent_client_is_ready(const AgentClient *a);
/* Whether no call waits for the agent's answer. */
bool agent_client_idle(const AgentClient *a);
/* The guest was replaced under the connection (restored from a snapshot): the next PONG (or READY) says it
 * runs again, and calls the ready handler as after a boot. Sends "PING <token>". */
int agent_client_reconnect(AgentClient *a, const char *token);

/* Parses one line from the guest: exposed for the unit tests. */
typedef enum AgentReplyType {
        AGENT_REPLY_READY,
        AGENT_REPLY_PONG,
        AGENT_REPLY_MEMINFO,
        AGENT_REPLY_BOOTID,
        AGENT_REPLY_OK,
        AGENT_REPLY_ERR,
        AGENT_REPLY_VALUE, /* CLOCK, HOSTNAME, MACHINEID, RANDOM, MEMTEST <value> */
        _AGENT_REPLY_TYPE_MAX,
        _AGENT_REPLY_TYPE_INVALID = -EINVAL,
} AgentReplyType;

struct AgentReply {
        AgentReplyType type;
        const char *word; /* points into the line: its first word */
        const char *arg;  /* points into the line: version, token, boot ID, OK/ERR text, value */
        uint64_t total_kib, free_kib, available_kib;
};

int agent_reply_parse(char *line, AgentReply *ret);
