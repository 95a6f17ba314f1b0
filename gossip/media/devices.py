"""Access to sound devices through sounddevice (PortAudio), imported only when a device opens.

Keeping the import lazy lets headless machines without PortAudio use every other media part.
"""

from __future__ import annotations

from typing import Any

from .errors import AudioDeviceError


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
