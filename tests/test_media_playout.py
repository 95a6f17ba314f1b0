"""Playout through stalls, with the real parts of the receive path after the network: speech
encoded by aiortc's Opus encoder, our concealing libopus decoder fed at each packet's
arrival, the jitter buffer, webrtcvad, and the engine's tick, on a scripted arrival pattern
in which the sender (or the network, or we) stalls every 2-8 s for 40-250 ms. Old playout
(wait with silence, then drop the burst at once) against the new (conceal the late frames'
ticks, play them when they come, give the delay back in silence) in the same test."""

from __future__ import annotations

import fractions
import random

import numpy as np
import pytest
from aiortc.codecs.opus import OpusEncoder
from av import AudioFrame

from gossip.media.capturechain import SpeechDetector
from gossip.media.concealment import ConcealingOpusDecoder, SequencedFrame, decoder_of
from gossip.media.engine import AudioEngine, PeerAudio, decoded_to_mono
from gossip.media.format import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, Frame
from gossip.media.jitter import AdaptiveJitterBuffer, JitterConfig

from .speech import FAR_TEXT, NEAR_TEXT, NoSpeechSynthesiser, frames_of, speak

OLD_PLAYOUT = JitterConfig(expand=False, catch_up_bound=0.0)


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    """About 20 s of two voices' speech, with the pauses of speech between sentences."""
    try:
        speech = np.concatenate(
            [speak(FAR_TEXT, "en"), speak(NEAR_TEXT, "en+f3"), speak(FAR_TEXT, "en+m3")]
        )
    except NoSpeechSynthesiser as exc:
        pytest.skip(str(exc))
    encoder, out = OpusEncoder(), []
    for index, samples in enumerate(frames_of(speech)):
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, index * FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        out.extend(encoder.encode(frame)[0])
    return out


def stalled_arrivals(count: int) -> list[float]:
    """Each packet 5-9 ms after its time; every 2-8 s a stall of 40-250 ms (a loaded
    machine), the packets due during it arriving together at its end. The lengths and gaps
    vary, so the depth the buffer keeps after one does not absorb every later one."""
    rng = random.Random(3)
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
    """Tick by tick, as the engine does: packets decoded as they arrive, then the tick."""
    vad = SpeechDetector(hangover=0.0)
    audio = PeerAudio("alice", 0.0, AdaptiveJitterBuffer(config, is_speech=vad.update))
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


def test_stalls_play_concealment_not_silence_and_catching_up_drops_silence_not_speech(
    packets,
):
    packets = packets * 3  # a minute
    arrivals = stalled_arrivals(len(packets))
    old_played, old = play(packets, arrivals, OLD_PLAYOUT)
    new_played, new = play(packets, arrivals, JitterConfig())
    start = 100  # from the first stall on (the stream's start is the same for both)
    old_silent = sum(frame is None for frame in old_played[start:-20])
    new_silent = sum(frame is None for frame in new_played[start:-20])
    # Old: every stall is ticks of silence, then the burst dropped at once, words and all.
    assert old.buffer.stats.underruns > 0 and old.buffer.stats.dropped_speech > 0
    # New: those ticks continue the voice (libopus's concealment, asked at playout), the
    # late frames play when they come, and the delay is given back in the pauses.
    assert new.expanded_concealed > 0 and new.buffer.stats.merged > 0
    assert new_silent * 2 < old_silent, (new_silent, old_silent)
    assert new.buffer.stats.dropped_speech * 2 < old.buffer.stats.dropped_speech, (
        new.buffer.stats, old.buffer.stats)
    # Every frame that arrived was played, dropped in a pause, or dropped as speech (counted).
    stats = new.buffer.stats
    assert stats.played + stats.late + stats.dropped + stats.duplicates + new.buffer.depth \
        == stats.received


def test_a_talk_pause_is_not_held_longer_than_max_expand(packets):
    """Voice activation stops sending in pauses (timestamps skip, sequence numbers do not):
    playout conceals at most `max_expand` ticks into the pause, then waits in silence, and
    plays the next talk spurt from its first frame."""
    config = JitterConfig()
    sent = list(range(0, 100)) + list(range(200, 300))  # one second not sent
    vad = SpeechDetector(hangover=0.0)
    audio = PeerAudio("bob", 0.0, AdaptiveJitterBuffer(config, is_speech=vad.update))
    audio.decoder = decoder = ConcealingOpusDecoder()
    played: list[Frame | None] = []
    for tick in range(300):
        now = tick * FRAME_SECONDS
        n = tick - 1  # each packet arrives just before the tick after its time
        if n in sent:
            for frame in decoder.decode(SequencedFrame(packets[n], n * FRAME_SAMPLES)):
                mono = decoded_to_mono(frame)
                assert mono is not None
                audio.buffer.put(frame.pts, mono, now - 0.001)
        played.append(AudioEngine._pop(audio, now))
    assert audio.expanded_concealed == config.max_expand
    assert audio.buffer.stats.underruns == 1
    assert audio.buffer.stats.dropped == 0
    assert played[201] is not None and played[101 + config.max_expand] is None
