"""A participant's end of a relayed call: one RTCPeerConnection to the relay, sending our
sealed audio once and receiving everyone else's on slots (see gossip.wire.relay).

    link = RelayLink(frames.audio_track(), fingerprint=pinned, slots=24,
                     frames_for=frames.peer, ice_hosts=["127.0.0.1"],
                     video_track=frames.video_track(source), video_slots=2,
                     picture_for=pictures.get)
    async with link.joined(url, call, user):       # offer, answer, the relay's slot notices
        await link.want(["bob", "cat"])             # whose video (the last speakers heard)
        async for event in link.events: ...         # Heard / NotHeard / Watched / NotWatched

The relay's DTLS certificate must be the one pinned (the hub's config names it): its answer
must announce that fingerprint, and aiortc checks the certificate against the answer.

What the relay sends is received around aiortc's receivers (gossip.media.slotreceive): each
RTP packet, out of SRTP, goes to the slot whose SSRC the relay's answer gave, which opens and
decodes it and hands the samples to the engine. The link's UDP socket is read in place
(gossip.media.aiortc_seams.receive_in_place): every datagram waiting is read at one wake-up
and its SRTP taken out there, without an asyncio hop per packet; given the audio engine's
playout ticks (`read_at_ticks`), it is read at each of them instead, just before the frames
are played, and wakes nobody meanwhile (video slots' packets too). A packet on no slot's SSRC
and payload type, or past the size bound, is dropped before anything else is done with it.
Video slots (gossip.media.slotvideo) carry whom we asked for; their decoded pictures go to each
sender's LatestFrame, which is cleared when the slot lets them go (their tile shows initials).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import trio
import trio_asyncio
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket
from aiortc.sdp import SessionDescription
from trio_websocket import WebSocketConnection, open_websocket_url

from gossip.media import icehosts
from gossip.media.aiortc_seams import (
    RTP_SEND_ERRORS,
    InPlaceReading,
    JitterBufferLike,
    enlarge_receive_buffers,
    intercept_rtp,
    receive_in_place,
    rtp_sender,
    wrap_receiver_buffer,
)
from gossip.media.errors import FingerprintMismatch
from gossip.media.fingerprint import sdp_fingerprint
from gossip.media.framecrypt import EncodedVideoTrack, Opening, OpeningBuffer, PeerFrames
from gossip.media.jitter import install_pass_through
from gossip.media.rtpheader import HEADER_BYTES, Incoming
from gossip.media.rtpsend import SentAudioTrack
from gossip.media.slotreceive import RelaySlot
from gossip.media.slotvideo import RelayVideoSlot
from gossip.media.videoframes import LatestFrame
from gossip.wire.relay import (
    MAX_MESSAGE_BYTES,
    MAX_WANTED,
    Answer,
    Join,
    Refused,
    Slot,
    Want,
    decode,
    encode,
)

logger = logging.getLogger(__name__)

EVENTS_QUEUED = 64
# A packet from the relay: a sealed Opus frame (~250 bytes) or a piece of a VP8 frame (at
# most 1,300 bytes) and its header; more is dropped.
MAX_PACKET_BYTES = 1500
KEYFRAME_REQUEST_SECONDS = 0.5  # a slot's PLIs to the relay at most this often
RECEIVE_BUFFER_BYTES = 1 << 20


class RelayRefused(Exception):
    """The relay refused us (full, a name in use, a bad offer); the reason says which."""


@dataclass(frozen=True)
class Heard:
    """A slot now carries `user`; on trial if the link's `on_trial(user)` said so
    (`opening.trial`: frames are checked, not played, until the call clears it)."""

    user: str
    track: MediaStreamTrack  # their decoded audio (opened with their frame key)
    opening: Opening


@dataclass(frozen=True)
class NotHeard:
    user: str
    track: MediaStreamTrack  # the slot's track that carried them


@dataclass(frozen=True)
class Watched:
    """A video slot carries `user` now: their pictures go to their LatestFrame."""

    user: str


@dataclass(frozen=True)
class NotWatched:
    """No video slot carries `user` any more: their picture was cleared (initials)."""

    user: str


RelayEvent = Heard | NotHeard | Watched | NotWatched


# "ours": the socket read in place, packets opened and decoded as they are read; "ours-queued":
# the same, but each packet reaches us through aiortc's receive task (the baseline for reading
# in place); "aiortc": aiortc's receivers and decoder threads (the first path's baseline).
ReceivePath = Literal["ours", "ours-queued", "aiortc"]


class _AiortcSlot:
    """A slot received through aiortc's receiver, frames opened at its jitter buffer: the
    first relayed receive path, kept as benchmarks/big_call.py's baseline."""

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        self.receiver = receiver
        install_pass_through(receiver)
        holder: list[OpeningBuffer] = []

        def wrap(inner: JitterBufferLike) -> OpeningBuffer:
            holder.append(OpeningBuffer(inner, None, "audio"))
            return holder[0]

        wrap_receiver_buffer(receiver, wrap)
        self.opening = holder[0]

    @property
    def tap(self) -> list[bytes] | None:
        return self.opening.tap

    @tap.setter
    def tap(self, value: list[bytes] | None) -> None:
        self.opening.tap = value

    @property
    def track(self) -> MediaStreamTrack:
        return self.receiver.track

    def assign(self, frames: PeerFrames | None) -> MediaStreamTrack:
        self.opening.frames = frames
        self.opening.trial = None
        return self.receiver.track


