#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: vmm-hv's balloon under real KVM, driven over QMP as vmmd drives QEMU's. A 256 MiB guest
# touches 96 MiB and frees it; QMP balloon to 96 MiB: the guest gives back what it does not use, and
# vmm-hv's resident memory falls to what the guest keeps (the pages went back to the host, not only out of
# the guest's count). The guest then fills and checks a pattern within what it kept; the balloon deflates
# again and the pattern is still there.
set -eu
hv=/usr/libexec/vmm-hv
image=/usr/share/vmmd/images/reference
check="$VMMD_DEVICE_BUILD/tests/device/agent-check"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

"$check" --timeout 120 --qmp --send "MEMTEST FILL 96 ba11" --send "MEMTEST FREE" --send '!rss' \
        --send '!balloon 96' --send '!rss' --send "MEMTEST FILL 24 ba12" --send "MEMTEST CHECK" \
        --send '!balloon 256' --send "MEMTEST CHECK" --poweroff -- \
        "$hv" --name balloon --kernel "$image/vmlinuz" --initrd "$image/initrd.img" \
        --append "console=ttyAMA0 quiet panic=-1" -m 256 --agent-fd 3 --qmp-fd 4 >"$out"
cat "$out"
grep -qx "balloon 96 MiB" "$out"
grep -qx "balloon 256 MiB" "$out"
[ "$(grep -c "^MEMTEST units=6144 bad=0$" "$out")" = 2 ]
grep -qx "exit_status=0" "$out"
before=$(sed -n 's/^vmm_rss_kib=//p' "$out" | sed -n 1p)
after=$(sed -n 's/^vmm_rss_kib=//p' "$out" | sed -n 2p)
echo "vmm-hv resident: $((before / 1024)) MiB before the balloon, $((after / 1024)) MiB with it at 96 MiB"
# What the guest keeps, and vmm-hv's own few MiB: nothing of what it gave back stays resident.
[ "$after" -le $(((96 + 16) * 1024)) ]
