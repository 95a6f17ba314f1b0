"""Audio sources: where a peer's outgoing sound comes from, one 20 ms mono int16 frame at a time.

`AudioSource.read()` never blocks and never paces itself: the sending track (gossip.media.track)
calls it once per 20 ms slot. `parse_source("tone:440" | "wav:PATH" | "null" | "mic")` builds one
from a user spec. sounddevice is imported only when a MicSource is opened, so machines without
PortAudio can still import this module.
"""

from __future__ import annotations

import collections
import math
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
from .errors import AudioDeviceError, SpecError, UnsupportedWav
from .format import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, Frame, silence


class AudioSource(ABC):
    """Something that yields the next 20 ms of mono 48 kHz int16 audio on demand."""

    # False when the frame just read is not to be sent (a pause under voice activation or
    # push-to-talk): the fanout sends nothing for that slot.
    transmitting: bool = True

    @property
    def latency_seconds(self) -> float:
        """How long a sound takes from the room to `read()` (0 for generated sources)."""
        return 0.0

    @property
    def is_device(self) -> bool:
        """A real microphone (voice processing is on by default for one)."""
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
    def read(self) -> Frame:
        """The next frame (FRAME_SAMPLES int16 samples). Must return at once, without blocking."""

    def close(self) -> None:  # noqa: B027 - most hold nothing to release
        """Release devices or files; reading afterwards is not allowed."""


class NullSource(AudioSource):
    """Digital silence."""

    def read(self) -> Frame:
        return silence()


class ToneSource(AudioSource):
    """A sine tone of `hz` at `level` (0..1 of full scale), phase-continuous across frames."""

    def __init__(self, hz: float, level: float = 0.3) -> None:
        if not 0.0 < hz < SAMPLE_RATE / 2:
            raise ValueError(f"tone frequency must be between 0 and {SAMPLE_RATE // 2} Hz")
        if not 0.0 <= level <= 1.0:
            raise ValueError("tone level must be between 0 and 1")
        self.hz = hz
        self.level = level
        self._sample = 0
        # One second of it, computed once: the counter below restarts every second, so each
        # frame is a slice (a microphone's read is a copy too; a sine per frame cost a
        # benchmarked call participant more than its own RTP send path).
        n = np.arange(SAMPLE_RATE, dtype=np.float64)
        wave_ = np.sin(2.0 * math.pi * hz * n / SAMPLE_RATE)
        self._second = np.round(wave_ * level * 32767.0).astype(np.int16)

    def read(self) -> Frame:
        start = self._sample
        # Keep the counter within one period's worth of samples so float precision never drifts.
        self._sample = (self._sample + FRAME_SAMPLES) % SAMPLE_RATE
        return self._second[start : start + FRAME_SAMPLES].copy()


class WavSource(AudioSource):
    """A WAV file of integer PCM, converted once to 48 kHz mono; loops or ends in silence.

    Any channel count is averaged to mono; other sample rates are resampled by linear
    interpolation (fine for test signals and voice prompts, not for hi-fi music).
    """

    def __init__(self, path: str | Path, *, loop: bool = True) -> None:
        self.path = Path(path)
        self.loop = loop
        self._samples = load_wav_mono_48k(self.path)
        self._position = 0

    @property
    def ended(self) -> bool:
        """True once a non-looping file has been read to the end."""
        return not self.loop and self._position >= len(self._samples)

    def read(self) -> Frame:
        out = silence()
        filled = 0
        total = len(self._samples)
        while filled < FRAME_SAMPLES and total:
            if self._position >= total:
                if not self.loop:
                    break
                self._position = 0
            take = min(FRAME_SAMPLES - filled, total - self._position)
            out[filled:filled + take] = self._samples[self._position:self._position + take]
            filled += take
            self._position += take
        return out


