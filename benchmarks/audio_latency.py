"""One-way audio latency on loopback: our receive path beside aiortc's default, in one run.

One sender sends a click every --interval seconds over two peer links (127.0.0.1 only):

* ours   - PassThroughBuffer in aiortc's receiver, AdaptiveJitterBuffer, mixer, 20 ms
           playout clock, sink: the click is timed when its frame is handed to the sink;
* aiortc - aiortc's own receiver (JitterBuffer capacity 16, prefetch 4), frames taken from
           its track as they come: the best case for it, with no playout buffer after it.

Latency = when the click's sample is handed on at the receiver, minus when the sender's
track read it (both on trio's clock, adjusted by the sample's offset in its frame).
`--loss N` loses one RTP packet in N (the same ones) at both receivers, before either buffer:
aiortc's buffer then stays ~280 ms behind (aiortc issue 543).

    python benchmarks/audio_latency.py --quick      # under a minute
    python benchmarks/audio_latency.py --clicks 60 --loss 50
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trio
import trio_asyncio
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from gossip.media.aiortc_seams import receiver_buffer, swap_jitter_buffer
from gossip.media.engine import AudioEngine, decoded_to_mono
from gossip.media.format import FRAME_SAMPLES, SAMPLE_RATE, Frame, silence
from gossip.media.loop import open_media_loop
from gossip.media.peer import Failed, LinkUp, MediaLink
from gossip.media.sinks import AudioSink
from gossip.media.sources import AudioSource, NullSource
from gossip.media.track import SourceFanout

LOOPBACK = ["127.0.0.1"]
CLICK_OFFSET = 480  # the click starts mid-frame, so codec smearing cannot push it across frames
CLICK_SAMPLES = 96  # 2 ms
CLICK_LEVEL = 20000
DETECT_LEVEL = 6000


class LinkFailed(Exception):
    """A benchmark link did not connect."""


class ClickSource(AudioSource):
    """Silence with a 2 ms 3 kHz burst every `period` frames; remembers when each was read."""

    def __init__(self, period: int, clock: Callable[[], float]) -> None:
        self.period = period
        self.clock = clock
        self.sent: list[float] = []
        self._frame = 0
        t = np.arange(CLICK_SAMPLES) / SAMPLE_RATE
        self._burst = np.round(CLICK_LEVEL * np.sin(2 * np.pi * 3000 * t)).astype(np.int16)

    def read(self) -> Frame:
        frame = silence()
        if self._frame % self.period == self.period - 1:
            frame[CLICK_OFFSET : CLICK_OFFSET + CLICK_SAMPLES] = self._burst
            self.sent.append(self.clock() + CLICK_OFFSET / SAMPLE_RATE)
        self._frame += 1
        return frame


@dataclass
class ClickDetector:
    """Times the first loud sample of each click in frames handed on at `clock()`."""

    clock: Callable[[], float]
    heard: list[float] = field(default_factory=list)
    _in_click: bool = False

    def frame(self, samples: Frame) -> None:
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > DETECT_LEVEL)
        if len(loud) and not self._in_click:
            self.heard.append(self.clock() + loud[0] / SAMPLE_RATE)
        self._in_click = bool(len(loud))


class DetectorSink(AudioSink):
    def __init__(self, detector: ClickDetector) -> None:
        self.detector = detector

    def write(self, frame: Frame) -> None:
        self.detector.frame(frame)


class LossyBuffer:
    """Wraps a receiver's jitter buffer and loses one packet in `one_in` (seeded, so both
    receivers lose the same packets) before the buffer sees it."""

    def __init__(self, inner: Any, one_in: int, seed: int = 543) -> None:
        self.inner = inner
        self.one_in = one_in
        self.random = random.Random(seed)
        self.lost = 0

    @property
    def capacity(self) -> int:
        return int(self.inner.capacity)

    def add(self, packet: Any) -> Any:
        if self.random.randrange(self.one_in) == 0:
            self.lost += 1
            return False, None
        return self.inner.add(packet)


def latencies(sent: list[float], heard: list[float], clicks: int) -> list[float]:
    """Pair each detection with the latest click sent before it; one per click, first
    `clicks` clicks only."""
    found: dict[int, float] = {}
    for when in heard:
        earlier = [i for i, s in enumerate(sent) if s <= when]
        if earlier and earlier[-1] < clicks:
            found.setdefault(earlier[-1], when - sent[earlier[-1]])
    return list(found.values())


def describe(name: str, values: list[float], expected: int) -> str:
    if not values:
        return f"{name:8} no clicks detected"
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (
        f"{name:8} median {statistics.median(ms):6.1f} ms   p95 {p95:6.1f} ms   "
        f"min {ms[0]:6.1f}   max {ms[-1]:6.1f}   clicks {len(ms)}/{expected}"
    )


async def wait_connected(link: MediaLink) -> float:
    with trio.fail_after(20):
        async for event in link.events:
            if isinstance(event, LinkUp):
                return trio.current_time()
            if isinstance(event, Failed):
                raise LinkFailed(str(event))
    raise LinkFailed("link closed before connecting")


async def pair(sender: MediaLink, receiver: MediaLink) -> tuple[float, float]:
    """Negotiate; return (seconds to offer+answer, seconds until both ends are connected)."""
    start = trio.current_time()
    answer = await receiver.accept_offer(await sender.create_offer())
    await sender.accept_answer(answer)
    negotiated = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_connected, sender)
        connected = await wait_connected(receiver)
    return negotiated - start, connected - start


async def consume_directly(track: MediaStreamTrack, detector: ClickDetector) -> None:
    recv = trio_asyncio.aio_as_trio(track.recv)
    while True:
        try:
            frame = await recv()
        except MediaStreamError:
            return
        mono = decoded_to_mono(frame)
        if mono is not None:
            detector.frame(mono)


async def main(clicks: int, interval: float, loss: int | None) -> None:
    period = max(2, round(interval * SAMPLE_RATE / FRAME_SAMPLES))
    async with open_media_loop():
        source = ClickSource(period, trio.current_time)
        fanout = SourceFanout(source)
        to_ours = MediaLink(fanout.track(), ice_hosts=LOOPBACK)
        ours = MediaLink(SourceFanout(NullSource()).track(), ice_hosts=LOOPBACK)
        to_aiortc = MediaLink(fanout.track(), ice_hosts=LOOPBACK)
        theirs = MediaLink(
            SourceFanout(NullSource()).track(), ice_hosts=LOOPBACK, receive_buffer="aiortc"
        )
        if loss:
            for link in (ours, theirs):
                swap_jitter_buffer(link.receiver, LossyBuffer(receiver_buffer(link.receiver), loss))

        ours_heard = ClickDetector(trio.current_time)
        theirs_heard = ClickDetector(trio.current_time)
        engine = AudioEngine(DetectorSink(ours_heard))
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            started = trio.current_time()
            offer_answer, to_connect = await pair(to_ours, ours)
            assert ours.remote_track is not None
            engine.add_peer("sender", ours.remote_track)
            await pair(to_aiortc, theirs)
            assert theirs.remote_track is not None
            nursery.start_soon(consume_directly, theirs.remote_track, theirs_heard)

            with trio.fail_after(clicks * interval + 30):
                await engine.wait_until(lambda: len(source.sent) >= clicks + 1)
                # The last click gets a full interval to arrive at both receivers.
                await engine.wait_until(lambda: len(source.sent) >= clicks + 2)

            first_audio = engine.peer("sender").first_audio_at
            buffer = engine.peer("sender").buffer
            for link in (to_ours, ours, to_aiortc, theirs):
                await link.close()
            nursery.cancel_scope.cancel()

    sent = source.sent
    print(
        f"clicks: {clicks} every {period * FRAME_SAMPLES / SAMPLE_RATE * 1000:.0f} ms"
        + (f", 1 packet in {loss} lost" if loss else "")
    )
    print(
        f"from create_offer: offer+answer {offer_answer * 1000:.0f} ms, both ends connected "
        f"(ICE+DTLS) {to_connect * 1000:.0f} ms"
        + (
            f", first audio decoded {(first_audio - started) * 1000:.0f} ms"
            if first_audio is not None
            else ""
        )
    )
    print(describe("ours", latencies(sent, ours_heard.heard, clicks), clicks))
    print(describe("aiortc", latencies(sent, theirs_heard.heard, clicks), clicks))
    print(
        f"our jitter buffer: target depth {buffer.target_depth} frames, spread "
        f"{buffer.spread * 1000:.1f} ms, {buffer.stats}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between clicks")
    parser.add_argument(
        "--loss",
        type=int,
        default=None,
        metavar="N",
        help="lose one RTP packet in N at both receivers",
    )
    parser.add_argument("--quick", action="store_true", help="12 clicks, 0.4 s apart")
    args = parser.parse_args()
    if args.quick:
        args.clicks, args.interval = 12, 0.4
    trio.run(main, args.clicks, args.interval, args.loss)
