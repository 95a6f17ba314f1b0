"""The mesh-to-relay switch gap: the longest stretch in which a participant hears nothing of
another while their call moves from the mesh to the relay and back, beside the same figure,
in the same run, for a join that switches nothing and for a stretch in which nothing happens.

One process holds the hub (relay threshold T), T+1 sessions (each a tone of its own
frequency, played into a sink that records what was played and when) and the calls; the relay
is `python -m gossip.relay`, its own process. The run:

    T members join, one by one          (the last join switches nothing: "join, mesh")
    nothing happens for a while         ("steady")
    the last leaves, and joins again    ("leave, mesh": a fresh frame key, no switch)
    one more joins: past T, the relay   ("mesh -> relay")
    it leaves: back to the mesh         ("relay -> mesh"; these two `--rounds` times)

For each phase, each pair of the first T members (receiver, sender), the receiver's playout
from the phase's start over `--window` seconds is cut into 10 ms pieces, and the sender's tone
is looked for in each (FFT; its bin at least a tenth of its steady level). Printed per phase:
the longest gap (max over pairs) and the median pair's longest gap. The issue's target: no
switch gap over 500 ms.

With --processes each participant is its own process (benchmarks/_switchmember.py) on steps
set ahead in wall-clock time, so one's link set-up does not starve another's playout.

Run: python benchmarks/call_switch.py [--threshold 3] [--window 8] [--rounds 2] [--processes]
     [--mesh-receive in-place|aiortc]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import trio

from gossip.actors.actor import ActorRef, run_actor
from gossip.client import events as ev
from gossip.client.calltypes import CallOptions, CallState, GetCallState, LeaveCall
from gossip.client.commands import JoinCall
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.hub import HubConfig, Limits, serve_hub
from gossip.media.format import FRAME_SAMPLES, SAMPLE_RATE, Frame
from gossip.media.loop import open_media_loop
from gossip.media.sinks import AudioSink
from gossip.media.sources import ToneSource
from gossip.wire.relay import read_relay_secret

LOOPBACK = ("127.0.0.1",)
PIECE = SAMPLE_RATE // 100  # 10 ms: 100 Hz bins, so tones on multiples of 100 Hz sit on one
TARGET_SECONDS = 0.5


def tone_of(index: int) -> float:
    return 400.0 + 300.0 * index  # 400, 700, 1000 ...: bins far enough apart for a Hann window


class RecordingSink(AudioSink):
    """Every frame the engine plays, with the trio time it was played at."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.frames: list[Frame] = []

    def write(self, frame: Frame) -> None:
        self.times.append(trio.current_time())
        self.frames.append(frame.copy())

    def between(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """The samples played from `start` to `end`, and when each 10 ms piece was played."""
        picked = [(t, f) for t, f in zip(self.times, self.frames, strict=True)
                  if start <= t < end]
        if not picked:
            return np.zeros(0, dtype=np.int16), np.zeros(0)
        per_frame = len(picked[0][1]) // PIECE
        times = np.array([t + i * PIECE / SAMPLE_RATE for t, _ in picked
                          for i in range(per_frame)])
        return np.concatenate([f for _, f in picked]), times


def tone_levels(samples: np.ndarray, hz: float) -> np.ndarray:
    """The tone's FFT magnitude in each 10 ms piece (Hann-windowed)."""
    pieces = len(samples) // PIECE
    if not pieces:
        return np.zeros(0)
    shaped = samples[: pieces * PIECE].reshape(pieces, PIECE).astype(np.float64)
    spectra = np.abs(np.fft.rfft(shaped * np.hanning(PIECE), axis=1))
    return spectra[:, round(hz * PIECE / SAMPLE_RATE)]


def longest_gap(present: np.ndarray, times: np.ndarray, start: float, end: float) -> float:
    """The longest time between two pieces with the tone (or the window's edges), in
    seconds, by when the pieces were played: a stall in which nothing was played counts."""
    heard = np.concatenate(([start], times[present] + PIECE / SAMPLE_RATE, [end]))
    starts = np.concatenate(([start], times[present], [end]))
    return float(max(0.0, np.max(starts[1:] - heard[:-1]))) if len(heard) > 1 else end - start


@dataclass
class Participant:
    name: str
    hz: float
    session: Session
    sink: RecordingSink = field(default_factory=RecordingSink)
    call: ActorRef | None = None

    async def state(self) -> CallState:
        assert self.call is not None
        return await self.call.ask(GetCallState())


@dataclass
class Phase:
    name: str
    start: float
    pairs: list[tuple[str, str]]  # (receiver, sender)
    relayed_after: bool | None = None
    breaks: int = 0  # peers moved with the old path gone before the new one delivered


async def _breaks(people: list[Participant]) -> int:
    total = 0
    for person in people:
        state = await person.state()
        total += sum(getattr(peer, "path_breaks", 0) for peer in state.peers.values())
    return total


async def _drain(events: trio.MemoryReceiveChannel[ev.SessionEvent]) -> None:
    async for _ in events:
        pass


async def _start_relay(workdir: Path, nursery: trio.Nursery) -> dict[str, object]:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "gossip.relay", "--ice-host", "127.0.0.1",
         "--secret-file", str(workdir / "relay-secret")],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = b""
    with trio.fail_after(30):
        while not line.endswith(b"\n"):
            chunk = await process.stdout.receive_some(1)
            if not chunk:
                raise RuntimeError("the relay ended before it listened")
            line += chunk
    info: dict[str, object] = json.loads(line)
    info["secret"] = read_relay_secret(str(info["secret_file"]))
    info["process"] = process
    return info


