/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Golden snapshots (golden.h): finding, verifying, building and removing them. A build is a VM of vmmd's
 * own (vm->builder_of), on no list, bus or store, that runs with its own identity and sandbox like any
 * other: it boots the persona's image, and once its agent answers, QEMU stops it and writes its migration
 * stream into a root-owned file it got as an fd; then it quits, vmmd copies its disk overlay and a child
 * process syncs and hashes both into the manifest; one rename makes it the golden snapshot. */
#include <assert.h>
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "golden.h"
#include "log.h"
#include "manager-dbus.h"
#include "qemu.h"
#include "sha256.h"
#include "vm-identity.h"
#include "vm-internal.h"
#include "yaml-util.h"

static const char *const golden_state_table[_GOLDEN_STATE_MAX] = {
        [GOLDEN_NONE] = "none",   [GOLDEN_BUILDING] = "building", [GOLDEN_VERIFYING] = "verifying",
        [GOLDEN_READY] = "ready", [GOLDEN_FAILED] = "failed",
};

DEFINE_STRING_TABLE_LOOKUP(golden_state, GoldenState, _GOLDEN_STATE_MAX);

#define GOLDEN_MANIFEST "golden.yaml"
/* The files of a golden snapshot, each in its manifest with size and sha256, named for the VMM they are of. */
static const char *const golden_file_table[VMM_AUTO][_GOLDEN_FILE_MAX] = {
        [VMM_QEMU] = {
                [GOLDEN_FILE_STATE] = "state",           /* QEMU's migration stream: RAM and devices */
                [GOLDEN_FILE_DISK] = "disk.qcow2",       /* the disk as it was then, over the image's */
                [GOLDEN_FILE_OVERLAY] = "overlay.qcow2", /* an empty overlay on it: each clone's disk is a copy */
        },
        [VMM_HV] = {
                [GOLDEN_FILE_STATE] = "state",         /* vmm-hv's snapshot (hypervisor/hv/snapshot.h) */
                [GOLDEN_FILE_DISK] = "disk.img",       /* the disk as it was then, raw */
                [GOLDEN_FILE_OVERLAY] = "overlay.img", /* empty: vmm-hv makes a clone's copy its overlay on it */
        },
};

static const char *golden_file_name(VmmKind vmm, GoldenFile k) {
        assert(IN_SET(vmm, VMM_QEMU, VMM_HV));
        return golden_file_table[vmm][k];
}
#define GOLDEN_RETRY_USEC (500 * USEC_PER_MSEC)
#define GOLDEN_STATE_FDNAME "golden-state"

/* What golden.yaml says. */
typedef struct GoldenManifest {
        char *id, *persona, *image, *accel, *vmm, *agent_version;
        uint64_t created_usec, memory_mib, vcpus;
        uint64_t size[_GOLDEN_FILE_MAX];
        char *sha256[_GOLDEN_FILE_MAX];
} GoldenManifest;

static void golden_manifest_done(GoldenManifest *g) {
        free(g->id);
        free(g->persona);
        free(g->image);
        free(g->accel);
        free(g->vmm);
        free(g->agent_version);
        for (size_t i = 0; i < _GOLDEN_FILE_MAX; i++)
                free(g->sha256[i]);
}

/* clang-format off */
static const YamlField manifest_fields[] = {
        { "id", yaml_parse_string, offsetof(GoldenManifest, id), true, .max = GOLDEN_ID_LEN },
        { "persona", yaml_parse_string, offsetof(GoldenManifest, persona), true, .max = 255 },
        { "image", yaml_parse_string, offsetof(GoldenManifest, image), true, .max = 255 },
        { "accel", yaml_parse_string, offsetof(GoldenManifest, accel), true, .max = 8 },
        { "vmm", yaml_parse_string, offsetof(GoldenManifest, vmm), true, .max = 8 },
        { "agent_version", yaml_parse_string, offsetof(GoldenManifest, agent_version), true, .max = 64 },
        { "created_usec", yaml_parse_uint64, offsetof(GoldenManifest, created_usec), true, 0, INT64_MAX },
        { "memory_mib", yaml_parse_uint64, offsetof(GoldenManifest, memory_mib), true, 1, INT64_MAX },
        { "vcpus", yaml_parse_uint64, offsetof(GoldenManifest, vcpus), true, 1, UINT32_MAX },
#define FILE_FIELDS(k, name)                                                                                 \
        { name "_size", yaml_parse_uint64, offsetof(GoldenManifest, size[k]), true, 0, INT64_MAX },           \
        { name "_sha256", yaml_parse_string, offsetof(GoldenManifest, sha256[k]), true, .max = 64 }
        FILE_FIELDS(GOLDEN_FILE_STATE, "state"),
        FILE_FIELDS(GOLDEN_FILE_DISK, "disk"),
        FILE_FIELDS(GOLDEN_FILE_OVERLAY, "overlay"),
        {}
};
/* clang-format on */

static char *persona_dir(Manager *m, const char *persona) {
        char *d;

        return asprintf(&d, "%s/golden/%s", m->config.cache_dir, persona) < 0 ? NULL : d;
}

char *golden_disk_path(Manager *m, const char *persona, const char *id, VmmKind vmm) {
        char *p;

        return asprintf(
                       &p,
                       "%s/golden/%s/%s/%s",
                       m->config.cache_dir,
                       persona,
                       id,
                       golden_file_name(vmm, GOLDEN_FILE_DISK)) < 0 ?
                NULL :
                p;
}

static Golden *golden_get(Manager *m, const char *persona) {
        for (size_t i = 0; i < m->n_goldens; i++)
                if (streq(m->goldens[i]->persona, persona))
                        return m->goldens[i];
        return NULL;
}

