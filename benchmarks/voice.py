"""Voice processing on the microphone, measured on synthesised speech (espeak-ng) in a
simulated room, with the baseline (no processing) from the same run.

Prints: echo return loss enhancement (ERLE) at 0-1 s, 1-3 s and steady state; the near
talker's level kept in double-talk; PESQ-WB of near-end speech sent without and with
processing, as the microphone gives it and after an Opus round trip (aiortc's encoder and
decoder); and the processing CPU per 10 ms frame. Then PESQ-WB after Opus with the call's
encoder (in-band FEC on) against aiortc's with no loss, and losing 1 packet in 50 and 1 in
20: played as silence, as libopus's concealment, and recovered from FEC (calls today).

Then a real 3-way call where all talk (one hub, three sessions and call actors in this one
process, like benchmarks/call_setup.py; ICE on 127.0.0.1 only), twice: before (no GC
measures) and after (the start-up heap frozen, as `gossip-cli call` does). For each: the
longest garbage collection, the longest gap between two frames handed to a sink beyond its
20 ms (a pause on the audio path), silent ticks per minute (frames played as digital
silence while both others talk: the sources carry a faint noise floor, so only a missing
frame plays as exact zeros) and PESQ-WB of what each participant hears against the mix of
the other two's speech.

    python benchmarks/voice.py [--call-seconds 30] [--quick]

The last line is `erle_db=X pesq3=Y`: steady-state ERLE, and the median PESQ-WB heard in the
3-way call after the GC measures.
"""

from __future__ import annotations

import argparse
import fractions
import gc
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

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
from gossip.media.format import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, Frame
from gossip.media.gcpolicy import freeze_call_heap
from gossip.media.loop import open_media_loop
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


