"""The media layer's own failures, so callers can catch exactly what they expect.

Spec errors are ValueErrors (bad user input); the rest say which part of the media path broke.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base class for failures in gossip.media."""


class SpecError(MediaError, ValueError):
    """A source or sink spec such as "tone:440" or "wav:PATH" could not be parsed."""


class UnsupportedWav(MediaError, ValueError):
    """A WAV file uses an encoding we do not read (only integer PCM is supported)."""


class AudioDeviceError(MediaError):
    """The sound device (PortAudio via sounddevice) is missing or could not be opened."""


class SdpError(MediaError, ValueError):
    """An SDP lacks what we need from it (for example a usable a=fingerprint line)."""


class FingerprintMismatch(MediaError):
    """The DTLS certificate the peer presented is not the one its signed SDP announced."""

    def __init__(self, expected: str, presented: str | None) -> None:
        super().__init__(f"peer presented {presented or 'no certificate'}, "
                         f"signed SDP says {expected}")
        self.expected = expected
        self.presented = presented


class LinkStateError(MediaError):
    """A peer-link operation was called in a state that does not allow it."""