Golden *golden_find(Manager *m, const char *persona, const char *id) {
        Golden *g = golden_get(m, persona);

        return g && g->usable && streq_ptr(g->id, id) ? g : NULL;
}

static void golden_set(Golden *g, GoldenState state, unsigned progress, const char *message) {
        if (g->state == state && g->progress == progress && streq_ptr(g->message, message))
                return;
        g->state = state;
        g->progress = progress;
        (void) free_and_strdup(&g->message, message);
        (void) manager_emit_golden_changed(g->manager);
}

static bool same_file(const struct stat *a, const struct stat *b) {
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
                a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
                a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The golden snapshot's files, stat'ed by name now; no symlink. */
static int golden_stat_files(const char *dir, VmmKind vmm, struct stat ret[static _GOLDEN_FILE_MAX]) {
        char path[PATH_MAX];

        for (GoldenFile k = 0; k < _GOLDEN_FILE_MAX; k++) {
                (void) snprintf(path, sizeof(path), "%s/%s", dir, golden_file_name(vmm, k));
                if (lstat(path, &ret[k]) < 0)
                        return -errno;
                if (!S_ISREG(ret[k].st_mode))
                        return -EBADMSG;
        }
        return 0;
}

static bool golden_files_unchanged(Golden *g) {
        struct stat st[_GOLDEN_FILE_MAX];

        if (golden_stat_files(g->dir, g->vmm, st) < 0)
                return false;
        for (GoldenFile k = 0; k < _GOLDEN_FILE_MAX; k++)
                if (!same_file(&st[k], &g->st[k]))
                        return false;
        return true;
}

int golden_open_file(Golden *g, GoldenFile k) {
        _cleanup_close_ int fd = -EBADF;
        char path[PATH_MAX];
        struct stat st;

        (void) snprintf(path, sizeof(path), "%s/%s", g->dir, golden_file_name(g->vmm, k));
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!same_file(&st, &g->st[k]))
                return -ESTALE;
        return fd_nonblock(fd, false) < 0 ? -errno : TAKE_FD(fd);
}

/* Where the VMM is found, for the id: another QEMU (or vmm-hv) may not read the state of this one. */
static int binary_stat(const char *binary, struct stat *ret) {
        const char *path = getenv("PATH") ?: "/usr/bin:/bin";

        if (strchr(binary, '/'))
                return stat(binary, ret) < 0 ? -errno : 0;
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, ":");
                char candidate[PATH_MAX];

                (void) snprintf(candidate, sizeof(candidate), "%.*s/%s", (int) n, p, binary);
                if (n > 0 && stat(candidate, ret) >= 0)
                        return 0;
                p += n + (p[n] == ':');
        }
        return -ENOENT;
}

/* The key of a golden snapshot of p made now, and the VMM it is of: a hash of everything the saved guest
 * depends on (-EOPNOTSUPP with *ret_error when the persona's VMM cannot run here). A golden
 * snapshot's id is its key and a serial of its build ("<key>-<serial>"), so that a rebuild of the same key
 * never takes the place of one that clones still use as their disk's backing file. */
static int golden_compute_key(
        Manager *m,
        const Persona *p,
        const Image *image,
        char ret[static GOLDEN_KEY_LEN + 1],
        VmmKind *ret_vmm,
        char **ret_error) {
        _cleanup_free_ char *text = NULL;
        char hex[_IMAGE_FILE_MAX][SHA256_HEX_SIZE] = {}, digest_hex[SHA256_HEX_SIZE];
        uint8_t digest[SHA256_DIGEST_SIZE];
        struct stat st = {};
        const char *binary;
        VmmKind vmm;
        Sha256 s;
        int r;

        /* The VMM the persona's VMs run in here: its clones' golden snapshot must be that VMM's. */
        r = manager_resolve_vmm(m, p->name, p->vmm, m->accel, &vmm, ret_error);
        if (r < 0)
                return r;
        binary = vmm == VMM_HV ? m->config.vmm_hv : m->config.qemu;

        for (ImageFileKind k = 0; k < _IMAGE_FILE_MAX; k++)
                if (image->has_file[k])
                        sha256_to_hex(image->files[k].sha256, hex[k]);
        (void) binary_stat(binary, &st);
        if (asprintf(
                    &text,
                    "vmmd golden snapshot 2\nvmmd %s\nmachine %d\npersona %s\nimage %s\nkernel %s\ninitrd %s\ndisk %s\n"
                    "cmdline %s\nmemory_mib %" PRIu64 "\nvcpus %" PRIu32 "\naccel %s\ncpu %s\n"
                    "vmm %s %s %" PRIu64 " %" PRIu64 ".%09ld\ndisplay %" PRIu32 "x%" PRIu32 "\n",
                    VERSION,
                    QEMU_MACHINE_VERSION,
                    p->name,
                    image->name,
                    hex[IMAGE_FILE_KERNEL],
                    hex[IMAGE_FILE_INITRD],
                    hex[IMAGE_FILE_DISK],
                    strempty(image->cmdline),
                    p->memory_mib,
                    p->vcpus,
                    m->accel,
                    qemu_cpu_model(m->accel),
                    vmm_kind_to_string(vmm),
                    binary,
                    (uint64_t) st.st_size,
                    (uint64_t) st.st_mtim.tv_sec,
                    st.st_mtim.tv_nsec,
                    /* The screen is a device of the saved state (QEMU's only). */
                    vmm == VMM_QEMU ? p->display_width : 0,
                    vmm == VMM_QEMU ? p->display_height : 0) < 0)
                return -ENOMEM;
        sha256_init(&s);
        sha256_update(&s, text, strlen(text));
        sha256_final(&s, digest);
        memcpy(ret, sha256_to_hex(digest, digest_hex), GOLDEN_KEY_LEN);
        ret[GOLDEN_KEY_LEN] = 0;
        *ret_vmm = vmm;
        return 0;
}

