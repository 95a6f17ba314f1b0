"""A stalling receive path, played tick by tick with the real parts after the network: Opus
packets, our concealing libopus decoder fed at each packet's arrival (as aiortc's decoder
thread is), the jitter buffer with webrtcvad, and the engine's tick. The arrival pattern is
scripted (a loaded machine descheduling the sender, the network or us), so tests and
benchmarks/voice.py replay the same stalls with the old and the new playout."""

from __future__ import annotations

import fractions
import random

import numpy as np
from aiortc.codecs.opus import OpusEncoder
from av import AudioFrame

from gossip.media.capturechain import SpeechDetector
from gossip.media.concealment import ConcealingOpusDecoder, SequencedFrame, decoder_of
from gossip.media.engine import AudioEngine, PeerAudio, decoded_to_mono
from gossip.media.format import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, Frame
from gossip.media.jitter import AdaptiveJitterBuffer, JitterConfig

from .speech import Signal, frames_of

# Playout as it was: a late frame's tick waits with silence, and playout restarts once
# target + 1 frames are here; a burst beyond the target is dropped at once, words and all.
OLD_PLAYOUT = JitterConfig(expand=False, catch_up_bound=0.0)


def opus_packets(speech: Signal) -> list[bytes]:
    """`speech` as aiortc's Opus encoder sends it, one packet per 20 ms."""
    encoder, out = OpusEncoder(), []
    for index, samples in enumerate(frames_of(speech)):
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, index * FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        out.extend(encoder.encode(frame)[0])
    return out


def stalled_arrivals(count: int, seed: int = 3) -> list[float]:
    """Each packet 5-9 ms after its time; every 2-8 s a stall of 40-250 ms, the packets due
    during it arriving together at its end. The lengths and gaps vary, so the depth the
    buffer keeps after one does not absorb every later one."""
    rng = random.Random(seed)
    arrivals = [n * FRAME_SECONDS + 0.005 + rng.uniform(0, 0.004) for n in range(count)]
    start = 100
    while start < count:
        end = start * FRAME_SECONDS + rng.uniform(0.04, 0.25)
        for n in range(start, count):
            arrivals[n] = max(arrivals[n], end)
        start += rng.randrange(100, 400)
    return arrivals


def play(packets: list[bytes], arrivals: list[float], config: JitterConfig
         ) -> tuple[list[Frame | None], PeerAudio]:
    """Tick by tick, as the engine does: packets decoded as they arrive, then the tick.
    Returns what each tick played (None: silence) and the peer's counters."""
    vad = SpeechDetector(hangover=0.0)
    audio = PeerAudio("talker", 0.0, AdaptiveJitterBuffer(config, is_speech=vad.update))
    decoder = ConcealingOpusDecoder()
    played: list[Frame | None] = []
    order = sorted(range(len(packets)), key=lambda n: (arrivals[n], n))
    i = 0
    for tick in range(len(packets) + 20):
        now = tick * FRAME_SECONDS
        while i < len(order) and arrivals[order[i]] <= now:
            n = order[i]
            for frame in decoder.decode(SequencedFrame(packets[n], n * FRAME_SAMPLES)):
                mono = decoded_to_mono(frame)
                assert mono is not None
                audio.decoder = decoder_of(frame)  # as the engine learns it
                audio.buffer.put(frame.pts, mono, arrivals[n])
            i += 1
        played.append(AudioEngine._pop(audio, now))
    return played, audio


def as_signal(played: list[Frame | None]) -> np.ndarray:
    """The ticks as one signal (silence where nothing played)."""
    return np.concatenate([np.zeros(FRAME_SAMPLES) if f is None else f for f in played])
