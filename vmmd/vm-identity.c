/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-VM identities, the VM's directories, and vmmd acting on them as the VM. */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "golden.h"
#include "log.h"
#include "names.h"
#include "vm-dbus.h"
#include "vm-identity.h"
#include "vm-internal.h"

bool vm_has_identity(const VM *vm) {
        return vm->manager->identities && vm->uid != 0;
}

bool vm_identity_taken(Manager *m, const VM *except, uid_t uid) {
        for (VM *v = m->vms; v; v = v->next)
                if (v != except && v->uid == uid)
                        return true;
        for (size_t i = 0; i < m->n_goldens; i++)
                if (m->goldens[i]->builder && m->goldens[i]->builder != except &&
                    m->goldens[i]->builder->uid == uid)
                        return true;
        /* A uid someone else already has is not a VM's to get (nor is its gid of the same number). */
        return getpwuid(uid) || getgrgid((gid_t) uid);
}

int vm_identity_allocate(VM *vm) {
        Manager *m = vm->manager;

        if (!m->identities || vm->uid != 0)
                return 0;
        for (uid_t i = 0; i < VM_UID_COUNT; i++)
                if (!vm_identity_taken(m, vm, VM_UID_BASE + i)) {
                        vm->uid = VM_UID_BASE + i;
                        return 0;
                }
        return -EUSERS;
}

int vm_machine_id_new(char ret[static 33]) {
        uint8_t id[16];

        if (getrandom(id, sizeof(id), 0) != sizeof(id))
                return -errno;
        hexmem(id, sizeof(id), ret);
        return 0;
}

void vm_new_instance(VM *vm) {
        char id[33];

        if (vm_machine_id_new(id) >= 0 && free_and_strdup(&vm->instance_id, id) >= 0)
                (void) vm_send_changed(vm, "InstanceID", NULL);
}

int vm_machine_id_init(VM *vm, const char *recorded) {
        char made[33];
        bool valid = recorded && strlen(recorded) == 32 && strspn(recorded, "0123456789abcdef") == 32;

        if (!valid) {
                int r = vm_machine_id_new(made);
                if (r < 0)
                        return r;
        }
        vm->machine_id = strdup(valid ? recorded : made);
        if (!vm->machine_id)
                return -ENOMEM;
        return !valid;
}

void vm_hostname(const char *vm_name, char ret[static 65]) {
        size_t n = 0;

        for (const char *c = vm_name; *c && n < 64; c++)
                ret[n++] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._", *c) ?
                        *c :
                        '-';
        ret[n] = 0;
}

/* A clone must take its identity, or it would share its siblings' (vm-identity.h); a cold-booted guest
 * with an older agent that does not know the commands simply keeps its own. */
static void on_identity_reply(AgentClient *a, int error, const AgentReply *reply, void *userdata) {
        VM *vm = userdata;
        _cleanup_free_ char *text = NULL, *reason = NULL;

        if (error < 0 || reply->type == AGENT_REPLY_OK || !vm->golden)
                return; /* no answer: the agent or VMM went away, which ends the start anyway */
        text = utf8_printable(reply->type == AGENT_REPLY_ERR ? reply->arg : reply->word, 200);
        log_vm_error_errno(
                vm->name, 0, "The guest of clone %s did not take its identity: %s", vm->name, strna(text));
        if (asprintf(&reason, "the guest did not take its own identity: %s", strna(text)) >= 0)
                vm_abort(vm, reason);
}

/* A screen is for people: a guest that cannot draw it (an image without a display driver, an older agent)
 * still runs. */
static void on_screen_reply(AgentClient *a, int error, const AgentReply *reply, void *userdata) {
        _cleanup_free_ char *text = NULL;
        VM *vm = userdata;

        if (error < 0 || reply->type == AGENT_REPLY_OK)
                return;
        text = utf8_printable(reply->type == AGENT_REPLY_ERR ? reply->arg : reply->word, 200);
        log_vm_warning_errno(vm->name, 0, "The guest of %s did not draw its screen: %s", vm->name, strna(text));
}

