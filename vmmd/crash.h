/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Crash bundles: what vmmd keeps of a guest kernel that panicked, one directory each, and how one is made.
 * No sd-bus and no VM here: vm-crash.c notices the panic and drives the capture, manager-dbus.c serves the
 * bundles. */
#pragma once

#include <sys/types.h>

#include "util.h"

/* <state>/crashes/<vm>/<id>/, root's alone (0700): a bundle holds the guest's memory.
 *   vmcore       the guest's RAM as an ELF core with the vCPUs' registers and the kernel's vmcoreinfo, and
 *                program headers at kernel virtual addresses (vmcore.h), so gdb and crash read it; pages of
 *                zeros are holes
 *   symbols.elf  the kernel's own symbol table (kallsyms, read from the dump) as an ELF file for gdb
 *   console.txt  the end of the serial console: the panic message and its call trace
 *   report.txt   what `vmctl crash show` prints: the panic and a backtrace of every vCPU, with names
 *   crash.json   the bundle's facts (CrashBundle), written last
 *   kept         present once the bundle is kept: no limit and no VM's end removes it then
 * A bundle is made in ".new-<id>" and renamed into place once complete. */
#define CRASH_DIR "crashes"
#define CRASH_CONSOLE_MAX (64U * 1024U) /* the console's tail kept, bytes */
#define CRASH_MESSAGE_MAX 256U
#define CRASH_FRAMES_MAX 64U
#define CRASH_ID_MAX 128U

/* The kernel prints this first when it panics (kernel/panic.c). */
#define CRASH_PANIC_MARK "Kernel panic - not syncing"

typedef struct CrashBundle {
        char *id;
        char *vm, *persona, *image;
        uid_t owner;
        uint64_t time_usec;  /* CLOCK_REALTIME, when the panic was noticed */
        uint64_t size_bytes; /* disk space it takes */
        char *message;       /* "Kernel panic - not syncing: sysrq triggered crash" */
        char *kernel;        /* the guest kernel's release, from its vmcoreinfo; "" if unknown */
        char *build_id;
        char *kernel_offset;   /* KASLR: hex, "" if unknown */
        uint32_t cpu;          /* the vCPU that panicked */
        char **backtrace;      /* that vCPU's frames, one "#N 0xADDR name+0xOFF/0xSIZE" each */
        bool core;             /* vmcore and symbols.elf are there */
        char *core_error;      /* why not, if not */
        uint64_t capture_usec; /* from the panic noticed to the bundle complete */
        bool kept;
} CrashBundle;

void crash_bundle_done(CrashBundle *b);
void crash_bundle_array_free(CrashBundle *b, size_t n);

/* The panic message in a console's text (the line from CRASH_PANIC_MARK on, printable, bounded), or NULL. */
char *crash_find_panic(const char *console);

/* A new bundle id for vm: "<vm>-<UTC YYYYMMDD-HHMMSS>", with "-N" if that exists already. */
int crash_new_id(const char *state_dir, const char *vm, uint64_t time_usec, char **ret);

/* Bundles of vm (NULL: of every VM), oldest first. Broken or half-made directories are skipped. */
int crash_list(const char *state_dir, const char *vm, CrashBundle **ret, size_t *ret_n);
/* -ENOENT if there is no bundle id. */
int crash_find(const char *state_dir, const char *id, CrashBundle *ret);
int crash_set_kept(const char *state_dir, const CrashBundle *b, bool kept);
int crash_remove(const char *state_dir, const CrashBundle *b);
/* Removes vm's oldest bundles that are not kept until at most max_count remain and they take at most
 * max_bytes (the newest stays, whatever its size). Returns how many it removed. */
int crash_prune(const char *state_dir, const char *vm, uint32_t max_count, uint64_t max_bytes);
/* vm is gone: its bundles go with it, but the kept ones. */
int crash_remove_vm(const char *state_dir, const char *vm);
/* Removes what a vmmd that died while making a bundle left (".new-*"). */
int crash_cleanup_partial(const char *state_dir);

/* Copies a memory dump from a pipe into fd, leaving pages of zeros as holes (a fresh guest's RAM is mostly
 * zeros: 256 MiB of it take 60 MiB), and at most max bytes: more is not a dump of this guest (-EFBIG). */
int crash_copy_dump(int in, int out, uint64_t max, uint64_t *ret_size);
/* In a fork_call() child about to read what a guest made: closes every fd but keep[], then becomes uid and
 * gid (0: stays) with no way back. */
int crash_child_sandbox(const int *keep, size_t n_keep, uid_t uid, gid_t gid);

/* Making a bundle: what the parent knows, handed to crash_build() in a child (fork_call). */
typedef struct CrashBuild {
        int dir_fd;              /* the new bundle's directory, empty */
        int dump_fd;             /* QEMU's dump-guest-memory output (a pipe), or -EBADF: no core */
        uint64_t core_max_bytes; /* more than this from the pipe is not a dump of this guest */
        uid_t uid;               /* what the child becomes before it reads the dump (0: stays) */
        gid_t gid;
        const CrashBundle *facts; /* id, vm, persona, image, owner, time, message, core_error */
        const char *console;
} CrashBuild;

/* Writes the bundle's files into b->dir_fd and fsyncs them (crash.json last). Meant for a child process:
 * it may drop its privileges. ret_message says what went wrong, for the log. */
int crash_build(const CrashBuild *b, char **ret_message);
