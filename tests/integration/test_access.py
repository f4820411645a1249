#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Who may call vmmd. --user: only the uid it serves, for every call. System mode (on a private bus standing
in for the system bus, without polkitd): access.yaml refuses what it does not grant, naming the polkit action;
what it grants goes to polkit, which is not there, so it is refused too, saying so; a caller sees only the
VMs it may, and the rest do not exist for it."""

import os
import pwd
import subprocess

from vmmdtest import check, check_eq, run

NOBODY = pwd.getpwnam("nobody")


def as_nobody(s, *args):
    """busctl as user nobody against the test's bus; returns (ok, output)."""
    p = subprocess.run(["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups",
                        "busctl", f"--address={s.address}", "--json=short", *args],
                       env=s.env, capture_output=True, text=True, timeout=60)
    return p.returncode == 0, (p.stdout + p.stderr).strip()


def open_to_others(s):
    """Lets other users reach the test's bus socket (the test directory is 0700)."""
    os.chmod(s.tmp, 0o711)


def test_user_mode_serves_its_uid_only(s):
    open_to_others(s)
    s.vmctl_ok("create", "--no-start", "manual", "mine")
    check_eq(s.get_property(s.vm_path("mine"), "org.vmmd1.VM", "OwnerUID"), os.getuid(), "OwnerUID")
    calls = [
        ("call", "org.vmmd1", "/org/vmmd1", "org.vmmd1.Manager", "ListVMs"),
        ("call", "org.vmmd1", "/org/vmmd1", "org.vmmd1.Manager", "CreateVM", "ssa{sv}", "throwaway", "", "0"),
        ("call", "org.vmmd1", s.vm_path("mine"), "org.vmmd1.VM", "Destroy"),
        ("get-property", "org.vmmd1", s.vm_path("mine"), "org.vmmd1.VM", "State"),
        ("call", "org.vmmd1", "/org/vmmd1", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"),
    ]
    for args in calls:
        ok, out = as_nobody(s, *args)
        check(not ok, f"nobody's {args[3:]} must fail: {out}")
        check("serves uid 0 only" in out or f"serves uid {os.getuid()} only" in out,
              f"nobody's {args[3:]} is refused naming the rule: {out}")
    check_eq(s.vm_names(), ["mine"], "VMs after nobody's calls")
    check_eq(s.vm_state("mine"), "created", "mine is untouched")


def test_system_mode_access(s):
    open_to_others(s)
    # root: allowed everything without polkit; its VMs are root's.
    s.vmctl_ok("create", "--no-start", "work", "work")
    s.vmctl_ok("create", "--no-start", "manual", "roots")
    check_eq(s.get_property(s.vm_path("work"), "org.vmmd1.VM", "OwnerUID"), 0, "OwnerUID of root's VM")

    # nobody sees none of root's VMs: not listed, not found, no object.
    ok, out = as_nobody(s, "call", "org.vmmd1", "/org/vmmd1", "org.vmmd1.Manager", "ListVMs")
    check(ok and '"data":[[]]' in out.replace(" ", ""), f"nobody lists no VM: {out}")
    ok, out = as_nobody(s, "call", "org.vmmd1", "/org/vmmd1", "org.vmmd1.Manager", "GetVM", "s", "work")
    check(not ok and "No VM named" in out, f"GetVM of root's work phone: {out}")
    ok, out = as_nobody(s, "get-property", "org.vmmd1", s.vm_path("work"), "org.vmmd1.VM", "FailureReason")
    check(not ok and "Unknown object" in out, f"properties of root's work phone: {out}")
    ok, out = as_nobody(s, "call", "org.vmmd1", "/org/vmmd1", "org.freedesktop.DBus.ObjectManager",
                        "GetManagedObjects")
    check(ok and "/org/vmmd1/vm/" not in out, f"GetManagedObjects shows nobody no VM: {out}")
    ok, out = as_nobody(s, "tree", "org.vmmd1")
    check(ok and "/org/vmmd1/vm/" not in out, f"the object tree shows nobody no VM: {out}")

    # Changes: what access.yaml does not grant is refused naming the action; root's VM does not exist.
    cases = [
        (("/org/vmmd1", "org.vmmd1.Manager", "CreateVM", "ssa{sv}", "work", "w2", "0"),
         "access.yaml does not let nobody create VMs of persona \"work\" (polkit action org.vmmd1.create)"),
        (("/org/vmmd1", "org.vmmd1.Manager", "CreateVM", "ssa{sv}", "manual", "m2", "0"),
         "persona \"manual\""),
        ((s.vm_path("work"), "org.vmmd1.VM", "Destroy"), "Unknown object"),
        ((s.vm_path("roots"), "org.vmmd1.VM", "Start"), "Unknown object"),
        (("/org/vmmd1", "org.vmmd1.Manager", "SwitchTo", "s", "work"), "No VM named"),
        # What access.yaml grants goes to polkit, which is not running here.
        (("/org/vmmd1", "org.vmmd1.Manager", "CreateVM", "ssa{sv}", "throwaway", "", "0"),
         "polkit is not available to decide (polkit action org.vmmd1.create)"),
        (("/org/vmmd1", "org.vmmd1.Manager", "Reload"), "polkit is not available to decide (polkit action org.vmmd1.reload)"),
    ]
    for args, fragment in cases:
        ok, out = as_nobody(s, "call", "org.vmmd1", *args)
        check(not ok and fragment in out, f"nobody's {args[1:3]}: want {fragment!r}, got {out!r}")
    check_eq(s.vm_names(), ["roots", "work"], "root's VMs after nobody's calls")
    check_eq(s.vm_state("work"), "created", "the work phone is untouched")


test_system_mode_access.session_args = {"system": True}

if __name__ == "__main__":
    import sys
    sys.exit(run([test_user_mode_serves_its_uid_only, test_system_mode_access]))
