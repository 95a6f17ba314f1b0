"""Our audio send path: each 20 ms slot's sealed Opus frame (one encoder per call) put in an
RTP header by us and sent on every link from one trio task, around aiortc's RTCRtpSender.

    sending = AudioSending(frames.audio)              # the call's encoder and sealer
    engine.tick_hooks.append(sending.tick)            # sent at each playout tick
    link = MediaLink(sending.track(), ...)            # or RelayLink: one track a link

aiortc's sender costs, per frame and link: an asyncio timer to pace its track, a task
switch through trio-asyncio, an RtpPacket built with its header extensions and serialized,
and four awaited coroutines to the socket. Here each slot is sent at the audio engine's
playout tick (one trio wake-up for the whole call, sending and playout alike), and per link
it is one header packed and one SRTP protect and sendto, driven in place
(gossip.media.aiortc_seams.rtp_sender_now).

What the far end needs is kept: the SSRC the link's SDP announced and the negotiated payload
type (learnt when aiortc starts the sender, which it does only once DTLS is up and the
certificate checked), sequence numbers without gaps, timestamps in the Opus clock that jump
over a talk pause (a pause is not loss), the marker on each talkspurt's first packet (RFC
3551), and the counters aiortc's RTCP sender reports read. No header extension: aiortc's
receivers route by SSRC and payload type, the relay drops them, and audio has no bandwidth
estimate that reads abs-send-time. No NACK history: audio negotiates no retransmission.

aiortc's sender keeps its track (a `SentAudioTrack`, which never yields a frame) and its
RTCP task; a link that replaces the track (a certificate that does not match the signed SDP)
or a negotiation that disables the sender stops our packets too, and the sender's stop ends
the track and the link's stream.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable

import trio
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender

from .aiortc_seams import (
    RTP_SEND_ERRORS,
    SentCounters,
    on_sender_started,
    rtp_sender_now,
    sender_enabled,
)
from .format import FRAME_SAMPLES, FRAME_SECONDS
from .framecrypt import EncodedAudio
from .rtpheader import HEADER, VERSION_2

logger = logging.getLogger(__name__)

_MARKER = 0x80
OPUS = "audio/opus"
_CACHED_SLOTS = 8  # as SourceFanout: a tick that fell further behind skips to the present


class AudioRtpStream:
    """One link's audio stream as we send it: its SSRC, payload type, sequence numbers and
    timestamps (random starting points, RFC 3550 section 5.1)."""

    __slots__ = ("ssrc", "payload_type", "sent", "failed", "_send", "_counters", "_sequence",
                 "_origin", "_last_slot")

    def __init__(self, ssrc: int, payload_type: int, send: Callable[[bytes], None],
                 counters: SentCounters | None = None) -> None:
        # The payload type comes from the far end's description: a byte's 7 bits, or no
        # stream (it would spill into the marker bit, or past the byte and stop the tick).
        if not 0 <= payload_type <= 0x7F or not 0 <= ssrc <= 0xFFFFFFFF:
            raise ValueError(f"no RTP stream with SSRC {ssrc} and payload type {payload_type}")
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.sent = 0
        self.failed = 0  # packets not sent: DTLS not up or closed
        self._send = send
        self._counters = counters
        self._sequence = random.getrandbits(16)
        self._origin = random.getrandbits(32)
        self._last_slot: int | None = None

    def packet(self, frame: bytes, slot: int) -> tuple[bytes, int]:
        """`frame` as this stream's next RTP packet for `slot`, and its timestamp."""
        timestamp = (self._origin + slot * FRAME_SAMPLES) & 0xFFFFFFFF
        talkspurt = self._last_slot is None or slot != self._last_slot + 1
        second = (_MARKER if talkspurt else 0) | self.payload_type
        return HEADER.pack(VERSION_2, second, self._sequence, timestamp, self.ssrc) + frame, \
            timestamp

    def send(self, frame: bytes, slot: int) -> None:
        data, timestamp = self.packet(frame, slot)
        try:
            self._send(data)
        except RTP_SEND_ERRORS:
            self.failed += 1
            return
        # A packet sent uses its sequence number; one not sent leaves no gap.
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._last_slot = slot
        self.sent += 1
        if self._counters is not None:
            self._counters.count(timestamp, len(frame))