def load_wav_mono_48k(path: Path) -> npt.NDArray[np.int16]:
    """All samples of an integer-PCM WAV as 48 kHz mono int16; UnsupportedWav if we cannot."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        # The stdlib reader rejects float and compressed WAVs with wave.Error.
        raise UnsupportedWav(f"{path}: not an integer-PCM WAV file ({exc})") from exc
    if channels < 1 or rate <= 0:
        raise UnsupportedWav(f"{path}: {channels} channels at {rate} Hz")
    samples = _pcm_to_float(raw, width, path).reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE and len(samples):
        duration = len(samples) / rate
        target = np.arange(round(duration * SAMPLE_RATE)) / SAMPLE_RATE
        samples = np.interp(target, np.arange(len(samples)) / rate, samples)
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)


def _pcm_to_float(raw: bytes, width: int, path: Path) -> npt.NDArray[np.float64]:
    """Integer PCM bytes of any common width, scaled to the int16 range, as float64."""
    if width == 1:  # 8-bit WAV is unsigned
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float64)
    if width == 3:
        bytes3 = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = bytes3[:, 0] | (bytes3[:, 1] << 8) | (bytes3[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        return value.astype(np.float64) / 256.0
    if width == 4:
        return np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0
    raise UnsupportedWav(f"{path}: {8 * width}-bit samples are not supported")


class MicSource(AudioSource):
    """The default (or a named) input device, 48 kHz mono, through sounddevice.

    PortAudio's callback thread appends 20 ms blocks to a short bounded queue; `read` takes the
    oldest one or returns silence if none arrived yet. When the queue is full the oldest block
    is dropped, so a stalled reader never makes the microphone lag behind.
    """

    def __init__(self, device: int | str | None = None, *, max_queued_frames: int = 5) -> None:
        sd = import_sounddevice()
        self._frames: collections.deque[Frame] = collections.deque(maxlen=max_queued_frames)
        self._lock = threading.Lock()
        self._device = device
        self._life = StreamLife()
        self.overflows = 0
        with portaudio_lock():  # not while the device list is re-read
            try:
                self._stream = sd.InputStream(
                    samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=FRAME_SAMPLES,
                    device=device, callback=self._on_block,
                    finished_callback=self._life.finished.set,
                )
                self._stream.start()
            except Exception as exc:  # PortAudioError or ValueError for a bad device name
                raise AudioDeviceError(f"cannot open input device {device!r}: {exc}") from exc
            stream_opened()
        self._life.beat()  # opening may take seconds (Bluetooth): not a stall

    def _on_block(self, block: npt.NDArray[np.int16], frames: int, time: Any, status: Any) -> None:
        self._life.beat()
        if status:
            self.overflows += 1
        with self._lock:
            self._frames.append(block[:, 0].copy())

    @property
    def latency_seconds(self) -> float:
        return float(self._stream.latency) + FRAME_SECONDS

    @property
    def is_device(self) -> bool:
        return True

    def read(self) -> Frame:
        with self._lock:
            return self._frames.popleft() if self._frames else silence()

    @property
    def device_name(self) -> str:
        return "" if self._device is None else str(self._device)

    @property
    def lost(self) -> bool:
        return self._life.lost

    def close(self) -> None:
        close_stream(self._stream, self._life)


def parse_source(spec: str) -> AudioSource:
    """Build a source from "tone:HZ[:LEVEL]", "wav:PATH", "null", "mic" or "mic:DEVICE"."""
    kind, _, arg = spec.partition(":")
    if kind == "null" and not arg:
        return NullSource()
    if kind == "tone":
        parts = arg.split(":")
        try:
            hz = float(parts[0])
            level = float(parts[1]) if len(parts) == 2 else 0.3
            if len(parts) > 2:
                raise ValueError
            return ToneSource(hz, level)
        except ValueError as exc:
            raise SpecError(f"bad tone spec {spec!r}: use tone:HZ or tone:HZ:LEVEL "
                            f"(0 < HZ < 24000, 0 <= LEVEL <= 1)") from exc
    if kind == "wav":
        if not arg:
            raise SpecError("wav source needs a path: wav:PATH")
        return WavSource(arg)
    if kind == "mic":
        return MicSource(device_arg(arg))
    raise SpecError(f"unknown audio source {spec!r}: use tone:HZ, wav:PATH, null or mic")
