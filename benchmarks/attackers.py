"""Two ordinary users chatting through a real hub while N attackers of one kind attack it, beside
the same two users on the same hub a moment before without attackers (the baseline, same run).

Each scenario gets a fresh hub (its own process, TLS, a temporary data directory, the default
limits) and runs: a first login of the two users (they "were here before", as real users are),
a quiet phase, then the attackers start, and after a warm-up the same phase again. A phase
times the users' login, then for a while each user in turn pings the hub (MeasureLatency: a
WebSocket round trip) and sends a chat message to the other (send to receipt, both real
clients: sealed, relayed, opened and verified); the hub's resident memory is sampled all along
(its peak is shown) and its CPU read from /proc.

Attackers, each from a loopback address of its own (127.0.0.2 and up), so the hub's
per-address penalties fall on them and not on the users at 127.0.0.1:
- outsiders (no password; N = 1, 10, 50): each a loop of gossip/tools/attack.py's wrong
  password, a greeting with a bloated key (~16 KiB, about 100 self-signed user ids),
  wrong passwords followed by parked frames, and silent connections;
- hostile members (the password; 1-3): each floods the users' channel with 190 KiB blobs
  within its byte budget and with bursts of small frames beyond the frame and channel rates,
  sends sender-key hand-overs stuffed with ~200 KiB of session-key packets addressed to the
  users, joins and leaves the channel's call over and over, and tries to log in under the
  users' names (with a key of its own) and its own key under another name.
The attackers run in a third process, at a lower priority (nice), so that on a small machine
the figures measure what the hub does under attack rather than the attackers' share of the
CPU; what they got done is printed under each scenario.
Target: with 50 outsiders or 3 hostile members, the users' p99s within 2x the quiet run's and
the hub's peak memory within 100 MB of it.
Run: python benchmarks/attackers.py [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path

import msgpack
import trio
from _loadclient import default_cache_dir, raise_file_limit
from _servers import PASSWORD, ServerProcess, ServerSpec, _serve
from trio_websocket import ConnectionClosed, WebSocketConnection

from gossip._groups import leaves
from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.commands import Leave, MeasureLatency, SendChat
from gossip.client.errors import ClientError
from gossip.client.messages import ChannelSender
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.crypto import Identity, PublicKey
from gossip.crypto._packets import Tag, walk
from gossip.hub import Limits
from gossip.hub.server import freeze_startup_heap
from gossip.tools import attack
from gossip.tools.attack import Target, Verdict
from gossip.wire import (
    PROTOCOL_VERSION,
    CallMembers,
    EndOfKeys,
    Error,
    ErrorCode,
    Frame,
    Greeting,
    HangUp,
    Key,
    KeyRemoved,
    KeyRequest,
    Message,
    StartCall,
    Welcome,
    decode_frame,
)

CHANNEL = "general"
USERS = ("alice", "bob")
OUTSIDER_COUNTS = (1, 10, 50)
MEMBER_COUNTS = (1, 2, 3)
TICK = 0.1  # each user pings, then sends one message, every TICK seconds
MIB = 2**20
P99_TARGET = 2.0  # x the quiet run
MEMORY_TARGET = 100 * 10**6  # bytes over the quiet run
LIMITS = Limits()  # the hub's defaults: they are what is under test
_PHASE_SLACK = 60.0  # a phase may overrun its length by this much, never hang
_ATTACK_SLACK = 120.0  # attackers stop by themselves this long after the last phase's end
_MAX_ROUNDS = 10_000  # each attacker's loop, bounded in count as well as by time
FLOOD_BLOB = 190 * 1024
HAND_OVER_BYTES = 200 * 1024 - 1024  # under the hub's 200 KiB blob limit, with the wrapping
OUTSIDER_FIRST_ADDRESS = 2  # 127.0.0.2 ...
MEMBER_FIRST_ADDRESS = 200  # 127.0.0.200 ...


# -- the ordinary users ---------------------------------------------------------------------

@dataclass
class Phase:
    """What the two ordinary users saw in one phase, and the hub meanwhile."""

    label: str
    login_s: float | None = None  # the slower of the two logins; None: a login failed
    login_error: str = ""
    pings_ms: list[float] = field(default_factory=list)
    messages_ms: list[float] = field(default_factory=list)
    sent: int = 0
    unanswered_pings: int = 0
    not_sent: Counter[str] = field(default_factory=Counter)  # SendChat refused, by error
    rejected: Counter[str] = field(default_factory=Counter)  # frames their clients refused
    disconnects: int = 0
    peak_rss: int = 0
    window: tuple[float, float] = (0.0, 0.0)  # time.monotonic() at its start and end
    hub_cpu: float = 0.0  # fraction of one core
    clients_cpu: float = 0.0  # this process: the two users' clients


def _percentile(values: Sequence[float], percent: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return ordered[index]


class Users:
    """alice and bob, real clients with profiles that live as long as the scenario's hub."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.profiles = [Profile.open(user, workdir / user) for user in USERS]
        self.config = SessionConfig("127.0.0.1", port, PASSWORD)
        self._ended: list[trio.Event] = []

    async def phase(self, label: str, seconds: float, server: ServerProcess) -> Phase:
        """Log both in, ping and chat for `seconds`, log out; the hub watched all along."""
        phase = Phase(label)
        cpu_before, started = server.cpu_seconds(), time.perf_counter()
        own_before, window_start = time.process_time(), time.monotonic()
        with trio.fail_after(seconds + _PHASE_SLACK):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_watch_memory, server, phase)
                await self._log_in_and_chat(phase, seconds)
                nursery.cancel_scope.cancel()
        phase.peak_rss = max(phase.peak_rss, server.rss_bytes())
        elapsed = time.perf_counter() - started
        phase.window = (window_start, time.monotonic())
        phase.hub_cpu = (server.cpu_seconds() - cpu_before) / elapsed
        phase.clients_cpu = (time.process_time() - own_before) / elapsed
        return phase

    async def _log_in_and_chat(self, phase: Phase, seconds: float) -> None:
        sent_at: dict[str, float] = {}  # message text -> when its sender asked to send it
        sessions: list[Session] = []
        self._ended = [trio.Event() for _ in self.profiles]
        async with trio.open_nursery() as nursery:
            start = time.perf_counter()
            for profile in self.profiles:
                send, receive = trio.open_memory_channel[ev.SessionEvent](10_000)
                session = Session(profile, self.config, send)
                sessions.append(session)
                nursery.start_soon(self._run, session, phase, nursery,
                                   self._ended[len(sessions) - 1])
                nursery.start_soon(_read_events, receive, phase, sent_at)
            for session in sessions:
                await session.synced.wait()
            phase.login_s = time.perf_counter() - start
            deadline = trio.current_time() + seconds
            async with trio.open_nursery() as talkers:
                for index, session in enumerate(sessions):
                    talkers.start_soon(_talk, session, index, deadline, phase, sent_at)
            # The last messages' receipts, for at most 2 s (a poll: this is no test).
            with trio.move_on_after(2.0 if seconds else 0.0):
                while sent_at:
                    await trio.sleep(0.05)
            for session in sessions:
                await session.ref.tell(Leave())
            with trio.move_on_after(5.0):  # a polite close, bounded
                for ended in self._ended:
                    await ended.wait()
            nursery.cancel_scope.cancel()

    @staticmethod
    async def _run(session: Session, phase: Phase, nursery: trio.Nursery, ended: trio.Event
                   ) -> None:
        try:
            await run_actor(session)
        except Exception as exc:  # refused or unreachable: a figure of this phase
            leaf = leaves(exc)[0]
            phase.login_error = f"{type(leaf).__name__}: {leaf}"
            nursery.cancel_scope.cancel()
        finally:
            ended.set()


