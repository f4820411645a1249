#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Throwaways are clones of their persona's golden snapshot (vmmd/golden.h), each with an identity of its own:
two clones differ in their random state, machine ID, host name and InstanceID, and keep the host's clock; the
golden snapshot is never written; one that is corrupt or missing is rebuilt, never used; a changed image makes
a new one; a build that vmmd did not finish is never used. Real QEMU guests under TCG."""

import hashlib
import os
import re
import shutil
import select
import time

from vmmdtest import IMAGE_DIR, SignalWatch, TestFailure, check, check_eq, pid_alive, qemu_pids, run

MANAGER = ("/org/vmmd1", "org.vmmd1.Manager")


def golden(s):
    """The throwaway persona's entry of GoldenSnapshots: (persona, id, state, progress, message, image, created)."""
    for g in s.get_property(*MANAGER, "GoldenSnapshots"):
        if g[0] == "throwaway":
            return g
    raise TestFailure("GoldenSnapshots has no entry for throwaway")


def wait_golden(s, state="ready", other_than=None, timeout=120):
    """Waits (condition, with a deadline) until the golden snapshot is in state, and not the one given."""
    deadline = time.monotonic() + timeout
    while True:
        g = golden(s)
        if g[2] == state and g[1] != other_than:
            return g
        if g[2] == "failed" and state != "failed":
            raise TestFailure(f"golden build failed: {g[4]}")
        if time.monotonic() > deadline:
            raise TestFailure(f"golden snapshot not {state} within {timeout} s: {g}")
        time.sleep(0.1)


def golden_dir(s, gid):
    return os.path.join(s.tmp, "cache", "vmmd", "golden", "throwaway", gid)


def checksums(path):
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.relpath(os.path.join(root, f), path)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def session_qemus(s):
    out = []
    for p in qemu_pids():
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if s.tmp.encode() in f.read():
                    out.append(p)
        except OSError:
            pass
    return out


def prop(s, name, p):
    return s.get_property(s.vm_path(name), "org.vmmd1.VM", p)


def read_guest(s, name, item):
    ok, data = s.call(s.vm_path(name), "org.vmmd1.VM", "ReadGuest", "s", item)
    check(ok, f"ReadGuest({item}) of {name}: {data}")
    return data[0]


