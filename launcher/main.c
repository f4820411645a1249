/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-launcher: shows the foreground virtual phone's screen and switches phones with a tap. */
#include <errno.h>
#include <getopt.h>
#include <glib-unix.h>
#include <gtk/gtk.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "launcher.h"
#include "trace.h"

static bool arg_user = false;
static bool arg_trace = false;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Show the screen of the foreground virtual phone that vmmd runs, and switch phones\n"
               "with a tap on the strip of phones below it.\n\n"
               "Options:\n"
               "  -h --help             Show this help\n"
               "     --version          Show the version\n"
               "     --user             Talk to vmmd --user on the session bus\n"
               "                        ($DBUS_SESSION_BUS_ADDRESS)\n"
               "     --system           Talk to the system vmmd on the system bus (the default)\n"
               "     --trace            Print what happens on stdout, one line per event with its\n"
               "                        CLOCK_MONOTONIC time in µs (tile positions, taps, switches,\n"
               "                        screens shown; for tests and benchmarks)\n"
               "     --display=DISPLAY  The X display to use (GTK's option; also $DISPLAY)\n\n"
               "Keys (the launcher's, not passed on to the phone):\n"
               "  Ctrl+Alt+Page Down    Switch to the next phone of the strip\n"
               "  Ctrl+Alt+Page Up      Switch to the previous phone of the strip\n"
               "  Ctrl+Alt+N            Make a new throwaway phone\n"
               "Every other key, the pointer and touch go to the foreground phone.\n\n"
               "Exit status: 0 once the window is closed (or on SIGINT, SIGTERM), 1 when there is\n"
               "no display or no bus (or the bus goes away), 2 for invalid arguments.\n\n"
               "vmm-launcher --user goes with vmmd --user, vmm-launcher with the system vmmd. If\n"
               "vmmd is not running yet, the launcher says so and waits for it; it follows vmmd\n"
               "across restarts. launcher/README.md in the source tells what it shows.\n",
               g_get_prgname());
}

/* Returns 1 to run, 0 to exit successfully (--help, --version), -EINVAL for invalid arguments. */
static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_USER,
                ARG_SYSTEM,
                ARG_TRACE,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },        { "version", no_argument, NULL, ARG_VERSION },
                { "user", no_argument, NULL, ARG_USER },   { "system", no_argument, NULL, ARG_SYSTEM },
                { "trace", no_argument, NULL, ARG_TRACE }, {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vmm-launcher %s\n", VERSION);
                        return 0;
                case ARG_USER:
                        arg_user = true;
                        break;
                case ARG_SYSTEM:
                        arg_user = false;
                        break;
                case ARG_TRACE:
                        arg_trace = true;
                        break;
                case '?':
                        /* getopt_long() said what is wrong. */
                        fprintf(stderr, "See '%s --help'.\n", g_get_prgname());
                        return -EINVAL;
                default:
                        g_assert_not_reached();
                }
        if (optind < argc) {
                fprintf(stderr,
                        "%s takes no arguments, got \"%s\". See '%s --help'.\n",
                        g_get_prgname(),
                        argv[optind],
                        g_get_prgname());
                return -EINVAL;
        }
        return 1;
}

static gboolean on_signal(gpointer userdata) {
        gtk_main_quit();
        return G_SOURCE_CONTINUE;
}

int main(int argc, char *argv[]) {
        g_autoptr(GError) error = NULL;
        Launcher *l = NULL;
        int r;

        g_set_prgname("vmm-launcher");
        /* GTK's own options (--display, --gtk-debug, ...) first; it opens no display yet. */
        if (!gtk_parse_args(&argc, &argv))
                return 2;
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        trace_enable(arg_trace);

        if (!gtk_init_check(NULL, NULL)) {
                const char *d = g_getenv("DISPLAY");

                fprintf(stderr,
                        "vmm-launcher: Cannot open the display%s%s%s: is $DISPLAY set?\n",
                        d ? " \"" : "",
                        d ?: "",
                        d ? "\"" : "");
                return 1;
        }
        g_set_application_name("Phones");

        if (launcher_new(arg_user, &l, &error) < 0) {
                fprintf(stderr,
                        "vmm-launcher: Failed to connect to the %s: %s\n",
                        arg_user ? "session bus" : "system bus",
                        error->message);
                return 1;
        }

        g_unix_signal_add(SIGINT, on_signal, NULL);
        g_unix_signal_add(SIGTERM, on_signal, NULL);
        gtk_main();

        r = launcher_exit_status(l);
        launcher_free(l);
        /* Let the cancelled calls finish, so that nothing of them is left. */
        while (g_main_context_iteration(NULL, FALSE))
                ;
        return r;
}
