"""Access to sound devices through sounddevice (PortAudio), imported only when a device opens.

Keeping the import lazy lets headless machines without PortAudio use every other media part.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .errors import AudioDeviceError

# Seconds without a callback after which an open stream counts as lost: on some hosts
# (CoreAudio, a Bluetooth headset gone) a device that goes away ends nothing, its callbacks
# just stop. Long enough that a busy machine's hiccup is not taken for an unplug.
STALL_SECONDS = 2.0


def import_sounddevice() -> Any:
    """The sounddevice module, or AudioDeviceError if it or PortAudio is missing."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library itself is missing
        raise AudioDeviceError(f"sounddevice/PortAudio is not available: {exc}") from exc
    return sounddevice


def device_arg(text: str) -> int | str | None:
    """A device spec's argument: empty for the default, digits for an index, else a name."""
    if not text:
        return None
    return int(text) if text.isdigit() else text


class StreamLife:
    """Whether a PortAudio stream still carries sound: one that ended without our asking
    (PortAudio's thread ends when ALSA answers -ENODEV, as for a USB headset pulled out) or
    whose callbacks stopped is lost. PortAudio's thread calls `beat` and `finished`."""

    def __init__(self) -> None:
        self.finished = threading.Event()
        self.closing = False
        self._last_beat = time.monotonic()

    def beat(self) -> None:
        self._last_beat = time.monotonic()

    @property
    def lost(self) -> bool:
        if self.closing:
            return False
        return self.finished.is_set() or time.monotonic() - self._last_beat > STALL_SECONDS


# PortAudio reads its device list once, at initialisation; re-reading it (terminate, then
# initialise) closes every stream still open and leaves their objects dangling. So the
# device streams of this process are counted until their close has returned, and opening
# and re-reading never overlap.
_portaudio = threading.RLock()
_open_streams = 0


def stream_opened() -> None:
    global _open_streams
    with _portaudio:
        _open_streams += 1


def stream_closed() -> None:
    global _open_streams
    with _portaudio:
        _open_streams -= 1


def close_stream(stream: Any, life: StreamLife) -> None:
    """Close a call's device stream, once. Abort, not stop: stop waits for PortAudio's thread
    to finish what is queued, and nothing queued in a call's stream is worth waiting for. Not
    under the PortAudio lock: a wedged device can hold a close for ever (CoreAudio after an
    unplug), and must not stop others from opening; the list is not re-read until it is done."""
    if life.closing:
        return
    life.closing = True
    try:
        stream.abort()
        stream.close()
    finally:
        stream_closed()


def portaudio_lock() -> threading.RLock:
    """Held while a device stream opens, and while the list is re-read."""
    return _portaudio


def knows_device(name: str, kind: str) -> bool:
    """Whether this process's PortAudio lists `name` as an "input" or "output" device (the
    default always counts: "" names it)."""
    if not name:
        return True
    try:
        import_sounddevice().query_devices(device_arg(name), kind)
    except (AudioDeviceError, ValueError):
        return False
    return True


def refresh_portaudio() -> None:
    """Re-read the device list in this process, so a device plugged in since can be opened.
    AudioDeviceError while a device stream is open: close them first."""
    sd = import_sounddevice()
    with _portaudio:
        if _open_streams:
            raise AudioDeviceError(f"{_open_streams} sound streams are open; close them "
                                   "before re-reading the device list")
        sd._terminate()
        sd._initialize()
