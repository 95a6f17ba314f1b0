"""What sending a call's audio costs, by send path: one process sends its sealed tone to N
peers over real aiortc links on loopback, and its CPU is measured while it does, for

    ours    the frames packetized by us and sent from the audio engine's tick
            (gossip.media.rtpsend): one trio wake-up a slot, a header and a sendto a link
    aiortc  the baseline: each link's aiortc sender paces its own track on an asyncio
            timer and packetizes the frames (EncodedAudioTrack)

The peers are links in the same process that drop every packet as it reaches their receiver
(aiortc_seams.drop_received_rtp): what is left of their cost (SRTP, parsing) is the same
for both paths. Rounds alternate the paths (ours, aiortc, ours, ...) so that load from
elsewhere falls on both; printed: the process's CPU (% of a core, median over rounds) and
the difference per frame per link. Figures depend on the machine and its load: compare the
two paths of one run, not runs.

Run: python benchmarks/audio_send.py [--quick] [--peers 1,5] [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import trio

from gossip.media.aiortc_seams import drop_received_rtp
from gossip.media.engine import AudioEngine
from gossip.media.framecrypt import CallFrames
from gossip.media.loop import open_media_loop
from gossip.media.peer import LinkUp, MediaLink
from gossip.media.rtpsend import AudioSending
from gossip.media.sinks import MemorySink
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout

LOOPBACK = ["127.0.0.1"]
FRAMES_PER_SECOND = 50
WARM_UP = 1.0  # seconds after every link is up, before the window


async def _up(link: MediaLink) -> None:
    async for event in link.events:
        if isinstance(event, LinkUp):
            return
    raise RuntimeError(f"a link did not come up: {link.failure}")


async def one_round(path: str, peers: int, seconds: float) -> float:
    """The process's CPU (% of a core) over `seconds` of sending to `peers` links."""
    async with open_media_loop(), trio.open_nursery() as nursery:
        engine = AudioEngine(MemorySink())
        await nursery.start(engine.run)
        frames = CallFrames(SourceFanout(ToneSource(440.0)))
        if path == "ours":
            sending = frames.sending = AudioSending(frames.audio)
            engine.tick_hooks.append(sending.tick)
        quiet = AudioSending(CallFrames(SourceFanout(ToneSource(880.0))).audio)  # never ticked
        links = []
        try:
            for _ in range(peers):
                ours = MediaLink(frames.audio_track(), ice_hosts=LOOPBACK)
                theirs = MediaLink(quiet.track(), ice_hosts=LOOPBACK)
                drop_received_rtp(theirs.receiver, lambda packet: True)
                links += [ours, theirs]
                answer = await theirs.accept_offer(await ours.create_offer())
                await ours.accept_answer(answer)
                with trio.fail_after(30):
                    await _up(ours)
                    await _up(theirs)
            await trio.sleep(WARM_UP)  # a benchmark's window, not synchronisation
            began, cpu = time.monotonic(), time.process_time()
            await trio.sleep(seconds)
            share = (time.process_time() - cpu) / (time.monotonic() - began)
        finally:
            for link in links:
                await link.close()
            nursery.cancel_scope.cancel()
    return share * 100


async def main(args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(f"audio_send: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{args.rounds} rounds of {args.seconds:g} s a path, alternating", flush=True)
    for peers in (int(part) for part in args.peers.split(",")):
        shares: dict[str, list[float]] = {"ours": [], "aiortc": []}
        for _ in range(args.rounds):
            for path in shares:
                shares[path].append(await one_round(path, peers, args.seconds))
        medians = {path: statistics.median(values) for path, values in shares.items()}
        saved = (medians["aiortc"] - medians["ours"]) / 100 / (FRAMES_PER_SECOND * peers)
        print(f"{peers} peer link(s): CPU ours {medians['ours']:4.1f}% of a core "
              f"({', '.join(f'{v:.1f}' for v in shares['ours'])}), aiortc "
              f"{medians['aiortc']:4.1f}% ({', '.join(f'{v:.1f}' for v in shares['aiortc'])}); "
              f"{saved * 1e6:.0f} us less per frame and link "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", default="1,5", help="links to send to, e.g. 1,5")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="1 peer, 2 rounds of 3 s")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.peers, arguments.rounds, arguments.seconds = "1", 2, 3.0
    trio.run(main, arguments)
