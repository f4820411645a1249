# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixture for integration tests: a private dbus-daemon, `vmmd --user` on it, vmctl and busctl.

Everything is real: the bus, the daemon, SQLite, QEMU. Readiness is sd_notify's READY=1 on a
NOTIFY_SOCKET we own, never a sleep. The test's directories live under one temporary directory
that is removed at the end unless the test failed (then its path is printed for post-mortems).
"""

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

BUILD_ROOT = os.environ.get("VMMD_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE_ROOT = os.environ.get("VMMD_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "../.."))
VMMD = os.path.join(BUILD_ROOT, "vmmd/vmmd")
VMCTL = os.path.join(BUILD_ROOT, "ctl/vmctl")
IMAGE_DIR = os.environ.get("VMMD_TEST_IMAGE_DIR", os.path.join(BUILD_ROOT, "images"))
POLICY_DIR = os.path.join(SOURCE_ROOT, "policies")
TEST_PERSONAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "personas")

SKIP = 77

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure(f"{what}: got {got!r}, want {want!r}")


def require_image():
    manifest = os.path.join(IMAGE_DIR, "reference", "manifest.yaml")
    if not os.path.exists(manifest):
        print(f"SKIP: no reference image at {manifest} (build it: ninja -C build)")
        sys.exit(SKIP)
    if not shutil.which("qemu-system-aarch64"):
        print("SKIP: qemu-system-aarch64 is not installed")
        sys.exit(SKIP)


class Session:
    """One private bus with one vmmd --user on it."""

    def __init__(self, name, policy_dir=None, image_dir=IMAGE_DIR, env=None, system=False):
        # system: vmmd in system mode (no --user), the private bus standing in for the system bus.
        self.system = system
        self.tmp = tempfile.mkdtemp(prefix=f"vmmd-{name}-")
        if policy_dir is None:
            # The shipped personas plus the tests' own (tests/integration/personas).
            policy_dir = os.path.join(self.tmp, "policies")
            shutil.copytree(POLICY_DIR, policy_dir)
            for f in os.listdir(TEST_PERSONAS):
                shutil.copy(os.path.join(TEST_PERSONAS, f), os.path.join(policy_dir, "personas"))
        self.policy_dir = policy_dir
        self.image_dir = image_dir
        self.extra_env = env or {}
        self.bus = None
        self.vmmd = None
        self.vmmd_log = os.path.join(self.tmp, "vmmd.log")
        for d in ("run", "state", "cache", "config", "home"):
            os.makedirs(os.path.join(self.tmp, d), mode=0o700)
        if os.geteuid() == 0:
            # vmmd as root gives each VM a uid of its own, whose VMM must reach its directory below these
            # (traversable, not listable; as /var/lib and /run are).
            for d in (self.tmp, os.path.join(self.tmp, "run"), os.path.join(self.tmp, "state"),
                      os.path.join(self.tmp, "cache")):
                os.chmod(d, 0o711)
        self.runtime_dir = os.path.join(self.tmp, "run", "vmmd")
        self.state_dir = os.path.join(self.tmp, "state", "vmmd")
        self._start_bus()

    # The bus

    def _start_bus(self):
        conf = os.path.join(self.tmp, "bus.conf")
        sock = os.path.join(self.tmp, "bus.sock")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG.format(path=sock))
        self.bus = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address=1"],
                                    stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                    stderr=open(os.path.join(self.tmp, "bus.log"), "w"))
        self.address = self.bus.stdout.readline().strip()
        check(self.address.startswith("unix:"), f"dbus-daemon printed no address ({self.address!r})")

    @property
    def env(self):
        env = dict(os.environ)
        env.update({
            "DBUS_SESSION_BUS_ADDRESS": self.address,
            "XDG_RUNTIME_DIR": os.path.join(self.tmp, "run"),
            "XDG_STATE_HOME": os.path.join(self.tmp, "state"),
            "XDG_CACHE_HOME": os.path.join(self.tmp, "cache"),
            "XDG_CONFIG_HOME": os.path.join(self.tmp, "config"),
            "HOME": os.path.join(self.tmp, "home"),
            "VMMD_POLICY_DIR": self.policy_dir,
            "VMMD_IMAGE_DIR": self.image_dir,
            "SYSTEMD_COLORS": "0",
            "SYSTEMD_PAGER": "",
        })
        if self.system:
            env.update({
                "DBUS_SYSTEM_BUS_ADDRESS": self.address,
                "STATE_DIRECTORY": self.state_dir,
                "RUNTIME_DIRECTORY": self.runtime_dir,
                "CACHE_DIRECTORY": os.path.join(self.tmp, "cache", "vmmd"),
                "CONFIGURATION_DIRECTORY": os.path.join(self.tmp, "config", "vmmd"),
            })
        env.pop("NOTIFY_SOCKET", None)
        env.update(self.extra_env)
        return env

    @property
    def mode_args(self):
        """How vmmd, vmctl and busctl are told the bus: --user, or nothing for the (stand-in) system bus."""
        return [] if self.system else ["--user"]

    # The daemon

    def start_vmmd(self, timeout=60):
        """Starts vmmd --user and returns once it sent READY=1."""
        notify_path = os.path.join(self.tmp, "notify.sock")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        ns.bind(notify_path)
        env = self.env
        env["NOTIFY_SOCKET"] = notify_path
        log = open(self.vmmd_log, "a")
        self.vmmd = subprocess.Popen([VMMD, *self.mode_args, "--log-level=debug"], env=env, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure(f"vmmd sent no READY=1 within {timeout} s")
                # Wake up now and then to notice a vmmd that died before it was ready.
                ns.settimeout(min(left, 0.5))
                try:
                    msg = ns.recv(4096).decode()
                except socket.timeout:
                    if self.vmmd.poll() is not None:
                        raise TestFailure(f"vmmd exited with {self.vmmd.returncode} before READY=1:\n"
                                          + self.log_text())
                    continue
                if "READY=1" in msg.split("\n"):
                    return
        finally:
            ns.close()

    def stop_vmmd(self, timeout=120):
        if not self.vmmd:
            return None
        if self.vmmd.poll() is None:
            self.vmmd.send_signal(signal.SIGTERM)
        try:
            rc = self.vmmd.wait(timeout)
        except subprocess.TimeoutExpired:
            self.vmmd.kill()
            rc = self.vmmd.wait()
            raise TestFailure("vmmd did not exit within %d s of SIGTERM" % timeout)
        self.vmmd = None
        return rc

    def kill_vmmd(self):
        self.vmmd.kill()
        self.vmmd.wait()
        self.vmmd = None

    def vmmd_alive(self):
        return self.vmmd is not None and self.vmmd.poll() is None

    def log_text(self):
        try:
            with open(self.vmmd_log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # Clients

    def vmctl(self, *args, timeout=600, input=None):
        return subprocess.run([VMCTL, *self.mode_args, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=input)

    def vmctl_ok(self, *args, **kw):
        p = self.vmctl(*args, **kw)
        if p.returncode != 0:
            raise TestFailure(f"vmctl {' '.join(args)} failed with {p.returncode}:\n{p.stdout}{p.stderr}")
        return p

    def vmctl_json(self, *args):
        return json.loads(self.vmctl_ok("--json", *args).stdout)

    def busctl(self, *args, timeout=120):
        return subprocess.run(["busctl", *self.mode_args, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def call(self, path, interface, method, signature="", *args):
        """Calls a method with busctl; returns (ok, data-or-error-text)."""
        cmd = ["--json=short", "call", "org.vmmd1", path, interface, method]
        if signature:
            cmd += [signature, *[str(a) for a in args]]
        p = self.busctl(*cmd)
        if p.returncode != 0:
            return False, p.stderr.strip()
        return True, json.loads(p.stdout)["data"] if p.stdout.strip() else None

    def gdbus(self, path, interface, method, *args):
        """Calls a method with gdbus, whose errors carry the D-Bus error name; args in GVariant text.
        Returns (ok, stdout or stderr)."""
        p = subprocess.run(["gdbus", "call", "--address", self.address, "--dest", "org.vmmd1", "--object-path", path,
                            "--method", f"{interface}.{method}", "--", *args],
                           env=self.env, capture_output=True, text=True, timeout=120)
        return p.returncode == 0, (p.stdout if p.returncode == 0 else p.stderr).strip()

    def manager_call(self, method, signature="", *args):
        return self.call("/org/vmmd1", "org.vmmd1.Manager", method, signature, *args)

    def get_property(self, path, interface, prop):
        p = self.busctl("--json=short", "get-property", "org.vmmd1", path, interface, prop)
        if p.returncode != 0:
            raise TestFailure(f"get-property {prop} failed: {p.stderr}")
        return json.loads(p.stdout)["data"]

    def vm_path(self, name):
        ok, data = self.manager_call("GetVM", "s", name)
        if not ok:
            raise TestFailure(f"GetVM({name}) failed: {data}")
        return data[0]

    def vm_state(self, name):
        return self.get_property(self.vm_path(name), "org.vmmd1.VM", "State")

    def vm_names(self):
        ok, data = self.manager_call("ListVMs")
        if not ok:
            raise TestFailure(f"ListVMs failed: {data}")
        return sorted(v[0] for v in data[0])

    def files(self):
        """Every file and directory that belongs to a VM in vmmd's state and runtime directories."""
        out = []
        for base in (self.state_dir, self.runtime_dir):
            for root, dirs, files in os.walk(os.path.join(base, "vms")):
                for n in dirs + files:
                    out.append(os.path.relpath(os.path.join(root, n), self.tmp))
        return sorted(out)

    def close(self, failed=False):
        try:
            self.stop_vmmd()
        finally:
            if self.bus:
                self.bus.terminate()
                self.bus.wait()
            if failed:
                print(f"# (test directory kept: {self.tmp})")
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)