async def _talk(session: Session, index: int, deadline: float, phase: Phase,
                sent_at: dict[str, float]) -> None:
    """One user's loop: a ping, then a message, each TICK (offset so the two alternate).
    One request at a time, so a message never waits behind its own sender's ping."""
    await trio.sleep(index * TICK / 2)
    for number in range(int(1e6)):
        tick = trio.current_time()
        if tick >= deadline:
            return
        seconds = await session.ref.ask(MeasureLatency())
        if seconds is None:
            phase.unanswered_pings += 1
        else:
            phase.pings_ms.append(seconds * 1000)
        text = f"probe {USERS[index]} {number}"
        sent_at[text] = time.perf_counter()
        try:
            await session.ref.ask(SendChat(CHANNEL, text, 600))
            phase.sent += 1
        except ClientError as exc:  # refused (outbox full, not connected): a figure
            sent_at.pop(text, None)
            phase.not_sent[type(exc).__name__] += 1
        await trio.sleep_until(tick + TICK)


async def _read_events(events: trio.MemoryReceiveChannel[ev.SessionEvent], phase: Phase,
                       sent_at: dict[str, float]) -> None:
    async for event in events:
        if isinstance(event, ev.MessageReceived):
            started = sent_at.pop(event.message.text, None)
            if started is not None:
                phase.messages_ms.append((time.perf_counter() - started) * 1000)
        elif isinstance(event, ev.MessageRejected):
            phase.rejected[event.reason] += 1
        elif isinstance(event, ev.Disconnected):
            phase.disconnects += 1


