"""The servers a load benchmark measures, each in a process of its own: the Gossip hub, and a
bare trio-websocket broadcast server on the same transport settings (the baseline).

A separate process per server gives it a core of its own on a small machine, and lets the
benchmark read its CPU time and memory from outside without disturbing it.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Self

import trio
from _loadclient import raise_file_limit
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from gossip.crypto import load_or_create_hub_certificate
from gossip.crypto.pake import use_reference_spake2
from gossip.hub import HubConfig, Limits, serve_hub
from gossip.hub.heap import HeapPolicy
from gossip.hub.server import freeze_startup_heap

PASSWORD = "bench"
# The hub's own transport settings (gossip/hub/connection.py), so both sides match.
RECEIVE_QUEUE = 16
MAX_MESSAGE = Limits().max_frame_bytes
_START_TIMEOUT = 60.0


class ServerFailed(Exception):
    """The server process did not start, or died."""


@dataclass(frozen=True)
class ServerSpec:
    kind: str  # "hub" or "bare"
    tls: bool
    data_dir: str
    # The level `python -m gossip.hub` logs at (INFO); records go to os.devnull, so their
    # formatting is paid for but no terminal slows the hub down.
    log_level: str = "INFO"
    limits: Limits = field(default_factory=Limits)  # the bare server takes only outbox_frames
    file_limit: int = 4096
    redis: str | None = None  # a hub of the cluster on this Redis (benchmarks/cluster.py)
    relay_url: str = ""  # a relay for large calls (big_call.py), with its fingerprint
    relay_fingerprint: str = ""
    relay_secret: bytes = b""
    # The hub runs login's SPAKE2 on the pure-Python `spake2` package (the old path) instead of
    # libsodium; the wire is the same, so the clients need not know (benchmarks/reconnect.py).
    reference_spake2: bool = False
    # The hub keeps its heap as `python -m gossip.hub` does (gossip/hub/heap.py); False: Python's
    # own collector policy alone (the hub before it).
    keep_heap: bool = True
    # A hub of a cluster shares verdicts on the keys it validated (crypto/keyverdict.py);
    # False: every login's key validated in full (the hub before them).
    key_verdicts: bool = True

    @property
    def label(self) -> str:
        return f"{self.kind} {'wss' if self.tls else 'ws'}"


class ServerProcess:
    """Start a server in a spawned process; ask it for figures; stop it."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.port = 0
        self.fingerprint = ""
        context = get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_child_main, args=(spec, child), daemon=True)
        self._child = child

    def __enter__(self) -> Self:
        self._process.start()
        self._child.close()
        if not self._conn.poll(_START_TIMEOUT):
            self.stop()
            raise ServerFailed(f"{self.spec.label} did not start")
        self.port, self.fingerprint = self._conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise ServerFailed("no VmRSS in /proc")

    def gc_seconds(self) -> tuple[float, int]:
        """(seconds the server spent in the cyclic garbage collector so far, how many of its
        collections were full ones), without collecting."""
        self._conn.send("gc")
        if not self._conn.poll(_START_TIMEOUT):
            raise ServerFailed(f"{self.spec.label} does not answer")
        seconds, full = self._conn.recv()
        return seconds, full

    def stats(self) -> dict[str, Any]:
        """Members online (hub) after a full garbage collection in the server."""
        self._conn.send("stats")
        if not self._conn.poll(_START_TIMEOUT):
            raise ServerFailed(f"{self.spec.label} does not answer")
        return self._conn.recv()

    def stop(self) -> None:
        if self._process.is_alive():
            try:
                self._conn.send("stop")
            except (BrokenPipeError, OSError):
                pass
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._conn.close()


