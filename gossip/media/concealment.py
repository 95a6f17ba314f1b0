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

`install()` makes aiortc's receivers use `ConcealingOpusDecoder` for Opus (other codecs are
untouched), through gossip.media.aiortc_seams; `install_pass_through` calls it.
"""

from __future__ import annotations

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
        self.channels = channels
        self._state = opus.create_state(SAMPLE_RATE, channels)
        self._pcm = np.zeros(MAX_PACKET_SAMPLES * channels, dtype=np.int16)
        self._pointer = self._pcm.ctypes.data_as(c_int16_pointer)
        self.concealed = 0
        self.recovered = 0  # decoded from the next packet's FEC data (or libopus's PLC if none)
        self.undecodable = 0

    def __del__(self) -> None:
        state = getattr(self, "_state", None)
        if state is not None:
            self._opus.destroy(state)

    def decode(self, encoded_frame: JitterFrame) -> list[Any]:
        lost = getattr(encoded_frame, "lost_before", 0)
        return [
            self._frame(samples, timestamp)
            for samples, timestamp in self._decoded(
                encoded_frame.data, encoded_frame.timestamp, lost
            )
        ]

    def decode_samples(
        self, data: bytes, timestamp: int, lost_before: int
    ) -> list[tuple[int, Any]]:
        """As `decode`, without av: (timestamp, interleaved int16 samples) for each frame."""
        return [
            (frame_timestamp, self._pcm[: samples * self.channels].copy())
            for samples, frame_timestamp in self._decoded(data, timestamp, lost_before)
        ]

    def _decoded(self, data: bytes, timestamp: int, lost_before: int) -> Iterator[tuple[int, int]]:
        """(samples per channel, timestamp) for each frame decoded, in order: the samples are
        in self._pcm until the next one is decoded."""
        lost = min(lost_before, MAX_CONCEALED)
        for missing in range(lost, 0, -1):
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
        samples = self._decode(data, MAX_PACKET_SAMPLES)
        if samples:
            yield samples, timestamp

    def _decode(self, data: bytes | None, frame_size: int, fec: bool = False) -> int:
        """Samples per channel decoded into self._pcm; 0 for a packet libopus refuses (a
        peer's garbage is counted and skipped, never raised into aiortc's decoder thread,
        which would end). `fec`: decode the copy of the previous packet inside `data`."""
        length = len(data) if data is not None else 0
        result = int(
            self._opus.libopus_decode(
                self._state, data, length, self._pointer, frame_size, int(fec)
            )
        )
        if result < 0:
            if not fec:  # the packet itself is decoded next and counted then
                self.undecodable += 1
            return 0
        return result

    def _frame(self, samples: int, timestamp: int) -> AudioFrame:
        assert self.channels == CHANNELS  # aiortc's receivers want stereo
        interleaved = self._pcm[: samples * CHANNELS].reshape(1, -1).copy()
        frame = AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = timestamp
        return frame


def install() -> None:
    """Make aiortc's receivers (in this process) decode Opus with concealment. Idempotent."""
    replace_decoder_factory("audio/opus", ConcealingOpusDecoder)
