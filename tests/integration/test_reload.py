#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reloading the personas (vmctl reload, Manager.Reload(), SIGHUP): the new set replaces the old one,
PersonasChanged tells clients, a broken file takes only its own persona away, VMs stay as they are."""

import os
import select
import signal
import subprocess
import sys
import time

from vmmdtest import SignalWatch, check, check_eq, run

EXTRA = """description: "Added while vmmd runs"
memory_mib: 256
vcpus: 1
image: reference
disk: persistent
autostart: false
"""


def persona_names(s):
    return sorted(p["name"] for p in s.vmctl_json("personas"))


def test_reload(s):
    personas_dir = os.path.join(s.policy_dir, "personas")
    before = persona_names(s)
    check("manual" in before and "extra" not in before, f"personas at start: {before}")

    # A new file counts only after a reload; the reload is announced.
    with open(os.path.join(personas_dir, "extra.yaml"), "w") as f:
        f.write(EXTRA)
    check_eq(persona_names(s), before, "personas before the reload")
    watch = SignalWatch(s)
    try:
        s.vmctl_ok("reload")
        watch.wait_for("interface=org.vmmd1.Manager; member=PersonasChanged")
        check_eq(persona_names(s), sorted(before + ["extra"]), "personas after the reload")
        s.vmctl_ok("create", "--no-start", "extra", "x")

        # A persona removed and one broken: the rest stays; the VM of the removed one stays.
        os.unlink(os.path.join(personas_dir, "extra.yaml"))
        with open(os.path.join(personas_dir, "manual.yaml"), "a") as f:
            f.write("colour: blue\n")
        os.kill(s.vmmd.pid, signal.SIGHUP)
        watch.wait_for("interface=org.vmmd1.Manager; member=PersonasChanged")
    finally:
        watch.close()
    check_eq(persona_names(s), sorted(set(before) - {"manual"}), "personas after the second reload")
    p = s.vmctl("create", "manual", "m")
    check_eq(p.returncode, 3, f"a broken persona is not found: {p.stderr!r}")
    check("manual.yaml" in p.stderr and "colour" in p.stderr, f"the error names file and key: {p.stderr!r}")
    check_eq(s.vmctl_json("show", "x")["Persona"], "extra", "the VM of a removed persona stays")
    check(s.vmmd_alive(), "vmmd survives")
    s.vmctl_ok("destroy", "x")


if __name__ == "__main__":
    sys.exit(run([test_reload]))
