"""Voice processing on the microphone, measured on synthesised speech (espeak-ng) in a
simulated room, with the baseline (no processing) from the same run.

Prints: echo return loss enhancement (ERLE) at 0-1 s, 1-3 s and steady state; the near
talker's level kept in double-talk; PESQ-WB of near-end speech sent without and with
processing, as the microphone gives it and after an Opus round trip (aiortc's encoder and
decoder); and the processing CPU per 10 ms frame. Then PESQ-WB after Opus with no loss and
losing 1 packet in 50 and 1 in 20: aiortc's encoder (a lost packet is silence), and the
call's encoder and decoder (concealment, FEC recovery) with FEC off, always on (as calls
were), and adaptive (as calls are: on only while receiver reports say packets are lost;
gossip.media.fecpolicy, fed a report of each second's loss here).

Then a real 3-way call where all talk: one hub here, each participant in its own process (as
users run them), ICE on 127.0.0.1 only; four times: before (no GC measures, the jitter
buffer remembering 2 s of jitter, a late frame's tick waited for in silence and the burst
after it dropped at once), with the start-up heap frozen (as `gossip-cli call` does), with
the jitter remembered 10 s, and after (all that, and the playout as calls have it now: a
late frame's tick plays libopus's concealment, the frame plays when it comes, and catching
up drops silence before speech). For each: the longest garbage
collection, the longest gap between two frames handed to a sink beyond its 20 ms (a pause on
the audio path), silent ticks per minute (frames played as digital silence: the sources carry
a faint noise floor, so only a missing frame plays as exact zeros), and per talker heard:
frames missing, jitter-buffer underruns, ticks held for a late frame (played as libopus's
concealment or, failing that, silence), ticks that waited for a frame already decoded, and
frames dropped to catch up (and of those, speech), per minute. Speech
quality is each talker's speech as each other participant heard it (taken from that
listener's mixer before the sum), scored against that talker's own source lined up with it,
in 8 s windows; beside it the old measure (a listener's mix of two talkers against the mix of
their sources, realigned each second), which scored 1.1-2.0 on calls that sound fine, and the
baseline: the same voices through the codec alone. Last, the same stalls replayed offline
for the old and the new playout (tests/stalls.py: every 2-8 s a stall of 40-250 ms, each
voice a minute), which the machine's load does not enter: PESQ-WB, silent ticks, ticks
concealed and speech frames dropped, per minute.

    python benchmarks/voice.py [--call-seconds 30] [--quick]

The last line is `erle_db=X pesq3=Y`: steady-state ERLE, and the median PESQ-WB of a talker
as heard in the 3-way call after the measures. The machine's load shows in the 3-way
figures (a process the kernel does not run for 100 ms pauses its audio): compare them with
the baseline and the load average printed with them.
"""

from __future__ import annotations

import argparse
import dataclasses
import fractions
import gc
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import numpy as np
import trio
from av import AudioFrame

try:
    from pesq import pesq
except ImportError:  # not in the test extra: it builds from source
    sys.exit("benchmarks/voice.py needs the bench extra: .venv/bin/pip install -e '.[bench]'")

from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.calltypes import CallOptions, CallState, GetCallState, LeaveCall
from gossip.client.commands import JoinCall
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.hub import HubConfig, serve_hub
from gossip.media.engine import AudioEngine, PeerAudio
from gossip.media.format import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, Frame
from gossip.media.gcpolicy import freeze_call_heap
from gossip.media.jitter import AdaptiveJitterBuffer, JitterConfig
from gossip.media.loop import open_media_loop
from gossip.media.mixer import Mixer
from gossip.media.sinks import MemorySink
from gossip.media.sources import AudioSource
from gossip.media.voicespec import ProcessingStages

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests/speech.py (espeak-ng speech, the simulated room)

