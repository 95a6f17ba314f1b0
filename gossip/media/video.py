"""The sending side of a call's video: sources (`parse_video_source`), a fanout sharing one
source between peer links, the paced aiortc track, and `decode_counter`, which reads back the
counter and timestamp a PatternSource draws into each frame, even after a lossy codec.
"""

from __future__ import annotations

import asyncio
import binascii
import fractions
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from .defaults import DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH
from .errors import MediaError
from .videosource import (
    CODE_BITS,
    CODE_COLUMNS,
    CODE_ROWS,
    Image,
    VideoSource,
    check_size,
    code_band_height,
)

VIDEO_CLOCK_RATE = 90_000  # RTP's video clock; aiortc's encoders expect pts in this base
_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)

# The code band: square cells across the top of the frame, CODE_COLUMNS to a row, each cell
# one bit (white = 1). Sized relative to the width, so a downscaled frame still decodes; at
# 640 px a cell is 20 px, far bigger than VP8's 4x4 transform blocks, so its centre survives
# heavy quantisation. Bits: 32 counter, 48 milliseconds, 16 CRC (rejects torn or smeared reads).
_COUNTER_BITS = 32
_MS_BITS = 48
_CRC_BITS = 16
_CODE_BITS = CODE_BITS
BLACK_FPS = 5.0  # pace of the black frames a disabled track sends (see VideoSourceTrack)


class UnreadableVideo(MediaError, ValueError):
    """A video file could not be opened or holds no decodable video stream."""


class NoneSource(VideoSource):
    """No picture: black frames. The spec "none" means "send no video"; the call layer should
    pass no video track at all for it, and this source exists so code needing a VideoSource
    (a preview, a disabled track) still has one."""

    def __init__(self, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
                 fps: float = BLACK_FPS) -> None:
        check_size(width, height, fps)
        self.width, self.height, self.fps = width, height, fps
        self._black = np.zeros((height, width, 3), dtype=np.uint8)

    def read(self) -> Image:
        return self._black