def vm_bus_path(name):
    """sd_bus_path_encode("/org/vmmd1/vm", name)."""
    out = []
    for i, b in enumerate(name.encode()):
        c = chr(b)
        if (c.isascii() and c.isalpha()) or (i > 0 and c.isdigit()):
            out.append(c)
        else:
            out.append("_%02x" % b)
    return "/org/vmmd1/vm/" + ("".join(out) or "_")


def qemu_pids():
    """Pids of running qemu-system-aarch64 processes."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
        except OSError:
            continue
        if argv0.endswith(b"qemu-system-aarch64"):
            pids.append(int(d))
    return pids


class SignalWatch:
    """dbus-monitor on the session bus: every message, one header line each, then its arguments."""

    def __init__(self, s):
        self.p = subprocess.Popen(["dbus-monitor", "--address", s.address], env=s.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        self.buf = b""
        # Its own NameLost comes once it is a monitor: from then on it sees everything.
        self.wait_for("member=NameLost")

    def _fill(self, deadline, text):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([self.p.stdout], [], [], max(left, 0))
        chunk = os.read(self.p.stdout.fileno(), 65536) if ready else b""
        if not chunk:
            raise TestFailure(f"dbus-monitor did not show {text!r} in time")
        self.buf += chunk

    def wait_for(self, text, nargs=0, timeout=60):
        """Waits for a message whose header line holds text; returns its first nargs string arguments."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.buf.split(b"\n")
            for i, line in enumerate(lines[:-1]):
                if text.encode() not in line or line.startswith(b" "):
                    continue
                args = [m.group(1).decode() for m in
                        (re.match(rb'\s+(?:variant\s+)?string "(.*)"$', later) for later in lines[i + 1:-1])
                        if m][:nargs]
                if len(args) == nargs:
                    self.buf = b"\n".join(lines[i + 1:])
                    self.last_header = line.decode(errors="replace")
                    return args
                break  # its arguments are still on their way
            else:
                self.buf = lines[-1]
            self._fill(deadline, text)

    def wait_for_state(self, path, state, timeout=120):
        """Waits for PropertiesChanged of the VM at path whose first property is State, with this value."""
        header = f"path={path}; interface=org.freedesktop.DBus.Properties; member=PropertiesChanged"
        deadline = time.monotonic() + timeout
        while True:
            args = self.wait_for(header, nargs=3, timeout=max(deadline - time.monotonic(), 0))
            if args[1:] == ["State", state]:
                return

    def wait_for_property(self, paths, prop, timeout=120):
        """Waits for PropertiesChanged whose first changed property is prop, of the object at each of paths
        (one path, or several in any order)."""
        left = {paths} if isinstance(paths, str) else set(paths)
        deadline = time.monotonic() + timeout
        while left:
            args = self.wait_for("interface=org.freedesktop.DBus.Properties; member=PropertiesChanged", nargs=2,
                                 timeout=max(deadline - time.monotonic(), 0))
            m = re.search(r" path=([^;]*);", self.last_header)
            if args[1] == prop and m:
                left.discard(m.group(1))

    def close(self):
        self.p.kill()
        self.p.wait()


