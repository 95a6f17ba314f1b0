"""The relay's outgoing streams: the RTP header each listener's slot gets (RFC 3550
section 5.1) for a packet read with gossip.media.rtpheader.

A slot is one outgoing stream (its own SSRC and payload type, from the relay's answer) that
carries one sender at a time. Its sequence numbers and timestamps are offsets of the sender's,
re-anchored when the slot changes hands, so the listener sees one continuous stream: its
SRTP replay window and its jitter buffer (which counts skipped sequence numbers as losses to
conceal) never see a step back or a jump. The payload, a sealed frame, is never looked at.
Header extensions and CSRCs are dropped: none applies to the listener's slot (the sender's
MID names the sender's section, and its audio level is not the relay's to pass on).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

from gossip.media.rtpheader import HEADER, PADDING, VERSION_2, Incoming

SAMPLES_PER_MS = 48  # Opus's RTP clock (RFC 7587)
FRAME_SAMPLES = 960  # the smallest step an audio slot's timestamp takes when it changes hands
VIDEO_TICKS_PER_MS = 90  # VP8's RTP clock (RFC 7741)
VIDEO_MIN_STEP = 3000  # a 30 fps frame: the smallest step of a video slot changing hands


class SlotStream:
    """One slot of one listener: the stream it sends, and whose packets it carries now."""

    __slots__ = (
        "ssrc",
        "payload_type",
        "send",
        "backlog",
        "ticks_per_ms",
        "min_step",
        "sender",
        "sent",
        "awaiting_keyframe",
        "_sequence",
        "_timestamp",
        "_last_ms",
        "_anchor",
        "_sequence_offset",
        "_timestamp_offset",
    )

    def __init__(
        self,
        ssrc: int,
        payload_type: int,
        send: Callable[[bytes], Awaitable[None]],
        *,
        ticks_per_ms: int = SAMPLES_PER_MS,
        min_step: int = FRAME_SAMPLES,
        backlog: Callable[[], int] = lambda: 0,
    ) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.send = send
        self.backlog = backlog  # bytes queued unsent for this slot's listener
        self.ticks_per_ms = ticks_per_ms
        self.min_step = min_step
        self.sender = ""
        self.sent = 0
        self.awaiting_keyframe = True  # a video slot forwards nothing before a keyframe
        # Random starting points (RFC 3550 section 5.1): the listener learns nothing of when
        # the slot began.
        self._sequence = random.getrandbits(16)
        self._timestamp = random.getrandbits(32)
        self._last_ms: int | None = None
        self._anchor = True
        self._sequence_offset = 0
        self._timestamp_offset = 0

    def assign(self, sender: str) -> None:
        """Carry `sender`'s packets from the next one on ("" for nobody)."""
        self.sender = sender
        self._anchor = True
        self.awaiting_keyframe = True

    def rewrite(self, packet: Incoming, arrival_ms: int) -> bytes:
        """`packet` as this slot sends it."""
        if self._anchor:
            # The new sender's next packet follows the slot's last one; its timestamp moves
            # on by the time that passed, so a pause still looks like one.
            step = self.min_step
            if self._last_ms is not None:
                step = max(step, (arrival_ms - self._last_ms) * self.ticks_per_ms)
            self._sequence_offset = (self._sequence + 1 - packet.sequence) & 0xFFFF
            self._timestamp_offset = (self._timestamp + step - packet.timestamp) & 0xFFFFFFFF
            self._anchor = False
        sequence = (packet.sequence + self._sequence_offset) & 0xFFFF
        timestamp = (packet.timestamp + self._timestamp_offset) & 0xFFFFFFFF
        if 0 < (sequence - self._sequence) & 0xFFFF < 0x8000:  # newer (a reordered one is not)
            self._sequence = sequence
            self._timestamp = timestamp
        self._last_ms = arrival_ms
        return (
            HEADER.pack(
                VERSION_2 | (packet.first & PADDING),
                packet.marker | self.payload_type,
                sequence,
                timestamp,
                self.ssrc,
            )
            + packet.payload
        )
