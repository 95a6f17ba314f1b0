"""Voice processing on the microphone, measured on synthesised speech (espeak-ng) in a
simulated room, with the baseline (no processing) from the same run.

Prints: echo return loss enhancement (ERLE) at 0-1 s, 1-3 s and steady state; the near
talker's level kept in double-talk; PESQ-WB of near-end speech sent without and with
processing, as the microphone gives it and after an Opus round trip (aiortc's encoder and
decoder at the settings calls use); and the processing CPU per 10 ms frame.

Not measured here yet: the longest GC pause and silent ticks per minute in a 3-way call.

    python benchmarks/voice.py

The last line is `erle_db=X pesq3=Y` (steady ERLE; PESQ-WB after processing and Opus).
"""

from __future__ import annotations

import fractions

import numpy as np
from av import AudioFrame
from pesq import pesq

from gossip.media.format import FRAME_SAMPLES, SAMPLE_RATE
from gossip.media.voicespec import ProcessingStages
from tests.speech import FAR_TEXT, NEAR_TEXT, Room, energy_db, run_in_room, speak, to_int16

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


def opus_round_trip(signal: np.ndarray) -> np.ndarray:
    """Through aiortc's Opus encoder and decoder as a call sends it (mono in, stereo out)."""
    from aiortc.codecs.opus import OpusDecoder, OpusEncoder
    from aiortc.jitterbuffer import JitterFrame

    encoder, decoder = OpusEncoder(), OpusDecoder()
    samples = to_int16(signal)
    out = []
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
            for decoded in decoder.decode(JitterFrame(data=payload, timestamp=timestamp)):
                stereo = decoded.to_ndarray().reshape(-1, 2).astype(np.float64)
                out.append(stereo.mean(axis=1))
    decoded_signal = np.concatenate(out)
    # Opus delays by its look-ahead: find it and line the output up with the input.
    best = max(
        range(0, 960, 8),
        key=lambda lag: float(
            np.dot(signal[:SAMPLE_RATE], decoded_signal[lag : lag + SAMPLE_RATE])
        ),
    )
    return decoded_signal[best:]


def main() -> None:
    print("synthesising speech with espeak-ng...", flush=True)
    far_speech, near_speech = speak(FAR_TEXT), speak(NEAR_TEXT, "en+f3")
    far = np.tile(far_speech, 2)
    double_talk = 12.0
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
        print(
            f"{name:>11}: ERLE 0-1 s {erle(run, 0, 1):5.1f} dB, 1-3 s {erle(run, 1, 3):5.1f} "
            f"dB, steady (3-{double_talk:.0f} s) {erle(run, 3, double_talk):5.1f} dB; "
            f"near talker kept in double-talk {kept:+.1f} dB"
        )
    steady = erle(results["aec+ns+hpf"], 3, double_talk)

    # Near-end speech alone (no echo): what processing costs a clean voice.
    clean = near_speech * 0.5
    silent_far = np.zeros_like(clean)
    scores = {}
    for name, stages in (
        ("none", ProcessingStages()),
        ("aec+ns+hpf", AEC_STAGES),
        ("all stages", ALL_STAGES),
    ):
        run = run_in_room(stages, silent_far, clean, room)
        sent = run.sent
        scores[name] = (pesq_wb(clean, sent), pesq_wb(clean, opus_round_trip(sent)))
        cpu_ms = run.seconds_per_frame * 1000 / 2  # per 10 ms of audio
        print(
            f"PESQ-WB near end, {name:>10}: as sent {scores[name][0]:.2f}, after Opus "
            f"{scores[name][1]:.2f}; CPU {cpu_ms:.3f} ms per 10 ms frame"
        )
    print("not measured: the longest GC pause and silent ticks per minute in a 3-way call")
    print(f"erle_db={steady:.1f} pesq3={scores['all stages'][1]:.2f}")


if __name__ == "__main__":
    main()
