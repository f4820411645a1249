#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A throwaway phone from create to gone; pause and resume; a persistent phone across stops."""

import os
import sys

from vmmdtest import check, check_eq, pid_alive, run, vm_bus_path


def test_throwaway_runs_and_vanishes(s):
    before = s.files()
    created = s.vmctl_json("create", "throwaway")
    name = created["name"]
    check(name.startswith("throwaway-"), f"generated name {name!r} starts with the persona")
    check_eq(created["state"], "running", "state after vmctl create")

    show = s.vmctl_json("show", name)
    check_eq(show["State"], "running", "State")
    check_eq(show["Ephemeral"], True, "Ephemeral")
    check_eq(show["Accel"], "tcg", "Accel on an x86-64 build machine")
    check(show["AgentVersion"] != "", "the guest agent reported its version")
    check(pid_alive(show["Leader"]), "the VMM process runs")
    check(show["GuestMemoryTotalKiB"] > 100 * 1024, "the agent reported the guest's memory")

    # Pause and resume go through QMP.
    s.vmctl_ok("pause", name)
    check_eq(s.vm_state(name), "paused", "State after pause")
    p = s.vmctl("pause", name)
    check_eq(p.returncode, 4, "exit status of pausing a paused VM (InvalidState)")
    check("paused" in p.stderr, f"the error names the state: {p.stderr!r}")
    s.vmctl_ok("resume", name)
    check_eq(s.vm_state(name), "running", "State after resume")

    # Stop: the guest agent powers the guest off; a throwaway then leaves nothing behind.
    leader = show["Leader"]
    s.vmctl_ok("stop", name)
    check(name not in s.vm_names(), "a stopped throwaway is removed")
    check(not pid_alive(leader), "QEMU exited")
    check_eq(s.files(), before, "files left behind by the throwaway")
    ok, err = s.call(vm_bus_path(name), "org.vmmd1.VM", "Start")
    check(not ok and "Unknown object" in err, f"a removed VM's object is gone: {err}")


def test_persistent_vm_survives_stop_and_restart(s):
    s.vmctl_ok("create", "manual", "mywork")
    show = s.vmctl_json("show", "mywork")
    check_eq(show["State"], "running", "State")
    check_eq(show["Ephemeral"], False, "Ephemeral")
    disk = os.path.join(s.state_dir, "vms", "mywork", "disk", "disk.qcow2")
    check(os.path.exists(disk), "the persistent disk overlay exists")

    s.vmctl_ok("stop", "mywork")
    check_eq(s.vm_state("mywork"), "stopped", "State after stop")
    check(os.path.exists(disk), "the persistent disk survives a stop")

    # A new vmmd finds the VM in its database.
    s.stop_vmmd()
    s.start_vmmd()
    check_eq(s.vm_names(), ["mywork"], "VMs after a vmmd restart")
    check_eq(s.vm_state("mywork"), "stopped", "State after a vmmd restart")
    s.vmctl_ok("start", "mywork")
    check_eq(s.vm_state("mywork"), "running", "State after start")

    s.vmctl_ok("destroy", "mywork")
    check_eq(s.vm_names(), [], "VMs after destroy")
    check(not os.path.exists(os.path.dirname(disk)), "destroy removes the VM's disk")


def test_autostart_persona_starts_with_vmmd(s):
    # work has autostart: true; it is stopped when vmmd goes, and comes back with the next vmmd.
    s.vmctl_ok("create", "work", "w")
    s.vmctl_ok("create", "--no-start", "manual", "m")
    s.stop_vmmd()
    s.start_vmmd()
    s.vmctl_ok("wait", "--timeout=120", "w", "running")
    check_eq(s.vm_state("m"), "created", "a persona without autostart stays as it was")
    s.vmctl_ok("destroy", "w", "m")


def test_create_without_start(s):
    s.vmctl_ok("create", "--no-start", "home", "h1")
    check_eq(s.vm_state("h1"), "created", "State with start=false")
    check_eq(s.vmctl("stop", "h1").returncode, 4, "stopping a created VM is InvalidState")
    s.vmctl_ok("destroy", "h1")
    check_eq(s.files(), [], "files left after destroying a never-started VM")

    # Stopped while it boots: QEMU quits, the VM is stopped, not failed.
    s.vmctl_ok("create", "--no-wait", "manual", "early")
    # (On a very fast host the guest may already run; the stop must work either way.)
    check(s.vm_state("early") in ("starting", "running"), "State right after create --no-wait")
    s.vmctl_ok("stop", "early")
    check_eq(s.vm_state("early"), "stopped", "State after a stop during boot")
    s.vmctl_ok("destroy", "early")


def test_reboot(s):
    s.vmctl_ok("create", "work", "w")
    before = s.vmctl_json("show", "w")
    disk = os.path.join(s.state_dir, "vms", "w", "disk", "disk.qcow2")
    # The agent reboots the guest; QEMU (-no-reboot) exits; vmmd boots a fresh one.
    s.vmctl_ok("reboot", "w")
    after = s.vmctl_json("show", "w")
    check_eq(after["State"], "running", "State after reboot")
    check(after["Leader"] != before["Leader"] and pid_alive(after["Leader"]), "a new VMM runs the guest")
    check(not pid_alive(before["Leader"]), "the old VMM is gone")
    check(os.path.exists(disk), "the disk survives a reboot")
    # A throwaway that reboots is the same throwaway.
    t = s.vmctl_json("create", "throwaway")["name"]
    s.vmctl_ok("reboot", t)
    check_eq(s.vm_state(t), "running", "a rebooted throwaway runs")
    p = s.vmctl("reboot", "--no-wait", t)
    check_eq(p.returncode, 0, "reboot --no-wait")
    p = s.vmctl("reboot", t)
    check_eq(p.returncode, 4, f"rebooting a VM that is starting is InvalidState: {p.stderr!r}")
    s.vmctl_ok("wait", t, "running")
    s.vmctl_ok("destroy", t, "w")


def test_start_create_from(s):
    # What vmm-persona@work.service runs at boot: the first time it creates the VM.
    s.vmctl_ok("start", "--create-from=work", "work")
    show = s.vmctl_json("show", "work")
    check_eq((show["State"], show["Persona"]), ("running", "work"), "created and started")
    # Again, while it runs: a success that changes nothing (like systemctl start).
    s.vmctl_ok("start", "--create-from=work", "work")
    check_eq(s.vmctl_json("show", "work")["Leader"], show["Leader"], "the same VMM still runs")
    p = s.vmctl("start", "--create-from=nope", "other")
    check_eq(p.returncode, 3, f"an unknown persona is not found: {p.stderr!r}")
    s.vmctl_ok("destroy", "work")


if __name__ == "__main__":
    sys.exit(run([test_throwaway_runs_and_vanishes, test_persistent_vm_survives_stop_and_restart,
                  test_autostart_persona_starts_with_vmmd, test_create_without_start, test_start_create_from,
                  test_reboot]))
