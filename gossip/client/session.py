"""The client's session with a hub, as an actor: connect, log in, sync keys, then chat.

It owns the connection, the login and key-sync machines, the key pins and the message store.
Front ends (CLI, desktop app) only send it commands (SendChat, AcceptKey, ...) and read the
events it publishes; they never touch its state.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import trio

from gossip._groups import sole_error
from gossip.actors.actor import Actor, ActorRef, run_actor
from gossip.actors.errors import ActorStopped
from gossip.client.calltypes import CallFrame
from gossip.client.errors import (
    CommandRefused,
    ConnectionLost,
    HubUnreachable,
    LoginFailed,
    MessageRejected,
    OutboxFull,
    SignedInElsewhere,
)
from gossip.crypto import CryptoError, PakeClient, PublicKey, SenderKeyRing, prove_possession
from gossip.crypto.pins import Trust
from gossip.fsm import (
    ClientHandshake,
    ClientKeySync,
    Close,
    CompiledMachine,
    ProtocolViolation,
    Report,
    Send,
)
from gossip.fsm.actions import Action
from gossip.wire import (
    PROTOCOL_VERSION,
    CallMembers,
    Channels,
    Command,
    Error,
    Frame,
    Greeting,
    HangUp,
    HubHello,
    Key,
    KeyRemoved,
    KeyRequest,
    LoginProof,
    Message,
    Signal,
    Welcome,
)

from . import events as ev
from .calls import CallActor
from .commands import (
    AcceptKey,
    GetState,
    JoinCall,
    Leave,
    MeasureLatency,
    SendChat,
    SendFrames,
    VerifyKey,
)
from .messages import (
    CLOCK_WINDOW,
    ChannelSender,
    ChatMessage,
    Distribution,
    new_chat,
    open_chat,
)
from .profile import Profile
from .state import MemberView, SessionState
from .store import MessageStore
from .transport import HubLink, open_hub_link

log = logging.getLogger("gossip.client")

OUTBOX_LIMIT = 1000

# Hub refusals that concern a call (they name no channel: every call decides if it is its).
_CALL_ERRORS = frozenset({"call_full", "not_in_call"})


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


# -- commands a front end sends the session (ask returns the reply) --------------------------











class Session(Actor):
    def __init__(self, profile: Profile, config: SessionConfig,
                 events: trio.MemorySendChannel[ev.SessionEvent]) -> None:
        self._profile = profile
        self._identity = profile.identity
        self._config = config
        self._events = events
        self._link: HubLink | None = None
        self._hub_name = ""
        self._handshake = CompiledMachine(ClientHandshake)
        self._keysync = CompiledMachine(ClientKeySync)
        self._keys: dict[str, PublicKey] = {}
        # Trust as of this session: a key first pinned in this session stays NEW here.
        self._trust: dict[str, Trust] = {}
        self._channels: tuple[str, ...] = ()
        self._store = MessageStore()
        self._senders: dict[str, ChannelSender] = {}  # our sender key per channel
        self._ring = SenderKeyRing()  # everyone else's sender keys
        self._store_changed = trio.Event()
        self._outgoing: list[Frame] = []  # frames the last transitions asked us to send
        self._leaving = False
        self._leave_requested = trio.Event()
        self._online = False  # synced on the current connection
        self._online_since: float | None = None
        self._outbox: list[ChatMessage] = []  # written while offline, sent after reconnect
        self._recent: list[ChatMessage] = []  # ours, resent to members who (re)join
        self._previous_members: set[str] = set()
        self._calls: dict[str, ActorRef] = {}
        self._call_nursery: trio.Nursery | None = None
        self.synced = trio.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    async def main(self) -> None:
        """Connect and serve; after a first successful sync, a lost connection is retried
        with backoff and jitter while commands keep being served (chat goes to the outbox)."""
        self.nursery.start_soon(self.serve)
        self.nursery.start_soon(self._expire_messages)
        failures = 0
        while True:
            try:
                await self._connect_once()
                return  # we left politely
            except (ConnectionLost, HubUnreachable) as exc:
                if self._leaving:
                    return
                if not (self._config.reconnect and self.synced.is_set()):
                    raise
                if self._online_since is not None:
                    failures = 0  # it worked for a while: start the backoff over
                delay = min(self._config.reconnect_cap,
                            self._config.reconnect_base * 2 ** failures)
                delay *= random.uniform(0.5, 1.0)  # jitter: a hub restart is not a stampede
                failures += 1
                await self._emit(ev.Disconnected("reconnecting", str(exc), retry_in=delay))
                with trio.move_on_after(delay):
                    await self._leave_requested.wait()
                if self._leaving:
                    return

    async def _connect_once(self) -> None:
        self._online_since = None
        try:
            await self._connect_and_serve()
        except BaseExceptionGroup as group:
            raise sole_error(group) from None
        finally:
            self._online = False
            self._link = None

    async def _connect_and_serve(self) -> None:
        # Every connection starts its protocol over.
        self._handshake = CompiledMachine(ClientHandshake)
        self._keysync = CompiledMachine(ClientKeySync)
        # Who was there before the break (kept across failed attempts), to report who left.
        self._previous_members = set(self._keys) or self._previous_members
        self._keys = {}
        async with trio.open_nursery() as nursery:
            try:
                self._link = await open_hub_link(nursery, self._config.host, self._config.port,
                                                 tls=self._config.tls,
                                                 known_hubs=self._profile.known_hubs)
                await self._log_in()
                await self._emit(ev.Connected(self._hub_name, self._link.fingerprint,
                                              self._link.first_use))
                self._run(self._keysync, "start", {Command.KEY_REQUEST: [KeyRequest()]})
                await self._flush()
                self._call_nursery = nursery
                nursery.start_soon(self._keep_alive, self._link)
                await self._read_frames()
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
                # Calls live in this connection's nursery and end with it, and so does the
                # task that would have forgotten them: forget them here, so they can be
                # joined again after a reconnect.
                self._calls.clear()
                self._call_nursery = None

    async def _log_in(self) -> None:
        assert self._link is not None
        pake: PakeClient | None = None
        try:
            with trio.fail_after(self._config.login_timeout):
                self._run(self._handshake, "connected", {Command.GREETING: [Greeting(
                    version=PROTOCOL_VERSION, user=self._identity.user,
                    public_key=self._identity.public.to_bytes())]})
                await self._flush()
                while not self._handshake.finished:
                    frame = await self._link.receive()
                    if isinstance(frame, HubHello):
                        self._hub_name = frame.hub
                        pake = PakeClient(self._config.password, self._identity.user,
                                          self._identity.fingerprint, self._link.fingerprint,
                                          PROTOCOL_VERSION)
                        confirm = pake.finish(frame.pake)
                        proof = LoginProof(pake=pake.message, confirm=confirm,
                                           possession=prove_possession(
                                               pake.transcript_digest, self._identity))
                        self._run(self._handshake, "hub_hello", {Command.LOGIN_PROOF: [proof]},
                                  supported=frame.version == PROTOCOL_VERSION)
                    elif isinstance(frame, Welcome) and pake is not None:
                        self._run(self._handshake, "welcome", {},
                                  valid=_confirms(pake, frame.confirm))
                    elif isinstance(frame, Error):
                        self._run(self._handshake, "error", {})
                        raise LoginFailed(frame.code, _refusal(frame))
                    else:
                        self._run(self._handshake, frame.command.readable, {})
                    await self._flush()
        except trio.TooSlowError:
            self._handshake.handle("timeout")
            raise LoginFailed("timeout", "the hub did not complete the login in time") from None
        except CryptoError as exc:  # the hub's PAKE message was not a valid point
            raise LoginFailed("auth", f"the hub's login message was invalid: {exc}") from None

    # -- the live phase ----------------------------------------------------------------------
    async def _read_frames(self) -> None:
        assert self._link is not None
        while True:
            frame = await self._link.receive()
            if isinstance(frame, Error):
                # The hub refused one of our frames; it closes the link itself if it must.
                if frame.code in _CALL_ERRORS:
                    await self._to_calls(frame, None)
                else:
                    await self._emit(ev.HubError(frame.code, frame.reason))
                if frame.code == "replaced":
                    # We signed in elsewhere: coming back would push that one out in turn.
                    raise SignedInElsewhere(frame.reason)
                continue
            if isinstance(frame, (CallMembers, HangUp, Signal)):
                await self._to_calls(frame, frame.channel)
                continue
            self._run(self._keysync, frame.command.readable, {})
            if isinstance(frame, Key):
                await self._take_key(frame)
            elif isinstance(frame, KeyRemoved):
                self._keys.pop(frame.user, None)
                await self._emit(ev.MemberLeft(frame.user))
            elif isinstance(frame, Channels):
                self._channels = frame.channels
                if self.synced.is_set():
                    await self._emit(ev.ChannelsChanged(frame.channels))
            elif frame.command is Command.END_OF_KEYS:
                resynced = self.synced.is_set()
                # The first time nothing can be waiting to go out (chat needs a sync), so we
                # are online at once; after a reconnect only once the outbox is out, with no
                # await in between: a message written meanwhile queues behind it.
                self._online = not resynced
                self.synced.set()
                self._online_since = trio.current_time()
                for user in sorted(self._previous_members - set(self._keys)):
                    await self._emit(ev.MemberLeft(user))
                await self._emit(ev.Synced(tuple(sorted(self._keys)), self._channels))
                if resynced:
                    await self._after_reconnect()
                    self._online = True
            elif isinstance(frame, Message):
                await self._take_message(frame)

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
        try:
            key = PublicKey.from_bytes(frame.key)
        except CryptoError as exc:
            log.warning("ignoring unusable key for %s: %s", frame.user, exc)
            return
        if key.user != frame.user:
            log.warning("ignoring key whose user id %r is not %r", key.user, frame.user)
            return
        trust = self._profile.pins.check(frame.user, key.fingerprint)
        if not (trust is Trust.PINNED and self._trust.get(frame.user) is Trust.NEW):
            self._trust[frame.user] = trust
        self._keys[frame.user] = key
        if trust is Trust.CHANGED:
            pinned = self._profile.pins.pinned_fingerprint(frame.user) or ""
            await self._emit(ev.KeyChanged(frame.user, pinned, key.fingerprint))
        if self.synced.is_set() or trust is Trust.CHANGED:
            await self._emit(ev.MemberJoined(frame.user, key.fingerprint, trust))
        if self._online and frame.user != self._identity.user:
            # A (re)joining member may have lost our sender keys and missed what we sent
            # while they were away: new epochs, and our recent messages again (receivers
            # drop the ones they already have by id).
            for sender in self._senders.values():
                sender.invalidate()
            await self._resend_recent()

    async def _take_message(self, frame: Message) -> None:
        sender = frame.sender or ""
        key = self._keys.get(sender)
        if key is None:
            await self._emit(ev.MessageRejected(sender, frame.channel, "unknown_sender",
                                                "no key for the sender"))
            return
        trust = self._trust_of(sender)
        try:
            message = open_chat(frame.blob, self._identity, routed_sender=sender,
                                routed_channel=frame.channel, sender_key=key, trust=trust,
                                now=self._config.clock(), ring=self._ring)
        except MessageRejected as exc:
            log.info("rejected message from %s in %s: %s", sender, frame.channel, exc)
            await self._emit(ev.MessageRejected(sender, frame.channel, exc.reason, exc.detail))
            return
        if isinstance(message, Distribution):
            if not self._ring.add(message.key):
                log.info("ignored a repeated sender key from %s in %s", sender, frame.channel)
            return
        if not self._store.add(message):
            log.info("dropped repeated message %s from %s", message.id, sender)
            return
        self._store_changed.set()
        await self._emit(ev.MessageReceived(message))

    async def _to_calls(self, frame: Frame, channel: str | None) -> None:
        """Hand a call frame, with the keys it concerns, to its call (or, for an error that
        names no channel, to every call)."""
        if isinstance(frame, CallMembers):
            users: tuple[str, ...] = frame.users
        elif isinstance(frame, Signal):
            users = (frame.peer,)
        else:
            users = ()
        keys = {user: self._keys[user] for user in users
                if user in self._keys and self._trust_of(user) is not Trust.CHANGED}
        targets = [self._calls[channel]] if channel in self._calls else (
            list(self._calls.values()) if channel is None else [])
        for call in targets:
            try:
                await call.tell(CallFrame(frame, keys))
            except ActorStopped:
                pass

    async def _join_call(self, command: JoinCall) -> ActorRef:
        if command.channel not in self._channels:
            raise ValueError(f"no channel {command.channel!r} on this hub")
        if command.channel in self._calls:
            raise ValueError(f"already in the call in {command.channel}")
        if self._call_nursery is None or not self._online:
            raise ValueError("not connected to the hub (reconnecting): join once back")
        call = CallActor(command.channel, self._identity, self.ref, command.options,
                         self._events.clone(), self._config.clock)
        ref: ActorRef = await self._call_nursery.start(
            partial(run_actor, call, name=f"call:{command.channel}"))
        self._calls[command.channel] = ref
        self._call_nursery.start_soon(self._forget_call, command.channel, call)
        return ref

    async def _forget_call(self, channel: str, call: CallActor) -> None:
        await call.ended.wait()
        self._calls.pop(channel, None)

    async def _expire_messages(self) -> None:
        """Drop messages from view and store when their time is up."""
        while True:
            due = self._store.next_expiry()
            self._store_changed = trio.Event()
            if due is None:
                await self._store_changed.wait()
                continue
            with trio.move_on_after(max(0.0, due - self._config.clock())):
                await self._store_changed.wait()
            for message in self._store.expire(self._config.clock()):
                await self._emit(ev.MessageExpired(message.id, message.channel))

    # -- commands from front ends -------------------------------------------------------------
    async def receive(self, message: object) -> object:
        """A front end's command. One that cannot be done (bad input, nothing to accept) is
        refused (CommandRefused, raised to the asker); it never ends the session."""
        try:
            return await self._command(message)
        except (ValueError, CryptoError) as exc:
            raise CommandRefused(str(exc)) from exc

    async def _command(self, message: object) -> object:
        if isinstance(message, SendChat):
            return await self._send_chat(message)
        if isinstance(message, AcceptKey):
            self._profile.pins.accept(message.user)
            return self._refresh_trust(message.user)
        if isinstance(message, VerifyKey):
            key = self._keys.get(message.user)
            fingerprint = key.fingerprint if key else (
                self._profile.pins.pinned_fingerprint(message.user) or "")
            self._profile.pins.verify(message.user, fingerprint)
            return self._refresh_trust(message.user)
        if isinstance(message, GetState):
            return self.state()
        if isinstance(message, MeasureLatency):
            return await self._measure_latency()
        if isinstance(message, JoinCall):
            return await self._join_call(message)
        if isinstance(message, SendFrames):
            try:
                for frame in message.frames:
                    if self._link is None:
                        raise ConnectionLost("offline")
                    await self._link.send(frame)
            except ConnectionLost:
                pass  # the call ends with the connection; the frame reader reconnects
            return None
        if isinstance(message, Leave):
            self._leaving = True
            self._leave_requested.set()
            if self._link is not None:
                await self._link.aclose()
            return None
        raise TypeError(f"unknown command {message!r}")

    async def _measure_latency(self) -> float | None:
        if self._link is None:
            return None
        with trio.move_on_after(5):  # a hub that does not answer holds up the inbox no longer
            try:
                return await self._link.ping()
            except ConnectionLost:
                return None  # the frame reader sees the break too and ends the session
        return None

    def _trust_of(self, user: str) -> Trust:
        return self._trust.get(user) or self._profile.pins.trust_of(user) or Trust.NEW

    def _refresh_trust(self, user: str) -> Trust:
        trust = self._profile.pins.trust_of(user) or Trust.NEW
        self._trust[user] = trust
        return trust

    def state(self) -> SessionState:
        members = tuple(MemberView(user, key.fingerprint, self._trust_of(user))
                        for user, key in sorted(self._keys.items()))
        return SessionState(self._hub_name, self._link.fingerprint if self._link else "",
                            self._channels, members, tuple(self._store.messages()))

    async def _send_chat(self, command: SendChat) -> ChatMessage:
        if not self.synced.is_set():
            raise ValueError("not connected to the hub yet")
        if command.channel not in self._channels:
            raise ValueError(f"no channel {command.channel!r} on this hub "
                             f"(channels: {', '.join(self._channels)})")
        message = new_chat(self._identity, channel=command.channel, text=command.text,
                           ttl=command.ttl, now=self._config.clock())
        self._store.add(message)
        self._store_changed.set()
        if not self._online:
            if len(self._outbox) >= OUTBOX_LIMIT:
                raise OutboxFull(f"offline, and {OUTBOX_LIMIT} messages already wait to go "
                                 "out: try again once reconnected")
            self._outbox.append(message)  # goes out once, in order, after the reconnect
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
                self._outbox.append(message)
                return message

    async def _publish(self, message: ChatMessage, *, resend: bool = False) -> None:
        """Encrypt one of our messages for the channel's members now and send it; a first
        send is remembered for resending to members who (re)join."""
        # A member whose key changed and was not accepted gets nothing: sealing to an
        # unconfirmed key could hand the message to whoever swapped it.
        recipients = [key for user, key in self._keys.items()
                      if self._trust_of(user) is not Trust.CHANGED]
        if self._identity.user not in self._keys:
            recipients.append(self._identity.public)
        sender = self._senders.get(message.channel)
        if sender is None:
            sender = self._senders[message.channel] = ChannelSender(self._identity,
                                                                    message.channel)
        frames = []
        distribution = sender.distribution_for(recipients)
        if distribution is not None:
            frames.append(Message(channel=message.channel, blob=distribution))
        frames.append(Message(channel=message.channel, blob=sender.encrypt(message)))
        self._run(self._keysync, "send_message", {Command.MESSAGE: frames})
        await self._flush()
        if not resend:
            self._recent.append(message)

    async def _after_reconnect(self) -> None:
        """Our sender keys start new epochs; the outbox goes out in order, then whatever we
        sent shortly before the break (it may not have reached the hub). Messages written
        meanwhile join the outbox (we are not online yet) and go out after it."""
        for sender in self._senders.values():
            sender.invalidate()
        sent = await self._send_outbox()
        await self._resend_recent(skip=frozenset(sent))
        await self._send_outbox()

    async def _send_outbox(self) -> list[str]:
        """Send the outbox in order until it stays empty; returns the ids sent."""
        sent: list[str] = []
        while self._outbox:
            outbox, self._outbox = self._outbox, []
            now = self._config.clock()
            for message in outbox:
                if message.expires_at <= now:
                    continue
                if now - message.sent_at > CLOCK_WINDOW / 2:
                    # Receivers refuse old send times (replay guard): it is sent now.
                    message = replace(message, sent_at=now)
                await self._publish(message)
                sent.append(message.id)
        return sent

    async def _resend_recent(self, skip: frozenset[str] = frozenset()) -> None:
        now = self._config.clock()
        self._recent = [m for m in self._recent
                        if now - m.sent_at < self._config.resend_window and m.expires_at > now]
        for message in list(self._recent):
            if message.id not in skip and message.channel in self._channels:
                await self._publish(message, resend=True)

    # -- machines and actions ----------------------------------------------------------------
    def _run(self, machine: CompiledMachine[ClientHandshake] | CompiledMachine[ClientKeySync],
             event: str, frames: dict[Command, list[Frame]], **data: object) -> None:
        try:
            actions = machine.handle(event, **data)
        except ProtocolViolation as exc:
            raise ConnectionLost(f"the hub broke the protocol: {exc}") from None
        self._outgoing.extend(self._perform(actions, frames))

    def _perform(self, actions: list[Action], frames: dict[Command, list[Frame]]) -> list[Frame]:
        out: list[Frame] = []
        for action in actions:
            if isinstance(action, Send):
                out.extend(frames.get(action.command, []))
            elif isinstance(action, Close):
                raise LoginFailed(action.code, action.reason)
            elif isinstance(action, Report):
                log.debug("%s: %s", self._identity.user, action.what)
        return out

    async def _flush(self) -> None:
        assert self._link is not None
        outgoing, self._outgoing = self._outgoing, []
        for frame in outgoing:
            await self._link.send(frame)

    async def _emit(self, event: ev.SessionEvent) -> None:
        await self._events.send(event)


def _confirms(pake: PakeClient, confirm: bytes) -> bool:
    try:
        pake.verify_hub(confirm)
    except CryptoError:
        return False
    return True


def _refusal(frame: Error) -> str:
    if frame.code == "auth":
        return "login refused: wrong password (or the hub is not the one you pinned)"
    return f"login refused by the hub ({frame.code}): {frame.reason}"
