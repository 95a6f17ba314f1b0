"""Keeps one user connected to one hub: runs a Session actor, which reconnects by itself
after a loss (backoff with jitter) while it keeps serving commands, so what the user writes
meanwhile waits in the session's outbox and goes out once it is back. Should a session end
for a reason it does not retry, a fresh one is started after a growing pause, until the user
leaves or the hub refuses for good (wrong password, a changed hub key, signed in elsewhere).

The phases are a declarative machine (ReconnectMachine); the keeper does the waiting and I/O,
and tells the UI each step (Connecting, Online, Reconnecting, ConnectFailed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import trio
from statemachine import State, StateMachine

from gossip.actors import ActorError
from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.commands import GetState, Leave, MeasureLatency
from gossip.client.errors import ConnectionLost, HubUnreachable, LoginFailed, SignedInElsewhere
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.client.state import SessionState
from gossip.crypto import CryptoError, HubKeyChanged

from .. import notices as nt
from ..intents import ConnectToHub

log = logging.getLogger("gossip.ui")

EVENT_BUFFER = 256
LATENCY_INTERVAL = 5.0
ASK_TIMEOUT = 15.0


class ReconnectMachine(StateMachine):
    """When to try again. The first attempt comes from the connect screen, so its failure
    goes back there; once online, a loss means pausing and trying again."""

    connecting = State(initial=True)
    online = State()
    waiting = State()
    retrying = State()
    stopped = State(final=True)

    synced = connecting.to(online) | retrying.to(online)
    lost = (connecting.to(stopped) | online.to(waiting) | retrying.to(waiting)
            | waiting.to.itself())  # the session's next attempt failed too
    refused = (connecting.to(stopped) | online.to(stopped) | retrying.to(stopped)
               | waiting.to(stopped))  # the session's own retry was refused for good
    resume = waiting.to(retrying)
    leave = (connecting.to(stopped) | online.to(stopped) | waiting.to(stopped)
             | retrying.to(stopped))

    @property
    def phase(self) -> str:
        return next(iter(self.configuration)).id


def retry_delay(attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Pause before reconnect attempt `attempt` (1, 2, ...): doubling, up to a cap."""
    return min(cap, base * 2 ** max(0, attempt - 1))


@dataclass(frozen=True)
class Ending:
    """How one session ended."""

    kind: str  # "left", "lost", "unreachable", "login", "hub_key", "error"
    reason: str
    offered_fingerprint: str = ""

    @property
    def permanent(self) -> bool:
        """Trying again cannot help: the user has to change something."""
        return self.kind in ("login", "hub_key", "elsewhere")


def ending_of(exc: BaseException | None, leaving: bool) -> Ending:
    if exc is None:
        return Ending("left" if leaving else "lost", "the session ended")
    if isinstance(exc, LoginFailed):
        return Ending("login", exc.reason)
    if isinstance(exc, SignedInElsewhere):
        return Ending("elsewhere", f"signed in from another connection ({exc})")
    if isinstance(exc, HubKeyChanged):
        return Ending("hub_key", f"the hub's certificate changed (pinned {exc.pinned}, now "
                                 f"{exc.offered}); accept it only if the hub's operator "
                                 "confirms the new one", exc.offered)
    if isinstance(exc, HubUnreachable):
        return Ending("unreachable", str(exc))
    if isinstance(exc, ConnectionLost):
        return Ending("lost", str(exc))
    return Ending("error", f"{type(exc).__name__}: {exc}")


