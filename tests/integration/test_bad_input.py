#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bad input gets a clear org.vmmd1.Error, the daemon stays up, and nothing in the state or on disk changes."""

import os
import shutil
import sqlite3
import subprocess
import sys

from vmmdtest import IMAGE_DIR, POLICY_DIR, VMCTL, Session, check, check_eq, run


def snapshot(s):
    db = sqlite3.connect(os.path.join(s.state_dir, "vmmd.db"))
    try:
        rows = db.execute("SELECT * FROM vms ORDER BY name").fetchall()
    finally:
        db.close()
    return rows, s.files(), s.vm_names()


def gv(x):
    """A Python value as GVariant text for gdbus."""
    if isinstance(x, str):
        return "'" + x.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return x


def expect_error(s, error, fragment, method, *args, path="/org/vmmd1", interface="org.vmmd1.Manager"):
    before = snapshot(s)
    ok, err = s.gdbus(path, interface, method, *args)
    check(not ok, f"{method}{args} must fail")
    check(f"GDBus.Error:{error}:" in err, f"{method}{args}: want {error}, got {err!r}")
    check(fragment in err, f"{method}{args}: message {err!r} names the problem ({fragment!r})")
    check(s.vmmd_alive(), "vmmd survives")
    check_eq(snapshot(s), before, f"state after the rejected {method}{args}")


E = "org.vmmd1.Error."


def test_bad_create_calls(s):
    s.vmctl_ok("create", "--no-start", "work", "existing")
    cases = [
        ("InvalidArgument", "contains '/'", ("work", "a/b")),
        ("InvalidArgument", "starts with '.'", ("work", "..")),
        ("InvalidArgument", "starts with '.'", ("work", "../../etc")),
        ("InvalidArgument", "control character", ("work", "a\tb")),
        ("InvalidArgument", "control character", ("work", "a\x1bb")),
        ("InvalidArgument", "is empty", ("work", "")),
        ("InvalidArgument", "longer than 64 bytes", ("work", "x" * 65)),
        ("NoSuchPersona", "\"nope\" does not exist", ("nope", "x")),
        ("InvalidArgument", "Persona name", ("../work", "x")),
        ("Exists", "\"existing\" already exists", ("work", "existing")),
    ]
    for error, fragment, (persona, name) in cases:
        expect_error(s, E + error, fragment, "CreateVM", gv(persona), gv(name), "@a{sv} {}")

    for error, fragment, opts in [
        ("InvalidArgument", "out of range", "{'memory_mib': <@t 16>}"),
        ("InvalidArgument", "out of range", "{'memory_mib': <@t 18446744073709551615>}"),
        ("InsufficientMemory", "exceeds the host's memory", "{'memory_mib': <@t 65536>}"),
        ("InvalidArgument", "out of range", "{'vcpus': <@u 4294967295>}"),
        ("InvalidArgument", "out of range", "{'vcpus': <@u 65>}"),
        ("InvalidArgument", "must be of type 't'", "{'memory_mib': <'lots'>}"),
        ("InvalidArgument", "must be of type 't'", "{'memory_mib': <@i 512>}"),
        ("InvalidArgument", "must be of type 'b'", "{'start': <@u 1>}"),
        ("InvalidArgument", "Unknown option \"colour\"", "{'colour': <'red'>}"),
        ("InvalidArgument", "neither \"kvm\" nor \"tcg\"", "{'accel': <'hvf'>}"),
        ("InvalidArgument", "accel \"kvm\" is not available: KVM cannot run arm64 guests", "{'accel': <'kvm'>}"),
        ("InvalidArgument", "must be of type 's'", "{'accel': <@u 1>}"),
    ]:
        expect_error(s, E + error, fragment, "CreateVM", "'work'", "'fresh'", opts)

    # Zero is not "the persona's value": leaving the key out is.
    for opts in ("{'memory_mib': <@t 0>}", "{'vcpus': <@u 0>}"):
        expect_error(s, E + "InvalidArgument", "is 0; leave it out", "CreateVM", "'work'", "'zeros'", opts)
    ok, out = s.gdbus("/org/vmmd1", "org.vmmd1.Manager", "CreateVM", "'work'", "'defaults'", "{'start': <false>}")
    check(ok, f"without overrides the persona's values: {out}")
    check_eq(s.vmctl_json("show", "defaults")["MemoryMiB"], 512, "persona memory")

    # Calls on VMs in the wrong state, and on VMs that do not exist.
    p = s.vm_path("existing")
    vm = dict(path=p, interface="org.vmmd1.VM")
    expect_error(s, E + "InvalidState", "only a running VM", "Pause", **vm)
    expect_error(s, E + "InvalidState", "only a paused VM", "Resume", **vm)
    expect_error(s, E + "InvalidState", "not running", "Stop", "false", **vm)
    expect_error(s, E + "NoSuchVM", "No VM named \"ghost\"", "GetVM", "'ghost'")
    expect_error(s, E + "NoSuchVM", "No VM named", "SwitchTo", "'ghost'")
    expect_error(s, E + "InvalidState", "only a starting, running or paused", "SwitchTo", "'existing'")
    expect_error(s, "org.freedesktop.DBus.Error.UnknownObject", "", "Start", path="/org/vmmd1/vm/ghost",
                 interface="org.vmmd1.VM")