async def _watch_memory(server: ServerProcess, phase: Phase) -> None:
    while True:
        phase.peak_rss = max(phase.peak_rss, server.rss_bytes())
        await trio.sleep(0.1)


# -- the attackers (in a process of their own) ----------------------------------------------

@dataclass(frozen=True)
class AttackPlan:
    kind: str  # "outsiders" or "members"
    count: int
    port: int
    bloated_greeting: bytes
    max_seconds: float

    @property
    def label(self) -> str:
        return f"{self.count} {self.kind if self.count > 1 else self.kind[:-1]}"


class Attackers:
    """The attackers' process: started, left to attack, stopped; it reports what it did."""

    def __init__(self, plan: AttackPlan) -> None:
        context = get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_attackers_main, args=(plan, child), daemon=True)
        self._process.start()
        child.close()

    async def stop(self) -> Counter[str]:
        """Stop the attackers; what they did, counted by attack and outcome."""
        try:
            self._conn.send("stop")
            ready = await trio.to_thread.run_sync(self._conn.poll, 60.0)
            tally: Counter[str] = self._conn.recv() if ready else Counter({"no report": 1})
        except (EOFError, BrokenPipeError, OSError):
            tally = Counter({"attackers died": 1})
        await trio.to_thread.run_sync(self._process.join, 10.0)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()
        return tally


def _attackers_main(plan: AttackPlan, conn: Connection) -> None:
    os.nice(10)
    raise_file_limit(4096)
    tally: Counter[str] = Counter()
    try:
        trio.run(_attack_until_stopped, plan, conn, tally)
    finally:
        conn.send(tally)


async def _attack_until_stopped(plan: AttackPlan, conn: Connection, tally: Counter[str]
                                ) -> None:
    with trio.move_on_after(plan.max_seconds):
        async with trio.open_nursery() as nursery:
            for index in range(plan.count):
                if plan.kind == "outsiders":
                    source = f"127.0.0.{OUTSIDER_FIRST_ADDRESS + index}"
                    target = Target("127.0.0.1", plan.port, None, source=source)
                    nursery.start_soon(_outsider, target, plan.bloated_greeting, tally)
                else:
                    source = f"127.0.0.{MEMBER_FIRST_ADDRESS + index}"
                    target = Target("127.0.0.1", plan.port, PASSWORD, source=source)
                    nursery.start_soon(_hostile_member, target, index, tally)
            await trio.to_thread.run_sync(conn.recv, abandon_on_cancel=True)  # "stop"
            nursery.cancel_scope.cancel()


