#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: vmm-hv's dirty logging and incremental snapshots under real KVM. A booted guest fills 32 MiB
# with a pattern; an incremental snapshot is refused (no base yet), a full one written. A clone of it finds
# the pattern, fills 16 MiB anew with one of its own and writes a delta: its file holds about the pages the
# clone wrote (allocated blocks), far fewer than the full snapshot's. A machine restored from the delta over
# its base finds the clone's pattern intact and runs; its own delta, of the same base, still holds the
# pattern written before the first one. A delta with the wrong base, without its base, a delta as a base
# and a full snapshot with a base are refused, each saying why.
set -eu
hv=/usr/libexec/vmm-hv
image=/usr/share/vmmd/images/reference
check="$VMMD_DEVICE_BUILD/tests/device/agent-check"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
kib() { echo $(($(stat -c '%b * %B' "$1") / 1024)); }
id_of() { sed -n 's/.*Wrote snapshot \([0-9a-f]\{32\}\).*/\1/p' "$1"; }
restore() { # LOG ARGS...: a restore that must be refused, its message in LOG
        local log=$1 status=0
        shift
        "$hv" --name refused -m 256 "$@" 2>"$log" || status=$?
        cat "$log"
        [ "$status" = 1 ]
}

# (a) A booted machine: no base for a delta yet; then a full snapshot.
"$check" --timeout 120 --qmp --send "MEMTEST FILL 32 5eed" \
        --send '!qmp {"execute": "migrate", "arguments": {"uri": "fd:none", "inc": true}}' \
        --snapshot "$dir/full" -- \
        "$hv" --name golden --kernel "$image/vmlinuz" --initrd "$image/initrd.img" \
        --append "console=ttyAMA0 quiet panic=-1" -m 256 --agent-fd 3 --qmp-fd 4 --console-fd none \
        >"$dir/golden" 2>"$dir/golden.log"
cat "$dir/golden" "$dir/golden.log"
grep -q '"desc":"No base for an incremental snapshot' "$dir/golden"
grep -qx "exit_status=0" "$dir/golden"
full_id=$(id_of "$dir/golden.log")
[ -n "$full_id" ]
full_sum=$(sha256sum <"$dir/full")

# (b) A clone writes 16 MiB of a new pattern, then a delta of the full snapshot.
"$check" --timeout 120 --qmp --resume --send "MEMTEST CHECK" --send "MEMTEST FILL 16 c10e" \
        --send "MEMTEST CHECK" --snapshot-inc "$dir/delta" -- \
        "$hv" --name clone --restore "$dir/full" -m 256 --agent-fd 3 --qmp-fd 4 --console-fd none \
        >"$dir/clone" 2>"$dir/clone.log"
cat "$dir/clone" "$dir/clone.log"
grep -qx "MEMTEST units=8192 bad=0" "$dir/clone"
grep -qx "MEMTEST units=4096 bad=0" "$dir/clone"
grep -qx "exit_status=0" "$dir/clone"
grep -q "Wrote snapshot [0-9a-f]*, a delta of $full_id: " "$dir/clone.log"
delta_id=$(id_of "$dir/clone.log")
[ "$(head -c 8 "$dir/delta")" = VMMHVSN1 ]
[ "$(stat -c %s "$dir/delta")" = "$(stat -c %s "$dir/full")" ] # the same layout, holes where it holds nothing
full_kib=$(kib "$dir/full")
delta_kib=$(kib "$dir/delta")
echo "full snapshot: $full_kib KiB allocated, written in $(sed -n 's/^snapshot_ms=//p' "$dir/golden") ms"
echo "delta: $delta_kib KiB allocated, written in $(sed -n 's/^snapshot_ms=//p' "$dir/clone") ms"
# The 16 MiB the clone wrote are in it; besides them, only what the guest's kernel wrote in those seconds.
[ "$delta_kib" -ge 16384 ]
[ "$delta_kib" -le $((16384 + 8192)) ]
[ $((delta_kib * 3)) -le "$full_kib" ]

# (c) The delta over its base: the clone's pattern, and a machine that runs (its agent answers). Its own
# delta goes over the same full snapshot and holds the first delta's pages too: restored, the pattern the
# clone wrote before the first delta is there.
"$check" --timeout 120 --qmp --resume --send "MEMTEST CHECK" --send CPUS --snapshot-inc "$dir/delta2" -- \
        "$hv" --name restored --restore "$dir/delta" --restore-base "$dir/full" -m 256 --agent-fd 3 --qmp-fd 4 \
        --console-fd none >"$dir/restored" 2>"$dir/restored.log"
cat "$dir/restored" "$dir/restored.log"
grep -qx "MEMTEST units=4096 bad=0" "$dir/restored"
grep -qx "CPUS 1" "$dir/restored"
grep -qx "exit_status=0" "$dir/restored"
grep -q "Wrote snapshot [0-9a-f]*, a delta of $full_id: " "$dir/restored.log"
"$check" --timeout 120 --resume --send "MEMTEST CHECK" --poweroff -- \
        "$hv" --name restored2 --restore "$dir/delta2" --restore-base "$dir/full" -m 256 --agent-fd 3 \
        --console-fd none >"$dir/restored2"
cat "$dir/restored2"
grep -qx "MEMTEST units=4096 bad=0" "$dir/restored2"
grep -qx "exit_status=0" "$dir/restored2"
[ "$(sha256sum <"$dir/full")" = "$full_sum" ]

# (d) Another full snapshot (a clone's, unchanged), for a wrong base; then each refusal.
"$check" --timeout 120 --qmp --resume --snapshot "$dir/other" -- \
        "$hv" --name other --restore "$dir/full" -m 256 --agent-fd 3 --qmp-fd 4 --console-fd none \
        >"$dir/other.out" 2>"$dir/other.log"
cat "$dir/other.out" "$dir/other.log"
other_id=$(id_of "$dir/other.log")
[ -n "$other_id" ] && [ "$other_id" != "$full_id" ]
echo "a clone's full snapshot: $(kib "$dir/other") KiB allocated, written in $(sed -n 's/^snapshot_ms=//p' "$dir/other.out") ms"
restore "$dir/wrong" --restore "$dir/delta" --restore-base "$dir/other"
grep -q "The snapshot is a delta of snapshot $full_id, but the base given is snapshot $other_id\." "$dir/wrong"
restore "$dir/nobase" --restore "$dir/delta"
grep -q "The snapshot $delta_id is incremental, a delta of snapshot $full_id: restore it with --restore-base" \
        "$dir/nobase"
restore "$dir/deltabase" --restore "$dir/delta2" --restore-base "$dir/delta"
grep -q "The base snapshot $delta_id is a delta itself (of $full_id): a delta's base must be a full snapshot\." \
        "$dir/deltabase"
restore "$dir/fullbase" --restore "$dir/other" --restore-base "$dir/full"
grep -q "The snapshot $other_id is a full snapshot, not a delta: restore it without --restore-base\." "$dir/fullbase"