async def _hears_everyone(people: list[Participant], relayed: bool, bound: float) -> bool:
    """Poll (a benchmark may) until each has a peer for every other one and the path agrees."""
    with trio.move_on_after(bound):
        while True:
            ready = True
            for person in people:
                state = await person.state()
                peers = [p for u, p in state.peers.items()
                         if u in {o.name for o in people} and p.link != "left"]
                if state.relayed != relayed or len(peers) != len(people) - 1 \
                        or not all(p.frames_received for p in peers):
                    ready = False
            if ready:
                return True
            await trio.sleep(0.1)
    return False


async def run(args: argparse.Namespace,
              workdir: Path) -> list[tuple[Phase, list[float], list[float]]]:
    threshold = args.threshold
    async with open_media_loop(), trio.open_nursery() as nursery:
        relay = await _start_relay(workdir, nursery)
        config = HubConfig(
            name="bench", port=0, password="bench", data_dir=workdir / "hub",
            limits=Limits(relay_threshold=threshold), relay_url=str(relay["url"]),
            relay_fingerprint=str(relay["fingerprint"]), relay_secret=relay["secret"],  # type: ignore[arg-type]
        )
        hub = await nursery.start(serve_hub, config)
        people: list[Participant] = []
        for index in range(threshold + 1):
            send, receive = trio.open_memory_channel[ev.SessionEvent](10_000)
            nursery.start_soon(_drain, receive)
            name = f"p{index}"
            profile = Profile.open(name, workdir / name)
            session = Session(profile, SessionConfig("127.0.0.1", hub.port, "bench"), send)
            nursery.start_soon(run_actor, session)
            people.append(Participant(name, tone_of(index), session))
        for person in people:
            await person.session.synced.wait()

        async def join(person: Participant) -> None:
            options = CallOptions(source=ToneSource(person.hz), sink=person.sink,
                                  ice_hosts=LOOPBACK, mesh_receive=args.mesh_receive)
            person.call = await person.session.ref.ask(JoinCall("general", options))

        first, newcomer = people[:threshold], people[threshold]
        for person in first[:-1]:
            await join(person)
        if not await _hears_everyone(first[:-1], False, 30):
            raise RuntimeError("the first members never heard each other")
        phases: list[Phase] = []
        before = [p.name for p in first[:-1]]
        phases.append(Phase("join, mesh (baseline)", trio.current_time(),
                            [(r, s) for r in before for s in before if r != s]))
        await join(first[-1])
        await trio.sleep(args.window)
        phases[-1].relayed_after = (await first[0].state()).relayed
        await _hears_everyone(first, False, 30)
        pairs = [(r.name, s.name) for r in first for s in first if r is not s]
        phases.append(Phase("steady (baseline)", trio.current_time(), pairs))
        await trio.sleep(args.window)
        # A leave and a join that switch nothing: the leave makes everyone take a fresh frame
        # key (handed over the hub), as the leave that goes back to the mesh does.
        phases.append(Phase("leave, mesh (baseline)", trio.current_time(),
                            [(r, s) for r in before for s in before if r != s]))
        assert first[-1].call is not None
        await first[-1].call.tell(LeaveCall())
        await trio.sleep(args.window)
        phases[-1].relayed_after = (await first[0].state()).relayed
        await join(first[-1])
        await _hears_everyone(first, False, 30)
        for _ in range(args.rounds):
            phases.append(Phase("mesh -> relay", trio.current_time(), pairs))
            await join(newcomer)
            await trio.sleep(args.window)
            phases[-1].relayed_after = (await first[0].state()).relayed
            phases[-1].breaks = await _breaks(first)
            await _hears_everyone(people, True, 30)
            phases.append(Phase("relay -> mesh", trio.current_time(), pairs))
            assert newcomer.call is not None
            await newcomer.call.tell(LeaveCall())
            await trio.sleep(args.window)
            phases[-1].relayed_after = (await first[0].state()).relayed
            phases[-1].breaks = await _breaks(first) - phases[-2].breaks
            await _hears_everyone(first, False, 30)
        for person in first:
            assert person.call is not None
            await person.call.tell(LeaveCall())
        process = relay["process"]
        process.terminate()  # type: ignore[attr-defined]
        nursery.cancel_scope.cancel()

    return analyse(phases, {p.name: p.sink for p in people}, {p.name: p.hz for p in people},
                   args)