@dataclass
class _Slot:
    stream: RelaySlot | _AiortcSlot
    user: str = ""


@dataclass
class _VideoSlot:
    stream: RelayVideoSlot
    user: str = ""
    asked_at: float = float("-inf")  # our last PLI on it


def _vp8_only(transceiver: RTCRtpTransceiver) -> None:
    """VP8 alone, without RTX: the relay forwards one stream of one codec per section."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() == "video/vp8"])


class RelayLink:
    def __init__(
        self,
        audio_track: MediaStreamTrack,
        *,
        fingerprint: str,
        slots: int,
        frames_for: Callable[[str], PeerFrames | None],
        ice_hosts: Sequence[str],
        receive_path: ReceivePath = "ours",
        on_trial: Callable[[str], bool] = lambda user: False,
        video_track: MediaStreamTrack | None = None,
        video_slots: int = 0,
        picture_for: Callable[[str], LatestFrame | None] = lambda _: None,
    ) -> None:
        if not 0 <= video_slots <= MAX_WANTED:
            raise ValueError(f"a relayed call watches at most {MAX_WANTED} video slots")
        if receive_path == "aiortc" and (video_slots or video_track is not None):
            raise ValueError("relayed video needs our receive path")
        self.fingerprint = fingerprint
        self.receive_path = receive_path
        self._on_trial = on_trial
        self.ice_hosts = icehosts.check_hosts(ice_hosts)
        self._frames_for = frames_for
        self._picture_for = picture_for
        self.video_slots = video_slots
        self._pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        audio_sender = self._pc.addTransceiver(audio_track, direction="sendonly").sender
        if isinstance(audio_track, SentAudioTrack):
            audio_track.attach(audio_sender)  # we send its packets (gossip.media.rtpsend)
        # Receive-only sections, one a slot: aiortc negotiates them (and answers their RTCP),
        # but what arrives on them is ours (_on_rtp), unless the receive path is aiortc's.
        self._aiortc_slots: dict[RTCRtpReceiver, _AiortcSlot] = {}
        for _ in range(slots):
            receiver = self._pc.addTransceiver("audio", direction="recvonly").receiver
            if receive_path == "aiortc":
                self._aiortc_slots[receiver] = _AiortcSlot(receiver)
        if video_track is not None:
            # The section we send our video on (the relay tells it by its direction), ...
            sending = self._pc.addTransceiver(video_track, direction="sendonly")
            _vp8_only(sending)
            if isinstance(video_track, EncodedVideoTrack):
                video_track.attach(sending.sender)
        if video_slots:
            # ... and one receive-only section a video slot.
            for _ in range(video_slots):
                _vp8_only(self._pc.addTransceiver("video", direction="recvonly"))
        self._by_mid: dict[str, _Slot] = {}
        self._by_ssrc: dict[int, _Slot] = {}
        self._video_by_mid: dict[str, _VideoSlot] = {}
        self._video_by_ssrc: dict[int, _VideoSlot] = {}
        self.dropped = 0  # packets from the relay on no slot, malformed or too large
        transport = self._pc.getTransceivers()[0].receiver.transport
        self._transport = transport
        self._send_rtcp = rtp_sender(transport)
        if receive_path != "aiortc":
            # Max-bundle: every section shares the first one's transport, from the start.
            intercept_rtp(transport, self._on_rtp)
        self._ws: WebSocketConnection | None = None
        self.reading: InPlaceReading | None = None  # the socket read in place: its counters
        self._tick_hooks: list[Callable[[float], None]] | None = None  # read_at_ticks
        self.video_changed = trio.Event()  # set (and replaced) at each picture and slot change
        self._events_in, self.events = trio.open_memory_channel[RelayEvent](EVENTS_QUEUED)

    @property
    def openings(self) -> list[RelaySlot | _AiortcSlot]:
        """Each slot's receive path (tests tap what the relay forwarded there)."""
        return [slot.stream for slot in self._by_mid.values()]

    @property
    def video_openings(self) -> list[RelayVideoSlot]:
        """Each video slot's receive path."""
        return [slot.stream for slot in self._video_by_mid.values()]

    def watching(self) -> dict[str, RelayVideoSlot]:
        """Whose video arrives now, on which slot."""
        return {slot.user: slot.stream for slot in self._video_by_mid.values() if slot.user}

    async def want(self, users: Sequence[str]) -> None:
        """Ask the relay for these users' video, most wanted first (up to MAX_WANTED: the
        relay fills our video slots with the first who send video, and keeps those already
        carried where they are). The relay closes a connection that sends more than
        gossip.relay.server.MESSAGES_PER_SECOND: callers pace their wants."""
        if self._ws is None:
            raise RuntimeError("want() is for a joined link")
        await self._ws.send_message(encode(Want(tuple(users)[:MAX_WANTED])))

    def _take_slots(self, answer: str) -> None:
        """Each slot's stream as the relay's answer names it (SSRC, payload type)."""
        if self.receive_path == "aiortc":
            for transceiver in self._pc.getTransceivers()[1:]:
                if transceiver.mid is not None:
                    aiortc_slot = self._aiortc_slots[transceiver.receiver]
                    self._by_mid[transceiver.mid] = _Slot(aiortc_slot)
            return
        receiving = {
            t.mid: t.kind for t in self._pc.getTransceivers()
            if t.mid is not None and t.direction == "recvonly"
        }
        for media in SessionDescription.parse(answer).media:
            mid = media.rtp.muxId
            if mid not in receiving or not media.ssrc or not media.rtp.codecs:
                continue
            ssrc, payload_type = media.ssrc[0].ssrc, media.rtp.codecs[0].payloadType
            if ssrc is None or payload_type is None or ssrc in self._by_ssrc \
                    or ssrc in self._video_by_ssrc:
                continue
            if receiving[mid] == "video":
                video = _VideoSlot(RelayVideoSlot(ssrc, payload_type))
                self._video_by_mid[mid] = self._video_by_ssrc[ssrc] = video
            else:
                slot = _Slot(RelaySlot(ssrc, payload_type))
                self._by_mid[mid] = self._by_ssrc[ssrc] = slot

    async def _on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        # Runs in aiortc's receive loop: an exception here would end it, so none escapes.
        if not HEADER_BYTES <= len(data) <= MAX_PACKET_BYTES:
            self.dropped += 1
            return
        try:
            packet = Incoming(data)
        except ValueError:
            self.dropped += 1
            return
        slot = self._by_ssrc.get(packet.ssrc)
        if slot is None:
            video = self._video_by_ssrc.get(packet.ssrc)
            if video is None or packet.payload_type != video.stream.payload_type:
                self.dropped += 1
                return
            await self._on_video(video, packet)
            return
        if not isinstance(slot.stream, RelaySlot):
            self.dropped += 1
            return
        if packet.payload_type != slot.stream.payload_type:
            self.dropped += 1
            return
        # Read at a tick, a packet may have waited in the socket: the engine is told when it
        # came, as the kernel stamped it.
        reading = self.reading
        arrival = reading.arrival(trio.current_time()) if reading is not None else None
        try:
            slot.stream.receive(packet, arrival)
        except Exception:  # a fault of ours: drop the packet, keep the call
            logger.exception("a relayed packet for %s could not be received", slot.user)

    def read_at_ticks(self, tick_hooks: list[Callable[[float], None]]) -> None:
        """Read the relay's packets at the audio engine's playout ticks (`engine.tick_hooks`:
        each tick reads what waits, just before its frames are played) instead of a wake-up
        per packet: eleven streams woke a participant 550 times a second, each wake-up
        costing more than the packet it read. Video slots' packets are read at the ticks
        too (a picture waits 10 ms on average, its decoding falls in the tick). The socket
        is still read on readiness until DTLS is up (its handshake is not made to wait for
        ticks). Until the link closes; call inside `joined`."""
        if self._tick_hooks is not None or self.reading is None:
            return
        self._tick_hooks = tick_hooks
        tick_hooks.append(self._tick)

    def _tick(self, now: float) -> None:
        if self.reading is not None:
            self.reading.tick(self._transport.state == "connected")

    def _video_news(self) -> None:
        self.video_changed.set()
        self.video_changed = trio.Event()

    async def _on_video(self, slot: _VideoSlot, packet: Incoming) -> None:
        decoded = slot.stream.decoded
        try:
            slot.stream.receive(packet)
        except Exception:  # a fault of ours: drop the packet, keep the call
            logger.exception("a relayed video packet for %s could not be received", slot.user)
            return
        if slot.stream.decoded != decoded:
            self._video_news()
        now = trio.current_time()
        if slot.stream.keyframe_wanted and now - slot.asked_at >= KEYFRAME_REQUEST_SECONDS:
            # The relay's sender for this slot takes the PLI and asks whoever it carries.
            slot.asked_at = now
            pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=0, media_ssrc=slot.stream.ssrc)
            try:
                await self._send_rtcp(bytes(pli))
            except RTP_SEND_ERRORS:
                pass

    @asynccontextmanager
    async def joined(self, url: str, call: str, user: str, ticket: str) -> AsyncIterator[RelayLink]:
        """Join `call` as `user` with the hub's `ticket` for it; leave on exit."""
        async with open_websocket_url(url, max_message_size=MAX_MESSAGE_BYTES) as ws:
            offer = await trio_asyncio.aio_as_trio(self._pc.createOffer)()
            await trio_asyncio.aio_as_trio(icehosts.gather_with_hosts)(
                self.ice_hosts, self._pc.setLocalDescription, offer
            )
            sdp = self._pc.localDescription.sdp
            # What eleven or more others send, ~2 s of it, waits in the socket while this
            # process is not running (a busy machine, a garbage collection) instead of being
            # dropped by the kernel (its default holds a fraction of a second here).
            transport = self._pc.getTransceivers()[0].receiver.transport
            enlarge_receive_buffers(transport, RECEIVE_BUFFER_BYTES)
            if self.receive_path == "ours":
                self.reading = receive_in_place(transport)
            await ws.send_message(encode(Join(call, user, sdp, ticket)))
            reply = decode(await ws.get_message())
            if isinstance(reply, Refused):
                raise RelayRefused(reply.reason)
            if not isinstance(reply, Answer):
                raise RelayRefused(f"the relay answered with {type(reply).__name__}")
            presented = sdp_fingerprint(reply.sdp)
            if presented != self.fingerprint:
                raise FingerprintMismatch(self.fingerprint, presented)
            await trio_asyncio.aio_as_trio(self._pc.setRemoteDescription)(
                RTCSessionDescription(sdp=reply.sdp, type="answer")
            )
            self._take_slots(reply.sdp)
            self._ws = ws
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_notices, ws)
                try:
                    yield self
                finally:
                    if self._tick_hooks is not None and self._tick in self._tick_hooks:
                        self._tick_hooks.remove(self._tick)
                        if self.reading is not None:
                            self.reading.read_on_readiness()  # its closing still read
                    nursery.cancel_scope.cancel()
                    with trio.move_on_after(5, shield=True):
                        await trio_asyncio.aio_as_trio(self._pc.close)()

    async def _read_notices(self, ws) -> None:  # type: ignore[no-untyped-def]
        while True:
            notice = decode(await ws.get_message())
            if not isinstance(notice, Slot):
                continue
            if notice.mid in self._video_by_mid:
                self._watch(self._video_by_mid[notice.mid], notice.user)
                continue
            if notice.mid not in self._by_mid:
                continue
            slot = self._by_mid[notice.mid]
            if slot.user:
                carried = slot.stream.track
                slot.stream.assign(None)
                self._events_in.send_nowait(NotHeard(slot.user, carried))
            slot.user = notice.user
            if notice.user:
                track = slot.stream.assign(self._frames_for(notice.user))
                # Still played another way (a mesh link): nothing played here till it opens.
                opening = slot.stream.opening
                opening.trial = trio.Event() if self._on_trial(notice.user) else None
                self._events_in.send_nowait(Heard(notice.user, track, opening))

    def _watch(self, slot: _VideoSlot, user: str) -> None:
        if slot.user:
            slot.stream.picture.clear()
            slot.stream.assign(None, None)
            self._events_in.send_nowait(NotWatched(slot.user))
        slot.user = user
        if user:
            slot.stream.assign(self._frames_for(user), self._picture_for(user))
            self._events_in.send_nowait(Watched(user))
        self._video_news()
