/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The D-Bus face of a VM: org.vmmd1.VM objects under /org/vmmd1/vm. */
#pragma once

#include <systemd/sd-bus.h>

#include "vm.h"

extern const sd_bus_vtable vm_vtable[];

int vm_object_find(
        sd_bus *bus, const char *path, const char *interface, void *userdata, void **ret_found, sd_bus_error *error);
int vm_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***ret_nodes, sd_bus_error *error);

/* Emits PropertiesChanged with the new values of the named properties. */
int vm_send_changed(VM *vm, const char *property, ...) _sentinel_;
