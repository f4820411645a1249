#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A guest kernel that panics gets a crash bundle (vmmd/crash.h) while its memory is intact: an ELF core that
gdb reads with the kernel's own symbols, the console's panic, a backtrace with names. Then its persona's
on_crash: keep, restart or destroy. Bundles are bounded per VM, go with their VM unless kept, and only those
who may manage a VM see its bundles. Real QEMU guests under TCG, crashed through their agent (CRASH: sysrq c)."""

import os
import re
import subprocess
import time

from vmmdtest import VMCTL, SignalWatch, check, check_eq, run

MANAGER = ("/org/vmmd1", "org.vmmd1.Manager")
VM_IFACE = "org.vmmd1.VM"

# Test personas: like the throwaway, each with another on_crash.
PERSONAS = {
    "crash-restart": "on_crash: restart\ncrash_bundles: 2\n",
    "crash-destroy": "on_crash: destroy\n",
    "crash-guarded": "on_crash: restart\ncrash_test: force\ncrash_bundles: 0\n",
}


def setup(s):
    for name, extra in PERSONAS.items():
        with open(os.path.join(s.policy_dir, "personas", f"{name}.yaml"), "w") as f:
            f.write(f"memory_mib: 256\nvcpus: 1\nimage: reference\ndisk: ephemeral\n{extra}")


def prop(s, name, p):
    return s.get_property(s.vm_path(name), VM_IFACE, p)


def crash(s, name, force=False, bundle=True, then=None):
    """Crashes name's guest; returns (bundle id, seconds from the request to the Crashed signal). then: a
    state the VM must reach afterwards ("starting": on_crash restart)."""
    watch = SignalWatch(s)
    path = s.vm_path(name)
    vm, bundle_id, elapsed = name, None, None
    try:
        t0 = time.monotonic()
        ok, data = s.call(path, VM_IFACE, "CrashTest", "b", "true" if force else "false")
        check(ok, f"CrashTest of {name}: {data}")
        if bundle:
            vm, bundle_id = watch.wait_for("member=Crashed", nargs=2)
            elapsed = time.monotonic() - t0
        if then == "removed":
            watch.wait_for(f"member=VMRemoved", nargs=1)
        elif then:
            watch.wait_for_state(path, then)
    finally:
        watch.close()
    check_eq(vm, name, "Crashed names the VM")
    return bundle_id, elapsed


def get_crash(s, bundle):
    ok, data = s.manager_call("GetCrash", "s", bundle)
    check(ok, f"GetCrash({bundle}): {data}")
    return {k: v["data"] for k, v in data[0].items()}


def list_crashes(s, vm=""):
    ok, data = s.manager_call("ListCrashes", "s", vm)
    check(ok, f"ListCrashes({vm!r}): {data}")
    return data[0]


def bundle_dir(s, vm, bundle):
    return os.path.join(s.state_dir, "crashes", vm, bundle)


def test_crash_bundle_and_keep(s):
    s.vmctl_ok("create", "throwaway", "--cold", "t1")
    bundle, elapsed = crash(s, "t1")
    print(f"# panic to bundle: {elapsed:.2f} s")
    check(elapsed < 5, f"the bundle took {elapsed:.2f} s (at most 5)")
    check(re.fullmatch(r"t1-\d{8}-\d{6}(-\d+)?", bundle), f"bundle id {bundle!r}")

    # on_crash: keep (the throwaway's): paused as it crashed, and it says why.
    check_eq(s.vm_state("t1"), "paused", "a kept crashed VM")
    check("panicked" in prop(s, "t1", "FailureReason"), "FailureReason says the guest panicked")
    check_eq(prop(s, "t1", "LastCrash"), bundle, "LastCrash")

    c = get_crash(s, bundle)
    check_eq(c["vm"], "t1", "the bundle's VM")
    check_eq(c["persona"], "throwaway", "the bundle's persona")
    check_eq(c["image"], "reference", "the bundle's image")
    check("Kernel panic - not syncing: sysrq triggered crash" in c["message"], f"panic message {c['message']!r}")
    check("sysrq triggered crash" in c["console"], "the console tail holds the panic")
    check(c["core"], f"the bundle has a core: {c['core_error']}")
    check_eq(c["kernel"], "6.1.0-56-arm64", "the guest kernel's release")
    frames = "\n".join(c["backtrace"])
    for fn in ("panic", "sysrq_handle_crash", "write_sysrq_trigger", "vfs_write"):
        check(re.search(rf"\b{fn}\+0x", frames), f"backtrace names {fn}:\n{frames}")
    print(f"# bundle size: {c['size_bytes'] / 2**20:.1f} MiB on disk, capture {c['capture_usec'] / 1e6:.2f} s")
    files = sorted(os.listdir(bundle_dir(s, "t1", bundle)))
    check_eq(files, ["console.txt", "crash.json", "report.txt", "symbols.elf", "vmcore"], "the bundle's files")
    check(all(os.stat(os.path.join(bundle_dir(s, "t1", bundle), f)).st_mode & 0o077 == 0 for f in files),
          "a bundle's files are private")

    # Resume boots the crashed guest again; its agent answers.
    s.vmctl_ok("resume", "t1")
    s.vmctl_ok("wait", "t1", "running")
    ok, data = s.call(s.vm_path("t1"), VM_IFACE, "ReadGuest", "s", "hostname")
    check(ok and data[0] == "t1", f"the restarted guest answers: {data}")

    # A kept bundle outlives its throwaway; one that is not goes with it.
    bundle2, _ = crash(s, "t1")
    check_eq([b[0] for b in list_crashes(s, "t1")], [bundle, bundle2], "ListCrashes, oldest first")
    s.vmctl_ok("crash", "keep", bundle)  # KeepCrash
    s.vmctl_ok("destroy", "t1")
    check_eq([(b[0], b[6]) for b in list_crashes(s)], [(bundle, True)], "what is left after the VM went")
    s.vmctl_ok("crash", "delete", bundle)  # DeleteCrash
    check_eq(list_crashes(s), [], "no bundles left")
    check_eq(s.files(), [], "files left behind")


def test_restart_destroy_and_limit(s):
    # on_crash: restart boots again; the third bundle drops the oldest (crash_bundles: 2).
    s.vmctl_ok("create", "crash-restart", "r1")
    bundles = []
    for _ in range(3):
        boot = prop(s, "r1", "GuestBootID")
        bundle, _ = crash(s, "r1", then="starting")
        bundles.append(bundle)
        s.vmctl_ok("wait", "r1", "running")
        check(prop(s, "r1", "GuestBootID") != boot, "on_crash: restart booted the guest again")
    check_eq([b[0] for b in list_crashes(s, "r1")], bundles[1:], "the oldest bundle was dropped")
    check(not os.path.exists(bundle_dir(s, "r1", bundles[0])), "and its files")

    # on_crash: destroy: the VM goes, and its bundle with it.
    s.vmctl_ok("create", "crash-destroy", "d1")
    crash(s, "d1", then="removed")
    check("d1" not in s.vm_names(), "on_crash: destroy removed the VM")
    check_eq([b[0] for b in list_crashes(s, "d1")], [], "its bundle went with it")


def test_crash_test_needs_force(s):
    s.vmctl_ok("create", "crash-guarded", "g1")
    ok, out = s.gdbus(s.vm_path("g1"), VM_IFACE, "CrashTest", "false")
    check(not ok and "org.vmmd1.Error.AccessDenied" in out and "needs force" in out,
          f"CrashTest without force: {out}")
    check_eq(s.vm_state("g1"), "running", "the guest was not crashed")
    # crash_bundles: 0: the crash is noticed and on_crash applies, nothing is saved.
    boot = prop(s, "g1", "GuestBootID")
    crash(s, "g1", force=True, bundle=False, then="starting")
    s.vmctl_ok("wait", "g1", "running")
    check(prop(s, "g1", "GuestBootID") != boot, "g1 booted again after its crash")
    check_eq(list_crashes(s), [], "crash_bundles: 0 saves nothing")

    # Bad ids are NoSuchCrash, bad VM names InvalidArgument; vmmd stays up.
    for bad in ("nope", "../../vmmd.db", "", "g1"):
        ok, out = s.gdbus(*MANAGER, "GetCrash", bad)
        check(not ok and "org.vmmd1.Error.NoSuchCrash" in out, f"GetCrash({bad!r}): {out}")
    for bad in ("..", "../..", "a/b"):
        ok, out = s.gdbus(*MANAGER, "ListCrashes", bad)
        check(not ok and "org.vmmd1.Error.InvalidArgument" in out, f"ListCrashes({bad!r}): {out}")


def test_gdb(s):
    """gdb-multiarch reads a bundle through vmctl crash gdb, and debugs a live guest through vmctl debug."""
    s.vmctl_ok("create", "throwaway", "--cold", "t1")
    bundle, _ = crash(s, "t1")
    out = s.vmctl_ok("crash", "gdb", bundle, "--", "-batch", "-ex", "bt").stdout
    for fn in ("panic", "sysrq_handle_crash", "write_sysrq_trigger"):
        check(re.search(rf" in {fn} \(", out), f"gdb's backtrace of the core names {fn}:\n{out}")
    out = s.vmctl_ok("crash", "show", bundle).stdout
    check("sysrq_handle_crash+0x" in out and "Kernel panic - not syncing" in out, f"vmctl crash show:\n{out}")

    # A live guest: the debugger stops it, reads its registers, catches it in a kernel function that the
    # agent runs (uname, for the host name), and lets it run on when it detaches.
    s.vmctl_ok("create", "throwaway", "--cold", "t2")
    path = s.vm_path("t2")
    watch = SignalWatch(s)
    gdb = subprocess.Popen(
        [VMCTL, *s.mode_args, "debug", "t2", "--", "-batch", "-ex", "info registers pc",
         "-ex", "hbreak __arm64_sys_newuname", "-ex", "continue", "-ex", "bt 3", "-ex", "detach"],
        env=s.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Attached (the guest stops): now the agent is asked for the host name, which needs uname.
        header = f"path={path}; interface=org.freedesktop.DBus.Properties; member=PropertiesChanged"
        while watch.wait_for(header, nargs=2)[1] != "DebuggerAttached":
            pass
        check(prop(s, "t2", "DebuggerAttached"), "DebuggerAttached while gdb holds the guest")
        reader = subprocess.Popen([VMCTL, *s.mode_args, "guest", "t2", "hostname"], env=s.env,
                                  stdout=subprocess.PIPE, text=True)
        out, _ = gdb.communicate(timeout=300)
        check_eq(gdb.returncode, 0, f"vmctl debug:\n{out}")
        check(re.search(r"^pc\s+0xffff[0-9a-f]+", out, re.M), f"gdb read the program counter:\n{out}")
        check(re.search(r"Breakpoint 1, 0x[0-9a-f]+ in __arm64_sys_newuname \(\)", out),
              f"the breakpoint was hit:\n{out}")
        check(re.search(r"^#1 +0x[0-9a-f]+ in invoke_syscall \(", out, re.M), f"and gdb unwinds from there:\n{out}")
        host, _ = reader.communicate(timeout=60)
        check_eq(host.strip(), "t2", "the agent answers after the debugger detached")
    finally:
        watch.close()
        if gdb.poll() is None:
            gdb.kill()
            gdb.wait()
    check(not prop(s, "t2", "DebuggerAttached"), "no debugger attached after it detached")
    check_eq(s.vm_state("t2"), "running", "the guest runs on")


if __name__ == "__main__":
    raise SystemExit(run([test_crash_bundle_and_keep, test_restart_destroy_and_limit, test_crash_test_needs_force,
                          test_gdb], setup=setup))
