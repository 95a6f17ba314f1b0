"""A reconnect storm: N clients log back into a cluster of hubs at once after the hubs
restarted, by default once with the restarted hubs trusting the verdicts on the members' keys
that their first logins left in Redis (now: crypto/keyverdict.py, only the possession proof
checked) and once with every key validated in full (the baseline), in the same run. Other
paths: clients that do not hear the hub's queue words (a silent line, a 15 s timer, and
every retry work done again), the hubs on Python's own collector policy, the old spake2.

For each path: Redis and H hubs (each its own process, TLS by default) take every client's
first login (names registered; not measured), then the hubs are stopped and started afresh on
the same data and Redis database (cold: nothing cached in the processes), and the clients
reconnect all at once, each from an address of its own in 127.0.0.0/8 as separate users do.
A client whose attempt fails (its login timed out, the hub closed it) retries after the real
client's pause (gossip/fsm/reconnect.py: jittered, doubling, capped). Printed: the time
until every client is back in, and the hubs' CPU per login (their summed CPU over the storm,
divided by N, so work lost on attempts that failed counts). Clients are light login-only
loops (benchmarks/_loadclient.py) in W processes of their own, and share this machine's
cores with the hubs, so the wall time is the machine's; the CPU per login is the hub's.

The extrapolation to 10,000 clients on 2 hubs (the issue's target: back in within a minute)
is printed as such: 10,000 × the CPU per login ÷ 2 hubs, with a core for each hub.
Run: python benchmarks/reconnect.py [--clients 2000] [--quick] [--plain] [--paths words,fullcheck]
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path

import trio
from _loadclient import HubMember, LoadClientError, PoolKey, key_pool, raise_file_limit
from _servers import PASSWORD, ServerProcess, ServerSpec
from cluster import redis_server
from fanout import _load

from gossip.client.login import LOGIN_QUEUE_LIMIT
from gossip.client.session import SessionConfig
from gossip.client.transport import open_hub_link
from gossip.fsm.reconnect import BackoffPolicy
from gossip.hub import Limits
from gossip.wire import Queued

HUBS = 2
TARGET_CLIENTS = 10_000
_FIRST_LOGINS_AT_ONCE = 32
# What the real client does after losing its hub (gossip/fsm/reconnect.py, client/session.py).
_BACKOFF = BackoffPolicy()
_LOGIN_TIMEOUT = SessionConfig.login_timeout
_CONNECT_TIMEOUT = inspect.signature(open_hub_link).parameters["connect_timeout"].default
_READY_TIMEOUT = 300.0


class TimerRanOut(Exception):
    """A client's timer ran out; `code` says which (to connect, or a login step)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class StormResult:
    clients_in: int
    attempts: int
    last_in: float  # time.monotonic() (CLOCK_MONOTONIC, the same in every process)
    cpu_seconds: float  # the worker process's own, over the storm
    failures: dict[str, int]  # why attempts failed: the hub's error code, or the exception
    words: int  # queue words heard (Queued frames), over all attempts


@dataclass(frozen=True)
class PathFigures:
    label: str
    clients: int
    clients_in: int
    seconds: float
    hub_cpu_ms: float
    client_cpu_ms: float
    retries: int
    failures: Counter[str]
    words: int  # queue words the clients heard
    hub_gc_ms: float  # of hub_cpu_ms, the part in the cyclic garbage collector
    full_collections: int  # the hubs' full (generation 2) collections over the storm

    def line(self) -> str:
        return (
            f"{self.label:28s} {self.clients_in:5d}/{self.clients:<5d} back in after "
            f"{self.seconds:6.1f} s ({self.clients_in / self.seconds:6.0f} logins/s), hub CPU "
            f"{self.hub_cpu_ms:5.2f} ms per login ({self.hub_gc_ms:4.2f} ms of it in "
            f"{self.full_collections} garbage collections), clients' {self.client_cpu_ms:4.2f} ms, "
            f"{self.retries} retries, {self.words} queue words heard"
            + (" (" + ", ".join(f"{why} {count}" for why, count in self.failures.most_common(3))
               + ")" if self.failures else "")
        )


