"""One client connection on the hub: an actor owning its login and key-sync machines.

It reads frames, feeds them to its machines and carries out their actions; a writer task
drains its own bounded outbox, so a slow reader only ever delays itself. Whatever a client
sends, the worst outcome is that this one connection is closed with a reason.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from gossip.actors.actor import Actor
from gossip.crypto import (
    AuthenticationFailed,
    CryptoError,
    InvalidKey,
    KeyVerdict,
    PakeHub,
    PublicKey,
    check_possession,
    check_possession_of,
    verdict_name,
)
from gossip.crypto.rawkey import KeyOutline, outline_public_key
from gossip.fsm import (
    Close,
    CompiledMachine,
    HubCall,
    HubHandshake,
    HubKeySync,
    MachineDriver,
    ProtocolViolation,
    Report,
    Send,
    Step,
)
from gossip.fsm.actions import Action
from gossip.fsm.driver import Builders
from gossip.wire import (
    LOGIN_QUEUE_SUBPROTOCOL,
    PROTOCOL_VERSION,
    CallMembers,
    CallRoster,
    Channels,
    Command,
    CreatePrivate,
    EndOfKeys,
    Error,
    ErrorCode,
    FileBegin,
    FileChunk,
    FileDone,
    FileGet,
    FileHeld,
    FileStatus,
    Frame,
    FrameError,
    Greeting,
    HangUp,
    HubHello,
    Key,
    KeyRemoved,
    LoginProof,
    Message,
    Missed,
    MissedBy,
    PrivateChannels,
    Queued,
    RosterAppend,
    RosterRequest,
    Signal,
    StartCall,
    Welcome,
    decode_frame,
)
from gossip.wire.relay import make_ticket

from .callpresence import CallPresence
from .cluster.backend import (
    Admission,
    Admitted,
    ClusterUnavailable,
    ConnectionCap,
    KeyVerdicts,
    LocalConnectionCap,
    LocalNames,
    NameClaims,
    SharedRosters,
    TwoStepAdmission,
)
from .cluster.sharedfiles import SharedFiles, answer_remote_file_frame
from .config import HubConfig
from .fairqueue import FairOutbox, OutboxItem, OutboxLimits, Put
from .files import (
    FILE_UPLINK,
    FileRefused,
    FileStore,
    UploadFrame,
    answer_file_frame,
    file_frame_cost,
)
from .identities import JoinRefused, MemberBudgets
from .loginqueue import LoginQueue
from .metrics import HubMetrics
from .names import Claim, NameBook
from .private import PrivateBook, RosterRefusal
from .receivelimits import widen_receive_limits
from .registry import Registry
from .rosterrelay import log_frames, relay_roster_entry
from .seats import Seat, watch_seat
from .throttle import LoginThrottle

log = logging.getLogger("gossip.hub.connection")

# Frames trio-websocket buffers per connection before it stops reading the socket: one
# before login (an outsider parks at most two pre-login frames here, the queued one and the
# one being read), more once the member has proved the password.
_PRELOGIN_RECEIVE_QUEUE = 1
_RECEIVE_QUEUE = 16
# Full key validations (PGPy, every self-signature) at once, in worker threads. Only clients
# that proved the password get one, and the key's size and packet counts are capped already.
KEY_CHECKS_AT_ONCE = 2
_CLOSE_GRACE = 2.0
# A member's file asks answered from another hub of a cluster, at once (each at most
# MAX_FILE_GET_CHUNKS chunks): a download's window runs while its chat goes on.
REMOTE_FILE_ASKS = 4
# The outbox lane file chunks queue in (not a valid user name, so never a member's lane).
FILE_LANE = " files"

__all__ = ["ConnectionActor", "Disconnect", "FrameTap", "HubContext", "OutboxItem"]

# A tap on every frame the hub reads or writes: (direction, user or address, bytes). Tests use
# it to prove the hub only ever holds ciphertext; None in production.
FrameTap = Callable[[str, str, bytes], None]


@dataclass
class HubContext:
    """What every connection of one hub shares (read-only except the registry)."""

    config: HubConfig
    registry: Registry
    certificate_fingerprint: str
    throttle: LoginThrottle
    names: NameBook
    private: PrivateBook = field(default_factory=PrivateBook)
    tap: FrameTap | None = None
    files: FileStore | None = None  # None: this hub stores no files (refused as unknown)
    key_checks: trio.CapacityLimiter = field(
        default_factory=lambda: trio.CapacityLimiter(KEY_CHECKS_AT_ONCE))
    connections: int = 0
    connections_ended: int = 0  # since the hub started (heap.py reads it)
    by_host: Counter[str] = field(default_factory=Counter)
    # Set (and replaced) whenever a connection ends: for tools and tests that wait for the
    # hub to let connections go, without polling.
    connection_ended: trio.Event = field(default_factory=trio.Event)
    # Where names are bound: the hub's own file (the default), or its cluster's Redis.
    claims: NameClaims | None = None
    shared_rosters: SharedRosters | None = None  # a cluster's: private logs shared in Redis
    # Counts one identity's connections on every hub of a cluster (alone: the registry does).
    connection_cap: ConnectionCap = field(default_factory=LocalConnectionCap)
    # The name claim and the connection count of a login (a cluster's: one round trip).
    admission: Admission | None = None
    shared_files: SharedFiles | None = None  # a cluster's: files fetched from the hub holding them
    # A cluster's: verdicts on keys any of its hubs validated, so a restarted hub skips the
    # self-signature checks of returning members (None: every key validated in full).
    key_verdicts: KeyVerdicts | None = None
    metrics: HubMetrics = field(default_factory=HubMetrics)
    # Tells channel members who is in each call before they join (hooked on the registry).
    call_presence: CallPresence = field(init=False)
    # Turns for logins under way (Limits.logins_at_once), taken in arrival order.
    login_queue: LoginQueue = field(init=False)
    # Turns for TLS and WebSocket handshakes under way (Limits.handshakes_at_once), in order.
    handshake_turns: trio.CapacityLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.call_presence = CallPresence(self.registry, self.private)
        limits = self.config.limits
        self.login_queue = LoginQueue(limits.logins_at_once, limits.login_queue_length)
        self.handshake_turns = trio.CapacityLimiter(limits.handshakes_at_once)
        if self.claims is None:
            self.claims = LocalNames(self.names)
        if self.admission is None:
            self.admission = TwoStepAdmission(self.claims, self.connection_cap)


class Disconnect(Exception):
    """End this connection, telling the client `code` and `reason` first."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class ConnectionActor(Actor):
    """`host` is the address key the hub's per-address limits count by (throttle.address_key)."""

    def __init__(self, stream: trio.abc.Stream, address: str, hub: HubContext, *,
                 host: str = "") -> None:
        self._stream = stream
        self.address = address
        self._host = host
        self._hub = hub
        self._limits = hub.config.limits
        self.user = ""
        self.public_key = b""
        self.fingerprint = ""
        # Compiled machines (a state id each, one table per class): ten thousand idle
        # connections hold next to nothing for them. The login one is dropped once done.
        self._handshake: CompiledMachine[HubHandshake] | None = CompiledMachine(HubHandshake)
        self._joined = False
        self._counted_in_cluster = False
        self._keysync = MachineDriver(HubKeySync)
        # channel -> this member's place in its call, and its seat there
        self._calls: dict[str, MachineDriver[HubCall]] = {}
        self._seats: dict[str, Seat] = {}
        limits = self._limits
        self._outbox = FairOutbox(OutboxLimits(
            limits.outbox_frames, limits.outbox_bytes, limits.sender_backlog_frames,
            limits.sender_backlog_bytes))
        self._closing = False  # the writer sends nothing more (see _close)
        self._rosters_waiting: dict[str, bytes] = {}  # channel -> its newest call roster
        self._writer_done = trio.Event()
        self._ws: WebSocketConnection | None = None
        self._nursery: trio.Nursery | None = None
        # Asks for files another hub holds, under way at once for this member (see _file_frame).
        self._remote_files = trio.Semaphore(REMOTE_FILE_ASKS)
        # Shared with the identity's other connections (identities.py); set on joining.
        self._budgets: MemberBudgets | None = None
        self._cancel = trio.CancelScope()
        self._kicked: Disconnect | None = None

    # -- the registry's view of this connection (MemberPort): synchronous, never blocks -----
    def deliver(self, data: OutboxItem, *, sender: str | None = None,
                channel: str | None = None) -> None:
        self._queue(data, sender=sender, channel=channel, droppable=True)

    def _queue(self, data: OutboxItem, *, sender: str | None, channel: str | None,
               droppable: bool) -> None:
        size = len(data) if isinstance(data, bytes) else sum(map(len, data))
        if sender is None:
            put = self._outbox.put_control(data, size)
        else:
            put = self._outbox.put(sender, data, size, channel=channel, droppable=droppable)
        if put is Put.OVERFLOW:
            self.kick(ErrorCode.SLOW, "too far behind; reconnect to catch up")
        elif put is Put.DROPPED:
            log.debug("drop user=%s sender=%s channel=%s", self.user, sender, channel)

    @property
    def outbox_depth(self) -> int:
        return self._outbox.frames

    def deliver_in_order(self, data: tuple[bytes, ...], *, sender: str) -> None:
        self._queue(data, sender=sender, channel=None, droppable=False)

    def member_joined(self, user: str, public_key: bytes) -> None:
        # Queued behind what `user` sent before (if it was here already), and ahead of what
        # it sends next: its key always arrives before its messages.
        self._notify(self._keysync, "member_joined",
                     {Command.KEY: lambda: Key(user=user, key=public_key)}, sender=user)

    def member_left(self, user: str) -> None:
        self._notify(self._keysync, "member_left",
                     {Command.KEY_REMOVED: lambda: KeyRemoved(user=user)}, sender=user)

    def _notify(self, driver: MachineDriver[Any], event: str, build: Builders, *,
                sender: str | None = None) -> None:
        # Runs in the task of whoever changed the registry: a failure here must end this
        # connection only, never theirs.
        try:
            self._step(driver, event, build, sender=sender)
        except Disconnect as exc:
            self.kick(exc.code, exc.reason)

    def kick(self, code: str, reason: str) -> None:
        if self._kicked is None:
            self._kicked = Disconnect(code, reason)
            log.info("kick %s user=%s code=%s", self.address, self.user or "-", code)
        self._cancel.cancel()

    # -- the actor ---------------------------------------------------------------------------
    async def main(self) -> None:
        log.info("open %s", self.address)
        ending: Disconnect | None = None
        self._hub.connections += 1
        self._hub.by_host[self._host] += 1
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                with self._cancel:
                    try:
                        await self._serve(nursery)
                    except Disconnect as exc:
                        ending = exc
                ending = ending or self._kicked
                await self._close(ending)
                nursery.cancel_scope.cancel()
        finally:
            # Shielded: an actor stopped from outside is already cancelled, and a bare await
            # here would raise again and skip the bookkeeping below (a ghost member).
            with trio.CancelScope(shield=True):
                await self._abort()
            self._hub.connections -= 1
            self._hub.connections_ended += 1
            self._hub.connection_ended.set()
            self._hub.connection_ended = trio.Event()
            self._hub.by_host[self._host] -= 1
            if not self._hub.by_host[self._host]:
                del self._hub.by_host[self._host]
            # Whatever the writer did not get out in time is dropped (and counted).
            self._outbox.close(drop_backlog=True)
            for seat in self._seats.values():
                seat.end()
            if self._joined:
                self._hub.registry.leave(self)
                if self._outbox.dropped and not self._hub.registry.online(self.user):
                    # Not told yet: kept for its return (and what comes meanwhile counted).
                    self._hub.registry.record_missed(self.user, self._outbox.dropped)
            elif self._counted_in_cluster:
                # Counted by the cluster's cap, then refused or gone before joining.
                self._hub.registry.recount(self.user)
            self._hub.metrics.connection_ended(ending.code if ending else None)
            log.info("close %s user=%s reason=%s", self.address, self.user or "-",
                     ending.code if ending else "client")

    async def _serve(self, nursery: trio.Nursery) -> None:
        throttle = self._hub.throttle
        async with throttle.login_slot(self._host, self._limits.handshake_timeout) as admitted:
            if not admitted:
                log.info("refuse %s: %d logins from that address under way", self.address,
                         throttle.pending(self._host))
                return
            # A penalised address waits before anything is read, TLS included: the client's
            # bytes stay in the kernel; the hub holds a socket and a sleeping task.
            await trio.sleep(throttle.wait_before_exchange(self._host))
            if not await self._open_websocket(nursery):
                return
            await self._wait_turn_and_log_in()
        if self._handshake is None or self._handshake.state_id != "authenticated":
            return
        assert self._ws is not None
        widen_receive_limits(self._ws, max_message_size=self._limits.max_frame_bytes,
                             queue=_RECEIVE_QUEUE)
        self._handshake = None
        try:
            self._budgets = self._hub.registry.join(self)
        except JoinRefused as refusal:
            raise Disconnect(refusal.code, refusal.reason) from None
        self._joined = True
        self._hub.metrics.logins.inc()
        try:
            await self._serve_member()
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionClosed, OSError):
            return

    async def _open_websocket(self, nursery: trio.Nursery) -> bool:
        """TLS and the WebSocket upgrade, before the line for a login turn: a client in line
        can then be told where it stands. Costs the hub the same handshake either way (about
        a millisecond and a half); at most `handshakes_at_once` at once, in arrival order (the
        rest wait unread, up to the handshake timeout): in a storm, all of them at once would
        all end late, past the clients' timers. False: no handshake (too slow, or gone)."""
        turns, turn = self._hub.handshake_turns, False
        with trio.move_on_after(self._limits.handshake_timeout):
            await turns.acquire()
            turn = True
        if not turn:
            log.info("refuse %s: %d TLS handshakes under way on the hub", self.address,
                     turns.borrowed_tokens)
            return False
        try:
            with trio.fail_after(self._limits.handshake_timeout):
                if isinstance(self._stream, trio.SSLStream):
                    await self._stream.do_handshake()
                request = await wrap_server_stream(
                    nursery, self._stream, message_queue_size=_PRELOGIN_RECEIVE_QUEUE,
                    max_message_size=self._limits.prelogin_max_frame_bytes)
                takes_words = LOGIN_QUEUE_SUBPROTOCOL in request.proposed_subprotocols
                self._ws = await request.accept(
                    subprotocol=LOGIN_QUEUE_SUBPROTOCOL if takes_words else None)
        except trio.TooSlowError:
            log.info("refuse %s: no TLS and WebSocket handshake within %g s", self.address,
                     self._limits.handshake_timeout)
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionClosed, OSError):
            return False
        finally:
            turns.release()
        nursery.start_soon(self._write_outbox)
        nursery.start_soon(self._keep_alive)
        return True

    async def _wait_turn_and_log_in(self) -> None:
        """In line for a turn (Limits.logins_at_once under way at once), then the login. A
        client that takes queue words hears its place every few seconds and may wait up to
        `login_queue_wait`; one that does not waits in silence, no longer than its own
        login timer would (the handshake timeout), as before the words existed."""
        assert self._ws is not None and self._handshake is not None
        limits = self._limits
        takes_words = self._ws.subprotocol == LOGIN_QUEUE_SUBPROTOCOL
        queue = self._hub.login_queue
        async with queue.turn(limits.login_queue_wait if takes_words
                              else limits.handshake_timeout,
                              tell=self._tell_place if takes_words else None,
                              every=limits.login_queue_word_interval) as turn:
            if not turn:
                log.info("refuse %s: %d logins waiting, %d under way", self.address,
                         queue.waiting, queue.under_way)
                if takes_words:
                    self._run(self._handshake, "turned_away", {})  # closes: busy
                # Older clients take any refusal at login as final, so they get the closed
                # connection they always got here, and come back after their pause.
                return
            try:
                with trio.fail_after(limits.handshake_timeout):
                    await self._log_in()
            except trio.TooSlowError:
                self._run(self._handshake, "timeout", {})
            except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionClosed,
                    OSError):
                return

    def _tell_place(self, place: int, wait: float) -> None:
        assert self._handshake is not None
        self._run(self._handshake, "queued",
                  {Command.QUEUED: [Queued(place=place, wait=round(wait, 1))]})

    async def _log_in(self) -> None:
        """The password first, the key after: until the PAKE proof checks out, the hub spends
        a header walk, one SHA-1 and two SPAKE2 steps on a connection, and nothing else."""
        assert self._handshake is not None
        greeting = await self._receive()
        if not isinstance(greeting, Greeting):
            self._run(self._handshake, _event_for(greeting), {})
            return
        try:
            outline = outline_public_key(greeting.public_key)
        except CryptoError as exc:
            raise Disconnect(ErrorCode.BAD_KEY, f"unusable public key: {exc}") from None
        if greeting.version != PROTOCOL_VERSION:
            self._run(self._handshake, "greeting", {}, supported=False)
            return
        refusal = self._hub.throttle.budget_refusal(self._host, greeting.user)
        if refusal is not None:
            raise Disconnect(ErrorCode.THROTTLED, refusal)
        self.user, self.public_key = greeting.user, greeting.public_key
        self.fingerprint = outline.fingerprint
        # The PAKE binds the key's fingerprint, read from its primary key packet alone.
        pake = PakeHub(self._hub.config.password or "", greeting.user, outline.fingerprint,
                       self._hub.certificate_fingerprint, PROTOCOL_VERSION)
        hello = HubHello(version=PROTOCOL_VERSION, hub=self._hub.config.name, pake=pake.message)
        self._run(self._handshake, "greeting", {Command.HUB_HELLO: [hello]}, supported=True)
        proof = await self._receive()
        if not isinstance(proof, LoginProof):
            self._run(self._handshake, _event_for(proof), {})
            return
        try:
            confirm = pake.finish(proof.pake, proof.confirm)
            # The password is proven: the key is now worth a full look, unless a hub of the
            # cluster validated these very bytes under today's rules.
            admitted, validated = None, None
            if self._hub.key_verdicts is not None:
                # The proof that this login holds the key comes first (it binds this exchange
                # alone, and is never part of a verdict): only a key's holder has its name
                # claimed on the strength of a verdict.
                try:
                    check_possession_of(pake.transcript_digest, proof.possession,
                                        greeting.public_key, outline.fingerprint)
                except InvalidKey as exc:
                    raise Disconnect(ErrorCode.BAD_KEY, f"unusable public key: {exc}") from None
                admitted = await self._admit_vouched(greeting, outline)
            if admitted is None:
                unchecked = proof.possession if self._hub.key_verdicts is None else None
                check = (greeting, outline, pake.transcript_digest, unchecked)
                if _ordinary(outline):
                    validated = _check_key(*check)
                else:
                    validated = await trio.to_thread.run_sync(_check_key, *check,
                                                              limiter=self._hub.key_checks)
        except AuthenticationFailed:
            # Refused at once; the address waits out its penalty before its next exchange.
            self._hub.throttle.failed(self._host, greeting.user)
            self._run(self._handshake, "login_proof", {}, valid=False)
            return
        self._hub.throttle.succeeded(self._host)
        await self._claim_name(greeting.user, outline.fingerprint, admitted)
        if validated is not None:
            # Only a key that got in leaves a verdict: verdicts grow with the keys members
            # log in with, not with whatever a holder of the password sends.
            self._remember_verdict(validated)
        self._run(self._handshake, "login_proof", {Command.WELCOME: [Welcome(confirm=confirm)]},
                  valid=True)

    async def _admit_vouched(self, greeting: Greeting, outline: KeyOutline) -> Admitted | None:
        """If the cluster keeps a verdict on these key bytes that covers this login's
        fingerprint and user now: the login's name claim and count, made in the same round
        trip as the verdict's read. None (nothing claimed): validate the key in full."""
        verdicts = self._hub.key_verdicts
        assert verdicts is not None
        user = greeting.user
        found = None
        now = datetime.now(UTC)
        if self._hub.registry.refusal(user, greeting.public_key) is None:
            found = await verdicts.admit_vouched(
                verdict_name(greeting.public_key), user, outline.fingerprint,
                self._hub.registry.connections_of(user) + 1,
                self._limits.connections_per_identity, int(now.timestamp()))
        if found is None:
            self._hub.metrics.key_verdicts.labels("validated").inc()
            return None
        verdict, admitted = found
        self._counted_in_cluster = admitted.elsewhere is None and admitted.claim in (
            Claim.OWNED, Claim.REGISTERED)
        checked = KeyVerdict.decode(verdict)
        if checked is None or not checked.vouches_for(outline.fingerprint, user, now):
            # Redis vouched and we would not: never trust the one check alone.
            log.error("key verdict for %s read back otherwise than Redis judged it", user)
            raise Disconnect(ErrorCode.CLUSTER_DOWN, "the cluster's key record is damaged; "
                             "tell the hub's operator")
        self._hub.metrics.key_verdicts.labels("shared").inc()
        return admitted

    def _remember_verdict(self, key: PublicKey) -> None:
        """A key just validated in full, proven held and admitted under its name: its
        verdict for the other hubs."""
        verdicts = self._hub.key_verdicts
        if verdicts is None:
            return
        verdict = KeyVerdict.of(key)
        verdicts.remember_key_verdict(verdict_name(key.to_bytes()), verdict.encode(),
                                      verdict.ttl_ms(datetime.now(UTC)))

    async def _claim_name(self, user: str, fingerprint: str,
                          admitted: Admitted | None = None) -> None:
        """A proven key takes its name if the name is free, keeps it if it is its own, and is
        refused if either the name or the key is another's (online or not). `admitted`: the
        claim and count made already (with the key's verdict)."""
        here = self._hub.registry.connections_of(user) + 1
        if admitted is None:
            refusal = self._hub.registry.refusal(user, self.public_key)
            if refusal is not None:
                raise Disconnect(refusal.code, refusal.reason)
            limit = self._limits.connections_per_identity
            assert self._hub.admission is not None
            try:
                admitted = await self._hub.admission.admit(user, fingerprint, here, limit)
            except ClusterUnavailable as exc:
                raise Disconnect(ErrorCode.CLUSTER_DOWN, str(exc)) from None
        claim, other, elsewhere = admitted.claim, admitted.other, admitted.elsewhere
        if claim in (Claim.OWNED, Claim.REGISTERED):
            self._counted_in_cluster = elsewhere is None
            if elsewhere is not None:
                raise Disconnect(ErrorCode.TOO_MANY_CONNECTIONS, (
                    f"{user} already has {elsewhere + here - 1} connections to this "
                    f"cluster, {elsewhere} of them on other hubs, the most one identity "
                    "may have; close one of them and try again"))
        if claim is Claim.NAME_TAKEN:
            raise Disconnect(ErrorCode.USER_TAKEN, (
                f"the name {user} belongs to another key on this hub; pick another name, or "
                f"ask the operator to free it (gossip-hub user reset {user})"))
        if claim is Claim.KEY_TAKEN:
            raise Disconnect(ErrorCode.KEY_TAKEN, (
                f"this key is registered as {other} on this hub; one key, one name"))
        if claim is Claim.REGISTERED:
            log.info("name %s registered to key %s", user, fingerprint)

    @property
    def budgets(self) -> MemberBudgets:
        assert self._budgets is not None, "budgets exist once joined"
        return self._budgets

    async def _serve_member(self) -> None:
        frames = self.budgets.frames
        while True:
            frame = await self._receive()
            if isinstance(frame, FILE_UPLINK):
                await self._file_frame(frame)  # paced by bytes, not by the frame rate
                continue
            if not frames.take():
                # Over the rate: this frame is refused, the connection stays; a client that
                # keeps flooding fills its own outbox with refusals and is let go as slow.
                self._refuse(ErrorCode.RATE,
                             f"more than {self._limits.frames_per_second:g} frames a second",
                             ref=frame.ref if isinstance(
                                 frame, (Message, CreatePrivate, RosterAppend)) else None,
                             retry_after=frames.retry_after())
                continue
            if isinstance(frame, Message):
                self._relay(frame)
            elif isinstance(frame, (StartCall, Signal, HangUp)):
                self._call_frame(frame)
            elif isinstance(frame, (CreatePrivate, RosterAppend, RosterRequest)):
                await self._roster_frame(frame)
            elif frame.command is Command.KEY_REQUEST:
                self._key_request()
            else:
                self._step(self._keysync, _event_for(frame))

    def _key_request(self) -> None:
        registry = self._hub.registry
        step = self._step(self._keysync, "key_request", {
            Command.KEY: registry.keys,
            Command.CHANNELS: lambda: Channels(channels=registry.channels),
            Command.END_OF_KEYS: EndOfKeys,
        })
        if "synced" not in step.reports:
            return
        registry.make_live(self)
        self._send(self._private_news())
        self._send([CallRoster(channel=channel, users=users)
                    for channel, users in self._hub.call_presence.snapshot_for(self)])
        # Back after being let go as slow: say what was missed, and ask its senders to resend.
        missed = registry.take_missed(self.user)
        if missed:
            now = trio.current_time()
            self._send([Missed(sender=item.sender, channel=item.channel, count=item.count,
                               seconds=round(now - item.first, 3)) for item in missed])
            for item in missed:
                registry.send_to(item.sender, self._encoded(MissedBy(
                    user=self.user, channel=item.channel, count=item.count,
                    seconds=round(now - item.first, 3))))

    def _report_dropped(self, sender: str) -> None:
        """This reader caught up with `sender` after some of its messages were dropped here:
        tell the reader what it missed and the sender who missed what."""
        if self._outbox.closed:
            return  # kept for the reader's return (see main)
        now = trio.current_time()
        told: list[Frame] = []
        for (from_user, channel), drop in list(self._outbox.dropped.items()):
            if from_user != sender:
                continue
            del self._outbox.dropped[(from_user, channel)]
            seconds = round(now - drop.first, 3)
            told.append(Missed(sender=sender, channel=channel, count=drop.count,
                               seconds=seconds))
            self._hub.registry.send_to(sender, self._encoded(MissedBy(
                user=self.user, channel=channel, count=drop.count, seconds=seconds)))
        self._send(told)

    def _relay(self, frame: Message) -> None:
        registry = self._hub.registry
        if frame.sender is not None:
            self._refuse(ErrorCode.FORGED, "clients may not set the sender; the hub does",
                         ref=frame.ref)
            return
        private = self._hub.private
        members = private.members(frame.channel) if private.is_private(frame.channel) else None
        if frame.channel not in registry.channels and members is None:
            self._refuse(ErrorCode.UNKNOWN_CHANNEL, f"no channel {frame.channel!r} on this hub",
                         ref=frame.ref)
            return
        self._step(self._keysync, "message")
        if members is not None and members.get(self.user) != self.fingerprint:
            self._refuse(ErrorCode.NOT_MEMBER, f"you are not in the roster of {frame.channel}",
                         ref=frame.ref)
            return
        if members is not None and frame.to is not None and frame.to not in members:
            self._refuse(ErrorCode.NOT_MEMBER, f"{frame.to} is not in the roster of "
                         f"{frame.channel}", ref=frame.ref)
            return
        rate = self.budgets.channel_rate(frame.channel)
        if not rate.take():
            self._refuse(ErrorCode.CHANNEL_RATE, (
                f"more than {self._limits.channel_messages_per_second:g} messages a second "
                f"in {frame.channel}"), ref=frame.ref, retry_after=rate.retry_after())
            return
        if frame.to is not None and (frame.to == self.user or not registry.live(frame.to)):
            self._refuse(ErrorCode.NOT_ONLINE, f"{frame.to} is not online", ref=frame.ref)
            return
        budget = self.budgets.bytes
        if not budget.admits():
            self._refuse(ErrorCode.BUDGET, (
                f"more than {self._limits.sender_bytes_per_second:g} bytes a second, counting "
                "every recipient"), ref=frame.ref, retry_after=budget.retry_after())
            return
        data = Message(channel=frame.channel, blob=frame.blob, sender=self.user).encode()
        self._tap("out", data)
        started = time.perf_counter()
        if frame.to is None and members is not None:
            count = registry.publish_to(members, frame.channel, data, sender=self.user)
        elif frame.to is None:
            count = registry.publish(frame.channel, data, sender=self.user)
        else:
            count = int(registry.send_to(frame.to, data, sender=self.user,
                                         channel=frame.channel))
        if frame.to is None:  # and on this member's other devices
            count += registry.publish_to_own(self, frame.channel, data)
        self._hub.metrics.fanned_out(count, time.perf_counter() - started)
        budget.charge(len(data) * count)
        log.info("msg user=%s channel=%s bytes=%d recipients=%d", self.user, frame.channel,
                 len(frame.blob), count)

    # -- files: sealed chunks stored blind until they expire (files.py) ----------------------
    async def _file_frame(self, frame: UploadFrame) -> None:
        if self._keysync.state_id != HubKeySync.live.id:
            raise Disconnect(ErrorCode.PROTOCOL, "files need the key sync first")
        # Over its byte rate (the identity's, shared by its connections), a member's next
        # frame is read later, not refused: TCP pushes back on its uploads and downloads; its
        # own chat waits too, nobody else's.
        budget = self.budgets.file_bytes
        await trio.sleep(budget.retry_after())
        budget.charge(file_frame_cost(frame, self._limits))
        ref = frame.ref if isinstance(frame, FileBegin) else frame.file
        try:
            if self._hub.files is None:
                raise FileRefused(ErrorCode.UNKNOWN_FILE, "this hub stores no files")
            answer = answer_file_frame(self._hub.files, frame, self.user, self._may_read)
        except FileRefused as exc:
            shared = self._hub.shared_files
            if (exc.code != ErrorCode.UNKNOWN_FILE or shared is None or self._nursery is None
                    or not isinstance(frame, FileStatus | FileGet)):
                self._refuse(exc.code, exc.reason, ref=ref)
                return
            # Held by another hub of the cluster, maybe (cluster/sharedfiles.py): asked in the
            # background, so the member's next frames are read meanwhile; only with this many
            # asks of theirs under way does the next wait its turn.
            await self._remote_files.acquire()
            self._nursery.start_soon(self._answer_from_elsewhere, shared, frame, ref)
            return
        self._answer_file(frame, answer)

    async def _answer_from_elsewhere(
        self, shared: SharedFiles, frame: FileStatus | FileGet, ref: bytes
    ) -> None:
        try:
            answer = await answer_remote_file_frame(shared, frame, self.user, self._may_read)
        except FileRefused as remote:
            self._refuse(remote.code, remote.reason, ref=ref)
            return
        finally:
            self._remote_files.release()
        self._answer_file(frame, answer)

    def _answer_file(self, frame: UploadFrame, answer: list[Frame]) -> None:
        held = answer[0] if answer else None
        if (self._hub.shared_files is not None and self._hub.files is not None
                and isinstance(frame, FileBegin | FileDone) and isinstance(held, FileHeld)):
            # The cluster learns which hub holds it (and, once done, that others may fetch it).
            self._hub.shared_files.file_held(self._hub.files.find(held.file))
        for frame_out in answer:
            if isinstance(frame_out, FileChunk):
                # Chunks go out in their own lane of the fair outbox, one item each: every
                # chat sender gets a turn between two chunks, so a download never starves chat.
                self._queue(self._encoded(frame_out), sender=FILE_LANE, channel=None,
                            droppable=False)
            else:
                self._send([frame_out])

    def _may_read(self, channel: str) -> bool:
        private = self._hub.private
        if private.is_private(channel):
            return private.is_member(channel, self.user, self.fingerprint)
        return channel in self._hub.registry.channels

    # -- private channels: roster logs stored and relayed blind (private.py) ----------------
    async def _roster_frame(self, frame: CreatePrivate | RosterAppend | RosterRequest) -> None:
        if self._keysync.state_id != HubKeySync.live.id:
            raise Disconnect(ErrorCode.PROTOCOL, "private channels need the key sync first")
        private = self._hub.private
        if isinstance(frame, RosterRequest):
            if not private.is_member(frame.channel, self.user, self.fingerprint):
                self._refuse(ErrorCode.NOT_MEMBER, f"you are not in the roster of "
                             f"{frame.channel}")
                return
            self._send(self._log_frames(frame.channel))
            return
        if isinstance(frame, RosterAppend) and frame.position is not None:
            self._refuse(ErrorCode.FORGED, "clients may not set the position; the hub does",
                         ref=frame.ref)
            return
        try:
            if isinstance(frame, CreatePrivate):
                if frame.channel in self._hub.registry.channels:
                    raise RosterRefusal(ErrorCode.CHANNEL_EXISTS,
                                        f"an open channel {frame.channel!r} exists")
                await self._reserve(frame.channel, frame.entry, create=True)
                private.create(frame.channel, frame.entry, self.user, self.fingerprint)
            else:
                await self._reserve(frame.channel, frame.entry, create=False)
                appended = private.append(frame.channel, frame.entry, self.user,
                                          self.fingerprint)
        except RosterRefusal as refusal:
            self._refuse(refusal.code, refusal.reason, ref=frame.ref)
            return
        log.info("roster user=%s channel=%s bytes=%d", self.user, frame.channel,
                 len(frame.entry))
        if isinstance(frame, CreatePrivate):
            news = self._private_news(frame.channel)
            self._send(news)
            # This member's other devices learn of the channel as this one does.
            encoded = tuple(self._encoded(part) for part in news)
            for port in self._hub.registry.own_live_ports(self):
                port.deliver_in_order(encoded, sender=self.user)
            return
        self._relay_roster_entry(frame.channel, frame.entry, appended.position,
                                 appended.before, appended.after)

    async def _reserve(self, channel: str, entry: bytes, *, create: bool) -> None:
        """In a cluster, the entry's place in the log is taken in Redis first: one log for
        every hub, and two hubs never accept different entries at one position."""
        shared = self._hub.shared_rosters
        if shared is None:
            return
        position = self._hub.private.preview(channel, entry, self.user, self.fingerprint,
                                             create=create)
        try:
            taken = await shared.reserve_roster(channel, position, entry, self.user)
        except ClusterUnavailable as exc:
            raise RosterRefusal(ErrorCode.CLUSTER_DOWN, str(exc)) from None
        if not taken:
            raise RosterRefusal(ErrorCode.ROSTER_REFUSED, (
                "the entry does not follow the last one of the log: it moved on meanwhile "
                "(take the log again and retry)"))

    def _relay_roster_entry(self, channel: str, entry: bytes, position: int,
                            before: Mapping[str, str], after: Mapping[str, str]) -> None:
        relay_roster_entry(self._hub.registry, self._hub.private, self._encoded, self.user,
                           channel, entry, position, before, after)

    def _private_news(self, *only: str) -> list[Frame]:
        """The listing of this member's private channels, then the whole log of each (of
        `only`, if given)."""
        channels = self._hub.private.channels_of(self.user, self.fingerprint)
        frames: list[Frame] = [PrivateChannels(channels=channels)]
        for channel in only or channels:
            frames += self._log_frames(channel)
        return frames

    def _log_frames(self, channel: str) -> list[Frame]:
        return log_frames(self._hub.private, channel)

    # -- calls ---------------------------------------------------------------------------------
    def call_roster(self, channel: str, users: tuple[str, ...]) -> None:
        """Who is in a channel's call now, coalesced: one outbox item (an empty batch) stands
        for every roster waiting, and the writer sends the newest of each channel when it
        gets there. However fast calls change, a reader holds one roster per channel."""
        try:
            step = self._keysync.step("call_roster", {
                Command.CALL_ROSTER: lambda: CallRoster(channel=channel, users=users)})
        except ProtocolViolation as exc:
            self.kick(ErrorCode.PROTOCOL, str(exc))
            return
        for frame in step.frames:
            if not self._rosters_waiting:
                self._queue((), sender=None, channel=None, droppable=False)
            self._rosters_waiting[channel] = self._encoded(frame)

    def _take_rosters(self) -> tuple[bytes, ...]:
        rosters = tuple(self._rosters_waiting.values())
        self._rosters_waiting.clear()
        return rosters

    def call_changed(self, channel: str, users: tuple[str, ...]) -> None:
        driver = self._calls.get(channel)
        if driver is None or driver.state_id != HubCall.in_call.id:
            return
        seat = self._seats.get(channel)
        if seat is not None:
            seat.roster_changed(any(user != self.user for user in users))
        self._notify(driver, "members_changed",
                     {Command.CALL_MEMBERS: lambda: self._call_members(channel, users)})

    def _call_members(self, channel: str, users: tuple[str, ...]) -> CallMembers:
        """The roster, and the relay when the call is past the relay threshold."""
        config = self._hub.config
        if config.relay_url and len(users) > self._limits.relay_threshold:
            return CallMembers(channel=channel, users=users, relay_url=config.relay_url,
                               relay_fingerprint=config.relay_fingerprint,
                               relay_ticket=make_ticket(config.relay_secret, channel,
                                                        self.user, time.time()))
        return CallMembers(channel=channel, users=users)

    def _call_frame(self, frame: StartCall | Signal | HangUp) -> None:
        registry = self._hub.registry
        if self._keysync.state_id != HubKeySync.live.id:
            raise Disconnect(ErrorCode.PROTOCOL, "calls need the key sync first")
        private = self._hub.private
        in_private = private.is_private(frame.channel)
        if frame.channel not in registry.channels and not in_private:
            self._refuse(ErrorCode.UNKNOWN_CHANNEL, f"no channel {frame.channel!r} on this hub")
            return
        # A private channel's call is for the members its stored roster names under this
        # connection's key (hanging up is always allowed: it only lets go of a seat).
        if in_private and not isinstance(frame, HangUp) and not private.is_member(
                frame.channel, self.user, self.fingerprint):
            self._refuse(ErrorCode.NOT_MEMBER, f"you are not in the roster of {frame.channel}: "
                         "its call is for its members")
            return
        driver = self._calls.get(frame.channel)
        if driver is None or driver.finished:
            driver = self._calls[frame.channel] = MachineDriver(HubCall)
        if isinstance(frame, StartCall):
            self._start_call(driver, frame.channel)
        elif isinstance(frame, HangUp):
            self._leave_call(driver, frame.channel)
        else:
            self._signal(driver, frame)

    def _start_call(self, driver: MachineDriver[HubCall], channel: str) -> None:
        registry = self._hub.registry
        # Joining and leaving as fast as one can costs every peer a renegotiation: joins are
        # paced per user (a hang-up spends from the same bucket but is never refused).
        paced = registry.call_pace(self.user)
        calm = paced.take()
        room = registry.call_has_room(channel)
        # One identity is in a call once: its peers link to its key, so to one device. A
        # second device is refused (it may join once the first hangs up).
        elsewhere = registry.in_call_elsewhere(channel, self)
        refusal = (
            Error(code=ErrorCode.CALL_CHURN, reason=(
                f"more than {self._limits.call_changes_per_second:g} call joins a second"),
                retry_after=paced.retry_after()) if not calm else
            Error(code=ErrorCode.CALL_ELSEWHERE, reason=(
                f"you are in the call in {channel} from another connection; hang up there "
                "first, then join here")) if elsewhere else
            Error(code=ErrorCode.CALL_FULL, reason=(
                f"the call in {channel} is full ({self._hub.config.call_members_limit} "
                "people)")))
        roster = (*registry.call_members(channel), self.user)
        step = self._step(driver, "start_call", {
            Command.CALL_MEMBERS: lambda: self._call_members(channel, roster),
            Command.ERROR: lambda: refusal,
        }, room=calm and room and not elsewhere)
        if "joined" not in step.reports:
            return
        registry.join_call(channel, self)
        seat = self._seats[channel] = Seat()
        seat.roster_changed(len(roster) > 1)
        if self._nursery is not None:
            self._nursery.start_soon(self._watch_seat, channel, seat)

    def _leave_call(self, driver: MachineDriver[HubCall], channel: str) -> None:
        self._step(driver, "hang_up",
                   {Command.HANG_UP: lambda: HangUp(channel=channel, user=self.user)})
        self._hub.registry.call_pace(self.user).take()
        self._hub.registry.leave_call(channel, self.user)
        seat = self._seats.pop(channel, None)
        if seat is not None:
            seat.end()

    async def _watch_seat(self, channel: str, seat: Seat) -> None:
        def give_up() -> None:
            driver = self._calls.get(channel)
            if driver is None or self._seats.get(channel) is not seat:
                return
            log.info("seat timeout user=%s channel=%s", self.user, channel)
            self._refuse(ErrorCode.SEAT_TIMEOUT, (
                f"no offer, answer or candidate in {self._limits.call_seat_timeout:g} s "
                f"with others in the call in {channel}; the seat is given back"))
            self._leave_call(driver, channel)

        try:
            await watch_seat(seat, self._limits.call_seat_timeout, give_up)
        except Disconnect as exc:
            self.kick(exc.code, exc.reason)

    def _signal(self, driver: MachineDriver[HubCall], frame: Signal) -> None:
        registry = self._hub.registry
        self._step(driver, _event_for(frame))
        if not registry.in_same_call(frame.channel, self.user, frame.peer):
            self._refuse(ErrorCode.NOT_IN_CALL,
                         f"{frame.peer} is not in the call in {frame.channel}")
            return
        budget = self.budgets.bytes
        if not budget.admits():
            self._refuse(ErrorCode.BUDGET, (
                f"more than {self._limits.sender_bytes_per_second:g} bytes a second"),
                retry_after=budget.retry_after())
            return
        seat = self._seats.get(frame.channel)
        if seat is not None:
            seat.signalled()
        # Delivered with `peer` naming the sender: the recipient knows who it came from.
        routed = type(frame)(channel=frame.channel, peer=self.user, blob=frame.blob)
        data = routed.encode()
        self._tap("out", data)
        registry.send_to(frame.peer, data, sender=self.user, call=frame.channel)
        budget.charge(len(data))
        log.info("%s user=%s peer=%s channel=%s bytes=%d", frame.command.value, self.user,
                 frame.peer, frame.channel, len(frame.blob))

    # -- machines and actions ----------------------------------------------------------------
    def _step(self, driver: MachineDriver[Any], event: str, build: Builders | None = None, *,
              sender: str | None = None, **guards: Hashable) -> Step:
        """Drive one machine of the member phase; its frames go out as one outbox item (from
        `sender`, or from the hub), before the close it may ask for."""
        try:
            step = driver.step(event, build or {}, **guards)
        except ProtocolViolation as exc:
            raise Disconnect(ErrorCode.PROTOCOL, str(exc)) from None
        self._send(step.frames, sender=sender)
        for what in step.reports:
            log.debug("%s %s", self.user, what)
        if step.close is not None:
            raise Disconnect(step.close.code, step.close.reason)
        return step

    def _send(self, frames: Sequence[Frame], *, sender: str | None = None) -> None:
        """Queue frames as one outbox item: the hub's own (sender None), or ones that must
        reach this reader in order with `sender`'s messages (never dropped)."""
        if not frames:
            return
        batch = tuple(self._encoded(frame) for frame in frames)
        self._queue(batch[0] if len(batch) == 1 else batch, sender=sender, channel=None,
                    droppable=False)

    # -- the login phase's machine (to move onto MachineDriver with the login) ----------
    def _run(self, machine: CompiledMachine[Any], event: str,
             frames: dict[Command, list[Frame]], **data: object) -> None:
        try:
            actions = machine.handle(event, **data)
        except ProtocolViolation as exc:
            raise Disconnect("protocol", str(exc)) from None
        self._perform(actions, frames)

    def _perform(self, actions: list[Action], frames: dict[Command, list[Frame]]) -> None:
        batch: list[bytes] = []  # what these actions send goes out as one outbox item
        try:
            for action in actions:
                if isinstance(action, Send):
                    batch.extend(self._encoded(frame) for frame in frames.get(action.command, []))
                elif isinstance(action, Close):
                    raise Disconnect(action.code, action.reason)
                elif isinstance(action, Report):
                    log.debug("%s %s", self.user or self.address, action.what)
        finally:
            if batch:  # also before a Close: the client gets what came first, then the reason
                self.deliver(batch[0] if len(batch) == 1 else tuple(batch))

    def _encoded(self, frame: Frame) -> bytes:
        data = frame.encode()
        self._tap("out", data)
        return data

    def _refuse(self, code: str, reason: str, *, ref: bytes | None = None,
                retry_after: float | None = None) -> None:
        log.info("refuse user=%s code=%s", self.user, code)
        if retry_after is not None:
            retry_after = round(retry_after, 3)
        self.deliver(self._encoded(Error(code=code, reason=reason, ref=ref,
                                         retry_after=retry_after)))

    def _tap(self, direction: str, data: bytes) -> None:
        if self._hub.tap is not None:
            self._hub.tap(direction, self.user or self.address, data)

    # -- I/O -------------------------------------------------------------------------------
    async def _receive(self) -> Frame:
        assert self._ws is not None
        # The frame rate is checked by the member loop, once the frame is decoded: its refusal
        # names the frame (`ref`).
        with trio.move_on_after(self._limits.idle_timeout) as idle:
            data = await self._ws.get_message()
        if idle.cancelled_caught:
            raise Disconnect("idle", f"nothing received for {self._limits.idle_timeout:g} s")
        if isinstance(data, str):
            raise Disconnect("malformed", "frames are binary")
        self._tap("in", data)
        try:
            frame = decode_frame(data, max_bytes=self._limits.max_frame_bytes)
        except FrameError as exc:
            raise Disconnect(exc.code, str(exc)) from None
        log.debug("frame user=%s cmd=%s bytes=%d", self.user or self.address,
                  frame.command.value, len(data))
        return frame

    async def _write_outbox(self) -> None:
        assert self._ws is not None
        try:
            while True:
                try:
                    sender, item = await self._outbox.get()
                except trio.EndOfChannel:
                    return
                # An empty batch stands for the call rosters waiting (see call_roster).
                for data in (item,) if isinstance(item, bytes) else item or self._take_rosters():
                    if self._closing:
                        return
                    await self._ws.send_message(data)
                if self._closing:
                    return
                if (sender is not None and self._outbox.dropped
                        and not self._outbox.backlog_of(sender)):
                    self._report_dropped(sender)
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            self._cancel.cancel()
        finally:
            self._writer_done.set()

    async def _keep_alive(self) -> None:
        """Ping now and then: a peer that vanished without closing (a dead network, a
        suspended laptop) is noticed within interval + timeout seconds and let go."""
        assert self._ws is not None
        while True:
            await trio.sleep(self._limits.keepalive_interval)
            with trio.move_on_after(self._limits.keepalive_timeout) as scope:
                try:
                    await self._ws.ping()
                except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
                    return
            if scope.cancelled_caught:
                self.kick("timeout", "no answer to keepalive")
                return

    async def _close(self, ending: Disconnect | None) -> None:
        """Say why (if we are the ones ending it), then close; bounded so a dead peer
        cannot hold us."""
        # The writer stops taking frames: a slow reader's backlog is dropped, and whatever
        # else was queued goes out first (bounded by the grace), so our reason comes last.
        self._closing = ending is not None and ending.code == ErrorCode.SLOW
        self._outbox.close(drop_backlog=self._closing)
        with trio.move_on_after(_CLOSE_GRACE) as scope:
            scope.shield = True
            try:
                if self._ws is not None:
                    await self._writer_done.wait()
                    if ending is not None:
                        await self._ws.send_message(Error(code=ending.code,
                                                          reason=ending.reason).encode())
                    await self._ws.aclose()
                else:
                    await self._stream.aclose()
            except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError,
                    OSError):
                pass


    async def _abort(self) -> None:
        """Make sure the socket is closed, even when we were cancelled from outside or
        trio-websocket already considers the WebSocket closed (it then leaves the stream
        open, and a peer still writing to it would block forever)."""
        await trio.aclose_forcefully(self._stream)


