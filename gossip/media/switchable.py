"""The audio ends a call holds on to while what is inside them changes: another microphone or
speakers picked mid-call, or the system default when the device in use was unplugged.

The call reads and writes them on the trio thread (aiortc's asyncio runs there, under
trio-asyncio), where the swaps happen too, so they need no lock.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from .errors import AudioDeviceError
from .format import LEVEL_FLOOR_DB, Frame, dbfs, mean_square
from .sinks import AudioSink, NullSink, SpeakerSink
from .sources import AudioSource, MicSource, NullSource

End = TypeVar("End", AudioSource, AudioSink)


class Swappable(Generic[End]):
    """What a switchable source and sink share: the end inside, swapped while the call runs,
    and what the panel reads of it (the device's own, as it is now)."""

    def __init__(self, inner: End) -> None:
        self._inner: End = inner
        # True once the device inside went away and the default replaced it, until the next
        # swap: the panel then shows the default as the device in use.
        self.fell_back = False
        self._closed = False

    @property
    def latency_seconds(self) -> float:
        return self._inner.latency_seconds

    @property
    def is_device(self) -> bool:
        return self._inner.is_device

    @property
    def device_name(self) -> str:
        return self._inner.device_name

    @property
    def lost(self) -> bool:
        return self._inner.lost

    def swap(self, inner: End) -> End:
        """Use `inner` from now on; returns the old end for the caller to close."""
        old, self._inner = self._inner, inner
        self.fell_back = False
        return old

    def fall_back(self, inner: End) -> End:
        """`swap` to the default because the device went away (the panel shows it so)."""
        old = self.swap(inner)
        self.fell_back = True
        return old

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._inner.close()


class SwitchableSource(Swappable[AudioSource], AudioSource):
    """A source with another inside that can be swapped while the call runs, and a meter of
    what was read, for the panel's own level bar."""

    def __init__(self, inner: AudioSource) -> None:
        super().__init__(inner)
        self._energy = 0.0
        self._frames = 0

    def read(self) -> Frame:
        frame = self._inner.read()
        self._energy += mean_square(frame)
        self._frames += 1
        return frame

    def take_level(self) -> float:
        """The level (dBFS) of what was read since the last call; the floor if nothing was
        (nobody to send to yet)."""
        level = dbfs(self._energy / self._frames) if self._frames else LEVEL_FLOOR_DB
        self._energy, self._frames = 0.0, 0
        return level


class SwitchableSink(Swappable[AudioSink], AudioSink):
    """A sink with another inside that can be swapped mid-call."""

    def write(self, frame: Frame) -> None:
        self._inner.write(frame)


def open_default_source() -> tuple[AudioSource, str]:
    """The system's default microphone, or silence and why not. Blocking: opening a device
    takes a while, so call it from a worker thread."""
    try:
        return MicSource(), ""
    except AudioDeviceError as exc:
        return NullSource(), str(exc)


def open_default_sink() -> tuple[AudioSink, str]:
    """The system's default speakers, or nothing and why not. Blocking, as above."""
    try:
        return SpeakerSink(), ""
    except AudioDeviceError as exc:
        return NullSink(), str(exc)