async def _tallied(tally: Counter[str], name: str, action: Awaitable[Verdict]) -> None:
    """Run one attack, bounded in time; count its outcome (a crash is an outcome too)."""
    with trio.move_on_after(attack.ANSWER_SECONDS + 5) as scope:
        try:
            verdict = await action
            tally[f"{name}: {verdict.observed}"] += 1
        except Exception as exc:
            tally[f"{name}: {type(leaves(exc)[0]).__name__}"] += 1
    if scope.cancelled_caught:
        tally[f"{name}: no answer"] += 1


async def _outsider(target: Target, bloated_greeting: bytes, tally: Counter[str]) -> None:
    for _ in range(_MAX_ROUNDS):
        await _tallied(tally, "wrong password", attack.wrong_password(target))
        # The greeting is made once (a bloated key takes seconds to build) and sent as is.
        await _tallied(tally, "bloated key", attack._one_frame_attack(
            target, "bloated key", bloated_greeting, {"bad_key"}))
        await _tallied(tally, "parked frames", attack.parked_frames(target, connections=2))
        await _tallied(tally, "silent connections", _silent_connections(target))


async def _silent_connections(target: Target, count: int = 8, seconds: float = 3.0) -> Verdict:
    """`count` connections that never speak, and one that gets through TLS and the WebSocket
    upgrade and then says nothing, held for `seconds`."""
    streams: list[trio.SocketStream] = []
    try:
        with trio.move_on_after(seconds):
            for _ in range(count):
                streams.append(await trio.open_tcp_stream(target.host, target.port,
                                                          local_address=target.source))
            async with attack._websocket(target):
                await trio.sleep_forever()
    finally:
        for stream in streams:
            await trio.aclose_forcefully(stream)
    return Verdict("silent connections", "held", f"{len(streams)} held", True)


async def _hostile_member(target: Target, index: int, tally: Counter[str]) -> None:
    user = f"hostile{index}-{os.urandom(2).hex()}"
    identity = Identity.generate(user)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_squat_names, target, identity, tally)
        for _ in range(_MAX_ROUNDS):
            try:
                await _one_membership(target, identity, tally)
            except Exception as exc:
                tally[f"member connection: {type(leaves(exc)[0]).__name__}"] += 1
            await trio.sleep(0.5)  # then back in (the hub paces logins by its own rules)


async def _one_membership(target: Target, identity: Identity, tally: Counter[str]) -> None:
    async with attack._websocket(target) as (ws, fingerprint):
        answer = await attack.log_in_raw(ws, fingerprint, identity.user, identity.public,
                                         identity, PASSWORD)
        if not isinstance(answer, Welcome):
            tally[f"member login: {answer.code if isinstance(answer, Error) else '?'}"] += 1
            return
        tally["member login: welcome"] += 1
        member = _HostileMember(ws, identity, tally)
        await member.sync()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(member.read, nursery.cancel_scope)
                nursery.start_soon(member.flood_within_budget)
                nursery.start_soon(member.flood_beyond_rates)
                nursery.start_soon(member.stuffed_hand_overs)
                nursery.start_soon(member.call_churn)
        except* ConnectionClosed:
            tally["member connection: closed by the hub"] += 1