def analyse(phases: list[Phase], sinks: dict[str, RecordingSink], tones: dict[str, float],
            args: argparse.Namespace) -> list[tuple[Phase, list[float], list[float]]]:
    steady = phases[1]
    results = []
    for phase in phases:
        gaps = []
        stalls = []
        for receiver, sender in phase.pairs:
            sink, hz = sinks[receiver], tones[sender]
            reference = np.median(tone_levels(
                sink.between(steady.start, steady.start + args.window)[0], hz))
            end = phase.start + args.window
            samples, times = sink.between(phase.start, end)
            played = np.array([t for t in sink.times if phase.start <= t < end])
            stalls.append(float(np.max(np.diff(played))) if len(played) > 1 else 0.0)
            levels = tone_levels(samples, hz)
            present = levels > reference / 10
            gaps.append(longest_gap(present, times[: len(present)], phase.start, end))
            if args.verbose:
                absent = times[: len(present)][~present] - phase.start
                print(f"  {phase.name}: {receiver} <- {sender}: longest {gaps[-1]:.2f} s; "
                      f"silent pieces at {np.round(absent, 2).tolist()[:40]}")
        results.append((phase, gaps, stalls))
    return results


async def run_processes(args: argparse.Namespace,
                        workdir: Path) -> list[tuple[Phase, list[float], list[float]]]:
    """The same steps with each participant its own process, on wall-clock times set ahead;
    the hub stays in this process."""
    threshold, window = args.threshold, args.window
    names = [f"p{index}" for index in range(threshold + 1)]
    tones = {name: tone_of(index) for index, name in enumerate(names)}
    first, newcomer = names[:threshold], names[threshold]
    start = time.time() + 40.0  # every process logged in by then (keys are made first)
    steps: dict[str, list[tuple[str, float]]] = {name: [] for name in names}
    for name in first[:-1]:
        steps[name].append(("join", start))
    before = first[:-1]
    pairs = [(r, s) for r in first for s in first if r != s]
    phases = [Phase("join, mesh (baseline)", start + window,
                    [(r, s) for r in before for s in before if r != s]),
              Phase("steady (baseline)", start + 2 * window, pairs),
              Phase("leave, mesh (baseline)", start + 3 * window,
                    [(r, s) for r in before for s in before if r != s])]
    steps[first[-1]] += [("join", start + window), ("leave", start + 3 * window),
                         ("join", start + 4 * window)]
    at = start + 5 * window
    for _ in range(args.rounds):
        phases.append(Phase("mesh -> relay", at, pairs))
        phases.append(Phase("relay -> mesh", at + window, pairs))
        steps[newcomer] += [("join", at), ("leave", at + window)]
        at += 2 * window
    end = at + 1.0
    async with trio.open_nursery() as nursery:
        relay = await _start_relay(workdir, nursery)
        config = HubConfig(
            name="bench", port=0, password="bench", data_dir=workdir / "hub",
            limits=Limits(relay_threshold=threshold), relay_url=str(relay["url"]),
            relay_fingerprint=str(relay["fingerprint"]), relay_secret=relay["secret"],  # type: ignore[arg-type]
        )
        hub = await nursery.start(serve_hub, config)
        member = Path(__file__).with_name("_switchmember.py")
        for name in names:
            command = [sys.executable, str(member), str(hub.port), name, str(tones[name]),
                       str(workdir), str(workdir / f"{name}.npz"), str(end), args.mesh_receive]
            command += [f"{action}@{when}" for action, when in steps[name]]
            nursery.start_soon(partial(trio.run_process, command, check=False))
        await trio.sleep(max(0.0, end - time.time()) + 20.0)  # and time to write
        relay["process"].terminate()  # type: ignore[attr-defined]
        nursery.cancel_scope.cancel()
    sinks, breaks = {}, 0
    for name in names:
        recorded = np.load(workdir / f"{name}.npz")
        sink = RecordingSink()
        sink.times = list(recorded["times"])
        sink.frames = list(recorded["samples"].reshape(-1, FRAME_SAMPLES))
        sinks[name] = sink
        if name in first:
            breaks += int(recorded["breaks"])
    print(f"path breaks over every switch, as the first {threshold} members counted: {breaks}")
    return analyse(phases, sinks, tones, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threshold", type=int, default=3,
                        help="the hub's relay threshold: T members mesh, T+1 relay")
    parser.add_argument("--window", type=float, default=8.0,
                        help="seconds of playout analysed after each step")
    parser.add_argument("--rounds", type=int, default=2,
                        help="times the call grows past the threshold and shrinks back")
    parser.add_argument("--verbose", action="store_true", help="each pair's silent pieces")
    parser.add_argument("--processes", action="store_true",
                        help="each participant its own process (benchmarks/_switchmember.py)")
    parser.add_argument("--mesh-receive", choices=("in-place", "aiortc"), default="in-place",
                        help="how mesh links receive audio (aiortc: the old path, a baseline)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # first contacts are expected here
    with tempfile.TemporaryDirectory() as tmp:
        results = trio.run(run_processes if args.processes else run, args, Path(tmp))
    print(f"longest stretch without a sender's tone, per (receiver, sender) pair, "
          f"{args.window:g} s after each step ({args.threshold} members mesh, "
          f"{args.threshold + 1} relay)")
    print("  (stall: the longest pause between two frames played, whoever sent: this process "
          "falling behind, not a path)")
    merged: dict[str, tuple[list[float], list[float], set[bool | None], list[int]]] = {}
    for phase, gaps, stalls in results:
        kept, stalled, paths, breaks = merged.setdefault(phase.name, ([], [], set(), []))
        kept.extend(gaps)
        stalled.extend(stalls)
        paths.add(phase.relayed_after)
        breaks.append(phase.breaks)
    for name, (gaps, stalls, paths, breaks) in merged.items():
        then = " or ".join(sorted("relayed" if p else "mesh" for p in paths if p is not None))
        print(f"  {name:24} max {max(gaps) * 1000:6.0f} ms   p50 "
              f"{statistics.median(gaps) * 1000:6.0f} ms   over {len(gaps)} pairs;  "
              f"stall max {max(stalls) * 1000:4.0f} ms"
              + (f"  (then {then}; {sum(breaks)} path breaks)" if then else ""))
    switch = max(max(gaps) for phase, gaps, _ in results if "->" in phase.name)
    print(f"target: no switch gap over {TARGET_SECONDS * 1000:.0f} ms: "
          f"{'met' if switch <= TARGET_SECONDS else 'not met'} ({switch * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
