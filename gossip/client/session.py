"""The client's session with a hub, as an actor: connect, log in, sync keys, then chat.

It owns the connection and composes the parts that do the work: `login` (the handshake),
`MemberDirectory` (keys and trust), `ChatDesk` (sealing, opening, outbox, resends),
`CallHost` (calls, loaded on demand) and `Reconnector` (when to try again). Front ends
(CLI, desktop app, bots) only ask it the requests in `commands.py` and read the events it
publishes; they never touch its state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import trio

from gossip._groups import sole_error
from gossip.actors import Actor, ActorRef
from gossip.crypto import CryptoError, PublicKey
from gossip.crypto.pins import Trust
from gossip.fsm import NO_BUILDERS, Builders, ClientKeySync, MachineDriver, ProtocolViolation
from gossip.wire import (
    CALL_ERRORS,
    CallMembers,
    Channels,
    Command,
    Error,
    ErrorCode,
    Frame,
    HangUp,
    Key,
    KeyRemoved,
    KeyRequest,
    Message,
    Signal,
)

from . import events as ev
from .callhost import CallHost
from .chat import ChatDesk
from .commands import (
    AcceptKey,
    GetState,
    JoinCall,
    Leave,
    MeasureLatency,
    SendChat,
    VerifyKey,
)
from .directory import ForgedOwnKey, MemberDirectory
from .errors import (
    CommandRefused,
    ConnectionLost,
    HubUnreachable,
    MessageRejected,
    NotConnected,
    SignedInElsewhere,
)
from .login import log_in
from .messages import ChatMessage, Distribution
from .profile import Profile
from .reconnect import Reconnector
from .replaystore import keep_replay_saved
from .state import SessionState
from .transport import HubLink, open_hub_link

log = logging.getLogger("gossip.client")

# Recent messages whose first recipients are remembered before the list is pruned to those
# still in the resend window.
RECIPIENT_MEMORY = 1024


@dataclass(frozen=True)
class SessionConfig:
    host: str
    port: int
    password: str
    tls: bool = True
    login_timeout: float = 15.0
    # Wall-clock time for message timestamps; tests pass one driven by trio's MockClock.
    clock: Callable[[], float] = field(default=time.time)
    # After a first successful sync, a lost connection is retried (backoff with jitter).
    reconnect: bool = True
    reconnect_base: float = 0.5
    reconnect_cap: float = 30.0
    # Our messages of the last this-many seconds are sent again to members who (re)join.
    resend_window: float = 60.0
    # We ping the hub every `keepalive_interval` s; no pong within `keepalive_timeout` s and
    # the connection counts as lost (a network that went silent sends no FIN to notice).
    keepalive_interval: float = 20.0
    keepalive_timeout: float = 20.0


class Session(Actor):
    def __init__(self, profile: Profile, config: SessionConfig,
                 events: trio.MemorySendChannel[ev.SessionEvent]) -> None:
        self._profile = profile
        self._identity = profile.identity
        self._config = config
        self._events = events
        self._link: HubLink | None = None
        self._hub_name = ""
        self._keysync = MachineDriver(ClientKeySync)
        self._members = MemberDirectory(profile.pins, profile.identity.user,
                                        profile.identity.fingerprint)
        # Whom each of our recent messages was first sealed to (key fingerprints): a resend
        # goes to those only, never to someone who was not there when it was written.
        self._recipients_of: dict[str, frozenset[str]] = {}
        self._channels: tuple[str, ...] = ()
        self._chat = ChatDesk(profile.identity, config.clock,
                              resend_window=config.resend_window)
        self._chat.restore_replay(profile.replay.load())  # replays after a restart are caught
        self._calls = CallHost(profile.identity, self._send_for_call, events, config.clock)
        self._store_changed = trio.Event()
        self._leaving = False
        self._leave_requested = trio.Event()
        self._online = False  # synced on the current connection, outbox sent
        self.synced = trio.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    async def main(self) -> None:
        """Connect and serve; after a first successful sync, a lost connection is retried
        with backoff and jitter while commands keep being served (chat goes to the outbox)."""
        self.nursery.start_soon(self.serve)
        self.nursery.start_soon(self._expire_messages)
        self.nursery.start_soon(keep_replay_saved, self._chat.replay_snapshot,
                                self._profile.replay)
        reconnector = Reconnector(self._config.reconnect_base, self._config.reconnect_cap)
        while True:
            try:
                await self._connect_once(reconnector)
                return  # we left politely
            except (ConnectionLost, HubUnreachable) as exc:
                if self._leaving:
                    return
                if not (self._config.reconnect and self.synced.is_set()):
                    raise
                delay = reconnector.lost()
                await self._emit(ev.Disconnected("reconnecting", str(exc), retry_in=delay))
                with trio.move_on_after(delay):
                    await self._leave_requested.wait()
                if self._leaving:
                    return

    async def _connect_once(self, reconnector: Reconnector) -> None:
        try:
            await self._connect_and_serve(reconnector)
        except BaseExceptionGroup as group:
            raise sole_error(group) from None
        finally:
            self._online = False
            self._link = None

    async def _connect_and_serve(self, reconnector: Reconnector) -> None:
        # Every connection starts its protocol over.
        self._keysync = MachineDriver(ClientKeySync)
        self._members.start_over()
        async with trio.open_nursery() as nursery:
            try:
                self._link = await open_hub_link(nursery, self._config.host, self._config.port,
                                                 tls=self._config.tls,
                                                 known_hubs=self._profile.known_hubs)
                self._hub_name = await log_in(self._link, self._identity, self._config.password,
                                              timeout=self._config.login_timeout)
                if self._link.first_use:  # pinned only now that it proved the password
                    self._profile.known_hubs.check(self._config.host, self._config.port,
                                                   self._link.fingerprint)
                await self._emit(ev.Connected(self._hub_name, self._link.fingerprint,
                                              self._link.first_use))
                await self._keysync_step("start", {Command.KEY_REQUEST: KeyRequest})
                nursery.start_soon(self._keep_alive, self._link)
                await self._read_frames(nursery, reconnector)
            except ConnectionLost as exc:
                if self._leaving:
                    return
                if not (self._config.reconnect and self.synced.is_set()):
                    await self._emit(ev.Disconnected("lost", str(exc)))
                raise
            finally:
                # Shielded: a checkpoint in a cancelled scope would raise Cancelled over the
                # error we are leaving with, and the nursery would then swallow both.
                with trio.CancelScope(shield=True):
                    if self._link is not None:
                        await self._link.abort()
                nursery.cancel_scope.cancel()
                self._calls.detach()

    # -- the live phase ----------------------------------------------------------------------
    async def _read_frames(self, nursery: trio.Nursery, reconnector: Reconnector) -> None:
        assert self._link is not None
        while True:
            frame = await self._link.receive()
            if isinstance(frame, Error):
                await self._take_refusal(frame)
            elif isinstance(frame, (CallMembers, HangUp, Signal)):
                await self._to_calls(frame, frame.channel)
            else:
                await self._keysync_step(frame.command.readable)
                if isinstance(frame, Key):
                    await self._take_key(frame)
                elif isinstance(frame, KeyRemoved):
                    await self._take_key_removed(frame.user)
                elif isinstance(frame, Channels):
                    self._channels = frame.channels
                    if self.synced.is_set():
                        await self._emit(ev.ChannelsChanged(frame.channels))
                elif frame.command is Command.END_OF_KEYS:
                    await self._take_end_of_keys(nursery, reconnector)
                elif isinstance(frame, Message):
                    await self._take_message(frame)

    async def _take_refusal(self, frame: Error) -> None:
        """The hub refused one of our frames; it closes the link itself if it must."""
        if frame.code in CALL_ERRORS:
            await self._to_calls(frame, None)
        else:
            await self._emit(ev.HubError(frame.code, frame.reason))
        if frame.code == ErrorCode.REPLACED:
            # We signed in elsewhere: coming back would push that one out in turn.
            raise SignedInElsewhere(frame.reason)

    async def _take_end_of_keys(self, nursery: trio.Nursery, reconnector: Reconnector) -> None:
        resynced = self.synced.is_set()
        # The first time nothing can be waiting to go out (chat needs a sync), so we are
        # online at once; after a reconnect only once the outbox is out, with no await in
        # between: a message written meanwhile queues behind it.
        self._online = not resynced
        self.synced.set()
        reconnector.online(trio.current_time())
        self._calls.attach(nursery)
        for user in self._members.gone_since_break():
            await self._emit(ev.MemberLeft(user))
        await self._emit(ev.Synced(self._members.users(), self._channels))
        if resynced:
            await self._after_reconnect()
            self._online = True

    async def _keep_alive(self, link: HubLink) -> None:
        """Ping now and then; a hub that stops answering is a lost connection, which the
        frame reader's nursery turns into a reconnect."""
        while True:
            await trio.sleep(self._config.keepalive_interval)
            with trio.move_on_after(self._config.keepalive_timeout):
                await link.ping()
                continue
            raise ConnectionLost(f"the hub did not answer a ping within "
                                 f"{self._config.keepalive_timeout:g} s")

    async def _take_key(self, frame: Key) -> None:
        seen = self._members.take_key(frame.user, frame.key)
        if seen is None:
            return
        if isinstance(seen, ForgedOwnKey):
            await self._emit(ev.OwnKeyForged(seen.user, seen.ours, seen.offered))
            return
        if seen.key_changed or seen.trust is Trust.CHANGED:
            self._forget_sender_keys(seen.user)
        if seen.trust is Trust.CHANGED:
            await self._emit(ev.KeyChanged(seen.user, seen.pinned_fingerprint,
                                           seen.key.fingerprint))
        # Every identity shows, during the first sync too: a member the hub adds is seen.
        await self._emit(ev.MemberJoined(seen.user, seen.key.fingerprint, seen.trust))
        if self._online and seen.user != self._identity.user:
            # A (re)joining member may have lost our sender keys and missed what we sent
            # while they were away: new epochs, and our recent messages again to them if
            # they had them first (receivers drop the ones they already have by id).
            self._chat.new_epochs()
            await self._resend_recent(only=seen.key.fingerprint)

    def _forget_sender_keys(self, user: str) -> None:
        """The user's key changed (to another key or back): the sender keys their old key
        handed over vouch for nothing now."""
        self._chat.forget_sender(user)

    async def _take_key_removed(self, user: str) -> None:
        key = self._members.remove(user)
        await self._emit(ev.MemberLeft(user, key.fingerprint if key else "",
                                       self._members.trust_of(user) if key else None))

    async def _take_message(self, frame: Message) -> None:
        sender = frame.sender or ""
        key = self._members.key(sender)
        if key is None:
            await self._emit(ev.MessageRejected(sender, frame.channel, "unknown_sender",
                                                "no key for the sender"))
            return
        try:
            opened = self._chat.open(frame, key, self._members.trust_of(sender),
                                     members=len(self._members.users()))
        except MessageRejected as exc:
            log.info("rejected message from %s in %s: %s", sender, frame.channel, exc)
            await self._emit(ev.MessageRejected(sender, frame.channel, exc.reason, exc.detail))
            return
        if opened is None:
            log.info("dropped a repeated message or sender key from %s in %s", sender,
                     frame.channel)
        elif not isinstance(opened, Distribution):
            self._store_changed.set()
            if opened.missing:
                # The sender's key sequence skipped some: the hub dropped them (or they are
                # late); either way the user is told, not left to guess.
                await self._emit(ev.MessagesMissing(sender, frame.channel, opened.missing))
            await self._emit(ev.MessageReceived(opened, late=opened.late))

    async def _to_calls(self, frame: Frame, channel: str | None) -> None:
        if isinstance(frame, CallMembers):
            users: tuple[str, ...] = frame.users
        elif isinstance(frame, Signal):
            users = (frame.peer,)
        else:
            users = ()
        await self._calls.route(frame, channel, self._members.trusted_keys(users))

    async def _send_for_call(self, frames: Sequence[Frame]) -> None:
        """How calls reach the hub: on the current connection, or nowhere (a call ends with
        its connection, and the frame reader reconnects)."""
        try:
            for frame in frames:
                if self._link is None:
                    return
                await self._link.send(frame)
        except ConnectionLost:
            pass

    async def _expire_messages(self) -> None:
        """Drop messages from view and store when their time is up."""
        store = self._chat.store
        while True:
            due = store.next_expiry()
            self._store_changed = trio.Event()
            if due is None:
                await self._store_changed.wait()
                continue
            with trio.move_on_after(max(0.0, due - self._config.clock())):
                await self._store_changed.wait()
            for message in store.expire(self._config.clock()):
                await self._emit(ev.MessageExpired(message.id, message.channel))

    # -- requests from front ends -------------------------------------------------------------
    async def receive(self, message: object) -> object:
        """A front end's request. One that cannot be done (bad input, nothing to accept) is
        refused (CommandRefused, raised to the asker); it never ends the session."""
        try:
            return await self._answer(message)
        except (ValueError, CryptoError) as exc:
            raise CommandRefused(str(exc)) from exc

    async def _answer(self, message: object) -> object:
        if isinstance(message, SendChat):
            return await self._send_chat(message)
        if isinstance(message, AcceptKey):
            self._profile.pins.accept(message.user)
            return self._members.refresh_trust(message.user)
        if isinstance(message, VerifyKey):
            key = self._members.key(message.user)
            fingerprint = key.fingerprint if key else (
                self._profile.pins.pinned_fingerprint(message.user) or "")
            self._profile.pins.verify(message.user, fingerprint)
            return self._members.refresh_trust(message.user)
        if isinstance(message, GetState):
            return self.state()
        if isinstance(message, MeasureLatency):
            return await self._measure_latency()
        if isinstance(message, JoinCall):
            return await self._join_call(message)
        if isinstance(message, Leave):
            self._leaving = True
            self._leave_requested.set()
            if self._link is not None:
                await self._link.aclose()
            return None
        raise TypeError(f"unknown request {message!r}")

    async def _join_call(self, request: JoinCall) -> ActorRef:
        if request.channel not in self._channels:
            raise CommandRefused(f"no channel {request.channel!r} on this hub")
        if not self._online:
            raise NotConnected("not connected to the hub (reconnecting): join once back")
        return await self._calls.join(request.channel, request.options)

    async def _measure_latency(self) -> float | None:
        if self._link is None:
            return None
        with trio.move_on_after(5):  # a hub that does not answer holds up the inbox no longer
            try:
                return await self._link.ping()
            except ConnectionLost:
                return None  # the frame reader sees the break too and ends the session
        return None

    def state(self) -> SessionState:
        return SessionState(self._hub_name, self._link.fingerprint if self._link else "",
                            self._channels, self._members.views(),
                            tuple(self._chat.store.messages()))

    # -- sending chat -------------------------------------------------------------------------
    async def _send_chat(self, request: SendChat) -> ChatMessage:
        if not self.synced.is_set():
            raise NotConnected("not connected to the hub yet")
        if request.channel not in self._channels:
            raise CommandRefused(f"no channel {request.channel!r} on this hub "
                                 f"(channels: {', '.join(self._channels)})")
        message = self._chat.compose(request.channel, request.text, request.ttl)
        self._store_changed.set()
        if not self._online:
            self._chat.hold(message)  # goes out once, in order, after the reconnect
            return message
        while True:
            link = self._link
            try:
                await self._publish(message)
                return message
            except ConnectionLost:
                if self._online and self._link is not link:
                    continue  # the reader already reconnected meanwhile: send it on the new link
                # The frame reader sees the break too and reconnects; this one waits for it.
                self._online = False
                self._chat.hold(message)
                return message

    def _recipients(self) -> list[PublicKey]:
        """Whom a message is sealed to now: every member whose key we may encrypt to, and
        always our own key (never an impostor's under our name: the directory refuses it)."""
        recipients = list(self._members.trusted_keys().values())
        if self._members.key(self._identity.user) is None:
            recipients.append(self._identity.public)
        return recipients

    async def _publish(self, message: ChatMessage,
                       recipients: Sequence[PublicKey] | None = None) -> None:
        """Encrypt one of our messages for the channel's members now and send it; a first
        send (no `recipients` given) is remembered, with whom it went to, for resending."""
        resend = recipients is not None
        to = list(recipients) if recipients is not None else self._recipients()
        await self._keysync_step("send_message", {
            Command.MESSAGE: lambda: self._chat.seal(message, to)})
        if not resend:
            self._chat.sent(message)
            self._remember_recipients(message.id, to)

    def _remember_recipients(self, message_id: str, recipients: Sequence[PublicKey]) -> None:
        self._recipients_of[message_id] = frozenset(key.fingerprint for key in recipients)
        if len(self._recipients_of) > RECIPIENT_MEMORY:
            # Only messages still in the resend window matter.
            alive = {m.id for m in self._chat.recent(self._channels)}
            self._recipients_of = {mid: fps for mid, fps in self._recipients_of.items()
                                   if mid in alive}

    async def _after_reconnect(self) -> None:
        """Our sender keys start new epochs; the outbox goes out in order, then whatever we
        sent shortly before the break (it may not have reached the hub). Messages written
        meanwhile join the outbox (we are not online yet) and go out after it."""
        self._chat.new_epochs()
        sent = await self._send_outbox()
        await self._resend_recent(skip=frozenset(sent))
        await self._send_outbox()

    async def _send_outbox(self) -> list[str]:
        """Send the outbox in order until it stays empty; returns the ids sent."""
        sent: list[str] = []
        while outbox := self._chat.take_outbox():
            for message in outbox:
                await self._publish(message)
                sent.append(message.id)
        return sent

    async def _resend_recent(self, skip: frozenset[str] = frozenset(),
                             only: str | None = None) -> None:
        """Our recent messages again, each to the members present now who were among its
        first recipients (with `only`, to that key alone, plus ours): a newcomer, or a key
        the hub slipped in meanwhile, never reads what was written before it came."""
        present = {key.fingerprint: key for key in self._recipients()}
        own = self._identity.fingerprint
        for message in self._chat.recent(self._channels, skip):
            first = self._recipients_of.get(message.id, frozenset())
            if only is not None and only not in first:
                continue
            targets = [key for fingerprint, key in present.items() if fingerprint in first
                       and (only is None or fingerprint in (only, own))]
            if any(key.fingerprint != own for key in targets):
                await self._publish(message, targets)

    # -- the key-sync machine -------------------------------------------------------------------
    async def _keysync_step(self, event: str, build: Builders = NO_BUILDERS) -> None:
        """Feed the key-sync machine and send what it asks for. Per the driver's policy, a
        hub that breaks the protocol costs it this connection (we reconnect)."""
        assert self._link is not None
        try:
            step = self._keysync.step(event, build)
        except ProtocolViolation as exc:
            raise ConnectionLost(f"the hub broke the protocol: {exc}") from None
        for frame in step.frames:
            await self._link.send(frame)

    async def _emit(self, event: ev.SessionEvent) -> None:
        await self._events.send(event)
