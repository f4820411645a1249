#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: a guest kernel that panics under KVM gets its crash bundle too: the memory dump with the
# kernel's own symbols and a backtrace that names the crash; the throwaway is kept paused as it crashed,
# gdb reads the core; the bundle goes with its VM; a live guest can be debugged and runs on afterwards.
# Dumps and the debugger are QEMU's (--vmm qemu); a throwaway in vmm-hv gets a bundle of the panic as
# its console told it, and the debugger is refused by name.
set -eu
ms() { echo $(($(date +%s%N) / 1000000)); }

name="$(vmctl --json create --vmm qemu throwaway --cold | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')"
[ "$(vmctl show "$name" | sed -n 's/^Accel=//p')" = kvm ]
[ "$(vmctl show "$name" | sed -n 's/^VMM=//p')" = qemu ]
leader="$(vmctl show "$name" | sed -n 's/^Leader=//p')"
tr '\0' ' ' <"/proc/$leader/cmdline" | grep -q -- '-accel kvm -cpu host'
t0=$(ms)
bundle="$(vmctl crash-test "$name")"
echo "panic to bundle $bundle: $(($(ms) - t0)) ms"
[ -n "$bundle" ]
[ "$(vmctl show "$name" | sed -n 's/^State=//p')" = paused ]
[ "$(vmctl show "$name" | sed -n 's/^LastCrash=//p')" = "$bundle" ]
vmctl crash show "$bundle" | tee /tmp/crash-show.txt
grep -q 'Kernel panic - not syncing: sysrq triggered crash' /tmp/crash-show.txt
grep -q 'sysrq_handle_crash+0x' /tmp/crash-show.txt
dir="/var/lib/vmmd/crashes/$name/$bundle"
ls -ls "$dir"
[ "$(stat -c %a:%U "$dir")" = 700:root ]
du -h "$dir/vmcore"

vmctl crash gdb "$bundle" -- -batch -ex bt | tee /tmp/crash-gdb.txt
grep -q ' in sysrq_handle_crash (' /tmp/crash-gdb.txt

# Live: the debugger reads the guest's program counter; the guest runs on once it detached.
live="$(vmctl --json create --vmm qemu throwaway --cold | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')"
vmctl debug "$live" -- -batch -ex 'info registers pc' -ex 'bt 3' -ex detach | tee /tmp/debug.txt
grep -Eq '^pc +0xffff' /tmp/debug.txt
[ "$(vmctl guest "$live" hostname)" = "$live" ]

# vmm-hv: the panic, from the console, without a memory dump; no debugger.
hv="$(vmctl --json create throwaway | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')"
[ "$(vmctl show "$hv" | sed -n 's/^VMM=//p')" = hv ]
hv_bundle="$(vmctl crash-test "$hv")"
vmctl crash show "$hv_bundle" | tee /tmp/crash-show-hv.txt
grep -q 'Kernel panic - not syncing: sysrq triggered crash' /tmp/crash-show-hv.txt
grep -q 'vmm-hv makes no memory dumps' /tmp/crash-show-hv.txt
[ ! -e "/var/lib/vmmd/crashes/$hv/$hv_bundle/vmcore" ]
! vmctl debug "$hv" -- -batch 2>/tmp/debug-hv.txt
grep -q 'runs in vmm-hv' /tmp/debug-hv.txt

# A throwaway's bundle goes with it.
vmctl destroy "$name" "$live" "$hv"
[ ! -e "$dir" ] || { echo "left behind: $dir"; exit 1; }
[ -z "$(vmctl --no-legend crashes "$name")" ]