class _HostileMember:
    """One logged-in hostile member's attacks, all on its one connection."""

    def __init__(self, ws: WebSocketConnection, identity: Identity, tally: Counter[str]) -> None:
        self.ws = ws
        self.identity = identity
        self.tally = tally
        self.keys: dict[str, PublicKey] = {}  # every other member online, as the hub says
        self._in_call = False
        self._call_answer = trio.Event()  # the hub answered our last join
        self._call_answer.set()  # (no join yet)

    async def sync(self) -> None:
        """The key sync, as a real member does it before anything else."""
        await self.ws.send_message(KeyRequest().encode())
        while not isinstance(await self._take_next(), EndOfKeys):
            pass

    async def _take_next(self) -> Frame | None:
        data = await self.ws.get_message()
        if isinstance(data, str) or len(data) > 64 * 1024:
            return None  # another member's flood
        frame = decode_frame(data)
        if isinstance(frame, Key) and frame.user != self.identity.user:
            self.keys[frame.user] = PublicKey.from_bytes(frame.key)
        elif isinstance(frame, KeyRemoved):
            self.keys.pop(frame.user, None)
        elif isinstance(frame, Error):
            self.tally[f"member refused: {frame.code}"] += 1
            if frame.code in (ErrorCode.CALL_CHURN, ErrorCode.CALL_FULL):
                self._call_answer.set()
        elif isinstance(frame, CallMembers) and frame.channel == CHANNEL:
            # Only the answer to our join: a roster sent before our last hang-up still
            # lists us.
            if not self._call_answer.is_set() and self.identity.user in frame.users:
                self._in_call = True
                self._call_answer.set()
        elif isinstance(frame, HangUp) and frame.user == self.identity.user:
            self._in_call = False  # the hub gave our seat back
        return frame

    async def read(self, scope: trio.CancelScope) -> None:
        """Take the hub's frames (else we would be let go as slow): keys, and refusals."""
        try:
            while True:
                await self._take_next()
        except ConnectionClosed as exc:
            reason = exc.reason.reason if exc.reason and exc.reason.reason else "closed"
            self.tally[f"member let go: {reason[:40]}"] += 1
            scope.cancel()

    async def flood_within_budget(self) -> None:
        """190 KiB blobs at 80% of the byte budget (which counts every recipient)."""
        frame = Message(channel=CHANNEL, blob=os.urandom(FLOOD_BLOB)).encode()
        for _ in range(_MAX_ROUNDS):
            await self.ws.send_message(frame)
            self.tally["flood within budget: frames"] += 1
            recipients = max(1, len(self.keys))
            await trio.sleep(FLOOD_BLOB * recipients / (0.8 * LIMITS.sender_bytes_per_second))

    async def flood_beyond_rates(self) -> None:
        """Every 3 s a burst of small frames, more than the frame and channel rates allow."""
        frame = Message(channel=CHANNEL, blob=os.urandom(64)).encode()
        burst = max(LIMITS.frame_burst, LIMITS.channel_message_burst) + 100
        for _ in range(_MAX_ROUNDS):
            for _ in range(burst):
                await self.ws.send_message(frame)
            self.tally["flood beyond rates: frames"] += burst
            await trio.sleep(3.0)

    async def stuffed_hand_overs(self) -> None:
        """Every second, a sender-key hand-over to the users stuffed with ~200 KiB of bogus
        session-key packets addressed to them (what cost a client 540 ms to open before)."""
        for _ in range(_MAX_ROUNDS):
            victims = [key for user, key in self.keys.items() if user in USERS]
            if victims:
                blob = _stuffed_hand_over(self.identity, victims)
                await self.ws.send_message(Message(channel=CHANNEL, blob=blob).encode())
                self.tally["stuffed hand-overs: sent"] += 1
            await trio.sleep(1.0)

    async def call_churn(self) -> None:
        """Join the channel's call and leave it again, ten times a second (hanging up only
        when the join was not refused: a hang-up outside the call breaks the protocol)."""
        for _ in range(_MAX_ROUNDS):
            self._call_answer = trio.Event()
            await self.ws.send_message(StartCall(channel=CHANNEL).encode())
            with trio.move_on_after(1.0):
                await self._call_answer.wait()
            self._call_answer.set()  # a late answer is no answer to this join
            if self._in_call:
                await self.ws.send_message(HangUp(channel=CHANNEL).encode())
                self._in_call = False
                self.tally["call churn: joined and left"] += 1
            await trio.sleep(0.1)


