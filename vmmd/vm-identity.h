/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Each VM is its own principal: a uid and gid of its own (from vmmd's range, recorded in the store) that
 * its VMM and helpers run as and that owns the VM's disk directory, and vmmd acting on that directory as
 * the VM (its effective uid), so that nothing a VMM puts there makes root vmmd touch what the VM could not. */
#pragma once

#include "process.h"
#include "vm.h"

/* vmmd's range of VM identities (uid = gid), above systemd's container range (docs/UIDS-GIDS.md). */
#define VM_UID_BASE ((uid_t) 0x7a6d0000U)
#define VM_UID_COUNT 0x10000U

/* Gives vm a uid of its own when vmmd has identities to give (it runs as root): the lowest one of the
 * range no other VM holds and the user database does not name. -EUSERS: the range is used up. A VM that has
 * one keeps it. */
int vm_identity_allocate(VM *vm);
/* Whether a VM other than except (or a golden build) holds uid, or the user database names it. */
bool vm_identity_taken(Manager *m, const VM *except, uid_t uid);
bool vm_has_identity(const VM *vm);

/* A new random machine ID: 32 lowercase hex digits. */
int vm_machine_id_new(char ret[static 33]);
/* Takes the recorded machine ID, or makes one (returns 1) where the record has none (or a bad one). */
int vm_machine_id_init(VM *vm, const char *recorded);
/* A new InstanceID: every VMM that runs the VM is an instance of its own (clones of one golden snapshot
 * included). */
void vm_new_instance(VM *vm);
/* The guest's identity, given through its agent at every boot and after every restore (agent 0.3): fresh
 * host entropy for its RNG, the host's wall clock, a host name from the VM's name, its machine ID. */
int vm_identity_send(VM *vm, AgentClient *a);
/* The VM's name as a host name: characters outside [A-Za-z0-9-._] become '-', at most 64. */
void vm_hostname(const char *vm_name, char ret[static 65]);

/* Sets what a VMM or helper of the VM runs as. */
void vm_identity_spawn_options(const VM *vm, SpawnOptions *o);

/* The directory of the VM's disk; NULL without one (or out of memory). */
char *vm_disk_dir(const VM *vm);

/* The VM's directories: its runtime directory (vmmd's: sockets and logs) and the directory of its disk (the
 * VM's own, 0700, below a directory of vmmd's that the VM's group may write and traverse). -EPERM, with
 * ret_error, for a disk directory that is not the VM's. */
int vm_make_dirs(VM *vm, char **ret_error);

/* The effective identity vmmd had before vm_fs_enter(). */
typedef struct VMFs {
        bool entered;
        uid_t uid;
        gid_t gid;
} VMFs;

/* Acts as the VM (its effective uid and gid, without capabilities) until vm_fs_leave(): for everything in
 * the VM's disk directory, and for its VMM's entries in /proc. A VM without an identity: nothing changes. */
VMFs vm_fs_enter(const VM *vm);
void vm_fs_leave(VMFs *fs);

/* Reads /proc/PID/FILE of the VM's VMM as the VM: vmmd sees no other user's processes
 * (ProtectProc=invisible), but those of its VMs. */
int vm_read_proc(const VM *vm, pid_t pid, const char *file, char **ret, size_t *ret_size);

/* Whether the VM's disk exists (looked up as the VM). */
bool vm_disk_exists(const VM *vm);
/* Removes the VM's disk (as the VM). */
void vm_remove_disk(const VM *vm);
/* Removes everything of the VM on disk: its disk directory's contents as the VM, then the directories. */
void vm_remove_files(const VM *vm);
