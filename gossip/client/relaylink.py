"""A participant's end of a relayed call: one RTCPeerConnection to the relay, sending our
sealed audio once and receiving everyone else's on slots (see gossip.wire.relay).

    link = RelayLink(frames.audio_track(), fingerprint=pinned, slots=24,
                     frames_for=frames.peer, ice_hosts=["127.0.0.1"])
    async with link.joined(url, call, user):       # offer, answer, the relay's slot notices
        async for event in link.events: ...         # Heard(user, track) / NotHeard(user)

The relay's DTLS certificate must be the one pinned (the hub's config names it): its answer
must announce that fingerprint, and aiortc checks the certificate against the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

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
from trio_websocket import open_websocket_url

from gossip.media import icehosts
from gossip.media.aiortc_seams import wrap_receiver_buffer
from gossip.media.errors import FingerprintMismatch
from gossip.media.fingerprint import sdp_fingerprint
from gossip.media.framecrypt import OpeningBuffer, PeerFrames
from gossip.media.jitter import install_pass_through
from gossip.wire.relay import MAX_MESSAGE_BYTES, Answer, Join, Refused, Slot, decode, encode

EVENTS_QUEUED = 64


class RelayRefused(Exception):
    """The relay refused us (full, a name in use, a bad offer); the reason says which."""


@dataclass(frozen=True)
class Heard:
    """A slot now carries `user`; on trial if the link's `on_trial(user)` said so
    (`opening.trial`: frames are checked, not played, until the call clears it)."""

    user: str
    track: MediaStreamTrack  # their decoded audio (opened with their frame key)
    opening: OpeningBuffer


@dataclass(frozen=True)
class NotHeard:
    user: str
    track: MediaStreamTrack  # the slot's track that carried them


@dataclass
class _Slot:
    receiver: RTCRtpReceiver
    opening: OpeningBuffer
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
        on_trial: Callable[[str], bool] = lambda user: False,
    ) -> None:
        self.fingerprint = fingerprint
        self._on_trial = on_trial
        self.ice_hosts = icehosts.check_hosts(ice_hosts)
        self._frames_for = frames_for
        self._pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self._pc.addTransceiver(audio_track, direction="sendonly")
        self._slots: list[_Slot] = []
        for _ in range(slots):
            receiver = self._pc.addTransceiver("audio", direction="recvonly").receiver
            install_pass_through(receiver)
            holder: list[OpeningBuffer] = []

            def wrap(inner, holder=holder):  # type: ignore[no-untyped-def]
                holder.append(OpeningBuffer(inner, None, "audio"))
                return holder[0]

            wrap_receiver_buffer(receiver, wrap)
            self._slots.append(_Slot(receiver, holder[0]))
        self._by_mid: dict[str, _Slot] = {}
        self._events_in, self.events = trio.open_memory_channel[Heard | NotHeard](EVENTS_QUEUED)

    @property
    def openings(self) -> list[OpeningBuffer]:
        """Each slot's opening buffer (tests tap what the relay forwarded there)."""
        return [slot.opening for slot in self._slots]

    @asynccontextmanager
    async def joined(self, url: str, call: str, user: str, ticket: str) -> AsyncIterator[RelayLink]:
        """Join `call` as `user` with the hub's `ticket` for it; leave on exit."""
        async with open_websocket_url(url, max_message_size=MAX_MESSAGE_BYTES) as ws:
            offer = await trio_asyncio.aio_as_trio(self._pc.createOffer)()
            await trio_asyncio.aio_as_trio(icehosts.gather_with_hosts)(
                self.ice_hosts, self._pc.setLocalDescription, offer
            )
            sdp = self._pc.localDescription.sdp
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
            for transceiver in self._pc.getTransceivers():
                for slot in self._slots:
                    if transceiver.receiver is slot.receiver and transceiver.mid:
                        self._by_mid[transceiver.mid] = slot
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
                slot.opening.frames = None
                self._events_in.send_nowait(NotHeard(slot.user, slot.receiver.track))
            slot.user = notice.user
            if notice.user:
                # Still played another way (a mesh link): nothing played here till it opens.
                slot.opening.trial = trio.Event() if self._on_trial(notice.user) else None
                slot.opening.frames = self._frames_for(notice.user)
                self._events_in.send_nowait(
                    Heard(notice.user, slot.receiver.track, slot.opening))
