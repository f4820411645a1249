# SPDX-License-Identifier: LGPL-2.1-or-later
"""An X server of the test's own (Xvfb), real input events (xdotool) and screenshots (xwd) for the launcher's
tests and benchmark. Screenshots are pixels.Image; xwd's format is read here."""

import os
import shutil
import struct
import subprocess
import sys

from pixels import Image
from vmmdtest import SKIP, terminate

TOOLS = {"Xvfb": "xvfb", "xdotool": "xdotool", "xwd": "x11-apps"}


def require_tools():
    for tool, package in TOOLS.items():
        if not shutil.which(tool):
            print(f"SKIP: {tool} is not installed (Debian package {package})")
            sys.exit(SKIP)


class Xvfb:
    """Xvfb on a display number it picks itself (-displayfd): no clash with another test's."""

    def __init__(self, width=1000, height=1100, log=None):
        self.width, self.height = width, height
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(w), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp",
             "-noreset"], pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(log, "w") if log else subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as f:
            number = f.readline().strip()  # written once the server accepts connections
        if not number.isdigit():
            self.proc.kill()
            raise RuntimeError(f"Xvfb did not start (it printed {number!r})")
        self.display = f":{number}"

    @property
    def env(self):
        return {"DISPLAY": self.display}

    def run(self, *args, check=True):
        return subprocess.run(list(args), env={**os.environ, **self.env}, check=check, capture_output=True,
                              timeout=60)

    def click(self, x, y):
        """A real button press and release at x, y of the screen (XTEST); then the pointer leaves, so that no
        tooltip covers later screenshots."""
        self.run("xdotool", "mousemove", str(x), str(y), "click", "1", "mousemove", str(self.width - 1),
                 str(self.height - 1))

    def focus(self, title):
        """Gives the keyboard to the window titled title (there is no window manager to do it)."""
        self.run("xdotool", "search", "--sync", "--onlyvisible", "--name", title, "windowfocus", "--sync")

    def type(self, text):
        self.run("xdotool", "type", "--delay", "30", text)

    def screenshot(self):
        return read_xwd(self.run("xwd", "-root", "-silent").stdout)

    def close(self):
        terminate(self.proc)


def read_xwd(data):
    """An xwd dump (X11 XWD version 7, ZPixmap, 24 or 32 bits a pixel, true colour) as an Image."""
    (header_size, version, pixmap_format, depth, width, height, _xoffset, byte_order, _unit, _unit_order, _pad,
     bits_per_pixel, bytes_per_line, visual_class, red_mask, green_mask, blue_mask, _bits_rgb, _map_entries,
     ncolors) = struct.unpack(">20I", data[:80])
    if version != 7 or pixmap_format != 2 or bits_per_pixel not in (24, 32) or visual_class not in (4, 5):
        raise ValueError(f"unsupported xwd dump: version {version}, format {pixmap_format}, "
                         f"{bits_per_pixel} bits a pixel, visual class {visual_class}")
    if (red_mask, green_mask, blue_mask) != (0xFF0000, 0xFF00, 0xFF):
        raise ValueError(f"unsupported xwd colour masks {red_mask:x} {green_mask:x} {blue_mask:x}")
    at = header_size + ncolors * 12
    raw = data[at:at + bytes_per_line * height]
    if bits_per_pixel == 24:
        return Image.from_bytes(width, height, raw, bytes_per_line, "BGR" if byte_order == 0 else "RGB")
    return Image.from_bytes(width, height, raw, bytes_per_line, "BGRX" if byte_order == 0 else "XRGB")
