"""Wire layer: frames to and from bytes, the command table, size limits. No keys, no I/O."""

from .commands import BY_WIRE_NAME, Command
from .errors import FrameError, FrameTooLarge, MalformedFrame, UnknownCommand
from .frames import (
    DEFAULT_MAX_FRAME_BYTES, FRAME_TYPES, PROTOCOL_VERSION, Answer, CallMembers, Channels,
    EndOfKeys, Error, Frame, Greeting, HangUp, HubHello, Ice, Key, KeyRemoved, KeyRequest,
    LoginProof, Message, Offer, Signal, StartCall, Welcome, decode_frame, is_valid_name,
)

__all__ = [
    "BY_WIRE_NAME", "Command", "FrameError", "FrameTooLarge", "MalformedFrame", "UnknownCommand",
    "DEFAULT_MAX_FRAME_BYTES", "FRAME_TYPES", "PROTOCOL_VERSION", "Answer", "CallMembers",
    "Channels", "EndOfKeys", "Error", "Frame", "Greeting", "HangUp", "HubHello", "Ice", "Key",
    "KeyRemoved", "KeyRequest", "LoginProof", "Message", "Offer", "Signal", "StartCall",
    "Welcome", "decode_frame", "is_valid_name",
]
