/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The D-Bus face of the Manager: org.vmmd1.Manager on /org/vmmd1. */
#pragma once

#include <systemd/sd-bus.h>

#include "manager.h"

extern const sd_bus_vtable manager_vtable[];

int manager_send_vm_new(Manager *m, VM *vm);
int manager_send_vm_removed(Manager *m, VM *vm);
/* After a reload: ListPersonas may answer differently. */
int manager_emit_personas_changed(Manager *m);
/* PropertiesChanged for GoldenSnapshots, with its value (golden.h). */
int manager_emit_golden_changed(Manager *m);
