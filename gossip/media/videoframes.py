"""The newest picture of one video stream, handed from the media side to whoever shows it.

A receiver writes each decoded frame; a viewer (the app's render thread, a recorder, a test)
reads only the latest one, so a slow viewer skips pictures instead of queueing them. Reads
and writes may come from different threads: a lock guards the swap, never a conversion.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]  # height x width x 3, RGB


@dataclass(frozen=True)
class Picture:
    """One frame as shown: `sequence` counts frames put since the stream began (1 = first)."""

    sequence: int
    image: Image
    arrived_at: float  # the writer's clock (trio's, for call links), when it was put


class LatestFrame:
    """Holds the newest frame of one stream; readable from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._picture: Picture | None = None
        self.frames = 0

    def put(self, image: Image, arrived_at: float) -> None:
        """Replace the picture; `image` must not be written to afterwards (it is shared)."""
        with self._lock:
            self.frames += 1
            self._picture = Picture(self.frames, image, arrived_at)

    def latest(self) -> Picture | None:
        with self._lock:
            return self._picture

    def newer_than(self, sequence: int) -> Picture | None:
        """The picture if one newer than `sequence` arrived since, else None."""
        with self._lock:
            picture = self._picture
        return picture if picture is not None and picture.sequence > sequence else None

    def clear(self) -> None:
        """The stream stopped (camera off, peer gone): viewers show a placeholder."""
        with self._lock:
            self._picture = None