def client_address(index: int) -> str:
    """Client `index`'s own loopback address (127.1.0.1, 127.1.0.2, ...)."""
    return f"127.{1 + index // 62_500}.{index // 250 % 250}.{index % 250 + 1}"


# --- the client processes -------------------------------------------------------------------

def _worker_main(rows: list[tuple[str, bytes, str, str]], first_index: int,
                 conn: Connection) -> None:
    raise_file_limit(len(rows) + 256)
    keys = [PoolKey(*row) for row in rows]
    for key in keys:
        key.identity()  # each login signs with it: parsed now, not during the storm
    conn.send("ready")
    while True:
        command = conn.recv()
        if command[0] == "stop":
            return
        _, ports, tls, deadline, at_once, (connect_timeout, login_timeout), words, \
            connects_at_once = command
        conn.send(trio.run(_storm, keys, first_index, ports, tls, deadline, at_once,
                           connect_timeout, login_timeout, words, connects_at_once, conn))


async def _storm(keys: list[PoolKey], first_index: int, ports: list[int], tls: bool,
                 deadline: float, at_once: int, connect_timeout: float,
                 login_timeout: float, words: bool, connects_at_once: int,
                 conn: Connection) -> StormResult:
    """Every key logs in (client i into hub i mod H), retrying until it is in or `deadline`
    passes; then all stay connected (answering pings) until the parent says "release".
    With `words`, each offers to hear the hub's queue words and, as the real client does
    (gossip/client/login.py), restarts its timer on each, within LOGIN_QUEUE_LIMIT."""
    started_cpu = time.process_time()
    limiter = trio.CapacityLimiter(at_once)
    connect_slots = trio.CapacityLimiter(connects_at_once)
    members: list[HubMember] = []
    attempts = 0
    heard = 0
    last_in = time.monotonic()
    failures: Counter[str] = Counter()

    async def hold(member: HubMember) -> None:
        with contextlib.suppress(LoadClientError, trio.BrokenResourceError, OSError):
            while await member.ws.receive():
                pass

    async def attempt(index: int, key: PoolKey, port: int) -> HubMember:
        """One try, on the real client's timers: TCP, TLS and the WebSocket within the
        connect timeout (gossip/client/transport.py), then each login step within the login
        timeout, restarted by each queue word up to LOGIN_QUEUE_LIMIT (client/login.py).
        The connection is made holding one of this process's `connects_at_once` slots: a
        real client makes its handshake on its own CPU, and its timer should not run while
        this process makes thousands of others' (all at once, all would end late)."""
        nonlocal heard
        await connect_slots.acquire()
        holding = True
        begun = trio.current_time()
        phase = "connect timeout"
        try:
            with trio.CancelScope(deadline=begun + connect_timeout) as timer:
                def connected() -> None:
                    nonlocal phase, holding
                    phase = "login timeout"
                    timer.deadline = trio.current_time() + login_timeout
                    connect_slots.release()
                    holding = False

                def told(_: Queued) -> None:
                    nonlocal heard
                    heard += 1
                    timer.deadline = min(trio.current_time() + login_timeout,
                                         begun + LOGIN_QUEUE_LIMIT)

                return await HubMember.log_in(
                    "127.0.0.1", port, key, PASSWORD, tls=tls, sync=False,
                    local_address=client_address(index), on_queued=told if words else None,
                    on_connected=connected)
        finally:
            if holding:
                connect_slots.release()
        raise TimerRanOut(phase)

    async def one(nursery: trio.Nursery, index: int, key: PoolKey) -> None:
        nonlocal attempts, last_in
        port = ports[index % len(ports)]
        for attempt_number in range(1_000):
            attempts += 1
            try:
                async with limiter:
                    member = await attempt(index, key, port)
            except (LoadClientError, OSError, trio.BrokenResourceError,
                    TimerRanOut) as failure:
                failures[getattr(failure, "code", type(failure).__name__)] += 1
                # The client's own policy: a jittered pause, doubling, capped.
                await trio.sleep(_BACKOFF.delay(attempt_number, random.random()))
                continue
            last_in = time.monotonic()
            members.append(member)
            nursery.start_soon(hold, member)
            return

    async with trio.open_nursery() as holders:
        with trio.move_on_after(max(0.0, deadline - time.monotonic())):
            async with trio.open_nursery() as logins:
                for offset, key in enumerate(keys):
                    logins.start_soon(one, holders, first_index + offset, key)
        result = StormResult(len(members), attempts, last_in,
                             time.process_time() - started_cpu, dict(failures), heard)
        conn.send(("in", result))
        await trio.to_thread.run_sync(conn.recv)  # "release"
        holders.cancel_scope.cancel()
    with trio.CancelScope(shield=True):
        for member in members:
            await member.ws.abort()
    return result


