# SPDX-License-Identifier: LGPL-2.1-or-later
"""Screenshots for tests, without third-party modules: an RGB image in memory, and PNG files of it (zlib)."""

import struct
import zlib


class Image:
    """width x height pixels, 3 bytes each (R, G, B), row after row."""

    def __init__(self, width, height, rgb):
        if len(rgb) != width * height * 3:
            raise ValueError(f"{len(rgb)} bytes for a {width}x{height} image")
        self.width, self.height, self.rgb = width, height, bytes(rgb)

    @classmethod
    def from_bytes(cls, width, height, data, stride, order):
        """From len(order) bytes a pixel, stride bytes a row; order names them, e.g. "BGRX", "XRGB" or "BGR"."""
        r, g, b, n = order.index("R"), order.index("G"), order.index("B"), len(order)
        out = bytearray(width * height * 3)
        for y in range(height):
            row = data[y * stride:y * stride + width * n]
            out[y * width * 3 + 0:(y + 1) * width * 3:3] = row[r::n]
            out[y * width * 3 + 1:(y + 1) * width * 3:3] = row[g::n]
            out[y * width * 3 + 2:(y + 1) * width * 3:3] = row[b::n]
        return cls(width, height, out)

    def pixel(self, x, y):
        at = (y * self.width + x) * 3
        return tuple(self.rgb[at:at + 3])

    def count(self, color, box=None, tolerance=8):
        """Pixels within tolerance of color, in box (x0, y0, x1, y1; all of it by default)."""
        x0, y0, x1, y1 = box or (0, 0, self.width, self.height)
        n = 0
        for y in range(y0, y1):
            row = self.rgb[(y * self.width + x0) * 3:(y * self.width + x1) * 3]
            for i in range(0, len(row), 3):
                if all(abs(row[i + k] - color[k]) <= tolerance for k in range(3)):
                    n += 1
        return n

    def save_png(self, path):
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        stride = self.width * 3
        raw = b"".join(b"\0" + self.rgb[y * stride:(y + 1) * stride] for y in range(self.height))
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