def test_vmctl_rejects_bad_names_locally(s):
    for name, fragment in [(b"a/b", b"contains '/'"), (b"a\xffb", b"UTF-8"), (b"x" * 65, b"longer than 64")]:
        # An invalid UTF-8 byte cannot even travel over D-Bus: vmctl refuses it before any call.
        p = subprocess.run([VMCTL, "--user", "create", "work", name], env=s.env, capture_output=True)
        check_eq(p.returncode, 2, f"vmctl exit status for {name!r}")
        check(fragment in p.stderr, f"vmctl message {p.stderr!r} names the problem")
    check_eq(s.vm_names(), [], "nothing was created")


def test_bad_persona_files(s):
    # A second daemon on its own bus with a persona file that has an unknown key and a bad value.
    policy = os.path.join(s.tmp, "bad-policies")
    shutil.copytree(POLICY_DIR, policy)
    with open(os.path.join(policy, "personas", "broken.yaml"), "w") as f:
        f.write("description: broken\nmemory_mib: 512\nvcpus: 1\nimage: reference\ndisk: ephemeral\ncolour: red\n")
    bad = Session("bad-persona", policy_dir=policy)
    try:
        bad.start_vmmd()
        ok, err = bad.gdbus("/org/vmmd1", "org.vmmd1.Manager", "CreateVM", "'broken'", "''", "@a{sv} {}")
        check(not ok and E + "NoSuchPersona" in err, f"a broken persona is not created: {err}")
        check("broken.yaml:6" in err and "colour" in err, f"the error names file, line and key: {err!r}")
        check(bad.vmmd_alive(), "vmmd keeps running with a bad persona file")
        # The other personas are not affected.
        names = [p["name"] for p in bad.vmctl_json("personas")]
        check_eq(sorted(names), ["home", "throwaway", "work"], "personas next to a broken one")
        bad.vmctl_ok("create", "--no-start", "work", "fine")
    finally:
        bad.close()


def test_missing_and_corrupt_images(s):
    images = os.path.join(s.tmp, "images")
    shutil.copytree(os.path.join(IMAGE_DIR, "reference"), os.path.join(images, "reference"))
    corrupt = Session("corrupt-image", image_dir=images)
    empty = Session("missing-image", image_dir=os.path.join(s.tmp, "no-images"))
    try:
        corrupt.start_vmmd()
        initrd = os.path.join(images, "reference", "initrd.img")
        with open(initrd, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0xff]))
        before = snapshot(corrupt)
        p = corrupt.vmctl("create", "throwaway")
        check_eq(p.returncode, 8, f"vmctl exit status for ImageCorrupt ({p.stderr!r})")
        check("initrd.img" in p.stderr and "sha256" in p.stderr, f"message names the file: {p.stderr!r}")
        check_eq(snapshot(corrupt), before, "state after the refused create")
        check(corrupt.vmmd_alive(), "vmmd survives a corrupt image")

        empty.start_vmmd()
        ok, err = empty.manager_call("CreateVM", "ssa{sv}", "throwaway", "", 0)
        check(not ok and "reference" in err, f"a missing image is named: {err!r}")
        check_eq(empty.vm_names(), [], "nothing created without an image")
    finally:
        corrupt.close()
        empty.close()


