"""Join to first audio for calls of 2, 3, 4 and 6 participants on loopback, and CPU per
participant in a 4-way call.

Everything runs in this one process (one hub, one session and one call actor per
participant, tone sources, null sinks, ICE on 127.0.0.1 only), so with more participants they
also share this process's CPU: the figures are an upper bound for separate machines.
Run: python benchmarks/call_setup.py [--quick]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import trio

from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.calltypes import CallOptions, CallState, GetCallState, LeaveCall
from gossip.client.commands import JoinCall
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.hub import HubConfig, serve_hub
from gossip.media.loop import open_media_loop

LOOPBACK = ("127.0.0.1",)


async def one_call(size: int, workdir: Path, hold: float) -> tuple[float, float, float]:
    """Returns (slowest join-to-first-audio ms, median first-audio ms, CPU s per participant
    per second of call while it was held)."""
    config = HubConfig(name="bench", port=0, password="bench", data_dir=workdir / "hub")
    async with open_media_loop(), trio.open_nursery() as nursery:
        hub = await nursery.start(serve_hub, config)
        sessions = []
        for index in range(size):
            send, receive = trio.open_memory_channel[ev.SessionEvent](10_000)
            nursery.start_soon(_drain, receive)
            profile = Profile.open(f"p{index}", workdir / f"p{index}")
            session = Session(profile, SessionConfig("127.0.0.1", hub.port, "bench"), send)
            nursery.start_soon(run_actor, session)
            sessions.append(session)
        for session in sessions:
            await session.synced.wait()
        calls = []
        for index, session in enumerate(sessions):
            options = CallOptions(source=f"tone:{200 + 100 * index}", sink="null",
                                  ice_hosts=LOOPBACK)
            calls.append(await session.ref.ask(JoinCall("general", options)))
        firsts: list[float] = []
        with trio.fail_after(60):
            for call in calls:
                while True:
                    state: CallState = await call.ask(GetCallState())
                    peers = list(state.peers.values())
                    if len(peers) == size - 1 and all(p.first_audio_ms for p in peers):
                        firsts.extend(p.first_audio_ms for p in peers)  # type: ignore[misc]
                        break
                    await trio.sleep(0.01)  # a benchmark polls; tests never do
        before = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter()
        await trio.sleep(hold)
        after = resource.getrusage(resource.RUSAGE_SELF)
        elapsed = time.perf_counter() - wall
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        for call in calls:
            await call.tell(LeaveCall())
        nursery.cancel_scope.cancel()
    return max(firsts), statistics.median(firsts), cpu / elapsed / size


async def _drain(events: trio.MemoryReceiveChannel[ev.SessionEvent]) -> None:
    async for _ in events:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer sizes, shorter holds")
    args = parser.parse_args()
    sizes = (2, 4) if args.quick else (2, 3, 4, 6)
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            slowest, median, cpu = trio.run(one_call, size, Path(tmp), 2.0 if args.quick else 5.0)
        print(f"{size} participants: every link has audio {slowest:6.0f} ms after joining "
              f"(median link {median:5.0f} ms); CPU {cpu * 100:5.1f}% of a core per "
              f"participant while the call runs")
    print("target: a 4-way call up in under 1 s")


if __name__ == "__main__":
    main()
