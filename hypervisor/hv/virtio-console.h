/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio-console with one named port (VIRTIO_CONSOLE_F_MULTIPORT): the guest agent's channel. The host
 * end is a listening unix socket; one connection at a time is the port's host side, as with QEMU's
 * `-chardev socket,server=on` behind a virtserialport. */
#pragma once

#include <systemd/sd-event.h>

#include "virtio-mmio.h"

typedef struct VirtioConsole VirtioConsole;

/* listen_fd: a listening SOCK_STREAM socket, taken over. The port is announced to the guest as name. */
int virtio_console_new(
        sd_event *event, const GuestMemory *mem, IrqLine irq, const char *name, int listen_fd, VirtioConsole **ret);
VirtioConsole *virtio_console_free(VirtioConsole *c);
VirtioMmio *virtio_console_transport(VirtioConsole *c);
