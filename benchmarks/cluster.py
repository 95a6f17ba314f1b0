"""Fan-out through a cluster of hubs on one Redis against one hub on its own (the baseline,
same run): N members (50, 200) spread evenly over 1, 2 and 4 hubs, each hub its own process,
every member taking turns to send 300-byte opaque blobs. For each layout: deliveries per
second at saturation, then p50/p99 latency at half that load; the Redis hop is the difference
between one hub and two. Then logins per second into one hub, on its own and in a cluster
(the name claim is a Redis round trip), with the hub's CPU per login.

Everything runs on loopback: redis-server (started here, nothing saved), the hubs, and the
load generator in this process. On a machine with fewer cores than processes the hubs share
cores, so more hubs cannot mean more deliveries here: the figures show the cost of the hop,
not the scaling (docs/scale.md does that on paper).
Run: python benchmarks/cluster.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import trio
from _loadclient import BLOB_BYTES, HubMember, PoolKey, key_pool, raise_file_limit
from _servers import PASSWORD, ServerProcess, ServerSpec
from fanout import LIMITS, Bench, LoadClientKicked, Row, _format, _load

from gossip.tools.redisserver import RedisServer

SIZES = (50, 200)
LAYOUTS = ((1, False), (1, True), (2, True), (4, True))  # (hubs, in a cluster)
LOGINS = 100
_PHASE_LIMIT = 120.0


class HubGroup:
    """Several hub processes seen as one server by fanout.Bench (CPU is their sum)."""

    def __init__(self, servers: list[ServerProcess]) -> None:
        self.servers = servers
        self.spec = servers[0].spec

    def cpu_seconds(self) -> float:
        return sum(server.cpu_seconds() for server in self.servers)


class ClusterBench(Bench):
    """fanout.Bench with members spread over the group's hubs, round robin."""

    def __init__(self, group: HubGroup, keys: list[PoolKey], window: int, label: str) -> None:
        super().__init__(group, keys, window)  # type: ignore[arg-type]
        self.group = group
        self.label = label

    async def grow(self, nursery: trio.Nursery, size: int) -> None:
        limiter = trio.CapacityLimiter(8)
        joined: list[HubMember] = []
        servers = self.group.servers

        async def join(index: int, key: PoolKey) -> None:
            async with limiter:
                server = servers[index % len(servers)]
                member = await HubMember.log_in("127.0.0.1", server.port, key, PASSWORD, tls=False)
            joined.append(member)
            nursery.start_soon(self._read, member)

        with trio.fail_after(_PHASE_LIMIT):
            async with trio.open_nursery() as logins:
                for index in range(len(self.members), size):
                    logins.start_soon(join, index, self.keys[index])
        self.members.extend(joined)
        # Each hub hears of the others' members through Redis: wait until every member
        # has everyone's key (a message to someone not yet announced would not count).
        with trio.fail_after(_PHASE_LIMIT):
            while any(server.stats()["everyone"] < size for server in servers):
                await trio.sleep(0.05)


async def measure_fanout(
    layouts: list[tuple[str, HubGroup]], keys: list[PoolKey], args: argparse.Namespace
) -> list[Row]:
    rows: list[Row] = []
    benches = [ClusterBench(group, keys, args.window, label) for label, group in layouts]
    try:
        async with trio.open_nursery() as nursery:
            for size in SIZES:
                for bench in benches:
                    await bench.grow(nursery, size)
                # Rounds alternate between layouts, so the machine's other load hits each alike.
                found = {bench: Row(bench.label, size, []) for bench in benches}
                for _ in range(args.rounds):
                    for bench in benches:
                        await trio.sleep(0.3)  # let the others' presence news settle
                        found[bench].rounds.append(await bench.saturate(args.warmup, args.duration))
                for bench, row in found.items():
                    row.latency = await bench.paced(
                        row.saturation.messages_per_s / 2, args.warmup, args.duration
                    )
                    print(_format(row), flush=True)
                    rows.append(row)
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            for bench in benches:
                await bench.close()
    return rows


