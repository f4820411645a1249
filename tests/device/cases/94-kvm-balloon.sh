#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: the balloon under real KVM. vmctl set-memory inflates the guest's virtio-balloon until QEMU
# reports the target, the VMM's resident memory does not grow for it, and deflating gives the memory back.
set -eu
prop() { vmctl show "$1" | sed -n "s/^$2=//p"; }

vmctl create home bal
full="$(prop bal MemoryMiB)"
[ "$(prop bal MemoryActualMiB)" = "$full" ]
before="$(prop bal HostResidentKiB)"
vmctl set-memory bal 96
[ "$(prop bal MemoryActualMiB)" = 96 ]
after="$(prop bal HostResidentKiB)"
echo "VMM resident memory: ${before} KiB with ${full} MiB, ${after} KiB with 96 MiB"
[ "$after" -le "$((before + 4096))" ]
vmctl set-memory bal "$full"
[ "$(prop bal MemoryActualMiB)" = "$full" ]
[ "$(prop bal State)" = running ]
vmctl destroy bal
