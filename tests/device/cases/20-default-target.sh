#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: systemd reached its default target: the system is "running", or "degraded" with the failed
# units named.
set -u
target="$(systemctl get-default)"
state="$(systemctl is-system-running)"
echo "default target $target: $(systemctl is-active "$target"); system $state"
[ "$(systemctl is-active "$target")" = active ] || exit 1
case "$state" in
running)
        exit 0 ;;
degraded)
        echo "degraded; failed units:"
        systemctl --failed --no-legend --plain
        exit 0 ;;
*)
        systemctl list-jobs --no-pager
        exit 1 ;;
esac
