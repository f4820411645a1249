/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent's display and input: the identity screen on the framebuffer, keys and taps, the kernel log. */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef struct Screen Screen;

typedef struct ScreenOptions {
        /* The guest's own devices: /dev/fb0, /dev/tty0, /dev/input/event* (and ones that appear later),
         * /dev/kmsg. Off in tests, which name their own below. */
        bool devices;
        /* A plain file of fb_width * fb_height XRGB8888 pixels used as the framebuffer (no VT ioctls). */
        const char *fb_path;
        unsigned fb_width, fb_height;
        /* Files or fifos of struct input_event records; EOF closes one. */
        char **input_paths;
        /* A file or fifo of /dev/kmsg records ("<prio>,<seq>,<usec>,<flags>;<text>" lines). */
        const char *kmsg_path;
} ScreenOptions;

/* The most input devices open at once (the guest's, or the tests' files). */
#define SCREEN_INPUTS_MAX 16U
/* The most fds screen_fill_pollfds() hands out: the kernel log, the uevent socket, the input devices. */
#define SCREEN_POLLFDS_MAX (2U + SCREEN_INPUTS_MAX)
/* The largest framebuffer side --fb-size takes. */
#define SCREEN_SIDE_MAX 8192U

/* Opens what o names. The guest's devices are best effort (a guest without a display has none); a file a
 * test named that cannot be used is an error. */
int screen_new(const ScreenOptions *o, Screen **ret);
Screen *screen_free(Screen *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Screen *, screen_free);

/* The fds to poll (at most n) and the poll timeout in ms that a deferred redraw needs (-1: none). */
size_t screen_fill_pollfds(Screen *s, struct pollfd *p, size_t n);
int screen_poll_timeout(Screen *s);
/* Reads what poll() found (p, n: what screen_fill_pollfds() filled, with revents), bounded per call, and
 * redraws what changed. */
void screen_process(Screen *s, const struct pollfd *p, size_t n);

/* The protocol's SCREEN and INPUT commands: arg is what follows the command word (NULL: nothing); the
 * answer line, without "\n", goes to ret. */
void screen_command_screen(Screen *s, const char *arg, char *ret, size_t size);
void screen_command_input(Screen *s, const char *arg, char *ret, size_t size);