def _ordinary(outline: KeyOutline) -> bool:
    """The shape our clients make (one user id, one subkey, two signatures; a renewed key
    three): it validates in ~2.5 ms, less than a trip to a worker thread and back costs the
    loop in switches, so it is checked in place. Anything heavier goes to a worker thread.
    (Also what keeps tests on trio's autojump clock working: time jumps while a thread runs.)"""
    return outline.user_ids == 1 and outline.subkeys <= 1 and outline.signatures <= 3


def _check_key(greeting: Greeting, outline: KeyOutline, transcript_digest: bytes,
               possession: bytes | None) -> PublicKey:
    """The full validation (runs in a worker thread): the key parses, is the one whose
    fingerprint the PAKE bound, names the user, and signed this login's transcript (unless
    `possession` is None: checked already)."""
    try:
        key = PublicKey.from_bytes(greeting.public_key)
    except CryptoError as exc:
        raise Disconnect(ErrorCode.BAD_KEY, f"unusable public key: {exc}") from None
    if key.fingerprint != outline.fingerprint:
        raise Disconnect(ErrorCode.BAD_KEY, "the key's fingerprint does not match its packet")
    if key.user != greeting.user:
        raise Disconnect(ErrorCode.BAD_KEY, "the key's user id is not the user name")
    if possession is not None:
        check_possession(transcript_digest, possession, key)
    return key


def _event_for(frame: Frame) -> str:
    """The machine event a frame stands for: its command's readable name."""
    return frame.command.readable
