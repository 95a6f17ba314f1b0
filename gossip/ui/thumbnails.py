"""Pictures shown inline: a small RGBA thumbnail of a picture file, decoded with PyAV (already
here through aiortc) under a pixel bound.

The file's first bytes choose the decoder (pictures.py), never its name or stated type.
FFmpeg is told the most pixels it may allocate (`max_pixels`) before it probes the stream,
so a small file that would inflate to gigabytes (a decompression bomb) is refused without
being decoded. Runs on a worker thread, never on the render thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from .pictures import PICTURE_DEMUXERS, SNIFF_BYTES, sniff_picture

THUMBNAIL_SIDE = 240  # the longer side of a thumbnail, at most
# 40 megapixels: a 36 MP camera's photo passes; as RGBA it is 160 MB, the most one picture
# may cost to decode.
MAX_PIXELS = 40_000_000


class PictureRefused(Exception):
    """The file is not a picture we show, or it could not or may not be decoded; the reason
    reads as a short note under the file."""


@dataclass(frozen=True)
class Thumbnail:
    width: int
    height: int
    rgba: bytes  # width × height × 4 bytes, rows top to bottom


def thumbnail_size(width: int, height: int, side: int = THUMBNAIL_SIDE) -> tuple[int, int]:
    """`width` × `height` shrunk (never grown) to fit in side × side, its aspect kept."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def make_thumbnail(path: Path, max_pixels: int = MAX_PIXELS) -> Thumbnail:
    """A thumbnail of the picture at `path` (its first frame, for an animation); raises
    PictureRefused when its first bytes are no picture we show, when it has more than
    `max_pixels` pixels, or when it does not decode."""
    with path.open("rb") as file:
        mime = sniff_picture(file.read(SNIFF_BYTES))
    if mime is None:
        raise PictureRefused("not shown: its content is not a PNG, JPEG, GIF or WebP picture")
    try:
        # Given to the probe's decoder too: a picture over the bound is refused before
        # FFmpeg allocates it, and its size then reads as 0 × 0.
        with av.open(
            str(path), format=PICTURE_DEMUXERS[mime], options={"max_pixels": str(max_pixels)}
        ) as container:
            if not container.streams.video:
                raise PictureRefused("not shown: no picture in it")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if not width or not height or width * height > max_pixels:
                raise PictureRefused(
                    f"not shown: too large a picture (over {max_pixels / 1e6:.0f} megapixels)"
                )
            frame = next(container.decode(stream), None)
            if frame is None or frame.width * frame.height > max_pixels:
                raise PictureRefused("not shown: the picture does not decode")
            small = thumbnail_size(frame.width, frame.height)
            rgba = frame.reformat(width=small[0], height=small[1], format="rgba").to_ndarray()
    except (av.error.FFmpegError, OSError, ValueError):
        raise PictureRefused("not shown: the picture does not decode") from None
    return Thumbnail(small[0], small[1], rgba.tobytes())
