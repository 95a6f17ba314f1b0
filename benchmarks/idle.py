"""Memory per idle authenticated connection on the hub, up to 10,000 connections (target: the
whole hub under 1 GiB at 10,000), and what each login costs the hub in CPU.

Light clients (benchmarks/_loadclient.py) log in for real (TLS, SPAKE2, one OpenPGP public key
per user, generated once and cached) and then stay idle; the hub's resident memory is read
from /proc (Linux) after a full garbage collection in the hub, at several connection counts.
Each client reads (and so answers the hub's keepalive pings) but sends nothing. `--synced`
makes every client also take the key snapshot, as a real client does (every join is then
announced to every member: far fewer connections are practical).
Run: python benchmarks/idle.py [--quick] [--synced] [--plain]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import trio
from _loadclient import (
    HubMember,
    LoadClientError,
    PoolKey,
    WebSocketClosed,
    key_pool,
    raise_file_limit,
)
from _servers import PASSWORD, ServerProcess, ServerSpec

from gossip._groups import leaves
from gossip.hub import Limits

MIB = 1024 * 1024
TARGET_BYTES = 1024 * MIB
_LOGINS_AT_ONCE = 16
_STEP_LIMIT = 1800.0  # no step may hang the benchmark


@dataclass
class Point:
    connections: int
    rss: int
    cpu: float  # hub CPU seconds so far
    seconds: float  # wall time of the logins that led here


async def measure(server: ServerProcess, keys: list[PoolKey], steps: list[int], *,
                  synced: bool) -> list[Point]:
    spec = server.spec
    members: list[HubMember] = []
    points: list[Point] = []
    failures: list[str] = []

    async def drain(member: HubMember) -> None:
        # Reading answers the hub's keepalive pings, and keeps a synced member (which is sent
        # every later join) from falling behind.
        try:
            while True:
                for data in await member.ws.receive_batch():
                    if not data:
                        raise WebSocketClosed(f"closed with code {member.ws.close_code}")
        except WebSocketClosed as exc:
            failures.append(f"{member.user}: {exc}")

    limiter = trio.CapacityLimiter(_LOGINS_AT_ONCE)
    try:
        async with trio.open_nursery() as nursery:
            for target in steps:
                started = time.perf_counter()

                async def join(key: PoolKey) -> None:
                    async with limiter:
                        member = await HubMember.log_in(
                            "127.0.0.1", server.port, key, PASSWORD, tls=spec.tls,
                            sync=synced)
                    members.append(member)
                    nursery.start_soon(drain, member)

                with trio.fail_after(_STEP_LIMIT):
                    async with trio.open_nursery() as logins:
                        for key in keys[len(members):target]:
                            logins.start_soon(join, key)
                elapsed = time.perf_counter() - started
                online = server.stats()["members"]  # also runs gc.collect() in the hub
                if failures or online != target:
                    raise LoadClientError(f"{online} members online, expected {target}; "
                                          f"disconnected: {failures[:3]}")
                point = Point(target, server.rss_bytes(), server.cpu_seconds(), elapsed)
                print(_format(point, points[-1] if points else None), flush=True)
                points.append(point)
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            for member in members:
                await member.ws.abort()
    return points


def _format(point: Point, previous: Point | None) -> str:
    text = f"{point.connections:6,d} connections: hub RSS {point.rss / MIB:7.1f} MiB"
    if previous is not None and point.connections > previous.connections:
        added = point.connections - previous.connections
        text += (f"  +{(point.rss - previous.rss) / added / 1024:5.1f} KiB/connection, "
                 f"{(point.cpu - previous.cpu) / added * 1000:5.1f} ms hub CPU/login, "
                 f"{added / point.seconds:5.0f} logins/s")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="up to 1,000 (under a minute)")
    parser.add_argument("--synced", action="store_true",
                        help="clients also take the key snapshot (default: up to 400)")
    parser.add_argument("--plain", action="store_true", help="plain ws instead of TLS")
    parser.add_argument("--max", type=int, help="connections at the last step")
    args = parser.parse_args()
    top = args.max or (400 if args.synced else 1_000 if args.quick else 10_000)
    steps = sorted({0, *(round(top * part) for part in (0.1, 0.25, 0.5, 1.0))})
    limit = raise_file_limit(top + 256)
    if limit < top + 64:
        sys.exit(f"the open-file limit ({limit}) is too low for {top} connections")
    print(f"idle: {os.cpu_count()} cores, load average {_load()}; "
          f"{'key-synced' if args.synced else 'authenticated (no key sync)'} connections over "
          f"{'plain ws' if args.plain else 'TLS'}, up to {top:,}; hub in its own process, "
          f"logging at INFO", flush=True)
    started = time.perf_counter()
    keys = key_pool(top)
    print(f"{len(keys):,} public keys ready in {time.perf_counter() - started:.0f} s "
          f"(cached for later runs)", flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        # The hub's defaults but: all clients come from 127.0.0.1, and 10,000 logins take
        # longer than the idle timeout (nothing is sent after login; pongs do not count).
        limits = Limits(max_connections=max(10_000, top + 16),
                        max_connections_per_address=top + 16, idle_timeout=24 * 3600.0)
        spec = ServerSpec("hub", not args.plain, workdir, file_limit=top + 256, limits=limits)
        with ServerProcess(spec) as server:
            try:
                run = functools.partial(measure, synced=args.synced)
                points = trio.run(run, server, keys, steps)
            except* LoadClientError as group:
                sys.exit(f"stopped: {leaves(group)[0]!r}")
    first, last = points[0], points[-1]
    per = (last.rss - first.rss) / max(1, last.connections - first.connections)
    at_10k = first.rss + per * 10_000
    print(f"load average at the end {_load()}; took {time.perf_counter() - started:.0f} s")
    how = "measured" if last.connections == 10_000 else "extrapolated"
    verdict = "met" if at_10k < TARGET_BYTES else "MISSED"
    if args.synced:
        # The whole key snapshot (one Key frame per member, then two more) is queued at once
        # into the new member's bounded outbox, so beyond this size every login is "slow".
        print(f"note: key-synced members fit only up to outbox_frames - 2 = "
              f"{limits.outbox_frames - 2} today; the 10,000 figure is hypothetical")
    print(f"per idle connection {per / 1024:.1f} KiB; hub at {last.connections:,}: "
          f"{last.rss / MIB:.0f} MiB; at 10,000 ({how}) {at_10k / MIB:.0f} MiB "
          f"(target < {TARGET_BYTES // MIB} MiB: {verdict})")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