def terminate(proc, timeout=10):
    """Ends a child of ours: SIGTERM, SIGKILL if it is still there after timeout seconds; reaps it."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def kill_and_wait(pid, timeout=30):
    """SIGKILLs a process that is not our child and returns once it is gone (its pidfd turns readable)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        os.kill(pid, signal.SIGKILL)
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise TestFailure(f"process {pid} still runs {timeout} s after SIGKILL")
    finally:
        os.close(fd)


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def run(tests, setup=None, **session_args):
    """Runs test functions, each with a fresh Session (given to setup before vmmd starts, if set); prints TAP;
    exit status 0 only if all passed."""
    require_image()
    print(f"1..{len(tests)}")
    failed = 0
    for i, t in enumerate(tests, 1):
        s = None
        ok = False
        try:
            s = Session(t.__name__, **{**session_args, **getattr(t, "session_args", {})})
            if setup:
                setup(s)
            s.start_vmmd()
            t(s)
            check(s.vmmd_alive(), "vmmd died during the test")
            ok = True
        except Exception as e:
            failed += 1
            print(f"# {t.__name__} failed: {e}")
            for line in traceback.format_exc().splitlines():
                print("#   " + line)
            if s:
                for line in s.log_text().splitlines()[-40:]:
                    print("#   vmmd: " + line)
        finally:
            if s:
                try:
                    s.close(failed=not ok)
                except Exception as e:
                    if ok:
                        ok = False
                        failed += 1
                    print(f"# cleanup of {t.__name__} failed: {e}")
        print(f"{'ok' if ok else 'not ok'} {i} - {t.__name__}")
        sys.stdout.flush()
    return 1 if failed else 0
