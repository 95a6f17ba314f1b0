"""One participant of benchmarks/call_switch.py in a process of its own: log in, join and
leave the call at the given wall-clock times (a tone of its own), record what it played and
when, and write it to an .npz file at the end.

    python benchmarks/_switchmember.py PORT USER HZ WORKDIR OUT END [join@T|leave@T ...]
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
import trio

from gossip.actors.actor import ActorRef, run_actor
from gossip.client import events as ev
from gossip.client.calltypes import CallOptions, CallState, GetCallState, LeaveCall
from gossip.client.commands import JoinCall
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.media.format import Frame
from gossip.media.loop import open_media_loop
from gossip.media.sinks import AudioSink
from gossip.media.sources import ToneSource


class WallClockSink(AudioSink):
    """Every frame played, with the wall-clock time it was played at (processes compare)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.frames: list[Frame] = []

    def write(self, frame: Frame) -> None:
        self.times.append(time.time())
        self.frames.append(frame.copy())


async def _drain(events: trio.MemoryReceiveChannel[ev.SessionEvent]) -> None:
    async for _ in events:
        pass


async def _at(when: float) -> None:
    await trio.sleep(max(0.0, when - time.time()))


async def main(port: int, user: str, hz: float, workdir: Path, out: Path, end: float,
               steps: list[tuple[str, float]], mesh_receive: str = "in-place") -> None:
    sink = WallClockSink()
    breaks = 0
    async with open_media_loop(), trio.open_nursery() as nursery:
        send, receive = trio.open_memory_channel[ev.SessionEvent](10_000)
        nursery.start_soon(_drain, receive)
        session = Session(Profile.open(user, workdir / user),
                          SessionConfig("127.0.0.1", port, "bench"), send)
        nursery.start_soon(run_actor, session)
        await session.synced.wait()
        print("ready", flush=True)
        call: ActorRef | None = None
        for action, when in steps:
            await _at(when)
            if action == "join":
                options = CallOptions(source=ToneSource(hz), sink=sink, ice_hosts=("127.0.0.1",),
                                      mesh_receive=mesh_receive)  # type: ignore[arg-type]
                call = await session.ref.ask(JoinCall("general", options))
            elif call is not None:
                state: CallState = await call.ask(GetCallState())
                breaks += sum(getattr(peer, "path_breaks", 0) for peer in state.peers.values())
                await call.tell(LeaveCall())
                call = None
        await _at(end)
        if call is not None:
            state = await call.ask(GetCallState())
            breaks += sum(getattr(peer, "path_breaks", 0) for peer in state.peers.values())
        nursery.cancel_scope.cancel()
    np.savez(out, times=np.array(sink.times),
             samples=np.concatenate(sink.frames) if sink.frames else np.zeros(0, np.int16),
             breaks=np.array(breaks))


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    port, user, hz, workdir, out, end, mesh_receive = sys.argv[1:8]
    steps = [(step.split("@")[0], float(step.split("@")[1])) for step in sys.argv[8:]]
    trio.run(main, int(port), user, float(hz), Path(workdir), Path(out), float(end), steps,
             mesh_receive)
