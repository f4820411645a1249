#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: vmm-hv's virtio-blk under real KVM, with the reference persona's ext4 data disk (/data in the
# guest). (a) On a raw copy of it, the guest writes a pattern file (DISKTEST FILL: fsynced) and powers off;
# a new vmm-hv on the same file finds it intact, read from the disk. (b) On an empty overlay over that raw
# file as its backing file, the guest finds the backing file's pattern and writes one of its own; the
# backing file does not change, and a new vmm-hv on the overlay finds the overlay's pattern. (c) A snapshot
# of a running guest on an overlay: restoring it without --disk fails and says why; a clone restored on a
# copy of the overlay finds the pattern written before the snapshot, read from its disk, and writes its own
# without changing the golden's overlay or the backing file.
set -eu
hv=/usr/libexec/vmm-hv
image=/usr/share/vmmd/images/reference
check="$VMMD_DEVICE_BUILD/tests/device/agent-check"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
boot=(--kernel "$image/vmlinuz" --initrd "$image/initrd.img" --append "console=ttyAMA0 quiet panic=-1" -m 256
      --agent-fd 3)

qemu-img convert -f qcow2 -O raw "$image/disk.qcow2" "$dir/base.raw"
ls -l "$dir/base.raw"

# (a) A raw disk keeps what the guest wrote. Each pattern has a size of its own (units=), so that a CHECK
# that finds another one's file does not pass.
"$check" --timeout 120 --send "DISKTEST CHECK" --send "DISKTEST FILL 64 1" --send "DISKTEST FILL 8 d15c" \
        --send "DISKTEST CHECK" --poweroff -- "$hv" --name raw1 "${boot[@]}" --disk "$dir/base.raw" >"$dir/a1"
cat "$dir/a1"
grep -q "^ERR DISKTEST CHECK: cannot open /data/disktest" "$dir/a1"
grep -q "^ERR DISKTEST FILL 64 MiB: only [0-9]* MiB are free on /data$" "$dir/a1"
grep -qx "OK DISKTEST" "$dir/a1"
grep -qx "DISKTEST units=2048 bad=0" "$dir/a1"
grep -qx "exit_status=0" "$dir/a1"
"$check" --timeout 120 --send "DISKTEST CHECK" --poweroff -- \
        "$hv" --name raw2 "${boot[@]}" --disk "$dir/base.raw" >"$dir/a2"
cat "$dir/a2"
grep -qx "DISKTEST units=2048 bad=0" "$dir/a2"
grep -qx "exit_status=0" "$dir/a2"

# (b) An empty overlay over it: the backing file's data, then the overlay's own; the backing file as it was.
base_sum=$(sha256sum <"$dir/base.raw")
: >"$dir/overlay"
"$check" --timeout 120 --send "DISKTEST CHECK" --send "DISKTEST FILL 6 0be1" --send "DISKTEST CHECK" --poweroff -- \
        "$hv" --name overlay1 "${boot[@]}" --disk "$dir/overlay" --disk-backing "$dir/base.raw" >"$dir/b1"
cat "$dir/b1"
grep -qx "DISKTEST units=2048 bad=0" "$dir/b1"
grep -qx "OK DISKTEST" "$dir/b1"
grep -qx "DISKTEST units=1536 bad=0" "$dir/b1"
grep -qx "exit_status=0" "$dir/b1"
[ "$(sha256sum <"$dir/base.raw")" = "$base_sum" ]
[ "$(head -c 8 "$dir/overlay")" = VMMHVCW1 ]
echo "overlay: $(du -k --apparent-size "$dir/overlay" | cut -f1) KiB long, $(du -k "$dir/overlay" | cut -f1) KiB allocated"
"$check" --timeout 120 --send "DISKTEST CHECK" --poweroff -- \
        "$hv" --name overlay2 "${boot[@]}" --disk "$dir/overlay" --disk-backing "$dir/base.raw" >"$dir/b2"
cat "$dir/b2"
grep -qx "DISKTEST units=1536 bad=0" "$dir/b2"
grep -qx "exit_status=0" "$dir/b2"
[ "$(sha256sum <"$dir/base.raw")" = "$base_sum" ]

# (c) A snapshot of a running guest with a disk.
: >"$dir/golden.overlay"
"$check" --timeout 120 --qmp --send "DISKTEST FILL 4 901d" --send "DISKTEST CHECK" --snapshot "$dir/snap" -- \
        "$hv" --name golden "${boot[@]}" --qmp-fd 4 --disk "$dir/golden.overlay" --disk-backing "$dir/base.raw" \
        >"$dir/c1"
cat "$dir/c1"
grep -qx "DISKTEST units=1024 bad=0" "$dir/c1"
grep -qx "exit_status=0" "$dir/c1"
# The snapshot's machine had a disk: one without is refused before anything runs, and says so.
status=0
"$hv" --name nodisk --restore "$dir/snap" -m 256 2>"$dir/c-nodisk" || status=$?
cat "$dir/c-nodisk"
[ "$status" = 1 ]
grep -q "The snapshot is of a machine with a disk: restore it with --disk" "$dir/c-nodisk"
# A clone on a copy of the golden's overlay, as it was when the snapshot was taken.
cp --sparse=always "$dir/golden.overlay" "$dir/clone.overlay"
golden_sum=$(sha256sum <"$dir/golden.overlay")
"$check" --timeout 120 --resume --send "DISKTEST CHECK" --send "DISKTEST FILL 2 c10e" --send "DISKTEST CHECK" \
        --poweroff -- "$hv" --name clone --restore "$dir/snap" -m 256 --agent-fd 3 \
        --disk "$dir/clone.overlay" --disk-backing "$dir/base.raw" >"$dir/c2"
cat "$dir/c2"
grep -qx "DISKTEST units=1024 bad=0" "$dir/c2"
grep -qx "DISKTEST units=512 bad=0" "$dir/c2"
grep -qx "exit_status=0" "$dir/c2"
[ "$(sha256sum <"$dir/golden.overlay")" = "$golden_sum" ]
[ "$(sha256sum <"$dir/base.raw")" = "$base_sum" ]
