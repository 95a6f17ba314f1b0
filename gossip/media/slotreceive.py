"""A relayed call's receive path without aiortc's receivers: each RTP packet the relay sends
is taken as it comes out of SRTP (gossip.media.aiortc_seams.intercept_rtp), routed by the
slot's SSRC, opened with its sender's frame key and decoded by libopus right there, and its
samples handed to the audio engine on a trio channel.

aiortc's path costs, per packet: an RtpPacket built, the router, the receiver's statistics,
a hop to the receiver's decoder thread and back to asyncio, and one asyncio-to-trio hop per
frame where the engine reads the track. With eleven streams to hear that is most of a
participant's CPU; here it is one header read, one AES-GCM open and one Opus decode.
"""

from __future__ import annotations

import trio

from .concealment import ConcealingOpusDecoder
from .decodedtrack import DecodedAudioTrack
from .format import FRAME_SAMPLES
from .framecrypt import PeerFrames
from .jitter import PassThroughBuffer, SerialTimestampMapper
from .rtpheader import Incoming

TAPPED_FRAMES = 500


class RelaySlot:
    """One receive slot of a relayed call: its stream (SSRC, payload type, from the relay's
    answer) and whose frames it carries now."""

    def __init__(self, ssrc: int, payload_type: int) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.frames: PeerFrames | None = None
        # On trial (a call moving here from the mesh still plays the sender there): frames are
        # only checked, the first authentic one sets it, nothing is decoded or played.
        self.trial: trio.Event | None = None
        self.track = DecodedAudioTrack()
        self.tap: list[bytes] | None = None  # tests: keep what arrived sealed
        self._sequence = PassThroughBuffer()
        self._timestamps = SerialTimestampMapper()
        self._decoder = ConcealingOpusDecoder(channels=1)

    def assign(self, frames: PeerFrames | None) -> DecodedAudioTrack:
        """Carry another sender (None: nobody): a fresh track, decoder and sequence."""
        self.track.stop()
        self.frames = frames
        self.trial = None
        self.track = DecodedAudioTrack()
        self._sequence = PassThroughBuffer()
        self._timestamps = SerialTimestampMapper()
        self._decoder = ConcealingOpusDecoder(channels=1)
        return self.track

    @property
    def opening(self) -> RelaySlot:
        """Where this slot's frames are opened (framecrypt.Opening): the slot itself."""
        return self

    @property
    def missing(self) -> int:
        """Packets the relay sent on this slot that never arrived (since its last sender)."""
        return self._sequence.missing

    def receive(self, packet: Incoming, arrival: float | None = None) -> None:
        """One packet from the relay; `arrival`: when it came (trio's clock), if it was read
        later (None: now)."""
        lost_before = self._sequence.admit(packet.sequence)
        if lost_before is None:  # a duplicate, or hopelessly late
            return
        if self.tap is not None and len(self.tap) < TAPPED_FRAMES:
            self.tap.append(packet.payload)
        if self.frames is None:  # nobody is assigned to this slot
            return
        if self.trial is not None:
            # Checked without a trace: the counters the other path still plays stay unused.
            if not self.trial.is_set() and self.frames.authentic("audio", packet.payload):
                self.trial.set()
            return
        plain = self.frames.open("audio", packet.payload)
        if plain is None:
            return
        timestamp = self._timestamps.map(packet.timestamp)
        for frame_timestamp, samples in self._decoder.decode_samples(
            plain, timestamp, lost_before
        ):
            if len(samples) == FRAME_SAMPLES:
                self.track.push(frame_timestamp, samples, arrival)