def opus_round_trip(
    signal: np.ndarray, *, lose_one_in: int = 0, conceal: bool = False, fec: bool = False
) -> np.ndarray:
    """Through aiortc's Opus encoder and a decoder (mono in, stereo out). With `lose_one_in`
    every Nth packet is lost: played as silence by aiortc's decoder, or as libopus's
    concealment by ours (`conceal`). `fec`: the call's encoder (in-band FEC on) and our
    decoder, which recovers a lost packet from the next one's FEC copy, as calls do."""
    from aiortc.codecs.opus import OpusDecoder, OpusEncoder

    from gossip.media.concealment import ConcealingOpusDecoder, SequencedFrame
    from gossip.media.opusfec import fec_opus_encoder

    conceal = conceal or fec
    encoder = fec_opus_encoder() if fec else OpusEncoder()
    decoder = ConcealingOpusDecoder() if conceal else OpusDecoder()
    samples = to_int16(signal)
    out, lost = [], 0
    for i in range(len(samples) // FRAME_SAMPLES):
        frame = AudioFrame.from_ndarray(
            samples[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES].reshape(1, -1),
            format="s16",
            layout="mono",
        )
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        frame.pts = i * FRAME_SAMPLES
        payloads, timestamp = encoder.encode(frame)
        for payload in payloads:
            if lose_one_in and i % lose_one_in == lose_one_in // 2:
                lost += 1
                if not conceal:
                    out.append(np.zeros(FRAME_SAMPLES))  # what playout does for a gap
                continue
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


@dataclass
class CallResult:
    longest_gc_ms: float
    longest_full_gc_ms: float
    full_collections: int
    longest_pause_ms: float
    silent_per_minute: float
    pesq: list[float]


def best_lag(recorded: np.ndarray, source: np.ndarray) -> int:
    """Where in the looped `source` the `recorded` stretch starts (FFT cross-correlation)."""
    tiled = np.concatenate([source, source, source])[: len(source) + len(recorded)]
    size = 1 << int(np.ceil(np.log2(len(tiled) + len(recorded))))
    spectrum = np.fft.rfft(tiled, size) * np.conj(np.fft.rfft(recorded, size))
    correlation = np.fft.irfft(spectrum, size)[: len(source)]
    return int(np.argmax(correlation))


ALIGN_CHUNK = SAMPLE_RATE  # playout drops and waits shift the timing: line up each second


def heard_pesq(recorded: np.ndarray, others: list[np.ndarray]) -> float:
    """PESQ-WB of a listener's last 8 s against the mix of the others' sources, each lined up
    second by second where it was found in the output (a frame dropped or waited for shifts
    what follows; PESQ then scores the damage, not our misalignment)."""
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


async def three_way_call(voices: list[np.ndarray], workdir: Path, seconds: float) -> CallResult:
    config = HubConfig(name="bench", port=0, password="bench", data_dir=workdir / "hub")
    sources = [LoopSource(voice, seed) for seed, voice in enumerate(voices)]
    sinks = [TimedSink(int(seconds * 50) + 500) for _ in voices]
    watch = GcWatch()
    async with open_media_loop(), trio.open_nursery() as nursery:
        hub = await nursery.start(serve_hub, config)
        sessions = []
        for index in range(len(voices)):
            send, receive = trio.open_memory_channel[ev.SessionEvent](10_000)
            nursery.start_soon(_drain, receive)
            profile = Profile.open(f"p{index}", workdir / f"p{index}")
            session = Session(profile, SessionConfig("127.0.0.1", hub.port, "bench"), send)
            nursery.start_soon(run_actor, session)
            sessions.append(session)
        for session in sessions:
            await session.synced.wait()
        calls = []
        for source, sink, session in zip(sources, sinks, sessions, strict=True):
            options = CallOptions(source=source, sink=sink, ice_hosts=LOOPBACK)
            calls.append(await session.ref.ask(JoinCall("general", options)))
        with trio.fail_after(60):
            for call in calls:
                while True:
                    state: CallState = await call.ask(GetCallState())
                    peers = list(state.peers.values())
                    if len(peers) == len(voices) - 1 and all(p.first_audio_ms for p in peers):
                        break
                    await trio.sleep(0.05)  # a benchmark polls; tests never do
        await trio.sleep(1.0)  # let the jitter buffers settle after the links came up
        for sink in sinks:
            sink.clear()
            sink.longest_gap = 0.0
        gc.callbacks.append(watch)
        try:
            await trio.sleep(seconds)
        finally:
            gc.callbacks.remove(watch)
        for call in calls:
            await call.tell(LeaveCall())
        nursery.cancel_scope.cancel()
    scores, silent = [], 0
    for index, sink in enumerate(sinks):
        played = sink.samples()
        frames = played[: len(played) // FRAME_SAMPLES * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
        silent += int(np.sum(~frames.any(axis=1)))
        others = [source.signal for i, source in enumerate(sources) if i != index]
        scores.append(heard_pesq(played, others))
    return CallResult(
        watch.longest * 1000,
        watch.longest_full * 1000,
        watch.full,
        max(sink.longest_gap for sink in sinks) * 1000,
        silent / len(sinks) / (seconds / 60),
        scores,
    )


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
    clean = near_speech * 0.1
    plain, with_fec = opus_round_trip(clean), opus_round_trip(clean, fec=True)
    print(
        f"PESQ-WB after Opus, no loss: aiortc's encoder {pesq_wb(clean, plain):.2f}, "
        f"the call's (FEC on) {pesq_wb(clean, with_fec):.2f}"
    )
    for one_in in (50, 20):
        silent = pesq_wb(clean, opus_round_trip(clean, lose_one_in=one_in))
        hidden = pesq_wb(clean, opus_round_trip(clean, lose_one_in=one_in, conceal=True))
        fec = pesq_wb(clean, opus_round_trip(clean, lose_one_in=one_in, fec=True))
        print(
            f"PESQ-WB after Opus losing 1 packet in {one_in}: silence {silent:.2f}, "
            f"Opus concealment {hidden:.2f}, FEC {fec:.2f}"
        )
    voices = [speak(FAR_TEXT), speak(NEAR_TEXT, "en+f3"), speak(THIRD_TEXT, "en+m3")]
    heard = {}
    for label, freeze in (("before", False), ("after", True)):
        if freeze:
            freeze_call_heap()
        with tempfile.TemporaryDirectory() as tmp:
            result = trio.run(three_way_call, voices, Path(tmp), call_seconds)
        heard[label] = result
        print(
            f"3-way call, {label:>6} ({'heap frozen' if freeze else 'no GC measures'}): "
            f"longest GC {result.longest_gc_ms:5.1f} ms (full {result.longest_full_gc_ms:5.1f}"
            f" ms, {result.full_collections} full), longest audio-path pause "
            f"{result.longest_pause_ms:5.1f} ms, silent ticks/min "
            f"{result.silent_per_minute:5.1f}, PESQ-WB heard "
            + " ".join(f"{score:.2f}" for score in result.pesq)
        )
    load = os.getloadavg()[0]
    print(
        f"(load average {load:.1f} on {os.cpu_count()} cores during the run: a loaded "
        "machine stalls the call process, and the 3-way figures show it)"
    )
    print(f"erle_db={steady:.1f} pesq3={statistics.median(heard['after'].pesq):.2f}")


if __name__ == "__main__":
    main()
