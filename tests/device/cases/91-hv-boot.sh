#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: vmm-hv on real KVM. A bare-metal guest (tests/device/hv-guest.S) loads and stores without a
# valid syndrome (vmm-hv decodes the instruction and emulates it), and touches an address no device answers
# (an external abort for the guest; vmm-hv goes on). Then the reference persona's kernel and initramfs boot
# on vmm-hv with two vCPUs to the agent's READY: both CPUs come up, the clock runs at the host's rate, the
# agent answers over the virtio-mmio console, and a power-off ends vmm-hv with status 0, a reset with 3.
set -eu
hv=/usr/libexec/vmm-hv
image=/usr/share/vmmd/images/reference
check="$VMMD_DEVICE_BUILD/tests/device/agent-check"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

"$hv" --kernel "$VMMD_DEVICE_BUILD/tests/device/hv-guest.img" -m 64 --agent-socket "$dir/agent" \
        --console-fd 3 3>"$dir/console" || { echo "vmm-hv exited with $?"; cat "$dir/console"; exit 1; }
cat "$dir/console"
for what in "ldp from a device" "post-index load from a device" "access where no device is: external abort"; do
        grep -qx "hv-guest: $what ok" "$dir/console"
done
grep -qx "hv-guest: stp to the uart: S" "$dir/console"
! grep -q "bad" "$dir/console"
grep -qx "hv-guest: done" "$dir/console"

boot() { # OUT CPUS AGENT-CHECK-ARGS...
        local out="$1" cpus="$2"
        shift 2
        "$check" --timeout 120 "$@" -- "$hv" --name persona --kernel "$image/vmlinuz" --initrd "$image/initrd.img" \
                --append "console=ttyAMA0 quiet panic=-1" -m 256 --cpus "$cpus" --agent-fd 3 >"$out"
        cat "$out"
}
# Two CLOCK readings 3 s apart (host time, from agent-check's timestamps) against the guest's.
boot "$dir/boot" 2 --timestamps --interval-ms 3000 --send CPUS --send CLOCK --send CLOCK --poweroff
grep -q "^[0-9]* CPUS 2$" "$dir/boot"
grep -qx "exit_status=0" "$dir/boot"
awk 'BEGIN { n = 0 } $2 == "CLOCK" { host[n] = $1 / 1000; guest[n] = $3; n++ }
     END {
        rate = (guest[1] - guest[0]) / (host[1] - host[0])
        printf "guest clock: %.3f s in %.3f s of the host (rate %.3f)\n", guest[1] - guest[0], host[1] - host[0], rate
        # Both readings are taken in the agent and read here one round trip later each: 10% covers that.
        exit !(rate > 0.9 && rate < 1.1)
     }' "$dir/boot"

# A reset is vmm-hv's exit status 3 (the caller decides whether the guest starts again).
boot "$dir/reset" 1 --send REBOOT --wait-exit
grep -qx "exit_status=3" "$dir/reset"
