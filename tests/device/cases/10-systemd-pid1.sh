#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: systemd is PID 1.
set -eu
exe="$(readlink /proc/1/exe)"
comm="$(cat /proc/1/comm)"
echo "PID 1: $exe ($comm)"
[ "$comm" = systemd ] && [[ "$exe" == */systemd ]]
