#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: snapshots under real KVM. A running phone's snapshot holds its RAM and devices (the vGICv3,
# the timers): restored in the same VMM, and as the start of a stopped one, the guest is back in the boot
# the snapshot was taken in (the agent's boot ID), still with -accel kvm. And a QEMU phone's screen under KVM.
set -eu
# On a failure, what vmmd said about it.
trap 'journalctl -u vmmd.service --no-pager -o cat | grep -v "QMP event" | tail -40' ERR
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
prop() { vmctl show "$1" | sed -n "s/^$2=//p"; }

vmctl create home snap
boot1="$(prop snap GuestBootID)"
[ -n "$boot1" ]
# Its screen under KVM: QEMU's VNC server answers through OpenDisplay on the system bus, the agent drew the
# home phone's screen (vmmd logs a guest that did not) and counts no input yet.
[ "$(prop snap Color)" = '#2e7d32' ] && [ "$(prop snap DisplayWidth)" = 720 ]
[ "$(vmctl display snap </dev/null | head -c 12)" = "RFB 003.008" ]
[ "$(vmctl guest snap input)" = "keys=0 text= taps=0 last=-1,-1" ]
if journalctl -u vmmd.service --no-pager -o cat | grep "did not draw its screen"; then exit 1; fi
t=$(date +%s%N)
[ "$(vmctl snapshot snap)" = snap-1 ]
echo "snapshot of a running KVM guest: $(ms "$t") ms"
vmctl snapshots snap

vmctl reboot snap
[ "$(prop snap GuestBootID)" != "$boot1" ]
leader="$(prop snap Leader)"
t=$(date +%s%N)
vmctl restore snap snap-1
echo "restore into the running VMM, to agent answer: $(ms "$t") ms"
[ "$(prop snap State)" = running ]
[ "$(prop snap GuestBootID)" = "$boot1" ]
[ "$(prop snap Leader)" = "$leader" ]

vmctl stop snap
t=$(date +%s%N)
vmctl restore snap snap-1
echo "start from the snapshot, to agent answer: $(ms "$t") ms"
[ "$(prop snap GuestBootID)" = "$boot1" ]
[ "$(prop snap Accel)" = kvm ]
leader="$(prop snap Leader)"
tr '\0' ' ' <"/proc/$leader/cmdline" | grep -q -- '-loadvm snap-1'

vmctl stop snap
vmctl snapshot snap cold
vmctl snapshots snap | grep -q '^cold .*disk only'
vmctl destroy snap
[ ! -e /var/lib/vmmd/vms/snap ]
