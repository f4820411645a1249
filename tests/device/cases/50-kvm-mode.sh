#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: KVM initialised at EL2, in VHE or nVHE mode, according to the kernel log.
set -u
dmesg | grep -E '^\[[ 0-9.]+\] kvm \[[0-9]+\]: ' || true
if dmesg | grep -q 'VHE mode initialized successfully'; then
        echo "mode: $(dmesg | grep -o -E '(Protected nVHE|nVHE|VHE) mode initialized successfully' | head -n 1)"
        exit 0
fi
if dmesg | grep -q 'Hyp mode initialized successfully'; then
        echo "mode: nVHE (Hyp mode initialized successfully)"
        exit 0
fi
echo "no 'VHE mode initialized successfully' (nor nVHE) in the kernel log"
exit 1
