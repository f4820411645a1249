/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-hv's control socket: the machine's face as the QMP subset vmmd speaks to QEMU (qmp-server.h). With
 * a client, the guest's power-off or reset leaves the machine paused, as QEMU's
 * `-action reboot=shutdown,shutdown=pause` does: SHUTDOWN with the reason, then STOP; the client decides. */
#pragma once

#include "machine.h"
#include "qmp-server.h"

typedef struct Control Control;

/* Takes over listen_fd on success. */
int control_new(sd_event *event, Machine *m, int listen_fd, Control **ret);
Control *control_free(Control *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Control *, control_free);
