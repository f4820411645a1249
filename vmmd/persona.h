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

/* What happens to a VM whose guest kernel panicked, once its crash bundle is saved (crash.h). */
typedef enum CrashAction {
        CRASH_ACTION_KEEP,    /* the VM stays paused as it crashed, for inspection (vmctl debug) */
        CRASH_ACTION_RESTART, /* it boots again (a crash loop fails it, like a reboot loop) */
        CRASH_ACTION_DESTROY, /* it is destroyed, with its bundles unless they are kept */
        _CRASH_ACTION_MAX,
        _CRASH_ACTION_INVALID = -EINVAL,
} CrashAction;

const char *crash_action_to_string(CrashAction a);
CrashAction crash_action_from_string(const char *s);

/* Whether a VM of the persona may be crashed on purpose (CrashTest): a guest worth more than a test (the
 * work phone) only when the caller insists. */
typedef enum CrashTest {
        CRASH_TEST_ALLOW,
        CRASH_TEST_FORCE,
        _CRASH_TEST_MAX,
        _CRASH_TEST_INVALID = -EINVAL,
} CrashTest;

const char *crash_test_to_string(CrashTest t);
CrashTest crash_test_from_string(const char *s);

/* The VMM a VM runs in: QEMU (the full platform) or vmm-hv (hypervisor/hv: our own, on KVM only, for
 * throwaways that clone in milliseconds). "auto", a persona's only, becomes hv where vmm-hv can run (KVM,
 * the program installed) and qemu elsewhere, once, when a VM is made. */
typedef enum VmmKind {
        VMM_QEMU,
        VMM_HV,
        VMM_AUTO,
        _VMM_KIND_MAX,
        _VMM_KIND_INVALID = -EINVAL,
} VmmKind;

const char *vmm_kind_to_string(VmmKind k);
VmmKind vmm_kind_from_string(const char *s);

/* A phone's screen (persona key "display": WIDTHxHEIGHT, or "none"): a phone's portrait size unless the
 * persona says otherwise. The guest draws into its own RAM: the bounds keep that reasonable. */
#define PERSONA_DISPLAY_WIDTH_DEFAULT 720U
#define PERSONA_DISPLAY_HEIGHT_DEFAULT 1280U
#define PERSONA_DISPLAY_MIN 160U
#define PERSONA_DISPLAY_MAX 4096U

/* The colour people tell the persona's phones by (key "color": "#rrggbb"); without one, a colour made from
 * the persona's name, so that two personas seldom look alike. */
uint32_t persona_default_color(const char *name);

/* Crash bundles kept per VM: at most this many, and at most this much disk space in all. */
#define PERSONA_CRASH_BUNDLES_MAX 64U
#define PERSONA_CRASH_BUNDLES_DEFAULT 3U
#define PERSONA_CRASH_BUNDLES_MIB_DEFAULT UINT64_C(2048)

typedef struct Persona {
        char *name; /* the file name without ".yaml" */
        char *description;
        uint64_t memory_mib;
        uint32_t vcpus;
        char *image; /* image name, looked up in the image directory */
        DiskMode disk;
        bool autostart;
        bool golden; /* its VMs are clones of a golden snapshot (golden.h); ephemeral personas only */
        CrashAction on_crash;   /* default: keep for ephemeral personas, restart for the others */
        uint32_t crash_bundles; /* 0: a crash is noticed and acted on, but nothing is saved */
        uint64_t crash_bundles_mib;
        CrashTest crash_test;
        VmmKind vmm;    /* default: auto for ephemeral personas, qemu for the others */
        uint32_t color; /* 0xRRGGBB */
        uint32_t display_width, display_height; /* both 0: "display: none" */
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
