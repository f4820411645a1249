# SPDX-License-Identifier: LGPL-2.1-or-later
"""vmm-launcher under a test's own X server, seen through its --trace lines (launcher/README.md): where its
tiles are, what it shows and when. Shared by tests/integration/test_launcher.py and tests/bench/launcher-switch."""

import os
import select
import subprocess
import time

from vmmdtest import BUILD_ROOT, SKIP, check, terminate

LAUNCHER = os.path.join(BUILD_ROOT, "launcher", "vmm-launcher")


def require_launcher():
    if not os.path.exists(LAUNCHER):
        print(f"SKIP: {LAUNCHER} was not built (GTK 3 and gtk-vnc: libgtk-3-dev, libgtk-vnc-2.0-dev)")
        raise SystemExit(SKIP)


class Launcher:
    def __init__(self, s, x, log):
        self.x = x
        self.proc = subprocess.Popen([LAUNCHER, *s.mode_args, "--trace"], env={**s.env, **x.env, "NO_AT_BRIDGE": "1"},
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=open(log, "w"), text=True, bufsize=1)
        self.lines = []      # every trace line so far
        self.tiles = {}      # name -> (x, y, w, h) of the last complete layout; "+new" is the new-throwaway tile
        self.closes = {}     # name -> (x, y, w, h) of its close control
        self._tiles, self._closes = {}, {}
        self._buf = ""

    def _read_line(self, deadline):
        while "\n" not in self._buf:
            left = deadline - time.monotonic()
            check(left > 0, "timed out")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536).decode()
            check(chunk, f"vmm-launcher ended (status {self.proc.poll()})")
            self._buf += chunk
        line, self._buf = self._buf.split("\n", 1)
        self._take(line)
        return line

    def _take(self, line):
        self.lines.append(line)
        words = line.split()
        if not words:
            return
        if words[0] in ("tile", "close") and len(words) == 6:
            (self._tiles if words[0] == "tile" else self._closes)[words[1]] = tuple(int(v) for v in words[2:])
        elif words[0] == "layout-done":
            self.tiles, self.closes = self._tiles, self._closes
            self._tiles, self._closes = {}, {}

    def wait_for(self, what, pred, timeout=180):
        """Reads trace lines until pred(words) holds for one; returns its words."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                words = self._read_line(deadline).split()
            except Exception as e:
                raise type(e)(f"waiting for {what}: {e}; last lines:\n  " + "\n  ".join(self.lines[-15:]))
            if words and pred(words):
                return words

    def wait_layout(self, what, pred, timeout=180):
        """Waits until a complete layout satisfies pred(tiles)."""
        if pred(self.tiles):
            return
        self.wait_for(what, lambda w: w[0] == "layout-done" and pred(self.tiles), timeout)

    def wait_shown(self, name, timeout=180):
        """Returns the time (µs, CLOCK_MONOTONIC) the launcher says it drew name's screen."""
        words = self.wait_for(f"{name}'s screen shown", lambda w: w[:2] == ["shown", name], timeout)
        return int(words[2].split("=", 1)[1])

    def tap(self, name, close=False):
        x, y, w, h = (self.closes if close else self.tiles)[name]
        self.x.click(x + w // 2, y + h // 2)

    def screen_box(self):
        """The screen's area in screenshots: the window above the strip of tiles."""
        return (0, 0, self.x.width, min(t[1] for t in self.tiles.values()))

    def close(self):
        terminate(self.proc)
        self.proc.stdout.close()
