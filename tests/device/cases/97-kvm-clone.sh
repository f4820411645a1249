#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: under KVM, vmmd builds the throwaway persona's golden snapshot in the background when it
# starts, and throwaways are clones of it: running with KVM in vmm-hv (the throwaway's VMM where KVM
# works: its saved state mapped copy-on-write, its disk vmm-hv's overlay on the golden one), each with its
# own random state, machine ID and host name; the golden snapshot's files are never written; a clone
# leaves nothing behind.
set -eu
ms() { echo $(($(date +%s%N) / 1000000)); }
state() { vmctl --no-legend golden | awk '$1 == "throwaway" { print $2 }'; }

# vmmd started the build at boot; it ends within the boot timeout. (A condition with a deadline.)
deadline=$(($(ms) + 300000))
until [ "$(state)" = ready ]; do
        case "$(state)" in failed) vmctl golden; exit 1 ;; esac
        [ "$(ms)" -lt "$deadline" ] || { vmctl golden; exit 1; }
        sleep 0.2
done
vmctl golden
id="$(vmctl --no-legend golden | awk '$1 == "throwaway" { print $3 }')"
dir="/var/cache/vmmd/golden/throwaway/$id"
ls -l "$dir"
before="$(cd "$dir" && sha256sum state disk.img overlay.img golden.yaml)"
grep -q '^accel: kvm$' "$dir/golden.yaml"
grep -q '^vmm: hv$' "$dir/golden.yaml"

names=()
for i in 1 2; do
        t0=$(ms)
        name="$(vmctl --json create throwaway | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')"
        echo "clone $name running in $(($(ms) - t0)) ms"
        names+=("$name")
        [ "$(vmctl show "$name" | sed -n 's/^State=//p')" = running ]
        [ "$(vmctl show "$name" | sed -n 's/^Accel=//p')" = kvm ]
        [ "$(vmctl show "$name" | sed -n 's/^VMM=//p')" = hv ]
        [ "$(vmctl show "$name" | sed -n 's/^GoldenSnapshot=//p')" = "$id" ]
        [ "$(vmctl guest "$name" hostname)" = "$name" ]
        [ "$(vmctl guest "$name" machine-id)" = "$(vmctl show "$name" | sed -n 's/^MachineID=//p')" ]
        clock="$(vmctl guest "$name" clock)"
        now="$(date +%s.%N)"
        awk -v a="$clock" -v b="$now" 'BEGIN { d = a - b; exit !(d < 1 && d > -1) }'
done
a="$(vmctl guest "${names[0]}" random)"
b="$(vmctl guest "${names[1]}" random)"
echo "random: $a / $b"
[ "$a" != "$b" ]
[ "$(vmctl guest "${names[0]}" machine-id)" != "$(vmctl guest "${names[1]}" machine-id)" ]

t0=$(ms)
cold="$(vmctl --json create throwaway --cold | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')"
echo "cold boot $cold running in $(($(ms) - t0)) ms"
[ -z "$(vmctl show "$cold" | sed -n 's/^GoldenSnapshot=//p')" ]

# Destroy answers once the VM and its files are gone.
for n in "${names[@]}" "$cold"; do vmctl destroy "$n"; done
for n in "${names[@]}" "$cold"; do
        [ ! -e "/run/vmmd/vms/$n" ] || { echo "left behind: /run/vmmd/vms/$n"; exit 1; }
done
after="$(cd "$dir" && sha256sum state disk.img overlay.img golden.yaml)"
[ "$after" = "$before" ] || { echo "the golden snapshot changed: $before -> $after"; exit 1; }
