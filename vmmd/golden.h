/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Golden snapshots: for each persona with "golden: true", its image booted once to agent-ready by vmmd and
 * saved (QEMU's migration stream of RAM and devices, and the disk as it was then), so that its VMs start as
 * clones of it instead of booting. One per persona, in the cache directory:
 *
 *   <cache>/golden/<persona>/<id>/{state,disk.qcow2,overlay.qcow2,golden.yaml}
 *
 * (for a persona whose VMs run in vmm-hv: vmm-hv's snapshot, disk.img and overlay.img).
 *
 * The id is "<key>-<serial>": the key is made from everything the saved guest depends on (the image's files,
 * the persona's size, the accelerator and CPU model, the VMM and its binary, vmmd's version), so a change of
 * any of them makes a new one. The serial is random per build, so a rebuild never replaces a golden snapshot
 * that clones still use. A build happens in <persona>/.build-<id>/ and becomes the golden snapshot by one
 * rename, after its files were synced and hashed into golden.yaml: a golden snapshot is whole or absent. Its
 * files are root's and read-only; no VMM gets write access to any of them (the state reaches a clone's QEMU
 * as a read-only fd, the disk is the read-only backing file of the clone's own overlay). Before use, each
 * one is verified against golden.yaml (sha256, in a child process), and again whenever its files' stat
 * changes; a corrupt or missing one is rebuilt, never used. */
#pragma once

#include <sys/stat.h>

#include "vm.h"

typedef enum GoldenState {
        GOLDEN_NONE,      /* none yet (waiting for the image's verification, say) */
        GOLDEN_BUILDING,  /* being built */
        GOLDEN_VERIFYING, /* found on disk, being checked against its manifest */
        GOLDEN_READY,     /* clones are made of it */
        GOLDEN_FAILED,    /* the last build failed (message says why); not tried again by itself */
        _GOLDEN_STATE_MAX,
        _GOLDEN_STATE_INVALID = -EINVAL,
} GoldenState;

const char *golden_state_to_string(GoldenState s);

typedef enum GoldenFile {
        GOLDEN_FILE_STATE,
        GOLDEN_FILE_DISK,
        GOLDEN_FILE_OVERLAY,
        _GOLDEN_FILE_MAX,
} GoldenFile;
GoldenState golden_state_from_string(const char *s);

#define GOLDEN_KEY_LEN 16                                      /* hex digits of the inputs' hash */
#define GOLDEN_SERIAL_LEN 8                                    /* hex digits, random per build */
#define GOLDEN_ID_LEN (GOLDEN_KEY_LEN + 1 + GOLDEN_SERIAL_LEN) /* "<key>-<serial>" */

struct Golden {
        Manager *manager;
        char *persona;
        GoldenState state;
        unsigned progress; /* percent, while building */
        char *message;     /* the step while building, why while failed */

        /* The golden snapshot in use (ready or being verified); clones are made of it while usable
         * (verified), also while a new one is built. */
        bool usable;
        char key[GOLDEN_KEY_LEN + 1]; /* of the inputs as they are now: only a golden snapshot of these is used */
        char *id;
        char *dir;
        char *image;
        uint64_t created_usec;
        uint64_t memory_mib;
        uint32_t vcpus;
        char *accel;
        VmmKind vmm;                      /* whose state and disk these are */
        struct stat st[_GOLDEN_FILE_MAX]; /* what was verified */

        /* While building. */
        char *build_id;
        char *build_dir;
        VM *builder;
        int state_fd;           /* the stream QEMU writes, root's file */
        bool saved;             /* QEMU reported the stream complete */
        sd_event_source *child; /* the verifier or the finisher (sync, hash, manifest) */
        sd_event_source *retry; /* waiting for the image to be verified */
        char *failed_id;        /* the inputs whose build failed last */
};

#define GOLDEN_KEY_LEN 16                                      /* hex digits of the inputs' hash */
#define GOLDEN_SERIAL_LEN 8                                    /* hex digits, random per build */
#define GOLDEN_ID_LEN (GOLDEN_KEY_LEN + 1 + GOLDEN_SERIAL_LEN) /* "<key>-<serial>" */

/* Follows the personas (at startup and after a reload): one Golden per persona that wants one; each is
 * found on disk and verified, or built. Golden snapshots of other inputs are removed unless a VM uses one. */
void golden_sync(Manager *m);
void golden_free_all(Manager *m);

/* The golden snapshot a new VM of vm's persona, size and accelerator can be cloned from: ready, its inputs
 * unchanged and its files as verified. NULL otherwise, and whatever is missing is started (a build or a
 * verification), so that a later VM finds one. */
Golden *golden_for_clone(Manager *m, const VM *vm);
/* The golden snapshot id of persona, if ready (for a clone that starts now). */
Golden *golden_find(Manager *m, const char *persona, const char *id);
/* Its read-only base disk: the backing file of a clone's disk, at every boot. */
char *golden_disk_path(Manager *m, const char *persona, const char *id, VmmKind vmm);
/* One of its files opened read-only (the state for QEMU, the overlay to copy), checked to be exactly what
 * was verified (-ESTALE otherwise). */
int golden_open_file(Golden *g, GoldenFile k);

/* RebuildGoldenSnapshot(): -ENOENT no such persona, -EINVAL it has no golden snapshots, -EBUSY a build runs. */
int golden_rebuild(Manager *m, const char *persona, char **ret_error);
/* Removes golden snapshots of persona that are neither current nor used by a VM (after a clone went). */
void golden_collect(Manager *m, const char *persona);

/* From vm.c, for a golden build's VM (vm->builder_of): it runs (agent ready), a QMP event, it ended. */
void golden_builder_running(VM *vm);
void golden_builder_qmp_event(VM *vm, const char *event, json_object *data);
void golden_builder_ended(VM *vm, const char *failure);

/* a(sssusst): persona, id, state, progress, message, image, created (µs). */
int golden_append_list(Manager *m, sd_bus_message *reply);