static bool id_has_key(const char *id, const char *key) {
        return id && strncmp(id, key, GOLDEN_KEY_LEN) == 0 && id[GOLDEN_KEY_LEN] == '-';
}

/* A golden snapshot of this key on disk (the newest, by its serial's place in the listing: any will do, the
 * others are removed once unused), NULL if none. */
static char *find_on_disk(const char *pdir, const char *key) {
        char *found = NULL;
        DIR *d = opendir(pdir);

        if (!d)
                return NULL;
        for (struct dirent *de; (de = readdir(d));)
                if (id_has_key(de->d_name, key) && strlen(de->d_name) == GOLDEN_ID_LEN) {
                        free(found);
                        if (asprintf(&found, "%s/%s", pdir, de->d_name) < 0)
                                found = NULL;
                }
        closedir(d);
        return found;
}

static int golden_read_manifest(const char *dir, GoldenManifest *ret, char **ret_error) {
        _cleanup_(yaml_tree_freep) YamlNode *root = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, "%s/" GOLDEN_MANIFEST, dir) < 0)
                return -ENOMEM;
        r = yaml_tree_load(path, &root, ret_error);
        if (r < 0)
                return r;
        return yaml_parse_mapping(path, NULL, root, manifest_fields, ret, ret_error);
}

/* Hashes path (no symlink) and compares with what the manifest says; the file must be the one stat'ed. */
static int check_file(
        const char *dir, const char *file, const struct stat *st, uint64_t size, const char *sha, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        char path[PATH_MAX], hex[SHA256_HEX_SIZE];
        uint8_t digest[SHA256_DIGEST_SIZE];
        struct stat now;
        uint64_t n;
        int r;

        (void) snprintf(path, sizeof(path), "%s/%s", dir, file);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &now) < 0) {
                r = -errno;
                (void) asprintf(ret_error, "%s: %s", path, strerror(-r));
                return r;
        }
        if (!same_file(&now, st)) {
                (void) asprintf(ret_error, "%s changed while it was checked", path);
                return -ESTALE;
        }
        r = sha256_fd(fd, digest, &n);
        if (r < 0) {
                (void) asprintf(ret_error, "%s: cannot read: %s", path, strerror(-r));
                return r;
        }
        if (n != size || !streq(sha256_to_hex(digest, hex), sha)) {
                (void) asprintf(ret_error, "%s: size or sha256 does not match " GOLDEN_MANIFEST, path);
                return -EBADMSG;
        }
        return 0;
}

typedef struct VerifyJob {
        char *dir;
        VmmKind vmm;
        struct stat st[_GOLDEN_FILE_MAX];
        GoldenManifest manifest;
} VerifyJob;

