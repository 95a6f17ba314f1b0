"""Errors raised when bytes from the network do not decode into a valid frame."""

from __future__ import annotations


class FrameError(ValueError):
    """Base class: the bytes are not a frame we accept. `code` goes into the error frame."""

    code = "malformed"


class FrameTooLarge(FrameError):
    code = "too_large"


class MalformedFrame(FrameError):
    code = "malformed"


class UnknownCommand(FrameError):
    code = "unknown_command"
