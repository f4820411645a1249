#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: guest memory under real KVM survives what the host does to it. Two phones (clones of one
# golden snapshot, which vmmd's policy lets KSM merge) fill most of their RAM with a pattern (the agent's
# MEMTEST); the phone then merges their pages (one seed everywhere, so identical pages), makes them write
# (each its own seed: copy-on-write breaks the merges), swaps their pages out to zram and back while they
# write (MemoryHigh squeezes the VMs' scopes), inflates and deflates their balloons, and splits huge pages;
# after every round every guest checks every byte. Zero may differ; the figures show that reclaim really
# happened. (99-kvm-policy.sh has vmmd's policy loop do it under a real memory hog.) KSM scans all of the
# clones' RAM under emulation: 2 to 3 minutes.
# case-timeout: 480
. "$(dirname "$0")/memory-lib.bash"
FILL=64 # MiB of each 256 MiB guest
# The policy loop lets the clones merge, then stays out of the way: only the test moves the balloons and the
# scopes' MemoryHigh.
policy "interval_ms: 500"
merging() { for n in "${names[@]}"; do [ "$(prop "$n" MemoryMerging)" = yes ] || return 1; done; }
wait_until "the policy to let the clones merge" 10000 merging
policy "interval_ms: 0"

# Rounds 1 and 2: KSM merges the identical pages of the two guests (one seed everywhere), then the guests
# write their own (copy-on-write breaks those merges). Only the guests' pattern changes in round 2, so the
# pages that KSM shares fewer after it were the pattern's, merged in round 1 (the clones' golden pages merge
# meanwhile too: round 1's count alone would prove nothing). Each unit once, and shared by the other guest:
# at least 3/4 of that is expected. A page merges once it was the same in two full scans, and the
# scan under way when the wait begins may not cover it: three.
expect=$((FILL * 256 * 3 / 4))
echo 100000 >/sys/kernel/mm/ksm/pages_to_scan
echo 0 >/sys/kernel/mm/ksm/sleep_millisecs
echo 1 >/sys/kernel/mm/ksm/run
for n in "${names[@]}"; do fill "$n" $FILL 42; done
scans_until=$(($(ksm full_scans) + 3))
scanned() { [ "$(ksm full_scans)" -ge "$scans_until" ]; }
wait_until "three full KSM scans" 300000 scanned
sharing1=$(ksm pages_sharing)
check_all "KSM merged ($sharing1 pages shared)"
for i in "${!names[@]}"; do fill "${names[$i]}" $FILL $((100 + i)); done
unmerged() { [ "$(ksm pages_sharing)" -le $((sharing1 - expect)) ]; }
wait_until "copy-on-write to unmerge the pattern (KSM sees it in its next full scan)" 300000 unmerged
merged=$((sharing1 - $(ksm pages_sharing)))
check_all "the guests wrote their own ($merged pages were merged, now unmerged)"
echo 2 >/sys/kernel/mm/ksm/run # unmerge what is left

# Round 3: zram swap; the VMs' scopes squeezed while their guests write, so that their pages go out (and
# come back for the writing), then let go.
modprobe zram
echo 1G >/sys/block/zram0/disksize
mkswap -q /dev/zram0
swapon /dev/zram0
out0=$(vmstat pswpout) in0=$(vmstat pswpin)
declare -A high
writers=()
for n in "${names[@]}"; do
        unit="vmm-$(systemd-escape "$n").scope"
        high[$n]="$(systemctl show -P MemoryHigh "$unit")"
        systemctl set-property --runtime "$unit" MemoryHigh=64M
        vmctl memtest "$n" fill $FILL 201 >/dev/null &
        writers+=($!)
done
squeezed() {
        local n
        for n in "${names[@]}"; do
                [ "$(cat "/sys/fs/cgroup/machine.slice/vmm-$(systemd-escape "$n").scope/memory.swap.current")" -ge \
                        $((FILL << 19)) ] || return 1
        done
}
wait_until "the guests to swap" 120000 squeezed
for n in "${names[@]}"; do systemctl set-property --runtime "vmm-$(systemd-escape "$n").scope" MemoryHigh="${high[$n]}"; done
wait "${writers[@]}"
swapped=$(($(vmstat pswpout) - out0))
check_all "$swapped pages went to zram while the guests wrote"
swapped_in=$(($(vmstat pswpin) - in0))
echo "pages read back from zram, for the guests' writes and checks: $swapped_in"
[ "$swapped" -ge $((${#names[@]} * FILL * 128)) ]

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
echo "figures: ksm_merged=$merged pswpout=$swapped pswpin=$swapped_in bytes_lost=0"
for n in "${names[@]}"; do vmctl destroy "$n"; done