static int verify_files(void *userdata, char **ret_message) {
        VerifyJob *j = userdata;

        for (GoldenFile k = 0; k < _GOLDEN_FILE_MAX; k++) {
                int r = check_file(
                        j->dir,
                        golden_file_name(j->vmm, k),
                        &j->st[k],
                        j->manifest.size[k],
                        j->manifest.sha256[k],
                        ret_message);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void golden_refresh(Golden *g);
static int golden_build_start(Golden *g, const Persona *p, const char *key, VmmKind vmm, char **ret_error);

/* The golden snapshot in use is no more: its directory goes unless a clone still uses it. */
static void golden_drop_current(Golden *g) {
        g->usable = false;
        g->id = mfree(g->id);
        g->dir = mfree(g->dir);
        g->image = mfree(g->image);
        g->accel = mfree(g->accel);
        g->vmm = VMM_QEMU;
        g->created_usec = 0;
}

static int golden_take_manifest(Golden *g, const char *dir, VmmKind vmm, const GoldenManifest *gm) {
        golden_drop_current(g);
        g->vmm = vmm;
        g->id = strdup(gm->id);
        g->dir = strdup(dir);
        g->image = strdup(gm->image);
        g->accel = strdup(gm->accel);
        if (!g->id || !g->dir || !g->image || !g->accel)
                return -ENOMEM;
        g->created_usec = gm->created_usec;
        g->memory_mib = gm->memory_mib;
        g->vcpus = (uint32_t) gm->vcpus;
        return 0;
}

static void on_verified(int r, const char *message, void *userdata) {
        Golden *g = userdata;

        g->child = sd_event_source_disable_unref(g->child);
        if (r >= 0) {
                log_info("Golden snapshot %s of persona %s verified.", g->id, g->persona);
                g->usable = true;
                golden_set(g, GOLDEN_READY, 100, NULL);
                /* Its inputs may have changed while the child ran (a reload then waited for it). */
                golden_refresh(g);
                return;
        }
        /* Corrupt, or changed while it was checked: never used. It is made again. */
        log_warning(
                "Golden snapshot %s of persona %s is not usable (%s); rebuilding it.",
                strna(g->id),
                g->persona,
                strna(message));
        if (g->dir)
                (void) rm_rf(g->dir);
        golden_drop_current(g);
        golden_set(g, GOLDEN_NONE, 0, NULL);
        golden_refresh(g);
}

static void verify_job_free(VerifyJob *j) {
        free(j->dir);
        golden_manifest_done(&j->manifest);
}

/* Takes the golden snapshot in dir. One found on disk is checked against its manifest in a child (VERIFYING,
 * then READY or rebuilt); one that was hashed into its manifest just now (hashed) is READY at once. */
static int golden_take(Golden *g, const char *dir, bool hashed) {
        _cleanup_(verify_job_free) VerifyJob j = {};
        _cleanup_free_ char *error = NULL;
        int r;

        r = golden_read_manifest(dir, &j.manifest, &error);
        /* It says it is what its place says it is. */
        if (r >= 0 && (!streq(j.manifest.persona, g->persona) || !streq(j.manifest.id, basename(dir))))
                r = -EBADMSG;
        if (r >= 0) {
                j.vmm = vmm_kind_from_string(j.manifest.vmm);
                if (!IN_SET(j.vmm, VMM_QEMU, VMM_HV))
                        r = -EBADMSG;
        }
        if (r >= 0)
                r = golden_stat_files(dir, j.vmm, j.st);
        if (r >= 0)
                r = golden_take_manifest(g, dir, j.vmm, &j.manifest);
        if (r < 0) {
                log_warning(
                        "Golden snapshot in '%s' is incomplete or corrupt (%s); rebuilding it.",
                        dir,
                        error ?: strerror(-r));
                (void) rm_rf(dir);
                golden_drop_current(g);
                return r;
        }
        memcpy(g->st, j.st, sizeof(g->st));
        if (hashed) {
                g->usable = true;
                golden_set(g, GOLDEN_READY, 100, NULL);
                return 0;
        }
        j.dir = strdup(dir);
        if (!j.dir)
                return -ENOMEM;
        /* The child works on its copy of j. */
        r = fork_call(g->manager->event, "golden-verify", verify_files, &j, on_verified, g, &g->child);
        if (r < 0)
                return r;
        golden_set(g, GOLDEN_VERIFYING, 0, "verifying");
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Golden *g = userdata;

        g->retry = sd_event_source_disable_unref(g->retry);
        golden_refresh(g);
        return 0;
}

/* Brings g in line with its persona now: nothing to do, a verification, or a build. */
static void golden_refresh(Golden *g) {
        _cleanup_free_ char *image_error = NULL, *dir = NULL, *pdir = NULL;
        char key[GOLDEN_KEY_LEN + 1];
        Manager *m = g->manager;
        Persona *p = manager_find_persona(m, g->persona);
        Image *image;
        int r;

        if (!p || !p->golden || m->exiting || g->child)
                return;
        r = manager_get_image(m, p->image, &image, &image_error);
        if (r == -EINPROGRESS) {
                if (!g->retry)
                        (void) sd_event_add_time_relative(
                                m->event, &g->retry, CLOCK_MONOTONIC, GOLDEN_RETRY_USEC, 0, on_retry, g);
                return;
        }
        if (r < 0) {
                _cleanup_free_ char *why = NULL;
                (void) asprintf(&why, "image \"%s\" is not usable: %s", p->image, image_error ?: strerror(-r));
                golden_set(g, GOLDEN_FAILED, 0, why);
                return;
        }
        _cleanup_free_ char *key_error = NULL;
        VmmKind vmm;
        r = golden_compute_key(m, p, image, key, &vmm, &key_error);
        if (r < 0) {
                if (key_error)
                        golden_set(g, GOLDEN_FAILED, 0, key_error);
                return;
        }
        memcpy(g->key, key, sizeof(g->key));
        if (g->builder) {
                if (id_has_key(g->build_id, key))
                        return;
                /* The inputs changed under the build: what it makes would be stale at once. */
                log_info("Inputs of persona %s changed during its golden build; building again.", g->persona);
                golden_builder_ended(g->builder, "its inputs changed");
        }
        if (g->usable && id_has_key(g->id, key) && golden_files_unchanged(g))
                return;
        if (g->state == GOLDEN_FAILED && id_has_key(g->failed_id, key))
                return;
        pdir = persona_dir(m, g->persona);
        if (!pdir)
                return;
        dir = find_on_disk(pdir, key);
        if (dir && golden_take(g, dir, false) >= 0)
                return;
        golden_drop_current(g);
        r = golden_build_start(g, p, key, vmm, NULL);
        if (r < 0 && r != -ENOSPC)
                log_warning_errno(r, "Failed to start the golden build of persona %s: %m", g->persona);
}

Golden *golden_for_clone(Manager *m, const VM *vm) {
        Golden *g = golden_get(m, vm->persona);

        if (!g)
                return NULL;
        golden_refresh(g);
        if (!g->usable || !id_has_key(g->id, g->key) || vm->memory_mib != g->memory_mib ||
            vm->vcpus != g->vcpus || !streq_ptr(vm->accel, g->accel) || vm->vmm != g->vmm ||
            !streq_ptr(vm->image, g->image))
                return NULL;
        return g;
}

/* Building */

static void golden_build_failed(Golden *g, const char *why) {
        log_warning("Golden build of persona %s failed: %s", g->persona, why);
        (void) free_and_strdup(&g->failed_id, g->build_id);
        if (g->build_dir)
                (void) rm_rf(g->build_dir);
        g->build_dir = mfree(g->build_dir);
        g->build_id = mfree(g->build_id);
        g->state_fd = safe_close(g->state_fd);
        golden_set(g, GOLDEN_FAILED, 0, why);
}

static void golden_build_failed_errno(Golden *g, const char *what, int r) {
        _cleanup_free_ char *msg = NULL;

        (void) asprintf(&msg, "%s: %s", what, strerror(-r));
        golden_build_failed(g, msg ?: what);
}

/* A builder's disk directory left by a vmmd that crashed mid-build belongs to the identity it ran as: the
 * new builder takes that identity over (no VM holds it) to remove it. */
static void builder_remove_leftovers(VM *vm) {
        _cleanup_free_ char *dir = vm_disk_dir(vm);
        struct stat st;

        if (!dir || lstat(dir, &st) < 0)
                return;
        if (st.st_uid >= VM_UID_BASE && st.st_uid < VM_UID_BASE + VM_UID_COUNT &&
            !vm_identity_taken(vm->manager, vm, st.st_uid))
                vm->uid = st.st_uid;
        vm_remove_files(vm);
}

static int golden_build_start(Golden *g, const Persona *p, const char *key, VmmKind vmm, char **ret_error) {
        _cleanup_free_ char *name = NULL, *why = NULL, *pdir = NULL, *state_path = NULL, *error = NULL;
        Manager *m = g->manager;
        uint8_t serial[GOLDEN_SERIAL_LEN / 2];
        char id[GOLDEN_ID_LEN + 1];
        VM *vm = NULL;
        int r;

        if (getrandom(serial, sizeof(serial), 0) != sizeof(serial))
                return -errno;
        memcpy(id, key, GOLDEN_KEY_LEN);
        id[GOLDEN_KEY_LEN] = '-';
        hexmem(serial, sizeof(serial), id + GOLDEN_KEY_LEN + 1);

        if (asprintf(&name, ".golden-%s", p->name) < 0)
                return -ENOMEM;
        r = manager_memory_admit(m, NULL, name, p->memory_mib, &why);
        if (r < 0) {
                /* Not a failure: the next clone asks again. */
                _cleanup_free_ char *msg = NULL;
                (void) asprintf(&msg, "waiting for memory: %s", strna(why));
                golden_set(g, GOLDEN_NONE, 0, msg);
                if (ret_error)
                        *ret_error = TAKE_PTR(why);
                return -ENOSPC;
        }
        pdir = persona_dir(m, p->name);
        if (!pdir || free_and_strdup(&g->build_id, id) < 0 ||
            asprintf(&g->build_dir, "%s/.build-%s", pdir, id) < 0)
                return -ENOMEM;
        (void) rm_rf(g->build_dir);
        /* Traversable and readable by the clones' VMMs, each its own uid (vmmd's umask is 077). */
        r = mkdir_p(g->build_dir, 0711);
        if (r >= 0 && (chmod(pdir, 0711) < 0 || chmod(g->build_dir, 0711) < 0))
                r = -errno;
        if (r < 0)
                goto fail;
        if (asprintf(&state_path, "%s/%s", g->build_dir, golden_file_name(vmm, GOLDEN_FILE_STATE)) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        g->state_fd = open(state_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
        if (g->state_fd >= 0 && fchmod(g->state_fd, 0444) < 0)
                g->state_fd = safe_close(g->state_fd);
        if (g->state_fd < 0) {
                r = -errno;
                goto fail;
        }
        r = vm_new(m, name, p, p->memory_mib, p->vcpus, m->accel, vmm, 0, g, &vm);
        if (r < 0)
                goto fail;
        g->builder = vm;
        builder_remove_leftovers(vm);
        log_info("Building golden snapshot %s of persona %s.", id, p->name);
        golden_set(g, GOLDEN_BUILDING, 10, "booting");
        r = vm_start(vm, NULL, &error);
        if (r < 0) {
                _cleanup_free_ char *msg = NULL;
                (void) asprintf(&msg, "cannot start: %s", error ?: strerror(-r));
                golden_builder_ended(vm, msg);
        }
        return 0;
fail:
        golden_build_failed_errno(g, "cannot prepare its directory", r);
        return r;
}

static void on_migrate_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;
        _cleanup_free_ char *why = NULL;

        if (!error_class)
                return;
        (void) asprintf(&why, "QEMU did not save the VM state: %s", strna(error_desc));
        vm_abort(vm, why);
}

void golden_builder_running(VM *vm) {
        Golden *g = vm->builder_of;
        json_object *caps = json_object_new_object(), *list = json_object_new_array(),
                    *cap = json_object_new_object(), *params = json_object_new_object(),
                    *migrate = json_object_new_object(), *getfd = json_object_new_object();
        int r = -ENOMEM;

        golden_set(g, GOLDEN_BUILDING, 60, "saving the VM state");
        /* Stopped first, so the disk and the RAM are of one moment; the stream as fast as the disk takes
         * it (the default limit is for live migration over a network); its end as an event. */
        if (caps && list && cap && params && migrate && getfd &&
            json_object_object_add(getfd, "fdname", json_object_new_string(GOLDEN_STATE_FDNAME)) == 0 &&
            json_object_object_add(cap, "capability", json_object_new_string("events")) == 0 &&
            json_object_object_add(cap, "state", json_object_new_boolean(true)) == 0 &&
            json_object_array_add(list, TAKE_PTR(cap)) == 0 &&
            json_object_object_add(caps, "capabilities", TAKE_PTR(list)) == 0 &&
            json_object_object_add(params, "max-bandwidth", json_object_new_int64(INT64_MAX / 2)) == 0 &&
            json_object_object_add(migrate, "uri", json_object_new_string("fd:" GOLDEN_STATE_FDNAME)) == 0) {
                r = qmp_send(vm->qmp, "stop", NULL, on_migrate_reply, vm);
                /* QEMU's outgoing "fd:" takes only a named fd of the monitor's own. */
                r = r < 0 ? r :
                            qmp_send_fd(vm->qmp, "getfd", TAKE_PTR(getfd), g->state_fd, on_migrate_reply, vm);
                r = r < 0 ?
                        r :
                        qmp_send(vm->qmp, "migrate-set-capabilities", TAKE_PTR(caps), on_migrate_reply, vm);
                r = r < 0 ?
                        r :
                        qmp_send(vm->qmp, "migrate-set-parameters", TAKE_PTR(params), on_migrate_reply, vm);
                r = r < 0 ? r : qmp_send(vm->qmp, "migrate", TAKE_PTR(migrate), on_migrate_reply, vm);
        }
        json_object_put(caps);
        json_object_put(list);
        json_object_put(cap);
        json_object_put(params);
        json_object_put(migrate);
        json_object_put(getfd);
        if (r < 0)
                vm_abort(vm, "cannot ask QEMU to save the VM state");
}

static void on_quit_reply(
        QmpClient *c, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
}

void golden_builder_qmp_event(VM *vm, const char *event, json_object *data) {
        Golden *g = vm->builder_of;
        json_object *status;
        const char *s;

        if (!streq(event, "MIGRATION") || !json_object_object_get_ex(data, "status", &status))
                return;
        s = json_object_get_string(status);
        if (streq_ptr(s, "completed")) {
                g->saved = true;
                golden_set(g, GOLDEN_BUILDING, 80, "saving the disk");
                if (qmp_send(vm->qmp, "quit", NULL, on_quit_reply, vm) < 0)
                        vm_abort(vm, "cannot ask QEMU to quit");
        } else if (streq_ptr(s, "failed"))
                vm_abort(vm, "QEMU failed to save the VM state");
}

/* The builder's disk, read as the builder, becomes root's read-only copy in the build directory. */
static int copy_builder_disk(Golden *g, VM *vm) {
        _cleanup_close_ int in = -EBADF, out = -EBADF;
        _cleanup_free_ char *dest = NULL;
        struct stat st;

        {
                _cleanup_(vm_fs_leave) _unused_ VMFs fs = vm_fs_enter(vm);
                in = open_regular(vm->disk_path);
        }
        if (in < 0)
                return in;
        if (fstat(in, &st) < 0)
                return -errno;
        if (asprintf(&dest, "%s/%s", g->build_dir, golden_file_name(vm->vmm, GOLDEN_FILE_DISK)) < 0)
                return -ENOMEM;
        out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
        if (out < 0 || fchmod(out, 0444) < 0)
                return -errno;
        return copy_bytes(in, out, (uint64_t) st.st_size);
}

typedef struct FinishJob {
        char *dir;
        char *head;       /* the manifest but its files */
        char *final_disk; /* where the disk will be: the overlay's backing file */
        const char *qemu_img;
        VmmKind vmm;
} FinishJob;

/* The overlay each clone gets a copy of: made once here, so a clone starts without running qemu-img (200 ms
 * on the emulated phone). Its backing file is the disk where it will be; its size that disk's (qcow2's
 * big-endian size at byte 24), so qemu-img need not open it (-u). */
static int make_overlay(FinishJob *j, char **ret_message) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *disk = NULL, *overlay = NULL, *size = NULL;
        uint64_t be;
        int r;

        if (asprintf(&disk, "%s/%s", j->dir, golden_file_name(j->vmm, GOLDEN_FILE_DISK)) < 0 ||
            asprintf(&overlay, "%s/%s", j->dir, golden_file_name(j->vmm, GOLDEN_FILE_OVERLAY)) < 0)
                return -ENOMEM;
        /* vmm-hv's overlay is made by vmm-hv itself in the empty file it is given (its size and the backing
         * file's are checked then): nothing here knows its format. */
        if (j->vmm == VMM_HV) {
                fd = open(overlay, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
                if (fd < 0 || fchmod(fd, 0444) < 0) {
                        r = -errno;
                        (void) asprintf(ret_message, "%s: %s", overlay, strerror(-r));
                        return r;
                }
                return 0;
        }
        fd = open(disk, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || pread(fd, &be, sizeof(be), 24) != sizeof(be)) {
                (void) asprintf(ret_message, "%s: cannot read its size", disk);
                return -EIO;
        }
        if (asprintf(&size, "%" PRIu64, be64toh(be)) < 0)
                return -ENOMEM;
        char *argv[] = { (char *) j->qemu_img,
                         (char *) "create",
                         (char *) "-q",
                         (char *) "-f",
                         (char *) "qcow2",
                         (char *) "-F",
                         (char *) "qcow2",
                         (char *) "-u",
                         (char *) "-b",
                         j->final_disk,
                         overlay,
                         size,
                         NULL };
        pid_t pid;
        int pidfd, status;

        r = spawn(argv, &(SpawnOptions){ .output_fd = -EBADF }, &pid, &pidfd, NULL);
        if (r < 0) {
                (void) asprintf(ret_message, "cannot run %s: %s", j->qemu_img, strerror(-r));
                return r;
        }
        safe_close(pidfd);
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                (void) asprintf(ret_message, "%s create failed for %s", j->qemu_img, overlay);
                return -EIO;
        }
        return chmod(overlay, 0444) < 0 ? -errno : 0;
}

/* In a child: the overlay made, all files synced and hashed, then the manifest, synced too. */
static int finish_files(void *userdata, char **ret_message) {
        FinishJob *j = userdata;
        _cleanup_free_ char *text = NULL, *path = NULL;
        char hex[_GOLDEN_FILE_MAX][SHA256_HEX_SIZE];
        uint64_t size[_GOLDEN_FILE_MAX];
        int r;

        r = make_overlay(j, ret_message);
        if (r < 0)
                return r;
        for (GoldenFile k = 0; k < _GOLDEN_FILE_MAX; k++) {
                _cleanup_close_ int fd = -EBADF;
                uint8_t digest[SHA256_DIGEST_SIZE];
                char p[PATH_MAX];

                (void) snprintf(p, sizeof(p), "%s/%s", j->dir, golden_file_name(j->vmm, k));
                fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 || fsync(fd) < 0) {
                        r = -errno;
                        (void) asprintf(ret_message, "%s: %s", p, strerror(-r));
                        return r;
                }
                r = sha256_fd(fd, digest, &size[k]);
                if (r < 0) {
                        (void) asprintf(ret_message, "%s: cannot read: %s", p, strerror(-r));
                        return r;
                }
                sha256_to_hex(digest, hex[k]);
        }
        if (asprintf(
                    &text,
                    "%sstate_size: %" PRIu64 "\nstate_sha256: %s\ndisk_size: %" PRIu64 "\ndisk_sha256: %s\n"
                    "overlay_size: %" PRIu64 "\noverlay_sha256: %s\n",
                    j->head,
                    size[GOLDEN_FILE_STATE],
                    hex[GOLDEN_FILE_STATE],
                    size[GOLDEN_FILE_DISK],
                    hex[GOLDEN_FILE_DISK],
                    size[GOLDEN_FILE_OVERLAY],
                    hex[GOLDEN_FILE_OVERLAY]) < 0 ||
            asprintf(&path, "%s/" GOLDEN_MANIFEST, j->dir) < 0)
                return -ENOMEM;
        r = write_file_atomic(path, text);
        if (r < 0)
                (void) asprintf(ret_message, "%s: %s", path, strerror(-r));
        return r;
}

static void on_finished(int r, const char *message, void *userdata) {
        _cleanup_free_ char *final = NULL, *pdir = NULL;
        Golden *g = userdata;

        g->child = sd_event_source_disable_unref(g->child);
        if (r < 0) {
                golden_build_failed(g, message ?: "its files could not be written");
                return;
        }
        pdir = persona_dir(g->manager, g->persona);
        if (!pdir || asprintf(&final, "%s/%s", pdir, g->build_id) < 0) {
                golden_build_failed(g, "out of memory");
                return;
        }
        /* One rename: before it, there is no golden snapshot of this id; after it, a whole one. */
        (void) rm_rf(final);
        if (rename(g->build_dir, final) < 0) {
                _cleanup_free_ char *why = NULL;
                (void) asprintf(&why, "cannot move it into place: %s", strerror(errno));
                golden_build_failed(g, why);
                return;
        }
        {
                _cleanup_close_ int dfd = open(pdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0)
                        (void) fsync(dfd);
        }
        log_info("Golden snapshot %s of persona %s is ready.", g->build_id, g->persona);
        g->build_dir = mfree(g->build_dir);
        /* The child hashed its files into the manifest just now: no second pass. Failing to read that back
         * is a failed build (building again would only loop). */
        r = golden_take(g, final, true);
        if (r < 0) {
                free(g->failed_id);
                g->failed_id = TAKE_PTR(g->build_id);
                golden_set(g, GOLDEN_FAILED, 0, "the new golden snapshot cannot be read back");
        } else {
                g->build_id = mfree(g->build_id);
                g->failed_id = mfree(g->failed_id);
        }
        golden_collect(g->manager, g->persona);
        /* Its inputs may have changed while the child ran (a reload then waited for it). */
        golden_refresh(g);
}

/* The agent answered with its version: 0.3 is the first that takes an identity (ENTROPY and the rest). Only
 * digits and dots: it goes into the manifest. */
static bool agent_gives_identity(const char *version) {
        unsigned major, minor;

        return version && version[strspn(version, "0123456789.")] == 0 &&
                sscanf(version, "%u.%u", &major, &minor) == 2 && (major > 0 || minor >= 3);
}

void golden_builder_ended(VM *vm, const char *failure) {
        _cleanup_free_ char *why = NULL, *head = NULL;
        Golden *g = vm->builder_of;
        bool saved = g->saved;
        int r;

        g->saved = false;
        if (!failure && !saved)
                failure = "the VM ended before its state was saved";
        if (!failure && !agent_gives_identity(vm->agent_version) &&
            asprintf(
                    &why,
                    "the image's agent (%s) cannot give a clone its own identity: agent 0.3 or later is needed",
                    strna(vm->agent_version)) >= 0)
                failure = why;
        if (!failure) {
                r = copy_builder_disk(g, vm);
                if (r < 0 && asprintf(&why, "cannot copy its disk: %s", strerror(-r)) >= 0)
                        failure = why;
        }
        if (!failure &&
            asprintf(
                    &head,
                    "# Written by vmmd: a golden snapshot, verified against this before every use.\n"
                    "id: %s\npersona: %s\nimage: %s\naccel: %s\nvmm: %s\nagent_version: \"%s\"\n"
                    "created_usec: %" PRIu64 "\nmemory_mib: %" PRIu64 "\nvcpus: %" PRIu32 "\n",
                    g->build_id,
                    g->persona,
                    vm->image,
                    vm->accel,
                    vmm_kind_to_string(vm->vmm),
                    vm->agent_version,
                    now_usec(CLOCK_REALTIME),
                    vm->memory_mib,
                    vm->vcpus) < 0)
                failure = "out of memory";

        /* The builder goes now, whatever happened: its VMM is gone or killed here, its files removed. */
        VmmKind vmm = vm->vmm;
        g->builder = NULL;
        vm_remove_files(vm);
        vm_free(vm);

        if (failure) {
                golden_build_failed(g, failure);
                return;
        }
        _cleanup_free_ char *final_disk = golden_disk_path(g->manager, g->persona, g->build_id, vmm);
        FinishJob j = { .dir = g->build_dir,
                        .head = head,
                        .final_disk = final_disk,
                        .qemu_img = g->manager->config.qemu_img,
                        .vmm = vmm };
        if (!final_disk) {
                golden_build_failed(g, "out of memory");
                return;
        }
        g->state_fd = safe_close(g->state_fd);
        golden_set(g, GOLDEN_BUILDING, 90, "syncing and hashing");
        r = fork_call(g->manager->event, "golden-finish", finish_files, &j, on_finished, g, &g->child);
        if (r < 0)
                golden_build_failed_errno(g, "cannot start hashing its files", r);
}

/* Lists, removals, sync */

static bool golden_in_use(Manager *m, const char *persona, const char *id) {
        for (VM *vm = m->vms; vm; vm = vm->next)
                if (streq_ptr(vm->golden, id) && streq(vm->persona, persona))
                        return true;
        return false;
}

void golden_collect(Manager *m, const char *persona) {
        _cleanup_free_ char *pdir = persona_dir(m, persona);
        Golden *g = golden_get(m, persona);
        DIR *d;

        if (!pdir || !(d = opendir(pdir)))
                return;
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *path = NULL;
                const char *build = strncmp(de->d_name, ".build-", 7) == 0 ? de->d_name + 7 : NULL;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (build ? g && streq_ptr(g->build_id, build) && g->build_dir :
                            (g && streq_ptr(g->id, de->d_name)) || golden_in_use(m, persona, de->d_name))
                        continue;
                if (asprintf(&path, "%s/%s", pdir, de->d_name) < 0)
                        break;
                log_info("Removing golden snapshot '%s': neither current nor used by a VM.", path);
                (void) rm_rf(path);
        }
        closedir(d);
        (void) rmdir(pdir); /* only if empty */
}

