#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: vmctl host reports KVM with its mode, IPA bits and GIC version, and that vmm-hv runs VMs.
set -eu
vmctl host
json="$(vmctl --json host)"
echo "$json"
get() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p" <<<"$json"; }
[ "$(get Accel)" = kvm ]
[ "$(get KVMMode)" = vhe ]
[ "$(get GICVersion)" = 3 ]
[ "$(get IPABits)" -ge 40 ]
[ "$(get Architecture)" = aarch64 ]
[ "$(get HvUsable)" = true ]
vmctl host | grep -q '^ *vmm-hv: usable$'
