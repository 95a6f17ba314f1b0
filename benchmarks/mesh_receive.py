"""What receiving a mesh link's audio costs: one process holding both ends of a sealed 2-way
link on loopback (each end its own Opus encoder, sealer and audio engine, as in a call), for
each receive path in turn, measured in the same run over a steady stretch once both ends hear
each other:

    in-place  each packet taken out of SRTP, opened and decoded by libopus right there, the
              samples on a trio channel to the engine (gossip.media.meshreceive)
    aiortc    the baseline: aiortc's receiver, our pass-through jitter buffer, frames opened
              before its decoder thread, decoded frames back to asyncio and read by the
              engine across trio-asyncio

Printed per path: process CPU (% of a core, both ends together: divide by two for one
participant's share), frames received per second at each end. With --profile, the
functions with the most own time in the steady stretch (cProfile; its overhead inflates
every figure, so read the shares, not the totals).

Run: python benchmarks/mesh_receive.py [--seconds 10] [--rounds 2] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time

import trio

from gossip.media.engine import AudioEngine
from gossip.media.framecrypt import CallFrames
from gossip.media.loop import open_media_loop
from gossip.media.peer import LinkUp, MediaLink, ReceiveBuffer
from gossip.media.sinks import MemorySink
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout

LOOPBACK = ["127.0.0.1"]
PATHS: dict[str, ReceiveBuffer] = {"in-place": "in-place", "aiortc": "ours"}
SETTLE_FRAMES = 100  # 2 s of audio at each end before measuring


async def _connected(link: MediaLink) -> None:
    async for event in link.events:
        if isinstance(event, LinkUp):
            return
    raise RuntimeError("link closed before it came up")


async def measure(
    path: ReceiveBuffer, seconds: float, profile: bool
) -> tuple[float, list[float], str]:
    async with open_media_loop(), trio.open_nursery() as nursery:
        engines, frames = [], []
        for hz in (440.0, 1000.0):
            engine = AudioEngine(MemorySink())
            await nursery.start(engine.run)
            engines.append(engine)
            frames.append(CallFrames(SourceFanout(ToneSource(hz))))
        a, b = frames
        assert a.sealer is not None and b.sealer is not None
        b.peer("a").add_key(a.sealer.key)  # type: ignore[union-attr]
        a.peer("b").add_key(b.sealer.key)  # type: ignore[union-attr]
        offerer = MediaLink(a.audio_track(), ice_hosts=LOOPBACK, receive_buffer=path,
                            open_frames=a.peer("b"))
        answerer = MediaLink(b.audio_track(), ice_hosts=LOOPBACK, receive_buffer=path,
                             open_frames=b.peer("a"))
        try:
            answer = await answerer.accept_offer(await offerer.create_offer())
            await offerer.accept_answer(answer)
            with trio.fail_after(30):
                await _connected(offerer)
                await _connected(answerer)
            assert offerer.remote_track is not None and answerer.remote_track is not None
            engines[0].add_peer("b", offerer.remote_track)
            engines[1].add_peer("a", answerer.remote_track)
            with trio.fail_after(30):
                await engines[0].wait_frames_received("b", SETTLE_FRAMES)
                await engines[1].wait_frames_received("a", SETTLE_FRAMES)
            before = [engines[0].peer("b").frames_received, engines[1].peer("a").frames_received]
            profiler = cProfile.Profile() if profile else None
            cpu, wall = time.process_time(), time.monotonic()
            if profiler is not None:
                profiler.enable()
            await trio.sleep(seconds)  # the stretch measured: a steady call, nothing to wait on
            if profiler is not None:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            after = [engines[0].peer("b").frames_received, engines[1].peer("a").frames_received]
        finally:
            await offerer.close()
            await answerer.close()
            nursery.cancel_scope.cancel()
    report = ""
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        report = out.getvalue()
    rates = [(n - m) / wall for m, n in zip(before, after, strict=True)]
    return cpu / wall * 100, rates, report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2, help="each path measured this often")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print(f"mesh_receive: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
          f"a sealed 2-way link, both ends in this process, {args.seconds:g} s measured",
          flush=True)
    for round_ in range(args.rounds):
        for name, path in PATHS.items():
            share, rates, report = trio.run(measure, path, args.seconds, args.profile)
            print(f"round {round_ + 1} {name:8}: CPU {share:5.1f}% of a core for both ends "
                  f"({share / 2:4.1f}% each), audio {rates[0]:.0f} and {rates[1]:.0f} "
                  f"frames/s (load average {os.getloadavg()[0]:.1f})", flush=True)
            if report:
                print(report, flush=True)


if __name__ == "__main__":
    main()
