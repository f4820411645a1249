/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Debugging a live guest kernel: its symbol table, read from two small memory dumps (vmcore.h, kallsyms.h),
 * and a GDB remote connection to QEMU's gdbstub that vmmd relays, so that it knows when the debugger went
 * and lets the guest run on (QEMU itself would leave it stopped). No socket of QEMU's is ever reachable by
 * anyone: QEMU gets one end of a socket pair, the caller the end of another, after authorization. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "crash.h"
#include "kallsyms.h"
#include "log.h"
#include "process.h"
#include "vm-dbus.h"
#include "vm-internal.h"
#include "vmcore.h"

#define DEBUG_DUMP_FDNAME "vmmd-debug-dump"
#define DEBUG_GDB_FDNAME "vmmd-gdb"
/* QEMU virt's RAM starts here: the first dump only wants the notes (vmcoreinfo), with one page of RAM. */
#define GUEST_RAM_BASE UINT64_C(0x40000000)
#define DEBUG_TABLES_MAX (UINT64_C(64) << 20)
#define DEBUG_DUMP_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define RELAY_BUFFER (64U * 1024U)

/* The symbols: dump the notes, find where the kernel's text and kallsyms' tables are, dump those, decode
 * them into an ELF file. */
struct DebugSymbols {
        VM *vm;
        Operation *op;
        unsigned step;          /* 1: the vmcoreinfo; 2: the tables */
        uint64_t begin, length; /* what step 2 dumps */
        int pipe_fd, dump_fd, elf_fd;
        sd_event_source *child, *timer;
};

typedef struct RelayEnd {
        int fd;
        sd_event_source *source;
        char buf[RELAY_BUFFER]; /* read from this end, not yet written to the other */
        size_t n;
        bool eof;
} RelayEnd;

struct DebugSession {
        VM *vm;
        Operation *op; /* until QEMU took the connection */
        unsigned serial;
        RelayEnd qemu, client;
        int client_fd; /* the caller's end, until handed over */
        bool started;
};

static unsigned debug_serial;

DebugSymbols *vm_debug_symbols_free(DebugSymbols *d) {
        if (!d)
                return NULL;
        operation_complete(d->op, -EIO, "The VMM ended");
        safe_close(d->pipe_fd);
        safe_close(d->dump_fd);
        safe_close(d->elf_fd);
        sd_event_source_disable_unref(d->child);
        sd_event_source_disable_unref(d->timer);
        return mfree(d);
}

static void debug_symbols_fail(VM *vm, int r, const char *message) {
        DebugSymbols *d = vm->debug_symbols;

        log_vm_warning_errno(vm->name, r, "Failed to read the kernel symbols of %s: %s", vm->name, message);
        operation_complete(TAKE_PTR(d->op), r, message);
        vm->debug_symbols = vm_debug_symbols_free(d);
}

