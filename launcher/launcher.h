/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The launcher's window: the foreground phone's page above, the strip of phones below, kept in step with
 * vmmd's signals. */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

typedef struct Launcher Launcher;

/* Connects to the session bus (user) or the system bus and shows the window. */
int launcher_new(bool user, Launcher **ret, GError **error);
Launcher *launcher_free(Launcher *l);

/* The exit status the launcher ends with: 0, or 1 once its bus went away. */
int launcher_exit_status(Launcher *l);
