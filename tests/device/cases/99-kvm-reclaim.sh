#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: guest memory under real KVM survives what the host does to it, and vmmd's memory policy moves
# it between the phones. Three throwaway clones fill most of their RAM with a pattern (the agent's MEMTEST);
# vmmd's policy lets KSM merge them (clones of one golden snapshot, one owner); the phone then merges their
# pages (one seed everywhere, so identical pages), makes them write (each its own seed: copy-on-write breaks
# the merges), swaps their pages out to zram and back while they write (MemoryHigh squeezes the VMs'
# scopes), inflates and deflates their balloons, and splits huge pages; finally a memory hog puts the phone
# under real pressure and the policy loop takes back what the guests do not use, while they write, and
# gives it back to a guest that fills its memory. After every round every guest checks every byte. Zero may
# differ; the figures show that reclaim really happened.
set -eu
ms() { echo $(($(date +%s%N) / 1000000)); }
vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
ksm() { cat "/sys/kernel/mm/ksm/$1"; }
prop() { vmctl show "$1" | sed -n "s/^$2=//p"; }
FILL=64 # MiB of each 256 MiB guest
start=$(ms)

# The policy loop looks often here; rounds 3 to 5 turn it off, so that only the test moves the balloons and
# the scopes' MemoryHigh.
policy() {
        printf '%s\n' "$@" >/etc/vmmd/memory.yaml
        vmctl reload
}
mkdir -p /etc/vmmd
policy "interval_ms: 500"
trap 'rm -f /etc/vmmd/memory.yaml; vmctl reload || :' EXIT

# A condition with a deadline, polled (the kernel tells no one when reclaim has done enough).
wait_until() {
        local what="$1" deadline=$(($(ms) + $2)); shift 2
        until "$@"; do
                [ "$(ms)" -lt "$deadline" ] || { echo "timed out waiting for $what"; exit 1; }
                sleep 0.2
        done
}

# Clones: once the throwaway persona's golden snapshot is ready (vmmd builds it after its start).
golden() { [ "$(vmctl --no-legend golden | awk '$1 == "throwaway" { print $2 }')" = ready ]; }
wait_until "the golden snapshot" 300000 golden
names=()
for i in 1 2 3; do
        names+=("$(vmctl --json create throwaway | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')")
done
echo "[$((($(ms) - start) / 1000)) s] phones: ${names[*]}"

declare -A filled # MiB each guest filled last
fill() { # NAME MIB SEED
        vmctl memtest "$1" fill "$2" "$3" >/dev/null
        filled[$1]=$2
}
check_all() {
        local n
        for n in "${names[@]}"; do
                out="$(vmctl memtest "$n" check)" || { echo "after $1: $n: $out"; exit 1; }
                [ "$out" = "units=$((${filled[$n]} * 256)) bad=0" ] || { echo "after $1: $n: $out"; exit 1; }
        done
        echo "[$((($(ms) - start) / 1000)) s] after $1: every byte where it was"
}

# vmmd's policy: the three clones of one golden snapshot with one owner may merge (QEMU starts every VM
# unmergeable).
merging() { for n in "${names[@]}"; do [ "$(prop "$n" MemoryMerging)" = yes ] || return 1; done; }
wait_until "the policy to let the clones merge" 10000 merging
ksmd_on() { [ "$(ksm run)" = 1 ]; }
wait_until "vmmd to start ksmd" 10000 ksmd_on

# Round 1: KSM merges the identical pages of the three guests (one seed everywhere). The clones of one
# golden snapshot share much already: what counts is the gain, after three full scans each time (a page
# merges once it was the same in two; the scan under way when the wait begins may not cover the page).
echo 100000 >/sys/kernel/mm/ksm/pages_to_scan
echo 0 >/sys/kernel/mm/ksm/sleep_millisecs
echo 1 >/sys/kernel/mm/ksm/run
scanned() { [ "$(ksm full_scans)" -ge "$scans_until" ]; }
ksm_settle() {
        scans_until=$(($(ksm full_scans) + 3))
        wait_until "three full KSM scans" 300000 scanned
}
ksm_settle
sharing0=$(ksm pages_sharing)
for n in "${names[@]}"; do fill "$n" $FILL 42; done
ksm_settle
sharing1=$(ksm pages_sharing)
merged=$((sharing1 - sharing0))
check_all "KSM merged $merged more pages"
# Each unit once, and shared by the two other guests.
[ "$merged" -ge $((2 * FILL * 256 * 3 / 4)) ] || { echo "KSM merged only $merged pages"; exit 1; }

