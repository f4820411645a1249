/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Persona templates: policies/personas/<name>.yaml, the blueprint a VM is created from. */
#pragma once

#include "util.h"

/* Bounds for memory and vCPUs, in persona files and in CreateVM overrides alike. */
#define PERSONA_MEMORY_MIN_MIB UINT64_C(64)
#define PERSONA_MEMORY_MAX_MIB UINT64_C(65536)
#define PERSONA_VCPUS_MIN 1U
#define PERSONA_VCPUS_MAX 64U
#define PERSONA_DESCRIPTION_MAX 256

typedef enum DiskMode {
        DISK_PERSISTENT, /* qcow2 overlay in the state directory, kept across stops */
        DISK_EPHEMERAL,  /* overlay in the runtime directory, deleted when the VM stops */
        _DISK_MODE_MAX,
        _DISK_MODE_INVALID = -EINVAL,
} DiskMode;

const char *disk_mode_to_string(DiskMode m);
DiskMode disk_mode_from_string(const char *s);

typedef struct Persona {
        char *name; /* the file name without ".yaml" */
        char *description;
        uint64_t memory_mib;
        uint32_t vcpus;
        char *image; /* image name, looked up in the image directory */
        DiskMode disk;
        bool autostart;
        bool golden; /* its VMs are clones of a golden snapshot (golden.h); ephemeral personas only */
} Persona;

Persona *persona_free(Persona *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Persona *, persona_free);

/* Loads one persona file. On failure returns a negative errno and, when ret_error is not NULL, a
 * message naming the file, line and key: "policies/personas/work.yaml:3: key 'memory_mib': ...". */
int persona_load(const char *path, Persona **ret, char **ret_error);

/* The persona files of dir: every "*.yaml" that is (or links to) a regular file, sorted, as paths. */
int persona_list_dir(const char *dir, char ***ret, char **ret_error);

/* Loads every "*.yaml" in dir, sorted by name. A single bad file fails the whole load. */
int persona_load_dir(const char *dir, Persona ***ret, size_t *ret_n, char **ret_error);
void persona_array_free(Persona **p, size_t n);
