# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the device cases on guest memory (99-kvm-policy.sh, 99-kvm-reclaim.sh; not a case itself): two
# throwaway clones of one golden snapshot (enough to share pages, and to be foreground and background), each holding a pattern (the agent's MEMTEST) that every check
# compares byte for byte, and vmmd's memory policy set for the case (/etc/vmmd/memory.yaml, removed at exit).
# The clones run in QEMU: KSM merges QEMU's guest RAM (vmm-hv's clones share their golden RAM as mappings of
# one file instead). An administrator's persona does it, "throwaway-qemu", the throwaway with "vmm: qemu" and
# no screen (/etc/vmmd/personas/: the shipped ones and it). It stays for the next memory case, which then finds its
# golden snapshot built; it changes nothing for the other cases.
set -eu
ms() { echo $(($(date +%s%N) / 1000000)); }
start=$(ms)
elapsed() { echo "[$((($(ms) - start) / 1000)) s]"; }
vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
ksm() { cat "/sys/kernel/mm/ksm/$1"; }
prop() { vmctl show "$1" | sed -n "s/^$2=//p"; }

# A condition with a deadline, polled (the kernel tells no one when reclaim has done enough).
wait_until() {
        local what="$1" deadline=$(($(ms) + $2)); shift 2
        until "$@"; do
                [ "$(ms)" -lt "$deadline" ] || {
                        echo "timed out waiting for $what"
                        if [ -n "${names+x}" ]; then
                                for n in "${names[@]}"; do vmctl show "$n" | grep -E "^(Memory|Guest)" | paste -sd' '; done
                        fi
                        vmctl host
                        journalctl -u vmmd -n 20 --no-pager
                        exit 1
                }
                sleep 0.2
        done
}

policy() {
        printf '%s\n' "$@" >/etc/vmmd/memory.yaml
        vmctl reload
}
mkdir -p /etc/vmmd
# Whatever a case leaves when it fails must not squeeze the cases after it: its policy, its phones, and a
# memory hog (99-kvm-policy.sh) go at exit.
cleanup() {
        rm -f /etc/vmmd/memory.yaml
        vmctl reload || :
        if [ -n "${names+x}" ]; then
                for n in "${names[@]}"; do vmctl destroy "$n" 2>/dev/null || :; done
        fi
        if mountpoint -q /run/hog; then
                umount /run/hog
        fi
        swapoff /dev/zram0 2>/dev/null || : # 99-kvm-reclaim.sh's
}
trap cleanup EXIT

if [ ! -e /etc/vmmd/personas/throwaway-qemu.yaml ]; then
        mkdir -p /etc/vmmd/personas
        cp /usr/share/vmmd/policies/personas/*.yaml /etc/vmmd/personas/
        cp /etc/vmmd/personas/throwaway.yaml /etc/vmmd/personas/.throwaway-qemu.yaml
        # No screen: these cases' figures (fills, the policy's reserve) are for guests whose whole 256 MiB is
        # theirs, not 10 MiB of it a framebuffer and its drivers.
        printf 'vmm: qemu\ndisplay: none\n' >>/etc/vmmd/personas/.throwaway-qemu.yaml
        mv /etc/vmmd/personas/.throwaway-qemu.yaml /etc/vmmd/personas/throwaway-qemu.yaml
        vmctl reload
fi

# Clones: once the persona's golden snapshot is ready (vmmd builds it after the reload).
golden() { [ "$(vmctl --no-legend golden | awk '$1 == "throwaway-qemu" { print $2 }')" = ready ]; }
wait_until "the golden snapshot" 300000 golden
names=()
for i in 1 2; do
        names+=("$(vmctl --json create throwaway-qemu | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')")
done
for n in "${names[@]}"; do
        [ "$(prop "$n" VMM)" = qemu ] && [ -n "$(prop "$n" GoldenSnapshot)" ] || {
                echo "$n is no QEMU clone: VMM=$(prop "$n" VMM) GoldenSnapshot=$(prop "$n" GoldenSnapshot)"
                vmctl golden
                exit 1
        }
done
echo "$(elapsed) phones: ${names[*]}"

declare -A filled # MiB each guest filled last
fill() {          # NAME MIB SEED
        vmctl memtest "$1" fill "$2" "$3" >/dev/null
        filled[$1]=$2
}
check_all() {
        local n out
        for n in "${names[@]}"; do
                out="$(vmctl memtest "$n" check)" || { echo "after $1: $n: $out"; exit 1; }
                [ "$out" = "units=$((${filled[$n]} * 256)) bad=0" ] || { echo "after $1: $n: $out"; exit 1; }
        done
        echo "$(elapsed) after $1: every byte where it was"
}