# Round 2: the guests write (their own seeds): copy-on-write breaks those merges, the data stays.
for i in 0 1 2; do fill "${names[$i]}" $FILL $((100 + i)); done
ksm_settle
unmerged=$((sharing1 - $(ksm pages_sharing)))
check_all "the guests wrote their own ($unmerged pages unmerged)"
[ "$unmerged" -ge $((2 * FILL * 256 * 3 / 4)) ] || { echo "only $unmerged pages unmerged"; exit 1; }
echo 2 >/sys/kernel/mm/ksm/run # unmerge what is left

# Round 3: zram swap; each VM's scope squeezed while its guest writes, so that its pages go out, then let go.
policy "interval_ms: 0"
modprobe zram
echo 1G >/sys/block/zram0/disksize
mkswap -q /dev/zram0
swapon /dev/zram0
out0=$(vmstat pswpout) in0=$(vmstat pswpin)
for n in "${names[@]}"; do
        unit="vmm-$(systemd-escape "$n").scope"
        high="$(systemctl show -P MemoryHigh "$unit")"
        systemctl set-property --runtime "$unit" MemoryHigh=64M
        # The guest writes it all again while its pages go out (and come back for the writing); let go,
        # it finishes at full speed.
        vmctl memtest "$n" fill $FILL 201 >/dev/null &
        writer=$!
        cg="/sys/fs/cgroup/machine.slice/$unit"
        squeezed() { [ "$(cat "$cg/memory.swap.current")" -ge $((FILL << 19)) ]; }
        wait_until "$n to swap" 120000 squeezed
        systemctl set-property --runtime "$unit" MemoryHigh="$high"
        wait $writer
done
swapped=$(($(vmstat pswpout) - out0))
check_all "$swapped pages went to zram while the guests wrote"
swapped_in=$(($(vmstat pswpin) - in0))
echo "pages read back from zram, for the guests' writes and checks: $swapped_in"
[ "$swapped" -ge $((3 * FILL * 128)) ]

# Round 4: balloons inflate (the guests give back what the test does not use) and deflate.
for n in "${names[@]}"; do vmctl set-memory "$n" 192; done
check_all "balloons inflated to 192 MiB"
for n in "${names[@]}"; do vmctl set-memory "$n" 256; done
check_all "balloons deflated"

# Round 5: every huge page split (THP), then the guests write and check again.
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
echo 1 >/sys/kernel/debug/split_huge_pages
check_all "huge pages split"
for n in "${names[@]}"; do fill "$n" $FILL 7; done
check_all "the guests wrote again"

swapoff /dev/zram0

# Round 6: the policy loop under real pressure. The guests hold 48 MiB each; a hog in tmpfs (no swap now)
# leaves the phone less than the policy's reserve. The loop takes back, step by step, what the guests do not
# use (background phones: none is in the foreground), while they write; pressure ends once enough came back.
policy "interval_ms: 500"
for i in 0 1 2; do fill "${names[$i]}" 48 $((300 + i)); done
mkdir -p /run/hog
mount -t tmpfs -o size=1536M hog /run/hog
avail=$(awk '$1 == "MemAvailable:" { print int($2 / 1024) }' /proc/meminfo)
dd if=/dev/zero of=/run/hog/fill bs=1M count=$((avail - 160)) status=none
t0=$(ms)
writers=()
for i in 0 1 2; do
        vmctl memtest "${names[$i]}" fill 48 $((311 + i)) >/dev/null &
        writers+=($!)
done
gave() { for n in "${names[@]}"; do [ "$(prop "$n" MemoryActualMiB)" -le 192 ] || return 1; done; }
wait_until "the balloons to take back 64 MiB each" 120000 gave
given_ms=$(($(ms) - t0))
wait "${writers[@]}"
vmctl host | grep -E "Memory pressure|Ballooned|Resident"
check_all "the policy took back $((3 * 64)) MiB or more under pressure in $given_ms ms, while the guests wrote"
rm -f /run/hog/fill
umount /run/hog

# A guest that fills what it has left is short: the loop gives it memory back (the host has room again).
n=${names[0]}
avail() { echo $(($(prop "$n" GuestMemoryAvailableKiB) / 1024)); }
avail=$(avail)
vmctl memtest "$n" free >/dev/null
freed() { [ "$(avail)" -ge $((avail + 40)) ]; } # the loop asks the agent every 500 ms
wait_until "$n to say it freed 48 MiB" 10000 freed
before=$(prop "$n" MemoryTargetMiB)
fill "$n" $(($(avail) - 22)) 320
grown() { [ "$(prop "$n" MemoryTargetMiB)" -gt "$before" ]; }
wait_until "the loop to give $n memory back" 60000 grown
check_all "$n filled its memory and got $(($(prop "$n" MemoryTargetMiB) - before)) MiB back"

echo "figures: ksm_merged=$merged ksm_unmerged=$unmerged pswpout=$swapped pswpin=$swapped_in policy_gave_ms=$given_ms bytes_lost=0"
for n in "${names[@]}"; do vmctl destroy "$n"; done
