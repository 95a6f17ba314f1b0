"""Audio sinks: where the mixed call audio goes, one 20 ms mono 48 kHz int16 frame per write.

`AudioSink.write()` never blocks: the engine's playout clock calls it every 20 ms. Sinks are
built from user specs by `parse_sink("speaker" | "wav:PATH" | "null" | "memory")`.
sounddevice is imported only when a SpeakerSink is opened.
"""

from __future__ import annotations

import collections
import threading
import wave
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .devices import (
    StreamLife,
    close_stream,
    device_arg,
    import_sounddevice,
    portaudio_lock,
    stream_opened,
)
from .errors import AudioDeviceError, SpecError
from .format import FRAME_SAMPLES, SAMPLE_RATE, Frame, check_frame


class AudioSink(ABC):
    """Something that takes the mixed output, one frame at a time."""

    @property
    def latency_seconds(self) -> float:
        """How long a written frame takes to be heard (0 for files and memory)."""
        return 0.0

    @property
    def is_device(self) -> bool:
        """Real speakers (what they play can come back through a microphone)."""
        return False

    @property
    def device_name(self) -> str:
        """The device asked for by name ("" for the system default or no device)."""
        return ""

    @property
    def lost(self) -> bool:
        """The device stopped under us (unplugged): nothing more will pass through it."""
        return False

    @abstractmethod
    def write(self, frame: Frame) -> None:
        """Take one frame of FRAME_SAMPLES int16 samples. Must return at once."""

    def close(self) -> None:  # noqa: B027 - most hold nothing to release
        """Flush and release files or devices."""


class NullSink(AudioSink):
    """Discards audio, counting frames (and how many were not digital silence)."""

    def __init__(self) -> None:
        self.frames = 0
        self.audible_frames = 0

    def write(self, frame: Frame) -> None:
        check_frame(frame)
        self.frames += 1
        if frame.any():
            self.audible_frames += 1


class MemorySink(AudioSink):
    """Keeps the most recent `max_frames` frames in memory (for tests and benchmarks)."""

    def __init__(self, max_frames: int = 3000) -> None:
        self._frames: collections.deque[Frame] = collections.deque(maxlen=max_frames)
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        self._frames.append(check_frame(frame).copy())
        self.frames_written += 1

    def samples(self, last_frames: int | None = None) -> npt.NDArray[np.int16]:
        """The kept samples in order, optionally only the last `last_frames` frames."""
        frames = list(self._frames)
        if last_frames is not None:
            frames = frames[-last_frames:] if last_frames else []
        if not frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(frames)

    def clear(self) -> None:
        self._frames.clear()


class WavSink(AudioSink):
    """Writes 48 kHz mono 16-bit PCM to a WAV file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - open until close()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(SAMPLE_RATE)

    def write(self, frame: Frame) -> None:
        self._wav.writeframes(check_frame(frame).astype("<i2").tobytes())

    def close(self) -> None:
        self._wav.close()


class SpeakerSink(AudioSink):
    """The default (or a named) output device through sounddevice.

    Frames queue for PortAudio's callback thread in a short bounded queue. Our playout clock
    and the sound card's clock drift apart slowly: when the queue is full the oldest frame is
    dropped (stay current), and when it is empty the card plays silence.
    """

    def __init__(self, device: int | str | None = None, *, max_queued_frames: int = 4) -> None:
        sd = import_sounddevice()
        self._frames: collections.deque[Frame] = collections.deque(maxlen=max_queued_frames)
        self._lock = threading.Lock()
        self._device = device
        self._life = StreamLife()
        self.underruns = 0
        with portaudio_lock():  # not while the device list is re-read
            try:
                self._stream = sd.OutputStream(
                    samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=FRAME_SAMPLES,
                    device=device, callback=self._on_block,
                    finished_callback=self._life.finished.set,
                    latency="low",
                )
                self._stream.start()
            except Exception as exc:  # PortAudioError or ValueError for a bad device name
                raise AudioDeviceError(f"cannot open output device {device!r}: {exc}") from exc
            stream_opened()
        self._life.beat()  # opening may take seconds (Bluetooth): not a stall

    def _on_block(self, out: npt.NDArray[np.int16], frames: int, time: Any, status: Any) -> None:
        self._life.beat()
        with self._lock:
            frame = self._frames.popleft() if self._frames else None
        if frame is None or frames != FRAME_SAMPLES:
            self.underruns += 1
            out.fill(0)
            return
        out[:, 0] = frame

    @property
    def is_device(self) -> bool:
        return True

    @property
    def latency_seconds(self) -> float:
        # The device's own latency plus the frames queued ahead of a new one.
        with self._lock:
            queued = len(self._frames)
        return float(self._stream.latency) + queued * FRAME_SAMPLES / SAMPLE_RATE

    def write(self, frame: Frame) -> None:
        check_frame(frame)
        with self._lock:
            self._frames.append(frame.copy())

    @property
    def device_name(self) -> str:
        return "" if self._device is None else str(self._device)

    @property
    def lost(self) -> bool:
        return self._life.lost

    def close(self) -> None:
        close_stream(self._stream, self._life)


def parse_sink(spec: str) -> AudioSink:
    """Build a sink from "speaker", "speaker:DEVICE", "wav:PATH", "null" or "memory"."""
    kind, _, arg = spec.partition(":")
    if kind == "null" and not arg:
        return NullSink()
    if kind == "memory" and not arg:
        return MemorySink()
    if kind == "wav":
        if not arg:
            raise SpecError("wav sink needs a path: wav:PATH")
        return WavSink(arg)
    if kind == "speaker":
        return SpeakerSink(device_arg(arg))
    raise SpecError(f"unknown audio sink {spec!r}: use speaker, wav:PATH, null or memory")

