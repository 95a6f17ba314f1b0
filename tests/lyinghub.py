"""A lying hub for tests: a TLS-terminating WebSocket relay in front of a real hub.

The hub's operator holds the hub's certificate and key, so a hub that lies is modelled as a
relay that presents the real hub's certificate (clients see the pinned fingerprint, and the
PAKE passes through untouched because both ends bind the same one) and relays decoded
frames, one connection at a time, through hooks the test sets: a hook can drop, alter,
reorder, inject or replay frames in either direction. Loopback only; every queue is bounded.

It also plays the ghosts such a hub invents: `Ghost` holds a key the hub made up and reads
whatever a client sealed to it, so a test can assert that nothing was; `GhostCall` puts a
ghost into a victim's call and answers her with a real link.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import partial
from pathlib import Path

import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    wrap_client_stream,
    wrap_server_stream,
)

from gossip.client.calltypes import CallOptions
from gossip.client.errors import MessageRejected, SignalRejected
from gossip.client.events import SessionEvent
from gossip.client.messages import Distribution, open_chat
from gossip.client.signalling import open_signal
from gossip.crypto import Identity, PublicKey, SenderKeyRing, client_ssl_context
from gossip.crypto.pins import Trust
from gossip.hub import RunningHub
from gossip.wire import (
    DEFAULT_MAX_FRAME_BYTES,
    CallMembers,
    Frame,
    FrameError,
    Greeting,
    Key,
    Message,
    Signal,
    decode_frame,
)

# Frames waiting to be written per direction of one connection; a full queue makes the relay
# wait, as a slow network would (an injection into a full queue is refused loudly instead).
QUEUE_FRAMES = 256
# Frames remembered per direction of one connection (for replays and for inspection).
RECORD_FRAMES = 4096
MAX_CONNECTIONS = 32


class Direction(Enum):
    UP = "up"  # client to hub
    DOWN = "down"  # hub to client


# A hook sees every frame of one direction of one connection and returns what to pass on
# instead: [frame] to relay it, [] to drop it, several to add some, others to alter it.
Hook = Callable[["Relayed", Frame], Iterable[Frame]]


def relay_unchanged(connection: Relayed, frame: Frame) -> Iterable[Frame]:
    return (frame,)


@dataclass(eq=False)
class Relayed:
    """One client's connection through the lying hub."""

    number: int
    user: str = ""  # from the client's greeting, once seen
    up: deque[Frame] = field(default_factory=lambda: deque(maxlen=RECORD_FRAMES))
    down: deque[Frame] = field(default_factory=lambda: deque(maxlen=RECORD_FRAMES))
    _queues: dict[Direction, trio.MemorySendChannel[Frame]] = field(default_factory=dict)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    def inject(self, frame: Frame, direction: Direction = Direction.DOWN) -> None:
        """Send a frame the real side never sent (e.g. a ghost's key to the client)."""
        self._queues[direction].send_nowait(frame)

    def sent_up(self, kind: type[Frame] = Frame) -> list[Frame]:
        """Frames of this kind the client sent (as they came, before any hook)."""
        return [frame for frame in self.up if isinstance(frame, kind)]

    def cut(self) -> None:
        self.scope.cancel()


