"""A call on the relay: its participants, each one RTCPeerConnection, and the forwarding.

Each participant sends on one audio section and receives on its slots (gossip.wire.relay).
What a participant sends is sealed Opus (the relay has no key, and never decodes). Two ways
to forward it, `Forwarding`:

* "packets" (the default, as an SFU does): each RTP packet is taken as it comes out of SRTP
  on the sender's DTLS transport, before aiortc parses it, checked against the bounds, its
  header rewritten for each listener's slot (gossip.relay.slots) and SRTP-protected and sent on
  that listener's transport. No aiortc receiver, jitter buffer or sender touches it.
* "frames" (the first relay, kept as the benchmarks' baseline): each frame is read at the
  receiver's jitter buffer and put on the slot's track, which aiortc packetizes again.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import RTCCertificate
from aiortc.rtp import RtpPacket
from aiortc.sdp import SessionDescription
from av.packet import Packet

from gossip.media import icehosts
from gossip.media.aiortc_seams import (
    RTP_SEND_ERRORS,
    RtpHandler,
    depayloaded,
    enlarge_receive_buffers,
    intercept_rtp,
    rtp_sender,
    use_certificate,
    wrap_receiver_buffer,
)
from gossip.media.rtpheader import HEADER_BYTES, Incoming
from gossip.wire.relay import Slot

from .slots import SlotStream

logger = logging.getLogger(__name__)

_AUDIO_TIME_BASE = fractions.Fraction(1, 48_000)
QUEUED_FRAMES = 10  # 200 ms: a slot's reader that falls further behind loses the oldest
MAX_FRAME_BYTES = 1500  # an Opus frame at our bitrate is ~250 bytes; anything larger is dropped
# A packet: the frame, and a header with what CSRCs and extensions a sender may add.
MAX_PACKET_BYTES = MAX_FRAME_BYTES + 128
# A sender's rate: 50 frames a second, with room for bursts after a stall; and its bitrate.
SENDER_PACKETS_PER_SECOND = 100
SENDER_BURST_SECONDS = 1.0
SENDER_KBPS = 256  # our Opus (with in-band FEC), sealed, is ~50 kbit/s with its headers

# Each participant's UDP socket: ~2 s of its packets, so a relay the machine did not run for a
# moment forwards them late rather than the kernel dropping them (the default, ~200 KiB,
# overflowed within a fraction of a second on a busy 2-core machine).
RECEIVE_BUFFER_BYTES = 1 << 20

Forwarding = Literal["packets", "frames"]


class RoomFull(Exception):
    """The call has as many participants as the relay allows, or the name is taken."""


@dataclass
class SenderStats:
    frames: int = 0
    bytes: int = 0
    dropped_large: int = 0
    dropped_rate: int = 0  # past the sender's packet rate or bitrate
    dropped_foreign: int = 0  # not the SSRC and payload type its offer announced, or malformed


class SenderBudget:
    """A token bucket on a sender's packets and bytes: what it sends past the rate is
    dropped before anything else is done with it (each packet costs one rewrite and one
    SRTP protect per listener)."""

    __slots__ = ("packets_per_ms", "bytes_per_ms", "burst_ms", "_packets", "_bytes", "_last_ms")

    def __init__(self, packets_per_second: float, kbps: float, burst_seconds: float) -> None:
        self.packets_per_ms = packets_per_second / 1000
        self.bytes_per_ms = kbps / 8
        self.burst_ms = burst_seconds * 1000
        self._packets = packets_per_second * burst_seconds
        self._bytes = self.bytes_per_ms * self.burst_ms
        self._last_ms: int | None = None

    def take(self, size: int, now_ms: int) -> bool:
        if self._last_ms is not None and now_ms > self._last_ms:
            elapsed = min(now_ms - self._last_ms, self.burst_ms)
            self._packets = min(
                self._packets + elapsed * self.packets_per_ms, self.packets_per_ms * self.burst_ms
            )
            self._bytes = min(
                self._bytes + elapsed * self.bytes_per_ms, self.bytes_per_ms * self.burst_ms
            )
        self._last_ms = now_ms
        if self._packets < 1 or self._bytes < size:
            return False
        self._packets -= 1
        self._bytes -= size
        return True


class IdleTrack(MediaStreamTrack):
    """A slot's track when packets are forwarded around aiortc's sender: it never gives a
    frame (a sender without any track would wake every 20 ms to look for one)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._ended = asyncio.Event()

    async def recv(self) -> Packet:  # type: ignore[override]
        await self._ended.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._ended.set()


