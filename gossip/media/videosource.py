"""What every video source is (the interface) and the sizes a source may have. Capture
devices (capture.py) and the generated sources (video.py) both build on this module; neither
imports the other, and videospec.py builds either from a user's spec."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt

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