def _stuffed_hand_over(identity: Identity, victims: Sequence[PublicKey]) -> bytes:
    """An honest hand-over to `victims` (as a client makes it), with corrupted copies of
    their session-key packets before it, up to HAND_OVER_BYTES."""
    outer = msgpack.unpackb(ChannelSender(identity, CHANNEL, time.time).distribution_for(
        victims), raw=False)
    honest: bytes = outer["data"]
    keyids = {victim.encryption_keyids[0] for victim in victims}
    bogus = []
    for header in walk(honest):
        body = honest[header.body_start + 1:header.body_start + 9]
        if header.tag == Tag.PKESK and body.hex().upper() in keyids:
            packet = honest[header.start:header.end]
            bogus.append(packet[:-1] + bytes([packet[-1] ^ 1]))
    stuffing = b"".join(bogus)
    outer["data"] = stuffing * ((HAND_OVER_BYTES - len(honest)) // len(stuffing)) + honest
    return msgpack.packb(outer, use_bin_type=True)


async def _squat_names(target: Target, identity: Identity, tally: Counter[str]) -> None:
    """Every 2 s: a user's name under a new key of ours, or our key under another name."""
    for number in range(_MAX_ROUNDS):
        if number % 2 == 0:
            user = USERS[number // 2 % len(USERS)]
            name, squatter, public = "squat a user's name", Identity.generate(user), None
        else:
            user = f"{identity.user}-alias"
            name, squatter, public = "own key, second name", identity, identity.public
        await _tallied(tally, name, _log_in_as(target, user, squatter, public))
        await trio.sleep(2.0)


async def _log_in_as(target: Target, user: str, signer: Identity, public: PublicKey | None
                     ) -> Verdict:
    async with attack._websocket(target) as (ws, fingerprint):
        answer = await attack.log_in_raw(ws, fingerprint, user, public or signer.public,
                                         signer, PASSWORD)
    observed = answer.code if isinstance(answer, Error) else answer.command.readable
    return Verdict(f"log in as {user}", "a refusal", observed, isinstance(answer, Error))


def _bloated_greeting() -> bytes:
    """A greeting with attack.bloated_public_key, kept in the key cache: it takes seconds."""
    path = default_cache_dir() / "bloated-key-v1.bin"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(f".{os.getpid()}.partial")
        scratch.write_bytes(attack.bloated_public_key("mallory"))
        scratch.replace(path)
    return Greeting(version=PROTOCOL_VERSION, user="mallory",
                    public_key=path.read_bytes()).encode()


# -- where the hub's time goes (--watch-hub) -------------------------------------------------

SLOW_STEP = 0.010  # a task step this long (s) holds up every other connection: recorded


class _SlowSteps(trio.abc.Instrument):
    """Task steps longer than SLOW_STEP, by task name, with their (system-wide monotonic) end
    time, so the benchmark can tell which phase they fell in."""

    def __init__(self) -> None:
        self.started = 0.0
        self.slow: list[tuple[float, float, str]] = []  # (end, seconds, task name)

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.started = time.monotonic()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        now = time.monotonic()
        if now - self.started > SLOW_STEP and len(self.slow) < 100_000:
            self.slow.append((now, now - self.started, task.name))


class WatchedHub(ServerProcess):
    """The hub as ServerProcess runs it, with _SlowSteps and cProfile; both written to
    `report_dir` when it stops (`slow_steps()`, `profile_lines()` read them)."""

    def __init__(self, spec: ServerSpec, report_dir: Path) -> None:
        super().__init__(spec)
        self.report_dir = report_dir
        self._process = get_context("spawn").Process(
            target=_watched_hub_main, args=(spec, self._child, report_dir), daemon=True)

    def slow_steps(self, start: float, end: float) -> list[tuple[float, str]]:
        path = self.report_dir / "slow-steps.msgpack"
        rows = msgpack.unpackb(path.read_bytes()) if path.exists() else []
        return [(seconds, name) for at, seconds, name in rows if start <= at <= end]

    def profile_lines(self, count: int = 12) -> list[str]:
        path = self.report_dir / "hub.prof"
        if not path.exists():
            return ["(no profile)"]
        out = io.StringIO()
        pstats.Stats(str(path), stream=out).sort_stats("tottime").print_stats(count)
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "tottime" in line), 0)
        return [line for line in lines[start:] if line.strip()]