from tests.speech import (  # noqa: E402
    FAR_TEXT,
    NEAR_TEXT,
    Room,
    energy_db,
    run_in_room,
    speak,
    to_int16,
)
from tests.stalls import (  # noqa: E402
    OLD_PLAYOUT,
    as_signal,
    opus_packets,
    play,
    stalled_arrivals,
)

LOOPBACK = ("127.0.0.1",)
AEC_STAGES = ProcessingStages(echo_cancellation=True, noise_suppression=True, high_pass=True)
ALL_STAGES = ProcessingStages(True, True, True, True)
PESQ_RATE = 16_000


def to_16k(signal: np.ndarray) -> np.ndarray:
    """48 kHz to 16 kHz for PESQ-WB (the speech here has nothing above 8 kHz worth keeping;
    a 3-tap average before taking every third sample keeps aliasing out of the score)."""
    smoothed = np.convolve(signal, np.ones(3) / 3, mode="same")
    return smoothed[::3].astype(np.float64)


def pesq_wb(reference: np.ndarray, degraded: np.ndarray) -> float:
    length = min(len(reference), len(degraded))
    return float(pesq(PESQ_RATE, to_16k(reference[:length]), to_16k(degraded[:length]), "wb"))


FecMode = Literal["aiortc", "off", "on", "adaptive"]
REPORT_PACKETS = 50  # a receiver report about every second, as aiortc's RTCP sends them


