"""Keeps one user connected to one hub by running their Session, which owns the reconnect
policy (the audited Reconnect machine and its backoff, gossip/fsm/reconnect.py): after a loss
it retries by itself while it keeps serving requests, so what the user writes meanwhile waits
in its outbox. The keeper only turns the session's events and its end into notices for the
UI (Connecting, Online, Reconnecting, ConnectFailed); a session that ends for good (a wrong
password, a changed hub key, signed in elsewhere, a first attempt that failed) is not
restarted: the user decides what next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import trio

from gossip.actors import ActorError
from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.commands import GetState, Leave, MeasureLatency, RetryNow
from gossip.client.errors import ConnectionLost, HubUnreachable, LoginFailed, SignedInElsewhere
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.client.state import SessionState
from gossip.crypto import CryptoError, HubKeyChanged
from gossip.fsm import ReconnectPhase

from .. import notices as nt
from ..intents import ConnectToHub

log = logging.getLogger("gossip.ui")

EVENT_BUFFER = 256
LATENCY_INTERVAL = 5.0
ASK_TIMEOUT = 15.0


@dataclass(frozen=True)
class Ending:
    """How one session ended."""

    kind: str  # "left", "lost", "unreachable", "login", "hub_key", "error"
    reason: str
    offered_fingerprint: str = ""
    pinned_fingerprint: str = ""
    code: str = ""  # LoginFailed's code, HubUnreachable's cause

    @property
    def permanent(self) -> bool:
        """Trying again cannot help: the user has to change something."""
        return self.kind in ("login", "hub_key", "elsewhere")


def ending_of(exc: BaseException | None, leaving: bool) -> Ending:
    if exc is None:
        return Ending("left" if leaving else "lost", "the session ended")
    if isinstance(exc, LoginFailed):
        return Ending("login", exc.reason, code=str(exc.code))
    if isinstance(exc, SignedInElsewhere):
        return Ending("elsewhere", f"signed in from another connection ({exc})")
    if isinstance(exc, HubKeyChanged):
        return Ending("hub_key", f"the hub's certificate changed (pinned {exc.pinned}, now "
                                 f"{exc.offered}); accept it only if the hub's operator "
                                 "confirms the new one", exc.offered, exc.pinned)
    if isinstance(exc, HubUnreachable):
        return Ending("unreachable", str(exc), code=exc.cause)
    if isinstance(exc, ConnectionLost):
        return Ending("lost", str(exc))
    return Ending("error", f"{type(exc).__name__}: {exc}")


class ConnectionKeeper:
    """Runs one user's Session and reports its life to the UI.

    Runs as a task in the bridge's nursery (`await nursery.start(keeper.run)`); the bridge
    reads `session` to send requests to the live one, which is None until it first synced.
    """

    def __init__(self, connect: ConnectToHub, post: Callable[[nt.Notice], None], *,
                 retry_base: float = 1.0, retry_cap: float = 30.0) -> None:
        self.connect = connect
        self.session: Session | None = None
        self.profile: Profile | None = None
        self._post = post
        self._retry_base, self._retry_cap = retry_base, retry_cap
        self._leaving = False
        self._attempts = 0  # the session's reconnect attempts since it was last online
        # How many times the session came online: a call started on an earlier connection
        # went with it, whenever the call side notices (gossip.ui.trioside.callcontrol).
        self.connection = 0
        self._scope = trio.CancelScope()

    @property
    def online_session(self) -> Session | None:
        """The session while it is synced with the hub (None while it reconnects: it still
        takes chat into its outbox then, but a call cannot start)."""
        session = self.session
        return session if session is not None and session.phase is ReconnectPhase.ONLINE \
            else None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        with self._scope:
            await self._run()

    async def leave(self) -> None:
        """Close the live session politely (bounded), then stop for good."""
        self._leaving = True
        session = self.session
        if session is not None:
            with trio.move_on_after(3):
                try:
                    await session.ref.ask(Leave())
                except ActorError:
                    pass
        self._scope.cancel()

    async def retry_now(self) -> None:
        """The user's "Retry now": the session cuts its backoff pause short. Said at once as
        Connecting (the countdown and its button go away); a pause already over, or none
        running, changes nothing (the click came late)."""
        session = self.session
        if session is None:
            return
        with trio.fail_after(ASK_TIMEOUT):
            cut = await session.ref.ask(RetryNow())
        if cut:
            c = self.connect
            self._post(nt.Connecting(c.host, c.port, c.user, self._attempts))

    async def _run(self) -> None:
        c = self.connect
        try:
            self.profile = await trio.to_thread.run_sync(Profile.open, c.user, c.profile_dir)
        except (CryptoError, OSError) as exc:
            self._post(nt.ConnectFailed("profile", f"cannot open the profile of {c.user}: {exc}",
                                        c.host, c.port))
            return
        self._post(nt.Connecting(c.host, c.port, c.user, 1))
        ending = await self._run_session(self.profile)
        if ending.kind == "left" or self._leaving:
            return  # whoever called leave() tells the UI
        self._post(nt.ConnectFailed(ending.kind, ending.reason, c.host, c.port,
                                    ending.offered_fingerprint, ending.pinned_fingerprint,
                                    ending.code,
                                    self.profile.known_hubs.pinned(c.host, c.port) is None))

    async def _run_session(self, profile: Profile) -> Ending:
        c = self.connect
        send, receive = trio.open_memory_channel[ev.SessionEvent](EVENT_BUFFER)
        session = Session(profile, SessionConfig(
            c.host, c.port, c.password, tls=c.tls, reconnect=True,
            reconnect_base=self._retry_base, reconnect_cap=self._retry_cap), send)
        failure: BaseException | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._forward, receive, session, nursery)
            try:
                await run_actor(session)
            except Exception as exc:  # every way a session ends is reported, none is fatal
                failure = exc
                if ending_of(exc, False).kind == "error":
                    log.exception("the session failed")
            finally:
                self.session = None
                nursery.cancel_scope.cancel()
        return ending_of(failure, self._leaving)

    async def _forward(self, events: trio.MemoryReceiveChannel[ev.SessionEvent],
                       session: Session, nursery: trio.Nursery) -> None:
        async for event in events:
            self._post(event)
            if isinstance(event, ev.Synced):
                await self._went_online(session, nursery)
            elif isinstance(event, ev.Disconnected) and event.retry_in is not None:
                # The session reconnects by itself and keeps taking requests meanwhile
                # (chat goes to its outbox): it stays the live one.
                self._attempts += 1
                self._post(nt.Reconnecting(event.reason, event.retry_in, self._attempts))
            elif isinstance(event, ev.Connected) and self._attempts:
                c = self.connect
                self._post(nt.Connecting(c.host, c.port, c.user, self._attempts))

    async def _went_online(self, session: Session, nursery: trio.Nursery) -> None:
        try:
            with trio.fail_after(ASK_TIMEOUT):
                state: SessionState = await session.ref.ask(GetState())
        except (ActorError, trio.TooSlowError):
            return  # the session is ending; run_actor reports why
        assert self.profile is not None
        first = self.session is None
        self._attempts = 0
        self.connection += 1
        self.session = session
        c = self.connect
        self._post(nt.Online(c.host, c.port, c.user, self.profile.identity.fingerprint, state))
        if first:  # once per session, not once per reconnect
            nursery.start_soon(self._measure_latency, session)

    async def _measure_latency(self, session: Session) -> None:
        while True:
            try:
                seconds = await session.ref.ask(MeasureLatency())
            except ActorError:
                return
            self._post(nt.LatencyMeasured(seconds))
            await trio.sleep(LATENCY_INTERVAL)
