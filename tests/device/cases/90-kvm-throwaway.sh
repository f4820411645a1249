#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Device case: vmctl create throwaway runs a persona under KVM to agent-ready, in vmm-hv (a throwaway's
# VMM where KVM works); vmmd's journal entries carry the VM's name as a field; its VMM runs sandboxed in a
# scope of its own whose CPU weight grows when it is switched to the front and that has the VM's limits; the
# throwaway leaves nothing behind. (98-kvm-crash.sh runs throwaways in QEMU, with -accel kvm.)
set -eu
start=$(date +%s%N)
name="$(vmctl --json create throwaway | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')"
echo "created $name (agent ready) in $((($(date +%s%N) - start) / 1000000)) ms"
[ -n "$name" ]
vmctl show "$name"
[ "$(vmctl show "$name" | sed -n 's/^State=//p')" = running ]
[ "$(vmctl show "$name" | sed -n 's/^Accel=//p')" = kvm ]
[ "$(vmctl show "$name" | sed -n 's/^VMM=//p')" = hv ]
leader="$(vmctl show "$name" | sed -n 's/^Leader=//p')"
tr '\0' ' ' <"/proc/$leader/cmdline" | grep -q -- '^/usr/libexec/vmm-hv --name='
# The VMM is unprivileged: the VM's own uid (from vmmd's range), no capabilities, no_new_privs, vmmd's
# system call filter (vmmd.service's, inherited), namespaces of its own (user, mount, network).
uid="$(vmctl show "$name" | sed -n 's/^UID=//p')"
echo "UID=$uid"
[ "$uid" -ge 2053963776 ] && [ "$(stat -c %u "/proc/$leader")" = "$uid" ]
for ns in user mnt net; do [ "$(readlink "/proc/$leader/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ]; done
grep -E '^(Uid|Gid|Groups|CapEff|NoNewPrivs|Seccomp):' "/proc/$leader/status"
grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$leader/status"
grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$leader/status"
grep -q '^Seccomp:[[:space:]]*2$' "/proc/$leader/status"

# Its own scope below machine.slice, with the background CPU weight until it is switched to the front.
unit="vmm-$(systemd-escape "$name").scope"
cat "/proc/$leader/cgroup"
grep -q "^0::/machine.slice/$(printf '%s' "$unit" | sed 's/\\/\\\\/g')\$" "/proc/$leader/cgroup"
[ "$(systemctl show -P CPUWeight "$unit")" = 100 ]
# Its limits: the guest's memory and the VMM's own, tasks, and no device but the usual ones and /dev/kvm.
mib="$(vmctl show "$name" | sed -n 's/^MemoryMiB=//p')"
systemctl show -p MemoryMax -p MemoryHigh -p TasksMax -p DevicePolicy -p DeviceAllow "$unit"
[ "$(systemctl show -P MemoryMax "$unit")" = $(((mib + 256) * 1048576)) ]
[ "$(systemctl show -P MemoryHigh "$unit")" = $(((mib + 128) * 1048576)) ]
[ "$(systemctl show -P TasksMax "$unit")" = 256 ]
[ "$(systemctl show -P DevicePolicy "$unit")" = closed ]
systemctl show -P DeviceAllow "$unit" | grep -q '^/dev/kvm rw$'
vmctl switch "$name"
[ "$(systemctl show -P CPUWeight "$unit")" = 400 ]

# Structured logging: vmmd's lines about this VM have VM_NAME=.
journalctl --no-pager -u vmmd.service "VM_NAME=$name" -o cat | tee /dev/stderr | grep -q "is running"

vmctl stop "$name"
! vmctl show "$name" >/dev/null 2>&1
[ -z "$(ls -A /run/vmmd/vms 2>/dev/null)" ]
