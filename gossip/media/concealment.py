"""Opus loss recovery in the receive path: a lost packet is played as the copy of it the next
packet carries (in-band FEC, gossip.media.opusfec), or failing that as libopus's own
concealment (a continuation of the voice, fading if more are lost), instead of silence.

aiortc decodes Opus with PyAV, whose libopus decoder cannot conceal: an empty packet means
end of stream there, and FFmpeg exposes neither PLC nor in-band FEC. So the audio receiver's
decoder is libopus itself, through opuslib-next (ctypes; the call releases the GIL, ~40 us a
frame). Our PassThroughBuffer (gossip.media.jitter) sees RTP sequence numbers and marks each
frame with how many packets were missing just before it (`SequencedFrame.lost_before`); a
voice-activation pause advances timestamps with no sequence gap, so it is never concealed.
The last missing packet is decoded from the FEC data of the one that arrived (libopus falls
back to concealment itself when that packet has none); any before it are concealed.

A stall (the process or the sender not scheduled) makes a frame late rather than lost: the
jitter buffer then holds its slot and the engine asks this decoder for concealment at playout
(`conceal_before`), as NetEq's expand does; the late packet is decoded when it comes and
plays next (merge), so libopus sees exactly the sequence the listener hears: packets, the
concealed frames, then the late packet, as after a loss. The engine finds the decoder of a
stream through its frames (`decoder_of`).

`install()` makes aiortc's receivers use `ConcealingOpusDecoder` for Opus (other codecs are
untouched), through gossip.media.aiortc_seams; `install_pass_through` calls it.
"""

from __future__ import annotations

import collections
import ctypes
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame
from av import AudioFrame

from .aiortc_seams import replace_decoder_factory
from .format import FRAME_SAMPLES, SAMPLE_RATE

CHANNELS = 2  # what aiortc's Opus decoder gives, so the engine sees the same frames
MAX_PACKET_SAMPLES = 5760  # Opus's longest packet: 120 ms at 48 kHz
# Packets concealed before one that arrived; a longer gap is a burst better heard as silence
# than as a voice stretched over it (libopus fades its concealment out anyway).
MAX_CONCEALED = 5
# Copies of the decoder's state kept, one before each of the last frames decoded: frames
# decoded but not yet at the playout are fewer than this.
IN_FLIGHT_FRAMES = 10
# The playout never waits longer than this for the decoder thread's lock (it holds it ~40 us
# a frame, longer only if the kernel stops it meanwhile).
LOCK_WAIT = 0.002


class SequencedFrame(JitterFrame):
    """A received frame with how many packets were missing just before it (RTP sequence
    numbers, not timestamps: a talk pause is not a loss)."""

    def __init__(self, data: bytes, timestamp: int, lost_before: int = 0) -> None:
        super().__init__(data, timestamp)
        self.lost_before = lost_before


