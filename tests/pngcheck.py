"""Reading the app's screenshots back without an imaging library: a PNG's pixels, size and
colour count, so that tests and the docs script can tell a real picture of the app from a
blank frame. (Writing them is the app's: gossip/ui/pngwriter.py.)"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gossip.ui.pngwriter import PNG_SIGNATURE

_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (8-bit, no palette)


class NotAPicture(Exception):
    """The file is not an 8-bit PNG we can read."""


@dataclass(frozen=True)
class PictureSummary:
    width: int
    height: int
    colours: int  # distinct RGB colours
    busiest_share: float  # share of pixels in the most common colour (1.0 = blank)

    @property
    def blank(self) -> bool:
        return self.colours < 16 or self.busiest_share > 0.97


def summarize_png(path: Path) -> PictureSummary:
    pixels = read_png(path)
    rgb = pixels[:, :, :3].reshape(-1, 3).astype(np.uint32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    return PictureSummary(pixels.shape[1], pixels.shape[0], len(values),
                          float(counts.max()) / len(packed))


def read_png(path: Path) -> np.ndarray:
    """The pixels of an 8-bit, non-interlaced PNG as an (height, width, samples) array."""
    data = Path(path).read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise NotAPicture(f"{path} is not a PNG")
    position, idat, header = len(PNG_SIGNATURE), bytearray(), None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        raise NotAPicture(f"{path} has no header")
    width, height, depth, colour_type, _, _, interlace = header
    if depth != 8 or colour_type not in _CHANNELS or interlace:
        raise NotAPicture(f"{path}: unsupported PNG (depth {depth}, type {colour_type})")
    samples = _CHANNELS[colour_type]
    raw = np.frombuffer(zlib.decompress(bytes(idat)), dtype=np.uint8)
    stride = width * samples
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        out[y] = previous = _unfilter(kind, line, previous, samples)
    return out.reshape(height, width, samples)


def _unfilter(kind: int, line: np.ndarray, above: np.ndarray, samples: int) -> np.ndarray:
    if kind == 0:
        return line
    if kind == 2:
        return (line + above) & 0xFF
    result = line.copy()
    for x in range(len(line)):  # Sub, Average and Paeth depend on the pixel to the left
        left = result[x - samples] if x >= samples else 0
        upper_left = above[x - samples] if x >= samples else 0
        if kind == 1:
            result[x] = (line[x] + left) & 0xFF
        elif kind == 3:
            result[x] = (line[x] + (left + above[x]) // 2) & 0xFF
        elif kind == 4:
            p = left + above[x] - upper_left
            pa, pb, pc = abs(p - left), abs(p - above[x]), abs(p - upper_left)
            predictor = left if pa <= pb and pa <= pc else above[x] if pb <= pc else upper_left
            result[x] = (line[x] + predictor) & 0xFF
        else:
            raise NotAPicture(f"unknown PNG filter {kind}")
    return result
