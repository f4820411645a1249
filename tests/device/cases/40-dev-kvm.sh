#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: /dev/kvm exists as the KVM character device (10:232).
set -eu
ls -l /dev/kvm
[ -c /dev/kvm ]
[ "$(stat -c '%t:%T' /dev/kvm)" = "a:e8" ]
