"""A TCP proxy on loopback, between clients and the hub, that injects network faults on command.

It relays bytes only (TLS passes through untouched): it can delay each chunk on trio's clock,
cut a connection once a byte budget is spent or all of them at once, go silent (a dead network
that sends no FIN), and refuse new connections for a while.
"""

from __future__ import annotations

import socket
import struct
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

import trio

# Chunks in flight per direction of one connection while they are being delayed: a bound,
# so a delayed reader pushes back on its writer as a slow network would.
_IN_FLIGHT = 64


class Direction(Enum):
    UP = "up"  # client to hub
    DOWN = "down"  # hub to client


@dataclass
class _Budget:
    """Cut the link that carries the byte after the next `remaining` (in one direction, or
    counting both if `direction` is None)."""

    remaining: int
    direction: Direction | None


@dataclass(eq=False)
class Link:
    """One relayed connection."""

    number: int
    client: trio.SocketStream
    upstream: trio.SocketStream | None = None
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    silent: bool = False
    cut: bool = False


class FaultProxy:
    """Relay 127.0.0.1:`port` to 127.0.0.1:`upstream_port`, with faults the test switches on.

    Start it with `await nursery.start(proxy.run)`. Every fault is synchronous to switch on,
    so a test may do it from a callback (e.g. the hub's frame tap) at an exact protocol step.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.accepted = 0  # connections relayed (refused ones not counted)
        self.refused = 0
        self.cuts = 0
        self.relayed = {Direction.UP: 0, Direction.DOWN: 0}  # bytes passed on, all connections
        self._links: set[Link] = set()
        self._numbers = 0
        self._delay: Callable[[], float] | None = None
        self._budgets: deque[_Budget] = deque()
        self._refuse_until = float("-inf")
        self._changed = trio.Event()

    # -- what the test switches -----------------------------------------------------------
    def delay_chunks(self, delay: float | Callable[[], float] | None) -> None:
        """Hold each chunk this long (seconds on trio's clock, per chunk; a callable gives
        each chunk its own, e.g. from a seeded RNG) before passing it on, in order."""
        if delay is None or callable(delay):
            self._delay = delay
        else:
            self._delay = lambda: float(delay)

    def cut_after(self, budget: int, direction: Direction | None = None) -> None:
        """Let `budget` more bytes through, then cut the connection carrying the next one."""
        self.cut_schedule([budget], direction)

    def cut_schedule(self, budgets: Iterable[int], direction: Direction | None = None) -> None:
        """Like cut_after, once per budget in turn: each cut starts the next budget."""
        self._budgets = deque(_Budget(b, direction) for b in budgets)

    def disarm(self) -> None:
        """No more byte-budget cuts; delays and refusals stay as they are."""
        self._budgets.clear()

    def cut_all(self) -> int:
        """Cut every open connection now (both ends closed); returns how many."""
        links = [link for link in self._links if not link.cut]
        for link in links:
            self._cut(link)
        return len(links)

    def refuse_for(self, seconds: float) -> None:
        """Close new connections at once for this long (trio's clock)."""
        self._refuse_until = trio.current_time() + seconds

    def go_silent(self) -> None:
        """A dead network: open connections pass nothing more either way and are not closed
        (no FIN, no reset), as when a cable is pulled. New connections pass normally."""
        for link in self._links:
            link.silent = True

    @property
    def open_links(self) -> int:
        return sum(1 for link in self._links if not link.cut)

    async def wait_for_cuts(self, count: int) -> None:
        """Until `count` cuts have happened in all."""
        while self.cuts < count:
            await self._changed.wait()

    # -- the relay ------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[FaultProxy] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            task_status.started(self)
            await trio.serve_listeners(self._relay, listeners, handler_nursery=nursery)

    async def _relay(self, client: trio.SocketStream) -> None:
        if trio.current_time() < self._refuse_until:
            self.refused += 1
            await trio.aclose_forcefully(client)
            return
        self._numbers += 1
        link = Link(self._numbers, client)
        self._links.add(link)
        self.accepted += 1
        try:
            with link.scope:
                try:
                    link.upstream = await trio.open_tcp_stream("127.0.0.1", self.upstream_port)
                except OSError:
                    return  # the hub is down: the client sees its connection closed
                async with trio.open_nursery() as pipes:
                    pipes.start_soon(self._pipe, link, client, link.upstream, Direction.UP)
                    pipes.start_soon(self._pipe, link, link.upstream, client, Direction.DOWN)
        finally:
            self._links.discard(link)
            with trio.CancelScope(shield=True):
                for stream in (client, link.upstream):
                    if stream is not None:
                        if link.cut:
                            _reset_on_close(stream)
                        await trio.aclose_forcefully(stream)

    async def _pipe(self, link: Link, source: trio.SocketStream, sink: trio.SocketStream,
                    direction: Direction) -> None:
        """Copy one way, chunk by chunk, through the delay and the byte budget."""
        send, receive = trio.open_memory_channel[tuple[float, bytes]](_IN_FLIGHT)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._forward, link, receive, sink, direction)
            async with send:
                try:
                    while data := await source.receive_some(65536):
                        delay = self._delay() if self._delay is not None else 0.0
                        await send.send((trio.current_time() + delay, data))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
        # This half ended (EOF or error): end the whole link, as a relay's close would.
        if not link.silent:
            link.scope.cancel()

    async def _forward(self, link: Link, chunks: trio.MemoryReceiveChannel[tuple[float, bytes]],
                       sink: trio.SocketStream, direction: Direction) -> None:
        try:
            async for due, data in chunks:
                if due > trio.current_time():
                    await trio.sleep_until(due)
                if link.silent:
                    continue  # swallowed by the dead network
                data, cut = self._spend(data, direction)
                if data:
                    await sink.send_all(data)
                    self.relayed[direction] += len(data)
                if cut:
                    self._cut(link)
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            link.scope.cancel()

    def _spend(self, data: bytes, direction: Direction) -> tuple[bytes, bool]:
        """The part of `data` the current byte budget lets through, and whether to cut."""
        if not self._budgets:
            return data, False
        budget = self._budgets[0]
        if budget.direction is not None and budget.direction is not direction:
            return data, False
        if len(data) <= budget.remaining:
            budget.remaining -= len(data)
            return data, False
        allowed = data[:budget.remaining]
        self._budgets.popleft()
        return allowed, True

    def _cut(self, link: Link) -> None:
        if link.cut:
            return
        link.cut = True
        self.cuts += 1
        link.scope.cancel()
        self._changed.set()
        self._changed = trio.Event()


def _reset_on_close(stream: trio.SocketStream) -> None:
    """Make the coming close send a TCP reset, as a broken path does, not a polite FIN."""
    try:
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