static int symbols_child(void *userdata, char **ret_message) {
        DebugSymbols *d = userdata;
        _cleanup_(vmcore_freep) Vmcore *c = NULL;
        _cleanup_(kallsyms_freep) Kallsyms *k = NULL;
        uint64_t size, lo = UINT64_MAX, hi = 0, voff, index;
        int r;

        r = crash_child_sandbox((const int[]){ d->pipe_fd, d->dump_fd, d->elf_fd }, 3, d->vm->uid, d->vm->uid);
        if (r < 0)
                return r;
        r = crash_copy_dump(d->pipe_fd, d->dump_fd, d->step == 1 ? 1U << 20 : d->length + (1U << 20), &size);
        if (r >= 0)
                r = vmcore_open(d->dump_fd, &c);
        if (r < 0)
                return (void) asprintf(ret_message, "the memory dump cannot be read: %s", strerror(-r)), r;

        if (d->step == 2) {
                r = kallsyms_read(c, &k);
                if (r >= 0)
                        r = kallsyms_write_elf(k, c, d->elf_fd);
                if (r < 0)
                        (void) asprintf(
                                ret_message, "the kernel's symbol table cannot be read: %s", strerror(-r));
                return r;
        }
        /* Where the tables are, physically: the kernel image is mapped at a fixed offset (kimage_voffset). The
         * text before them goes too: the symbol file's unwind rules come from the functions' prologues. */
        r = vmcore_info_u64(c, "NUMBER(kimage_voffset)", &voff);
        for (const char *const *t = (const char *const[]){ "_stext",
                                                           "kallsyms_offsets",
                                                           "kallsyms_relative_base",
                                                           "kallsyms_num_syms",
                                                           "kallsyms_names",
                                                           "kallsyms_token_table",
                                                           "kallsyms_token_index",
                                                           NULL };
             r >= 0 && *t;
             t++) {
                char key[64];
                uint64_t va;

                (void) snprintf(key, sizeof(key), "SYMBOL(%s)", *t);
                r = vmcore_info_u64(c, key, &va);
                if (r >= 0) {
                        lo = MIN(lo, va - voff);
                        hi = MAX(hi, va - voff);
                }
        }
        if (r < 0)
                return (void) asprintf(
                               ret_message,
                               "the kernel's vmcoreinfo does not say where its symbol table is (a kernel without "
                               "qemu_fw_cfg loaded?)"),
                       -ENODATA;
        /* The last table, kallsyms_token_index, is 256 16-bit offsets. */
        r = vmcore_info_u64(c, "SYMBOL(kallsyms_token_index)", &index);
        hi = MAX(hi, index - voff + 512);
        if (hi <= lo || hi - lo > DEBUG_TABLES_MAX)
                return (void) asprintf(ret_message, "the kernel's symbol table is not where it can be"),
                       -EBADMSG;
        (void) asprintf(
                ret_message,
                "%" PRIx64 " %" PRIx64,
                lo & ~UINT64_C(0xfff),
                (hi - (lo & ~UINT64_C(0xfff)) + 0xfff) & ~UINT64_C(0xfff));
        return 0;
}

static int debug_symbols_dump(VM *vm);

static void on_symbols_child(int r, const char *message, void *userdata) {
        VM *vm = userdata;
        DebugSymbols *d = vm->debug_symbols;

        d->child = sd_event_source_unref(d->child);
        d->timer = sd_event_source_disable_unref(d->timer);
        d->pipe_fd = safe_close(d->pipe_fd);
        if (r < 0) {
                debug_symbols_fail(vm, r, message ?: "the memory dump cannot be read");
                return;
        }
        if (d->step == 2) {
                log_vm_info(vm->name, "Kernel symbols of %s read.", vm->name);
                operation_complete_fd(TAKE_PTR(d->op), d->elf_fd);
                vm->debug_symbols = vm_debug_symbols_free(d);
                return;
        }
        if (!message || sscanf(message, "%" SCNx64 " %" SCNx64, &d->begin, &d->length) != 2) {
                debug_symbols_fail(vm, -EBADMSG, "the kernel's symbol table is not where it can be");
                return;
        }
        d->step = 2;
        d->dump_fd = safe_close(d->dump_fd);
        r = debug_symbols_dump(vm);
        if (r < 0)
                debug_symbols_fail(vm, r, "cannot ask the VMM for a memory dump");
}

static int on_symbols_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        debug_symbols_fail(userdata, -ETIMEDOUT, "the VMM did not dump the memory in time");
        return 0;
}

static void on_symbols_dump_reply(
        QmpClient *q, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;

        /* The child then reads an empty pipe and says so. */
        if (error_class)
                log_vm_warning_errno(vm->name, 0, "QEMU refused to dump %s: %s", vm->name, strna(error_desc));
}

