#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: the system bus runs and answers, and systemd is on it.
set -eu
systemctl is-active --quiet dbus.service
id="$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId)"
echo "bus id: $id"
[[ "$id" =~ ^s\ \"[0-9a-f]{32}\"$ ]]
busctl --system list --no-legend | grep -q '^org.freedesktop.systemd1 '
