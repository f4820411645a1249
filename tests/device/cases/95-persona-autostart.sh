#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: systemctl enable --now vmm-persona@work, reboot the device: the unit stopped the VM cleanly at
# the shutdown (its guest powered off, no kill), and after the boot it runs again (created from the persona
# when the unit first started it, with KVM). One reboot shows both: a reboot costs most of a minute here.
set -eu
state() { vmctl show work | sed -n "s/^$1=//p"; }
case "$VMMD_DEVICE_BOOT" in
1)
        # The journal must survive the reboot: it shows how the VM was stopped.
        mkdir -p /var/log/journal
        journalctl --flush
        systemctl enable --now vmm-persona@work.service
        vmctl show work
        [ "$(state State)" = running ]
        [ "$(state Accel)" = kvm ]
        device-reboot
        ;;
*)
        # The shutdown before this boot stopped the VM through the unit's ExecStop.
        journalctl --no-pager -b -1 -u vmmd.service VM_NAME=work -o cat | tee /dev/stderr >"$VMMD_CASE_STATE/log"
        grep -q "is stopping" "$VMMD_CASE_STATE/log"
        grep -q "is stopped" "$VMMD_CASE_STATE/log"
        ! grep -q "failed" "$VMMD_CASE_STATE/log"
        systemctl is-active vmm-persona@work.service
        [ "$(state State)" = running ]
        [ "$(state Accel)" = kvm ]
        systemctl disable --now vmm-persona@work.service
        [ "$(state State)" = stopped ]
        vmctl destroy work
        ;;
esac