static Golden *golden_free(Golden *g) {
        if (!g)
                return NULL;
        g->child = sd_event_source_disable_unref(g->child);
        g->retry = sd_event_source_disable_unref(g->retry);
        if (g->builder) {
                VM *vm = TAKE_PTR(g->builder);
                vm_remove_files(vm);
                vm_free(vm); /* kills its VMM */
        }
        safe_close(g->state_fd);
        golden_drop_current(g);
        free(g->persona);
        free(g->message);
        free(g->build_id);
        free(g->build_dir);
        free(g->failed_id);
        free(g);
        return NULL;
}

void golden_free_all(Manager *m) {
        for (size_t i = 0; i < m->n_goldens; i++)
                golden_free(m->goldens[i]);
        m->goldens = mfree(m->goldens);
        m->n_goldens = 0;
}

void golden_sync(Manager *m) {
        _cleanup_free_ char *root = NULL;
        DIR *d;

        /* Personas that no longer want one lose theirs (a build of it ends). */
        for (size_t i = 0; i < m->n_goldens;) {
                Persona *p = manager_find_persona(m, m->goldens[i]->persona);

                if (p && p->golden) {
                        i++;
                        continue;
                }
                golden_free(m->goldens[i]);
                memmove(m->goldens + i, m->goldens + i + 1, (m->n_goldens - i - 1) * sizeof(Golden *));
                m->n_goldens--;
        }
        for (size_t i = 0; i < m->n_personas; i++) {
                Persona *p = m->personas[i];
                Golden *g, **t;

                if (!p->golden || golden_get(m, p->name))
                        continue;
                t = reallocarray(m->goldens, m->n_goldens + 1, sizeof(Golden *));
                if (!t)
                        return;
                m->goldens = t;
                g = calloc(1, sizeof(Golden));
                if (!g || !(g->persona = strdup(p->name))) {
                        free(g);
                        return;
                }
                g->manager = m;
                g->state_fd = -EBADF;
                m->goldens[m->n_goldens++] = g;
        }
        (void) manager_emit_golden_changed(m);
        for (size_t i = 0; i < m->n_goldens; i++) {
                /* A reload is the way to try a failed build again (as is RebuildGoldenSnapshot). */
                m->goldens[i]->failed_id = mfree(m->goldens[i]->failed_id);
                golden_refresh(m->goldens[i]);
        }
        /* What is on disk: builds that never finished, snapshots of old inputs and of gone personas. */
        if (asprintf(&root, "%s/golden", m->config.cache_dir) < 0 || !(d = opendir(root)))
                return;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        golden_collect(m, de->d_name);
        closedir(d);
}

