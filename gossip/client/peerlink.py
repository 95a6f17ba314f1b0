"""One peer-to-peer media link as an actor: the PeerLink machine driving one RTCPeerConnection.

Its supervisor restarts it (a fresh RTCPeerConnection, a fresh offer) when it fails, within
the call's restart intensity. The SDP it sends is sealed to the peer and signed; the SDP it
receives was opened and checked by the call actor; and the link only counts as up once the
DTLS certificate the peer presented matches the fingerprint in that signed SDP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from gossip.actors.actor import Actor
from gossip.crypto import PublicKey
from gossip.fsm import PeerLink, Report, Send
from gossip.fsm.actions import Action
from gossip.media import icehosts
from gossip.media import peer as media
from gossip.media.errors import FingerprintMismatch
from gossip.wire import Answer, Command, Offer

from . import events as ev
from .signalling import SignalPayload, new_link_id, seal_signal

if TYPE_CHECKING:
    from .calls import CallContext

log = logging.getLogger("gossip.client.link")


class LinkFailed(Exception):
    """The link could not be set up or broke; the supervisor decides whether to retry."""


@dataclass
class LinkStats:
    """The link's progress, for the call's reports (written by the link, read by the call)."""

    state: str = "new"
    verified: bool = False
    setup_ms: float | None = None
    attempts: int = 0
    gave_up: bool = False
    changed: trio.Event = field(default_factory=trio.Event)

    def touch(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


@dataclass(frozen=True)
class RemoteSignal:
    payload: SignalPayload


class PeerLinkActor(Actor):
    inbox_size = 16

    def __init__(self, call: CallContext, peer: str, peer_key: PublicKey, role: str,
                 stats: LinkStats) -> None:
        self._call = call
        self._peer = peer
        self._peer_key = peer_key
        self._role = role
        self._stats = stats
        self._machine = PeerLink()
        self._signals_in, self._signals = trio.open_memory_channel[SignalPayload](16)
        self._link_id = new_link_id()

    async def receive(self, message: object) -> object:
        if isinstance(message, RemoteSignal):
            self._signals_in.send_nowait(message.payload)
            return None
        raise TypeError(f"unknown link command {message!r}")

    async def main(self) -> None:
        self.nursery.start_soon(self.serve)
        self._stats.attempts += 1
        options = self._call.options
        link = media.PeerLink(self._call.fanout.track(),
                              ice_hosts=options.ice_hosts or icehosts.interface_addresses(),
                              ice_servers=[media.ice_server(url) for url in options.ice_servers])
        try:
            with trio.fail_after(options.connect_timeout):
                if self._role == "offerer":
                    await self._offer(link)
                else:
                    await self._answer(link)
                await self._until_connected(link)
            await self._while_connected(link)
        except trio.TooSlowError:
            await self._step("timeout")
            raise LinkFailed(f"no link to {self._peer} within {options.connect_timeout:g} s")
        finally:
            self._call.engine.remove_peer(self._peer)
            await link.close()  # never raises aioice's stray CancelledError (see media.peer)

    async def _offer(self, link: media.PeerLink) -> None:
        await self._step("start_offering")
        sdp = await link.create_offer()
        await self._step("offer_ready", sdp=sdp, link_id=self._link_id)
        while True:
            answer = await self._signals.receive()
            if answer.kind == "answer" and answer.link_id == self._link_id:
                break
            log.info("link %s: ignoring %s for another attempt", self._peer, answer.kind)
        await self._step("answer")
        await link.accept_answer(answer.sdp)

    async def _answer(self, link: media.PeerLink) -> None:
        await self._step("start_answering")
        while True:
            offer = await self._signals.receive()
            if offer.kind == "offer":
                break
        await self._step("offer")
        sdp = await link.accept_offer(offer.sdp)
        await self._step("answer_ready", sdp=sdp, link_id=offer.link_id)

    async def _until_connected(self, link: media.PeerLink) -> None:
        async for event in link.events:
            if isinstance(event, media.RemoteTrack):
                self._call.engine.add_peer(self._peer, event.track)
            elif isinstance(event, media.Connected):
                self._stats.verified = True
                self._stats.setup_ms = (trio.current_time() - self._call.joined_at) * 1000
                await self._step("transport_up", matches=True)
                await self._call.emit(ev.CallPeerConnected(self._call.channel, self._peer,
                                                           self._stats.setup_ms))
                return
            elif isinstance(event, media.Failed):
                if isinstance(event.error, FingerprintMismatch):
                    await self._step("transport_up", matches=False)
                    raise LinkFailed(f"{self._peer}'s DTLS certificate is not the one in "
                                     f"their signed offer: {event.reason}")
                await self._step("transport_failed")
                raise LinkFailed(f"link to {self._peer} failed: {event.reason}")
            elif isinstance(event, media.HandlerError):
                log.warning("link %s: %s handler failed: %r", self._peer, event.where,
                            event.error)
        raise LinkFailed(f"link to {self._peer} closed while connecting")

    async def _while_connected(self, link: media.PeerLink) -> None:
        async for event in link.events:
            if isinstance(event, media.RemoteTrack) and self._peer not in \
                    self._call.engine.peers:
                self._call.engine.add_peer(self._peer, event.track)
            elif isinstance(event, (media.Failed, media.Closed)):
                await self._step("transport_failed")
                raise LinkFailed(f"link to {self._peer} broke: "
                                 f"{getattr(event, 'reason', 'closed')}")

    # -- the machine --------------------------------------------------------------------------
    async def _step(self, event: str, *, matches: bool = False, sdp: str = "",
                    link_id: str = "") -> None:
        actions = self._machine.handle(event, matches=matches)
        self._stats.state = self._machine.state_id
        self._stats.touch()
        await self._perform(actions, sdp, link_id)

    async def _perform(self, actions: list[Action], sdp: str, link_id: str) -> None:
        for action in actions:
            if isinstance(action, Send) and action.command in (Command.OFFER, Command.ANSWER):
                kind = action.command.value
                payload = SignalPayload(kind=kind, channel=self._call.channel,
                                        sender=self._call.identity.user, recipient=self._peer,
                                        link_id=link_id, sdp=sdp, sent_at=self._call.clock())
                blob = seal_signal(payload, self._call.identity, self._peer_key)
                frame_type = Offer if action.command is Command.OFFER else Answer
                await self._call.send([frame_type(channel=self._call.channel, peer=self._peer,
                                            blob=blob)])
            elif isinstance(action, Report):
                log.debug("link %s: %s", self._peer, action.what)

