/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-hv: a small VMM for arm64 guests, directly on the KVM/ARM API. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "machine.h"

static void help(void) {
        printf("%s [OPTIONS...] --kernel=IMAGE\n\n"
               "Runs an arm64 Linux guest on KVM: memfd RAM, one thread per vCPU, the in-kernel vGICv3 and\n"
               "timers, a PL011 UART and virtio-mmio devices, on QEMU virt's memory map.\n\n"
               "  -h --help             Show this help\n"
               "     --version          Show the version\n"
               "     --name=NAME        The guest's name, for logs\n"
               "     --kernel=IMAGE     The arm64 Linux Image (uncompressed or gzip)\n"
               "     --initrd=FILE      The initramfs\n"
               "     --append=CMDLINE   The kernel command line\n"
               "  -m --memory=MIB       Guest RAM in MiB (default 256)\n"
               "     --cpus=N           vCPUs (default 1, at most %u)\n"
               "     --agent-fd=FD      A listening unix socket: the host end of the guest agent's port\n"
               "                        (virtio-console port org.vmmd1.agent)\n"
               "     --agent-socket=PATH  The same, made here as a unix socket at PATH (removed first)\n"
               "     --console-fd=FD|none  Where the UART's output goes too (default: stderr; it is always\n"
               "                        kept in a 1 MiB ring that QMP's ringbuf-read takes from)\n"
               "     --qmp-fd=FD        A listening unix socket for QMP (a subset: query-status, stop, cont,\n"
               "                        quit, query-name, ringbuf-read, getfd); with it, a guest's power-off\n"
               "                        or reset pauses the machine and waits for quit\n"
               "     --qmp-socket=PATH  The same, made here at PATH\n"
               "     --restore-fd=FD    Start from a snapshot (QMP migrate to fd:NAME wrote it): its RAM is\n"
               "                        mapped copy-on-write; --memory and --cpus must match it, --kernel is\n"
               "                        not needed\n"
               "     --restore=FILE     The same, from FILE\n"
               "     --restore-base-fd=FD  With a --restore-fd that is incremental (QMP migrate with inc:\n"
               "                        true wrote it): its base, the full snapshot it is a delta of. The\n"
               "                        base's RAM is mapped copy-on-write, the delta's pages read over it\n"
               "     --restore-base=FILE  The same, from FILE\n"
               "     --disk=PATH        A virtio-blk disk: a raw file (its size a multiple of 512), written\n"
               "                        in place; a snapshot's machine and its restore both have one or\n"
               "                        neither\n"
               "     --disk-backing=PATH  Then --disk is a copy-on-write overlay (vmm-hv's own format) over\n"
               "                        PATH, a raw file that is only read; an empty --disk file becomes a\n"
               "                        new overlay\n"
               "     --disk-read-only   The guest may not write the disk\n"
               "\nExit status: 0 the guest powered off, 3 it asked for a reset, 4 stopped by a signal,\n"
               "1 an error.\n",
               program_invocation_short_name,
               FDT_CPUS_MAX);
}

static int parse_uint(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end || s[0] == '-' || v < min || v > max) {
                log_error("Invalid %s '%s': expected a number from %" PRIu64 " to %" PRIu64 ".", what, s, min, max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

static int parse_fd(const char *s, const char *what, int *ret) {
        uint64_t v;
        int r;

        r = parse_uint(s, what, 0, INT_MAX, &v);
        if (r < 0)
                return r;
        if (fcntl((int) v, F_GETFD) < 0) {
                log_error("Invalid %s %s: not an open file descriptor.", what, s);
                return -EBADF;
        }
        *ret = (int) v;
        return 0;
}

static int open_read_only(const char *path, int *ret) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return log_error_errno(errno, "Cannot open '%s': %m", path);
        *ret = fd;
        return 0;
}

static int listen_unix(const char *path, int *ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                log_error("Socket path '%s' is too long (at most %zu bytes).", path, sizeof(sa.sun_path) - 1);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "socket() failed: %m");
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
                log_error_errno(errno, "Cannot listen on '%s': %m", path);
                safe_close(fd);
                return -errno;
        }
        *ret = fd;
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Machine *m = userdata;

        log_info("Stopping on signal %u.", si->ssi_signo);
        machine_exit(m, MACHINE_EXIT_SIGNAL);
        return 0;
}