class SlotTrack(MediaStreamTrack):
    """What one slot sends: the sealed frames of whoever the slot is assigned to."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: collections.deque[tuple[bytes, int]] = collections.deque(maxlen=QUEUED_FRAMES)
        self._ready = asyncio.Event()

    def push(self, frame: bytes, timestamp: int) -> None:
        self._queue.append((frame, timestamp))
        self._ready.set()

    def clear(self) -> None:
        self._queue.clear()

    async def recv(self) -> Packet:  # type: ignore[override]
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        frame, timestamp = self._queue.popleft()
        packet = Packet(frame)
        packet.pts = timestamp
        packet.time_base = _AUDIO_TIME_BASE
        return packet


class ForwardingBuffer:
    """Stands in for a participant's receive jitter buffer: each frame goes to the room, and
    nothing goes to the decoder."""

    def __init__(self, room: Room, user: str) -> None:
        self.room = room
        self.user = user

    @property
    def capacity(self) -> int:
        return 1

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        frame = depayloaded(packet)
        if frame:
            self.room.forward(self.user, frame, packet.timestamp)
        return False, None


class RelayParticipant:
    """One participant's hop: the relay's end of its DTLS-SRTP connection, and its slots."""

    def __init__(
        self,
        user: str,
        certificate: RTCCertificate,
        ice_hosts: Sequence[str],
        notify: Callable[[Slot], None],
        forwarding: Forwarding = "packets",
    ) -> None:
        self.user = user
        self.notify = notify
        self.forwarding = forwarding
        self.ice_hosts = list(ice_hosts)
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        use_certificate(self.pc, certificate)
        self.slots: dict[str, SlotTrack] = {}  # mid -> track ("frames")
        self.streams: dict[str, SlotStream] = {}  # mid -> stream ("packets")
        self.assigned: dict[str, str] = {}  # sender -> mid
        self.ssrc: int | None = None  # what it sends on, as its offer says ("packets")
        self.payload_type: int | None = None

    async def answer(self, offer: str, room: Room) -> str:
        """(asyncio side) Answer the participant's offer: its first section is what it
        sends (forwarded), every further audio section a slot."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        transceivers = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
        if not transceivers:
            raise ValueError("the offer has no audio section")
        sending, *slots = transceivers
        sending.direction = "recvonly"
        if self.forwarding == "frames":
            wrap_receiver_buffer(sending.receiver, lambda _: ForwardingBuffer(room, self.user))
        for transceiver in slots:
            transceiver.direction = "sendonly"
            assert transceiver.mid is not None
            if self.forwarding == "frames":
                track = SlotTrack()
                transceiver.sender.replaceTrack(track)
                self.slots[transceiver.mid] = track
            else:
                transceiver.sender.replaceTrack(IdleTrack())
        answer = await self.pc.createAnswer()
        await icehosts.gather_with_hosts(self.ice_hosts, self.pc.setLocalDescription, answer)
        sdp: str = self.pc.localDescription.sdp
        if self.forwarding == "packets":
            self._take_packets(offer, sdp, sending.mid, room)
        return sdp

    def _take_packets(self, offer: str, answer: str, sending_mid: str | None, room: Room) -> None:
        """Forward what arrives on our DTLS transport ourselves: the SSRC the participant
        sends on (its offer), and each slot's SSRC and payload type (our answer)."""
        transport = self.pc.getTransceivers()[0].receiver.transport
        if any(
            t.receiver.transport is not transport or t.sender.transport is not transport
            for t in self.pc.getTransceivers()
        ):
            raise ValueError("the offer must bundle every section on one transport")
        offered = {m.rtp.muxId: m for m in SessionDescription.parse(offer).media}
        sending = offered.get(sending_mid) if sending_mid is not None else None
        if sending is None or len(sending.ssrc) != 1:
            raise ValueError("the audio section sent on must announce one SSRC")
        send = rtp_sender(transport)
        for media in SessionDescription.parse(answer).media:
            if not media.rtp.codecs or media.rtp.codecs[0].mimeType.lower() != "audio/opus":
                raise ValueError("every audio section must use Opus")
            if media.rtp.muxId == sending_mid:
                self.ssrc = sending.ssrc[0].ssrc
                self.payload_type = media.rtp.codecs[0].payloadType
            elif media.rtp.muxId is not None and media.ssrc:
                ssrc, payload_type = media.ssrc[0].ssrc, media.rtp.codecs[0].payloadType
                assert ssrc is not None and payload_type is not None  # we made the answer
                self.streams[media.rtp.muxId] = SlotStream(ssrc, payload_type, send)
        intercept_rtp(transport, room.receiver_for(self))
        enlarge_receive_buffers(transport, RECEIVE_BUFFER_BYTES)

    def slot_mids(self) -> list[str]:
        return list(self.slots if self.forwarding == "frames" else self.streams)

    def free_slot(self) -> str | None:
        taken = set(self.assigned.values())
        return next((mid for mid in self.slot_mids() if mid not in taken), None)


