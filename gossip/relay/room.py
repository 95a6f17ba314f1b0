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
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
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
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket, RtpPacket
from aiortc.sdp import SessionDescription
from av.packet import Packet

from gossip.media import icehosts
from gossip.media.aiortc_seams import (
    RTP_SEND_ERRORS,
    InPlaceReading,
    RtpHandler,
    depayloaded,
    enlarge_receive_buffers,
    intercept_rtp,
    on_keyframe_request,
    receive_in_place,
    rtp_sender,
    send_backlog,
    use_certificate,
    wrap_receiver_buffer,
)
from gossip.media.rtpheader import HEADER_BYTES, Incoming
from gossip.media.vp8rtp import starts_keyframe
from gossip.wire.relay import MAX_WANTED, Slot

from .slots import VIDEO_MIN_STEP, VIDEO_TICKS_PER_MS, SlotStream

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
# A sender's video: 640x360@30 VP8 is ~100 packets and ~1 Mbit/s at most (a keyframe more).
VIDEO_PACKETS_PER_SECOND = 400
VIDEO_KBPS = 2500
MAX_VIDEO_PACKET_BYTES = 1400  # aiortc cuts VP8 into RTP payloads of at most 1,300 bytes
# A keyframe asked of a sender at most this often, whoever asks (a slot changing hands, a
# listener's PLI): each costs the sender a large frame that everyone watching it receives.
KEYFRAME_REQUEST_MS = 500
VIDEO_SLOTS = MAX_WANTED  # a participant's video slots at most (the last N speakers it watches)

