#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: who may do what, with real polkitd on the system bus and the shipped access.yaml. alice (group
# vmmd) uses the work phone but may not manage it, has a home phone the employer does not see, and creates,
# uses and destroys her own throwaway; "it" (group vmmd-mdm) manages the work phone and not alice's home one;
# mallory (no group) sees nothing of theirs; nor their phones' screens.
set -eu
systemctl is-active --quiet polkit.service || systemctl start polkit.service
test -f /usr/share/polkit-1/actions/org.vmmd1.policy
getent group vmmd-mdm >/dev/null # sysusers.d/vmmd.conf
for u in alice it mallory; do id "$u" >/dev/null 2>&1 || useradd --no-create-home "$u"; done
usermod -a -G vmmd alice
usermod -a -G vmmd-mdm it
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups "$@"; }
path() { busctl --system --json=short call org.vmmd1 /org/vmmd1 org.vmmd1.Manager GetVM s "$1" | sed 's/.*"data":\["\([^"]*\)".*/\1/'; }
# Fails unless the command fails with output containing $1.
refused() {
        local want=$1 out
        shift
        if out="$("$@" 2>&1)"; then
                echo "should have been refused: $* -> $out"
                exit 1
        fi
        echo "refused: ${*: -3}: $out"
        [[ "$out" == *"$want"* ]] || { echo "  (want \"$want\")"; exit 1; }
}

vmctl create --no-start work work-a
vmctl create --no-start work work-b
as alice vmctl --no-ask-password create --no-start home alice-home
[ "$(busctl --system get-property org.vmmd1 "$(path alice-home)" org.vmmd1.VM OwnerUID)" = "u $(id -u alice)" ]

# alice: uses the work phone, does not manage it, creates none.
as alice vmctl list --no-legend | grep -q '^work-a '
refused "use VM \"work-a\", not manage it" as alice vmctl --no-ask-password destroy work-a
refused "org.vmmd1.create" as alice vmctl --no-ask-password create --no-start work alice-work

# The screen (OpenDisplay) is for whoever may use the phone, as a switch is: alice gets past polkit
# (org.vmmd1.use) to the phone's state (it does not run), mallory does not learn that it exists.
refused "only a VM whose VMM runs has a screen" as alice busctl --system call org.vmmd1 "$(path work-a)" \
        org.vmmd1.VM OpenDisplay

# it: manages the work phone, does not see alice's home phone.
as it vmctl --no-ask-password destroy work-b
if vmctl list --no-legend | grep -q '^work-b '; then echo "work-b survived"; exit 1; fi
refused "No VM named" as it vmctl --no-ask-password destroy alice-home
if as it vmctl list --no-legend | grep -q alice-home; then echo "it sees alice's home phone"; exit 1; fi

# mallory: sees nothing of theirs, changes nothing.
[ -z "$(as mallory vmctl list --no-legend | grep -E '^(work-a|alice-home) ' || true)" ]
refused "Unknown object" as mallory busctl --system call org.vmmd1 "$(path work-a)" org.vmmd1.VM Destroy
refused "No VM named" as mallory vmctl --no-ask-password switch work-a
refused "Unknown object" as mallory busctl --system call org.vmmd1 "$(path work-a)" org.vmmd1.VM OpenDisplay
refused "Unknown object" as it busctl --system call org.vmmd1 "$(path alice-home)" org.vmmd1.VM OpenDisplay

# alice's own throwaway under KVM: created, running, hers, destroyed by her; mallory cannot touch it.
name="$(as alice vmctl --no-ask-password --json create throwaway | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')"
echo "alice's throwaway: $name"
[ -n "$name" ]
[ "$(busctl --system get-property org.vmmd1 "$(path "$name")" org.vmmd1.VM State)" = 's "running"' ]
refused "Unknown object" as mallory busctl --system call org.vmmd1 "$(path "$name")" org.vmmd1.VM Stop b true

# mallory's throwaway beside it: another uid, and neither VMM reaches the other's disk, from inside its
# namespaces or as its uid outside them.
other="$(as mallory vmctl --no-ask-password --json create throwaway | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')"
[ -n "$other" ]
prop() { busctl --system get-property org.vmmd1 "$(path "$1")" org.vmmd1.VM "$2" | cut -d' ' -f2; }
uid_a="$(prop "$name" UID)" uid_b="$(prop "$other" UID)"
echo "UIDs: $name $uid_a, $other $uid_b"
[ "$uid_a" != "$uid_b" ] && [ "$uid_a" -ge 2053963776 ] && [ "$uid_b" -ge 2053963776 ]
disk_b="/run/vmmd/vms/$other/disk/disk.img" # vmm-hv's (QEMU's is disk.qcow2)
[ "$(prop "$other" VMM)" = '"hv"' ]
test -f "$disk_b"
stat -c '%n %U %a' "$(dirname "$disk_b")" "$disk_b"
refused "No such file" nsenter -t "$(prop "$name" Leader)" -U -m -S "$uid_a" -G "$uid_a" -- /usr/bin/cat "$disk_b"
refused "Permission denied" setpriv --reuid="$uid_a" --regid="$uid_a" --clear-groups cat "$disk_b"
as mallory vmctl --no-ask-password destroy "$other"
as alice vmctl --no-ask-password destroy "$name"
if vmctl list --no-legend | grep -q "^$name "; then echo "the throwaway survived"; exit 1; fi

vmctl destroy work-a alice-home