def test_vmm_choice(s):
    """A persona that insists on vmm-hv is refused where it cannot run (no KVM here), by name and reason; one
    that leaves it to vmmd ("auto", the throwaway's default) gets QEMU, and says so."""
    with open(os.path.join(s.policy_dir, "personas", "fast.yaml"), "w") as f:
        f.write("memory_mib: 256\nvcpus: 1\nimage: reference\ndisk: ephemeral\nvmm: hv\n")
    s.vmctl_ok("reload")
    expect_error(s, E + "NotSupported", "A VM of persona \"fast\" is to run in vmm-hv", "CreateVM", "'fast'",
                 "'quick'", "@a{sv} {}")
    # CreateVM's own choice: checked as strictly, and as impossible here.
    expect_error(s, E + "NotSupported", "runs on KVM only", "CreateVM", "'throwaway'", "'quick'",
                 "{'vmm': <'hv'>}")
    expect_error(s, E + "InvalidArgument", "vmm \"kvmtool\" is not one of", "CreateVM", "'throwaway'", "'quick'",
                 "{'vmm': <'kvmtool'>}")
    expect_error(s, E + "InvalidArgument", "must be of type 's'", "CreateVM", "'throwaway'", "'quick'",
                 "{'vmm': <@u 1>}")
    p = s.vmctl("create", "--vmm", "kvmtool", "throwaway")
    check_eq(p.returncode, 2, f"vmctl refuses a bad --vmm itself ({p.stderr!r})")
    s.vmctl_ok("create", "--no-start", "--vmm", "qemu", "fast", "pinned")
    check_eq(s.vmctl_json("show", "pinned")["VMM"], "qemu", "CreateVM's vmm over the persona's")
    s.vmctl_ok("destroy", "pinned")
    expect_error(s, E + "NotSupported", "runs on KVM only: KVM cannot run arm64 guests", "CreateVM", "'fast'",
                 "'quick'", "{'start': <false>}")
    p = s.vmctl("create", "--no-start", "fast", "quick")
    check_eq(p.returncode, 1, f"vmctl exit status for NotSupported ({p.stderr!r})")
    check("vmm-hv" in p.stderr, f"vmctl says why: {p.stderr!r}")

    host = s.vmctl_json("host")
    check(host["HvUsable"] is False and "KVM" in host["HvReason"], f"the Manager says why not: {host}")
    check("vmm-hv: not usable (" in s.vmctl_ok("host").stdout, "vmctl host says it")

    s.vmctl_ok("create", "--no-start", "throwaway", "auto")
    check_eq(s.vmctl_json("show", "auto")["VMM"], "qemu", "a throwaway's VMM without KVM")
    rows = {r["name"]: r for r in s.vmctl_json("list")}
    check_eq(rows["auto"]["vmm"], "qemu", "vmctl list --json names the VMM")
    check("VMM" in s.vmctl_ok("list").stdout.splitlines()[0], "vmctl list has a VMM column")
    s.vmctl_ok("destroy", "auto")
    os.unlink(os.path.join(s.policy_dir, "personas", "fast.yaml"))
    s.vmctl_ok("reload")


if __name__ == "__main__":
    sys.exit(run([test_bad_create_calls, test_vmctl_rejects_bad_names_locally, test_bad_persona_files,
                  test_missing_and_corrupt_images, test_vmm_choice]))
