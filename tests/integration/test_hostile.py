#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A VMM taken over by its guest (tests/integration/hostile-vmm standing in for QEMU) attacks vmmd through
every file and channel it has; vmmd contains each, keeps answering within a second, and leaks nothing."""

import os
import signal
import subprocess
import time

from vmmdtest import check, check_eq, run

HOSTILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile-vmm")
SECRET = "TOP-SECRET-3f9c1e"


# What each VM's stand-in does, by VM name ({tmp}: the test's directory). vmmd passes its environment on.
MODES = {
    "symlink": "log-symlink {tmp}/secret",
    "fifo": "log-fifo",
    "diskfifo": "disk-fifo",
    "disklink": "disk-symlink {tmp}/state/vmmd/vmmd.db",
    "utf8": "agent-utf8",
    "flood": "agent-flood 20000",
    "silent": "qmp-silent",
    "garbage": "qmp-garbage",
    "work": "idle",
    "tail": "console-tail",
    "deaf": "idle",
    "thief": "other-vm {tmp}/state/vmmd/vms/work/disk/disk.qcow2 {tmp}/state/vmmd/vmmd.db /etc/passwd "
             "{tmp}/run/vmmd/vms/work/qmp.sock",
}


def hostile_setup(s):
    s.extra_env.update({"VMMD_QEMU": HOSTILE, "VMMD_STOP_TIMEOUT_SEC": "2"})
    s.extra_env.update({f"HOSTILE_MODE_{name}": mode.format(tmp=s.tmp) for name, mode in MODES.items()})


def create(s, name, persona="throwaway", wait_state=None):
    ok, out = s.gdbus("/org/vmmd1", "org.vmmd1.Manager", "CreateVM", f"'{persona}'", f"'{name}'", "@a{sv} {}")
    check(ok, f"CreateVM {name} ({MODES[name]}): {out}")
    if wait_state:
        wait_state_of(s, name, wait_state)


def wait_state_of(s, name, state):
    """vmctl wait follows vmmd's signals."""
    s.vmctl_ok("wait", name, state, "--timeout", "60")


