#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Memory given back to the host: SetMemoryTarget inflates the guest's balloon (virtio-balloon), QEMU
reports what the guest keeps (MemoryActualMiB, with PropertiesChanged), deflating gives it back; bad
targets change nothing. Admission by the memory policy, strict and with the policy loop, which makes room
by tightening idle guests' balloons and gives a guest that fills its memory what its neighbours do not use."""

import os
import sys

from vmmdtest import SignalWatch, check, check_eq, run


def memory(s, vm):
    show = s.vmctl_json("show", vm)
    return show["MemoryTargetMiB"], show["MemoryActualMiB"]


def test_balloon(s):
    s.vmctl_ok("create", "manual", "w")  # 256 MiB
    show = s.vmctl_json("show", "w")
    check_eq(memory(s, "w"), (256, 256), "target and actual memory of a fresh VM")
    check(show["HostResidentKiB"] > 0, "the VMM's resident memory is known")

    # vmctl waits until the guest's balloon driver has given the memory back.
    s.vmctl_ok("set-memory", "w", "100")
    check_eq(memory(s, "w"), (100, 100), "after set-memory 100")
    s.vmctl_ok("set-memory", "w", "256")
    check_eq(memory(s, "w"), (256, 256), "after set-memory 256 (deflated)")
    # The guest is fine: its agent still answers across a reboot, and the balloon starts empty again. The
    # policy loop asks the agent for MEMINFO every 100 ms meanwhile: a guest told to reboot may answer one
    # before it goes, and that must not count as the new boot's answer (vmctl reboot then returned while
    # the old VMM still ran).
    write_policy(s, "interval_ms: 100\n")
    for i in range(3):
        leader = s.vmctl_json("show", "w")["Leader"]
        s.vmctl_ok("set-memory", "w", "128")
        s.vmctl_ok("reboot", "w")
        check(s.vmctl_json("show", "w")["Leader"] != leader, f"reboot {i}: a new VMM runs the guest")
        check_eq(memory(s, "w"), (256, 256), f"reboot {i}: a new VMM starts with an empty balloon")
    write_policy(s, "interval_ms: 0\n")

    for bad, fragment in (("9999", "out of range [64, 256]"), ("10", "out of range [64, 256]")):
        p = s.vmctl("set-memory", "w", bad)
        check_eq(p.returncode, 2, f"set-memory {bad}: InvalidArgument: {p.stderr!r}")
        check(fragment in p.stderr, f"the error names the range: {p.stderr!r}")
        check_eq(memory(s, "w"), (256, 256), f"after the refused set-memory {bad}")

    s.vmctl_ok("stop", "w")
    show = s.vmctl_json("show", "w")
    check_eq((show["MemoryTargetMiB"], show["MemoryActualMiB"], show["HostResidentKiB"]), (256, 0, 0),
             "a stopped VM has no balloon and no resident memory")
    p = s.vmctl("set-memory", "w", "100")
    check_eq(p.returncode, 4, f"set-memory on a stopped VM: InvalidState: {p.stderr!r}")
    s.vmctl_ok("destroy", "w")


def manager_memory(s):
    host = s.vmctl_json("host")
    return host["MemoryCommittedMiB"], host["MemoryLimitMiB"]


def write_policy(s, text):
    with open(os.path.join(s.policy_dir, "memory.yaml"), "w") as f:
        f.write(text)
    s.vmctl_ok("reload")


