# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small RFB (VNC) client for tests: enough of RFB 3.8 to read a VM's screen as 32-bit pixels and to
send keys and taps, over any pair of byte streams (`vmctl display NAME`'s stdin/stdout, a socket).

The server is QEMU's VNC server, which vmmd hands the other end of the stream (VM.OpenDisplay)."""

import struct

from pixels import Image

# X keysyms of what the tests type.
KEYSYM_RETURN = 0xFF0D
KEYSYM_SHIFT_L = 0xFFE1


class RfbError(Exception):
    pass


class Rfb:
    def __init__(self, read, write):
        """read(n) returns up to n bytes (b"" at the end), write(data) sends them all."""
        self._read = read
        self._write = write
        self.width = self.height = 0
        self.name = ""
        self.pixels = bytearray()  # BGRX, width * height * 4
        self._handshake()

    def _recv(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self._read(n - len(buf))
            if not chunk:
                raise RfbError(f"the server ended the stream ({len(buf)} of {n} bytes read)")
            buf += chunk
        return bytes(buf)

    def _handshake(self):
        version = self._recv(12)
        if not version.startswith(b"RFB 003."):
            raise RfbError(f"not an RFB server: {version!r}")
        self._write(b"RFB 003.008\n")
        n = self._recv(1)[0]
        if n == 0:
            reason = self._recv(struct.unpack(">I", self._recv(4))[0])
            raise RfbError(f"the server refused: {reason!r}")
        types = self._recv(n)
        if 1 not in types:  # None: vmmd already checked who may see the screen
            raise RfbError(f"the server wants authentication: security types {list(types)}")
        self._write(b"\x01")
        if struct.unpack(">I", self._recv(4))[0] != 0:
            raise RfbError("security handshake failed")
        self._write(b"\x01")  # shared: a launcher may watch too
        w, h = struct.unpack(">HH", self._recv(4))
        self._recv(16)  # the server's pixel format: we set ours
        self.name = self._recv(struct.unpack(">I", self._recv(4))[0]).decode(errors="replace")
        self._resize(w, h)
        # 32 bits per pixel, depth 24, little endian, true colour: bytes B, G, R, X.
        self._write(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
        # Raw, and the DesktopSize pseudo-encoding (the guest's driver sets its mode after the start).
        self._write(struct.pack(">BxHii", 2, 2, 0, -223))

    def _resize(self, w, h):
        self.width, self.height = w, h
        self.pixels = bytearray(w * h * 4)

    def update(self, incremental=False):
        """Asks for the screen (or what changed) and reads one framebuffer update; other messages are
        skipped."""
        self._write(struct.pack(">BBHHHH", 3, 1 if incremental else 0, 0, 0, self.width, self.height))
        while True:
            kind = self._recv(1)[0]
            if kind == 0:
                break
            if kind == 2:  # bell
                continue
            if kind == 3:  # server cut text
                self._recv(3)
                self._recv(struct.unpack(">I", self._recv(4))[0])
                continue
            raise RfbError(f"unexpected server message type {kind}")
        self._recv(1)
        (n,) = struct.unpack(">H", self._recv(2))
        for _ in range(n):
            x, y, w, h, enc = struct.unpack(">HHHHi", self._recv(12))
            if enc == -223:
                self._resize(w, h)
                continue
            if enc != 0:
                raise RfbError(f"unexpected encoding {enc}")
            if x + w > self.width or y + h > self.height:
                raise RfbError(f"rectangle {w}x{h}+{x}+{y} outside the {self.width}x{self.height} screen")
            data = self._recv(w * h * 4)
            for row in range(h):
                at = ((y + row) * self.width + x) * 4
                self.pixels[at:at + w * 4] = data[row * w * 4:(row + 1) * w * 4]

    def pixel(self, x, y):
        """(r, g, b) at x, y."""
        at = (y * self.width + x) * 4
        b, g, r = self.pixels[at:at + 3]
        return r, g, b

    def image(self):
        return Image.from_bytes(self.width, self.height, self.pixels, self.width * 4, "BGRX")

    def key(self, keysym, down):
        self._write(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def type_text(self, text):
        for c in text:
            sym = KEYSYM_RETURN if c == "\n" else ord(c)
            shift = c.isupper()
            if shift:
                self.key(KEYSYM_SHIFT_L, True)
            self.key(sym, True)
            self.key(sym, False)
            if shift:
                self.key(KEYSYM_SHIFT_L, False)

    def tap(self, x, y):
        self._write(struct.pack(">BBHH", 5, 1, x, y))
        self._write(struct.pack(">BBHH", 5, 0, x, y))
