"""The hub's Prometheus metrics: connections, logins and refusals by reason, deliveries,
outbox depth, fan-out time and Redis round trips, served on a loopback port when asked.

Counters are bumped where things happen (cheap, thread-safe). Figures that need a walk over
the hub's state (connections, outbox depth) are sampled by a trio task once a second rather
than computed by the exporter's thread, which must never read the registry while the event
loop changes it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from .connection import HubContext

log = logging.getLogger("gossip.hub.metrics")

_SAMPLE_EVERY = 1.0
_FAST = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class HubMetrics:
    """One hub's metrics, in a registry of their own (several hubs may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("gossip_connections", "Client connections open", registry=r)
        self.members = Gauge("gossip_members", "Members logged in on this hub", registry=r)
        self.remote_members = Gauge(
            "gossip_remote_members", "Members on the other hubs of the cluster", registry=r
        )
        self.logins = Counter("gossip_logins", "Logins that succeeded", registry=r)
        self.login_queue = Gauge(
            "gossip_login_queue", "Connections waiting in line for a login turn", registry=r
        )
        self.refusals = Counter(
            "gossip_refusals",
            "Connections refused or ended by the hub, by reason (the error code sent)",
            ["reason"],
            registry=r,
        )
        self.key_verdicts = Counter(
            "gossip_login_key_checks",
            "Logins' keys in a cluster: vouched for by a shared verdict (shared) or validated "
            "in full (validated)",
            ["how"],
            registry=r,
        )
        self.deliveries = Counter(
            "gossip_deliveries",
            "Chat messages queued for a reader (this hub's members)",
            registry=r,
        )
        self.outbox_depth = Gauge(
            "gossip_outbox_frames", "Frames waiting in all outboxes", registry=r
        )
        self.fanout_seconds = Histogram(
            "gossip_fanout_seconds",
            "Time to queue one message for all its readers here",
            buckets=_FAST,
            registry=r,
        )
        self.redis_round_trips = Histogram(
            "gossip_redis_round_trip_seconds",
            "Redis round trips (pipelines, heartbeats)",
            buckets=_FAST,
            registry=r,
        )
        self.cluster_up = Gauge("gossip_cluster_up", "1 while the Redis link is up", registry=r)

    def connection_ended(self, code: str | None) -> None:
        if code is not None:
            self.refusals.labels(code).inc()

    def fanned_out(self, recipients: int, seconds: float) -> None:
        self.deliveries.inc(recipients)
        self.fanout_seconds.observe(seconds)

    async def sample(self, context: HubContext) -> None:
        """Keep the sampled gauges current (runs until cancelled)."""
        from .cluster.link import RedisCluster  # the link is optional; metrics are not

        cluster = context.claims if isinstance(context.claims, RedisCluster) else None
        while True:
            self.connections.set(context.connections)
            self.login_queue.set(context.login_queue.waiting)
            depth = members = 0
            for port in context.registry.ports():
                members += 1
                depth += getattr(port, "outbox_depth", 0)
            self.members.set(members)
            self.outbox_depth.set(depth)
            if cluster is not None:
                self.remote_members.set(cluster.remote_count())
                self.cluster_up.set(1 if cluster.up else 0)
            await trio.sleep(_SAMPLE_EVERY)

    async def serve(
        self,
        port: int,
        *,
        host: str = "127.0.0.1",
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Export on http://host:port/metrics (a thread of prometheus_client's) until
        cancelled; started with the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        bound = int(server.server_address[1])
        log.info("metrics on http://%s:%d/metrics", host, bound)
        try:
            task_status.started(bound)
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                # shutdown() waits for the server's loop, which looks every half second.
                await trio.to_thread.run_sync(server.shutdown)
                server.server_close()
