"""The sending side: aiortc audio tracks that pull 20 ms frames from one of our AudioSources.

In a call one microphone feeds several peer links, and each link's RTCRtpSender pulls its own
track. `SourceFanout` reads the source once per 20 ms slot of a shared clock and hands that
same frame to every track asking for the slot, so each peer hears the whole signal. Muting the
fanout (everyone) or one track (one peer) sends silence: RTP keeps flowing, the source keeps
being drained (a muted microphone must not back up), and unmuting is instant.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import math

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from .format import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, Frame, check_frame, silence
from .sources import AudioSource

_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
_CACHED_SLOTS = 8  # how far (160 ms) a slow track may lag before it skips to the present


class SourceFanout:
    """One source shared by any number of SourceTracks, read once per 20 ms slot.

    Slots count from the first read on the asyncio loop's clock (trio's clock, under
    trio_asyncio), so a source's read() happens at its slot's start on trio.current_time().
    """

    def __init__(self, source: AudioSource) -> None:
        self.source = source
        self.muted = False
        self.frames_read = 0
        self._epoch: float | None = None
        self._cache: collections.OrderedDict[int, Frame | None] = collections.OrderedDict()
        self._last_slot = -1

    def track(self) -> SourceTrack:
        """A new aiortc track for one peer link, fed from this fanout."""
        return SourceTrack(self)

    def current_slot(self, now: float) -> int:
        if self._epoch is None:
            self._epoch = now
        return math.floor((now - self._epoch) / FRAME_SECONDS)

    def slot_deadline(self, slot: int) -> float:
        """When slot `slot`'s frame is due (its start on the shared clock)."""
        assert self._epoch is not None
        return self._epoch + slot * FRAME_SECONDS

    async def next_slot(self, last: int | None) -> int:
        """The slot a track serves after `last`, once it is due (asyncio: aiortc's loop). A
        track that fell more than _CACHED_SLOTS behind, or is new, skips to the present."""
        now = asyncio.get_running_loop().time()
        current = self.current_slot(now)
        if last is None or current - last > _CACHED_SLOTS:
            return current
        delay = self.slot_deadline(last + 1) - now
        if delay > 0:
            await asyncio.sleep(delay)
        return last + 1

    def frame_for(self, slot: int) -> Frame | None:
        """The source's frame for `slot`, reading the source if no track has yet; None when
        the source sends nothing for it (a pause in voice activation or push-to-talk)."""
        if slot > self._last_slot:
            # Slots nobody asked for (no track was running) are not read: the source resumes
            # at the present instead of replaying the past.
            self._last_slot = slot
            frame = check_frame(self.source.read())
            self.frames_read += 1
            self._cache[slot] = frame if self.source.transmitting else None
            while len(self._cache) > _CACHED_SLOTS:
                self._cache.popitem(last=False)
        if slot in self._cache and self._cache[slot] is None:
            return None
        cached = self._cache.get(slot)
        if cached is None or self.muted:
            return silence()
        return cached


class SourceTrack(MediaStreamTrack):
    """An aiortc audio track (48 kHz mono s16, 20 ms frames) paced in real time.

    Build it from an AudioSource (a private fanout is made) or get one from
    `SourceFanout.track()`. `muted` silences this track only.
    """

    kind = "audio"

    def __init__(self, source: AudioSource | SourceFanout) -> None:
        super().__init__()
        self.fanout = source if isinstance(source, SourceFanout) else SourceFanout(source)
        self.muted = False
        self.frames_sent = 0
        self._slot: int | None = None
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        fanout = self.fanout
        while True:
            self._slot = await fanout.next_slot(self._slot)
            samples = fanout.frame_for(self._slot)
            if samples is not None:
                break
            # A talk pause: no frame, but media time runs on, so receivers see the RTP
            # timestamps jump with no sequence gap (a pause, not loss), as with Opus DTX.
            self._pts += FRAME_SAMPLES
        if self.muted:
            samples = silence()
        frame = AudioFrame.from_ndarray(
            np.ascontiguousarray(samples).reshape(1, FRAME_SAMPLES), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = _TIME_BASE
        frame.pts = self._pts
        self._pts += FRAME_SAMPLES
        self.frames_sent += 1
        return frame
