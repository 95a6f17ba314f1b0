"""Which end of a call a sound device is: a plain value the client's events carry, apart from
everything that touches PortAudio."""

from __future__ import annotations

from enum import StrEnum


class DeviceKind(StrEnum):
    """The words are the ones users read."""

    MICROPHONE = "microphone"
    SPEAKERS = "speakers"
