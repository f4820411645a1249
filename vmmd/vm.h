/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A virtual phone: its state machine and the lifecycle of its VMM process. No sd-bus here. */
#pragma once

#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "guest-agent.h"
#include "manager.h"
#include "operation.h"
#include "qcow2.h"
#include "qmp.h"
#include "store.h"

typedef struct Golden Golden;
typedef struct CrashCapture CrashCapture;
typedef struct DebugSymbols DebugSymbols;
typedef struct DebugSession DebugSession;
typedef struct DisplayRequest DisplayRequest;

typedef enum VMState {
        VM_CREATED,
        VM_STARTING,
        VM_RUNNING,
        VM_PAUSED,
        VM_STOPPING,
        VM_STOPPED,
        VM_FAILED,
        _VM_STATE_MAX,
        _VM_STATE_INVALID = -EINVAL,
} VMState;

const char *vm_state_to_string(VMState s);
VMState vm_state_from_string(const char *s);

typedef enum StopStage {
        STOP_NONE,
        STOP_AGENT,     /* asked the guest agent to power off */
        STOP_POWERDOWN, /* pressed the virtual power button */
        STOP_QUIT,      /* asked QEMU to quit */
        STOP_KILL,      /* SIGKILL */
} StopStage;

/* A call waiting for the lifecycle to reach a point: the VM holds its Operation and completes it. */
typedef enum PendingKind {
        PENDING_START,    /* CreateVM or Start: answered when the VMM runs (QMP ready) */
        PENDING_PAUSE,    /* Pause/Resume: answered when QEMU confirmed */
        PENDING_DESTROY,  /* answered when the VM is gone */
        PENDING_SNAPSHOT, /* Snapshot, Restore, DeleteSnapshot: answered when QEMU's job or qemu-img ended */
        PENDING_MEMORY,   /* SetMemoryTarget: answered when QEMU took the balloon's new target */
        _PENDING_MAX,
} PendingKind;

/* After the guest stopped (QEMU paused it: -action reboot=shutdown,shutdown=pause): vmm-crash.c reads the
 * console to tell a panic from a reboot or a power-off. */
typedef enum CrashCheck {
        CRASH_CHECK_NONE,
        CRASH_CHECK_CONSOLE,  /* a reset or power-off: a panic if the console says so */
        CRASH_CHECK_PANICKED, /* QEMU said the guest panicked (pvpanic) */
} CrashCheck;

/* Snapshots are qcow2 internal snapshots of the VM's disk: with the RAM and device state when taken of a
 * running or paused VM (QEMU's snapshot-save job), disk-only when taken of a stopped one (qemu-img). */
typedef enum SnapshotOp {
        SNAPSHOT_OP_NONE,
        SNAPSHOT_OP_SAVE,
        SNAPSHOT_OP_LOAD,
        SNAPSHOT_OP_DELETE,
        _SNAPSHOT_OP_MAX,
} SnapshotOp;

struct VM {
        Manager *manager;
        VM *next, *prev;

        char *name;
        char *persona;
        char *image;
        char *accel;
        VmmKind vmm; /* VMM_QEMU or VMM_HV */
        char *path;  /* D-Bus object path */
        VMState state;
        char *failure_reason;
        bool ephemeral;
        uint64_t memory_mib;
        uint32_t vcpus;
        char *disk_path;
        uint64_t created_usec;
        uid_t owner_uid;    /* who created it */
        uid_t uid;          /* its own identity: its VMM's uid and gid (vm-identity.h); 0: none */
        char *machine_id;   /* the guest's /etc/machine-id, given to it at every boot; never NULL */
        char *golden;       /* the id of the golden snapshot it is a clone of (golden.h), or NULL */
        bool from_golden;   /* the next VMM starts from that golden snapshot (once: a reboot boots cold) */
        Golden *builder_of; /* a golden build's VM: vmmd's own (vm_new()) */
        char *instance_id;  /* 32 hex digits, new with every VMM (InstanceID) */

        char *runtime_dir; /* vmmd's: sockets and logs; a throwaway's disk directory below it */
        char *agent_version;
        char *guest_boot_id;
        uint64_t guest_memory_total_kib, guest_memory_available_kib;
        /* When the agent last said how much memory its guest has, and when the balloon last moved (vmmd
         * set its target, or QEMU said it moved; CLOCK_MONOTONIC): the memory policy trusts the first only
         * if it is newer. */
        uint64_t guest_memory_usec, memory_moved_usec;
        /* READY came and its BOOTID and MEMINFO were asked: the answer to that MEMINFO makes a starting VM
         * running (not one the memory loop asked for, which a guest told to reboot may still answer). */
        bool agent_refresh_pending;
        /* The balloon, while the VMM runs: what vmmd asked the guest to keep, and what it keeps now
         * (MemoryMiB minus the balloon, as QEMU reports it; 0 without a VMM). */
        uint64_t memory_target_mib, memory_actual_mib;
        /* The most the memory policy gives the guest: MemoryMiB, or what its owner asked for with
         * SetMemoryTarget. Whether KSM may merge its pages (QEMU's RAM backend "merge", memory-loop.c). */
        uint64_t memory_requested_mib;
        bool memory_merge;
        /* Since its target was last set, the balloon gave memory back beyond it: the guest deflated it
         * under its own pressure (deflate-on-oom). */
        bool memory_deflated;

