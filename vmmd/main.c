/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmmd: the virtual phone daemon. Arguments, startup, READY=1, the event loop. */
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "golden.h"
#include "log.h"
#include "manager-dbus.h"
#include "manager.h"

static bool arg_user = false;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Runs virtual phones (personas) and serves org.vmmd1 on D-Bus.\n\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "     --user            Serve the calling user on the session bus, with XDG directories\n"
               "     --log-level=LEVEL debug, info, notice, warning or err (default: info)\n\n"
               "Environment: VMMD_POLICY_DIR, VMMD_IMAGE_DIR, VMMD_QEMU, VMMD_QEMU_IMG, VMMD_VMM_HV,\n"
               "VMMD_KVM_DEVICE, VMMD_BOOT_TIMEOUT_SEC, VMMD_STOP_TIMEOUT_SEC override the defaults.\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_USER, ARG_LOG_LEVEL };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "user", no_argument, NULL, ARG_USER },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                {},
        };
        static const char *const levels[] = {
                [LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug"
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts("vmmd " VERSION);
                        return 0;
                case ARG_USER:
                        arg_user = true;
                        break;
                case ARG_LOG_LEVEL: {
                        size_t i;
                        for (i = 0; i < ELEMENTSOF(levels); i++)
                                if (levels[i] && streq(levels[i], optarg))
                                        break;
                        if (i >= ELEMENTSOF(levels))
                                return log_error_errno(EINVAL, "Unknown log level \"%s\".", optarg);
                        log_set_max_level((int) i);
                        break;
                }
                case '?':
                        return -EINVAL;
                default:
                        abort();
                }
        if (optind < argc)
                return log_error_errno(EINVAL, "%s takes no arguments.", program_invocation_short_name);
        return 1;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (si->ssi_signo == SIGHUP) {
                if (!m->exiting)
                        (void) manager_reload(m, NULL);
                return 0;
        }
        manager_begin_exit(m);
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_config_done) ManagerConfig config = {};
        _cleanup_(manager_freep) Manager *m = NULL;
        sigset_t ss;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        /* The state directory is traversable by the VMM user's group; what vmmd writes stays its own. */
        (void) umask(0077);

        /* sd-event handles these; child sources need SIGCHLD blocked. */
        (void) sigemptyset(&ss);
        (void) sigaddset(&ss, SIGCHLD);
        (void) sigaddset(&ss, SIGTERM);
        (void) sigaddset(&ss, SIGINT);
        (void) sigaddset(&ss, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &ss, NULL);
        (void) signal(SIGPIPE, SIG_IGN);

        r = manager_config_from_environment(arg_user, &config);
        if (r < 0) {
                log_error_errno(
                        r,
                        "Failed to determine vmmd's directories%s: %m",
                        arg_user ? " (is XDG_RUNTIME_DIR set?)" : "");
                return EXIT_FAILURE;
        }
        r = manager_new(&config, &m);
        if (r < 0) {
                log_error_errno(r, "Failed to allocate the manager: %m");
                return EXIT_FAILURE;
        }
        (void) sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m);
        (void) sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m);
        (void) sd_event_add_signal(m->event, NULL, SIGHUP, on_signal, m); /* reload the personas */

        r = manager_startup(m);
        if (r < 0)
                return EXIT_FAILURE;
        r = manager_connect_bus(m);
        if (r < 0)
                return EXIT_FAILURE;
        manager_autostart(m);
        golden_sync(m); /* built in the background; throwaways boot cold meanwhile */

        log_info(
                "vmmd %s running in %s mode (state in %s).",
                VERSION,
                arg_user ? "user" : "system",
                m->config.state_dir);
        (void) sd_notify(false, "READY=1");
        manager_notify_status(m);

        r = sd_event_loop(m->event);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                return EXIT_FAILURE;
        }
        log_info("vmmd exiting.");
        return EXIT_SUCCESS;
}