int golden_rebuild(Manager *m, const char *persona, char **ret_error) {
        Persona *p = manager_find_persona(m, persona);
        Golden *g = golden_get(m, persona);

        if (!p) {
                (void) asprintf(ret_error, "Persona \"%s\" does not exist", persona);
                return -ENOENT;
        }
        if (!g) {
                (void) asprintf(
                        ret_error, "Persona \"%s\" does not use golden snapshots (golden: true)", persona);
                return -EINVAL;
        }
        if (g->builder || g->child) {
                (void) asprintf(
                        ret_error,
                        "The golden snapshot of \"%s\" is being %s",
                        persona,
                        golden_state_to_string(g->state));
                return -EBUSY;
        }
        /* The current one stays in use until the new one is ready, and goes then (unless a clone uses it). */
        char key[GOLDEN_KEY_LEN + 1];
        Image *image;
        int r = manager_get_image(m, p->image, &image, ret_error);

        if (r < 0)
                return r == -EINPROGRESS ? -EBUSY : r;
        VmmKind vmm;
        r = golden_compute_key(m, p, image, key, &vmm, ret_error);
        if (r < 0)
                return r;
        g->failed_id = mfree(g->failed_id);
        return golden_build_start(g, p, key, vmm, ret_error);
}

int golden_append_list(Manager *m, sd_bus_message *reply) {
        int r = sd_bus_message_open_container(reply, 'a', "(sssusst)");

        for (size_t i = 0; r >= 0 && i < m->n_goldens; i++) {
                Golden *g = m->goldens[i];

                r = sd_bus_message_append(
                        reply,
                        "(sssusst)",
                        g->persona,
                        strempty(g->id),
                        golden_state_to_string(g->state),
                        g->progress,
                        strempty(g->message),
                        strempty(g->image),
                        g->created_usec);
        }
        return r < 0 ? r : sd_bus_message_close_container(reply);
}
