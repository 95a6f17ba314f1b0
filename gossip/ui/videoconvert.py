"""Pictures made ready for Dear PyGui textures, off the render thread: each stream's newest
RGB picture, scaled down to fit a tile and turned into the flat float32 RGBA array a dynamic
texture takes. A converter thread does this at a bounded rate, only for streams that have a
newer picture; the render thread takes the finished arrays and only copies them in. Each
pass that hands over something calls `on_ready`, which wakes the render thread (it sleeps
between frames while nothing changes)."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gossip.media.videoframes import Image, LatestFrame

from .videofeeds import VideoFeeds

log = logging.getLogger("gossip.ui.video")

CONVERT_HZ = 20.0  # per stream at most; the senders' pattern and camera run at 10-30 fps
Pixels = npt.NDArray[np.float32]  # flat: height * width * 4, RGBA in 0..1


@dataclass(frozen=True)
class TilePicture:
    """One stream's picture, ready for a texture; `pixels` None means the stream stopped
    (camera off, peer gone): the tile shows its placeholder."""

    sequence: int
    width: int
    height: int
    pixels: Pixels | None


def fit_size(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The size a `width` x `height` picture is converted to for a box: as large as fits,
    keeping its shape, never enlarged (the GPU scales a small texture up for free)."""
    if width <= 0 or height <= 0:
        raise ValueError("a picture has a positive size")
    scale = min(1.0, box_width / width, box_height / height)
    return max(1, int(width * scale)), max(1, int(height * scale))


@functools.lru_cache(maxsize=64)
def _sample_indices(size: int, target: int) -> npt.NDArray[np.intp]:
    # The centre of each target pixel, mapped back: nearest neighbour without a drift.
    return ((np.arange(target) * 2 + 1) * size // (2 * target)).astype(np.intp)


def to_texture(image: Image, width: int, height: int) -> Pixels:
    """An RGB uint8 picture as a `width` x `height` texture's flat RGBA float32 values."""
    src_height, src_width = image.shape[:2]
    if (width, height) == (src_width, src_height):
        scaled = image
    elif src_width % width == 0 and src_height % height == 0:
        scaled = image[::src_height // height, ::src_width // width]  # plain striding
    else:
        scaled = image[_sample_indices(src_height, height)[:, None],
                       _sample_indices(src_width, width)[None, :]]
    out = np.empty((height, width, 4), dtype=np.float32)
    np.multiply(scaled[:, :, :3], np.float32(1.0 / 255.0), out=out[:, :, :3])
    out[:, :, 3] = 1.0
    return out.reshape(-1)


@dataclass
class _Seen:
    stream: LatestFrame
    sequence: int = 0
    box: tuple[int, int] = (0, 0)  # the tile size it was converted for
    showing: bool = False  # the last thing handed over was a picture (not a stop)


class VideoConverter:
    """Converts the feeds' newest pictures for tiles of at most `box` pixels.

    `convert_once` does one pass (tests call it directly); `start` runs passes on a thread of
    its own at `rate` Hz until `stop`. `take` hands the render thread what is ready, newest
    only: a picture nobody took is replaced, never queued.
    """

    def __init__(self, feeds: VideoFeeds, *, rate: float = CONVERT_HZ,
                 on_ready: Callable[[], None] | None = None) -> None:
        self.feeds = feeds
        self.rate = rate
        self._on_ready = on_ready
        self.conversions = 0  # pictures converted, for tests and the curious
        self._lock = threading.Lock()
        self._converted = threading.Condition(self._lock)
        self._box = (320, 180)
        self._seen: dict[str, _Seen] = {}
        self._ready: dict[str, TilePicture] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def set_box(self, width: int, height: int) -> None:
        """The tile size pictures should fit; a change reconverts every stream's picture."""
        box = (max(1, int(width)), max(1, int(height)))
        with self._lock:
            if box == self._box:
                return
            self._box = box

    @property
    def box(self) -> tuple[int, int]:
        return self._box

    def convert_once(self) -> int:
        """Convert each stream that has a newer picture than last time; how many were."""
        streams = self.feeds.snapshot().streams()
        with self._lock:
            box = self._box
            for user in [user for user in self._seen if user not in streams]:
                del self._seen[user]
                self._ready.pop(user, None)
            work = []
            for user, stream in streams.items():
                seen = self._seen.get(user)
                if seen is None or seen.stream is not stream:
                    seen = self._seen[user] = _Seen(stream)
                work.append((user, seen))
        converted = 0
        handed = 0
        for user, seen in work:
            # Another tile size: the newest picture again, even if it was converted before.
            picture = seen.stream.newer_than(seen.sequence if seen.box == box else 0)
            if picture is None:
                if seen.showing and seen.stream.latest() is None:
                    seen.showing = False
                    self._hand_over(user, TilePicture(seen.stream.frames, 0, 0, None))
                    handed += 1
                continue
            height, width = picture.image.shape[:2]
            size = fit_size(width, height, *box)
            ready = TilePicture(picture.sequence, *size, to_texture(picture.image, *size))
            seen.sequence, seen.box, seen.showing = picture.sequence, box, True
            self._hand_over(user, ready)
            converted += 1
        with self._lock:
            self.conversions += converted
            self._converted.notify_all()
        if (converted or handed) and self._on_ready is not None:
            self._on_ready()
        return converted

    def wait_for_conversions(self, count: int, timeout: float) -> bool:
        """Block until `count` pictures have been converted in all (scripts, tests)."""
        with self._converted:
            return self._converted.wait_for(lambda: self.conversions >= count, timeout)

    def _hand_over(self, user: str, picture: TilePicture) -> None:
        with self._lock:
            if user in self._seen:
                self._ready[user] = picture

    def take(self) -> dict[str, TilePicture]:
        """What became ready since the last call (render thread)."""
        with self._lock:
            ready, self._ready = self._ready, {}
        return ready

    # -- the thread -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="gossip-video", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(5.0)

    def _run(self) -> None:
        # Paced by the stop event's timeout: the pass rate, and an immediate end on stop.
        while not self._stopping.wait(1.0 / self.rate):
            try:
                self.convert_once()
            except Exception:  # a bad picture must not end the video for the whole call
                log.exception("converting a video picture failed")
