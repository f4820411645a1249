/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sd-bus helpers shared by the Manager's and the VMs' D-Bus faces. */
#include "bus-util.h"
#include "log.h"

int bus_property_get_string(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        /* userdata points at the field (offsetof), which may be NULL: "" then. */
        return sd_bus_message_append(reply, "s", strempty(*(const char **) userdata));
}

int bus_property_get_bool(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *property,
        sd_bus_message *reply,
        void *userdata,
        sd_bus_error *error) {
        return sd_bus_message_append(reply, "b", (int) *(bool *) userdata);
}

void bus_redispatch(sd_bus_message *m, sd_bus_message_handler_t handler, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_message_rewind(m, true);
        if (r >= 0)
                r = handler(m, userdata, &error);
        if (r < 0) {
                if (sd_bus_error_is_set(&error))
                        r = sd_bus_reply_method_error(m, &error);
                else
                        r = sd_bus_reply_method_errno(m, r, NULL);
                if (r < 0)
                        log_warning_errno(r, "Failed to answer a D-Bus call, ignoring: %m");
        }
}