int vm_identity_send(VM *vm, AgentClient *a) {
        char line[AGENT_LINE_MAX], entropy[64], name[65];
        struct timespec now;
        int r;

        /* Entropy first: whatever the guest does next with randomness, it does with the host's in it. */
        if (getrandom(entropy, sizeof(entropy), 0) != sizeof(entropy))
                return -errno;
        memcpy(line, "ENTROPY ", 8);
        hexmem(entropy, sizeof(entropy), line + 8);
        explicit_bzero(entropy, sizeof(entropy));
        r = agent_client_call(a, line, on_identity_reply, vm);
        explicit_bzero(line, sizeof(line));
        if (r < 0)
                return r;
        (void) clock_gettime(CLOCK_REALTIME, &now);
        (void) snprintf(line, sizeof(line), "CLOCK %lld.%09ld", (long long) now.tv_sec, now.tv_nsec);
        r = agent_client_call(a, line, on_identity_reply, vm);
        if (r < 0)
                return r;
        vm_hostname(vm->name, name);
        (void) snprintf(line, sizeof(line), "HOSTNAME %s", name);
        r = agent_client_call(a, line, on_identity_reply, vm);
        if (r < 0)
                return r;
        (void) snprintf(line, sizeof(line), "MACHINEID %s", vm->machine_id);
        r = agent_client_call(a, line, on_identity_reply, vm);
        if (r < 0 || vm->display_width == 0)
                return r;
        /* The screen says which phone this is (after its identity: a clone's shows the golden build's until
         * then). Persona and VM names are safe words (names.h). */
        (void) snprintf(line, sizeof(line), "SCREEN %06" PRIx32 " %s %s", vm->color, vm->persona, vm->name);
        return agent_client_call(a, line, on_screen_reply, vm);
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

char *vm_disk_dir(const VM *vm) {
        char *d;

        if (!vm->disk_path || !(d = strdup(vm->disk_path)))
                return NULL;
        *strrchr(d, '/') = 0;
        return d;
}

/* The VM's disk directory, made by the VM itself: vmmd needs no CAP_CHOWN to hand it over. Its parent
 * (vmmd's) gets the VM's group, which vmmd may give a directory it owns while its effective gid is that
 * group, and write access for that group; then the VM (vm_fs_enter()) makes the directory, its own, 0700. */
static int make_disk_dir(const VM *vm, const char *dir, char **ret_error) {
        _cleanup_free_ char *parent = strdup(dir);
        struct stat st;
        gid_t old_gid;
        int r;

        if (!parent)
                return -ENOMEM;
        if (lstat(dir, &st) >= 0) {
                if (S_ISDIR(st.st_mode) && st.st_uid == vm->uid)
                        return 0;
                /* Made by a vmmd before VMs had identities of their own, or not a directory at all. */
                if (ret_error)
                        (void) asprintf(
                                ret_error,
                                "the disk directory of VM \"%s\" is not its own (made before each VM had an "
                                "identity?): give it with \"chown -R %u:%u %s\" as root, then start it again",
                                vm->name,
                                (unsigned) vm->uid,
                                (unsigned) vm->uid,
                                dir);
                return -EPERM;
        }
        if (errno != ENOENT)
                return -errno;
        *strrchr(parent, '/') = 0;
        r = mkdir_p(parent, 0700);
        if (r < 0)
                return r;
        old_gid = getegid();
        if (setresgid((gid_t) -1, (gid_t) vm->uid, (gid_t) -1) < 0)
                return -errno;
        r = chown(parent, (uid_t) -1, (gid_t) vm->uid) < 0 ? -errno : 0;
        (void) setresgid((gid_t) -1, old_gid, (gid_t) -1);
        if (r < 0)
                return r;
        if (chmod(parent, 0730) < 0)
                return -errno;

        _cleanup_(vm_fs_leave) _unused_ VMFs fs = vm_fs_enter(vm);
        if (mkdir(dir, 0700) >= 0)
                return 0;
        r = -errno;
        if (r == -EACCES && ret_error)
                (void) asprintf(
                        ret_error,
                        "VM \"%s\" runs as uid %u, which cannot reach its directory %s: every directory above it "
                        "must be searchable by others (chmod o+x, as /run and /var/lib are)",
                        vm->name,
                        (unsigned) vm->uid,
                        parent);
        return r;
}

int vm_make_dirs(VM *vm, char **ret_error) {
        _cleanup_free_ char *dir = vm_disk_dir(vm);
        int r;

        /* vmmd's: sockets and logs, root's alone. */
        r = mkdir_p(vm->runtime_dir, 0700);
        if (r < 0 || !dir)
                return r;
        if (!vm_has_identity(vm))
                return mkdir_p(dir, 0700);
        return make_disk_dir(vm, dir, ret_error);
}

VMFs vm_fs_enter(const VM *vm) {
        VMFs fs = {};

        if (!vm_has_identity(vm))
                return fs;
        /* The effective ids, not only the file system ones: so vmmd is also the owner of the VMM's user
         * namespace, which lets it see the VMM in /proc (ProtectProc=invisible hides what it could not
         * ptrace). The group first, while vmmd still has CAP_SETGID; leaving, the real uid (root) lets it
         * be root again, and gives it its capabilities back. */
        fs.uid = geteuid();
        fs.gid = getegid();
        if (setresgid((gid_t) -1, (gid_t) vm->uid, (gid_t) -1) < 0)
                return fs;
        fs.entered = true;
        if (setresuid((uid_t) -1, vm->uid, (uid_t) -1) < 0)
                vm_fs_leave(&fs);
        return fs;
}

void vm_fs_leave(VMFs *fs) {
        if (!fs->entered)
                return;
        (void) setresuid((uid_t) -1, fs->uid, (uid_t) -1);
        (void) setresgid((gid_t) -1, fs->gid, (gid_t) -1);
        fs->entered = false;
}

int vm_read_proc(const VM *vm, pid_t pid, const char *file, char **ret, size_t *ret_size) {
        _cleanup_(vm_fs_leave) _unused_ VMFs fs = vm_fs_enter(vm);
        char path[64];

        if (pid <= 0)
                return -ESRCH;
        (void) snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
        return read_full_file(path, ret, ret_size);
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
        _cleanup_free_ char *dir = vm_disk_dir(vm), *state_dir = NULL;

        /* The disk directory, as the VM: root vmmd may not even look into it. A directory of an earlier
         * layout that the VM may not remove itself is left empty, for vmmd to remove below. */
        if (dir) {
                _cleanup_(vm_fs_leave) _unused_ VMFs fs = vm_fs_enter(vm);
                (void) rm_rf(dir);
        }
        (void) rm_rf(vm->runtime_dir);
        if (asprintf(&state_dir, "%s/vms/%s", vm->manager->config.state_dir, vm->name) >= 0)
                (void) rm_rf(state_dir);
}