def test_admission(s):
    # Without the policy loop: two 256 MiB VMs fit under a 640 MiB limit, a third does not, until the
    # balloon of one shrinks (to 96 MiB: the guest's screen and its drivers take some 15 MiB of its own).
    with open(os.path.join(s.policy_dir, "memory.yaml"), "w") as f:
        f.write("limit_mib: 640\ninterval_ms: 0\n")
    s.vmctl_ok("reload")
    check_eq(manager_memory(s), (0, 640), "committed and limit with no VM running")
    s.vmctl_ok("create", "manual", "a")
    s.vmctl_ok("create", "manual", "b")
    check_eq(manager_memory(s), (512, 640), "two VMs running")

    p = s.vmctl("create", "manual", "c")
    check_eq(p.returncode, 9, f"a third VM: InsufficientMemory: {p.stderr!r}")
    check("would promise guests 768 MiB, more than the 640 MiB" in p.stderr, p.stderr)
    check("c" not in s.vm_names(), "a VM that may not start is not created either")
    s.vmctl_ok("create", "--no-start", "manual", "c")  # creating alone promises nothing
    p = s.vmctl("start", "c")
    check_eq(p.returncode, 9, f"starting it: InsufficientMemory: {p.stderr!r}")
    check_eq(s.vm_state("c"), "created", "the refused start changed nothing")

    s.vmctl_ok("set-memory", "a", "96")
    check_eq(manager_memory(s), (352, 640), "after a's balloon took 160 MiB")
    s.vmctl_ok("start", "c")
    p = s.vmctl("set-memory", "a", "256")
    check_eq(p.returncode, 9, f"growing a again would break the limit: {p.stderr!r}")
    check_eq(s.vmctl_json("show", "a")["MemoryTargetMiB"], 96, "the refused target changed nothing")
    s.vmctl_ok("set-memory", "a", "112")  # growing within the limit
    s.vmctl_ok("stop", "b")
    s.vmctl_ok("set-memory", "a", "256")
    check_eq(manager_memory(s), (512, 640), "b stopped, a whole again")

    # A broken memory.yaml is refused by name and the policy in force stays.
    with open(os.path.join(s.policy_dir, "memory.yaml"), "w") as f:
        f.write("limit: 100\n")
    p = s.vmctl("reload")
    check_eq(p.returncode, 2, f"reload with a broken memory.yaml: InvalidArgument: {p.stderr!r}")
    check("memory.yaml:1" in p.stderr and "limit" in p.stderr, f"names file, line and key: {p.stderr!r}")
    check_eq(manager_memory(s)[1], 640, "the limit in force stays")
    s.vmctl_ok("destroy", "a", "b", "c")


def target(s, vm):
    return s.vmctl_json("show", vm)["MemoryTargetMiB"]


def wait_for_target_above(s, watch, vm, mib):
    """Waits for PropertiesChanged of the VM's MemoryTargetMiB to a value above mib."""
    while True:
        watch.wait_for_property(s.vm_path(vm), "MemoryTargetMiB")
        if target(s, vm) > mib:
            return


def test_policy_loop(s):
    write_policy(s, "limit_mib: 600\ninterval_ms: 200\n")
    s.vmctl_ok("create", "manual", "a")
    s.vmctl_ok("create", "manual", "b")
    check_eq(manager_memory(s), (512, 600), "two VMs running, their balloons empty")

    # A third fits: the idle guests' balloons take back what they do not use.
    s.vmctl_ok("create", "manual", "c")
    committed, _ = manager_memory(s)
    check(committed <= 600, f"the limit holds: {committed} MiB promised")
    targets = {vm: target(s, vm) for vm in ("a", "b")}
    check(min(targets.values()) < 256, f"a balloon was tightened: {targets}")
    host = s.vmctl_json("host")
    check_eq(host["MemoryRunningMiB"], 768, "three guests of 256 MiB run")
    check(host["MemoryResidentMiB"] > 0 and host["MemoryUnderPressure"] is False, f"figures: {host}")

    # The tighter of the two fills its memory: the loop gives it back what its neighbours do not use.
    vm = min(targets, key=targets.get)
    watch = SignalWatch(s)
    avail = s.vmctl_json("show", vm)["GuestMemoryAvailableKiB"] // 1024
    check(avail > 40, f"{vm} has {avail} MiB available")
    s.vmctl_ok("memtest", vm, "fill", str(avail - 24), "99")
    wait_for_target_above(s, watch, vm, targets[vm])
    watch.close()
    committed, _ = manager_memory(s)
    check(committed <= 600, f"the limit holds: {committed} MiB promised")
    check_eq(s.vmctl("memtest", vm, "check").returncode, 0, "every byte of the fill where it was")

    # What the balloons cannot make room for is refused, naming what they could give.
    p = s.vmctl("create", "manual", "--memory", "512", "d")
    check_eq(p.returncode, 9, f"a fourth VM of 512 MiB: InsufficientMemory: {p.stderr!r}")
    check("balloons can take back only" in p.stderr, p.stderr)
    s.vmctl_ok("destroy", "a", "b", "c")


if __name__ == "__main__":
    sys.exit(run([test_balloon, test_admission, test_policy_loop]))
