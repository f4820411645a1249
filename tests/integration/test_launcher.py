#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The reference launcher (launcher/, vmm-launcher) under Xvfb, driven by real input events (xdotool) against
vmmd --user on a private bus with real QEMU guests: it lists the phones, shows the one tapped (its screen has
its colour band), sends keys to the foreground phone only, makes a throwaway and shows it, closes it, follows
switches made elsewhere and shows a phone that failed. A screenshot of each step is kept in
meson-logs/artefacts/test_launcher/."""

import os
import signal
import time

from launcherlib import Launcher, require_launcher
from vmmdtest import BUILD_ROOT, check, check_eq, run
from x11test import Xvfb, require_tools

ARTEFACTS = os.path.join(BUILD_ROOT, "meson-logs", "artefacts", "test_launcher")
COLOR = {"work": (0x15, 0x65, 0xC0), "home": (0x2E, 0x7D, 0x32), "throwaway": (0xE6, 0x51, 0x00)}


def guest_text(s, name):
    fields = dict(f.split("=", 1) for f in s.vmctl_ok("guest", name, "input").stdout.split())
    return bytes.fromhex(fields["text"]).decode()


def shows(x, launcher, persona, step):
    """A screenshot shows persona's colour band in the screen's area (a band of a 720 px wide screen scaled
    into the window is thousands of pixels); kept as step.png."""
    shot = x.screenshot()
    shot.save_png(os.path.join(ARTEFACTS, step + ".png"))
    others = [p for p in COLOR if p != persona]
    box = launcher.screen_box()
    n = shot.count(COLOR[persona], box)
    check(n > 2000, f"{step}: the screen shows {persona}'s colour band ({n} pixels of it)")
    for p in others:
        m = shot.count(COLOR[p], box)
        check(m < n / 10, f"{step}: the screen shows {p}'s colour ({m} pixels) besides {persona}'s ({n})")


def wait_text(s, name, want, timeout=60):
    deadline = time.monotonic() + timeout
    while (got := guest_text(s, name)) != want:
        check(time.monotonic() < deadline, f"{name}'s guest got {got!r}, not {want!r}")
        time.sleep(0.2)  # the agent reports what it got when asked: nothing to wait on but asking again


def test_launcher(s):
    os.makedirs(ARTEFACTS, exist_ok=True)
    for name in ("work", "home"):
        s.vmctl_ok("create", name, name)
    x = Xvfb(log=os.path.join(s.tmp, "xvfb.log"))
    launcher = None
    try:
        launcher = Launcher(s, x, os.path.join(s.tmp, "launcher.log"))
        # The phones and the tile that makes a throwaway.
        launcher.wait_layout("tiles for work, home and a new throwaway",
                             lambda t: {"work", "home", "+new"} <= set(t))

        # A tap on a phone brings it to the front and shows its screen.
        for name in ("work", "home"):
            launcher.tap(name)
            launcher.wait_shown(name)
            check_eq(s.get_property("/org/vmmd1", "org.vmmd1.Manager", "Foreground"), name, "the foreground phone")
            shows(x, launcher, name, f"1-{name}")

        # Keys typed go to the phone in front, and only to it.
        x.focus("Phones")
        x.type("hi")
        wait_text(s, "home", "hi")
        launcher.tap("work")
        launcher.wait_shown("work")
        x.type("yo")
        wait_text(s, "work", "yo")
        check_eq(guest_text(s, "home"), "hi", "home got nothing more while work was in front")

        # A new throwaway: made, shown with progress until it runs, then in front.
        launcher.tap("+new")
        words = launcher.wait_for("a throwaway tile", lambda w: w[0] == "state" and w[1].startswith("throwaway"))
        throwaway = words[1]
        launcher.wait_shown(throwaway)
        check_eq(s.vm_state(throwaway), "running", "the new throwaway runs")
        launcher.wait_layout("the throwaway's tile", lambda t: throwaway in t)
        shows(x, launcher, "throwaway", "2-throwaway")

        # Its close control stops it; a throwaway that stops is gone, and so is its tile.
        launcher.wait_layout("the throwaway's close control", lambda t: throwaway in launcher.closes)
        launcher.tap(throwaway, close=True)
        launcher.wait_for("the throwaway removed", lambda w: w == ["removed", throwaway])
        launcher.wait_layout("no tile for the closed throwaway", lambda t: throwaway not in t and "work" in t)
        check(throwaway not in s.vm_names(), "the throwaway is destroyed")
        x.screenshot().save_png(os.path.join(ARTEFACTS, "3-closed.png"))

        # A switch made elsewhere moves the launcher too (it follows ForegroundChanged).
        s.vmctl_ok("switch", "home")
        launcher.wait_shown("home")
        shows(x, launcher, "home", "4-switched-by-vmctl")

        # A phone that fails says why.
        pid = s.get_property(s.vm_path("work"), "org.vmmd1.VM", "Leader")
        os.kill(pid, signal.SIGKILL)
        launcher.wait_for("work failed", lambda w: w[:3] == ["state", "work", "failed"])
        reason = s.get_property(s.vm_path("work"), "org.vmmd1.VM", "FailureReason")
        check(reason, "work has a FailureReason")
        launcher.tap("work")
        launcher.wait_for("the failure shown", lambda w: w[0] == "failure" and w[1] == "work")
        x.screenshot().save_png(os.path.join(ARTEFACTS, "5-failed.png"))
    finally:
        if launcher:
            launcher.close()
        x.close()


if __name__ == "__main__":
    import sys
    require_tools()
    require_launcher()
    sys.exit(run([test_launcher]))
