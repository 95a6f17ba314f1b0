"""The hub's supervisor tree: a TLS listener that starts one connection actor per client.

    HubSupervisor ── ConnectionActor × N (temporary: a closed connection is never restarted)
    Registry (plain synchronous object; see registry.py for why it is not an actor)
"""

from __future__ import annotations

import errno
import gc
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import trio

from gossip.actors.supervisor import ChildSpec, Restart, Supervisor
from gossip.crypto import HubCertificate, load_or_create_hub_certificate
from gossip.wire import Frame

from .cluster.link import RedisCluster
from .config import HubConfig
from .connection import ConnectionActor, FrameTap, HubContext
from .files import FileStore, sweep_files
from .heap import HeapKeeper, HeapPolicy
from .names import NameBook
from .private import PrivateBook, PrivateStore
from .registry import Registry
from .rosterrelay import relay_roster_entry
from .throttle import LoginThrottle, address_key

log = logging.getLogger("gossip.hub")

_TRANSIENT_ACCEPT_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


@dataclass
class RunningHub:
    """What a started hub tells its starter (tests, the demo, the CLI entry point)."""

    host: str
    port: int
    certificate: HubCertificate
    registry: Registry
    supervisor: Supervisor
    _context: HubContext | None = field(default=None, repr=False)
    cluster: RedisCluster | None = None  # the hub's link to its cluster, if it is in one
    metrics_port: int | None = None  # where its Prometheus metrics are, if they are served

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint

    @property
    def connections(self) -> int:
        """Client connections open right now (each served by one connection actor)."""
        return self._context.connections if self._context is not None else 0

    async def wait_connections_at_most(self, count: int) -> None:
        """Until no more than `count` client connections are open."""
        assert self._context is not None
        while self._context.connections > count:
            await self._context.connection_ended.wait()

    def file_usage(self, user: str) -> int:
        """Sealed bytes `user` has stored on this hub (uploads under way included)."""
        assert self._context is not None and self._context.files is not None
        return self._context.files.usage(user)

    def key_checks(self, how: str) -> int:
        """Logins' keys vouched for by a cluster's shared verdict ("shared") or validated in
        full ("validated") since the hub started (its gossip_login_key_checks metric)."""
        assert self._context is not None
        found = self._context.metrics.registry.get_sample_value(
            "gossip_login_key_checks_total", {"how": how})
        return int(found or 0)

    def reset_name(self, user: str) -> bool:
        """Free `user` for another key, as `gossip-hub user reset` does; False if it was free."""
        assert self._context is not None
        return self._context.names.reset(user)


def freeze_startup_heap() -> None:
    """Move everything allocated so far (imported modules, mostly: ~55,000 objects) out of
    the cyclic garbage collector's reach. A full collection otherwise scans them all, a
    ~25 ms pause that showed as the hub's p99 latency (benchmarks/fanout.py: 5 ms with this,
    25 ms without). For a hub process, once, before serving; not for hubs inside tests."""
    gc.collect()
    gc.freeze()