class _GcClock:
    """Time the cyclic garbage collector takes in this process (gc.callbacks), to tell its
    share of a server's CPU from the server's own work."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._started = 0.0

    def tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._started
        self.full += info["generation"] == 2


_GC_CLOCK = _GcClock()


def _child_main(spec: ServerSpec, conn: Connection) -> None:
    raise_file_limit(spec.file_limit)
    # GOSSIP_BENCH_SERVER_LOG=PATH keeps the server's log (to find why a run stopped).
    with open(os.environ.get("GOSSIP_BENCH_SERVER_LOG", os.devnull), "w") as sink:
        logging.basicConfig(level=spec.log_level, stream=sink,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        freeze_startup_heap()  # as `python -m gossip.hub` does
        gc.callbacks.append(_GC_CLOCK.tick)
        if spec.reference_spake2:
            use_reference_spake2()
        trio.run(_serve, spec, conn)


async def _serve(spec: ServerSpec, conn: Connection) -> None:
    async with trio.open_nursery() as nursery:
        if spec.kind == "hub":
            config = HubConfig(name="bench", port=0, password=PASSWORD, tls=spec.tls,
                               data_dir=Path(spec.data_dir), limits=spec.limits,
                               redis=spec.redis,
                               relay_url=spec.relay_url,
                               relay_fingerprint=spec.relay_fingerprint,
                               relay_secret=spec.relay_secret)
            hub = await nursery.start(partial(serve_hub, config,
                                              heap=HeapPolicy() if spec.keep_heap else None))
            if hub.cluster is not None:
                hub.cluster.share_key_verdicts = spec.key_verdicts
            conn.send((hub.port, hub.fingerprint))
            members = hub.registry.members
            everyone = hub.registry.keys  # with the members of the other hubs of a cluster
        else:
            bare = BareBroadcastServer(spec.limits.outbox_frames)
            ssl_context = None
            if spec.tls:
                certificate = load_or_create_hub_certificate(Path(spec.data_dir), "bench")
                ssl_context = certificate.server_ssl_context()
            port = await nursery.start(bare.serve, ssl_context)
            conn.send((port, ""))
            members = everyone = bare.members
        while True:
            command = await trio.to_thread.run_sync(conn.recv)
            if command == "stop":
                break
            if command == "gc":
                conn.send((_GC_CLOCK.seconds, _GC_CLOCK.full))
                continue
            gc.collect()
            conn.send({"members": len(members()), "everyone": len(everyone())})
        nursery.cancel_scope.cancel()


class BareBroadcastServer:
    """The baseline: every binary message from one client goes, unchanged, to every other.
    Built like the hub's fan-out (a bounded outbox and a writer per connection, a full outbox
    disconnects that reader) minus everything Gossip adds: login, decoding, re-encoding."""

    def __init__(self, outbox_frames: int) -> None:
        self._outbox_frames = outbox_frames
        self._connections: set[_BareConnection] = set()

    def members(self) -> list[str]:
        return [str(id(connection)) for connection in self._connections]

    async def serve(self, ssl_context: Any,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])

        async def handle(stream: trio.SocketStream) -> None:
            await self._handle(stream, ssl_context)

        await trio.serve_listeners(handle, listeners)

    async def _handle(self, stream: trio.abc.Stream, ssl_context: Any) -> None:
        wrapped: trio.abc.Stream = stream
        if ssl_context is not None:
            wrapped = trio.SSLStream(stream, ssl_context, server_side=True)
        connection = _BareConnection(self._outbox_frames)
        try:
            async with trio.open_nursery() as nursery:
                with connection.cancel:
                    try:
                        await self._relay(nursery, wrapped, connection)
                    except (ConnectionClosed, trio.BrokenResourceError,
                            trio.ClosedResourceError, OSError):
                        pass
                nursery.cancel_scope.cancel()
        finally:
            self._connections.discard(connection)
            await trio.aclose_forcefully(wrapped)

    async def _relay(self, nursery: trio.Nursery, stream: trio.abc.Stream,
                     connection: _BareConnection) -> None:
        request = await wrap_server_stream(nursery, stream, message_queue_size=RECEIVE_QUEUE,
                                           max_message_size=MAX_MESSAGE)
        ws = await request.accept()
        nursery.start_soon(connection.write, ws)
        self._connections.add(connection)
        while True:
            data = await ws.get_message()
            for other in list(self._connections):
                if other is not connection:
                    other.deliver(data)


class _BareConnection:
    def __init__(self, outbox_frames: int) -> None:
        self._send, self._receive = trio.open_memory_channel[bytes | str](outbox_frames)
        self.cancel = trio.CancelScope()

    def deliver(self, data: bytes | str) -> None:
        try:
            self._send.send_nowait(data)
        except trio.WouldBlock:
            self.cancel.cancel()  # too far behind, like the hub's "slow"

    async def write(self, ws: WebSocketConnection) -> None:
        try:
            async for data in self._receive:
                await ws.send_message(data)
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            self.cancel.cancel()
