#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: the balloon under real KVM (a home phone of 256 MiB). vmctl set-memory inflates the guest's
# virtio-balloon until QEMU reports the target, and deflating gives the memory back; the guest runs on. The
# VMM's resident memory is printed, not judged: the guest zeroes what it hands to the balloon (init_on_alloc)
# before QEMU drops it, so it moves either way by a few MiB (tests/bench/device-memory measures it).
set -eu
prop() { vmctl show "$1" | sed -n "s/^$2=//p"; }

vmctl create --memory 256 home bal # the balloon moves slowly under emulation: 160 MiB, not 416
full="$(prop bal MemoryMiB)"
[ "$(prop bal MemoryActualMiB)" = "$full" ]
before="$(prop bal HostResidentKiB)"
vmctl set-memory bal 96
[ "$(prop bal MemoryActualMiB)" = 96 ]
after="$(prop bal HostResidentKiB)"
echo "VMM resident memory: ${before} KiB with ${full} MiB, ${after} KiB with 96 MiB"
vmctl set-memory bal "$full"
[ "$(prop bal MemoryActualMiB)" = "$full" ]
[ "$(prop bal State)" = running ]
vmctl destroy bal
