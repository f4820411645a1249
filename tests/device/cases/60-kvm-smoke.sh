#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: a KVM guest runs: kvm-smoke sees its MMIO write and its PSCI SYSTEM_OFF.
set -eu
smoke="$VMMD_DEVICE_BUILD/tests/device/kvm-smoke"
[ -x "$smoke" ] || { echo "$smoke not built"; exit 1; }
"$smoke"
