#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every phone has a screen with touch and keys (VM.OpenDisplay, `vmctl display`): QEMU's VNC server
listening nowhere, a socket per caller handed over D-Bus. The reference image shows the kernel console on it
and its agent draws the persona's colour band and names, and reports the keys and taps it got (agent 0.8).
Real QEMU guests; the screen is read over RFB (rfb.py), and each screen is kept as a PNG in
meson-logs/artefacts/test_display/."""

import os
import subprocess
import time

from rfb import Rfb
from vmmdtest import BUILD_ROOT, VMCTL, check, check_eq, run

ARTEFACTS = os.path.join(BUILD_ROOT, "meson-logs", "artefacts", "test_display")
BAND = {"work": (0x15, 0x65, 0xC0), "home": (0x2E, 0x7D, 0x32)}


class Screen:
    """`vmctl display NAME` as a child, spoken to over its stdin/stdout."""

    def __init__(self, s, name):
        self.proc = subprocess.Popen([VMCTL, *s.mode_args, "display", name], env=s.env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = self.proc.stdout

        def write(data):
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

        self.rfb = Rfb(lambda n: out.read1(n), write)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode

    def wait_for(self, what, cond, timeout=60):
        """Reads updates until cond(rfb) holds: the guest draws at its own pace."""
        deadline = time.monotonic() + timeout
        self.rfb.update(incremental=False)
        while not cond(self.rfb):
            check(time.monotonic() < deadline, f"the screen never showed {what}")
            self.rfb.update(incremental=True)


def near(a, b, tolerance=8):
    return all(abs(x - y) <= tolerance for x, y in zip(a, b))


def band_shown(color):
    # The band across the top, in the persona's colour, at both sides and the middle.
    return lambda r: r.width == 720 and r.height == 1280 and all(
        near(r.pixel(x, 20), color) for x in (10, 360, 709))


def save(rfb, name):
    os.makedirs(ARTEFACTS, exist_ok=True)
    rfb.image().save_png(os.path.join(ARTEFACTS, name + ".png"))


def guest_input(s, name):
    fields = dict(f.split("=", 1) for f in s.vmctl_ok("guest", name, "input").stdout.split())
    fields["text"] = bytes.fromhex(fields["text"]).decode()
    return fields


def test_screen_and_input(s):
    for name in ("work", "home"):
        s.vmctl_ok("create", name, name)
    for name in ("work", "home"):
        path = s.vm_path(name)
        color = "#%02x%02x%02x" % BAND[name]
        check_eq(s.get_property(path, "org.vmmd1.VM", "Color"), color, f"{name}: Color")
        check_eq(s.get_property(path, "org.vmmd1.VM", "DisplayWidth"), 720, f"{name}: DisplayWidth")
        check_eq(s.get_property(path, "org.vmmd1.VM", "DisplayHeight"), 1280, f"{name}: DisplayHeight")

    screens = {name: Screen(s, name) for name in ("work", "home")}
    try:
        for name, screen in screens.items():
            screen.wait_for(f"{name}'s band", band_shown(BAND[name]))
            save(screen.rfb, name)
            # Below the band, the dark screen the agent draws the kernel's messages on.
            check(sum(screen.rfb.pixel(360, 900)) < 3 * 80, f"{name}: dark below the band")

        # Keys and a tap reach the phone whose screen they were given to, and no other.
        work = screens["work"].rfb
        work.type_text("Hello 42")
        work.tap(100, 700)
        # QEMU's VNC server passes keys on 10 ms apart (its key delay), taps at once.
        deadline = time.monotonic() + 60
        while (got := guest_input(s, "work"))["taps"] == "0" or got["text"] != "Hello 42":
            check(time.monotonic() < deadline, f"the keys and the tap never all reached the guest: {got}")
            screens["work"].rfb.update(incremental=True)
        check_eq(got["keys"], "9", "key presses (shift and 8 characters)")
        x, y = (int(v) for v in got["last"].split(","))
        check(abs(x - 100) <= 2 and abs(y - 700) <= 2, f"work's guest got the tap at {got['last']}, not 100,700")
        check_eq(guest_input(s, "home"), {"keys": "0", "text": "", "taps": "0", "last": "-1,-1"},
                 "home's guest got nothing")
        work.update()  # the whole screen as it is now, for the record
        save(work, "work-typed")
    finally:
        for screen in screens.values():
            screen.close()

    # Two callers at once each get a screen of their own.
    both = [Screen(s, "home"), Screen(s, "home")]
    for screen in both:
        screen.wait_for("home's band", band_shown(BAND["home"]))
        check_eq(screen.close(), 0, "vmctl display exits 0 when its input ends")


def test_errors(s):
    s.vmctl_ok("create", "--no-start", "manual", "off")
    r = s.vmctl("display", "off")
    check_eq(r.returncode, 4, f"vmctl display of a stopped VM (InvalidState):\n{r.stderr}")
    check("only a VM whose VMM runs has a screen" in r.stderr, f"the error says why:\n{r.stderr}")
    r = s.vmctl("display", "nosuch")
    check_eq(r.returncode, 3, f"vmctl display of a VM that does not exist:\n{r.stderr}")
    # A persona without a screen.
    with open(os.path.join(s.policy_dir, "personas", "headless.yaml"), "w") as f:
        f.write("memory_mib: 128\nvcpus: 1\nimage: reference\ndisk: ephemeral\ndisplay: none\n")
    s.vmctl_ok("reload")
    s.vmctl_ok("create", "--no-start", "headless", "blind")
    check_eq(s.get_property(s.vm_path("blind"), "org.vmmd1.VM", "DisplayWidth"), 0, "no screen: width 0")
    ok, err = s.gdbus(s.vm_path("blind"), "org.vmmd1.VM", "OpenDisplay")
    check(not ok and "org.vmmd1.Error.NotSupported" in err and 'says "display: none"' in err,
          f"OpenDisplay of a VM without a screen: {err}")


if __name__ == "__main__":
    import sys
    sys.exit(run([test_screen_and_input, test_errors]))
