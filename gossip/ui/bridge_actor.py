"""The bridge actor: on the trio thread, it carries out the UI's commands against the live
session (asks), guards them so that a slip in the UI cannot crash the session, and answers
each with a notice for the UI's queue."""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from gossip.actors import Actor, ActorError
from gossip.client.commands import GetState, SendChat
from gossip.client.errors import CommandRefused
from gossip.client.messages import MAX_TEXT_CHARS, ChatMessage, check_ttl
from gossip.client.session import (
    AcceptKey as SessionAcceptKey,
)
from gossip.client.session import Session
from gossip.client.session import (
    VerifyKey as SessionVerifyKey,
)
from gossip.client.state import SessionState
from gossip.crypto import CryptoError, safety_number
from gossip.crypto.pins import Trust

from . import commands as cmd
from . import notices as nt
from .calls import CallNotPossible
from .keeper import ASK_TIMEOUT, ConnectionKeeper
from .sessioncalls import CallSetup, LiveSession, SessionCalls
from .videofeeds import VideoFeeds

log = logging.getLogger("gossip.ui")


class Shutdown:
    """From the bridge itself when the window closes: leave politely, then stop."""


class BridgeActor(Actor):
    inbox_size = 256

    def __init__(self, post: Callable[[nt.Notice], None], *,
                 call_setup: CallSetup | None = None, retry_base: float = 1.0,
                 video_feeds: VideoFeeds | None = None) -> None:
        self._post = post
        self._calls = SessionCalls(call_setup or CallSetup(), self._live_session, post,
                                   video_feeds or VideoFeeds())
        self._keeper: ConnectionKeeper | None = None
        self._retry_base = retry_base

    async def started(self) -> None:
        self.nursery.start_soon(self._calls.run)

    async def receive(self, message: object) -> object:
        try:
            await self._handle_command(message)
        except (CommandRefused, CallNotPossible) as exc:  # a sentence meant for the user
            self._post(nt.CommandFailed(_describe(message), str(exc)))
        except (ActorError, trio.TooSlowError, CryptoError, ValueError) as exc:
            log.info("command %r failed: %r", message, exc)
            self._post(nt.CommandFailed(_describe(message), _reason(exc)))
        return None

    async def _handle_command(self, message: object) -> None:
        match message:
            case cmd.Connect():
                await self._connect(message)
            case cmd.Disconnect():
                await self._disconnect()
                self._post(nt.Offline())
            case Shutdown():
                await self._disconnect()
            case cmd.SendMessage():
                self._post(nt.MessageSent(await self._send(message)))
            case cmd.AcceptKey(user):
                await self._accept_key(user)
            case cmd.VerifyKey(user):
                await self._verify_key(user)
            case cmd.ComputeSafetyNumber(user):
                await self._safety_number(user)
            case cmd.AcceptHubKey(host, port, fingerprint):
                await self._accept_hub_key(host, port, fingerprint)
            case cmd.RefreshState():
                self._post(nt.StateRefreshed(await self._state(self._session())))
            case cmd.JoinCall() | cmd.LeaveCall() | cmd.SetMuted() | cmd.SetDeafened() \
                    | cmd.SetPeerVolume() | cmd.SelectDevices() | cmd.SetIceHosts() \
                    | cmd.SetVideo():
                self._post(nt.CallChanged(await self._calls.handle(message)))
            case _:
                raise CommandRefused(f"unknown command {type(message).__name__}")

    # -- connection ---------------------------------------------------------------------------
    async def _connect(self, command: cmd.Connect) -> None:
        await self._disconnect()
        keeper = ConnectionKeeper(command, self._post, retry_base=self._retry_base)
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
        return LiveSession(session, keeper.connect.host, keeper.connect.user)

    async def _accept_hub_key(self, host: str, port: int, fingerprint: str) -> None:
        keeper = self._keeper
        if keeper is None or keeper.profile is None:
            raise CommandRefused("connect first")
        connect = keeper.connect
        if (connect.host, connect.port) != (host, port):
            raise CommandRefused(f"not connecting to {host}:{port}")
        keeper.profile.known_hubs.accept(host, port, fingerprint)
        await self._connect(connect)

    def _session(self) -> Session:
        session = self._keeper.session if self._keeper is not None else None
        if session is None:
            raise CommandRefused("not connected to the hub")
        return session

    async def _state(self, session: Session) -> SessionState:
        with trio.fail_after(ASK_TIMEOUT):
            state: SessionState = await session.ref.ask(GetState())
        return state

    # -- chat and keys ----------------------------------------------------------------------
    async def _send(self, command: cmd.SendMessage) -> ChatMessage:
        session = self._session()
        # Refused here first, in the words the app uses; the session refuses them too.
        if not command.text.strip():
            raise CommandRefused("the message is empty")
        if len(command.text) > MAX_TEXT_CHARS:
            raise CommandRefused(f"the message is longer than {MAX_TEXT_CHARS} characters")
        ttl = check_ttl(command.ttl)
        state = await self._state(session)
        if command.channel not in state.channels:
            raise CommandRefused(f"there is no channel #{command.channel} on this hub")
        with trio.fail_after(ASK_TIMEOUT):
            message: ChatMessage = await session.ref.ask(
                SendChat(command.channel, command.text, ttl))
        return message

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
            trust: Trust = await session.ref.ask(SessionAcceptKey(user))
        self._post(nt.TrustUpdated(user, trust))

    async def _verify_key(self, user: str) -> None:
        session = self._session()
        trust = self._pins_trust(user)
        if trust is None:
            raise CommandRefused(f"no key is pinned for {user}")
        if trust is Trust.CHANGED:
            raise CommandRefused(f"{user}'s key changed: accept the new key first")
        with trio.fail_after(ASK_TIMEOUT):
            trust = await session.ref.ask(SessionVerifyKey(user))
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


def _describe(command: object) -> str:
    return {
        cmd.Connect: "connect", cmd.SendMessage: "send the message",
        cmd.AcceptKey: "accept the key", cmd.VerifyKey: "verify the key",
        cmd.ComputeSafetyNumber: "safety number", cmd.AcceptHubKey: "accept the hub's key",
        cmd.RefreshState: "refresh", cmd.JoinCall: "join the call",
        cmd.LeaveCall: "leave the call", cmd.SetMuted: "change mute",
        cmd.SetDeafened: "change deafen", cmd.SetPeerVolume: "change the volume",
        cmd.SelectDevices: "switch audio devices", cmd.SetIceHosts: "set the call addresses",
        cmd.SetVideo: "switch the camera",
    }.get(type(command), "do that")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, trio.TooSlowError):
        return "the session did not answer in time"
    cause = exc.__cause__ if isinstance(exc, ActorError) and exc.__cause__ else exc
    return str(cause) or type(cause).__name__
