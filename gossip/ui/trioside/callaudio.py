"""The app's ends of a call's audio: the list of sound devices to pick from, and the source and
sink it hands the call actor, wrapped so the user can switch devices mid-call and the panel can
meter its own microphone. sounddevice is only touched through gossip.media.devices (lazily)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gossip.media.devices import import_sounddevice
from gossip.media.errors import AudioDeviceError
from gossip.media.format import LEVEL_FLOOR_DB, Frame, dbfs, mean_square
from gossip.media.sinks import AudioSink
from gossip.media.sources import AudioSource

from ..wording import NO_DEVICES, NO_PORTAUDIO, SOUND_SYSTEM_FAILED

log = logging.getLogger("gossip.ui.calls")


@dataclass(frozen=True)
class DeviceList:
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    problem: str = ""  # why there is nothing to pick, for the panel


def list_devices() -> DeviceList:
    """The sound devices PortAudio sees, by name. Never raises: a machine without PortAudio or
    without devices gets an empty list and the reason. Blocking (PortAudio scans on first
    use), so call it off the trio loop."""
    try:
        sd = import_sounddevice()
    except AudioDeviceError:
        return DeviceList(problem=NO_PORTAUDIO)
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as exc:  # the host audio system itself failed
        log.warning("cannot list the sound devices: %s", exc)
        return DeviceList(problem=SOUND_SYSTEM_FAILED)
    inputs = _names(devices, "max_input_channels")
    outputs = _names(devices, "max_output_channels")
    if not inputs and not outputs:
        return DeviceList(problem=NO_DEVICES)
    return DeviceList(inputs, outputs)


def _names(devices: object, channels: str) -> tuple[str, ...]:
    names: list[str] = []
    for device in devices:  # type: ignore[attr-defined]
        name = str(device["name"])
        if device[channels] > 0 and name not in names:
            names.append(name)
    return tuple(names)


def microphone_spec(device: str) -> str:
    return f"mic:{device}" if device else "mic"


def speaker_spec(device: str) -> str:
    return f"speaker:{device}" if device else "speaker"


class SwitchableSource(AudioSource):
    """The source a call reads: another source inside that can be swapped while the call runs
    (a new microphone), and a meter of what was read, for the panel's own level bar.

    The call reads it on the trio thread (aiortc's asyncio runs there, under trio-asyncio),
    where the app swaps and meters it too, so it needs no lock.
    """

    def __init__(self, inner: AudioSource) -> None:
        self._inner = inner
        self._energy = 0.0
        self._frames = 0
        self._closed = False

    def read(self) -> Frame:
        frame = self._inner.read()
        self._energy += mean_square(frame)
        self._frames += 1
        return frame

    @property
    def latency_seconds(self) -> float:
        return self._inner.latency_seconds

    @property
    def is_device(self) -> bool:
        return self._inner.is_device

    def take_level(self) -> float:
        """The level (dBFS) of what was read since the last call; the floor if nothing was
        (nobody to send to yet)."""
        level = dbfs(self._energy / self._frames) if self._frames else LEVEL_FLOOR_DB
        self._energy, self._frames = 0.0, 0
        return level

    def swap(self, inner: AudioSource) -> AudioSource:
        """Read from `inner` from now on; returns the old source for the caller to close."""
        old, self._inner = self._inner, inner
        return old

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._inner.close()


class SwitchableSink(AudioSink):
    """The sink a call writes to, with another sink inside that can be swapped mid-call."""

    def __init__(self, inner: AudioSink) -> None:
        self._inner = inner
        self._closed = False

    @property
    def latency_seconds(self) -> float:
        return self._inner.latency_seconds

    @property
    def is_device(self) -> bool:
        return self._inner.is_device

    def write(self, frame: Frame) -> None:
        self._inner.write(frame)

    def swap(self, inner: AudioSink) -> AudioSink:
        old, self._inner = self._inner, inner
        return old

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._inner.close()
