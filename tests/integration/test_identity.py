#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every VM gets its identity from vmmd through its agent before it counts as running: fresh host entropy,
the host's clock, a host name from its name, its own machine ID (images/agent/PROTOCOL.md, agent 0.3); then
its screen's colour band and names (agent 0.8). The
agent is hostile-vmm's recording stand-in; what the real agent does with the lines, images/boot-check
checks in a real guest."""

import os
import re
import time

from test_hostile import HOSTILE
from vmmdtest import check, check_eq, run


def setup(s):
    s.extra_env.update({"VMMD_QEMU": HOSTILE, "VMMD_STOP_TIMEOUT_SEC": "2",
                        "HOSTILE_MODE_one": "agent-record", "HOSTILE_MODE_two.x_y": "agent-record"})


def lines_of(s, name):
    with open(os.path.join(s.runtime_dir, "vms", name, "qemu.log")) as f:
        return [l[4:].rstrip("\n") for l in f if l.startswith("GOT ")]


def test_identity_before_running(s):
    t0 = time.time()
    got = {}
    for name in ("one", "two.x_y"):
        s.vmctl_ok("create", "manual", name)  # returns once running
        got[name] = lines_of(s, name)
    t1 = time.time()
    for name, lines in got.items():
        words = [l.split(" ")[0] for l in lines]
        # The identity first, all of it before the answers that make the VM running.
        check_eq(words[:7], ["ENTROPY", "CLOCK", "HOSTNAME", "MACHINEID", "SCREEN", "BOOTID", "MEMINFO"],
                 f"{name}: lines")
        check(re.fullmatch(r"ENTROPY [0-9a-f]{128}", lines[0]), f"{name}: 64 bytes of entropy: {lines[0]}")
        m = re.fullmatch(r"CLOCK (\d+)\.(\d{9})", lines[1])
        check(m and t0 - 1 <= int(m.group(1)) + int(m.group(2)) / 1e9 <= t1 + 1, f"{name}: the host's clock: {lines[1]}")
        check_eq(lines[2], f"HOSTNAME {name}", f"{name}: host name")
        machine_id = s.get_property(s.vm_path(name), "org.vmmd1.VM", "MachineID")
        check(re.fullmatch(r"[0-9a-f]{32}", machine_id), f"{name}: MachineID {machine_id!r}")
        check_eq(lines[3], f"MACHINEID {machine_id}", f"{name}: machine ID")
        # Then the screen says which phone this is: the persona's colour, its name and the VM's.
        color = s.get_property(s.vm_path(name), "org.vmmd1.VM", "Color")
        check(re.fullmatch(r"#[0-9a-f]{6}", color), f"{name}: Color {color!r}")
        check_eq(lines[4], f"SCREEN {color[1:]} manual {name}", f"{name}: screen")
        check_eq(s.vm_state(name), "running", f"{name}: state")
    check(got["one"][0] != got["two.x_y"][0], "two VMs get different entropy")
    check(got["one"][3] != got["two.x_y"][3], "two VMs get different machine IDs")

    # The machine ID is the VM's for good: the same after vmmd restarts, and given again at the next boot.
    before = s.get_property(s.vm_path("one"), "org.vmmd1.VM", "MachineID")
    s.stop_vmmd()
    s.start_vmmd()
    check_eq(s.get_property(s.vm_path("one"), "org.vmmd1.VM", "MachineID"), before, "MachineID after a restart")


if __name__ == "__main__":
    import sys
    sys.exit(run([test_identity_before_running], setup=setup))
