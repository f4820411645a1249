#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: guest memory under real KVM survives what the host does to it. Three phones fill most of their
# RAM with a pattern (the agent's MEMTEST); the phone then merges their pages (KSM: one seed everywhere, so
# identical pages), makes them write (each its own seed: copy-on-write breaks the merges), swaps their pages
# out to zram and back (MemoryHigh squeezes the VMs' scopes), inflates and deflates their balloons, and
# splits huge pages; after every round every guest checks every byte. Zero may differ; the figures show that
# reclaim really happened.
set -eu
ms() { echo $(($(date +%s%N) / 1000000)); }
vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
ksm() { cat "/sys/kernel/mm/ksm/$1"; }
FILL=96 # MiB of each 256 MiB guest

names=()
for i in 1 2 3; do
        names+=("$(vmctl --json create throwaway | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')")
done
echo "phones: ${names[*]}"

check_all() {
        local n
        for n in "${names[@]}"; do
                out="$(vmctl memtest "$n" check)" || { echo "after $1: $n: $out"; exit 1; }
                [ "$out" = "units=$((FILL * 256)) bad=0" ] || { echo "after $1: $n: $out"; exit 1; }
        done
        echo "after $1: every byte where it was"
}
# A condition with a deadline, polled (the kernel tells no one when reclaim has done enough).
wait_until() {
        local what="$1" deadline=$(($(ms) + $2)); shift 2
        until "$@"; do
                [ "$(ms)" -lt "$deadline" ] || { echo "timed out waiting for $what"; exit 1; }
                sleep 0.2
        done
}

# Round 1: KSM merges the identical pages of the three guests (one seed everywhere). The clones of one
# golden snapshot share much already: what counts is the gain, after two full scans each time.
echo 100000 >/sys/kernel/mm/ksm/pages_to_scan
echo 0 >/sys/kernel/mm/ksm/sleep_millisecs
echo 1 >/sys/kernel/mm/ksm/run
scanned() { [ "$(ksm full_scans)" -ge "$scans_until" ]; }
ksm_settle() {
        scans_until=$(($(ksm full_scans) + 2))
        wait_until "two full KSM scans" 300000 scanned
}
ksm_settle
sharing0=$(ksm pages_sharing)
for n in "${names[@]}"; do vmctl memtest "$n" fill $FILL 42 >/dev/null; done
ksm_settle
sharing1=$(ksm pages_sharing)
merged=$((sharing1 - sharing0))
check_all "KSM merged $merged more pages"
# Each unit once, and shared by the two other guests.
[ "$merged" -ge $((2 * FILL * 256 * 3 / 4)) ] || { echo "KSM merged only $merged pages"; exit 1; }

# Round 2: the guests write (their own seeds): copy-on-write breaks those merges, the data stays.
for i in 0 1 2; do vmctl memtest "${names[$i]}" fill $FILL $((100 + i)) >/dev/null; done
ksm_settle
unmerged=$((sharing1 - $(ksm pages_sharing)))
check_all "the guests wrote their own ($unmerged pages unmerged)"
[ "$unmerged" -ge $((2 * FILL * 256 * 3 / 4)) ] || { echo "only $unmerged pages unmerged"; exit 1; }
echo 2 >/sys/kernel/mm/ksm/run # unmerge what is left

# Round 3: zram swap; each VM's scope squeezed, so that its guest's pages go out, then let go.
modprobe zram
echo 1G >/sys/block/zram0/disksize
mkswap -q /dev/zram0
swapon /dev/zram0
out0=$(vmstat pswpout)
for n in "${names[@]}"; do
        unit="vmm-$(systemd-escape "$n").scope"
        high="$(systemctl show -P MemoryHigh "$unit")"
        systemctl set-property --runtime "$unit" MemoryHigh=64M
        cg="/sys/fs/cgroup/machine.slice/$unit"
        squeezed() { [ "$(cat "$cg/memory.swap.current")" -ge $((FILL << 19)) ]; }
        wait_until "$n to swap" 120000 squeezed
        systemctl set-property --runtime "$unit" MemoryHigh="$high"
done
swapped=$(($(vmstat pswpout) - out0))
in0=$(vmstat pswpin)
check_all "$swapped pages went to zram"
echo "pages read back from zram: $(($(vmstat pswpin) - in0))"
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
for n in "${names[@]}"; do vmctl memtest "$n" fill $FILL 7 >/dev/null; done
check_all "the guests wrote again"

swapoff /dev/zram0
echo "figures: ksm_merged=$merged ksm_unmerged=$unmerged pswpout=$swapped bytes_lost=0"
for n in "${names[@]}"; do vmctl destroy "$n"; done
