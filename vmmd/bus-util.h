/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sd-bus helpers shared by the Manager's and the VMs' D-Bus faces. */
#pragma once

#include <systemd/sd-bus.h>

#include "util.h"

/* Property getters for a char * (NULL as "") and a bool field, given by offsetof. */
int bus_property_get_string(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error);
int bus_property_get_bool(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error);

/* Handles a method call again (its arguments from the start), answering it if the handler fails. */
void bus_redispatch(sd_bus_message *m, sd_bus_message_handler_t handler, void *userdata);
