"""The app's screenshots without an imaging library: Dear PyGui's frame buffer turned into
8-bit RGB rows and written as a PNG (for `--screenshot`, and for the docs script).

Reading a PNG back, to tell a real picture from a blank frame, is the tests' job
(tests/pngcheck.py)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def frame_pixels(buffer: object, width: int, height: int) -> np.ndarray:
    """Dear PyGui's frame buffer (RGBA floats, 0..1) as 8-bit RGB rows."""
    floats = np.frombuffer(buffer, dtype=np.float32)  # type: ignore[call-overload]
    rgba = floats[:width * height * 4].reshape(height, width, 4)
    return np.clip(np.rint(rgba[:, :, :3] * 255.0), 0, 255).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Write 8-bit RGB rows as a PNG (no row filters: fast to write and to read back)."""
    height, width, _ = pixels.shape
    raw = np.zeros((height, width * 3 + 1), dtype=np.uint8)
    raw[:, 1:] = pixels.reshape(height, width * 3)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    Path(path).write_bytes(PNG_SIGNATURE + chunk(b"IHDR", header)
                           + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
                           + chunk(b"IEND", b""))