class ConnectionKeeper:
    """Supervises one user's Session actors: one at a time, restarted with backoff.

    Runs as a task in the bridge's nursery (`await nursery.start(keeper.run)`); the bridge
    reads `session` to send commands to the live one, which is None while not synced.
    """

    def __init__(self, connect: ConnectToHub, post: Callable[[nt.Notice], None], *,
                 retry_base: float = 1.0, retry_cap: float = 30.0) -> None:
        self.connect = connect
        self.session: Session | None = None
        self.profile: Profile | None = None
        self._post = post
        self._machine = ReconnectMachine()
        self._retry_base, self._retry_cap = retry_base, retry_cap
        self._leaving = False
        self._was_online_just_now = False  # the session that just ended had synced
        self._attempts = 0  # the live session's reconnect attempts since it was last online
        self._measured: Session | None = None  # the session whose latency is being measured
        self._scope = trio.CancelScope()

    @property
    def phase(self) -> str:
        return self._machine.phase

    @property
    def online_session(self) -> Session | None:
        """The session while it is synced with the hub (None while it reconnects: it still
        takes chat into its outbox then, but a call cannot start)."""
        return self.session if self._machine.phase == "online" else None

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

    async def _run(self) -> None:
        c = self.connect
        try:
            self.profile = await trio.to_thread.run_sync(Profile.open, c.user, c.profile_dir)
        except (CryptoError, OSError) as exc:
            self._post(nt.ConnectFailed("error", f"cannot open the profile of {c.user}: {exc}",
                                        c.host, c.port))
            return
        retries = 0
        while True:
            self._post(nt.Connecting(c.host, c.port, c.user, max(1, retries)))
            ending = await self._run_session(self.profile)
            if ending.kind == "left" or self._leaving:
                self._machine.send("leave")
                return  # whoever called leave() tells the UI
            self._machine.send("refused" if ending.permanent else "lost")
            if self._machine.phase == "stopped":
                self._post(nt.ConnectFailed(ending.kind, ending.reason, c.host, c.port,
                                            ending.offered_fingerprint))
                return
            retries = 1 if self._was_online_just_now else retries + 1
            delay = retry_delay(retries, self._retry_base, self._retry_cap)
            log.info("connection to %s:%d lost (%s); retrying in %.0f s", c.host, c.port,
                     ending.reason, delay)
            self._post(nt.Reconnecting(ending.reason, delay, retries))
            await trio.sleep(delay)
            self._machine.send("resume")

    async def _run_session(self, profile: Profile) -> Ending:
        c = self.connect
        send, receive = trio.open_memory_channel[ev.SessionEvent](EVENT_BUFFER)
        session = Session(profile, SessionConfig(
            c.host, c.port, c.password, tls=c.tls, reconnect=True,
            reconnect_base=self._retry_base, reconnect_cap=self._retry_cap), send)
        self._was_online_just_now = False
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
                # The session reconnects by itself and keeps taking commands meanwhile
                # (chat goes to its outbox): it stays the live one.
                self._machine.send("lost")
                self._attempts += 1
                self._post(nt.Reconnecting(event.reason, event.retry_in, self._attempts))
            elif isinstance(event, ev.Connected) and self._machine.phase == "waiting":
                self._machine.send("resume")
                c = self.connect
                self._post(nt.Connecting(c.host, c.port, c.user, max(1, self._attempts)))

    async def _went_online(self, session: Session, nursery: trio.Nursery) -> None:
        try:
            with trio.fail_after(ASK_TIMEOUT):
                state: SessionState = await session.ref.ask(GetState())
        except (ActorError, trio.TooSlowError):
            return  # the session is ending; run_actor reports why
        assert self.profile is not None
        self._machine.send("synced")
        self._was_online_just_now = True
        self._attempts = 0
        self.session = session
        c = self.connect
        self._post(nt.Online(c.host, c.port, c.user, self.profile.identity.fingerprint, state))
        if self._measured is not session:  # once per session, not once per reconnect
            self._measured = session
            nursery.start_soon(self._measure_latency, session)

    async def _measure_latency(self, session: Session) -> None:
        while True:
            try:
                seconds = await session.ref.ask(MeasureLatency())
            except ActorError:
                return
            self._post(nt.LatencyMeasured(seconds))
            await trio.sleep(LATENCY_INTERVAL)