class ConcealingOpusDecoder(Decoder):
    """libopus's decoder: each packet decoded as aiortc's would be (48 kHz stereo s16, pts
    = the frame's timestamp), preceded by frames for the packets lost before it: the last
    one recovered from this packet's in-band FEC, the others concealed."""

    def __init__(self, channels: int = CHANNELS) -> None:
        from opuslib_next.api import c_int16_pointer
        from opuslib_next.api import decoder as opus

        self._opus = opus
        self.channels = channels  # 2 for aiortc's receivers; a relay slot of ours takes 1
        self._state = opus.create_state(SAMPLE_RATE, channels)
        # libopus's decoder state is one flat block (offsets, no pointers; its own tests copy
        # it): a copy taken before each frame is decoded lets the playout conceal a slot whose
        # frame was decoded but has not reached it yet, from the state just before that frame,
        # in a scratch state, leaving the decoder's own alone.
        self._size = int(opus.libopus_get_size(channels))
        self._before: collections.deque[tuple[int, ctypes.Array[ctypes.c_char]]] = (
            collections.deque())
        self._scratch = opus.create_state(SAMPLE_RATE, channels)
        self._scratch_for: int | None = None  # the slot the scratch state is concealing
        self._pcm = np.zeros(MAX_PACKET_SAMPLES * channels, dtype=np.int16)
        self._pointer = self._pcm.ctypes.data_as(c_int16_pointer)
        # decode() runs on aiortc's decoder thread, conceal_before() on the playout's.
        self._lock = threading.Lock()
        self._last_pts: int | None = None  # the newest frame handed on, by timestamp
        self.concealed = 0
        self.expanded = 0  # frames concealed at playout, for a packet late rather than lost
        self.expanded_from_copy = 0  # ... from a copy of the state (that packet was decoded)
        self.recovered = 0  # decoded from the next packet's FEC data (or libopus's PLC if none)
        self.undecodable = 0

    def __del__(self) -> None:
        for name in ("_state", "_scratch"):
            state = getattr(self, name, None)
            if state is not None:
                self._opus.destroy(state)

    def decode(self, encoded_frame: JitterFrame) -> list[Any]:
        lost = getattr(encoded_frame, "lost_before", 0)
        with self._lock:
            frames = [
                self._frame(samples, timestamp)
                for samples, timestamp in self._decoded(
                    encoded_frame.data, encoded_frame.timestamp, lost
                )
            ]
            if frames:
                self._last_pts = frames[-1].pts
        return frames

    def decode_samples(
        self, data: bytes, timestamp: int, lost_before: int
    ) -> list[tuple[int, Any]]:
        """As `decode`, without av (a relay slot of ours): (timestamp, interleaved int16
        samples) for each frame."""
        with self._lock:
            decoded = [
                (frame_timestamp, self._pcm[: samples * self.channels].copy())
                for samples, frame_timestamp in self._decoded(data, timestamp, lost_before)
            ]
            if decoded:
                self._last_pts = decoded[-1][0]
        return decoded

    def has_decoded(self, timestamp: int) -> bool:
        """Whether the frame for the slot at `timestamp` is among the last ones decoded
        (then it is on its way to the playout). Only a frame really decoded counts, so a
        peer's timestamps cannot make the playout wait for slots it never sent."""
        if not self._lock.acquire(timeout=LOCK_WAIT):
            return False
        try:
            return any(pts == timestamp for pts, _ in self._before)
        finally:
            self._lock.release()

    def conceal_before(self, timestamp: int) -> AudioFrame | None:
        """libopus's concealment for the slot at `timestamp`, whose packet is late; None if
        this decoder has decoded nothing yet (nothing to continue). If it already decoded
        that slot (the frame is on its way to the playout), the concealment continues from a
        copy of the state before it, so the decoder's own state is not put out of step; None
        if that copy is no longer kept."""
        if not self._lock.acquire(timeout=LOCK_WAIT):
            return None  # the decoder thread holds it (descheduled?): silence for a tick
        try:
            if self._last_pts is None:
                return None
            if self._last_pts < timestamp:
                samples = self._decode(None, FRAME_SAMPLES)
                self.expanded += bool(samples)
            else:
                samples = self._conceal_from_copy(timestamp)
                self.expanded_from_copy += bool(samples)
            return self._frame(samples, timestamp) if samples else None
        finally:
            self._lock.release()

    def _conceal_from_copy(self, timestamp: int) -> int:
        """Concealment for a slot this decoder already decoded (its frame is on its way to
        the playout), continued from the state just before that frame, in the scratch
        state; 0 if no copy of that state is kept any more."""
        if self._scratch_for != timestamp:
            copy = next((state for pts, state in self._before if pts == timestamp), None)
            if copy is None:
                return 0
            ctypes.memmove(self._address(self._scratch), copy, self._size)
            self._scratch_for = timestamp
        return self._decode(None, FRAME_SAMPLES, state=self._scratch)

    def _remember(self, timestamp: int) -> None:
        """Keep a copy of the state as it is before decoding the frame at `timestamp`."""
        if len(self._before) > IN_FLIGHT_FRAMES:
            _, copy = self._before.popleft()
        else:
            copy = ctypes.create_string_buffer(self._size)
        ctypes.memmove(copy, self._address(self._state), self._size)
        self._before.append((timestamp, copy))

    @staticmethod
    def _address(state: Any) -> int:
        return int(ctypes.cast(state, ctypes.c_void_p).value or 0)

    def _decoded(self, data: bytes, timestamp: int, lost_before: int) -> Iterator[tuple[int, int]]:
        """(samples per channel, timestamp) for each frame decoded, in order, with the lock
        held: the samples are in self._pcm until the next one is decoded."""
        lost = min(lost_before, MAX_CONCEALED)
        for missing in range(lost, 0, -1):
            self._remember(timestamp - missing * FRAME_SAMPLES)
            samples = 0
            if missing == 1:
                # The packet just before this one: its copy is in this one (20 ms, as we send).
                samples = self._decode(data, FRAME_SAMPLES, fec=True)
                self.recovered += bool(samples)
            if not samples:
                # NULL data: libopus continues the signal from its state.
                samples = self._decode(None, FRAME_SAMPLES)
                self.concealed += bool(samples)
            if samples:
                yield samples, timestamp - missing * FRAME_SAMPLES
        self._remember(timestamp)
        samples = self._decode(data, MAX_PACKET_SAMPLES)
        if samples:
            yield samples, timestamp

    def _decode(
        self, data: bytes | None, frame_size: int, fec: bool = False, state: Any = None
    ) -> int:
        """Samples per channel decoded into self._pcm; 0 for a packet libopus refuses (a
        peer's garbage is counted and skipped, never raised into aiortc's decoder thread,
        which would end). `fec`: decode the copy of the previous packet inside `data`."""
        length = len(data) if data is not None else 0
        result = int(
            self._opus.libopus_decode(
                self._state if state is None else state, data, length, self._pointer,
                frame_size, int(fec),
            )
        )
        if result < 0:
            if not fec:  # the packet itself is decoded next and counted then
                self.undecodable += 1
            return 0
        return result

    def _frame(self, samples: int, timestamp: int) -> AudioFrame:
        # aiortc's receivers want stereo; a mono decoder of ours conceals a tick in mono.
        interleaved = self._pcm[: samples * self.channels].reshape(1, -1).copy()
        layout = "stereo" if self.channels == CHANNELS else "mono"
        frame = AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
        frame.sample_rate = SAMPLE_RATE
        frame.pts = timestamp
        # How the playout finds who can conceal for this stream. A fresh holder per frame:
        # PyAV keys a frame's opaque object by its id and forgets it when that frame is freed,
        # so one object on many frames is lost from all of them with the first.
        frame.opaque = _MadeBy(self)
        return frame


class _MadeBy:
    __slots__ = ("decoder",)

    def __init__(self, decoder: ConcealingOpusDecoder) -> None:
        self.decoder = decoder


def decoder_of(frame: AudioFrame) -> ConcealingOpusDecoder | None:
    """The decoder that made `frame`, if it is ours (other codecs, other paths: None)."""
    made_by = frame.opaque
    return made_by.decoder if isinstance(made_by, _MadeBy) else None


def install() -> None:
    """Make aiortc's receivers (in this process) decode Opus with concealment. Idempotent."""
    replace_decoder_factory("audio/opus", ConcealingOpusDecoder)