def wait_for(cond, what, timeout=60):
    """Polls what the hostile stand-in wrote to its log: it is not on the bus, no signal tells."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def responsive(s, what):
    """vmmd answers a plain call within a second."""
    t0 = time.monotonic()
    p = s.busctl("call", "org.vmmd1", "/org/vmmd1", "org.vmmd1.Manager", "ListVMs", timeout=5)
    took = time.monotonic() - t0
    check(p.returncode == 0, f"{what}: ListVMs failed: {p.stderr}")
    check(took < 1.0, f"{what}: ListVMs took {took:.2f} s")


def failure_reason(s, name):
    return s.get_property(s.vm_path(name), "org.vmmd1.VM", "FailureReason")


def test_log_symlink_and_fifo(s):
    secret = os.path.join(s.tmp, "secret")
    with open(secret, "w") as f:
        f.write("root only\n" + SECRET + "\n")
    os.chmod(secret, 0o600)
    create(s, "symlink", persona="manual")
    wait_state_of(s, "symlink", "failed")
    reason = failure_reason(s, "symlink")
    check(SECRET not in reason, f"the symlink target leaked into FailureReason: {reason!r}")
    check("exited with status 1" in reason, f"FailureReason says how the VMM ended: {reason!r}")

    create(s, "fifo", persona="manual")
    wait_state_of(s, "fifo", "failed")
    responsive(s, "after a FIFO in place of qemu.log")
    # Starting again replaces whatever the VMM left in place of its log.
    ok, out = s.gdbus(s.vm_path("fifo"), "org.vmmd1.VM", "Start")
    check(ok, f"Start after the FIFO: {out}")
    wait_state_of(s, "fifo", "failed")
    responsive(s, "after the second FIFO")


def test_disk_fifo(s):
    create(s, "diskfifo", persona="manual", wait_state="starting")
    log = os.path.join(s.runtime_dir, "vms", "diskfifo", "qemu.log")
    wait_for(lambda: os.path.exists(log) and "disk replaced" in open(log).read(), "the disk is a FIFO")
    t0 = time.monotonic()
    ok, out = s.gdbus(s.vm_path("diskfifo"), "org.vmmd1.VM", "ListSnapshots")
    check(time.monotonic() - t0 < 1.0, "ListSnapshots answers at once")
    check(not ok and "org.vmmd1.Error.Failed" in out and "not a regular file" in out,
          f"ListSnapshots names the problem: {out}")
    responsive(s, "after ListSnapshots on a FIFO")
    ok, out = s.gdbus(s.vm_path("diskfifo"), "org.vmmd1.VM", "Destroy")
    check(ok, f"Destroy: {out}")
    check("diskfifo" not in s.vm_names(), "destroyed")
    check(not os.path.exists(os.path.join(s.state_dir, "vms", "diskfifo")), "nothing of it remains")


def test_disk_symlink(s):
    """A symlink in place of the disk, to vmmd's own database: vmmd reads the disk as the VM and never
    follows a link there."""
    create(s, "disklink", persona="manual", wait_state="starting")
    log = os.path.join(s.runtime_dir, "vms", "disklink", "qemu.log")
    wait_for(lambda: os.path.exists(log) and "disk replaced" in open(log).read(), "the disk is a symlink")
    ok, out = s.gdbus(s.vm_path("disklink"), "org.vmmd1.VM", "ListSnapshots")
    check(not ok and "not a regular file" in out, f"ListSnapshots refuses the symlink: {out}")
    ok, out = s.gdbus(s.vm_path("disklink"), "org.vmmd1.VM", "Destroy")
    check(ok, f"Destroy: {out}")
    check(os.path.exists(os.path.join(s.state_dir, "vmmd.db")), "vmmd's database is still there")
    check_eq(s.vm_names(), [], "VMs")


def test_agent_invalid_utf8(s):
    create(s, "utf8", wait_state="starting")
    path = s.vm_path("utf8")
    # Both READY lines are refused whole: the VM never counts as booted by them.
    for what, args in (("GetAll", ["org.vmmd1.VM"]), ):
        ok, out = s.gdbus(path, "org.freedesktop.DBus.Properties", what, *[f"'{a}'" for a in args])
        check(ok, f"{what} on a VM whose agent sent invalid UTF-8: {out}")
    ok, out = s.gdbus("/org/vmmd1", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
    check(ok, f"GetManagedObjects: {out}")
    check_eq(s.get_property(path, "org.vmmd1.VM", "AgentVersion"), "", "AgentVersion")
    check_eq(s.vm_state("utf8"), "starting", "state")
    responsive(s, "after invalid UTF-8")


def test_agent_flood(s):
    # dbus-monitor sees what reaches the bus, in vmmd's order: the flood, then AgentVersion "10.0".
    mon = subprocess.Popen(["dbus-monitor", "--address", s.address,
                            "type='signal',interface='org.freedesktop.DBus.Properties'"],
                           stdout=subprocess.PIPE, text=True, env=s.env)
    out = []
    try:
        create(s, "flood")
        responsive(s, "during the flood")
        for line in mon.stdout:
            out.append(line)
            if '"10.0"' in line:
                break
    finally:
        mon.terminate()
        mon.wait()
    changes = "".join(out).count("GuestMemoryTotalKiB")
    check(changes <= 60, f"a flood of 20000 agent lines became {changes} PropertiesChanged (want <= 60)")
    check(changes >= 1, "the lines within the rate limit are heard")
    responsive(s, "after the flood")


def test_qmp_silent_and_garbage(s):
    s.stop_vmmd()
    s.extra_env["VMMD_BOOT_TIMEOUT_SEC"] = "3"
    s.start_vmmd()
    # CreateVM answers once QMP works: for these, with the error, while vmmd goes on answering others.
    calls = {name: subprocess.Popen(["gdbus", "call", "--session", "--dest", "org.vmmd1", "--object-path",
                                     "/org/vmmd1", "--method", "org.vmmd1.Manager.CreateVM", "manual", name,
                                     "@a{sv} {}"], env=s.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
             for name in ("silent", "garbage")}
    responsive(s, "with a VMM that never answers QMP")
    out = {name: p.communicate(timeout=60)[0] for name, p in calls.items()}
    check("org.vmmd1.Error.Failed" in out["garbage"] and "QMP" in out["garbage"],
          f"CreateVM of a VMM that sends garbage fails naming QMP: {out['garbage']!r}")
    check("did not report ready within 3 s" in out["silent"],
          f"CreateVM of a VMM that never answers fails with the timeout: {out['silent']!r}")
    for name in ("silent", "garbage"):
        check_eq(s.vm_state(name), "failed", f"{name} state")
    check("QMP" in failure_reason(s, "garbage"), f"the reason names QMP: {failure_reason(s, 'garbage')!r}")
    responsive(s, "after both")


def vmm_pid(s, name):
    return s.get_property(s.vm_path(name), "org.vmmd1.VM", "Leader")


def test_other_vms_files(s):
    """A VMM taken over tries the work phone's disk, vmmd's state, the host: none is there for it."""
    create(s, "work", persona="manual", wait_state="starting")
    targets = MODES["thief"].format(tmp=s.tmp).split()[1:]
    create(s, "thief", persona="manual")
    log = os.path.join(s.runtime_dir, "vms", "thief", "qemu.log")
    wait_for(lambda: os.path.exists(log) and open(log).read().count("\n") >= len(targets), "the thief tried")
    lines = open(log).read().splitlines()
    for t, line in zip(targets, lines):
        check(line.startswith("DENIED"), f"the thief reached {t}: {line}")
    # Each VMM is its own user (vmmd runs as root here) in namespaces of its own.
    if os.geteuid() == 0:
        uids = {n: s.get_property(s.vm_path(n), "org.vmmd1.VM", "UID") for n in ("work", "thief")}
        check(uids["work"] != uids["thief"] and 0 not in uids.values(), f"VMs have their own uids: {uids}")
        for n in ("work", "thief"):
            with open(f"/proc/{vmm_pid(s, n)}/status") as f:
                real_uid = next(l for l in f if l.startswith("Uid:")).split()[1]
            check_eq(int(real_uid), uids[n], f"the VMM of {n} runs as its UID")
    for ns in ("mnt", "net", "user"):
        mine, theirs = (os.readlink(f"/proc/{p}/ns/{ns}") for p in ("self", vmm_pid(s, "thief")))
        check(mine != theirs, f"the VMM has a {ns} namespace of its own")


def test_boot_timeout_logs_the_console(s):
    """A guest that never gets ready: vmmd logs the end of its console (printable only) and fails it; a VMM
    that does not answer that question either is failed all the same, two seconds later."""
    s.stop_vmmd()
    s.extra_env["VMMD_BOOT_TIMEOUT_SEC"] = "2"
    s.start_vmmd()
    create(s, "tail", persona="manual")
    create(s, "deaf", persona="manual")
    for name in ("tail", "deaf"):
        wait_state_of(s, name, "failed")
        check("did not report ready within 2 s" in failure_reason(s, name), f"{name}: {failure_reason(s, name)!r}")
    log = s.log_text()
    check("Console of tail before its boot timed out: [ 0.000] Booting Linux? stuck here" in log,
          "vmmd logs the console's end, its control character replaced")
    check("Console of deaf" not in log, "a VMM that does not answer has no console to log")
    responsive(s, "after the boot timeouts")


def test_display_of_a_vmm_that_never_answers(s):
    """OpenDisplay of a VMM that takes the socket and never answers: the calls wait, 16 at most (Busy beyond,
    at once), vmmd goes on answering others, and when the VMM ends every call gets its error."""
    create(s, "deaf", persona="manual")
    path = s.vm_path("deaf")
    calls = [subprocess.Popen(["gdbus", "call", "--session", "--dest", "org.vmmd1", "--object-path", path,
                               "--method", "org.vmmd1.VM.OpenDisplay", "--timeout", "300"], env=s.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(20)]
    wait_for(lambda: sum(p.poll() is not None for p in calls) >= 4, "four of the calls are answered")
    done = [p for p in calls if p.poll() is not None]
    check_eq(len(done), 4, "calls answered while the VMM holds 16")
    for p in done:
        out = p.communicate()[0]
        check("org.vmmd1.Error.Busy" in out and "Too many callers wait for its screen" in out, out)
    responsive(s, "with 16 calls for a screen waiting")
    os.kill(vmm_pid(s, "deaf"), signal.SIGKILL)
    for p in calls:
        if p in done:
            continue
        out = p.communicate(timeout=60)[0]
        check(p.returncode != 0 and "The VMM ended" in out, f"a waiting call when the VMM ended: {out!r}")
    responsive(s, "after the VMM ended")


if __name__ == "__main__":
    import sys
    sys.exit(run([test_log_symlink_and_fifo, test_disk_fifo, test_disk_symlink, test_agent_invalid_utf8, test_agent_flood,
                  test_qmp_silent_and_garbage, test_other_vms_files, test_boot_timeout_logs_the_console,
                  test_display_of_a_vmm_that_never_answers],
                 setup=hostile_setup))