class PatternSource(VideoSource):
    """A moving test picture carrying its frame counter and a wall-clock timestamp.

    Machine-readable: the code band (see `decode_counter`). Human-readable: the counter in
    big digits, on a background of diagonal stripes and a bar that both move every frame,
    so a frozen or dropped picture is visible at a glance.
    """

    def __init__(self, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
                 fps: float = DEFAULT_FPS, *, clock: Callable[[], float] = time.time) -> None:
        check_size(width, height, fps)
        self.width, self.height, self.fps = width, height, fps
        self.counter = 0
        self._clock = clock
        self._band = code_band_height(width)
        # The stripes move 4 px a frame with a 32 px period: 8 backgrounds, drawn once.
        ys, xs = np.mgrid[self._band:height, 0:width]
        self._backgrounds = [self._stripes(xs + ys + 4 * phase) for phase in range(8)]

    @staticmethod
    def _stripes(diagonal: npt.NDArray[np.int_]) -> Image:
        stripes = (diagonal // 16) % 2
        background = np.empty((*diagonal.shape, 3), dtype=np.uint8)
        background[..., 0] = 40 + 60 * stripes
        background[..., 1] = 60
        background[..., 2] = 140 - 60 * stripes
        return background

    def read(self) -> Image:
        counter = self.counter
        self.counter = (self.counter + 1) & 0xFFFFFFFF
        ms = int(self._clock() * 1000) & ((1 << _MS_BITS) - 1)
        image = np.empty((self.height, self.width, 3), dtype=np.uint8)
        below = image[self._band:]
        below[:] = self._backgrounds[counter % 8]
        bar_width = max(2, self.width // 20)
        bar_x = (8 * counter) % (self.width - bar_width)
        below[:, bar_x:bar_x + bar_width] = (230, 200, 40)
        _draw_number(below, counter, scale=max(1, self.width // 80))
        image[:self._band] = encode_band(counter, ms, self.width)
        return image


class FileSource(VideoSource):
    """A video file (any format PyAV/FFmpeg reads), scaled to the size and looped forever.

    Plays at the file's own frame rate, capped at `fps`: a faster file has frames dropped
    evenly. Decoding happens in `read`, on the caller's thread; a few ms a frame at 640x360,
    fine for demos and bots, not meant for large files.
    """

    def __init__(self, path: str | Path, width: int = DEFAULT_WIDTH,
                 height: int = DEFAULT_HEIGHT, fps: float = DEFAULT_FPS) -> None:
        check_size(width, height, fps)
        self.path = Path(path)
        self.width, self.height = width, height
        try:
            self._container = av.open(str(self.path))
            stream = self._container.streams.video[0]
        except (av.FFmpegError, IndexError) as exc:
            raise UnreadableVideo(f"{self.path}: no readable video stream ({exc})") from exc
        rate = float(stream.average_rate) if stream.average_rate else fps
        self.fps = min(rate, fps)
        self._files_frames_per_read = rate / self.fps  # >= 1
        self._owed = 0.0
        self._frames: Iterator[VideoFrame] = self._decode()
        self._image: Image | None = None
        self.loops = 0

    def _decode(self) -> Iterator[VideoFrame]:
        while True:
            produced = False
            for frame in self._container.decode(video=0):
                produced = True
                yield frame
            if not produced:
                raise UnreadableVideo(f"{self.path}: no decodable video frames")
            self.loops += 1
            self._container.seek(0)

    def read(self) -> Image:
        self._owed += self._files_frames_per_read
        while self._owed >= 1.0 or self._image is None:
            frame = next(self._frames)
            self._owed -= 1.0
            if self._owed < 1.0:  # only the frame we send is converted
                self._image = np.asarray(frame.to_ndarray(format="rgb24", width=self.width,
                                                          height=self.height), dtype=np.uint8)
        return self._image

    def close(self) -> None:
        self._container.close()


def _bits(counter: int, ms: int) -> list[int]:
    payload = counter.to_bytes(4, "big") + ms.to_bytes(6, "big")
    crc = binascii.crc_hqx(payload, 0xFFFF)
    value = int.from_bytes(payload + crc.to_bytes(2, "big"), "big")
    return [(value >> (_CODE_BITS - 1 - i)) & 1 for i in range(_CODE_BITS)]


def encode_band(counter: int, ms: int, width: int) -> Image:
    """The code band (code_band_height(width) x width x 3) for `counter` and `ms`."""
    if not 0 <= counter < 1 << _COUNTER_BITS or not 0 <= ms < 1 << _MS_BITS:
        raise ValueError("counter must fit 32 bits and ms 48 bits")
    height = code_band_height(width)
    cells = np.array(_bits(counter, ms), dtype=np.uint8).reshape(CODE_ROWS, CODE_COLUMNS)
    # Map every pixel to its cell by proportional edges, so any width works.
    rows = np.minimum(np.arange(height) * CODE_COLUMNS // width, CODE_ROWS - 1)
    cols = np.arange(width) * CODE_COLUMNS // width
    luma = cells[rows][:, cols] * np.uint8(255)
    return np.repeat(luma[:, :, None], 3, axis=2)


def decode_counter(frame: VideoFrame | npt.NDArray[np.uint8]) -> tuple[int, int] | None:
    """(counter, milliseconds) from a PatternSource frame, or None if the code does not check.

    Takes a decoded av.VideoFrame or an RGB / grey array, at any size with the pattern's
    aspect ratio (the cells are located relative to the width).
    """
    array = frame.to_ndarray(format="gray") if isinstance(frame, VideoFrame) else np.asarray(frame)
    height, width = array.shape[:2]
    cell = width / CODE_COLUMNS
    if cell < 2 or height < code_band_height(width):
        return None
    band = array[:code_band_height(width)].astype(np.float32)
    luma = band.mean(axis=2) if band.ndim == 3 else band
    # Average a 4x4 grid of samples over the middle half of each cell: its edges are where
    # the codec smears.
    offsets = np.array([0.3, 0.43, 0.57, 0.7])
    ys = ((np.arange(CODE_ROWS)[:, None] + offsets) * cell).astype(int).ravel()
    xs = ((np.arange(CODE_COLUMNS)[:, None] + offsets) * cell).astype(int).ravel()
    samples = luma[np.ix_(ys, xs)].reshape(CODE_ROWS, 4, CODE_COLUMNS, 4).mean(axis=(1, 3))
    value = 0
    for bit in (samples >= 128.0).ravel():
        value = (value << 1) | int(bit)
    raw = value.to_bytes(_CODE_BITS // 8, "big")
    payload, crc = raw[:10], int.from_bytes(raw[10:], "big")
    if binascii.crc_hqx(payload, 0xFFFF) != crc:
        return None
    return int.from_bytes(payload[:4], "big"), int.from_bytes(payload[4:], "big")


# A 3x5 digit font, one string of 15 bits per digit, row by row.
_DIGITS = ["111101101101111", "010110010010111", "111001111100111", "111001111001111",
           "101101111001001", "111100111001111", "111100111101111", "111001001001001",
           "111101111101111", "111101111001111"]


def _draw_number(image: Image, number: int, *, scale: int) -> None:
    """Draw `number` in white blocky digits at the top-left of `image` (clipped to fit)."""
    cell = 3 * scale
    x = cell
    for digit in str(number):
        glyph = np.array([int(b) for b in _DIGITS[int(digit)]], dtype=bool).reshape(5, 3)
        pixels = np.kron(glyph, np.ones((cell, cell), dtype=bool))
        y0 = cell
        h = min(pixels.shape[0], image.shape[0] - y0)
        w = min(pixels.shape[1], image.shape[1] - x)
        if h <= 0 or w <= 0:
            return
        region = image[y0:y0 + h, x:x + w]
        region[pixels[:h, :w]] = 255
        x += 4 * cell


class VideoFanout:
    """One source shared by the video tracks of several peer links, read once per frame slot.

    Slots count from the first request on the asyncio loop's clock (trio's, under
    trio_asyncio); every track asking for a slot gets the same picture, so each peer sees the
    source's own frame sequence (a PatternSource counter advances by one per slot, not by one
    per track).
    """

    def __init__(self, source: VideoSource) -> None:
        self.source = source
        self.frames_read = 0
        self._epoch: float | None = None
        self._slot = -1
        self._image: Image | None = None

    @property
    def frame_seconds(self) -> float:
        return 1.0 / self.source.fps

    def track(self) -> VideoSourceTrack:
        """A new aiortc video track for one peer link, fed from this fanout."""
        return VideoSourceTrack(self)

    def current_slot(self, now: float) -> int:
        if self._epoch is None:
            self._epoch = now
        return math.floor((now - self._epoch) / self.frame_seconds)

    def slot_deadline(self, slot: int) -> float:
        assert self._epoch is not None
        return self._epoch + slot * self.frame_seconds

    def image_for(self, slot: int) -> Image:
        """The picture for `slot`, reading the source if no track has yet (a later slot than
        the newest read gives a fresh read; slots nobody asked for are never read)."""
        if slot > self._slot or self._image is None:
            self._slot = max(slot, self._slot)
            self._image = self.source.read()
            self.frames_read += 1
        return self._image


class VideoSourceTrack(MediaStreamTrack):
    """An aiortc video track paced at the source's fps, from a VideoSource or a VideoFanout.

    `enabled = False` sends black frames at BLACK_FPS instead of the picture, and the source
    is not read. Black rather than nothing: the receiver's picture turns black at once (with
    no frames it would freeze on the last one, indistinguishable from a stall), RTP keeps
    flowing so the link's state stays observable, and a black frame costs VP8 next to nothing.
    A slow consumer (encoder behind, CPU busy) skips slots instead of queueing them.

    `set_quality` lowers what this one track sends (see gossip.media.adapt): a smaller
    picture (scaled here, straight to the encoder's yuv420p) and/or every n-th slot only.
    """

    kind = "video"

    def __init__(self, source: VideoSource | VideoFanout) -> None:
        super().__init__()
        self.fanout = source if isinstance(source, VideoFanout) else VideoFanout(source)
        self.enabled = True
        self.frames_sent = 0
        self.slots_skipped = 0
        self.stride = 1  # send every stride-th slot of the source
        self.scaled_to: tuple[int, int] | None = None  # (width, height); None: as the source
        self._slot: int | None = None
        self._resuming = False
        self._next_black: float | None = None
        self._black: Image | None = None

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if not self.enabled:
            image = await self._black_frame(loop)
        else:
            self._next_black = None
            image = await self._next_image(loop)
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        if self.scaled_to is not None and self.enabled:
            width, height = self.scaled_to
            frame = frame.reformat(width=width, height=height, format="yuv420p")
        # pts from the loop clock, so switching between the picture and black keeps time.
        frame.pts = int(loop.time() * VIDEO_CLOCK_RATE)
        frame.time_base = _TIME_BASE
        self.frames_sent += 1
        return frame

    async def _next_image(self, loop: asyncio.AbstractEventLoop) -> Image:
        fanout = self.fanout
        now = loop.time()
        current = fanout.current_slot(now)
        if self._slot is None:
            self._slot = current
        elif self._resuming:
            # Never resend a slot this track already sent, nor count the pause as skipped.
            self._slot = max(current, self._slot + self.stride)
        elif current > self._slot + self.stride:
            # Behind (encoder or CPU busy): jump to now; what we passed over was skipped.
            self.slots_skipped += (current - self._slot) // self.stride - 1
            self._slot = current
        else:
            self._slot += self.stride
        self._resuming = False
        delay = fanout.slot_deadline(self._slot) - now
        if delay > 0:
            await asyncio.sleep(delay)
        return fanout.image_for(self._slot)

    def set_quality(self, width: int, height: int, fps: float) -> None:
        """Send at most `width` x `height` (never larger than the source) and about `fps`
        frames a second (a whole fraction of the source's rate)."""
        source = self.fanout.source
        width, height = min(width, source.width), min(height, source.height)
        self.scaled_to = None if (width, height) == (source.width, source.height) \
            else (width - width % 2, height - height % 2)
        self.stride = max(1, round(source.fps / max(fps, 0.1)))

    async def _black_frame(self, loop: asyncio.AbstractEventLoop) -> Image:
        now = loop.time()
        if self._next_black is not None and self._next_black > now:
            await asyncio.sleep(self._next_black - now)
        self._next_black = max(now, self._next_black or now) + 1.0 / BLACK_FPS
        self._resuming = True
        if self._black is None:
            source = self.fanout.source
            self._black = np.zeros((source.height, source.width, 3), dtype=np.uint8)
        return self._black