/* One dump of guest-physical [begin, begin + length) into a pipe that a child reads. */
static int debug_symbols_dump(VM *vm) {
        DebugSymbols *d = vm->debug_symbols;
        json_object *getfd = json_object_new_object(), *dump = json_object_new_object();
        uint64_t begin = d->step == 1 ? GUEST_RAM_BASE : d->begin, length = d->step == 1 ? 4096 : d->length;
        _cleanup_close_ int wfd = -EBADF;
        int p[2], r = -ENOMEM;

        if (pipe2(p, O_CLOEXEC) < 0)
                r = -errno;
        else {
                d->pipe_fd = p[0];
                wfd = p[1];
                d->dump_fd = memfd_create("vmmd-debug-dump", MFD_CLOEXEC);
                if (d->dump_fd < 0)
                        r = -errno;
        }
        if (d->dump_fd >= 0 && getfd && dump &&
            json_object_object_add(getfd, "fdname", json_object_new_string(DEBUG_DUMP_FDNAME)) == 0 &&
            json_object_object_add(dump, "paging", json_object_new_boolean(false)) == 0 &&
            json_object_object_add(dump, "protocol", json_object_new_string("fd:" DEBUG_DUMP_FDNAME)) == 0 &&
            json_object_object_add(dump, "detach", json_object_new_boolean(true)) == 0 &&
            json_object_object_add(dump, "begin", json_object_new_int64((int64_t) begin)) == 0 &&
            json_object_object_add(dump, "length", json_object_new_int64((int64_t) length)) == 0) {
                r = qmp_send_fd(vm->qmp, "getfd", TAKE_PTR(getfd), wfd, on_symbols_dump_reply, vm);
                if (r >= 0)
                        r = qmp_send(vm->qmp, "dump-guest-memory", TAKE_PTR(dump), on_symbols_dump_reply, vm);
        }
        json_object_put(getfd);
        json_object_put(dump);
        if (r >= 0)
                r = fork_call(
                        vm->manager->event, "kernel symbols", symbols_child, d, on_symbols_child, vm, &d->child);
        if (r >= 0)
                r = sd_event_add_time_relative(
                        vm->manager->event,
                        &d->timer,
                        CLOCK_MONOTONIC,
                        DEBUG_DUMP_TIMEOUT_USEC,
                        USEC_PER_SEC,
                        on_symbols_timeout,
                        vm);
        return r;
}

int vm_debug_symbols(VM *vm, Operation *op) {
        DebugSymbols *d;
        int r;

        if (!vm->qmp || !vm_vmm_runs(vm) || vm->destroying || vm->state == VM_STARTING)
                return -EINVAL;
        if (vm->debug_symbols || vm->crash)
                return -EBUSY;
        d = calloc(1, sizeof(DebugSymbols));
        if (!d)
                return -ENOMEM;
        *d = (DebugSymbols){ .vm = vm, .step = 1, .pipe_fd = -EBADF, .dump_fd = -EBADF };
        d->elf_fd = memfd_create("vmmd-kernel-symbols", MFD_CLOEXEC);
        if (d->elf_fd < 0) {
                r = -errno;
                free(d);
                return r;
        }
        vm->debug_symbols = d;
        r = debug_symbols_dump(vm);
        if (r < 0) {
                vm->debug_symbols = vm_debug_symbols_free(d);
                return r;
        }
        d->op = op;
        return 0;
}

/* The debugger's connection */

static void relay_end(VM *vm);

static int relay_update(DebugSession *s);

/* Moves what one end sent to the other; a full buffer stops reading from that end until it drains. */
static int on_relay_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        VM *vm = userdata;
        DebugSession *s = vm->debugger;
        RelayEnd *from = fd == s->qemu.fd ? &s->qemu : &s->client;

        if (revents & EPOLLIN && from->n < sizeof(from->buf)) {
                ssize_t k = read(fd, from->buf + from->n, sizeof(from->buf) - from->n);

                if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
                        from->eof = true;
                else if (k > 0)
                        from->n += (size_t) k;
        } else if (revents & (EPOLLHUP | EPOLLERR) && !(revents & EPOLLOUT))
                from->eof = true;
        /* Whatever can go out now, both ways. */
        for (RelayEnd *e = &s->qemu; e; e = e == &s->qemu ? &s->client : NULL) {
                RelayEnd *dst = e == &s->qemu ? &s->client : &s->qemu;
                ssize_t k;

                if (e->n == 0 || dst->eof)
                        continue;
                k = send(dst->fd, e->buf, e->n, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0 && errno != EAGAIN && errno != EINTR)
                        dst->eof = true;
                else if (k > 0) {
                        memmove(e->buf, e->buf + k, e->n - (size_t) k);
                        e->n -= (size_t) k;
                }
        }
        if (s->qemu.eof || s->client.eof) {
                relay_end(vm);
                return 0;
        }
        return relay_update(s);
}