def _watched_hub_main(spec: ServerSpec, conn: Connection, report_dir: Path) -> None:
    raise_file_limit(spec.file_limit)
    logging.basicConfig(level=spec.log_level, stream=open(os.devnull, "w"))  # noqa: SIM115
    freeze_startup_heap()
    watch = _SlowSteps()
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        trio.run(_serve, spec, conn, instruments=[watch])
    finally:
        profiler.disable()
        report_dir.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(report_dir / "hub.prof")
        (report_dir / "slow-steps.msgpack").write_bytes(msgpack.packb(watch.slow))


def _format_slow(steps: list[tuple[float, str]]) -> str:
    if not steps:
        return f"no hub task step over {SLOW_STEP * 1000:g} ms"
    by_task: Counter[str] = Counter()
    for _, name in steps:
        by_task[name.rsplit(".", 1)[-1]] += 1
    longest = max(steps)
    return (f"{len(steps)} hub task steps over {SLOW_STEP * 1000:g} ms, "
            f"{sum(seconds for seconds, _ in steps) * 1000:.0f} ms in all, longest "
            f"{longest[0] * 1000:.0f} ms ({longest[1].rsplit('.', 1)[-1]}); by task: "
            + ", ".join(f"{name} {count}" for name, count in by_task.most_common(4)))


# -- scenarios -------------------------------------------------------------------------------

@dataclass
class Scenario:
    label: str
    quiet: Phase
    attacked: Phase
    attacks: Counter[str]


async def run_scenario(kind: str, count: int, server: ServerProcess, workdir: Path,
                       args: argparse.Namespace, greeting: bytes) -> Scenario:
    users = Users(workdir, server.port)
    await users.phase("first login", 0.0, server)  # the users were here before
    quiet = await users.phase("quiet", args.seconds, server)
    plan = AttackPlan(kind, count, server.port, greeting,
                      args.warmup + args.seconds + _ATTACK_SLACK)
    attackers = Attackers(plan)
    try:
        await trio.sleep(args.warmup)  # the attack in full swing before the users come
        attacked = await users.phase(plan.label, args.seconds, server)
    finally:
        with trio.CancelScope(shield=True):
            tally = await attackers.stop()
    return Scenario(plan.label, quiet, attacked, tally)


def _format_phase(phase: Phase) -> str:
    if phase.login_s is None:
        return f"  {phase.label:13s} login FAILED ({phase.login_error})"
    pings, messages = phase.pings_ms, phase.messages_ms
    text = (f"  {phase.label:13s} login {phase.login_s * 1000:6.0f} ms | ping p50 "
            f"{_percentile(pings, 50):6.1f} p99 {_percentile(pings, 99):7.1f} ms | msg p50 "
            f"{_percentile(messages, 50):6.1f} p99 {_percentile(messages, 99):7.1f} ms "
            f"({len(messages)}/{phase.sent}) | hub RSS peak {phase.peak_rss / MIB:5.0f} MiB, "
            f"CPU {phase.hub_cpu:4.0%}, clients' CPU {phase.clients_cpu:4.0%}")
    notes = []
    if phase.unanswered_pings:
        notes.append(f"{phase.unanswered_pings} pings unanswered")
    if phase.not_sent:
        notes.append("sends refused: " + ", ".join(
            f"{count} {error}" for error, count in phase.not_sent.most_common()))
    if phase.disconnects:
        notes.append(f"{phase.disconnects} disconnects")
    if phase.rejected:
        notes.append("refused by the clients: " + ", ".join(
            f"{count} {reason}" for reason, count in phase.rejected.most_common()))
    if phase.login_error:
        notes.append(phase.login_error)
    return text + (f"\n                {'; '.join(notes)}" if notes else "")


