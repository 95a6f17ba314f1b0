"""The client's session with a hub, as an actor: connect, log in, sync keys, then chat.

It owns the connection and composes the parts that do the work: `login` (the handshake),
`MemberDirectory` (keys and trust), `ChatDesk` (sealing, opening, outbox, resends),
`CallHost` (calls, loaded on demand) and the audited Reconnect machine with its backoff
(gossip/fsm/reconnect.py: the one reconnect policy, which every front end reuses). Front ends
(CLI, desktop app, bots) only ask it the requests in `commands.py` and read the events it
publishes; they never touch its state.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import trio

from gossip._groups import sole_error
from gossip.actors import Actor, ActorRef
from gossip.crypto import CryptoError, HubKeyChanged, PublicKey
from gossip.crypto import rosterlog as rl
from gossip.crypto.pins import Trust
from gossip.fsm import (
    NO_BUILDERS,
    Backoff,
    BackoffPolicy,
    Builders,
    ClientKeySync,
    ClientKeySyncPhase,
    MachineDriver,
    ProtocolViolation,
    Reconnect,
    ReconnectOrder,
    ReconnectPhase,
)
from gossip.fsm.roster import RosterPhase
from gossip.wire import (
    CALL_ERRORS,
    CallMembers,
    CallRoster,
    Channels,
    Command,
    CreatePrivate,
    Error,
    ErrorCode,
    FileChunk,
    FileHeld,
    Frame,
    HangUp,
    Key,
    KeyRemoved,
    KeyRequest,
    Message,
    Missed,
    MissedBy,
    PrivateChannels,
    RosterAppend,
    RosterLog,
    RosterRequest,
    Signal,
)

from . import events as ev
from .callhost import CallHost
from .callpresence import CallPresenceBook
from .chat import ChatDesk
from .commands import (
    AcceptKey,
    AddToChannel,
    CreatePrivateChannel,
    EditChat,
    GetFileLane,
    GetPrivateChannels,
    GetState,
    HandOverChannel,
    JoinCall,
    Leave,
    MeasureLatency,
    React,
    RemoveFromChannel,
    RetryNow,
    SendChat,
    VerifyKey,
)
from .directory import ForgedOwnKey, MemberDirectory
from .errors import (
    CommandRefused,
    ConnectionLost,
    HubUnreachable,
    LoginFailed,
    MessageRejected,
    NotConnected,
    SignedInElsewhere,
)
from .files import FileLane
from .login import log_in
from .messages import ChatMessage, Distribution
from .private import Outcome, PrivateChannelView, PrivateDesk, judge
from .profile import Profile
from .replaystore import keep_replay_saved
from .state import SessionState
from .transport import HubLink, open_hub_link

log = logging.getLogger("gossip.client")

# Refusals after which the hub takes the same message later; any other is final.
_RETRYABLE = frozenset({ErrorCode.RATE, ErrorCode.CHANNEL_RATE, ErrorCode.BUDGET})
_RETRY_DEFAULT = 1.0  # seconds, when the hub names no time
_RETRY_MIN, _RETRY_CAP = 0.01, 60.0
_RESEND_MARGIN = 2.0  # seconds more than the hub's span, for clocks and queues
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
    # A connection that stayed online this long starts the backoff over (0: any that got
    # online does; the backoff still grows while attempts fail before getting online).
    reconnect_reset_after: float = 0.0
    # Our messages of the last this-many seconds are sent again to members who (re)join.
    resend_window: float = 60.0
    # We ping the hub every `keepalive_interval` s; no pong within `keepalive_timeout` s and
    # the connection counts as lost (a network that went silent sends no FIN to notice).
    keepalive_interval: float = 20.0
    keepalive_timeout: float = 20.0
    # A private channel the hub lists must have its roster log here within this many seconds,
    # or it counts as withheld (said, and asked for again).
    roster_timeout: float = 10.0
    # How long a roster change of ours waits for the hub to store and relay it.
    roster_confirm_timeout: float = 15.0
    # Other hubs of the same cluster (host, port): a lost connection is retried on the next
    # address in turn. They share one certificate, so the pin of one is the pin of all.
    other_hubs: tuple[tuple[str, int], ...] = ()

    @property
    def hubs(self) -> tuple[tuple[str, int], ...]:
        """Every hub address to try, this config's host and port first."""
        first = (self.host, self.port)
        return (first, *(hub for hub in self.other_hubs if hub != first))


