/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's state in SQLite: one row per VM, schema versions with migrations, WAL. */
#pragma once

#include "util.h"

#define STORE_SCHEMA_VERSION 6

typedef struct Store Store;

/* What survives a restart of vmmd for one VM. */
typedef struct VMRecord {
        char *name;
        char *persona;
        char *image;
        char *state; /* vm_state_to_string() */
        char *failure_reason;
        bool ephemeral;
        uint64_t memory_mib;
        uint32_t vcpus;
        char *accel;
        char *disk_path; /* qcow2 overlay, NULL if none yet */
        uint64_t created_usec;
        int64_t pid;       /* VMM process while it runs, 0 otherwise */
        uid_t owner_uid;   /* who created it (CreateVM's caller) */
        uid_t uid;         /* its own identity (vm-identity.h), 0: none */
        char *machine_id;  /* the guest's, 32 hex digits; NULL: none yet */
        char *golden;      /* a clone's golden snapshot id; NULL: booted cold */
        char *instance_id; /* the VMM instance's id (32 hex digits); NULL: none runs */
        char *vmm;         /* the VMM it runs in: "qemu" or "hv" (vmm_kind_to_string()) */
} VMRecord;

void vm_record_done(VMRecord *r);
void vm_record_array_free(VMRecord *r, size_t n);

/* Opens (creating if needed) and migrates the database to STORE_SCHEMA_VERSION. A database written by a
 * newer vmmd (higher version) is refused with -EPROTONOSUPPORT; a file that is not a database with
 * -EBADMSG. ret_error, when not NULL, says what went wrong. */
int store_open(const char *path, Store **ret, char **ret_error);
Store *store_free(Store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Store *, store_free);

int store_schema_version(Store *s, int *ret);

/* Inserts or replaces a whole row in one transaction. -EEXIST from store_vm_insert if the name exists. */
int store_vm_insert(Store *s, const VMRecord *r);
int store_vm_update(Store *s, const VMRecord *r);
/* -ENOENT if no such VM. */
int store_vm_delete(Store *s, const char *name);
/* All VMs, ordered by creation time. */
int store_vm_load_all(Store *s, VMRecord **ret, size_t *ret_n);
