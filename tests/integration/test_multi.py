#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Two phones at once; list, show and --json; a VMM killed under vmmd's feet."""

import os
import signal
import sys

from vmmdtest import check, check_eq, pid_alive, run


def test_two_vms_at_once(s):
    a = s.vmctl_json("create", "throwaway")["name"]
    s.vmctl_ok("create", "home", "myhome", "--memory", "384", "--vcpus", "1")

    vms = {v["name"]: v for v in s.vmctl_json("list")}
    check_eq(sorted(vms), sorted([a, "myhome"]), "names in vmctl list --json")
    check_eq(vms[a]["state"], "running", "throwaway state")
    check_eq(vms["myhome"]["state"], "running", "home state")
    check_eq(vms["myhome"]["persona"], "home", "persona")
    check_eq(vms["myhome"]["memory_mib"], 384, "memory override")
    check_eq(vms["myhome"]["vcpus"], 1, "vcpus override")

    show_a, show_h = s.vmctl_json("show", a), s.vmctl_json("show", "myhome")
    check(show_a["Leader"] != show_h["Leader"], "each VM has its own VMM")
    check(pid_alive(show_a["Leader"]) and pid_alive(show_h["Leader"]), "both VMMs run")

    # The table for people has a header, both rows and a legend.
    table = s.vmctl_ok("list").stdout
    lines = table.splitlines()
    check(lines[0].split()[:3] == ["NAME", "PERSONA", "STATE"], f"table header: {lines[0]!r}")
    check(any(l.split()[0] == a for l in lines[1:]), "throwaway row")
    check(any(l.split()[0] == "myhome" for l in lines[1:]), "home row")
    check("2 VMs listed." in table, f"legend: {table!r}")

    # SwitchTo moves the foreground; the Manager and both VMs agree.
    s.vmctl_ok("switch", "myhome")
    check_eq(s.get_property("/org/vmmd1", "org.vmmd1.Manager", "Foreground"), "myhome", "Manager.Foreground")
    check_eq(s.vmctl_json("show", "myhome")["Foreground"], True, "VM.Foreground")
    s.vmctl_ok("destroy", "myhome")
    check_eq(s.get_property("/org/vmmd1", "org.vmmd1.Manager", "Foreground"), "",
             "destroying the foreground VM clears Foreground")

    s.vmctl_ok("destroy", a)
    check_eq(s.vm_names(), [], "VMs after destroying both")


def test_killed_vmm_turns_failed(s):
    s.vmctl_ok("create", "manual", "w")
    leader = s.vmctl_json("show", "w")["Leader"]
    os.kill(leader, signal.SIGKILL)
    # vmctl wait follows PropertiesChanged: no polling, no sleeps.
    s.vmctl_ok("wait", "--timeout=60", "w", "failed")
    state = s.vm_state("w")
    check_eq(state, "failed", "State after SIGKILL of QEMU")
    reason = s.vmctl_json("show", "w")["FailureReason"]
    check("signal 9" in reason, f"FailureReason names the signal: {reason!r}")
    check_eq(s.vmctl_json("show", "w")["Leader"], 0, "no Leader after the VMM died")

    # A failed VM can start again, and a throwaway that fails stays until destroyed.
    s.vmctl_ok("start", "w")
    check_eq(s.vm_state("w"), "running", "restart after failure")
    t = s.vmctl_json("create", "throwaway")["name"]
    os.kill(s.vmctl_json("show", t)["Leader"], signal.SIGKILL)
    s.vmctl_ok("wait", "--timeout=60", t, "failed")
    check_eq(s.vm_state(t), "failed", "a failed throwaway stays, so its user sees why")
    s.vmctl_ok("destroy", t)
    s.vmctl_ok("destroy", "w")
    check_eq(s.files(), [], "nothing left after destroying")


def test_vmmd_crash_leaves_consistent_state(s):
    s.vmctl_ok("create", "manual", "w")
    t = s.vmctl_json("create", "throwaway")["name"]
    leaders = [s.vmctl_json("show", n)["Leader"] for n in ("w", t)]

    # SIGKILL: no chance to clean up. The QEMUs outlive it.
    s.kill_vmmd()
    check(all(pid_alive(p) for p in leaders), "VMMs survive vmmd's death")

    s.start_vmmd()
    # The new vmmd ends the VMMs it cannot control, removes the throwaway, keeps the persistent record.
    check(not any(pid_alive(p) for p in leaders), "stale VMMs are ended at startup")
    check_eq(s.vm_names(), ["w"], "VMs after the restart")
    show = s.vmctl_json("show", "w")
    check_eq(show["State"], "failed", "a VM that ran when vmmd died")
    check("vmmd stopped" in show["FailureReason"], f"FailureReason: {show['FailureReason']!r}")
    check(not any(t in f for f in s.files()), f"nothing of the throwaway is left: {s.files()}")
    s.vmctl_ok("start", "w")
    check_eq(s.vm_state("w"), "running", "the persistent VM starts again, its disk intact")

    # An autostart persona's VM comes back by itself after a crash.
    s.vmctl_ok("create", "work", "auto")
    s.kill_vmmd()
    s.start_vmmd()
    s.vmctl_ok("wait", "--timeout=120", "auto", "running")
    check_eq(s.vm_state("w"), "failed", "the VM without autostart waits for its user")
    s.vmctl_ok("destroy", "w", "auto")


if __name__ == "__main__":
    sys.exit(run([test_two_vms_at_once, test_killed_vmm_turns_failed, test_vmmd_crash_leaves_consistent_state]))
