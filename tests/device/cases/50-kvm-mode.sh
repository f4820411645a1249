#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: KVM initialised at EL2, in VHE or nVHE mode, according to the kernel log.
set -u
log="$(dmesg)"
grep -E '^\[[ 0-9.]+\] kvm \[[0-9]+\]: ' <<< "$log"
mode="$(grep -o -E '(Protected nVHE|nVHE|VHE|Hyp) mode initialized successfully' <<< "$log" | head -n 1)"
if [ -z "$mode" ]; then
        echo "no 'VHE mode initialized successfully' (nor nVHE) in the kernel log"
        exit 1
fi
echo "mode: $mode"
