/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policies/access.yaml: who may create a persona's VMs, and who besides a VM's owner may manage or use
 * them. Pure: no bus, no NSS; the caller's names come in a Caller. */
#pragma once

#include <sys/types.h>

#include "util.h"

#define ACCESS_ENTRIES_MAX 64

/* One list: user names, "@group" names, or "*" for every local user. */
typedef struct AccessRule {
        char *persona;
        char **create; /* may create VMs of the persona (and then owns them) */
        char **manage; /* may start, stop, snapshot, destroy ... every VM of it, like its owner */
        char **use;    /* may see the VMs of it and bring them to the front */
} AccessRule;

typedef struct AccessPolicy {
        AccessRule *rules;
        size_t n_rules;
} AccessPolicy;

/* Who calls: resolved by the bus layer from the caller's uid. */
typedef struct Caller {
        uid_t uid;
        char *user;    /* NULL: the uid has no name */
        char **groups; /* names of its primary and supplementary groups */
} Caller;

void caller_done(Caller *c);

typedef enum AccessLevel {
        ACCESS_NONE,   /* the VM is not the caller's business: it does not even see it */
        ACCESS_USE,    /* sees it, may bring it to the front */
        ACCESS_MANAGE, /* manages it on the persona's behalf (access.yaml's manage) */
        ACCESS_OWNER,  /* created it */
} AccessLevel;

/* Parses the file strictly: a mapping of persona names to {create, manage, use} lists (-EINVAL with file,
 * line and key in ret_error). -ENOENT: there is none. */
int access_policy_load(const char *path, AccessPolicy *ret, char **ret_error);
void access_policy_done(AccessPolicy *p);

/* Whether caller may create VMs of persona. Personas the file does not name: nobody (but root, which the
 * bus layer lets through before asking). */
bool access_may_create(const AccessPolicy *p, const char *persona, const Caller *caller);
/* What caller may do with a VM of persona that owner created. */
AccessLevel access_level(const AccessPolicy *p, const char *persona, uid_t owner, const Caller *caller);
