"""A relayed call's video slot, received without aiortc's receivers: each RTP packet the relay
sends on the slot (out of SRTP, routed by its SSRC) is put back into whole sealed VP8 frames
(gossip.media.vp8rtp), each opened with the slot's sender's frame key, decoded with aiortc's
VP8 decoder and kept as the newest picture (LatestFrame) of whoever the slot carries.

A frame lost, or one that does not open, spoils every picture after it until a keyframe:
`keyframe_wanted` then says so, and the relay link asks the relay (a PLI on the slot), which
asks the slot's sender, at most every so often.
"""

from __future__ import annotations

import logging

import av
import numpy as np
import trio
from aiortc.codecs.vpx import Vp8Decoder
from aiortc.jitterbuffer import JitterFrame
from av import VideoFrame

from .framecrypt import PeerFrames
from .rtpheader import Incoming
from .videoframes import LatestFrame
from .vp8rtp import FrameAssembler

logger = logging.getLogger(__name__)

TAPPED_FRAMES = 500


class RelayVideoSlot:
    """One video slot of a relayed call: its stream (SSRC, payload type, from the relay's
    answer), whose frames it carries now, and their newest picture."""

    def __init__(self, ssrc: int, payload_type: int) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.frames: PeerFrames | None = None
        self.picture: LatestFrame = LatestFrame()
        self.tap: list[bytes] | None = None  # tests: keep each whole frame as it arrived sealed
        self.decoded = 0
        self.packets = 0  # received on this slot, whoever it carried
        self.undecodable = 0  # frames that opened but VP8 refused
        self._assembler = FrameAssembler()
        self._decoder = Vp8Decoder()
        self._keyframe_failed = False

    def assign(self, frames: PeerFrames | None, picture: LatestFrame | None) -> None:
        """Carry another sender (None: nobody) into `picture` (theirs, shown as their tile):
        a fresh decoder, starting at the keyframe the relay holds the slot for."""
        self.frames = frames
        self.picture = picture if picture is not None else LatestFrame()
        self._assembler = FrameAssembler()
        self._decoder = Vp8Decoder()
        self._keyframe_failed = False

    @property
    def keyframe_wanted(self) -> bool:
        return self.frames is not None and (
            self._assembler.wants_keyframe or self._keyframe_failed
        )

    def receive(self, packet: Incoming) -> None:
        self.packets += 1
        sealed = self._assembler.add(
            packet.sequence, packet.timestamp, bool(packet.marker), packet.payload
        )
        if sealed is None:
            return
        if self.tap is not None and len(self.tap) < TAPPED_FRAMES:
            self.tap.append(sealed)
        if self.frames is None:
            return
        plain = self.frames.open("video", sealed)
        if not plain:
            self._keyframe_failed = True
            return
        keyframe = not plain[0] & 1
        if self._keyframe_failed and not keyframe:
            return
        self._keyframe_failed = False
        try:
            pictures = self._decoder.decode(JitterFrame(plain, packet.timestamp))
        except (av.FFmpegError, ValueError):
            self.undecodable += 1
            self._keyframe_failed = True
            return
        now = trio.current_time()
        for picture in pictures:
            if isinstance(picture, VideoFrame):
                self.picture.put(np.asarray(picture.to_ndarray(format="rgb24"), dtype=np.uint8),
                                 now)
                self.decoded += 1