class LyingHub:
    """Listens on 127.0.0.1 and relays each connection to `hub` through the hooks.

    Start it with `await nursery.start(lying.run)`; then connect clients to `lying.port`.
    """

    def __init__(self, hub: RunningHub) -> None:
        self._hub = hub
        self.port = 0
        self.connections: list[Relayed] = []
        self.hooks: dict[Direction, Hook] = {Direction.UP: relay_unchanged,
                                             Direction.DOWN: relay_unchanged}
        self._changed = trio.Event()

    # -- for the test -------------------------------------------------------------------------
    def of(self, user: str) -> Relayed:
        """The newest connection of `user` (who greeted already)."""
        for connection in reversed(self.connections):
            if connection.user == user:
                return connection
        raise LookupError(f"no connection of {user!r} through the lying hub")

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Until `condition` holds, looked at after every frame relayed (bounded)."""
        with trio.move_on_after(20):
            while not condition():
                await self._changed.wait()
            return
        raise AssertionError(f"the lying hub never saw {what}")

    # -- the relay ----------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[LyingHub] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            task_status.started(self)
            await trio.serve_listeners(self._relay, listeners, handler_nursery=nursery)

    def _touch(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _relay(self, tcp: trio.SocketStream) -> None:
        if len(self.connections) >= MAX_CONNECTIONS:
            await trio.aclose_forcefully(tcp)
            return
        connection = Relayed(len(self.connections) + 1)
        self.connections.append(connection)
        # The real hub's own certificate: the client sees exactly what it pinned.
        client_side = trio.SSLStream(tcp, self._hub.certificate.server_ssl_context(),
                                     server_side=True)
        upstream: trio.SSLStream[trio.SocketStream] | None = None
        try:
            with connection.scope:
                async with trio.open_nursery() as nursery:
                    with trio.fail_after(10):
                        await client_side.do_handshake()
                        request = await wrap_server_stream(
                            nursery, client_side, message_queue_size=QUEUE_FRAMES,
                            max_message_size=DEFAULT_MAX_FRAME_BYTES)
                        client = await request.accept()
                        upstream = trio.SSLStream(
                            await trio.open_tcp_stream("127.0.0.1", self._hub.port),
                            client_ssl_context(), server_hostname="127.0.0.1")
                        await upstream.do_handshake()
                        hub = await wrap_client_stream(
                            nursery, upstream, "127.0.0.1", "/gossip",
                            message_queue_size=QUEUE_FRAMES,
                            max_message_size=DEFAULT_MAX_FRAME_BYTES)
                    self._pipes(nursery, connection, client, hub)
        except (trio.TooSlowError, trio.BrokenResourceError, trio.ClosedResourceError,
                ConnectionClosed, OSError):
            pass
        finally:
            with trio.CancelScope(shield=True):
                for stream in (client_side, upstream):
                    if stream is not None:
                        await trio.aclose_forcefully(stream)

    def _pipes(self, nursery: trio.Nursery, connection: Relayed, client: WebSocketConnection,
               hub: WebSocketConnection) -> None:
        for direction, source, sink in ((Direction.UP, client, hub),
                                        (Direction.DOWN, hub, client)):
            send, receive = trio.open_memory_channel[Frame](QUEUE_FRAMES)
            connection._queues[direction] = send
            nursery.start_soon(self._read, connection, direction, source, send)
            nursery.start_soon(self._write, connection, receive, sink)

    async def _read(self, connection: Relayed, direction: Direction,
                    source: WebSocketConnection, queue: trio.MemorySendChannel[Frame]) -> None:
        record = connection.up if direction is Direction.UP else connection.down
        try:
            while True:
                data = await source.get_message()
                if isinstance(data, str):
                    break
                try:
                    frame = decode_frame(data)
                except FrameError:
                    break  # not ours to judge: end the connection as a broken one
                if isinstance(frame, Greeting) and not connection.user:
                    connection.user = frame.user
                    self._touch()
                record.append(frame)
                self._touch()
                for out in self.hooks[direction](connection, frame):
                    await queue.send(out)
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        connection.scope.cancel()  # one side ended: so does the relayed connection

    async def _write(self, connection: Relayed, queue: trio.MemoryReceiveChannel[Frame],
                     sink: WebSocketConnection) -> None:
        try:
            async for frame in queue:
                await sink.send_message(frame.encode())
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            connection.scope.cancel()


def readable_by(identity: Identity, frames: Iterable[Frame], sender: PublicKey, *,
                now: float) -> list[str]:
    """The texts `identity` can read among the messages `sender` sent (in order: a sender
    key sealed to `identity` opens the messages that follow it), repeats included."""
    ring = SenderKeyRing(clock=lambda: now)
    texts = []
    for frame in frames:
        if not isinstance(frame, Message):
            continue
        try:
            opened = open_chat(frame.blob, identity, routed_sender=sender.user,
                               routed_channel=frame.channel, sender_key=sender,
                               trust=Trust.NEW, now=now, members=16, ring=ring)
        except MessageRejected:
            continue
        if isinstance(opened, Distribution):
            ring.add(opened.key)
        else:
            texts.append(opened.text)
    return texts


# -- ghosts -------------------------------------------------------------------------------------

class Ghost:
    """A key the lying hub invents, and what its holder could read of what a client sent."""

    def __init__(self, user: str, directory: Path) -> None:
        self.identity = Identity.load_or_create(directory, user)
        self.user = user

    @property
    def public(self) -> PublicKey:
        return self.identity.public

    def key_frame(self) -> Key:
        """The announcement that makes clients see this ghost as a member."""
        return Key(user=self.user, key=self.public.to_bytes())

    def read_chat(self, frames: Iterable[Frame], sender: PublicKey, *, now: float) -> list[str]:
        """The texts this ghost can read among the messages `sender` sent up."""
        return readable_by(self.identity, frames, sender, now=now)

    def read_signals(self, frames: Iterable[Frame], sender: PublicKey, *, channel: str,
                     now: float) -> list[str]:
        """The kinds of the call signals (offer, answer, ice) `sender` sealed to this ghost."""
        kinds = []
        for frame in frames:
            if isinstance(frame, Signal) and frame.peer == self.user:
                try:
                    open_signal(frame.blob, self.identity, sender, kind=frame.command.value,
                                channel=channel, sender=sender.user, now=now)
                except SignalRejected:
                    continue
                kinds.append(frame.command.value)
        return kinds


class GhostCall:
    """The ghost's side of a call the lying hub invents for one victim: the hub adds the ghost
    to every call roster it sends the victim, and relays the signals between the victim and a
    real CallActor under the ghost's key (not the real hub: it knows no ghost), so the
    victim's link to the ghost really comes up and the ghost hears her.

    Set `lying.hooks[Direction.UP] = ghost_call.hook_up` and `[Direction.DOWN] = ...hook_down`,
    start it with `await nursery.start(ghost_call.run)`; its call starts once the victim's
    roster has been handed the ghost (so its first signal cannot overtake that roster).
    """

    def __init__(self, lying: LyingHub, ghost: Ghost, victim: PublicKey, channel: str,
                 options: CallOptions) -> None:
        self._lying = lying
        self.ghost = ghost
        self._victim = victim
        self.channel = channel
        self._options = options
        self._invited = trio.Event()
        self._inbox_in, self._inbox = trio.open_memory_channel[Signal](QUEUE_FRAMES)
        self.diverted: list[Signal] = []  # the victim's signals to the ghost, as sent up

    # -- hooks on the victim's connection ----------------------------------------------------
    def hook_down(self, connection: Relayed, frame: Frame) -> Iterable[Frame]:
        if connection.user == self._victim.user and isinstance(frame, CallMembers) \
                and frame.channel == self.channel and self.ghost.user not in frame.users:
            self._invited.set()
            return [CallMembers(channel=frame.channel,
                                users=tuple(sorted((*frame.users, self.ghost.user))))]
        return [frame]

    def hook_up(self, connection: Relayed, frame: Frame) -> Iterable[Frame]:
        if connection.user == self._victim.user and isinstance(frame, Signal) \
                and frame.peer == self.ghost.user:
            self.diverted.append(frame)
            # As the hub would deliver it to the ghost: `peer` names the sender.
            self._inbox_in.send_nowait(replace(frame, peer=self._victim.user))
            return []
        return [frame]

    # -- the ghost's call ---------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[GhostCall] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        from gossip.actors import run_actor
        from gossip.client.calls import CallActor
        from gossip.client.calltypes import CallFrame, PeerIdentity  # media-free

        def identities(user: str) -> PeerIdentity | None:
            return PeerIdentity(self._victim, Trust.PINNED) if user == self._victim.user \
                else None

        # Nobody reads the ghost's events: a full channel is dropped silently by the call.
        events = trio.open_memory_channel[SessionEvent](256)[0]
        call = CallActor(self.channel, self.ghost.identity, self._send, self._options,
                         events, time.time, identities)
        keys = {self._victim.user: self._victim}
        task_status.started(self)
        await self._invited.wait()
        async with trio.open_nursery() as nursery:
            ref = await nursery.start(partial(run_actor, call, name="ghost call"))
            await ref.tell(CallFrame(CallMembers(channel=self.channel, users=tuple(sorted(
                (self._victim.user, self.ghost.user)))), keys))
            async for signal in self._inbox:
                await ref.tell(CallFrame(signal, keys))

    async def _send(self, frames: Sequence[Frame]) -> None:
        """The ghost's frames: its signals go to the victim as if the hub relayed them."""
        for frame in frames:
            if isinstance(frame, Signal) and frame.peer == self._victim.user:
                self._lying.of(self._victim.user).inject(replace(frame, peer=self.ghost.user))
