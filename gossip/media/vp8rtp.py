"""VP8 over RTP (RFC 7741) as the relay and a relayed call's receiver read it, without
aiortc's receivers: whether a packet begins a keyframe, and whole frames put back together.

The payload descriptor is RTP's, not the frame's: it is never sealed. After it comes the
sealed frame, whose first bytes (VP8's frame tag, gossip.media.framecrypt) stay clear but
authenticated, so a forwarder with no key can still tell a keyframe's first packet (a
sender who lies about it only spoils its own picture).
"""

from __future__ import annotations

from aiortc.codecs.vpx import VpxPayloadDescriptor

MAX_FRAME_PACKETS = 400  # a 640x360 keyframe is ~30 packets; more is a sender's lie
MAX_FRAME_BYTES = 512 * 1024


def starts_keyframe(payload: bytes) -> bool:
    """Whether this RTP payload is the first packet of a VP8 keyframe."""
    try:
        descriptor, rest = VpxPayloadDescriptor.parse(payload)
    except ValueError:
        return False
    # RFC 6386 section 9.1: the frame tag's lowest bit is 0 on a keyframe.
    return bool(
        descriptor.partition_start and descriptor.partition_id == 0 and rest and not rest[0] & 1
    )


class FrameAssembler:
    """One stream's packets into whole (sealed) frames: in order, without a gap, from a
    frame's first packet to its marker. A gap loses the frame it falls in, and every frame
    after it until a keyframe (they refer to what was lost): `wants_keyframe` says so."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._bytes = 0
        self._timestamp: int | None = None
        self._next_sequence: int | None = None
        self.wants_keyframe = True  # nothing decodes before the first keyframe
        self.lost_frames = 0

    def add(self, sequence: int, timestamp: int, marker: bool, payload: bytes) -> bytes | None:
        """The frame this packet completes, if it does."""
        in_order = self._next_sequence is None or sequence == self._next_sequence
        if self._next_sequence is not None and (sequence - self._next_sequence) & 0xFFFF >= 0x8000:
            return None  # late or duplicate: its frame was given up already
        self._next_sequence = (sequence + 1) & 0xFFFF
        if not in_order and self._parts:
            self._lose()
        if self._parts and timestamp != self._timestamp:
            self._lose()  # a frame without its marker packet
        try:
            descriptor, data = VpxPayloadDescriptor.parse(payload)
        except ValueError:
            self._lose()
            return None
        if not self._parts:
            if not (descriptor.partition_start and descriptor.partition_id == 0 and data):
                if not in_order:
                    self._lose()
                return None  # the middle of a frame whose start we missed
            if self.wants_keyframe and data[0] & 1:
                return None  # an interframe, undecodable until the next keyframe
            if not in_order and data[0] & 1:
                self._lose()
                return None
            self._timestamp = timestamp
        self._parts.append(data)
        self._bytes += len(data)
        if len(self._parts) > MAX_FRAME_PACKETS or self._bytes > MAX_FRAME_BYTES:
            self._lose()
            return None
        if not marker:
            return None
        frame = b"".join(self._parts)
        self._parts, self._bytes, self._timestamp = [], 0, None
        self.wants_keyframe = False
        return frame

    def _lose(self) -> None:
        self._parts, self._bytes, self._timestamp = [], 0, None
        self.lost_frames += 1
        self.wants_keyframe = True
