#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Two phones at once; list, show and --json; a VMM killed under vmmd's feet."""

import os
import signal
import sys

from vmmdtest import check, check_eq, kill_and_wait, pid_alive, run


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


def test_vmmd_crash_adopts_running_vms(s):
    s.vmctl_ok("create", "manual", "w")
    t = s.vmctl_json("create", "throwaway")["name"]
    leaders = {n: s.vmctl_json("show", n)["Leader"] for n in ("w", t)}

    # SIGKILL: no chance to clean up. The VMMs run on; the next vmmd takes them over.
    s.kill_vmmd()
    check(all(pid_alive(p) for p in leaders.values()), "VMMs survive vmmd's death")
    s.start_vmmd()
    check_eq(s.vm_names(), sorted(["w", t]), "VMs after the restart")
    for n, pid in leaders.items():
        show = s.vmctl_json("show", n)
        check_eq((show["State"], show["Leader"]), ("running", pid), f"{n} is adopted, not restarted")

    # Control works over the new connections: QMP pauses, the agent powers the throwaway off.
    s.vmctl_ok("pause", "w")
    s.vmctl_ok("resume", "w")
    s.vmctl_ok("stop", t)
    check(t not in s.vm_names() and not pid_alive(leaders[t]), "the adopted throwaway stopped and is gone")

    # An adopted VMM that dies is noticed through its pidfd.
    os.kill(leaders["w"], signal.SIGKILL)
    s.vmctl_ok("wait", "--timeout=60", "w", "failed")
    reason = s.vmctl_json("show", "w")["FailureReason"]
    check("without a shutdown" in reason, f"FailureReason: {reason!r}")

    # A VMM that dies while no vmmd runs: its VM is failed, a throwaway's files are gone, and an autostart
    # persona's VM comes back by itself.
    s.vmctl_ok("start", "w")
    s.vmctl_ok("create", "work", "auto")
    t = s.vmctl_json("create", "throwaway")["name"]
    pids = [s.vmctl_json("show", n)["Leader"] for n in ("w", "auto", t)]
    s.kill_vmmd()
    for p in pids:
        kill_and_wait(p)  # gone before the next vmmd looks, or it would adopt a dying VMM
    s.start_vmmd()
    show = s.vmctl_json("show", "w")
    check_eq(show["State"], "failed", "a VM whose VMM ended while vmmd was down")
    check("while vmmd was not running" in show["FailureReason"], f"FailureReason: {show['FailureReason']!r}")
    check(t not in s.vm_names() and not any(t in f for f in s.files()), "nothing of the throwaway is left")
    s.vmctl_ok("wait", "--timeout=120", "auto", "running")
    s.vmctl_ok("destroy", "w", "auto")
    check_eq(s.files(), [], "nothing left after destroying")


if __name__ == "__main__":
    sys.exit(run([test_two_vms_at_once, test_killed_vmm_turns_failed, test_vmmd_crash_adopts_running_vms]))
