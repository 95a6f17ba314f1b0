"""Errors raised when bytes from the network do not decode into a valid frame."""

from __future__ import annotations

from .codes import ErrorCode


class FrameError(ValueError):
    """Base class: the bytes are not a frame we accept. `code` goes into the error frame."""

    code: str = ErrorCode.MALFORMED


class FrameTooLarge(FrameError):
    code = ErrorCode.TOO_LARGE


class MalformedFrame(FrameError):
    code = ErrorCode.MALFORMED


class UnknownCommand(FrameError):
    code = ErrorCode.UNKNOWN_COMMAND