def test_two_clones_are_two_machines(s):
    g = wait_golden(s)
    check(re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]{8}", g[1]), f"golden id {g[1]!r}")
    check_eq(g[5], "reference", "golden image")
    before = checksums(golden_dir(s, g[1]))
    check(set(before) == {"state", "disk.qcow2", "overlay.qcow2", "golden.yaml"}, f"golden files {sorted(before)}")

    seen = {}
    watch = SignalWatch(s)
    for name in ("clone-a", "clone-b"):
        s.vmctl_ok("create", "throwaway", name)  # returns once running: the identity was taken
        t_host = time.time()
        check_eq(prop(s, name, "GoldenSnapshot"), g[1], f"{name}: GoldenSnapshot")
        clock = float(read_guest(s, name, "clock"))
        t_after = time.time()
        check(t_host - 1 <= clock <= t_after + 1, f"{name}: guest clock {clock} vs host {t_host}")
        check_eq(read_guest(s, name, "hostname"), name, f"{name}: host name")
        check_eq(read_guest(s, name, "machine-id"), prop(s, name, "MachineID"), f"{name}: machine ID")
        seen[name] = {item: read_guest(s, name, item) for item in ("random", "machine-id", "boot-id")}
        seen[name]["instance"] = prop(s, name, "InstanceID")
        check(re.fullmatch(r"[0-9a-f]{128}", seen[name]["random"]), f"{name}: 64 random bytes")
    a, b = seen["clone-a"], seen["clone-b"]
    check(a["random"] != b["random"], "the clones' first 64 bytes of /dev/urandom differ")
    check(a["machine-id"] != b["machine-id"], "the clones' machine IDs differ")
    check(a["instance"] != b["instance"], "the clones' InstanceIDs differ")
    # What they still share, as the README says: the kernel's boot ID, of the golden snapshot's boot.
    check_eq(a["boot-id"], b["boot-id"], "clones share the golden boot's boot ID")

    # vmmd's memory policy lets KSM merge the pages of the two clones of one golden snapshot with one owner
    # (QEMU starts every VM unmergeable).
    watch.wait_for_property([s.vm_path(name) for name in ("clone-a", "clone-b")], "MemoryMerging")
    for name in ("clone-a", "clone-b"):
        check_eq(prop(s, name, "MemoryMerging"), True, f"{name} may merge")
    watch.close()

    # --cold (CreateVM's option "cold") boots instead.
    s.vmctl_ok("create", "throwaway", "--cold", "cold")
    check_eq(prop(s, "cold", "GoldenSnapshot"), "", "a cold boot has no golden snapshot")
    check_eq(prop(s, "cold", "MemoryMerging"), False, "a cold boot merges with no clone")
    check(read_guest(s, "cold", "boot-id") != a["boot-id"], "a cold boot has a boot ID of its own")

    # Created now, started later: a clone all the same.
    s.vmctl_ok("create", "throwaway", "--no-start", "later")
    check_eq(prop(s, "later", "GoldenSnapshot"), g[1], "a clone created without starting")
    s.vmctl_ok("start", "later")
    check_eq(read_guest(s, "later", "boot-id"), a["boot-id"], "a clone started later starts from the golden boot")
    check_eq(read_guest(s, "later", "hostname"), "later", "and takes its identity")
    s.vmctl_ok("destroy", "later")

    # A clone that reboots boots cold, on its own disk over the golden one, and is itself again.
    s.vmctl_ok("reboot", "clone-a")
    check(read_guest(s, "clone-a", "boot-id") != a["boot-id"], "a rebooted clone has a boot ID of its own")
    check_eq(read_guest(s, "clone-a", "hostname"), "clone-a", "a rebooted clone's host name")

    for name in ("clone-a", "clone-b", "cold"):
        s.vmctl_ok("destroy", name)
    check_eq(s.files(), [], "files left behind by the clones")
    check_eq(checksums(golden_dir(s, g[1])), before, "the golden snapshot after its clones ran")


def test_corrupt_or_missing_is_rebuilt(s):
    g = wait_golden(s)
    # One byte of the saved RAM flipped, size kept: the next use notices (stat), verifies, and rebuilds.
    state = os.path.join(golden_dir(s, g[1]), "state")
    with open(state, "r+b") as f:
        f.seek(os.path.getsize(state) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xff]))
    s.vmctl_ok("create", "throwaway", "after-corruption")
    check_eq(prop(s, "after-corruption", "GoldenSnapshot"), "", "a corrupt golden snapshot is not used")
    s.vmctl_ok("destroy", "after-corruption")
    g2 = wait_golden(s, other_than=g[1])
    check(not os.path.exists(golden_dir(s, g[1])), "the corrupt golden snapshot is removed")
    check_eq(g2[1][:16], g[1][:16], "same inputs, same key")

    # Gone altogether: rebuilt as well.
    shutil.rmtree(golden_dir(s, g2[1]))
    s.vmctl_ok("create", "throwaway", "after-removal")
    check_eq(prop(s, "after-removal", "GoldenSnapshot"), "", "a missing golden snapshot is not used")
    s.vmctl_ok("destroy", "after-removal")
    g3 = wait_golden(s, other_than=g2[1])
    s.vmctl_ok("create", "throwaway", "clone")
    check_eq(prop(s, "clone", "GoldenSnapshot"), g3[1], "the rebuilt golden snapshot is used")

    # Rebuilt on request (vmctl follows the progress on the bus) while a clone of the old one runs: the old
    # one stays as long as that clone does, new clones come from the new one.
    p = s.vmctl("golden", "rebuild", "throwaway")
    check(p.returncode == 0, f"vmctl golden rebuild: {p.stdout}{p.stderr}")
    check("building golden snapshot of throwaway: booting" in p.stderr, f"progress shown: {p.stderr!r}")
    g4 = golden(s)
    check(g4[2] == "ready" and g4[1] != g3[1], f"a new golden snapshot: {g4}")
    check_eq([g["id"] for g in s.vmctl_json("golden")], [g4[1]], "vmctl golden --json")
    check(os.path.isdir(golden_dir(s, g3[1])), "the old golden snapshot stays while its clone runs")
    check_eq(read_guest(s, "clone", "hostname"), "clone", "the old clone still answers")
    s.vmctl_ok("create", "throwaway", "clone2")
    check_eq(prop(s, "clone2", "GoldenSnapshot"), g4[1], "new clones come from the new golden snapshot")
    s.vmctl_ok("destroy", "clone")
    check(not os.path.exists(golden_dir(s, g3[1])), "the old golden snapshot goes with its last clone")
    s.vmctl_ok("destroy", "clone2")
    check(os.path.isdir(golden_dir(s, g4[1])), "the current one stays")