def _verdict(scenario: Scenario) -> str:
    quiet, attacked = scenario.quiet, scenario.attacked
    if attacked.login_s is None or quiet.login_s is None:
        return "MISSED (no login)"
    ratios = {
        "ping p99": _percentile(attacked.pings_ms, 99) / _percentile(quiet.pings_ms, 99),
        "msg p99": _percentile(attacked.messages_ms, 99) / _percentile(quiet.messages_ms, 99),
    }
    lost = attacked.sent - len(attacked.messages_ms)
    memory = attacked.peak_rss - quiet.peak_rss
    missed = [name for name, ratio in ratios.items() if not ratio <= P99_TARGET]
    if memory > MEMORY_TARGET:
        missed.append("memory")
    if lost:
        missed.append(f"{lost} messages not received")
    figures = ", ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios.items())
    return (f"{figures}, memory {memory / 10**6:+.0f} MB: "
            f"{'met' if not missed else 'MISSED (' + ', '.join(missed) + ')'}")


def _format_attacks(tally: Counter[str]) -> str:
    return "  attacks done: " + ", ".join(f"{name} {count}" for name, count in sorted(
        tally.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short phases (about 2 minutes)")
    parser.add_argument("--outsiders", type=int, nargs="*", default=list(OUTSIDER_COUNTS))
    parser.add_argument("--members", type=int, nargs="*", default=list(MEMBER_COUNTS))
    parser.add_argument("--watch-hub", action="store_true",
                        help="run the hub under cProfile with a trio instrument that records "
                             "task steps over 10 ms, and print both (slows the hub: the "
                             "figures are then not the ones to quote)")
    args = parser.parse_args()
    args.seconds, args.warmup = (4.0, 2.0) if args.quick else (12.0, 3.0)
    raise_file_limit(4096)
    started = time.perf_counter()
    print(f"attackers ({'quick' if args.quick else 'full'}): {os.cpu_count()} cores, load "
          f"average {_load()}; per scenario a fresh hub (own process, TLS, default limits), "
          f"two users each pinging and sending every {TICK:g} s for {args.seconds:g} s, quiet "
          f"then attacked ({args.warmup:g} s after the attackers start; they run niced in a "
          f"process of their own)", flush=True)
    greeting = _bloated_greeting()
    plans = [("outsiders", count) for count in args.outsiders] + [
        ("members", count) for count in args.members]
    scenarios = []
    for kind, count in plans:
        with tempfile.TemporaryDirectory() as scratch:
            workdir = Path(scratch)
            spec = ServerSpec("hub", True, str(workdir / "hub"), limits=LIMITS)
            server = (WatchedHub(spec, workdir / "watch") if args.watch_hub
                      else ServerProcess(spec))
            with server:
                scenario = trio.run(run_scenario, kind, count, server, workdir, args, greeting)
            scenarios.append(scenario)
            print(f"{scenario.label}: {_verdict(scenario)}")
            print(_format_phase(scenario.quiet))
            print(_format_phase(scenario.attacked))
            print(_format_attacks(scenario.attacks), flush=True)
            if isinstance(server, WatchedHub):
                for phase in (scenario.quiet, scenario.attacked):
                    print(f"  {phase.label}: {_format_slow(server.slow_steps(*phase.window))}")
                print("  the hub's whole run under cProfile, by own time:")
                for line in server.profile_lines():
                    print(f"    {line}")
    print(f"load average at the end {_load()}; took {time.perf_counter() - started:.0f} s")
    targets = [s for s in scenarios if s.label in ("50 outsiders", "3 members")]
    for scenario in targets:
        print(f"target ({scenario.label}: p99s within {P99_TARGET:g}x of quiet, hub memory "
              f"within {MEMORY_TARGET // 10**6} MB): {_verdict(scenario)}")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
