"""The bridge actor: it carries out the user's intents (gossip.ui.intents) against the live
session (asks), guards them so that a slip in the UI cannot crash the session, and answers
each with a notice for the UI's queue. A refusal, ours or the session's (CommandRefused),
becomes a CommandFailed notice in words meant for the user."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import trio

from gossip.actors import Actor, ActorError, Request
from gossip.client.commands import AcceptKey, GetState, SendChat, VerifyKey
from gossip.client.errors import CommandRefused
from gossip.client.messages import MAX_TEXT_CHARS, ChatMessage, check_ttl
from gossip.client.session import Session
from gossip.client.state import SessionState
from gossip.crypto import CryptoError, safety_number
from gossip.crypto.pins import Trust

from .. import intents
from .. import notices as nt
from ..videofeeds import VideoFeeds
from .callcontrol import CallControl, CallSetup, LiveSession
from .keeper import ASK_TIMEOUT, ConnectionKeeper

log = logging.getLogger("gossip.ui")


@dataclass(frozen=True)
class Shutdown(Request[None]):
    """From the bridge itself when the window closes: leave politely, then stop."""


class BridgeActor(Actor):
    inbox_size = 256

    def __init__(self, post: Callable[[nt.Notice], None], *,
                 call_setup: CallSetup | None = None, retry_base: float = 1.0,
                 video_feeds: VideoFeeds | None = None) -> None:
        self._post = post
        self._calls = CallControl(call_setup or CallSetup(), self._live_session, post,
                                  video_feeds or VideoFeeds())
        self._keeper: ConnectionKeeper | None = None
        self._retry_base = retry_base

    async def started(self) -> None:
        self.nursery.start_soon(self._calls.run)

    async def receive(self, message: object) -> object:
        try:
            await self._carry_out(message)
        except CommandRefused as exc:  # a sentence meant for the user (CallNotPossible too)
            self._post(nt.CommandFailed(_describe(message), str(exc)))
        except (ActorError, trio.TooSlowError, CryptoError) as exc:
            log.info("intent %r failed: %r", message, exc)
            self._post(nt.CommandFailed(_describe(message), _reason(exc)))
        return None

    async def _carry_out(self, message: object) -> None:
        match message:
            case intents.ConnectToHub():
                await self._connect(message)
            case intents.DisconnectFromHub():
                await self._disconnect()
                self._post(nt.Offline())
            case Shutdown():
                await self._disconnect()
            case intents.SubmitMessage():
                self._post(nt.MessageSent(await self._send(message)))
            case intents.AcceptChangedKey(user):
                await self._accept_key(user)
            case intents.MarkKeyVerified(user):
                await self._verify_key(user)
            case intents.ComputeSafetyNumber(user):
                await self._safety_number(user)
            case intents.AcceptHubKey(host, port, fingerprint):
                await self._accept_hub_key(host, port, fingerprint)
            case intents.RefreshState():
                self._post(nt.StateRefreshed(await self._state(self._session())))
            case intents.JoinChannelCall() | intents.LeaveChannelCall() | intents.ChooseMuted() \
                    | intents.ChooseDeafened() | intents.ChoosePeerVolume() \
                    | intents.ChooseDevices() | intents.ChooseIceHosts() | intents.ChooseVideo() \
                    | intents.HoldTalkKey() | intents.ChooseVoice():
                self._post(nt.CallChanged(await self._calls.handle(message)))
            case _:
                raise CommandRefused(f"unknown intent {type(message).__name__}")

    # -- connection ---------------------------------------------------------------------------
    async def _connect(self, intent: intents.ConnectToHub) -> None:
        await self._disconnect()
        keeper = ConnectionKeeper(intent, self._post, retry_base=self._retry_base)
        self._keeper = keeper
        await self.nursery.start(keeper.run)

    async def _disconnect(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            # Hang up first, so the others see us leave the call rather than vanish from it.
            self._post(nt.CallChanged(await self._calls.end()))
            await keeper.leave()

    def _live_session(self) -> LiveSession | None:
        """The synced session, for the call side (None while connecting or offline)."""
        keeper = self._keeper
        session = keeper.online_session if keeper is not None else None
        if keeper is None or session is None:
            return None
        return LiveSession(session, keeper.connect.host, keeper.connect.user, keeper.connection)

    async def _accept_hub_key(self, host: str, port: int, fingerprint: str) -> None:
        keeper = self._keeper
        if keeper is None or keeper.profile is None:
            raise CommandRefused("connect first")
        connect = keeper.connect
        if (connect.host, connect.port) != (host, port):
            raise CommandRefused(f"not connecting to {host}:{port}")
        try:
            keeper.profile.known_hubs.accept(host, port, fingerprint)
        except ValueError as exc:  # not a fingerprint, or an address known_hubs cannot store
            raise CommandRefused(f"cannot trust that certificate: {exc}") from exc
        await self._connect(connect)

    def _session(self) -> Session:
        session = self._keeper.session if self._keeper is not None else None
        if session is None:
            raise CommandRefused("not connected to the hub")
        return session

    async def _state(self, session: Session) -> SessionState:
        with trio.fail_after(ASK_TIMEOUT):
            return await session.ref.ask(GetState())

    # -- chat and keys ----------------------------------------------------------------------
    async def _send(self, intent: intents.SubmitMessage) -> ChatMessage:
        session = self._session()
        # Refused here first, in the words the app uses; the session refuses them too.
        if not intent.text.strip():
            raise CommandRefused("the message is empty")
        if len(intent.text) > MAX_TEXT_CHARS:
            raise CommandRefused(f"the message is longer than {MAX_TEXT_CHARS} characters")
        try:
            ttl = check_ttl(intent.ttl)
        except ValueError as exc:
            raise CommandRefused(str(exc)) from exc
        state = await self._state(session)
        if intent.channel not in state.channels:
            raise CommandRefused(f"there is no channel #{intent.channel} on this hub")
        with trio.fail_after(ASK_TIMEOUT):
            # A full offline outbox is refused (OutboxFull, a CommandRefused): the user sees
            # the send fail, and nothing is posted as sent.
            return await session.ref.ask(SendChat(intent.channel, intent.text, ttl))

    def _pins_trust(self, user: str) -> Trust | None:
        keeper = self._keeper
        if keeper is None or keeper.profile is None:
            raise CommandRefused("not connected to the hub")
        return keeper.profile.pins.trust_of(user)

    async def _accept_key(self, user: str) -> None:
        session = self._session()
        if self._pins_trust(user) is not Trust.CHANGED:
            raise CommandRefused(f"no changed key is waiting for {user}")
        with trio.fail_after(ASK_TIMEOUT):
            trust = await session.ref.ask(AcceptKey(user))
        self._post(nt.TrustUpdated(user, trust))

    async def _verify_key(self, user: str) -> None:
        session = self._session()
        trust = self._pins_trust(user)
        if trust is None:
            raise CommandRefused(f"no key is pinned for {user}")
        if trust is Trust.CHANGED:
            raise CommandRefused(f"{user}'s key changed: accept the new key first")
        with trio.fail_after(ASK_TIMEOUT):
            trust = await session.ref.ask(VerifyKey(user))
        self._post(nt.TrustUpdated(user, trust))

    async def _safety_number(self, user: str) -> None:
        session = self._session()
        keeper = self._keeper
        assert keeper is not None and keeper.profile is not None
        state = await self._state(session)
        member = next((m for m in state.members if m.user == user), None)
        fingerprint = member.fingerprint if member else keeper.profile.pins.pinned_fingerprint(
            user)
        if not fingerprint:
            raise CommandRefused(f"{user} is not online and has no pinned key")
        trust = member.trust if member else (keeper.profile.pins.trust_of(user) or Trust.NEW)
        own = keeper.profile.identity
        # Thousands of hash rounds: off the trio thread's loop, as well as off the render thread.
        number = await trio.to_thread.run_sync(safety_number, own.user, own.fingerprint, user,
                                               fingerprint)
        self._post(nt.SafetyNumberReady(user, number, fingerprint, own.fingerprint, trust))


def _describe(intent: object) -> str:
    return {
        intents.ConnectToHub: "connect", intents.SubmitMessage: "send the message",
        intents.AcceptChangedKey: "accept the key", intents.MarkKeyVerified: "verify the key",
        intents.ComputeSafetyNumber: "safety number",
        intents.AcceptHubKey: "accept the hub's key",
        intents.RefreshState: "refresh", intents.JoinChannelCall: "join the call",
        intents.LeaveChannelCall: "leave the call", intents.ChooseMuted: "change mute",
        intents.ChooseDeafened: "change deafen", intents.ChoosePeerVolume: "change the volume",
        intents.ChooseDevices: "switch audio devices",
        intents.ChooseIceHosts: "set the call addresses",
        intents.ChooseVideo: "switch the camera",
        intents.HoldTalkKey: "push to talk",
        intents.ChooseVoice: "change the voice settings",
    }.get(type(intent), "do that")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, trio.TooSlowError):
        return "the session did not answer in time"
    cause = exc.__cause__ if isinstance(exc, ActorError) and exc.__cause__ else exc
    return str(cause) or type(cause).__name__