int main(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_NAME,
                ARG_KERNEL,
                ARG_INITRD,
                ARG_APPEND,
                ARG_CPUS,
                ARG_AGENT_FD,
                ARG_AGENT_SOCKET,
                ARG_QMP_FD,
                ARG_RESTORE_FD,
                ARG_RESTORE,
                ARG_RESTORE_BASE_FD,
                ARG_RESTORE_BASE,
                ARG_QMP_SOCKET,
                ARG_CONSOLE_FD,
                ARG_DISK,
                ARG_DISK_BACKING,
                ARG_DISK_READ_ONLY,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "name", required_argument, NULL, ARG_NAME },
                { "kernel", required_argument, NULL, ARG_KERNEL },
                { "initrd", required_argument, NULL, ARG_INITRD },
                { "append", required_argument, NULL, ARG_APPEND },
                { "memory", required_argument, NULL, 'm' },
                { "cpus", required_argument, NULL, ARG_CPUS },
                { "agent-fd", required_argument, NULL, ARG_AGENT_FD },
                { "agent-socket", required_argument, NULL, ARG_AGENT_SOCKET },
                { "qmp-fd", required_argument, NULL, ARG_QMP_FD },
                { "qmp-socket", required_argument, NULL, ARG_QMP_SOCKET },
                { "restore-fd", required_argument, NULL, ARG_RESTORE_FD },
                { "restore", required_argument, NULL, ARG_RESTORE },
                { "restore-base-fd", required_argument, NULL, ARG_RESTORE_BASE_FD },
                { "restore-base", required_argument, NULL, ARG_RESTORE_BASE },
                { "console-fd", required_argument, NULL, ARG_CONSOLE_FD },
                { "disk", required_argument, NULL, ARG_DISK },
                { "disk-backing", required_argument, NULL, ARG_DISK_BACKING },
                { "disk-read-only", no_argument, NULL, ARG_DISK_READ_ONLY },
                {},
        };
        MachineConfig config = {
                .n_cpus = 1,
                .ram_mib = 256,
                .agent_listen_fd = -EBADF,
                .console_fd = STDERR_FILENO,
                .restore_fd = -EBADF,
                .restore_base_fd = -EBADF,
        };
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        /* In this order: the control socket goes first, while its machine still exists. */
        _cleanup_(machine_freep) Machine *m = NULL;
        _cleanup_(control_freep) Control *control = NULL;
        int qmp_fd = -EBADF;
        uint64_t v;
        int c, r;

        log_set_ident("vmm-hv");
        while ((c = getopt_long(argc, argv, "hm:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts(VERSION);
                        return 0;
                case ARG_NAME:
                        config.name = optarg;
                        break;
                case ARG_KERNEL:
                        config.kernel = optarg;
                        break;
                case ARG_INITRD:
                        config.initrd = optarg;
                        break;
                case ARG_APPEND:
                        config.cmdline = optarg;
                        break;
                case 'm':
                        if (parse_uint(optarg, "memory size", MACHINE_RAM_MIB_MIN, MACHINE_RAM_MIB_MAX, &v) < 0)
                                return MACHINE_EXIT_ERROR;
                        config.ram_mib = v;
                        break;
                case ARG_CPUS:
                        if (parse_uint(optarg, "vCPU count", 1, FDT_CPUS_MAX, &v) < 0)
                                return MACHINE_EXIT_ERROR;
                        config.n_cpus = (unsigned) v;
                        break;
                case ARG_AGENT_FD:
                        if (parse_fd(optarg, "--agent-fd", &config.agent_listen_fd) < 0)
                                return MACHINE_EXIT_ERROR;
                        break;
                case ARG_AGENT_SOCKET:
                        if (listen_unix(optarg, &config.agent_listen_fd) < 0)
                                return MACHINE_EXIT_ERROR;
                        break;
                case ARG_QMP_FD:
                        if (parse_fd(optarg, "--qmp-fd", &qmp_fd) < 0)
                                return MACHINE_EXIT_ERROR;
                        break;
                case ARG_RESTORE_FD:
                        if (parse_fd(optarg, "--restore-fd", &config.restore_fd) < 0)
                                return MACHINE_EXIT_ERROR;
                        break;
                case ARG_RESTORE:
                        if (open_read_only(optarg, &config.restore_fd) < 0)
                                return MACHINE_EXIT_ERROR;
                        break;
                case ARG_RESTORE_BASE_FD:
                        if (parse_fd(optarg, "--restore-base-fd", &config.restore_base_fd) < 0)
                                return MACHINE_EXIT_ERROR;
                        break;
                case ARG_RESTORE_BASE:
                        if (open_read_only(optarg, &config.restore_base_fd) < 0)
                                return MACHINE_EXIT_ERROR;
                        break;
                case ARG_QMP_SOCKET:
                        if (listen_unix(optarg, &qmp_fd) < 0)
                                return MACHINE_EXIT_ERROR;
                        break;
                case ARG_CONSOLE_FD:
                        if (streq(optarg, "none"))
                                config.console_fd = -EBADF; /* the ring only */
                        else if (parse_fd(optarg, "--console-fd", &config.console_fd) < 0)
                                return MACHINE_EXIT_ERROR;
                        break;
                case ARG_DISK:
                        config.disk = optarg;
                        break;
                case ARG_DISK_BACKING:
                        config.disk_backing = optarg;
                        break;
                case ARG_DISK_READ_ONLY:
                        config.disk_read_only = true;
                        break;
                default:
                        return MACHINE_EXIT_ERROR;
                }
        if (optind < argc) {
                log_error("Unexpected argument '%s'.", argv[optind]);
                return MACHINE_EXIT_ERROR;
        }
        if (!config.disk && (config.disk_backing || config.disk_read_only)) {
                log_error("--disk-backing and --disk-read-only need --disk=PATH.");
                return MACHINE_EXIT_ERROR;
        }
        if (config.restore_base_fd >= 0 && config.restore_fd < 0) {
                log_error("--restore-base names the base of the snapshot to restore: it needs --restore.");
                return MACHINE_EXIT_ERROR;
        }
        if (!config.kernel && config.restore_fd < 0) {
                log_error("No kernel: --kernel=IMAGE (or --restore) is needed.");
                return MACHINE_EXIT_ERROR;
        }

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Cannot make an event loop: %m"), MACHINE_EXIT_ERROR;
        r = machine_new(event, &config, &m);
        if (r < 0)
                return MACHINE_EXIT_ERROR;
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGPIPE);
        (void) sigprocmask(SIG_BLOCK, &ss, NULL);
        r = sd_event_add_signal(event, NULL, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, on_signal, m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch signals: %m"), MACHINE_EXIT_ERROR;
        if (qmp_fd >= 0) {
                r = control_new(event, m, qmp_fd, &control);
                if (r < 0)
                        return log_error_errno(r, "Cannot serve QMP: %m"), MACHINE_EXIT_ERROR;
        }
        r = machine_start(m);
        if (r < 0)
                return MACHINE_EXIT_ERROR;
        r = sd_event_loop(event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), MACHINE_EXIT_ERROR;
        /* The vCPUs are stopped: what the guest wrote is made durable, whether it flushed or not. */
        int k = machine_flush_disk(m);
        if (k < 0)
                return log_error_errno(k, "Cannot flush the disk: %m"), MACHINE_EXIT_ERROR;
        return r;
}