# Each participant's UDP socket: ~2 s of its packets, so a relay the machine did not run for a
# moment forwards them late rather than the kernel dropping them (the default, ~200 KiB,
# overflowed within a fraction of a second on a busy 2-core machine).
RECEIVE_BUFFER_BYTES = 1 << 20
# What may wait unsent for one listener (its sockets' kernel buffer full, asyncio queueing the
# rest without a bound): about a second of eleven audio streams and two videos; past it the
# relay drops that listener's packets (theirs alone: it conceals or asks for a keyframe).
MAX_BACKLOG_BYTES = 512 * 1024

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
    dropped_backlog: int = 0  # copies not sent: that listener had too much queued unsent
    video_frames: int = 0  # video packets forwarded (each to those who watch the sender)
    keyframes_asked: int = 0


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

    def __init__(self, kind: str = "audio") -> None:
        super().__init__()
        self.kind = kind
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
        read_in_place: bool = True,
    ) -> None:
        self.user = user
        self.notify = notify
        self.forwarding = forwarding
        self.read_in_place = read_in_place
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
        # Video ("packets" only): what it sends on, and the slots it watches others on, filled
        # by those it asks for (`Room.want`), never more than it has slots.
        self.video_ssrc: int | None = None
        self.video_payload_type: int | None = None
        self.video_streams: dict[str, SlotStream] = {}  # mid -> stream
        self.video_assigned: dict[str, str] = {}  # sender -> mid
        self.wanted: tuple[str, ...] = ()
        # A keyframe asked of this participant (as a sender): sent with its next video packet,
        # at most once per KEYFRAME_REQUEST_MS.
        self.keyframe_wanted = False
        self.keyframe_asked_ms = -KEYFRAME_REQUEST_MS
        self.send_rtcp: Callable[[bytes], Awaitable[None]] | None = None
        # Its socket read in place ("packets"): from the connection's trio task once it is
        # in the call (`InPlaceReading.read_in_trio`), by asyncio's reader until then.
        self.reading: InPlaceReading | None = None

    async def answer(self, offer: str, room: Room) -> str:
        """(asyncio side) Answer the participant's offer: its first audio section is what it
        sends (forwarded), every further audio section a slot; the video section it sends on,
        if any, and its receive-only video sections, its video slots (forwarded packets
        only: the frames relay answers them inactive)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        transceivers = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
        videos = [t for t in self.pc.getTransceivers() if t.kind == "video"]
        # A video section the participant offers to send on is its video; the receive-only
        # ones are its video slots (a participant without a camera offers slots alone).
        offered: dict[str | None, str | None] = {
            m.rtp.muxId: m.direction for m in SessionDescription.parse(offer).media
        }
        video_sending = [t for t in videos if offered.get(t.mid) in ("sendonly", "sendrecv")]
        video_slots = [t for t in videos if offered.get(t.mid) == "recvonly"]
        if len(video_sending) > 1 or len(video_sending) + len(video_slots) != len(videos):
            raise ValueError("an offer sends on one video section at most; the others receive")
        if not transceivers:
            raise ValueError("the offer has no audio section")
        if len(videos) > VIDEO_SLOTS + 1:
            raise ValueError(f"an offer has at most {VIDEO_SLOTS} video slots")
        sending, *slots = transceivers
        sending.direction = "recvonly"
        if self.forwarding == "frames":
            wrap_receiver_buffer(sending.receiver, lambda _: ForwardingBuffer(room, self.user))
        for transceiver in slots:
            assert transceiver.mid is not None
            if self.forwarding == "frames":
                transceiver.direction = "sendonly"
                track = SlotTrack()
                transceiver.sender.replaceTrack(track)
                self.slots[transceiver.mid] = track
            else:
                # Inactive to aiortc, which then runs no sender for it: an idle sender sent
                # an RTCP sender report a second for nothing (24 slots, a dozen listeners:
                # ~300 packets a second), and the participant's receiver answered each. Our
                # packets go round aiortc; the answer still names the slot's SSRC.
                transceiver.direction = "inactive"
        video_mid = None
        if self.forwarding == "frames":
            for transceiver in videos:
                transceiver.direction = "inactive"  # the first relay forwards audio alone
        else:
            for transceiver in video_sending:
                transceiver.direction = "recvonly"
                video_mid = transceiver.mid
            for transceiver in video_slots:
                transceiver.direction = "sendonly"
                transceiver.sender.replaceTrack(IdleTrack("video"))
                mid = transceiver.mid
                assert mid is not None
                # A listener's PLI on a slot asks whoever the slot carries now.
                lost = functools.partial(room.slot_lost, self, mid)
                on_keyframe_request(transceiver.sender, lost)
        answer = await self.pc.createAnswer()
        await icehosts.gather_with_hosts(self.ice_hosts, self.pc.setLocalDescription, answer)
        sdp: str = self.pc.localDescription.sdp
        if self.forwarding == "packets":
            self._take_packets(offer, sdp, sending.mid, video_mid, room)
        return sdp

    def _take_packets(
        self,
        offer: str,
        answer: str,
        sending_mid: str | None,
        video_mid: str | None,
        room: Room,
    ) -> None:
        """Forward what arrives on our DTLS transport ourselves: the SSRCs the participant
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
        video_sending = offered.get(video_mid) if video_mid is not None else None
        if video_sending is not None and len(video_sending.ssrc) > 1:
            raise ValueError("the video section sent on must announce one SSRC (no RTX)")
        send = rtp_sender(transport)
        backlog = send_backlog(transport)
        self.send_rtcp = send
        for media in SessionDescription.parse(answer).media:
            mid = media.rtp.muxId
            codec = media.rtp.codecs[0].mimeType.lower() if media.rtp.codecs else ""
            if media.kind == "audio" and codec != "audio/opus":
                raise ValueError("every audio section must use Opus")
            if media.kind == "video" and codec != "video/vp8":
                raise ValueError("every video section must use VP8")
            if mid == sending_mid:
                self.ssrc = sending.ssrc[0].ssrc
                self.payload_type = media.rtp.codecs[0].payloadType
            elif mid == video_mid:
                if video_sending is not None and video_sending.ssrc:
                    self.video_ssrc = video_sending.ssrc[0].ssrc
                    self.video_payload_type = media.rtp.codecs[0].payloadType
            elif mid is not None and media.ssrc:
                ssrc, payload_type = media.ssrc[0].ssrc, media.rtp.codecs[0].payloadType
                assert ssrc is not None and payload_type is not None  # we made the answer
                if media.kind == "video":
                    self.video_streams[mid] = SlotStream(
                        ssrc, payload_type, send, backlog=backlog,
                        ticks_per_ms=VIDEO_TICKS_PER_MS, min_step=VIDEO_MIN_STEP,
                    )
                else:
                    self.streams[mid] = SlotStream(ssrc, payload_type, send, backlog=backlog)
        intercept_rtp(transport, room.receiver_for(self))
        enlarge_receive_buffers(transport, RECEIVE_BUFFER_BYTES)
        if self.read_in_place:
            self.reading = receive_in_place(transport)

    def slot_mids(self) -> list[str]:
        return list(self.slots if self.forwarding == "frames" else self.streams)

    def free_slot(self) -> str | None:
        taken = set(self.assigned.values())
        return next((mid for mid in self.slot_mids() if mid not in taken), None)

    async def ask_keyframe(self, now_ms: int, stats: SenderStats) -> None:
        """(asyncio side) Send this participant a PLI for its video, if one was wanted and
        none went out lately."""
        if self.video_ssrc is None or self.send_rtcp is None:
            return
        if now_ms - self.keyframe_asked_ms < KEYFRAME_REQUEST_MS:
            return
        self.keyframe_wanted = False
        self.keyframe_asked_ms = now_ms
        stats.keyframes_asked += 1
        pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=0, media_ssrc=self.video_ssrc)
        try:
            await self.send_rtcp(bytes(pli))
        except RTP_SEND_ERRORS:
            pass


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
        self.video_routes: dict[str, list[SlotStream]] = {}

    def admit(self, participant: RelayParticipant) -> None:
        if participant.user in self.participants:
            raise RoomFull(f"{participant.user} is in this call already")
        if len(self.participants) >= self.max_participants:
            raise RoomFull(f"the relay takes {self.max_participants} participants a call")
        for other in self.participants.values():
            self._assign(other, participant.user)
            self._assign(participant, other.user)
        self.participants[participant.user] = participant
        for listener in self.participants.values():
            self._fill_video(listener)  # someone asked for them before they came
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
            self._fill_video(other)
        self._route()

    def want(self, listener: RelayParticipant, users: Sequence[str]) -> None:
        """`listener` watches `users`' video from now on (as many as it has video slots, the
        first ones first): slots carrying someone still wanted keep them, the others change
        hands. What it asks for only changes what it receives; each change asks a keyframe
        of the new sender (rate-limited per sender)."""
        listener.wanted = tuple(dict.fromkeys(users))[:MAX_WANTED]
        if self.participants.get(listener.user) is listener:
            self._fill_video(listener)
            self._route()

    def _fill_video(self, listener: RelayParticipant) -> None:
        wanted = [
            user for user in listener.wanted
            if user != listener.user and user in self.participants
            and self.participants[user].video_ssrc is not None
        ][: len(listener.video_streams)]
        for sender, mid in list(listener.video_assigned.items()):
            if sender not in wanted:
                del listener.video_assigned[sender]
                listener.video_streams[mid].assign("")
                listener.notify(Slot(mid, ""))
        taken = set(listener.video_assigned.values())
        free = [mid for mid in listener.video_streams if mid not in taken]
        for sender in wanted:
            if sender in listener.video_assigned or not free:
                continue
            mid = free.pop(0)
            listener.video_assigned[sender] = mid
            listener.video_streams[mid].assign(sender)
            self.participants[sender].keyframe_wanted = True
            listener.notify(Slot(mid, sender))

    def slot_lost(self, listener: RelayParticipant, mid: str) -> None:
        """A listener's PLI on one of its video slots: ask the slot's sender for a keyframe."""
        stream = listener.video_streams.get(mid)
        sender = self.participants.get(stream.sender) if stream is not None else None
        if sender is not None:
            sender.keyframe_wanted = True

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
        self.video_routes = {user: [] for user in self.participants}
        for listener in self.participants.values():
            for sender, mid in listener.assigned.items():
                stream = listener.streams.get(mid)
                if stream is not None and sender in self.routes:
                    self.routes[sender].append(stream)
            for sender, mid in listener.video_assigned.items():
                if sender in self.video_routes:
                    self.video_routes[sender].append(listener.video_streams[mid])

    def receiver_for(self, participant: RelayParticipant) -> RtpHandler:
        """What takes `participant`'s RTP packets as they come out of SRTP: every bound
        before any parsing, then one rewrite and one send per listener."""
        sender = participant.user
        stats = self.stats[sender]
        budget = SenderBudget(self.sender_packets_per_second, self.sender_kbps,
                              SENDER_BURST_SECONDS)
        video_budget = SenderBudget(VIDEO_PACKETS_PER_SECOND, VIDEO_KBPS, SENDER_BURST_SECONDS)

        async def forward_video(packet: Incoming, arrival_time_ms: int) -> None:
            if participant.keyframe_wanted:
                await participant.ask_keyframe(arrival_time_ms, stats)
            stats.video_frames += 1
            keyframe: bool | None = None
            for stream in self.video_routes.get(sender, ()):
                if stream.backlog() > MAX_BACKLOG_BYTES:
                    stats.dropped_backlog += 1
                    continue
                if stream.awaiting_keyframe:
                    # A slot that changed hands starts at a keyframe: what comes before it
                    # refers to pictures the listener never had.
                    if keyframe is None:
                        keyframe = starts_keyframe(packet.payload)
                    if not keyframe:
                        participant.keyframe_wanted = True
                        continue
                    stream.awaiting_keyframe = False
                try:
                    await stream.send(stream.rewrite(packet, arrival_time_ms))
                    stream.sent += 1
                except RTP_SEND_ERRORS:
                    pass

        async def forward_packet(data: bytes, arrival_time_ms: int) -> None:
            # Runs in aiortc's receive loop for the sender's transport: an exception here
            # would end that loop, so nothing may escape.
            size = len(data)
            if size > MAX_PACKET_BYTES:
                stats.dropped_large += 1
                return
            if size < HEADER_BYTES:
                stats.dropped_foreign += 1
                return
            video = data[1] & 0x7F == participant.video_payload_type
            if not (video_budget if video else budget).take(size, arrival_time_ms):
                stats.dropped_rate += 1
                return
            try:
                packet = Incoming(data)
            except ValueError:
                stats.dropped_foreign += 1
                return
            if video:
                if packet.ssrc != participant.video_ssrc:
                    stats.dropped_foreign += 1
                elif len(packet.payload) > MAX_VIDEO_PACKET_BYTES:
                    stats.dropped_large += 1
                else:
                    await forward_video(packet, arrival_time_ms)
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
                if stream.backlog() > MAX_BACKLOG_BYTES:
                    stats.dropped_backlog += 1
                    continue
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