static int relay_update(DebugSession *s) {
        int r = 0;

        for (RelayEnd *e = &s->qemu; e && r >= 0; e = e == &s->qemu ? &s->client : NULL) {
                RelayEnd *src = e == &s->qemu ? &s->client : &s->qemu;
                uint32_t events = (e->n < sizeof(e->buf) ? EPOLLIN : 0) | (src->n > 0 ? EPOLLOUT : 0);

                r = sd_event_source_set_io_events(e->source, events);
        }
        return r;
}

static void on_quiet_reply(
        QmpClient *q, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;

        if (error_class)
                log_vm_warning_errno(
                        vm->name, 0, "QEMU of %s after the debugger: %s", vm->name, strna(error_desc));
}

static int hmp(VM *vm, const char *command, qmp_reply_handler_t cb) {
        json_object *args = json_object_new_object();

        if (!args || json_object_object_add(args, "command-line", json_object_new_string(command)) < 0) {
                json_object_put(args);
                return -ENOMEM;
        }
        return qmp_send(vm->qmp, "human-monitor-command", args, cb, vm);
}

DebugSession *vm_debug_session_free(DebugSession *s) {
        if (!s)
                return NULL;
        operation_complete(s->op, -EIO, "The VMM ended");
        sd_event_source_disable_unref(s->qemu.source);
        sd_event_source_disable_unref(s->client.source);
        safe_close(s->qemu.fd);
        safe_close(s->client.fd);
        safe_close(s->client_fd);
        return mfree(s);
}

/* The debugger went (or QEMU closed its end): the gdbstub lets go of its connection, and the guest runs
 * again unless vmmd holds it paused. */
static void relay_end(VM *vm) {
        bool was_started = vm->debugger->started;

        vm->debugger = vm_debug_session_free(vm->debugger);
        (void) vm_send_changed(vm, "DebuggerAttached", NULL);
        if (!vm->qmp || !was_started)
                return;
        log_vm_info(vm->name, "Debugger of %s detached.", vm->name);
        (void) hmp(vm, "gdbserver none", on_quiet_reply);
        (void) qmp_send(vm->qmp, vm->state == VM_PAUSED ? "stop" : "cont", NULL, on_quiet_reply, vm);
}

static void on_gdbserver_reply(
        QmpClient *q, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;
        DebugSession *s = vm->debugger;
        int r;

        if (!s || !s->op)
                return; /* an earlier step failed already */
        /* HMP answers with its output: "Waiting for gdb connection on device ..." when the gdbstub took the
         * chardev, "Could not open gdbserver ..." when not. */
        if (error_class || !json_object_is_type(result, json_type_string) ||
            strncmp(json_object_get_string(result), "Waiting for gdb connection", 26) != 0) {
                _cleanup_free_ char *msg = NULL;

                if (asprintf(
                            &msg,
                            "QEMU refused the debugger: %s",
                            error_class ? strna(error_desc) : json_object_get_string(result)) < 0)
                        msg = NULL;
                operation_complete(TAKE_PTR(s->op), -EIO, msg ?: "QEMU refused the debugger");
                vm->debugger = vm_debug_session_free(s);
                return;
        }
        /* The gdbstub holds the guest now: whatever happens next, relay_end() lets it go. */
        s->started = true;
        r = sd_event_add_io(vm->manager->event, &s->qemu.source, s->qemu.fd, EPOLLIN, on_relay_io, vm);
        if (r >= 0)
                r = sd_event_add_io(
                        vm->manager->event, &s->client.source, s->client.fd, EPOLLIN, on_relay_io, vm);
        if (r < 0) {
                operation_complete(TAKE_PTR(s->op), r, "Failed to relay the debugger's connection");
                relay_end(vm);
                return;
        }
        log_vm_notice(
                vm->name, "Debugger attached to %s: its guest stops while the debugger holds it.", vm->name);
        operation_complete_fd(TAKE_PTR(s->op), s->client_fd);
        s->client_fd = safe_close(s->client_fd);
        (void) vm_send_changed(vm, "DebuggerAttached", NULL);
}

