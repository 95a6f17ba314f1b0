"""An RTP packet's header read from its bytes, once (RFC 3550 section 5.1): what the relay
forwards by and what a relayed call's receiver routes by, without building aiortc's
RtpPacket (the payload, a sealed frame, is sliced out, never looked at here)."""

from __future__ import annotations

import struct

HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence number, timestamp, SSRC
HEADER_BYTES = HEADER.size
VERSION_2 = 0x80
PADDING = 0x20
_EXTENSION = 0x10
_MARKER = 0x80


class Incoming:
    """One packet a sender sent, its header read once, whatever number of slots get it."""

    __slots__ = ("first", "marker", "payload_type", "sequence", "timestamp", "ssrc", "payload")

    def __init__(self, data: bytes) -> None:
        # The caller checked the length (at least HEADER_BYTES) and the bounds.
        first, second, self.sequence, self.timestamp, self.ssrc = HEADER.unpack_from(data)
        self.first = first
        self.marker = second & _MARKER
        self.payload_type = second & 0x7F
        offset = HEADER_BYTES + 4 * (first & 0x0F)
        if first & _EXTENSION:
            if offset + 4 > len(data):
                raise ValueError("truncated header extension")
            offset += 4 + 4 * int.from_bytes(data[offset + 2 : offset + 4], "big")
        if offset > len(data):
            raise ValueError("truncated header")
        self.payload = data[offset:]  # padding, if any, stays at its end (the P bit too)
