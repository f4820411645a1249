#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Memory given back to the host: SetMemoryTarget inflates the guest's balloon (virtio-balloon), QEMU
reports what the guest keeps (MemoryActualMiB, with PropertiesChanged), deflating gives it back; bad
targets change nothing."""

import sys

from vmmdtest import check, check_eq, run


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
    # The guest is fine: its agent still answers across a reboot, and the balloon starts empty again.
    s.vmctl_ok("set-memory", "w", "128")
    s.vmctl_ok("reboot", "w")
    check_eq(memory(s, "w"), (256, 256), "a new VMM starts with an empty balloon")

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


if __name__ == "__main__":
    sys.exit(run([test_balloon]))
