#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Snapshots: of a running phone (RAM and devices) and of a stopped one (disk only); restore brings the
guest back to the boot the snapshot was taken in (the agent's boot ID tells); bad calls change nothing."""

import os
import re
import subprocess
import sys
import time

from vmmdtest import check, check_eq, pid_alive, run, vm_bus_path

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
E = "org.vmmd1.Error."


def snapshots(s, vm):
    return {x["name"]: x for x in s.vmctl_json("snapshots", vm)}


def boot_id(s, vm):
    return s.vmctl_json("show", vm)["GuestBootID"]


def qemu_img_snapshots(disk):
    """The snapshot table as qemu-img sees it (-U: QEMU may have the disk open)."""
    p = subprocess.run(["qemu-img", "snapshot", "-U", "-l", disk], capture_output=True, text=True, check=True)
    return sorted(line.split()[1] for line in p.stdout.splitlines()[2:] if line.strip())


def vm_call_error(s, vm, method, *args):
    ok, out = s.gdbus(vm_bus_path(vm), "org.vmmd1.VM", method, *args)
    check(not ok, f"{method}{args} must fail")
    return out


def test_snapshot_restore(s):
    disk = os.path.join(s.state_dir, "vms", "w", "disk", "disk.qcow2")
    t0 = time.time()
    s.vmctl_ok("create", "manual", "w")  # persistent, and not started again by vmmd's restart
    first_boot = boot_id(s, "w")
    check(UUID.match(first_boot), f"GuestBootID {first_boot!r} is the guest kernel's boot ID")

    # A running VM: its RAM and devices go into the disk with it; the VM keeps running.
    leader = s.vmctl_json("show", "w")["Leader"]
    name = s.vmctl_ok("snapshot", "w").stdout.strip()
    check_eq(name, "snap-1", "a generated snapshot name")
    show = s.vmctl_json("show", "w")
    check_eq((show["State"], show["Leader"]), ("running", leader), "the VM runs on in the same VMM")
    snap = snapshots(s, "w")["snap-1"]
    check(t0 - 1 <= snap["created_usec"] / 1e6 <= time.time() + 1, f"creation time {snap['created_usec']}")
    check(snap["state_bytes"] > 1024 * 1024, f"the RAM state was saved ({snap['state_bytes']} bytes)")
    check_eq(qemu_img_snapshots(disk), ["snap-1"], "the snapshot is in the disk file")
    p = s.vmctl("snapshot", "w", "snap-1")
    check_eq(p.returncode, 4, f"a second snapshot of the same name: Exists (a conflict): {p.stderr!r}")
    check("already has a snapshot" in p.stderr, p.stderr)

    # Another boot, then back to the first one in the same VMM.
    s.vmctl_ok("reboot", "w")
    second_boot = boot_id(s, "w")
    check(second_boot != first_boot, "a reboot gives a new boot ID")
    leader = s.vmctl_json("show", "w")["Leader"]
    s.vmctl_ok("restore", "w", "snap-1")
    show = s.vmctl_json("show", "w")
    check_eq(show["State"], "running", "State after restoring a running VM")
    check_eq(show["GuestBootID"], first_boot, "the guest is back in the boot of the snapshot")
    check_eq(show["Leader"], leader, "restored in the running VMM")

    # A stopped VM: a disk-only snapshot; the full one starts the VM where it was.
    s.vmctl_ok("stop", "w")
    s.vmctl_ok("snapshot", "w", "cold")
    check_eq(snapshots(s, "w")["cold"]["state_bytes"], 0, "a stopped VM's snapshot is disk-only")
    check_eq(s.vm_state("w"), "stopped", "a snapshot leaves a stopped VM stopped")
    s.vmctl_ok("restore", "w", "snap-1")
    show = s.vmctl_json("show", "w")
    check_eq(show["State"], "running", "restoring a full snapshot starts a stopped VM")
    check_eq(show["GuestBootID"], first_boot, "it runs on in the boot of the snapshot, not a new boot")
    err = vm_call_error(s, "w", "Restore", "'cold'")
    check(f"{E}InvalidState:" in err and "holds no memory state" in err, err)

    # Snapshots live in the disk: a restart of vmmd keeps them, a restore of the disk-only one keeps
    # the VM stopped.
    s.vmctl_ok("stop", "w")
    s.stop_vmmd()
    s.start_vmmd()
    check_eq(sorted(snapshots(s, "w")), ["cold", "snap-1"], "snapshots after a restart of vmmd")
    s.vmctl_ok("restore", "w", "cold")
    check_eq(s.vm_state("w"), "stopped", "a disk-only restore leaves the VM stopped")

    s.vmctl_ok("delete-snapshot", "w", "cold")
    s.vmctl_ok("start", "w")
    s.vmctl_ok("delete-snapshot", "w", "snap-1")  # through QEMU, while it runs
    check_eq(snapshots(s, "w"), {}, "every snapshot deleted")
    check_eq(qemu_img_snapshots(disk), [], "and gone from the disk file")
    s.vmctl_ok("destroy", "w")


def test_snapshot_paused_and_throwaway(s):
    before = s.files()
    t = s.vmctl_json("create", "throwaway")["name"]
    first_boot = boot_id(s, t)
    s.vmctl_ok("pause", t)
    s.vmctl_ok("snapshot", t, "p")
    check_eq(s.vm_state(t), "paused", "a snapshot leaves a paused VM paused")
    s.vmctl_ok("resume", t)
    s.vmctl_ok("reboot", t)
    check(boot_id(s, t) != first_boot, "rebooted")
    s.vmctl_ok("pause", t)
    s.vmctl_ok("restore", t, "p")
    check_eq(s.vm_state(t), "paused", "a restore leaves a paused VM paused")
    s.vmctl_ok("resume", t)  # waits until the restored guest's agent answered
    check_eq(boot_id(s, t), first_boot, "after resume the guest is the one of the snapshot")
    # A throwaway's snapshots live in its disk in the runtime directory and vanish with it.
    s.vmctl_ok("destroy", t)
    check_eq(s.files(), before, "files left behind by a throwaway with a snapshot")


def test_snapshot_bad_calls(s):
    s.vmctl_ok("create", "--no-start", "work", "fresh")
    err = vm_call_error(s, "fresh", "Snapshot", "''")
    check(f"{E}InvalidState:" in err and "has no disk yet" in err, err)

    s.vmctl_ok("create", "work", "w")
    s.vmctl_ok("snapshot", "w", "keep")
    disk = os.path.join(s.state_dir, "vms", "w", "disk", "disk.qcow2")
    before = (qemu_img_snapshots(disk), s.files(), s.vm_state("w"))
    cases = [
        ("Snapshot", "'a/b'", "InvalidArgument", "contains '/'"),
        ("Snapshot", "'12'", "InvalidArgument", "is all digits"),
        ("Snapshot", "'-d'", "InvalidArgument", "starts with '-'"),
        ("Snapshot", "'x\\ty'", "InvalidArgument", "control character"),
        ("Snapshot", "'" + "x" * 65 + "'", "InvalidArgument", "longer than 64 bytes"),
        ("Snapshot", "'keep'", "Exists", "already has a snapshot \"keep\""),
        ("Restore", "''", "InvalidArgument", "is empty"),
        ("Restore", "'nope'", "NoSuchSnapshot", "no snapshot \"nope\""),
        ("DeleteSnapshot", "'nope'", "NoSuchSnapshot", "no snapshot \"nope\""),
        ("DeleteSnapshot", "'../keep'", "InvalidArgument", "starts with '.'"),
    ]
    for method, arg, error, fragment in cases:
        err = vm_call_error(s, "w", method, arg)
        check(f"Error.{error}:" in err and fragment in err, f"{method}({arg}): want {error} {fragment!r}: {err}")
        check_eq((qemu_img_snapshots(disk), s.files(), s.vm_state("w")), before, f"after {method}({arg})")
    check(s.vmmd_alive(), "vmmd survives")

    # vmctl: the same errors, with exit codes that mean something.
    p = s.vmctl("restore", "w", "nope")
    check_eq(p.returncode, 3, f"restore of an unknown snapshot: not found: {p.stderr!r}")
    p = s.vmctl("snapshots", "nope")
    check_eq(p.returncode, 3, f"snapshots of an unknown VM: not found: {p.stderr!r}")
    s.vmctl_ok("destroy", "fresh", "w")


if __name__ == "__main__":
    sys.exit(run([test_snapshot_restore, test_snapshot_paused_and_throwaway, test_snapshot_bad_calls]))
