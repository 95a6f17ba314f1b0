"""A participant's end of a relayed call: one RTCPeerConnection to the relay, sending our
sealed audio once and receiving everyone else's on slots (see gossip.wire.relay).

    link = RelayLink(frames.audio_track(), fingerprint=pinned, slots=24,
                     frames_for=frames.peer, ice_hosts=["127.0.0.1"])
    async with link.joined(url, call, user):       # offer, answer, the relay's slot notices
        async for event in link.events: ...         # Heard(user, track) / NotHeard(user)

The relay's DTLS certificate must be the one pinned (the hub's config names it): its answer
must announce that fingerprint, and aiortc checks the certificate against the answer.

What the relay sends is received around aiortc's receivers (gossip.media.slotreceive): each
RTP packet, out of SRTP, goes to the slot whose SSRC the relay's answer gave, which opens and
decodes it and hands the samples to the engine. A packet on no slot's SSRC and payload type,
or past the size bound, is dropped before anything else is done with it.
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
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription
from trio_websocket import open_websocket_url

from gossip.media import icehosts
from gossip.media.aiortc_seams import (
    JitterBufferLike,
    enlarge_receive_buffers,
    intercept_rtp,
    wrap_receiver_buffer,
)
from gossip.media.errors import FingerprintMismatch
from gossip.media.fingerprint import sdp_fingerprint
from gossip.media.framecrypt import Opening, OpeningBuffer, PeerFrames
from gossip.media.jitter import install_pass_through
from gossip.media.rtpheader import HEADER_BYTES, Incoming
from gossip.media.slotreceive import RelaySlot
from gossip.wire.relay import MAX_MESSAGE_BYTES, Answer, Join, Refused, Slot, decode, encode

logger = logging.getLogger(__name__)

EVENTS_QUEUED = 64
# A packet from the relay: a sealed Opus frame (~250 bytes) and its header; more is dropped.
MAX_PACKET_BYTES = 1500
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


ReceivePath = Literal["ours", "aiortc"]


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
    ) -> None:
        self.fingerprint = fingerprint
        self.receive_path = receive_path
        self._on_trial = on_trial
        self.ice_hosts = icehosts.check_hosts(ice_hosts)
        self._frames_for = frames_for
        self._pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self._pc.addTransceiver(audio_track, direction="sendonly")
        # Receive-only sections, one a slot: aiortc negotiates them (and answers their RTCP),
        # but what arrives on them is ours (_on_rtp), unless the receive path is aiortc's.
        self._aiortc_slots: dict[RTCRtpReceiver, _AiortcSlot] = {}
        for _ in range(slots):
            receiver = self._pc.addTransceiver("audio", direction="recvonly").receiver
            if receive_path == "aiortc":
                self._aiortc_slots[receiver] = _AiortcSlot(receiver)
        self._by_mid: dict[str, _Slot] = {}
        self._by_ssrc: dict[int, _Slot] = {}
        self.dropped = 0  # packets from the relay on no slot, malformed or too large
        if receive_path == "ours":
            # Max-bundle: every section shares the first one's transport, from the start.
            intercept_rtp(self._pc.getTransceivers()[0].receiver.transport, self._on_rtp)
        self._events_in, self.events = trio.open_memory_channel[Heard | NotHeard](EVENTS_QUEUED)

    @property
    def openings(self) -> list[RelaySlot | _AiortcSlot]:
        """Each slot's receive path (tests tap what the relay forwarded there)."""
        return [slot.stream for slot in self._by_mid.values()]

    def _take_slots(self, answer: str) -> None:
        """Each slot's stream as the relay's answer names it (SSRC, payload type)."""
        if self.receive_path == "aiortc":
            for transceiver in self._pc.getTransceivers()[1:]:
                if transceiver.mid is not None:
                    aiortc_slot = self._aiortc_slots[transceiver.receiver]
                    self._by_mid[transceiver.mid] = _Slot(aiortc_slot)
            return
        slot_mids = {t.mid for t in self._pc.getTransceivers()[1:] if t.mid is not None}
        for media in SessionDescription.parse(answer).media:
            mid = media.rtp.muxId
            if mid not in slot_mids or not media.ssrc or not media.rtp.codecs:
                continue
            ssrc, payload_type = media.ssrc[0].ssrc, media.rtp.codecs[0].payloadType
            if ssrc is None or payload_type is None or ssrc in self._by_ssrc:
                continue
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
        if slot is None or not isinstance(slot.stream, RelaySlot):
            self.dropped += 1
            return
        if packet.payload_type != slot.stream.payload_type:
            self.dropped += 1
            return
        try:
            slot.stream.receive(packet)
        except Exception:  # a fault of ours: drop the packet, keep the call
            logger.exception("a relayed packet for %s could not be received", slot.user)

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
            enlarge_receive_buffers(
                self._pc.getTransceivers()[0].receiver.transport, RECEIVE_BUFFER_BYTES
            )
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
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_notices, ws)
                try:
                    yield self
                finally:
                    nursery.cancel_scope.cancel()
                    with trio.move_on_after(5, shield=True):
                        await trio_asyncio.aio_as_trio(self._pc.close)()

    async def _read_notices(self, ws) -> None:  # type: ignore[no-untyped-def]
        while True:
            notice = decode(await ws.get_message())
            if not isinstance(notice, Slot) or notice.mid not in self._by_mid:
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
