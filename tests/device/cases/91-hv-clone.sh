#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: vmm-hv snapshots a running guest and starts clones of it. The guest (two vCPUs) fills 32 MiB
# with a pattern; QMP stop, getfd and migrate write the snapshot (zero pages as holes); then two clones run
# at once from the file, its RAM mapped copy-on-write: each finds the pattern intact, both vCPUs, a clock
# that went on from the snapshot (not from the host's time since), and after fresh entropy a random state of
# its own. Each writes a pattern of its own; the snapshot file stays as it was.
set -eu
hv=/usr/libexec/vmm-hv
image=/usr/share/vmmd/images/reference
check="$VMMD_DEVICE_BUILD/tests/device/agent-check"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

"$check" --timeout 120 --qmp --send "MEMTEST FILL 32 5eed" --send CLOCK --snapshot "$dir/snap" -- \
        "$hv" --name golden --kernel "$image/vmlinuz" --initrd "$image/initrd.img" \
        --append "console=ttyAMA0 quiet panic=-1" -m 256 --cpus 2 --agent-fd 3 --qmp-fd 4 >"$dir/golden"
cat "$dir/golden"
grep -qx "exit_status=0" "$dir/golden"
golden_clock=$(sed -n 's/^CLOCK //p' "$dir/golden")
du -k --apparent-size "$dir/snap"
du -k "$dir/snap"
sum=$(sha256sum <"$dir/snap")

clone() { # N: a clone with fresh entropy, its pattern checked, then one of its own
        "$check" --timeout 120 --resume --send CLOCK --send CPUS --send "MEMTEST CHECK" \
                --send "ENTROPY $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" --send RANDOM \
                --send "MEMTEST FILL 32 c10$1" --send "MEMTEST CHECK" --poweroff -- \
                "$hv" --name "clone$1" --restore "$dir/snap" -m 256 --cpus 2 --agent-fd 3 >"$dir/clone$1"
}
clone 1 &
pid1=$!
clone 2
wait "$pid1"
for i in 1 2; do
        cat "$dir/clone$i"
        grep -qx "CPUS 2" "$dir/clone$i"
        [ "$(grep -c "^MEMTEST units=8192 bad=0$" "$dir/clone$i")" = 2 ]
        grep -qx "exit_status=0" "$dir/clone$i"
        # The clock went on from where the snapshot stopped it: seconds later, not the minutes since.
        clock=$(sed -n 's/^CLOCK //p' "$dir/clone$i")
        awk -v a="$golden_clock" -v b="$clock" 'BEGIN { d = b - a; print "clock after the snapshot: +" d " s"; exit !(d >= 0 && d < 5) }'
done
r1=$(sed -n 's/^RANDOM //p' "$dir/clone1")
r2=$(sed -n 's/^RANDOM //p' "$dir/clone2")
[ -n "$r1" ] && [ "$r1" != "$r2" ]
[ "$(sha256sum <"$dir/snap")" = "$sum" ]
echo "clone start to agent answer: $(sed -n 's/^ready_ms=//p' "$dir/clone1") ms, $(sed -n 's/^ready_ms=//p' "$dir/clone2") ms (golden boot: $(sed -n 's/^ready_ms=//p' "$dir/golden") ms)"