class SentAudioTrack(MediaStreamTrack):
    """What a link's aiortc sender holds as its audio track: it never yields a frame (the
    sender's RTP task waits on it at no cost), while `AudioSending` sends the link's packets
    once the sender is started."""

    kind = "audio"

    def __init__(self, sending: AudioSending) -> None:
        super().__init__()
        self.sending = sending
        self.sender: RTCRtpSender | None = None
        self.stream: AudioRtpStream | None = None
        self._parked: asyncio.Future[None] | None = None

    @property
    def frames_sent(self) -> int:
        return 0 if self.stream is None else self.stream.sent

    def attach(self, sender: RTCRtpSender) -> None:
        """The aiortc sender this track was given to: we send for it once it starts."""
        self.sender = sender
        on_sender_started(sender, self._started)

    def _started(self, ssrc: int, payload_type: int, mime_type: str) -> None:
        # Runs as aiortc starts the sender (on_sender_started logs what escapes).
        sender = self.sender
        assert sender is not None
        if self.readyState != "live" or sender.track is not self:
            return  # the link took our track away (an impostor's certificate) before this
        if self.stream is not None:
            if (self.stream.ssrc, self.stream.payload_type) == (ssrc, payload_type):
                return  # a renegotiation: the same stream goes on
            self.sending.remove(self)
            self.stream = None
        if mime_type.lower() != OPUS:
            logger.warning("not sending audio: the link negotiated %s, our frames are Opus",
                           mime_type)
            return
        try:
            self.stream = AudioRtpStream(ssrc, payload_type, rtp_sender_now(sender.transport),
                                         SentCounters(sender))
        except ValueError as exc:
            logger.warning("not sending audio: %s", exc)
            return
        self.sending.add(self)

    def may_send(self) -> bool:
        """Whether the link still sends this track (not replaced, not disabled)."""
        sender = self.sender
        return sender is not None and sender.track is self and sender_enabled(sender)

    async def recv(self) -> None:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        self._parked = asyncio.get_running_loop().create_future()
        await self._parked  # set only by stop()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self.sending.remove(self)
        if self._parked is not None and not self._parked.done():
            self._parked.set_result(None)


class AudioSending:
    """A call's audio send tick: every 20 ms slot of the source, encoded and sealed once
    (`EncodedAudio`), sent on every started link. Driven by the audio engine's playout tick
    (`engine.tick_hooks.append(sending.tick)`: one trio wake-up a slot for sending and
    playout alike; a separate 20 ms timer costs about 1% of a core here), or by `run()`."""

    def __init__(self, encoded: EncodedAudio) -> None:
        self.encoded = encoded
        self.ticks = 0
        self.slots_skipped = 0  # slots a stalled process never sent
        self._tracks: dict[SentAudioTrack, None] = {}  # in the order links started
        self._epoch: float | None = None
        self._last: int | None = None
        self._started = trio.Event()

    def track(self) -> SentAudioTrack:
        """A new track for one link's aiortc sender (MediaLink, RelayLink attach it)."""
        return SentAudioTrack(self)

    @property
    def tracks(self) -> list[SentAudioTrack]:
        return list(self._tracks)

    def add(self, track: SentAudioTrack) -> None:
        self._tracks[track] = None
        self._started.set()

    def remove(self, track: SentAudioTrack) -> None:
        self._tracks.pop(track, None)

    def tick(self, due: float) -> None:
        """The tick due at `due` (a 20 ms schedule's time, not when it ran): send each slot
        that fell due since the last, at most _CACHED_SLOTS of them (a longer stall skips to
        the present). With no link started nothing is read: the source resumes at the present
        (as SourceFanout's tracks do)."""
        self.ticks += 1
        if not self._tracks:
            self._last = None
            return
        if self._epoch is None:
            self._epoch = due
        # Rounded: the schedule's times are this epoch plus multiples of 20 ms, give or take
        # a float's rounding (or re-anchored after a stall: then any phase).
        current = math.floor((due - self._epoch) / FRAME_SECONDS + 0.5)
        last = self._last
        if last is not None and current <= last:
            return
        if last is None or current - last > _CACHED_SLOTS:
            if last is not None:
                self.slots_skipped += current - last - 1
            last = current - 1
        self._last = current
        for slot in range(last + 1, current + 1):
            self.send_slot(slot)

    def send_slot(self, slot: int) -> None:
        """Encode and seal `slot` once (unless a pause sends nothing) and send it on each link."""
        frame = self.encoded.frame_for(slot)
        if frame is None:
            return
        for track in list(self._tracks):
            stream = track.stream
            if stream is not None and track.may_send():
                stream.send(frame, slot)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Tick every 20 ms on a timer of its own until cancelled (a call without an engine)."""
        task_status.started()
        while True:
            if not self._tracks:
                self._started = trio.Event()
                await self._started.wait()
            due = trio.current_time()
            while self._tracks:
                self.tick(due)
                due += FRAME_SECONDS
                await trio.sleep_until(due)