        /* While the VMM runs. */
        pid_t pid;
        sd_event_source *child_source;   /* a VMM we started: our child */
        sd_event_source *adopted_source; /* a VMM an earlier vmmd started: its pidfd */
        QmpClient *qmp;
        AgentClient *agent;
        sd_event_source *timer; /* boot timeout, or the next stop escalation */
        StopStage stop_stage;
        bool reset_requested;        /* QEMU (with -no-reboot) ends because of a reset: start it again */
        bool shutdown_seen;          /* QEMU reported a SHUTDOWN: its end is orderly */
        uint64_t reboot_window_usec; /* when the current window of counted reboots began */
        unsigned reboots_in_window;
        char *pending_failure; /* why we are killing the VMM, becomes FailureReason */

        /* While qemu-img creates the disk overlay, or works on a stopped VM's snapshots. */
        sd_event_source *helper_source;

        /* The snapshot operation in progress, one at a time. */
        SnapshotOp snapshot_op;
        char *snapshot_name;
        char *snapshot_job;         /* QEMU's job id, while QEMU runs it */
        char *loadvm;               /* the snapshot the next VMM starts from (Restore of a stopped VM) */
        bool restored_while_paused; /* the guest was replaced: on Resume, wait for its agent again */

        /* Crashes (vm-crash.c): the check after a guest stopped, the bundle being saved, the newest bundle
         * (LastCrash), and whether the VMM holds a crashed guest (on_crash: keep). */
        CrashCheck crash_check;
        CrashCapture *crash;
        char *last_crash;
        bool crashed;
        /* Debugging (vm-debug.c): the kernel's symbols being read, the debugger's connection. */
        DebugSymbols *debug_symbols;
        DebugSession *debugger;
        /* The screen (vm-display.c): the persona's colour (0xRRGGBB), the size of the screen its VMM has
         * or will have (0: none, as in vmm-hv), the OpenDisplay calls waiting, the first in QEMU's hands. */
        uint32_t color;
        uint32_t display_width, display_height;
        DisplayRequest *display_requests;

        Operation *pending[_PENDING_MAX];
        bool destroying;
};

int vm_new(
        Manager *m,
        const char *name,
        const Persona *p,
        uint64_t memory_mib,
        uint32_t vcpus,
        const char *accel,
        VmmKind vmm, /* as manager_resolve_vmm() made it */
        uid_t owner,
        Golden *builder_of, /* NULL, or the golden snapshot this VM is built for (golden.c): then it is
                             * vmmd's own, on no list, bus or store */
        VM **ret);
/* Recreates a VM from its record after a restart of vmmd. */
int vm_new_from_record(Manager *m, const VMRecord *r, VM **ret);
VM *vm_free(VM *vm);

/* Persists the VM's current record (insert on first save). */
int vm_save(VM *vm, bool insert);

/* Lifecycle. -EINVAL: not possible in the VM's state; -EBUSY: the same request is in progress; other
 * errnos: failures to act. 'op', when not NULL, is the VM's from a return of 0 on and completed when the
 * request is; on a failure, and when vm_start() returns 1 (the VM already runs or is starting), it stays
 * the caller's. vm_destroy() takes it whatever it returns but -EBUSY. */
int vm_start(VM *vm, Operation *op, char **ret_error);
int vm_stop(VM *vm, bool force);
int vm_pause(VM *vm, bool pause, Operation *op);
/* The guest reboots: through its agent, else a reset. The VM is "starting" until the agent is back. */
int vm_reboot(VM *vm);
int vm_destroy(VM *vm, Operation *op);

/* Snapshots (see SnapshotOp). name: NULL or "" generates one ("snap-N"). -EINVAL: not in this state;
 * -EBUSY: another operation runs; -EEXIST, -ENOENT: the snapshot exists, does not; -ENOMEDIUM: no disk;
 * ret_error says it for a person. Restore of a stopped VM starts it from the snapshot's state and is
 * answered like Start (PENDING_START), with the VM starting. */
int vm_snapshot(VM *vm, const char *name, Operation *op, char **ret_error);
int vm_restore(VM *vm, const char *name, Operation *op, char **ret_error);
int vm_delete_snapshot(VM *vm, const char *name, Operation *op, char **ret_error);
/* The snapshots in the disk, in creation order; none while the VM has no disk. */
int vm_list_snapshots(VM *vm, Qcow2Snapshot **ret, size_t *ret_n);

