/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Crash bundles on the bus (crash-dbus.c): a second vtable of org.vmmd1.Manager. */
#pragma once

#include <systemd/sd-bus.h>

#include "crash.h"
#include "manager.h"

extern const sd_bus_vtable crash_vtable[];

/* Whether the caller of the message being handled may see b (manage its VM's persona, or own it). */
bool crash_visible(Manager *m, const CrashBundle *b);
/* Crashed(s vm, s id): the bundle is saved. */
int manager_emit_crashed(Manager *m, const char *vm, const char *id);