async def measure_logins(server: ServerProcess, keys: list[PoolKey]) -> tuple[float, float]:
    """Logins per second (8 at once, each logged out again) and hub CPU ms per login."""
    limiter = trio.CapacityLimiter(8)

    async def one(key: PoolKey) -> None:
        async with limiter:
            member = await HubMember.log_in(
                "127.0.0.1", server.port, key, PASSWORD, tls=server.spec.tls, sync=False
            )
            await member.aclose()

    cpu, started = server.cpu_seconds(), time.perf_counter()
    with trio.fail_after(_PHASE_LIMIT):
        async with trio.open_nursery() as nursery:
            for key in keys:
                nursery.start_soon(one, key)
    elapsed, spent = time.perf_counter() - started, server.cpu_seconds() - cpu
    return len(keys) / elapsed, spent / len(keys) * 1000


@contextlib.contextmanager
def redis_server(directory: Path):
    """A redis-server on a free loopback port for the length of the block; its URL."""
    server = RedisServer(directory)
    try:
        trio.run(server.start)
    except RuntimeError as problem:
        raise SystemExit(str(problem)) from None
    try:
        yield server.url
    finally:
        server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short phases")
    parser.add_argument(
        "--window", type=int, default=32, help="messages in flight at saturation (default 32)"
    )
    args = parser.parse_args()
    args.warmup, args.duration, args.rounds = (0.2, 0.8, 1) if args.quick else (1.0, 3.0, 3)
    raise_file_limit(4096)
    started = time.perf_counter()
    print(
        f"cluster ({'quick' if args.quick else 'full'}): {os.cpu_count()} cores, load "
        f"average {_load()}; window {args.window}, {BLOB_BYTES}-byte blobs, plain ws, hub "
        "limits as benchmarks/fanout.py; every hub and redis-server its own process",
        flush=True,
    )
    keys = key_pool(max(max(SIZES), LOGINS * 2))
    with (
        tempfile.TemporaryDirectory() as workdir,
        redis_server(Path(workdir)) as url,
        contextlib.ExitStack() as stack,
    ):
        databases = iter(range(16))  # one per cluster: they must not hear each other

        def start(count: int, clustered: bool, tag: str) -> HubGroup:
            database = next(databases)
            servers = []
            for index in range(count):
                data = Path(workdir) / f"{tag}-{index}"
                data.mkdir()
                spec = ServerSpec(
                    "hub",
                    False,
                    str(data),
                    limits=LIMITS,
                    redis=f"{url}/{database}" if clustered else None,
                )
                servers.append(stack.enter_context(ServerProcess(spec)))
            return HubGroup(servers)

        layouts = []
        for number, (count, clustered) in enumerate(LAYOUTS):
            label = f"{count} hub{'s' if count > 1 else ''} {'+redis' if clustered else 'alone'}"
            layouts.append((label, start(count, clustered, f"layout-{number}")))
        try:
            rows = trio.run(measure_fanout, layouts, keys, args)
        except* LoadClientKicked as group:
            raise SystemExit(f"a load client was disconnected ({group.exceptions[0]})") from None
        alone = start(1, False, "login-alone").servers[0]
        clustered = start(1, True, "login-cluster").servers[0]
        login_keys = keys[-LOGINS:]
        logins = [
            (label, trio.run(measure_logins, server, login_keys))
            for label, server in (("alone", alone), ("in a cluster", clustered))
        ]
    print()
    for size in SIZES:
        base = next(row for row in rows if row.size == size and row.label == "1 hub alone")
        for row in rows:
            if row.size == size and row is not base:
                ratio = row.saturation.deliveries_per_s / base.saturation.deliveries_per_s
                assert row.latency is not None and base.latency is not None
                print(
                    f"N={size:<4d} {row.label:14s} ÷ 1 hub alone: {ratio:4.2f} deliveries/s; "
                    f"p50 {row.latency.p50_ms - base.latency.p50_ms:+5.1f} ms, "
                    f"p99 {row.latency.p99_ms - base.latency.p99_ms:+5.1f} ms at half load"
                )
    for label, (rate, cpu_ms) in logins:
        print(
            f"logins into one hub {label}: {rate:5.1f}/s (8 at once), hub CPU "
            f"{cpu_ms:4.1f} ms per login"
        )
    print(f"load average at the end {_load()}; took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