class Room:
    """Who is in one call on this relay, and who hears whom on which slot."""

    def __init__(
        self,
        call: str,
        max_participants: int,
        *,
        sender_packets_per_second: float = SENDER_PACKETS_PER_SECOND,
        sender_kbps: float = SENDER_KBPS,
    ) -> None:
        self.call = call
        self.max_participants = max_participants
        self.sender_packets_per_second = sender_packets_per_second
        self.sender_kbps = sender_kbps
        self.participants: dict[str, RelayParticipant] = {}
        self.stats: dict[str, SenderStats] = collections.defaultdict(SenderStats)
        # sender -> the slot streams that carry it now ("packets"): kept as membership
        # changes, so a packet finds its listeners with one lookup.
        self.routes: dict[str, list[SlotStream]] = {}

    def admit(self, participant: RelayParticipant) -> None:
        if participant.user in self.participants:
            raise RoomFull(f"{participant.user} is in this call already")
        if len(self.participants) >= self.max_participants:
            raise RoomFull(f"the relay takes {self.max_participants} participants a call")
        for other in self.participants.values():
            self._assign(other, participant.user)
            self._assign(participant, other.user)
        self.participants[participant.user] = participant
        self._route()

    def remove(self, participant: RelayParticipant) -> None:
        if self.participants.get(participant.user) is not participant:
            return
        del self.participants[participant.user]
        for other in self.participants.values():
            mid = other.assigned.pop(participant.user, None)
            if mid is not None:
                if mid in other.slots:
                    other.slots[mid].clear()
                if mid in other.streams:
                    other.streams[mid].assign("")
                other.notify(Slot(mid, ""))
        self._route()

    def _assign(self, listener: RelayParticipant, sender: str) -> None:
        mid = listener.free_slot()
        if mid is None:
            logger.info("call %s: %s has no free slot for %s", self.call, listener.user, sender)
            return
        listener.assigned[sender] = mid
        if mid in listener.streams:
            listener.streams[mid].assign(sender)
        listener.notify(Slot(mid, sender))

    def _route(self) -> None:
        self.routes = {user: [] for user in self.participants}
        for listener in self.participants.values():
            for sender, mid in listener.assigned.items():
                stream = listener.streams.get(mid)
                if stream is not None and sender in self.routes:
                    self.routes[sender].append(stream)

    def receiver_for(self, participant: RelayParticipant) -> RtpHandler:
        """What takes `participant`'s RTP packets as they come out of SRTP: every bound
        before any parsing, then one rewrite and one send per listener."""
        sender = participant.user
        stats = self.stats[sender]
        budget = SenderBudget(self.sender_packets_per_second, self.sender_kbps,
                              SENDER_BURST_SECONDS)

        async def forward_packet(data: bytes, arrival_time_ms: int) -> None:
            # Runs in aiortc's receive loop for the sender's transport: an exception here
            # would end that loop, so nothing may escape.
            size = len(data)
            if size > MAX_PACKET_BYTES:
                stats.dropped_large += 1
                return
            if not budget.take(size, arrival_time_ms):
                stats.dropped_rate += 1
                return
            if size < HEADER_BYTES:
                stats.dropped_foreign += 1
                return
            try:
                packet = Incoming(data)
            except ValueError:
                stats.dropped_foreign += 1
                return
            if packet.ssrc != participant.ssrc or packet.payload_type != participant.payload_type:
                stats.dropped_foreign += 1
                return
            if len(packet.payload) > MAX_FRAME_BYTES:
                stats.dropped_large += 1
                return
            stats.frames += 1
            stats.bytes += len(packet.payload)
            for stream in self.routes.get(sender, ()):
                try:
                    await stream.send(stream.rewrite(packet, arrival_time_ms))
                    stream.sent += 1
                except RTP_SEND_ERRORS:
                    pass  # that listener's DTLS is not up (or no more), or a duplicate

        return forward_packet

    def forward(self, sender: str, frame: bytes, timestamp: int) -> None:
        stats = self.stats[sender]
        if len(frame) > MAX_FRAME_BYTES:
            stats.dropped_large += 1
            return
        stats.frames += 1
        stats.bytes += len(frame)
        for user, listener in self.participants.items():
            if user == sender:
                continue
            mid = listener.assigned.get(sender)
            if mid is not None:
                listener.slots[mid].push(frame, timestamp)
