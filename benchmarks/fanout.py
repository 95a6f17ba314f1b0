"""Fan-out through the hub against a bare trio-websocket broadcast server (the baseline, same
run, same transport): N members in one channel (10, 50, 200), every member taking turns to
send 300-byte opaque blobs. For each N: deliveries per second at saturation, then p50/p99
latency at half that load. The hub over TLS is measured too, for information.
The last line holds `ratio=` (hub ÷ bare deliveries per second at N = 50, plain ws).

The server runs in its own process and the load generator (light clients: real login, hand-made
WebSocket framing, no sealing) in this one, so each gets a core of a two-core machine; both
processes' CPU use is printed, to show which side was the bottleneck.
Run: python benchmarks/fanout.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field

import trio
from _loadclient import (
    BLOB_BYTES,
    HubMember,
    PoolKey,
    WebSocketClosed,
    key_pool,
    raise_file_limit,
    read_stamp,
)
from _servers import PASSWORD, ServerProcess, ServerSpec

from gossip.hub import Limits

CHANNEL = "general"
SIZES = (10, 50, 200)
RATIO_SIZE = 50
_PHASE_LIMIT = 120.0  # no phase may hang the benchmark, whatever the server does
# The hub's defaults but these: every load client comes from 127.0.0.1, and each sends far
# more than a person types (the frame rate, channel rate and byte budget would refuse most of
# the load; they are still checked for every frame, so their cost is measured).
LIMITS = Limits(max_connections_per_address=1_000, frames_per_second=1e6, frame_burst=1_000_000,
                channel_messages_per_second=1e6, channel_message_burst=1_000_000,
                sender_bytes_per_second=1e12, sender_bytes_burst=1e12)


class LoadClientKicked(Exception):
    """The server closed a load client: it could not keep up, or the server failed."""


@dataclass
class Tracker:
    """Counts each message's deliveries; in closed-loop runs a message frees its window slot
    once every other member has it."""

    receivers: int
    window: trio.Semaphore
    closed_loop: bool = True
    delivered: int = 0
    recording_from: int | None = None  # record latencies of messages from this sequence on
    latencies_ns: list[int] = field(default_factory=list)
    remaining: dict[int, int] = field(default_factory=dict)
    all_done: trio.Event = field(default_factory=trio.Event)
    failure: str | None = None

    def sent(self, sequence: int) -> None:
        self.remaining[sequence] = self.receivers
        if self.all_done.is_set():
            self.all_done = trio.Event()

    def received(self, sequence: int, sent_ns: int, now_ns: int) -> None:
        self.delivered += 1
        if self.recording_from is not None and sequence >= self.recording_from:
            self.latencies_ns.append(now_ns - sent_ns)
        left = self.remaining.get(sequence)
        if left is None:
            return
        if left > 1:
            self.remaining[sequence] = left - 1
            return
        del self.remaining[sequence]
        if self.closed_loop:
            self.window.release()
        if not self.remaining:
            self.all_done.set()


@dataclass
class Saturation:
    deliveries_per_s: float
    messages_per_s: float
    server_cpu: float  # fraction of one core
    load_cpu: float


@dataclass
class Latency:
    messages_per_s: float
    deliveries_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int


class Bench:
    """One server and its members; grows the group to each N in turn."""

    def __init__(self, server: ServerProcess, keys: list[PoolKey], window: int) -> None:
        self.server = server
        self.keys = keys
        self.members: list[HubMember] = []
        self.window_size = window
        self.tracker = Tracker(0, trio.Semaphore(window))
        self.sequence = itertools.count()

    async def grow(self, nursery: trio.Nursery, size: int) -> None:
        """Log members in (a few at a time) until there are `size`; each starts reading."""
        spec = self.server.spec
        limiter = trio.CapacityLimiter(8)
        joined: list[HubMember] = []

        async def join(key: PoolKey) -> None:
            async with limiter:
                if spec.kind == "hub":
                    member = await HubMember.log_in("127.0.0.1", self.server.port, key,
                                                    PASSWORD, tls=spec.tls)
                else:
                    member = await HubMember.connect_bare("127.0.0.1", self.server.port,
                                                          key.user, tls=spec.tls)
            joined.append(member)
            nursery.start_soon(self._read, member)

        with trio.fail_after(_PHASE_LIMIT):
            async with trio.open_nursery() as logins:
                for key in self.keys[len(self.members):size]:
                    logins.start_soon(join, key)
        self.members.extend(joined)

    async def _read(self, member: HubMember) -> None:
        try:
            while True:
                batch = await member.ws.receive_batch()
                now = time.monotonic_ns()
                for data in batch:
                    if not data:
                        raise WebSocketClosed(f"closed with code {member.ws.close_code}")
                    stamp = read_stamp(data)
                    if stamp is not None:
                        self.tracker.received(stamp[0], stamp[1], now)
        except WebSocketClosed as exc:
            self.tracker.failure = f"{member.user}: {exc}"
            raise LoadClientKicked(self.tracker.failure) from None

    def _reset(self, closed_loop: bool) -> None:
        self.tracker = Tracker(len(self.members) - 1, trio.Semaphore(self.window_size),
                               closed_loop=closed_loop)
        self.tracker.all_done.set()  # nothing in flight yet

    async def saturate(self, warmup: float, duration: float) -> Saturation:
        """Closed loop: keep `window` messages in flight, sent by each member in turn."""
        self._reset(closed_loop=True)
        tracker = self.tracker
        members = self.members
        start = trio.current_time()
        marks: dict[str, tuple[float, int, float, float]] = {}

        async def mark(name: str, at: float) -> None:
            await trio.sleep_until(at)
            marks[name] = (trio.current_time(), tracker.delivered, self.server.cpu_seconds(),
                           time.process_time())

        with trio.fail_after(_PHASE_LIMIT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(mark, "from", start + warmup)
                nursery.start_soon(mark, "to", start + warmup + duration)
                end = start + warmup + duration
                for sequence in self.sequence:
                    if trio.current_time() >= end:
                        break
                    await tracker.window.acquire()
                    tracker.sent(sequence)
                    await members[sequence % len(members)].send_stamped(CHANNEL, sequence)
            await tracker.all_done.wait()
        (t0, d0, s0, l0), (t1, d1, s1, l1) = marks["from"], marks["to"]
        rate = (d1 - d0) / (t1 - t0)
        return Saturation(rate, rate / (len(members) - 1), (s1 - s0) / (t1 - t0),
                          (l1 - l0) / (t1 - t0))

    async def paced(self, messages_per_s: float, warmup: float, duration: float) -> Latency:
        """Open loop at a fixed rate; latency of every delivery after the warm-up."""
        self._reset(closed_loop=False)
        tracker = self.tracker
        members = self.members
        interval = 1 / messages_per_s
        start = trio.current_time()
        count = int((warmup + duration) * messages_per_s)
        first_recorded = None
        with trio.fail_after(_PHASE_LIMIT):
            for index in range(count):
                sequence = next(self.sequence)
                if first_recorded is None and index * interval >= warmup:
                    first_recorded = tracker.recording_from = sequence
                await trio.sleep_until(start + index * interval)
                tracker.sent(sequence)
                await members[sequence % len(members)].send_stamped(CHANNEL, sequence)
            await tracker.all_done.wait()
        samples = sorted(tracker.latencies_ns)
        if not samples:
            raise LoadClientKicked("no latency samples")
        receivers = len(members) - 1
        return Latency(messages_per_s, messages_per_s * receivers,
                       _percentile(samples, 50) / 1e6, _percentile(samples, 99) / 1e6,
                       samples[-1] / 1e6, len(samples))

    async def close(self) -> None:
        for member in self.members:
            await member.aclose()


def _percentile(ordered: list[int], percent: float) -> float:
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return float(ordered[index])


@dataclass
class Row:
    label: str
    size: int
    rounds: list[Saturation]
    latency: Latency | None = None

    @property
    def saturation(self) -> Saturation:
        """The median round (by deliveries per second)."""
        ordered = sorted(self.rounds, key=lambda item: item.deliveries_per_s)
        return ordered[len(ordered) // 2]


@dataclass
class Outcome:
    rows: list[Row]
    ratios: list[float]  # hub ÷ bare at RATIO_SIZE, one per interleaved round


async def run_all(specs: list[ServerSpec], keys: list[PoolKey],
                  args: argparse.Namespace) -> Outcome:
    """All servers run at once (idle but for the one being measured). Saturation rounds
    alternate between them, so a change in the machine's other load hits each alike."""
    outcome = Outcome([], [])
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(ServerProcess(spec)) for spec in specs]
        benches = [Bench(server, keys, args.window) for server in servers]
        try:
            async with trio.open_nursery() as nursery:
                for size in SIZES:
                    active = [bench for bench in benches
                              if size == RATIO_SIZE or not (args.quick and bench.server.spec.tls)]
                    for bench in active:
                        await bench.grow(nursery, size)
                    rows = {bench: Row(bench.server.spec.label, size, []) for bench in active}
                    for _ in range(args.rounds if size == RATIO_SIZE else 1):
                        for bench in active:
                            rows[bench].rounds.append(
                                await bench.saturate(args.warmup, args.duration))
                        if size == RATIO_SIZE:
                            outcome.ratios.append(_round_ratio(rows))
                    for bench, row in rows.items():
                        row.latency = await bench.paced(row.saturation.messages_per_s / 2,
                                                        args.warmup, args.duration)
                        print(_format(row), flush=True)
                        outcome.rows.append(row)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                for bench in benches:
                    await bench.close()
    return outcome


