"""What every video source is (the interface), the sizes a source may have, and building one
from a user's spec. Capture devices (capture.py) and the generated sources (video.py) both
build on this module; neither imports the other."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt

from .defaults import DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH
from .errors import SpecError

Image = npt.NDArray[np.uint8]  # height x width x 3, RGB

# The pattern's code band: square cells across the top of the frame, CODE_COLUMNS to a row,
# each cell one bit (see video.py). Every source keeps room for it, so any source's size
# also suits the pattern a test or the demo may switch to.
CODE_COLUMNS = 32
CODE_BITS = 32 + 48 + 16  # counter, milliseconds, CRC
CODE_ROWS = CODE_BITS // CODE_COLUMNS
MIN_WIDTH = 2 * CODE_COLUMNS  # two pixels a cell at the very least


class VideoSource(ABC):
    """Something that yields the next RGB frame of a fixed size on demand, without blocking.

    It does not pace itself: a VideoFanout reads it once per frame slot at `fps`.
    """

    width: int
    height: int
    fps: float

    @abstractmethod
    def read(self) -> Image:
        """The next frame, `height` x `width` x 3 uint8 RGB."""

    def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release devices or files; reading afterwards is not allowed."""


def code_band_height(width: int) -> int:
    """Height in pixels of the code band of a `width`-wide pattern frame."""
    return math.ceil(CODE_ROWS * width / CODE_COLUMNS)


def check_size(width: int, height: int, fps: float) -> None:
    """Raise ValueError unless a source may have this size and rate."""
    if width < MIN_WIDTH or width % 2 or height % 2:
        raise ValueError(f"video size must be even and at least {MIN_WIDTH} px wide")
    if height < code_band_height(width) + 2:
        raise ValueError(f"{width}x{height} leaves no room below the code band")
    if not 0.0 < fps <= 120.0:
        raise ValueError("video fps must be in (0, 120]")


def parse_video_source(spec: str, *, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
                       fps: float = DEFAULT_FPS) -> VideoSource:
    """Build a source from "pattern", "none", "file:PATH", "camera[:DEVICE]" or
    "screen[:DISPLAY]". A camera or screen that cannot be opened raises CaptureUnavailable."""
    # Loaded on demand: PyAV (and FFmpeg's devices) only when a source is really built.
    from . import capture, video

    kind, _, arg = spec.partition(":")
    if kind == "pattern" and not arg:
        return video.PatternSource(width, height, fps)
    if kind == "none" and not arg:
        return video.NoneSource(width, height)
    if kind == "file":
        if not arg:
            raise SpecError("file source needs a path: file:PATH")
        return video.FileSource(arg, width, height, fps)
    if kind == "camera":
        return capture.open_camera(arg, width=width, height=height, fps=fps)
    if kind == "screen":
        return capture.open_screen(display=arg or None, width=width, height=height, fps=fps)
    raise SpecError(f"unknown video source {spec!r}: use pattern, none, file:PATH, "
                    f"camera[:DEVICE] or screen[:DISPLAY]")