static void on_chardev_reply(
        QmpClient *q, json_object *result, const char *error_class, const char *error_desc, void *userdata) {
        VM *vm = userdata;
        DebugSession *s = vm->debugger;

        if (s && s->op && error_class) {
                _cleanup_free_ char *msg = NULL;

                if (asprintf(&msg, "QEMU refused the debugger's connection: %s", strna(error_desc)) < 0)
                        msg = NULL;
                operation_complete(TAKE_PTR(s->op), -EIO, msg ?: "QEMU refused the debugger's connection");
                vm->debugger = vm_debug_session_free(s);
        }
}

int vm_open_debugger(VM *vm, Operation *op) {
        _cleanup_close_ int q0 = -EBADF, q1 = -EBADF, c0 = -EBADF, c1 = -EBADF;
        int q[2], c[2];
        json_object *getfd = NULL, *add = NULL;
        char id[32], command[64];
        DebugSession *s;
        int r = -ENOMEM;

        if (!vm->qmp || !vm_vmm_runs(vm) || vm->destroying || vm->state == VM_STARTING)
                return -EINVAL;
        if (vm->debugger || vm->crash || vm->snapshot_op != SNAPSHOT_OP_NONE)
                return -EBUSY;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, q) < 0)
                return -errno;
        q0 = q[0];
        q1 = q[1];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, c) < 0)
                return -errno;
        c0 = c[0];
        c1 = c[1];
        s = calloc(1, sizeof(DebugSession));
        if (!s)
                return -ENOMEM;
        *s = (DebugSession){
                .vm = vm,
                .serial = ++debug_serial,
                .qemu.fd = TAKE_FD(q1),
                .client.fd = TAKE_FD(c1),
                .client_fd = TAKE_FD(c0),
        };
        vm->debugger = s;

        (void) snprintf(id, sizeof(id), "vmmd-gdb-%u", s->serial);
        (void) snprintf(command, sizeof(command), "gdbserver chardev:%s", id);
        /* {"id": ID, "backend": {"type": "socket", "data": {"addr": {"type": "fd", "data": {"str": FDNAME}},
         *  "server": false}}}: a chardev on the socket QEMU got with getfd. */
        getfd = json_object_new_object();
        add = json_object_new_object();
        json_object *backend = json_object_new_object(), *data = json_object_new_object(),
                    *addr = json_object_new_object(), *fd = json_object_new_object();
        if (getfd && add && backend && data && addr && fd &&
            json_object_object_add(getfd, "fdname", json_object_new_string(DEBUG_GDB_FDNAME)) == 0 &&
            json_object_object_add(fd, "str", json_object_new_string(DEBUG_GDB_FDNAME)) == 0 &&
            json_object_object_add(addr, "type", json_object_new_string("fd")) == 0 &&
            json_object_object_add(addr, "data", TAKE_PTR(fd)) == 0 &&
            json_object_object_add(data, "addr", TAKE_PTR(addr)) == 0 &&
            json_object_object_add(data, "server", json_object_new_boolean(false)) == 0 &&
            json_object_object_add(backend, "type", json_object_new_string("socket")) == 0 &&
            json_object_object_add(backend, "data", TAKE_PTR(data)) == 0 &&
            json_object_object_add(add, "id", json_object_new_string(id)) == 0 &&
            json_object_object_add(add, "backend", TAKE_PTR(backend)) == 0) {
                r = qmp_send_fd(vm->qmp, "getfd", TAKE_PTR(getfd), q0, on_chardev_reply, vm);
                if (r >= 0)
                        r = qmp_send(vm->qmp, "chardev-add", TAKE_PTR(add), on_chardev_reply, vm);
                if (r >= 0)
                        r = hmp(vm, command, on_gdbserver_reply);
        }
        json_object_put(getfd);
        json_object_put(add);
        json_object_put(backend);
        json_object_put(data);
        json_object_put(addr);
        json_object_put(fd);
        if (r < 0) {
                vm->debugger = vm_debug_session_free(s);
                return r;
        }
        s->op = op;
        return 0;
}