def test_changed_image_makes_new_golden(s):
    g = wait_golden(s)
    # The image changes: its initrd gets zero padding (which the kernel skips), its manifest says so.
    image = os.path.join(s.image_dir, "reference")
    initrd = os.path.join(image, "initrd.img")
    with open(initrd, "ab") as f:
        f.write(b"\0" * 512)
    with open(initrd, "rb") as f:
        data = f.read()
    manifest = os.path.join(image, "manifest.yaml")
    text = open(manifest).read()
    text = re.sub(r"(initrd:\n\s+path: initrd.img\n\s+size: )\d+(\n\s+sha256: )[0-9a-f]+",
                  lambda m: f"{m.group(1)}{len(data)}{m.group(2)}{hashlib.sha256(data).hexdigest()}", text)
    with open(manifest, "w") as f:
        f.write(text)
    s.vmctl_ok("reload")
    g2 = wait_golden(s, other_than=g[1])
    check(g2[1][:16] != g[1][:16], f"a changed image gives a new key ({g[1]} -> {g2[1]})")
    check(not os.path.exists(golden_dir(s, g[1])), "the old golden snapshot, used by no VM, is removed")
    s.vmctl_ok("create", "throwaway", "new-clone")
    check_eq(prop(s, "new-clone", "GoldenSnapshot"), g2[1], "clones come from the new golden snapshot")
    s.vmctl_ok("destroy", "new-clone")


def test_restart_during_build(s):
    # Killed while the build runs: its QEMU dies with it, and what it left is never used.
    g = golden(s)
    check_eq(g[2], "building", "the golden snapshot is being built right after the start")
    deadline = time.monotonic() + 60
    while not (builders := session_qemus(s)) and time.monotonic() < deadline and golden(s)[2] == "building":
        time.sleep(0.05)
    check(len(builders) == 1, f"one QEMU builds: {builders}")
    fd = os.pidfd_open(builders[0])
    s.kill_vmmd()
    ready, _, _ = select.select([fd], [], [], 30)
    os.close(fd)
    check(ready and not pid_alive(builders[0]), "the build's QEMU ended with vmmd")
    pdir = os.path.join(s.tmp, "cache", "vmmd", "golden", "throwaway")
    left = os.listdir(pdir) if os.path.isdir(pdir) else []
    check(all(n.startswith(".build-") for n in left), f"only a half-made build is left: {left}")
    s.start_vmmd()
    g2 = golden(s)
    check(g2[2] in ("building", "none"), f"after the restart the half-made one is not used: {g2}")
    g2 = wait_golden(s)
    check_eq(sorted(os.listdir(pdir)), [g2[1]], "the half-made build is gone, the new one whole")
    check(set(os.listdir(golden_dir(s, g2[1]))) == {"state", "disk.qcow2", "overlay.qcow2", "golden.yaml"}, "whole")


def setup(s):
    # Its own copy of the image, which one test changes.
    image_dir = os.path.join(s.tmp, "images")
    shutil.copytree(os.path.join(IMAGE_DIR, "reference"), os.path.join(image_dir, "reference"))
    s.image_dir = image_dir


if __name__ == "__main__":
    import sys
    sys.exit(run([test_restart_during_build, test_two_clones_are_two_machines, test_corrupt_or_missing_is_rebuilt,
                  test_changed_image_makes_new_golden], setup=setup))