class ClientWorkers:
    """W processes, each logging its share of the keys in on command."""

    def __init__(self, keys: list[PoolKey], count: int) -> None:
        context = get_context("spawn")
        share = -(-len(keys) // count)
        self._conns: list[Connection] = []
        self._processes = []
        for start in range(0, len(keys), share):
            rows = [(k.user, k.public_key, k.fingerprint, k.private_armored)
                    for k in keys[start:start + share]]
            parent, child = context.Pipe()
            process = context.Process(target=_worker_main, args=(rows, start, child),
                                      daemon=True)
            process.start()
            child.close()
            self._conns.append(parent)
            self._processes.append(process)
        for conn in self._conns:
            if not conn.poll(_READY_TIMEOUT) or conn.recv() != "ready":
                raise SystemExit("a client process did not start")

    def storm(self, ports: list[int], tls: bool, limit: float, at_once: int,
              timeouts: tuple[float, float] = (_CONNECT_TIMEOUT, _LOGIN_TIMEOUT),
              words: bool = True,
              connects_at_once: int = 64) -> tuple[float, list[StormResult]]:
        """All workers log their clients in from now; returns the start time and what each
        reported once all its clients were in (or `limit` seconds passed)."""
        started = time.monotonic()
        for conn in self._conns:
            conn.send(("storm", ports, tls, started + limit, at_once, timeouts, words,
                       connects_at_once))
        results = []
        for conn in self._conns:
            if not conn.poll(limit + 60):
                raise SystemExit("a client process did not report")
            tag, result = conn.recv()
            assert tag == "in"
            results.append(result)
        return started, results

    def release(self) -> None:
        """Let every client go (after storm), and wait until they have."""
        for conn in self._conns:
            conn.send("release")
        for conn in self._conns:
            conn.recv()

    def stop(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(("stop",))
        for process in self._processes:
            process.join(10)
            if process.is_alive():
                process.kill()


# --- the hubs -------------------------------------------------------------------------------

def start_hubs(stack: contextlib.ExitStack, data_dirs: list[Path], redis_url: str,
               tls: bool, reference: bool, limits: Limits,
               keep_heap: bool = True, key_verdicts: bool = True) -> list[ServerProcess]:
    return [stack.enter_context(ServerProcess(ServerSpec(
        "hub", tls, str(data), redis=redis_url, reference_spake2=reference, limits=limits,
        file_limit=8192, keep_heap=keep_heap, key_verdicts=key_verdicts)))
        for data in data_dirs]


@dataclass(frozen=True)
class Path_:
    label: str
    reference_spake2: bool  # the hubs run the pure-Python spake2 (the round before last)
    words: bool  # the clients offer to hear queue words (and restart their timers on each)
    keep_heap: bool = True  # the hubs freeze their connections' state (gossip/hub/heap.py)
    # The restarted hubs trust the verdicts the first logins left in Redis on the keys
    # (crypto/keyverdict.py); False: they validate every key in full.
    key_verdicts: bool = True


PATHS = {
    "words": Path_("queue words (now)", False, True),
    "fullcheck": Path_("words, every key validated", False, True, key_verdicts=False),
    "gcdefault": Path_("words, Python's own GC", False, True, keep_heap=False),
    "silent": Path_("silent line (before)", False, False),
    "spake2": Path_("silent, pure-Python spake2", True, False),
}


def run_path(path: Path_, workers: ClientWorkers, clients: int,
             workdir: Path, redis_url: str, args: argparse.Namespace) -> PathFigures:
    """First logins into fresh hubs, the hubs restarted, then the storm."""
    label = path.label
    # A directory of its own per run of a path (a path may be run twice: --paths a,b,a).
    base = Path(tempfile.mkdtemp(prefix="path-", dir=workdir))
    data_dirs = [base / f"hub-{index}" for index in range(args.hubs)]
    for data in data_dirs:
        data.mkdir()
    # First logins always through libsodium hubs: they only register the names.
    with contextlib.ExitStack() as stack:
        hubs = start_hubs(stack, data_dirs, redis_url, not args.plain, reference=False,
                          limits=Limits())
        _, first = workers.storm([hub.port for hub in hubs], not args.plain, args.limit,
                                 _FIRST_LOGINS_AT_ONCE)
        workers.release()
        if sum(result.clients_in for result in first) < clients:
            raise SystemExit(f"{label}: not every first login went through")
    # The restart: new processes on the same data and database, nothing cached in them.
    with contextlib.ExitStack() as stack:
        hubs = start_hubs(stack, data_dirs, redis_url, not args.plain,
                          reference=path.reference_spake2,
                          limits=Limits(logins_at_once=args.logins_at_once,
                                        handshake_timeout=args.handshake_timeout),
                          keep_heap=path.keep_heap, key_verdicts=path.key_verdicts)
        cpu_before = sum(hub.cpu_seconds() for hub in hubs)
        gc_before = [hub.gc_seconds() for hub in hubs]
        # The client's timers scale with the hub's handshake timeout as the real ones are set
        # beside it: 10 s to connect, 15 s a login step, against the hub's 10 s.
        scale = args.handshake_timeout / Limits().handshake_timeout
        started, results = workers.storm([hub.port for hub in hubs], not args.plain,
                                         args.limit, clients,
                                         (_CONNECT_TIMEOUT * scale, _LOGIN_TIMEOUT * scale),
                                         words=path.words,
                                         connects_at_once=args.connects_at_once)
        hub_cpu = sum(hub.cpu_seconds() for hub in hubs) - cpu_before
        gc_after = [hub.gc_seconds() for hub in hubs]
        hub_gc = sum(after[0] - before[0] for before, after in zip(gc_before, gc_after,
                                                                    strict=True))
        full_collections = sum(after[1] - before[1] for before, after in zip(
            gc_before, gc_after, strict=True))
        workers.release()
    back_in = sum(result.clients_in for result in results)
    return PathFigures(
        label, clients, back_in,
        max(result.last_in for result in results) - started,
        hub_cpu / max(1, back_in) * 1000,
        sum(result.cpu_seconds for result in results) / max(1, back_in) * 1000,
        sum(result.attempts for result in results) - back_in,
        sum((Counter(result.failures) for result in results), Counter()),
        sum(result.words for result in results),
        hub_gc / max(1, back_in) * 1000,
        full_collections,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2_000,
                        help=f"clients in the storm (default 2000, at most {TARGET_CLIENTS})")
    parser.add_argument("--hubs", type=int, default=HUBS, help=f"hubs (default {HUBS})")
    parser.add_argument("--workers", type=int, default=2,
                        help="client processes (default 2)")
    parser.add_argument("--plain", action="store_true", help="plain ws instead of TLS")
    parser.add_argument("--quick", action="store_true", help="400 clients")
    parser.add_argument("--logins-at-once", type=int, default=Limits().logins_at_once,
                        help="the restarted hubs' Limits.logins_at_once (default "
                             f"{Limits().logins_at_once}; a huge one: every login at once)")
    parser.add_argument("--handshake-timeout", type=float, default=Limits().handshake_timeout,
                        help="the restarted hubs' handshake timeout, the clients' timers "
                             "scaled with it (default "
                             f"{Limits().handshake_timeout:g} s: shorter ones show a larger "
                             "storm's behaviour with fewer clients)")
    parser.add_argument("--connects-at-once", type=int, default=64,
                        help="connections each client process makes at once (TCP, TLS, "
                             "WebSocket; default 64): a client's timers start with its turn")
    parser.add_argument("--paths", default="words,fullcheck",
                        help="which storms, in order, comma-separated (default "
                             "words,fullcheck): words (clients hear the hub's queue words, "
                             "the hubs trust the key verdicts in Redis: now), fullcheck "
                             "(words, every key validated in full: before the verdicts), "
                             "gcdefault "
                             "(words, the hubs on Python's own garbage-collector policy: "
                             "before gossip/hub/heap.py), silent (they "
                             "do not: the clients before), spake2 (silent, and the hubs on "
                             "the pure-Python spake2: the round before)")
    parser.add_argument("--no-old", action="store_true",
                        help="only the words path (no baseline: for a quick look only)")
    parser.add_argument("--limit", type=float, default=120.0,
                        help="seconds a storm may take before it is cut (default 120)")
    args = parser.parse_args()
    clients = 400 if args.quick else args.clients
    if not 1 <= clients <= TARGET_CLIENTS:
        raise SystemExit(f"--clients must be between 1 and {TARGET_CLIENTS}")
    raise_file_limit(8192)
    began = time.perf_counter()
    print(f"reconnect storm: {clients} clients, {args.hubs} hubs on Redis, "
          f"{'ws' if args.plain else 'wss'}, {args.workers} client processes, "
          f"{args.logins_at_once} logins at once per hub, {args.connects_at_once} connections "
          f"made at once per client process, handshake timeout "
          f"{args.handshake_timeout:g} s; "
          f"{os.cpu_count()} cores, load average {_load()}", flush=True)
    try:
        paths = [PATHS[name] for name in ("words" if args.no_old else args.paths).split(",")]
    except KeyError as exc:
        raise SystemExit(f"unknown path {exc}: pick from {', '.join(PATHS)}") from None
    keys = key_pool(clients)
    workers = ClientWorkers(keys, args.workers)
    figures = []
    try:
        with tempfile.TemporaryDirectory() as workdir, redis_server(Path(workdir)) as url:
            for database, path in enumerate(paths):
                found = run_path(path, workers, clients, Path(workdir), f"{url}/{database}",
                                 args)
                print(found.line(), flush=True)
                figures.append(found)
    finally:
        workers.stop()
    print()
    if len(figures) >= 2:
        now = figures[0]
        for old in figures[1:]:
            print(f"{now.label} against {old.label}: back in after {now.seconds:.1f} s against "
                  f"{old.seconds:.1f} s; hub CPU per login {now.hub_cpu_ms:.2f} ms against "
                  f"{old.hub_cpu_ms:.2f} ms, clients' {now.client_cpu_ms:.2f} ms against "
                  f"{old.client_cpu_ms:.2f} ms; {now.retries} retries against {old.retries}")
    for found in figures:
        estimate = TARGET_CLIENTS * found.hub_cpu_ms / 1000 / HUBS
        print(f"extrapolated, not measured: {TARGET_CLIENTS} clients on {HUBS} hubs, a core "
              f"each, {found.label}: {estimate:.0f} s of hub CPU per hub")
    print(f"load average at the end {_load()}; took {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
