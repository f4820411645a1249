/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Authorization of every D-Bus call, in one place: a bus filter that looks each method up in one table,
 * decides with policies/access.yaml and asks polkit asynchronously (as systemd-machined does); and what a
 * caller may see of the VMs. */
#pragma once

#include <systemd/sd-bus.h>

#include "access.h"

typedef struct Manager Manager;
typedef struct VM VM;
typedef struct PolkitQuery PolkitQuery;

/* Pending polkit questions are bounded: more get Busy. */
#define POLKIT_QUERIES_MAX 128

/* Installs the filter on m->bus (before the objects). */
int authorize_install(Manager *m);
/* Ends every pending polkit question (the calls are dropped unanswered: vmmd exits). */
void authorize_done(Manager *m);

/* The caller of call (the message being handled): its uid, user and group names. Cached for the message;
 * the pointer is valid until the next call. NULL if the bus does not tell. */
const Caller *authorize_caller(Manager *m, sd_bus_message *call);
/* What the caller of call may do with vm: root and, in --user mode, the user vmmd serves, are owners of
 * everything. */
AccessLevel authorize_vm_level(Manager *m, sd_bus_message *call, const VM *vm);
/* The same for what a VM of persona that owner made left behind (a crash bundle). */
AccessLevel authorize_level(Manager *m, sd_bus_message *call, const char *persona, uid_t owner);
/* Whether the caller of the message being handled sees vm (with no message: yes, vmmd itself asks). */
bool authorize_vm_visible(Manager *m, const VM *vm);
