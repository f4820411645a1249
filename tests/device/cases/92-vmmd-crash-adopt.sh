#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: vmmd.service crashes (SIGKILL to its main process only); systemd restarts it, and the new
# vmmd adopts the KVM guest that ran on (KillMode=process): same VMM, still running, still under control.
set -eu
name="$(vmctl --json create throwaway | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')"
leader="$(vmctl show "$name" | sed -n 's/^Leader=//p')"
old="$(systemctl show -P MainPID vmmd.service)"
systemctl kill --kill-who=main --signal=KILL vmmd.service
# The VMM runs on while no vmmd does.
kill -0 "$leader"
# A call on org.vmmd1 waits for the restarted daemon (D-Bus activation of vmmd.service).
vmctl show "$name" | grep -E '^(State|Leader)='
new="$(systemctl show -P MainPID vmmd.service)"
echo "vmmd: $old -> $new"
[ "$new" != "$old" ]
[ "$(vmctl show "$name" | sed -n 's/^Leader=//p')" = "$leader" ]
[ "$(vmctl show "$name" | sed -n 's/^State=//p')" = running ]
journalctl --no-pager -u vmmd.service "VM_NAME=$name" -o cat | grep "Adopted"
vmctl stop "$name"
! kill -0 "$leader" 2>/dev/null