async def serve_hub(config: HubConfig, *, tap: FrameTap | None = None,
                    heap: HeapPolicy | None = None,
                    task_status: trio.TaskStatus[RunningHub] = trio.TASK_STATUS_IGNORED) -> None:
    """Run a hub until cancelled. `task_status.started` gives the bound port and fingerprint.
    With `heap`, the hub runs that garbage-collector policy (heap.py): for a hub process of
    its own, after freeze_startup_heap; not for hubs inside tests, which share a process."""
    config.checked()
    certificate = load_or_create_hub_certificate(config.data_dir, config.name)
    ssl_context = certificate.server_ssl_context() if config.tls else None
    cluster = (RedisCluster(config.redis, config.channels, ttl=config.cluster_ttl,
                            max_news_bytes=config.limits.max_frame_bytes)
               if config.redis else None)
    registry = Registry(config.channels, config.call_members_limit, limits=config.limits,
                        cluster=cluster)
    # Over plain ws (debugging only) there is no certificate for the client to have seen, so
    # both sides bind "" into the PAKE transcript.
    private_store = PrivateStore.open(config.data_dir)
    files = FileStore.open(config.data_dir, config.limits)
    if cluster is not None:
        cluster.attach_files(files.read, files.held)  # other hubs fetch our files' chunks
    context = HubContext(config, registry, certificate.fingerprint if config.tls else "",
                         LoginThrottle.from_limits(config.limits), NameBook.open(config.data_dir),
                         PrivateBook(private_store), tap,
                         files=files, claims=cluster, shared_rosters=cluster,
                         shared_files=cluster, admission=cluster, key_verdicts=cluster)
    if cluster is not None:
        context.connection_cap = cluster
    supervisor = Supervisor(max_restarts=10, period=60.0)
    numbers = itertools.count(1)

    async def accept(stream: trio.SocketStream) -> None:
        address, host = _describe(stream)
        if context.connections >= config.limits.max_connections:
            log.warning("refuse %s: %d connections already", address, context.connections)
            await trio.aclose_forcefully(stream)
            return
        if context.by_host[host] >= config.limits.max_connections_per_address:
            log.warning("refuse %s: %d connections from that address already", address,
                        context.by_host[host])
            await trio.aclose_forcefully(stream)
            return
        wrapped: trio.abc.Stream = stream
        if ssl_context is not None:
            wrapped = trio.SSLStream(stream, ssl_context, server_side=True)

        def make() -> ConnectionActor:
            return ConnectionActor(wrapped, address, context, host=host)

        await supervisor.start_child(
            ChildSpec(f"conn-{next(numbers)}", make, restart=Restart.TEMPORARY))

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            assert context.files is not None
            nursery.start_soon(sweep_files, context.files)
            if heap is not None:
                keeper = HeapKeeper(lambda: context.connections,
                                    lambda: context.connections_ended, heap)
                nursery.start_soon(keeper.run)
            listeners = await trio.open_tcp_listeners(config.port, host=config.host)
            port = listeners[0].socket.getsockname()[1]
            if cluster is not None:
                def relay(author: str, channel: str, entry: bytes, position: int,
                          before: Mapping[str, str], after: Mapping[str, str]) -> None:
                    relay_roster_entry(registry, context.private, _encode, author, channel,
                                       entry, position, before, after)

                cluster.attach(registry, context.private, relay)
                cluster.address = f"{config.host}:{port}"
                cluster.stats.on_round_trip = context.metrics.redis_round_trips.observe
                cluster.stats.on_fanout = context.metrics.fanned_out
                await nursery.start(cluster.run)
            metrics_port = None
            if config.metrics_port is not None:
                metrics_port = await nursery.start(context.metrics.serve, config.metrics_port)
                nursery.start_soon(context.metrics.sample, context)
            log.info("hub %r listening on %s:%d (%s), fingerprint %s", config.name, config.host,
                     port, "wss" if ssl_context else "ws", certificate.fingerprint)
            task_status.started(RunningHub(config.host, port, certificate, registry, supervisor,
                                           context, cluster, metrics_port))
            for listener in listeners:
                nursery.start_soon(_accept_loop, listener, accept)
    finally:
        context.names.close()
        private_store.close()


async def _accept_loop(listener: trio.SocketListener,
                       accept: Callable[[trio.SocketStream], Awaitable[None]]) -> None:
    """Hand each new stream to `accept`, which passes it to an actor that owns it from then
    on (unlike trio.serve_listeners, which closes the stream when its handler returns)."""
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:  # e.g. out of file descriptors: back off, keep serving
                if exc.errno not in _TRANSIENT_ACCEPT_ERRORS:
                    raise
                log.warning("accept failed: %s", exc)
                await trio.sleep(0.1)
                continue
            await accept(stream)


def _encode(frame: Frame) -> bytes:
    return frame.encode()


def _describe(stream: trio.SocketStream) -> tuple[str, str]:
    """("host:port", the address key the hub's per-address limits count by) of the peer."""
    try:
        host, port = stream.socket.getpeername()[:2]
        return f"{host}:{port}", address_key(str(host))
    except OSError:
        return "unknown", "unknown"
