#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: vmmd's memory policy under real KVM and real pressure. The two clones of one golden snapshot
# with one owner may merge (vmmd turns KSM on for them and runs ksmd; QEMU starts every VM unmergeable). A
# memory hog in tmpfs leaves the phone less than the policy's reserve: the loop takes back what the guests do
# not use (every phone is in the background), while they write; then the phone switched to the foreground
# fills what it has left, and the loop gives it memory back, pressure or not. Every guest checks every byte
# after each step. Balloons move slowly under emulation: 2 to 3 minutes.
# case-timeout: 420
. "$(dirname "$0")/memory-lib.bash"
policy "interval_ms: 500"

merging() { for n in "${names[@]}"; do [ "$(prop "$n" MemoryMerging)" = yes ] || return 1; done; }
wait_until "the policy to let the clones merge" 10000 merging
ksmd_on() { [ "$(ksm run)" = 1 ]; }
wait_until "vmmd to start ksmd" 10000 ksmd_on
echo "$(elapsed) the clones may merge, ksmd runs"

for i in "${!names[@]}"; do fill "${names[$i]}" 48 $((300 + i)); done
mkdir -p /run/hog
mount -t tmpfs -o size=1536M hog /run/hog
avail=$(awk '$1 == "MemAvailable:" { print int($2 / 1024) }' /proc/meminfo)
dd if=/dev/zero of=/run/hog/fill bs=1M count=$((avail - 160)) status=none
t0=$(ms)
writers=()
for i in "${!names[@]}"; do
        vmctl memtest "${names[$i]}" fill 48 $((311 + i)) >/dev/null &
        writers+=($!)
done
gave() { for n in "${names[@]}"; do [ "$(prop "$n" MemoryActualMiB)" -le 224 ] || return 1; done; }
wait_until "the balloons to take back 32 MiB each" 120000 gave
given_ms=$(($(ms) - t0))
wait "${writers[@]}"
vmctl host | grep -E "Memory pressure|Ballooned|Resident"
check_all "the policy took back $((${#names[@]} * 32)) MiB or more under pressure in $given_ms ms, while the guests wrote"

# Still under pressure, the phone the user switches to fills what it has left: it is short, and the loop
# gives the foreground phone memory back even now (the background phone keeps its own tight).
n=${names[0]}
settled() { [ "$(prop "$n" MemoryActualMiB)" = "$(prop "$n" MemoryTargetMiB)" ]; } # its balloon got there
wait_until "the balloon of $n to get where the loop sent it" 120000 settled
vmctl switch "$n"
avail() { echo $(($(prop "$n" GuestMemoryAvailableKiB) / 1024)); }
avail=$(avail)
vmctl memtest "$n" free >/dev/null
freed() { [ "$(avail)" -ge $((avail + 40)) ]; } # the loop asks the agent every 500 ms
wait_until "$n to say it freed 48 MiB" 10000 freed
before=$(prop "$n" MemoryTargetMiB)
# Fills what is left but 22 MiB (short: less than half the policy's guest reserve). The figure is the loop's
# last reading; if the guest's MemAvailable fell since (its balloon still moving), the agent says how much it
# has now and the fill is that much smaller, up to three times.
mib=$(($(avail) - 22))
for try in 1 2 3; do
        if out="$(vmctl memtest "$n" fill "$mib" 320 2>&1)"; then
                filled[$n]=$mib
                break
        fi
        now=$(echo "$out" | sed -n 's/.*only \([0-9]*\) MiB are available.*/\1/p')
        [ -n "$now" ] && [ "$try" -lt 3 ] || { echo "$out"; exit 1; }
        echo "$(elapsed) $n has $now MiB available now, not the $((mib + 22)) MiB it had"
        mib=$((now - 22))
done
grown() { [ "$(prop "$n" MemoryTargetMiB)" -gt "$before" ]; }
wait_until "the loop to give $n memory back" 60000 grown
[ "$(vmctl --json host | sed -n 's/.*"MemoryUnderPressure": *\([a-z]*\).*/\1/p')" = true ]
check_all "the foreground phone $n filled its memory and got $(($(prop "$n" MemoryTargetMiB) - before)) MiB back under pressure"

echo "figures: policy_gave_ms=$given_ms bytes_lost=0"
for n in "${names[@]}"; do vmctl destroy "$n"; done