@dataclass
class _RosterWrite:
    """A roster entry of ours on its way: done when the roster we verify holds it, or the hub
    refused it (`refusal`)."""

    channel: str
    entry_hash: bytes
    done: trio.Event = field(default_factory=trio.Event)
    refusal: str = ""


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
        self._call_presence = CallPresenceBook()  # who the hub says is in each call
        # Whom each of our recent messages was first sealed to (key fingerprints): a resend
        # goes to those only, never to someone who was not there when it was written.
        self._recipients_of: dict[str, frozenset[str]] = {}
        self._channels: tuple[str, ...] = ()
        self._chat = ChatDesk(profile.identity, config.clock,
                              resend_window=config.resend_window)
        self._chat.restore_replay(profile.replay.load())  # replays after a restart are caught
        self._calls = CallHost(profile.identity, self._send_for_call, events, config.clock,
                               self._members, membership=self._may_reach)
        self._private = PrivateDesk(profile.identity, profile.pins,
                                    log_timeout=config.roster_timeout,
                                    session_trust=self._announced_trust)
        self._roster_writes: dict[bytes, _RosterWrite] = {}  # by the ref of the frame
        self._roster_deadline_changed = trio.Event()
        self._private_settled = trio.Event()  # this connection's listing came and settled
        self._private_listed = False
        self._store_changed = trio.Event()
        self._leaving = False
        self._leave_requested = trio.Event()
        self._online = False  # synced on the current connection, outbox sent
        # Ours the hub refused for now, waiting in order to go out again at its pace.
        self._held: list[ChatMessage] = []
        self._held_changed = trio.Event()
        self._resend_at = 0.0
        self._pace = _RETRY_DEFAULT
        self._life = MachineDriver(Reconnect)
        self._backoff = Backoff(BackoffPolicy(config.reconnect_base, config.reconnect_cap,
                                              reset_after=config.reconnect_reset_after))
        self._hub_index = 0  # which of config.hubs this connection goes to
        self._pause: trio.CancelScope | None = None  # the backoff pause under way, if any
        self._pause_cut = False  # the user cut it short (RetryNow)
        self.synced = trio.Event()
        self._files = FileLane(self._emit)  # file transfers run in the asker's tasks

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def phase(self) -> ReconnectPhase:
        """Where the session is in its connection life (online, waiting to retry, ...)."""
        return self._life.phase

    async def main(self) -> None:
        """Connect and serve. The Reconnect machine decides what a loss means: the first
        attempt's failure goes back to the caller; after that, a lost connection is retried
        with backoff and jitter while requests keep being served (chat goes to the outbox),
        until the user leaves or the hub refuses for good."""
        self.nursery.start_soon(self.serve)
        self.nursery.start_soon(self._expire_messages)
        self.nursery.start_soon(keep_replay_saved, self._chat.replay_snapshot,
                                self._profile.replay)
        # The rosters verified before a restart: the hub's logs are judged against them
        # (in a worker thread, since a long log is slow to verify; no thread when none was
        # saved, which is most profiles).
        if self._profile.rosters.path.exists():
            for roster in await trio.to_thread.run_sync(self._profile.rosters.load_verified):
                self._private.restore(roster)
        while True:
            try:
                await self._connect_once()
            except (ConnectionLost, HubUnreachable, LoginFailed) as exc:
                if isinstance(exc, LoginFailed) and not self._login_worth_retrying(exc):
                    self._life_step("refused_for_good")
                    raise
                if self._leaving:
                    break
                # The next attempt goes to the next hub of the cluster (if there are several).
                self._hub_index = (self._hub_index + 1) % len(self._config.hubs)
                if not self.synced.is_set() and self._hub_index != 0:
                    continue  # a first connection tries each hub once before giving up
                if not self._config.reconnect:
                    raise
                self._life_step("lost")
                if self._life.phase is not ReconnectPhase.WAITING:
                    raise  # the first attempt failed: the caller decides what next
                self._backoff, delay = self._backoff.after_loss(trio.current_time(),
                                                                random.random())
                # The pause ends when it is due, when the user leaves, or when they ask to
                # retry now (RetryNow cancels it: set before the notice, which is what shows
                # them the choice).
                self._pause = trio.CancelScope(deadline=trio.current_time() + delay)
                await self._emit(ev.Disconnected("reconnecting", str(exc), retry_in=delay))
                with self._pause:
                    await self._leave_requested.wait()
                self._pause = None
                if self._leaving:
                    break
                self._life_step("retry_now" if self._pause_cut else "retry_due")
                self._pause_cut = False
            except (SignedInElsewhere, HubKeyChanged):
                self._life_step("refused_for_good")
                raise
            else:
                break  # we left politely
        self._life_step("leave")

    def _login_worth_retrying(self, failure: LoginFailed) -> bool:
        """A login that ran out of time, ours or the hub's, after we were in before: the hub
        is busy (a restart's storm), not refusing us; come back after the pause like any
        lost connection. A first login that times out still goes back to the caller, and a
        refusal (password, key, name) stays final."""
        return (failure.code == ErrorCode.TIMEOUT and self._config.reconnect
                and self.synced.is_set())

    def _pin_as_cluster(self, host: str, port: int) -> None:
        """A hub of our cluster not met yet must show the certificate pinned for the others:
        all hubs of a cluster share one (docs/scale.md), so one pin covers them all."""
        known = self._profile.known_hubs
        if len(self._config.hubs) < 2 or known.pinned(host, port) is not None:
            return
        for other_host, other_port in self._config.hubs:
            pinned = known.pinned(other_host, other_port)
            if pinned is not None:
                known.accept(host, port, pinned)
                return

    def _life_step(self, event: str) -> None:
        """The connection-life machine's step; its orders are carried out by `main` (retry,
        stop) and `_take_end_of_keys` (online)."""
        step = self._life.step(event)
        if ReconnectOrder.REPORT_ONLINE in step.reports:
            self._backoff = self._backoff.went_online(trio.current_time())

    async def _connect_once(self) -> None:
        try:
            await self._connect_and_serve()
        except BaseExceptionGroup as group:
            raise sole_error(group) from None
        finally:
            self._online = False
            self._link = None

    async def _connect_and_serve(self) -> None:
        # Every connection starts its protocol over.
        self._keysync = MachineDriver(ClientKeySync)
        self._members.start_over()
        self._private.start_over(trio.current_time())
        self._private_settled = trio.Event()
        self._private_listed = False
        async with trio.open_nursery() as nursery:
            try:
                host, port = self._config.hubs[self._hub_index]
                self._pin_as_cluster(host, port)
                self._link = await open_hub_link(nursery, host, port, tls=self._config.tls,
                                                 known_hubs=self._profile.known_hubs)
                self._hub_name = await log_in(self._link, self._identity, self._config.password,
                                              timeout=self._config.login_timeout,
                                              on_queued=self._in_login_line)
                if self._link.first_use:  # pinned only now that it proved the password
                    self._profile.known_hubs.check(host, port, self._link.fingerprint)
                await self._emit(ev.Connected(self._hub_name, self._link.fingerprint,
                                              self._link.first_use))
                await self._keysync_step("start", {Command.KEY_REQUEST: KeyRequest})
                nursery.start_soon(self._keep_alive, self._link)
                nursery.start_soon(self._resend_held)
                nursery.start_soon(self._watch_roster_deadlines)
                await self._read_frames(nursery)
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
                self._files.detach()
                # What the hub held back goes out first on the next connection.
                self._chat.requeue(self._held)
                self._held = []

    # -- the live phase ----------------------------------------------------------------------
    async def _read_frames(self, nursery: trio.Nursery) -> None:
        assert self._link is not None
        while True:
            frame = await self._link.receive()
            if isinstance(frame, Error):
                await self._take_refusal(frame)
            elif isinstance(frame, (Missed, MissedBy)):
                await self._take_missed(frame)
            elif isinstance(frame, (CallMembers, HangUp, Signal)):
                await self._to_calls(frame, frame.channel)
            elif isinstance(frame, (PrivateChannels, RosterLog, RosterAppend)):
                await self._take_roster_frame(frame)
            elif isinstance(frame, (FileHeld, FileChunk)):
                self._files.take(frame)
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
                    await self._take_end_of_keys(nursery)
                elif isinstance(frame, Message):
                    await self._take_message(frame)
                elif isinstance(frame, CallRoster):
                    await self._take_call_roster(frame)

    async def _take_refusal(self, frame: Error) -> None:
        """The hub refused one of our frames; it closes the link itself if it must."""
        if frame.ref is not None and self._files.take(frame):
            return
        ours = self._chat.ours(frame.ref) if frame.ref is not None else None
        write = self._roster_writes.get(frame.ref) if frame.ref is not None else None
        if write is not None:
            write.refusal = f"the hub refused it ({frame.code}): {frame.reason}"
            write.done.set()
        elif frame.code in CALL_ERRORS or (frame.code == ErrorCode.NOT_MEMBER
                                            and frame.ref is None and self._calls.active):
            # A call refused as not a member names no ref either: the joining call takes it.
            await self._to_calls(frame, None)
        elif ours is not None:
            await self._message_refused(*ours, frame)
        else:
            await self._emit(ev.HubError(frame.code, frame.reason))
        if frame.code == ErrorCode.REPLACED:
            # We signed in elsewhere: coming back would push that one out in turn.
            raise SignedInElsewhere(frame.reason)

    async def _message_refused(self, message: ChatMessage, was_key: bool, frame: Error) -> None:
        """Nothing lost without notice: a message the hub refused for now waits in order and
        goes out again at the pace the hub names; one refused for good is reported."""
        if was_key:
            self._chat.new_epoch(message.channel)  # its readers never got that hand-over
        if frame.code not in _RETRYABLE:
            await self._emit(ev.MessageNotSent(message.id, message.channel, frame.code,
                                               frame.reason))
            return
        pace = frame.retry_after if frame.retry_after is not None else _RETRY_DEFAULT
        self._pace = min(max(pace, _RETRY_MIN), _RETRY_CAP)
        self._resend_at = max(self._resend_at, trio.current_time() + self._pace)
        if all(held.id != message.id for held in self._held):
            self._held.append(message)
            self._held.sort(key=lambda held: held.sent_at)
            await self._emit(ev.MessageDelayed(message.id, message.channel, frame.code,
                                               self._resend_at - trio.current_time()))
        self._held_changed.set()

    async def _resend_held(self) -> None:
        """One at a time and in order, paced as the hub asked: many messages refused at once
        must not all come back at once and be refused again."""
        while True:
            while not self._held:
                self._held_changed = trio.Event()
                await self._held_changed.wait()
            await trio.sleep_until(self._resend_at)
            if not self._held:
                continue
            message = self._held.pop(0)
            self._resend_at = trio.current_time() + self._pace
            # It reached no one, but goes only to whom it was first sealed (still here).
            await self._publish(message, self._first_recipients_present(message.id))

    async def _take_missed(self, frame: Missed | MissedBy) -> None:
        if self._keysync.phase is not ClientKeySyncPhase.SYNCED:
            raise ConnectionLost(f"the hub broke the protocol: {frame.command.readable} "
                                 "before the key sync")
        if isinstance(frame, Missed):
            await self._emit(ev.HubReportedMissed(frame.sender, frame.channel, frame.count,
                                                  frame.seconds))
            return
        # A reader missed some of ours: resend what we still have of that span, to them only
        # (they drop what they already have by id).
        key = self._members.trusted_keys((frame.user,)).get(frame.user)
        if key is None or frame.user == self._identity.user:
            return
        assert self._link is not None
        if self._private.is_private(frame.channel) and not self._private.seal_to(
                frame.channel, [key]):
            return  # no longer (or never) in the roster we verified
        for message in self._chat.sent_within(frame.channel, frame.seconds + _RESEND_MARGIN):
            # Only to a key it was first sealed to: a lying hub's "missed by" for a key it
            # slipped in since must not get it our past messages.
            if key.fingerprint in self._recipients_of.get(message.id, frozenset()):
                await self._link.send(self._chat.seal_for(message, frame.user, key))

    async def _take_end_of_keys(self, nursery: trio.Nursery) -> None:
        resynced = self.synced.is_set()
        # The first time nothing can be waiting to go out (chat needs a sync), so we are
        # online at once; after a reconnect only once the outbox is out, with no await in
        # between: a message written meanwhile queues behind it.
        self._online = not resynced
        self.synced.set()
        self._life_step("synced")
        self._calls.attach(nursery)
        for user in self._members.gone_since_break():
            await self._emit(ev.MemberLeft(user))
        await self._emit(ev.Synced(self._members.users(), self._channels))
        if resynced:
            await self._after_reconnect()
            self._online = True
        assert self._link is not None
        self._files.attach(self._link)

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
        if self._online and seen.user == self._identity.user:
            # Our own key announced again: another connection of ours (a second device) came.
            # Not a join to show; our next messages start new epochs, handed to it too.
            self._chat.new_epochs()
            return
        # Every identity shows, during the first sync too: a member the hub adds is seen.
        await self._emit(ev.MemberJoined(seen.user, seen.key.fingerprint, seen.trust))
        if self._online:
            # A (re)joining member may have lost our sender keys and missed what we sent
            # while they were away: new epochs, and our recent messages again to them if
            # they had them first (receivers drop the ones they already have by id).
            self._chat.new_epochs()
            await self._resend_recent(only=seen.key.fingerprint)
            await self._resend_files(only=seen.key.fingerprint)

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
            await self._emit(ev.MessageDiscarded(sender, frame.channel, "unknown_sender",
                                                "no key for the sender"))
            return
        if self._private.is_private(frame.channel):
            # Only a verified roster member under the key the roster names: a sender key
            # handed over by anyone else is not even opened.
            refusal = self._private.sender_refusal(frame.channel, sender, key.fingerprint)
            if refusal is not None:
                await self._emit(ev.MessageDiscarded(sender, frame.channel, "not_member",
                                                    refusal))
                return
        elif frame.channel not in self._channels:
            await self._emit(ev.MessageDiscarded(sender, frame.channel, "unknown_channel",
                                                f"no channel {frame.channel!r} we know of"))
            return
        try:
            opened = self._chat.open(frame, key, self._members.trust_of(sender),
                                     members=len(self._members.users()))
        except MessageRejected as exc:
            log.info("rejected message from %s in %s: %s", sender, frame.channel, exc)
            await self._emit(ev.MessageDiscarded(sender, frame.channel, exc.reason, exc.detail))
            return
        for refused, why in self._chat.take_late_refusals():
            # An edit or reaction that waited for its original and may not name it.
            await self._emit(ev.MessageDiscarded(refused.sender, refused.channel, why.reason,
                                                why.detail))
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

    async def _take_call_roster(self, frame: CallRoster) -> None:
        """Who the hub says is in a channel's call, before we join (its word: unverified).
        Only for channels we are in; anything else is ignored."""
        if frame.channel not in self._channels and not self._private.is_private(frame.channel):
            log.info("ignoring a call roster for %r, not a channel of ours", frame.channel)
            return
        event = self._call_presence.take(frame.channel, frame.users)
        if event is not None:
            await self._emit(event)

    async def _to_calls(self, frame: Frame, channel: str | None) -> None:
        if isinstance(frame, CallMembers):
            users: tuple[str, ...] = frame.users
        elif isinstance(frame, Signal):
            users = (frame.peer,)
        else:
            users = ()
        keys = self._members.trusted_keys(users)
        if channel is not None and self._private.is_private(channel):
            # A private channel's call: keys of the verified roster's members only.
            keys = {user: key for user, key in keys.items()
                    if self._private.may_reach(channel, user, key.fingerprint)}
        await self._calls.route(frame, channel, keys)

    def _may_reach(self, channel: str, user: str, fingerprint: str) -> bool:
        return self._private.may_reach(channel, user, fingerprint)

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
        if isinstance(message, SendChat | EditChat | React):
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
        if isinstance(message, GetFileLane):
            return self._files
        if isinstance(message, MeasureLatency):
            return await self._measure_latency()
        if isinstance(message, JoinCall):
            return await self._join_call(message)
        if isinstance(message, CreatePrivateChannel):
            return await self._create_private(message.channel)
        if isinstance(message, AddToChannel):
            return await self._add_to_channel(message.channel, message.user)
        if isinstance(message, RemoveFromChannel):
            return await self._remove_from_channel(message.channel, message.user)
        if isinstance(message, HandOverChannel):
            return await self._hand_over_channel(message.channel, message.user)
        if isinstance(message, GetPrivateChannels):
            if message.settled:
                with trio.move_on_after(self._config.roster_timeout + 5):
                    await self._private_settled.wait()
            return self._private.views()
        if isinstance(message, RetryNow):
            return self._retry_now()
        if isinstance(message, Leave):
            self._leaving = True
            self._leave_requested.set()
            if self._link is not None:
                await self._link.aclose()
            return None
        raise TypeError(f"unknown request {message!r}")

    def _retry_now(self) -> bool:
        """Cut the backoff pause short so `main` tries at once; False when no pause is under
        way (online, an attempt already running, or left): nothing to hurry then."""
        pause = self._pause
        if pause is None or self._life.phase is not ReconnectPhase.WAITING or self._leaving:
            return False
        self._pause_cut = True
        pause.cancel()
        return True

    async def _join_call(self, request: JoinCall) -> ActorRef:
        if self._private.is_private(request.channel):
            refusal = self._private.send_refusal(request.channel)
            if refusal is not None:
                raise CommandRefused(f"cannot call in private channel {request.channel}: "
                                     f"{refusal}")
        elif request.channel not in self._channels:
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
                            tuple(self._chat.store.messages()), self._call_presence.rosters())

    # -- sending chat -------------------------------------------------------------------------
    def _compose(self, request: SendChat | EditChat | React) -> ChatMessage:
        """The message a request asks for (an edit or a reaction in its original's
        channel); CommandRefused when it cannot be written."""
        if isinstance(request, EditChat):
            return self._chat.compose_edit(request.ref, request.text)
        if isinstance(request, React):
            return self._chat.compose_reaction(request.ref, request.emoji)
        return self._chat.compose(request.channel, request.text, request.ttl,
                                  reply_to=request.reply_to, file=request.file)

    async def _send_chat(self, request: SendChat | EditChat | React) -> ChatMessage:
        if not self.synced.is_set():
            raise NotConnected("not connected to the hub yet")
        message = self._compose(request)
        channel = message.channel
        private = self._private.is_private(channel)
        if private:
            refusal = self._private.send_refusal(channel)
            if refusal is not None:
                raise CommandRefused(f"cannot send in private channel {channel}: "
                                     f"{refusal}")
        elif channel not in self._channels:
            raise CommandRefused(f"no channel {channel!r} on this hub "
                                 f"(channels: {', '.join(self._channels)})")
        # Meant for the members we know now: however late it goes out, nobody who joins
        # meanwhile reads it (a key the hub slips in during a reconnect included). In a
        # private channel, for the verified roster's members only.
        intended = self._members.known_fingerprints() | {self._identity.fingerprint}
        if message.file is not None:
            # A file waits on the hub until it expires: it is meant for the members we have
            # pinned too, and sent to each who comes back meanwhile (_resend_files).
            intended |= self._profile.pins.trusted_fingerprints()
        if private:
            roster = self._private.roster(channel)
            intended &= frozenset(member.fingerprint for member in (
                roster.members.values() if roster is not None else ()))
        self._store_changed.set()
        if not self._online:
            self._chat.hold(message)  # goes out once, in order, after the reconnect
            self._remember_recipients(message.id, intended)
            return message
        self._chat.keep(message)
        self._remember_recipients(message.id, intended)
        while True:
            link = self._link
            try:
                await self._publish(message)
                return message
            except ConnectionLost:
                if self._online and self._link is not link:
                    continue  # the reader already reconnected meanwhile: send it on the new link
                # The frame reader sees the break too and reconnects; this one waits for it.
                # It is shown already, so it waits whatever the outbox's limit.
                self._online = False
                self._chat.hold(message, over_limit=True)
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
        """Encrypt one of our messages and send it: to `recipients`, or to those it was meant
        for who are members now. A first send (no `recipients`) is kept for resending. In a
        private channel, only ever to the verified roster's members (`seal_to`), and not at
        all unless our verified view says we are one."""
        first_send = recipients is None
        to = self._first_recipients_present(message.id) if recipients is None \
            else list(recipients)
        if self._private.is_private(message.channel):
            to = list(self._private.seal_to(message.channel, to))
            if not to:
                await self._emit(ev.MessageNotSent(
                    message.id, message.channel, "not_member",
                    self._private.send_refusal(message.channel) or "nobody to send it to"))
                return
        await self._keysync_step("send_message", {
            Command.MESSAGE: lambda: self._chat.seal(message, to)})
        if first_send:
            self._chat.sent(message)

    def _remember_recipients(self, message_id: str, fingerprints: frozenset[str]) -> None:
        self._recipients_of[message_id] = fingerprints
        if len(self._recipients_of) > RECIPIENT_MEMORY:
            # Only messages still waiting or in the resend window matter.
            channels = (*self._channels, *self._private.member_channels())
            alive = {m.id for m in self._chat.recent(channels)} | {
                m.id for m in self._held} | self._chat.waiting_ids() | {
                m.id for m in self._chat.files_alive(channels)}
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
        own = self._identity.fingerprint
        channels = (*self._channels, *self._private.member_channels())
        for message in self._chat.recent(channels, skip):
            targets = [key for key in self._first_recipients_present(message.id)
                       if only is None or key.fingerprint in (only, own)]
            if any(key.fingerprint != own for key in targets):
                await self._publish(message, targets)

    async def _resend_files(self, only: str) -> None:
        """Our file messages still alive (past the resend window), to a member who came
        back and was meant to have them (the key `only`)."""
        own = self._identity.fingerprint
        channels = (*self._channels, *self._private.member_channels())
        resent = frozenset(m.id for m in self._chat.recent(channels))
        for message in self._chat.files_alive(channels, skip=resent):
            targets = [key for key in self._first_recipients_present(message.id)
                       if key.fingerprint in (only, own)]
            if any(key.fingerprint != own for key in targets):
                await self._publish(message, targets)

    def _first_recipients_present(self, message_id: str) -> list[PublicKey]:
        """The keys a message was first sealed to that are still members' keys now."""
        first = self._recipients_of.get(message_id, frozenset())
        return [key for key in self._recipients() if key.fingerprint in first]

    # -- private channels (private.py holds the rosters; here, the I/O) ---------------------
    async def _take_roster_frame(self, frame: PrivateChannels | RosterLog | RosterAppend
                                 ) -> None:
        if self._keysync.phase is not ClientKeySyncPhase.SYNCED:
            raise ConnectionLost(f"the hub broke the protocol: {frame.command.readable} "
                                 "before the key sync")
        now = trio.current_time()
        if isinstance(frame, PrivateChannels):
            outcome = self._private.listed(frame.channels, now)
            self._private_listed = True
        elif isinstance(frame, RosterLog):
            outcome = self._private.log_part(frame, now)
        else:
            outcome = self._private.appended(frame)
        self._roster_deadline_changed.set()
        await self._carry_out(outcome)
        self._note_settled()

    def _note_settled(self) -> None:
        if self._private_listed and self._private.settled():
            self._private_settled.set()

    async def _carry_out(self, outcome: Outcome) -> None:
        """Judge what must be (in a worker thread: a long log takes a while), publish the
        events, ask again for logs withheld."""
        for judgement in outcome.judge:
            verdict = await trio.to_thread.run_sync(judge, judgement, self._identity.public)
            before = self._private.roster(judgement.channel)
            await self._carry_out(self._private.judged(judgement, verdict))
            after = self._private.roster(judgement.channel)
            if after is not None and after is not before:
                await trio.to_thread.run_sync(self._save_roster, after)
            self._settle_roster_writes(judgement.channel)
        for event in outcome.events:
            await self._emit(event)
        for channel in outcome.ask_for_log:
            if self._link is not None:
                await self._link.send(RosterRequest(channel=channel))

    def _save_roster(self, roster: rl.Roster) -> None:
        try:
            self._profile.rosters.save(roster.channel, roster.encoded())
        except OSError as error:  # a full disk must not end the session; live checks hold
            log.warning("cannot save the roster of %s: %s", roster.channel, error)

    def _settle_roster_writes(self, channel: str) -> None:
        roster = self._private.roster(channel)
        refusal = self._private.send_refusal(channel)
        for write in self._roster_writes.values():
            if write.channel != channel or write.done.is_set():
                continue
            if roster is not None and roster.position(write.entry_hash) is not None:
                write.done.set()
            elif refusal is not None and self._private.phase(channel) not in (
                    None, RosterPhase.UNKNOWN, RosterPhase.VERIFYING, RosterPhase.MEMBER):
                write.refusal = refusal
                write.done.set()

    async def _watch_roster_deadlines(self) -> None:
        """A listed private channel whose log does not come in time is withheld (the machine
        says so, and we ask again)."""
        while True:
            self._roster_deadline_changed = trio.Event()
            due = self._private.next_deadline()
            if due is None:
                await self._roster_deadline_changed.wait()
                continue
            with trio.move_on_at(due):
                await self._roster_deadline_changed.wait()
                continue
            await self._carry_out(self._private.timed_out(trio.current_time()))
            self._note_settled()

    async def _create_private(self, channel: str) -> PrivateChannelView:
        self._require_online()
        if channel in self._channels or self._private.is_private(channel):
            raise CommandRefused(f"a channel {channel!r} exists already")
        roster = rl.create(channel, self._identity, self._now_ms())
        entry = roster.entries[0]
        return await self._write_roster(channel, entry, CreatePrivate(
            channel=channel, entry=entry.to_bytes(), ref=_ref_of(entry)))

    async def _add_to_channel(self, channel: str, user: str) -> PrivateChannelView:
        self._require_online()
        roster = self._roster_to_change(channel)
        key = self._members.trusted_keys((user,)).get(user)
        if key is None:
            raise CommandRefused(f"no key of {user} we may use here now: they must be online, "
                                 "and a changed key accepted first")
        entry = rl.add_member(roster, key, self._identity, self._now_ms()).entries[-1]
        return await self._write_roster(channel, entry, RosterAppend(
            channel=channel, entry=entry.to_bytes(), ref=_ref_of(entry)))

    async def _remove_from_channel(self, channel: str, user: str) -> PrivateChannelView:
        self._require_online()
        roster = self._roster_to_change(channel)
        entry = rl.remove_member(roster, user, self._identity, self._now_ms()).entries[-1]
        view = await self._write_roster(channel, entry, RosterAppend(
            channel=channel, entry=entry.to_bytes(), ref=_ref_of(entry)))
        # Our next message there starts a new epoch without them (the recipients changed,
        # too; this makes it so even if nothing else did).
        self._chat.new_epoch(channel)
        return view

    async def _hand_over_channel(self, channel: str, user: str) -> PrivateChannelView:
        self._require_online()
        roster = self._roster_to_change(channel)
        entry = rl.hand_over(roster, user, self._identity, self._now_ms()).entries[-1]
        return await self._write_roster(channel, entry, RosterAppend(
            channel=channel, entry=entry.to_bytes(), ref=_ref_of(entry)))

    def _announced_trust(self, user: str, fingerprint: str) -> Trust | None:
        key = self._members.key(user)
        if key is None or key.fingerprint != fingerprint:
            return None
        return self._members.trust_of(user)

    def _require_online(self) -> None:
        if not self._online or self._link is None:
            raise NotConnected("not connected to the hub: roster changes need it")

    def _roster_to_change(self, channel: str) -> rl.Roster:
        if not self._private.is_private(channel):
            raise CommandRefused(f"no private channel {channel!r} we follow")
        refusal = self._private.send_refusal(channel)
        roster = self._private.roster(channel)
        if refusal is not None or roster is None:
            raise CommandRefused(f"cannot change the roster of {channel}: {refusal}")
        return roster

    async def _write_roster(self, channel: str, entry: rl.RosterEntry,
                            frame: CreatePrivate | RosterAppend) -> PrivateChannelView:
        """Send a roster entry of ours and wait until the roster we verify holds it (the hub
        relays it back like any member's) or the hub refuses it."""
        assert frame.ref is not None and self._link is not None
        write = self._roster_writes[frame.ref] = _RosterWrite(channel, entry.hash)
        try:
            await self._link.send(frame)
            with trio.move_on_after(self._config.roster_confirm_timeout):
                await write.done.wait()
        finally:
            del self._roster_writes[frame.ref]
        if write.refusal:
            raise CommandRefused(f"{channel}: {write.refusal}")
        view = self._private.view(channel)
        if not write.done.is_set() or view is None:
            raise CommandRefused(f"{channel}: the hub did not confirm the roster change in "
                                 f"{self._config.roster_confirm_timeout:g} s")
        return view

    def _now_ms(self) -> int:
        return int(self._config.clock() * 1000)

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

    def _in_login_line(self, place: int, wait: float) -> None:
        # Said every few seconds while we wait: one the UI is too busy to take now is
        # dropped, the next one says the same, fresher.
        with contextlib.suppress(trio.WouldBlock):
            self._events.send_nowait(ev.InLoginLine(place, wait))

    async def _emit(self, event: ev.SessionEvent) -> None:
        await self._events.send(event)


def _ref_of(entry: rl.RosterEntry) -> bytes:
    """How our roster frames name an entry to the hub (echoed in a refusal)."""
    return hashlib.blake2b(entry.hash, digest_size=16, person=b"roster").digest()