def _round_ratio(rows: dict[Bench, Row]) -> float:
    by_label = {row.label: row.rounds[-1].deliveries_per_s for row in rows.values()}
    return by_label["hub ws"] / by_label["bare ws"]


def _format(row: Row) -> str:
    s, lat = row.saturation, row.latency
    text = (f"{row.label:8s} N={row.size:<4d} {s.deliveries_per_s:7,.0f} deliveries/s "
            f"({s.messages_per_s:6,.1f} msg/s)  CPU server {s.server_cpu:4.0%} "
            f"({s.server_cpu / s.deliveries_per_s * 1e6:4.0f} µs/delivery) load {s.load_cpu:4.0%}")
    if len(row.rounds) > 1:
        text += f" [{len(row.rounds)} rounds: " + " ".join(
            f"{item.deliveries_per_s:,.0f}" for item in row.rounds) + "]"
    if lat is not None:
        text += (f" | half load: p50 {lat.p50_ms:5.1f} ms  p99 {lat.p99_ms:5.1f} ms  "
                 f"max {lat.max_ms:5.1f} ms")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short phases (under a minute)")
    parser.add_argument("--window", type=int, default=32,
                        help="messages in flight at saturation (default 32)")
    parser.add_argument("--hub-log", default="INFO",
                        help="the hub's log level (default INFO, as `python -m gossip.hub`)")
    parser.add_argument("--tls", action=argparse.BooleanOptionalAction, default=None,
                        help="also measure the hub over TLS (default: not with --quick)")
    args = parser.parse_args()
    args.warmup, args.duration, args.rounds = (0.2, 0.8, 3) if args.quick else (1.0, 4.0, 5)
    if args.tls is None:
        args.tls = not args.quick
    raise_file_limit(4096)
    started = time.perf_counter()
    print(f"fanout ({'quick' if args.quick else 'full'}): {os.cpu_count()} cores, load average "
          f"{_load()}; window {args.window} messages, {BLOB_BYTES}-byte blobs, hub logging at "
          f"{args.hub_log}, hub limits as default but connections per address and frames per "
          f"second; each server in its own process, load generator in this one"
          f"{'' if args.tls else '; hub over TLS not measured (run without --quick)'}",
          flush=True)
    keys = key_pool(max(SIZES))
    with tempfile.TemporaryDirectory() as workdir:
        specs = [ServerSpec("bare", False, workdir, limits=LIMITS),
                 ServerSpec("hub", False, workdir, log_level=args.hub_log, limits=LIMITS)]
        if args.tls:
            specs.append(ServerSpec("hub", True, workdir, log_level=args.hub_log, limits=LIMITS))
        try:
            outcome = trio.run(run_all, specs, keys, args)
        except* LoadClientKicked as group:
            print(f"a load client was disconnected ({group.exceptions[0]}); no figures")
            print("ratio=nan")
            sys.exit(1)
    print(f"load average at the end {_load()}; took {time.perf_counter() - started:.0f} s")
    hub = next(row for row in outcome.rows if row.label == "hub ws" and row.size == RATIO_SIZE)
    ratio = statistics.median(outcome.ratios)
    rounds = " ".join(f"{value:.2f}" for value in outcome.ratios)
    bare = next(row for row in outcome.rows if row.label == "bare ws" and row.size == RATIO_SIZE)
    assert hub.latency is not None
    # Deliveries per second of server CPU: steadier than per second of wall time when other
    # work shares the machine, but it hides a server that waits instead of working.
    efficiency = (bare.saturation.server_cpu / bare.saturation.deliveries_per_s) / (
        hub.saturation.server_cpu / hub.saturation.deliveries_per_s)
    print(f"per server CPU second, hub ÷ bare at N={RATIO_SIZE}: {efficiency:.2f}")
    print(f"ratio={ratio:.2f} (hub ÷ bare deliveries/s at N={RATIO_SIZE} over plain ws, median "
          f"of rounds {rounds}; target >= 0.5) hub p99 at half load "
          f"{hub.latency.p99_ms:.1f} ms (target < 20 ms)")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