#define VM_MEMORY_TARGET_MIN_MIB 64

/* Inflates or deflates the balloon so that the guest keeps mib MiB (at most MemoryMiB), and moves the
 * scope's MemoryHigh with it. by_owner: SetMemoryTarget, which also sets the most the memory policy gives
 * the guest from now on (memory_requested_mib); otherwise the policy's own move. -EINVAL: the VM does not
 * run; -ERANGE: mib out of range; -EBUSY: another such request is on its way; -ENOSPC: growing it would
 * break the memory policy (ret_error says how). */
int vm_set_memory_target(VM *vm, uint64_t mib, bool by_owner, Operation *op, char **ret_error);
/* Lets KSM merge the guest's RAM, or unmerges it (QMP qom-set of the RAM backend's "merge"); asynchronous. */
int vm_set_memory_merge(VM *vm, bool merge);
/* Whether the memory policy may move the VM's balloon now: running, with its agent, nothing else on the way. */
bool vm_memory_adjustable(const VM *vm);
/* Asks the running guest's agent for item: hostname, machine-id, clock, random, boot-id, input; op is
 * answered with the value. -ERANGE: unknown item; -EINVAL: not running; -EBUSY: the agent is asked too much. */
int vm_read_guest(VM *vm, const char *item, Operation *op, char **ret_error);
/* The input item's answer, "keys=N text=HEX taps=N last=X,Y" (images/agent/PROTOCOL.md): a guest says what
 * it likes, the bus gets only this form. */
bool guest_input_valid(const char *s);

/* The running guest kernel's symbol table as an ELF file for gdb (kallsyms, from two small memory dumps): op
 * is answered with its fd. A GDB remote connection to the guest kernel (QEMU's gdbstub, relayed by vmmd):
 * op is answered with the caller's end. -EINVAL: no VMM runs; -EBUSY: one is being read, one is attached. */
int vm_debug_symbols(VM *vm, Operation *op);
int vm_open_debugger(VM *vm, Operation *op);

/* A connected socket to the VM's screen, touch and keys (RFB, QEMU's VNC server, no authentication: the
 * caller was authorized for it): op is answered with it. -EOPNOTSUPP: the VM has no screen (vmm-hv, or its
 * persona says "display: none"); -EINVAL: no VMM runs; -EBUSY: too many callers wait. */
int vm_open_display(VM *vm, Operation *op);
/* Takes the persona's colour and screen size (or keeps what the VM had, when the persona went); notify:
 * emit PropertiesChanged for what changed. */
void vm_display_update(VM *vm, bool notify);

/* The guest agent's MEMTEST (images/agent/PROTOCOL.md): fill mib MiB with the pattern of seed (value), check
 * every byte of it, free it, or flip a byte of unit value (poke: for a test to see check find it). op is
 * answered with the operation's MemTestResult (its userdata, owned). -ERANGE: bad action or size; -EINVAL:
 * not running with an agent; -EBUSY: the agent is asked too much. */
typedef enum MemTestAction {
        MEMTEST_FILL,
        MEMTEST_CHECK,
        MEMTEST_FREE,
        MEMTEST_POKE,
        _MEMTEST_ACTION_MAX,
        _MEMTEST_ACTION_INVALID = -EINVAL,
} MemTestAction;

const char *memtest_action_to_string(MemTestAction a);
MemTestAction memtest_action_from_string(const char *s);

#define MEMTEST_FIRST_MAX 12U
typedef struct MemTestResult {
        uint64_t units; /* 4 KiB units filled */
        uint64_t bad;   /* of them, how many differ from the pattern */
        uint64_t first[MEMTEST_FIRST_MAX];
        size_t n_first;
} MemTestResult;

int vm_memtest(VM *vm, MemTestAction action, uint64_t mib, uint64_t value, Operation *op, char **ret_error);
/* CHECK's answer, "units=<n> bad=<k>[ first=<hex>,...]" (what the guest says: checked whole). */
int memtest_parse_check(const char *s, MemTestResult *ret);

/* Asks the guest agent to panic the kernel. -EINVAL: not running with an agent; -EPERM: the persona wants
 * force (ret_error says so). */
int vm_crash_test(VM *vm, bool force, char **ret_error);

/* Resident memory of the VMM on the host, 0 when none runs. */
uint64_t vm_host_resident_kib(const VM *vm);

bool vm_is_active(const VM *vm); /* a VMM process or a helper runs */

/* After a restart of vmmd: adopts the VMM that still runs (QMP and agent reconnect), or cleans up what
 * the VM left behind (sockets, a throwaway's files) and records why it no longer runs. */
int vm_reconcile_after_restart(VM *vm);