def opus_round_trip(
    signal: np.ndarray, *, lose_one_in: int = 0, conceal: bool = False,
    encoder: FecMode = "aiortc",
) -> np.ndarray:
    """Through an Opus encoder and a decoder (mono in, stereo out). With `lose_one_in` every
    Nth packet is lost: played as silence by aiortc's decoder, or as libopus's concealment by
    ours (`conceal`). `encoder`: aiortc's (no FEC), or the call's (libopus at aiortc's
    settings) with FEC "off", "on" (always, planning for 10 % loss: calls before FEC
    followed the reports) or "adaptive" (as calls do now: a FecPolicy fed a receiver report
    of the loss in each second); the call's is decoded by ours, which recovers a lost packet
    from the next one's FEC copy."""
    from aiortc.codecs.opus import OpusDecoder, OpusEncoder

    from gossip.media.concealment import ConcealingOpusDecoder, SequencedFrame
    from gossip.media.fecpolicy import FecPolicy
    from gossip.media.opusfec import FEC_OFF, AdaptiveOpusEncoder, FecSettings

    conceal = conceal or encoder != "aiortc"
    aiortc_encoder = OpusEncoder() if encoder == "aiortc" else None
    ours = AdaptiveOpusEncoder(FecSettings(True, 10) if encoder == "on" else FEC_OFF)
    policy = FecPolicy()
    decoder = ConcealingOpusDecoder() if conceal else OpusDecoder()
    samples = to_int16(signal)
    out, lost, lost_in_report = [], 0, 0
    for i in range(len(samples) // FRAME_SAMPLES):
        chunk = samples[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]
        if aiortc_encoder is not None:
            frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
            frame.pts = i * FRAME_SAMPLES
            payloads, _ = aiortc_encoder.encode(frame)
        else:
            payloads = [ours.encode(chunk)]
        if encoder == "adaptive" and i and i % REPORT_PACKETS == 0:
            settings = policy.observe("peer", lost_in_report / REPORT_PACKETS, i * FRAME_SECONDS)
            if settings is not None:
                ours.apply(settings)
            lost_in_report = 0
        for payload in payloads:
            if lose_one_in and i % lose_one_in == lose_one_in // 2:
                lost += 1
                lost_in_report += 1
                if not conceal:
                    out.append(np.zeros(FRAME_SAMPLES))  # what playout does for a gap
                continue
            timestamp = i * FRAME_SAMPLES
            for decoded in decoder.decode(SequencedFrame(payload, timestamp, lost)):
                stereo = decoded.to_ndarray().reshape(-1, 2).astype(np.float64)
                out.append(stereo.mean(axis=1))
            lost = 0
    decoded_signal = np.concatenate(out)
    # Opus delays by its look-ahead: find it and line the output up with the input.
    best = max(
        range(0, 960, 8),
        key=lambda lag: float(
            np.dot(signal[:SAMPLE_RATE], decoded_signal[lag : lag + SAMPLE_RATE])
        ),
    )
    return decoded_signal[best:]


THIRD_TEXT = (
    "A third voice joins the call and keeps on talking, so that every client "
    "decodes two streams and mixes them while it sends its own."
)
# Noise under every source (int16 units, -60 dBFS): no frame that arrived is exact zeros.
NOISE_FLOOR = 30.0


class LoopSource(AudioSource):
    """A signal looped forever, with a faint noise floor."""

    def __init__(self, signal: np.ndarray, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.signal = signal + rng.normal(0, NOISE_FLOOR, len(signal))
        self._samples = to_int16(self.signal)
        self.sent = self._samples.astype(np.float64)  # as sent: clipped to int16
        self._position = 0

    def read(self) -> Frame:
        length = len(self._samples)
        indices = (self._position + np.arange(FRAME_SAMPLES)) % length
        self._position = (self._position + FRAME_SAMPLES) % length
        return self._samples[indices]


class TimedSink(MemorySink):
    """Keeps what is played and the longest gap between two writes beyond a frame."""

    def __init__(self, max_frames: int) -> None:
        super().__init__(max_frames)
        self.last: float | None = None
        self.longest_gap = 0.0

    def write(self, frame: Frame) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.longest_gap = max(self.longest_gap, now - self.last - FRAME_SECONDS)
        self.last = now
        super().write(frame)


class GcWatch:
    """Times every collection through gc.callbacks."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_full = 0.0
        self.full = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        self.longest = max(self.longest, took)
        if info["generation"] == 2:
            self.full += 1
            self.longest_full = max(self.longest_full, took)


class HeardTaps:
    """What each listener's mixer took from each talker, tick by tick: the talker's speech
    as that listener heard it, before it is summed with the other's (a frame the jitter
    buffer had nothing for is None: silence for that talker). The benchmark wraps
    Mixer.mix for this (the three calls run in this one process); a call never does."""

    def __init__(self) -> None:
        self.heard: dict[int, dict[str, list[Frame | None]]] = {}
        self.recording = False
        self._original = Mixer.mix

    def __enter__(self) -> HeardTaps:
        taps, original = self, self._original

        def mix(mixer: Mixer, frames: Mapping[str, Frame | None]) -> Frame:
            if taps.recording:
                mine = taps.heard.setdefault(id(mixer), {})
                for peer, frame in frames.items():
                    mine.setdefault(peer, []).append(None if frame is None else frame.copy())
            return original(mixer, frames)

        Mixer.mix = mix  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Mixer.mix = self._original  # type: ignore[method-assign]

    def streams(self) -> list[dict[str, np.ndarray]]:
        """Per listener: each talker's frames as one signal (missing frames as silence)."""
        return [
            {peer: np.concatenate([np.zeros(FRAME_SAMPLES) if f is None else f for f in frames])
             for peer, frames in talkers.items()}
            for talkers in self.heard.values()
        ]

    def missing(self) -> int:
        return sum(f is None for talkers in self.heard.values() for frames in talkers.values()
                   for f in frames)


@dataclass
class CallResult:
    longest_gc_ms: float
    longest_full_gc_ms: float
    full_collections: int
    longest_pause_ms: float
    silent_per_minute: float
    pesq: list[float]  # the old method: each listener's mix against the others' sources
    talker_pesq: list[float]  # each talker as each other participant heard them, aligned
    missing_per_minute: float  # frames of a talker a listener had nothing to play for
    jitter_per_minute: dict[str, float]  # the jitter buffers' counters, per talker heard


@dataclass
class Heard:
    """What one participant's process measured and recorded (sent back to the parent)."""

    played: np.ndarray  # the mix its speaker got
    talkers: dict[int, np.ndarray]  # each other talker's index: what it heard of them
    missing: int  # frames of a talker it had nothing to play for (None from the buffer)
    longest_gc_ms: float
    longest_full_gc_ms: float
    full_collections: int
    longest_pause_ms: float
    jitter: dict[str, int]  # its jitter buffers' counters, summed over both talkers


def best_lag(recorded: np.ndarray, source: np.ndarray) -> int:
    """Where in the looped `source` the `recorded` stretch starts (FFT cross-correlation)."""
    tiled = np.concatenate([source] * (2 + len(recorded) // len(source)))
    tiled = tiled[: len(source) + len(recorded)]
    size = 1 << int(np.ceil(np.log2(len(tiled) + len(recorded))))
    spectrum = np.fft.rfft(tiled, size) * np.conj(np.fft.rfft(recorded, size))
    correlation = np.fft.irfft(spectrum, size)[: len(source)]
    return int(np.argmax(correlation))


ALIGN_CHUNK = SAMPLE_RATE  # playout drops and waits shift the timing: line up each second
TALKER_WINDOW = 8 * SAMPLE_RATE  # PESQ scores 8 s stretches (P.862 is meant for 8-20 s)


def talker_pesq(heard: np.ndarray, source: np.ndarray) -> list[float]:
    """PESQ-WB of one talker as one listener heard them, in consecutive 8 s windows, each
    against the talker's own source lined up with it as a whole (one lag per window, found by
    cross-correlation over all of it; a frame dropped or waited for within the window shifts
    the utterances after it, which PESQ's own per-utterance alignment follows and scores)."""
    scores = []
    for start in range(0, len(heard) - TALKER_WINDOW + 1, TALKER_WINDOW):
        window = heard[start : start + TALKER_WINDOW].astype(np.float64)
        if not window.any():
            continue
        lag = best_lag(window, source)
        reference = np.take(source, np.arange(lag, lag + len(window)), mode="wrap")
        scores.append(pesq_wb(reference, window))
    return scores


def heard_pesq(recorded: np.ndarray, others: list[np.ndarray]) -> float:
    """The old measure: PESQ-WB of a listener's last 8 s against the mix of the others'
    sources, each lined up second by second where it was found in the output. It scored
    1.1-2.0 on calls that sound fine: a one-second stretch of a mix correlates with the
    wrong part of a talker who is silent in it, the stitched reference then jumps, and PESQ
    is not meant for two talkers at once."""
    window = recorded[-8 * SAMPLE_RATE :].astype(np.float64)
    reference = np.zeros_like(window)
    for start in range(0, len(window), ALIGN_CHUNK):
        chunk = window[start : start + ALIGN_CHUNK]
        for source in others:
            lag = best_lag(chunk, source)
            reference[start : start + len(chunk)] += np.take(
                source, np.arange(lag, lag + len(chunk)), mode="wrap"
            )
    return pesq_wb(reference, window)


def stall_pattern(voices: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Each voice (looped to a minute) through the scripted stalls of tests/stalls.py (every
    2-8 s, 40-250 ms), played with the old playout and the new: PESQ-WB in the same 8 s
    windows as the call, silent ticks, frames concealed at playout and speech frames dropped
    to catch up, per minute. Deterministic: the machine's load does not enter it."""
    results: dict[str, dict[str, float]] = {}
    for label, config in (("old", OLD_PLAYOUT), ("new", JitterConfig())):
        scores, silent, expanded, speech_dropped, seconds = [], 0, 0, 0, 0.0
        for voice in voices:
            looped = np.tile(voice, int(np.ceil(60 * SAMPLE_RATE / len(voice))))
            packets = opus_packets(looped)
            played, audio = play(packets, stalled_arrivals(len(packets)), config)
            played = played[:len(packets)]
            scores += talker_pesq(as_signal(played), voice)
            silent += sum(frame is None for frame in played[25:])
            expanded += audio.expanded_concealed
            speech_dropped += audio.buffer.stats.dropped_speech
            seconds += len(packets) * FRAME_SECONDS
        minutes = seconds / 60
        results[label] = {"pesq": statistics.median(scores), "lowest": min(scores),
                          "silent": silent / minutes, "concealed": expanded / minutes,
                          "speech_dropped": speech_dropped / minutes}
    return results


def three_way_call(voices: list[np.ndarray], workdir: Path, seconds: float,
                   freeze: bool, playout: JitterConfig) -> CallResult:
    """A call where all talk, each participant in its own process (as users run them: the
    one hub here), recording the same `seconds` (a barrier starts and ends them together)."""
    context = get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(len(voices), context) as pool:
        barrier = manager.Barrier(len(voices))
        heard = trio.run(_call_with_hub, pool, barrier, voices, workdir, seconds,
                         (freeze, playout))
    sources = [LoopSource(voice, seed) for seed, voice in enumerate(voices)]
    scores, talkers, silent = [], [], 0
    for index, result in enumerate(heard):
        played = result.played
        frames = played[: len(played) // FRAME_SAMPLES * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
        silent += int(np.sum(~frames.any(axis=1)))
        others = [source.signal for i, source in enumerate(sources) if i != index]
        scores.append(heard_pesq(played, others))
        for talker, stream in sorted(result.talkers.items()):
            talkers += talker_pesq(stream, sources[talker].sent)
    pairs = len(voices) * (len(voices) - 1)
    return CallResult(
        max(h.longest_gc_ms for h in heard),
        max(h.longest_full_gc_ms for h in heard),
        sum(h.full_collections for h in heard),
        max(h.longest_pause_ms for h in heard),
        silent / len(heard) / (seconds / 60),
        scores,
        talkers,
        sum(h.missing for h in heard) / pairs / (seconds / 60),
        {name: sum(h.jitter[name] for h in heard) / pairs / (seconds / 60)
         for name in heard[0].jitter},
    )


async def _call_with_hub(pool: ProcessPoolExecutor, barrier: Any, voices: list[np.ndarray],
                         workdir: Path, seconds: float,
                         measures: tuple[bool, JitterConfig]) -> list[Heard]:
    config = HubConfig(name="bench", port=0, password="bench", data_dir=workdir / "hub")
    async with trio.open_nursery() as nursery:
        hub = await nursery.start(serve_hub, config)
        futures = [pool.submit(participant, index, voices[index], hub.port, workdir, seconds,
                               *measures, barrier) for index in range(len(voices))]
        heard = [await trio.to_thread.run_sync(future.result) for future in futures]
        nursery.cancel_scope.cancel()
    return heard


def participant(index: int, voice: np.ndarray, port: int, workdir: Path, seconds: float,
                freeze: bool, playout: JitterConfig, barrier: Any) -> Heard:
    """One participant's process: join, wait for all, record, wait for all, leave."""
    logging.disable(logging.WARNING)
    if freeze:
        freeze_call_heap()
    return trio.run(_participate, index, voice, port, workdir, seconds, playout, barrier)


async def _participate(index: int, voice: np.ndarray, port: int, workdir: Path,
                       seconds: float, playout: JitterConfig, barrier: Any) -> Heard:
    source = LoopSource(voice, index)
    sink = TimedSink(int(seconds * 50) + 500)
    watch = GcWatch()
    buffers: list[AdaptiveJitterBuffer] = []
    made = AdaptiveJitterBuffer.__init__

    def keep(buffer: AdaptiveJitterBuffer, config: JitterConfig | None = None,
             **options: Any) -> None:
        # The call makes its buffers with the defaults: the memory and the playout on a late
        # frame (expand, how long catching up waits for silence) are what is varied.
        made(buffer, dataclasses.replace(
            config or JitterConfig(), memory=playout.memory, expand=playout.expand,
            catch_up_bound=playout.catch_up_bound), **options)
        buffers.append(buffer)

    AdaptiveJitterBuffer.__init__ = keep  # type: ignore[method-assign]
    heard_from: list[PeerAudio] = []
    add_peer = AudioEngine.add_peer

    def add_and_keep(engine: AudioEngine, peer: str, track: Any) -> PeerAudio:
        audio = add_peer(engine, peer, track)
        heard_from.append(audio)
        return audio

    AudioEngine.add_peer = add_and_keep  # type: ignore[method-assign]
    with HeardTaps() as taps:
        async with open_media_loop(), trio.open_nursery() as nursery:
            send, receive = trio.open_memory_channel[ev.SessionEvent](10_000)
            nursery.start_soon(_drain, receive)
            profile = Profile.open(f"p{index}", workdir / f"p{index}")
            session = Session(profile, SessionConfig("127.0.0.1", port, "bench"), send)
            nursery.start_soon(run_actor, session)
            await session.synced.wait()
            options = CallOptions(source=source, sink=sink, ice_hosts=LOOPBACK)
            call = await session.ref.ask(JoinCall("general", options))
            with trio.fail_after(60):
                while True:
                    state: CallState = await call.ask(GetCallState())
                    peers = list(state.peers.values())
                    if len(peers) == 2 and all(p.first_audio_ms for p in peers):
                        break
                    await trio.sleep(0.05)  # a benchmark polls; tests never do
            await trio.to_thread.run_sync(barrier.wait)
            await trio.sleep(1.0)  # let the jitter buffers settle after the links came up
            sink.clear()
            sink.longest_gap = 0.0
            counted = [dataclasses.replace(buffer.stats) for buffer in buffers]
            played_as = {name: sum(getattr(audio, name) for audio in heard_from)
                         for name in PLAYOUT_COUNTS}
            gc.callbacks.append(watch)
            taps.recording = True
            try:
                await trio.sleep(seconds)
            finally:
                taps.recording = False
                gc.callbacks.remove(watch)
            await trio.to_thread.run_sync(barrier.wait)  # nobody leaves while others record
            await call.tell(LeaveCall())
            nursery.cancel_scope.cancel()
    (talkers,) = taps.streams() or [{}]
    return Heard(
        sink.samples(), {int(peer.removeprefix("p")): stream for peer, stream in talkers.items()},
        taps.missing(), watch.longest * 1000, watch.longest_full * 1000, watch.full,
        sink.longest_gap * 1000,
        {name: sum(getattr(b.stats, name) - getattr(c, name)
                   for b, c in zip(buffers, counted, strict=True))
         for name in ("underruns", "concealed", "dropped", "late", "expanded", "merged",
                      "dropped_speech")}
        | {name: sum(getattr(audio, name) for audio in heard_from) - played_as[name]
           for name in PLAYOUT_COUNTS},
    )


# The engine's counters per peer: ticks held for a late frame played as libopus's
# concealment or as silence, and ticks that waited for a frame already decoded.
PLAYOUT_COUNTS = ("expanded_concealed", "expanded_silent", "waited_in_flight")


async def _drain(events: trio.MemoryReceiveChannel[ev.SessionEvent]) -> None:
    async for _ in events:
        pass


def main() -> None:
    logging.disable(logging.WARNING)  # every peer is a first contact here: no need to say
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--call-seconds",
        type=float,
        default=30.0,
        help="how long each 3-way call is measured (default 30)",
    )
    parser.add_argument("--quick", action="store_true", help="10 s calls")
    args = parser.parse_args()
    call_seconds = 10.0 if args.quick else args.call_seconds
    print("synthesising speech with espeak-ng...", flush=True)
    far_speech, near_speech = speak(FAR_TEXT), speak(NEAR_TEXT, "en+f3")
    far = np.tile(far_speech, 3)  # ~25 s: the far end says its two sentences three times
    double_talk = 20.0
    steady_from = 10.0  # by then AEC3 has heard every sound of the text at least once
    near = np.zeros_like(far)
    start = int(double_talk * SAMPLE_RATE)
    near[start : start + len(near_speech)] = near_speech * 0.5
    end = double_talk + len(near_speech) / SAMPLE_RATE
    room = Room()
    print(
        f"room: {room.delay * 1000:.0f} ms delay, {room.tail * 1000:.0f} ms tail, "
        f"coupling {room.coupling_db:+.0f} dB; far end {len(far) / SAMPLE_RATE:.1f} s, "
        f"near talker from {double_talk:.0f} s to {end:.1f} s"
    )

    def erle(run, a: float, b: float) -> float:
        return energy_db(run.echo, a, b) - energy_db(run.sent, a, b)

    results = {}
    for name, stages in (("none", ProcessingStages()), ("aec+ns+hpf", AEC_STAGES)):
        run = run_in_room(stages, far, near, room)
        results[name] = run
        kept = energy_db(run.sent, double_talk, end) - energy_db(run.near, double_talk, end)
        steady_db = erle(run, steady_from, double_talk)
        print(
            f"{name:>11}: ERLE 0-1 s {erle(run, 0, 1):5.1f} dB, 1-3 s {erle(run, 1, 3):5.1f} "
            f"dB, 3-{steady_from:.0f} s {erle(run, 3, steady_from):5.1f} dB, steady "
            f"({steady_from:.0f}-{double_talk:.0f} s) {steady_db:5.1f} dB; "
            f"near talker kept in double-talk {kept:+.1f} dB"
        )
    steady = erle(results["aec+ns+hpf"], steady_from, double_talk)

    # Near-end speech alone (no echo): what processing costs a clean voice.
    # A quiet microphone (about -41 dBFS RMS, where gain control has work to do) and a hot
    # one (-27 dBFS, peaks near full scale: there gain control pushes into its limiter).
    for level, scale in (("quiet mic", 0.1), ("hot mic", 0.5)):
        clean = near_speech * scale
        silent_far = np.zeros_like(clean)
        for name, stages in (
            ("none", ProcessingStages()),
            ("aec+ns+hpf", AEC_STAGES),
            ("all stages", ALL_STAGES),
        ):
            run = run_in_room(stages, silent_far, clean, room)
            sent = run.sent
            as_sent, after_opus = pesq_wb(clean, sent), pesq_wb(clean, opus_round_trip(sent))
            cpu_ms = run.seconds_per_frame * 1000 / 2  # per 10 ms of audio
            print(
                f"PESQ-WB near end, {level}, {name:>10}: as sent {as_sent:.2f}, after Opus "
                f"{after_opus:.2f}; CPU {cpu_ms:.3f} ms per 10 ms frame"
            )
    # The near talker's speech four times over (16 s): adaptive FEC comes on at the first
    # receiver report of loss (after a second), which a 4 s clip would weigh as a quarter.
    clean = np.tile(near_speech * 0.1, 4)

    def fec_scores(one_in: int) -> str:
        scores = {mode: pesq_wb(clean, opus_round_trip(clean, lose_one_in=one_in, encoder=mode))
                  for mode in ("off", "on", "adaptive")}
        return ", ".join(f"FEC {mode} {score:.2f}" for mode, score in scores.items())

    aiortc_clean = pesq_wb(clean, opus_round_trip(clean))
    print(f"PESQ-WB after Opus (16 s of speech), no loss: aiortc's encoder {aiortc_clean:.2f}; "
          f"the call's encoder with {fec_scores(0)} (FEC on: always, as calls were; adaptive: "
          "as calls are)")
    for one_in in (50, 20):
        silent = pesq_wb(clean, opus_round_trip(clean, lose_one_in=one_in))
        print(
            f"PESQ-WB after Opus losing 1 packet in {one_in}: aiortc's, as silence {silent:.2f}; "
            f"the call's, concealed or recovered, with {fec_scores(one_in)}"
        )
    voices = [speak(FAR_TEXT), speak(NEAR_TEXT, "en+f3"), speak(THIRD_TEXT, "en+m3")]
    # The baseline for the call's figures: each voice through the call's encoder (FEC off,
    # as on a clean path) and decoder offline, scored by the same 8 s windows.
    ceiling = statistics.median(
        score for voice in voices
        for score in talker_pesq(opus_round_trip(np.tile(voice, 3), encoder="off"), voice)
    )
    heard = {}
    old_memory = 100  # frames: the jitter buffer's memory before (2 s)
    old = dataclasses.replace(OLD_PLAYOUT, memory=old_memory)
    new = JitterConfig()
    for label, freeze, playout in (("before", False, old),
                                   ("GC only", True, old),
                                   ("memory", True, dataclasses.replace(old, memory=new.memory)),
                                   ("after", True, new)):
        with tempfile.TemporaryDirectory() as tmp:
            result = three_way_call(voices, Path(tmp), call_seconds, freeze, playout)
        heard[label] = result
        jitter = result.jitter_per_minute
        print(
            f"3-way call, {label:>7} ({'heap frozen' if freeze else 'no GC measures'}, jitter "
            f"remembered {playout.memory * FRAME_SECONDS:.0f} s, "
            f"{'late frames concealed' if playout.expand else 'late frames waited in silence'}"
            f"): longest GC {result.longest_gc_ms:5.1f}"
            f" ms (full {result.longest_full_gc_ms:5.1f} ms, {result.full_collections} full), "
            f"longest audio-path pause {result.longest_pause_ms:5.1f} ms, silent ticks/min "
            f"{result.silent_per_minute:5.1f}; per talker heard, per minute: frames missing "
            f"{result.missing_per_minute:5.1f}, underruns {jitter['underruns']:4.1f}, ticks "
            f"held for a late frame {jitter['expanded']:4.1f} (concealed "
            f"{jitter['expanded_concealed']:4.1f}, silent {jitter['expanded_silent']:4.1f}), "
            f"waited for a frame in flight {jitter['waited_in_flight']:4.1f}, frames dropped "
            f"to catch up {jitter['dropped']:4.1f} (speech {jitter['dropped_speech']:4.1f})"
        )
        print(
            f"    PESQ-WB of each talker as each other participant heard them (8 s windows): "
            f"median {statistics.median(result.talker_pesq):.2f}, lowest "
            f"{min(result.talker_pesq):.2f} of {len(result.talker_pesq)}; the old measure "
            "(each mix against the others' sources, realigned each second) "
            + " ".join(f"{score:.2f}" for score in result.pesq)
        )
    print(f"    (baseline: the same voices through the codec alone, same windows: {ceiling:.2f})")
    stalls = stall_pattern(voices)
    print(
        "Scripted stalls (every 2-8 s, 40-250 ms; each voice a minute, played offline by "
        "the real decoder, buffer and VAD): "
        + "; ".join(
            f"{label} playout PESQ-WB median {r['pesq']:.2f} (lowest {r['lowest']:.2f}), "
            f"silent ticks/min {r['silent']:4.1f}, concealed at playout/min "
            f"{r['concealed']:4.1f}, speech frames dropped/min {r['speech_dropped']:4.1f}"
            for label, r in stalls.items())
    )
    load = os.getloadavg()[0]
    print(
        f"(load average {load:.1f} on {os.cpu_count()} cores during the run: a loaded "
        "machine stalls the call process, and the 3-way figures show it)"
    )
    print(f"erle_db={steady:.1f} pesq3={statistics.median(heard['after'].talker_pesq):.2f}")


if __name__ == "__main__":
    main()
