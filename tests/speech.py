"""Speech for voice-processing tests and the voice benchmark: sentences spoken by Debian's
espeak-ng (made at test time, so no recording ships with the project), a simulated room that
turns what the speaker plays into what the microphone hears, and level helpers."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gossip.media.format import FRAME_SAMPLES, SAMPLE_RATE, Frame
from gossip.media.sources import AudioSource, load_wav_mono_48k

FAR_TEXT = (
    "The quick brown fox jumps over the lazy dog. Every participant hears themselves "
    "back on speakers, which is the first thing to fix in a call."
)
NEAR_TEXT = "Hello there, this is the near end talker, speaking at the same time."

Signal = npt.NDArray[np.float64]


class NoSpeechSynthesiser(RuntimeError):
    """espeak-ng is not installed (Debian package espeak-ng)."""


def speak(text: str, voice: str = "en") -> Signal:
    """`text` spoken by espeak-ng, as 48 kHz mono samples in the int16 range (float)."""
    if shutil.which("espeak-ng") is None:
        raise NoSpeechSynthesiser("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True
        )
        return load_wav_mono_48k(path).astype(np.float64)


@dataclass(frozen=True)
class Room:
    """A loudspeaker-to-microphone path: a direct delay, then a decaying random tail (the
    room's reflections), scaled to a coupling loss in dB (how much quieter the echo is)."""

    delay: float = 0.06
    tail: float = 0.2
    decay: float = 0.04  # seconds for the tail to fall by 1/e
    coupling_db: float = -6.0
    seed: int = 7

    def impulse_response(self) -> Signal:
        rng = np.random.default_rng(self.seed)
        n = int(self.tail * SAMPLE_RATE)
        tail = rng.standard_normal(n) * np.exp(-np.arange(n) / (self.decay * SAMPLE_RATE))
        tail *= 10 ** (self.coupling_db / 20) / np.sqrt(np.sum(tail**2))
        return np.concatenate([np.zeros(int(self.delay * SAMPLE_RATE)), tail])

    def echo(self, played: Signal) -> Signal:
        return np.convolve(played, self.impulse_response())[: len(played)]


def to_int16(signal: Signal) -> npt.NDArray[np.int16]:
    return np.clip(np.round(signal), -32768, 32767).astype(np.int16)


def frames_of(signal: Signal) -> list[Frame]:
    samples = to_int16(signal)
    count = len(samples) // FRAME_SAMPLES
    return [samples[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] for i in range(count)]


class ArraySource(AudioSource):
    """Plays a signal frame by frame, then silence."""

    def __init__(self, signal: Signal) -> None:
        self._frames = frames_of(signal)
        self._next = 0

    def read(self) -> Frame:
        if self._next >= len(self._frames):
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        frame = self._frames[self._next]
        self._next += 1
        return frame


def energy_db(signal: Signal, start: float, end: float) -> float:
    """10 log10 of the energy between `start` and `end` seconds (0 energy: -200)."""
    part = signal[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)].astype(np.float64)
    total = float(np.sum(part * part))
    return 10 * np.log10(total) if total > 0 else -200.0


@dataclass
class EchoRun:
    """One run of the capture chain in a room: what the microphone heard and what was sent."""

    echo: Signal  # the far end as the microphone heard it
    near: Signal  # the near talker alone, as the microphone heard them
    sent: Signal  # what the chain handed the encoder
    seconds_per_frame: float  # processing CPU per 20 ms frame


def run_in_room(stages: object, far: Signal, near: Signal, room: Room = Room()) -> EchoRun:
    """Play `far` through the speaker (our sink chain) into `room` while `near` talks into
    the microphone, one 20 ms tick at a time in the engine's order (the playout tick writes
    the speaker, then the sending slot reads the microphone)."""
    from gossip.media.capturechain import CaptureChain, FarEndReference, ReferenceSink
    from gossip.media.processing import make_processor
    from gossip.media.sinks import NullSink

    length = max(len(far), len(near))
    far = np.pad(far, (0, length - len(far)))
    near = np.pad(near, (0, length - len(near)))
    echo = room.echo(far)
    reference = FarEndReference()
    speaker = ReferenceSink(NullSink(), reference)
    chain = CaptureChain(ArraySource(echo + near), make_processor(stages), reference)  # type: ignore[arg-type]
    sent = []
    for frame in frames_of(far):
        speaker.write(frame)
        sent.append(chain.read())
    frames = len(sent)
    return EchoRun(
        echo[: frames * FRAME_SAMPLES],
        near[: frames * FRAME_SAMPLES],
        np.concatenate(sent).astype(np.float64),
        chain.processing_seconds / max(1, frames),
    )
