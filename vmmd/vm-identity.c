/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-VM identities, the VM's directories, and vmmd acting on them as the VM. */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/fsuid.h>
#include <sys/stat.h>

#include "log.h"
#include "vm-identity.h"

bool vm_has_identity(const VM *vm) {
        return vm->manager->identities && vm->uid != 0;
}

static bool uid_taken(Manager *m, const VM *except, uid_t uid) {
        for (VM *v = m->vms; v; v = v->next)
                if (v != except && v->uid == uid)
                        return true;
        /* A uid someone else already has is not a VM's to get (nor is its gid of the same number). */
        return getpwuid(uid) || getgrgid((gid_t) uid);
}

int vm_identity_allocate(VM *vm) {
        Manager *m = vm->manager;

        if (!m->identities || vm->uid != 0)
                return 0;
        for (uid_t i = 0; i < VM_UID_COUNT; i++)
                if (!uid_taken(m, vm, VM_UID_BASE + i)) {
                        vm->uid = VM_UID_BASE + i;
                        return 0;
                }
        return -EUSERS;
}

void vm_identity_spawn_options(const VM *vm, SpawnOptions *o) {
        Manager *m = vm->manager;

        if (!vm_has_identity(vm))
                return;
        o->switch_user = true;
        o->uid = vm->uid;
        o->gid = (gid_t) vm->uid;
        o->groups = m->kvm_gid != (gid_t) -1 ? &m->kvm_gid : NULL; /* /dev/kvm */
        o->n_groups = m->kvm_gid != (gid_t) -1;
}

static char *disk_dir(const VM *vm) {
        char *d;

        if (!vm->disk_path || !(d = strdup(vm->disk_path)))
                return NULL;
        *strrchr(d, '/') = 0;
        return d;
}

/* Hands dir (and a disk in it, of a VM made before VMs had identities) to the VM: nobody else may enter. */
static int give_to_vm(const VM *vm, const char *dir) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        /* Once the VM's, vmmd may no longer open it: looked at from outside first. */
        if (lstat(dir, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode) && st.st_uid == vm->uid)
                return 0;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_uid != 0 && st.st_uid != vm->uid)
                return -EPERM; /* someone else's: not to be handed over */
        /* Still vmmd's: the disk first, while vmmd may still look into the directory. */
        if (fchownat(fd, "disk.qcow2", vm->uid, (gid_t) vm->uid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
                return -errno;
        if (fchmod(fd, 0700) < 0 || fchown(fd, vm->uid, (gid_t) vm->uid) < 0)
                return -errno;
        return 0;
}

int vm_make_dirs(VM *vm) {
        _cleanup_free_ char *dir = disk_dir(vm);
        int r;

        /* vmmd's: sockets and logs, root's alone; traversable, so that a VMM reaches a disk below it. */
        r = mkdir_p(vm->runtime_dir, 0700);
        if (r >= 0 && vm_has_identity(vm) && chmod(vm->runtime_dir, 0711) < 0)
                r = -errno;
        if (r < 0 || !dir)
                return r;
        r = mkdir_p(dir, 0700);
        if (r < 0 || !vm_has_identity(vm))
                return r;
        return give_to_vm(vm, dir);
}

VMFs vm_fs_enter(const VM *vm) {
        VMFs fs = {};

        if (!vm_has_identity(vm))
                return fs;
        fs.entered = true;
        fs.gid = (gid_t) setfsgid((gid_t) vm->uid);
        fs.uid = (uid_t) setfsuid(vm->uid);
        return fs;
}

void vm_fs_leave(VMFs *fs) {
        if (!fs->entered)
                return;
        (void) setfsuid(fs->uid);
        (void) setfsgid(fs->gid);
        fs->entered = false;
}

bool vm_disk_exists(const VM *vm) {
        _cleanup_(vm_fs_leave) _unused_ VMFs fs = vm_fs_enter(vm);
        struct stat st;

        return vm->disk_path && lstat(vm->disk_path, &st) >= 0;
}

void vm_remove_disk(const VM *vm) {
        _cleanup_(vm_fs_leave) _unused_ VMFs fs = vm_fs_enter(vm);

        if (vm->disk_path)
                (void) unlink(vm->disk_path);
}

void vm_remove_files(const VM *vm) {
        _cleanup_free_ char *dir = disk_dir(vm), *state_dir = NULL;

        /* What is in the disk directory, as the VM: root vmmd may not even look into it. The directory
         * itself is left empty, for vmmd to remove below. */
        if (dir) {
                _cleanup_(vm_fs_leave) _unused_ VMFs fs = vm_fs_enter(vm);
                (void) rm_rf(dir);
        }
        (void) rm_rf(vm->runtime_dir);
        if (asprintf(&state_dir, "%s/vms/%s", vm->manager->config.state_dir, vm->name) >= 0)
                (void) rm_rf(state_dir);
}
