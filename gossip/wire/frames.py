"""Frames: frozen typed values for every command, and their msgpack encoding.

Untrusted bytes are decoded once, here, into validated frames; code above this layer trusts
them. Ciphertext travels as raw msgpack bytes, never base64.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgpack

from .commands import BY_WIRE_NAME, Command
from .errors import FrameTooLarge, MalformedFrame, UnknownCommand

PROTOCOL_VERSION = 2  # 2: LoginProof carries the proof of key possession
DEFAULT_MAX_FRAME_BYTES = 256 * 1024
# Where hubs listen and clients look unless told otherwise (both sides import it from here).
DEFAULT_PORT = 1720

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
MAX_TEXT = 1024
MAX_KEY_BYTES = 16 * 1024
MAX_PAKE_BYTES = 256
MAX_SIGNATURE_BYTES = 1024
MAX_LIST_ITEMS = 1024
# A client's name for one of its frames, echoed in the hub's refusal of it (opaque, short).
MAX_REF_BYTES = 16


def _name(**options: Any) -> Any:
    """A user or channel name: short, printable, no spaces or control characters."""
    return field(metadata={"pattern": NAME_PATTERN}, **options)


def _blob(limit: int, **options: Any) -> Any:
    return field(metadata={"max_bytes": limit}, **options)


def _text(limit: int = MAX_TEXT) -> Any:
    return field(metadata={"max_chars": limit})


@dataclass(frozen=True)
class Frame:
    """Base of all frames; `command` says which one it is on the wire."""

    command: ClassVar[Command]

    def encode(self) -> bytes:
        body: dict[str, Any] = {"c": self.command.value}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is not None:
                body[item.name] = list(value) if isinstance(value, tuple) else value
        return msgpack.packb(body, use_bin_type=True)


# --- login -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Greeting(Frame):
    command: ClassVar[Command] = Command.GREETING
    version: int
    user: str = _name()
    public_key: bytes = _blob(MAX_KEY_BYTES)


@dataclass(frozen=True)
class HubHello(Frame):
    command: ClassVar[Command] = Command.HUB_HELLO
    version: int
    hub: str = _text(64)
    pake: bytes = _blob(MAX_PAKE_BYTES)


@dataclass(frozen=True)
class LoginProof(Frame):
    command: ClassVar[Command] = Command.LOGIN_PROOF
    pake: bytes = _blob(MAX_PAKE_BYTES)
    confirm: bytes = _blob(64)
    possession: bytes = _blob(MAX_SIGNATURE_BYTES)  # see gossip.crypto.possession


@dataclass(frozen=True)
class Welcome(Frame):
    command: ClassVar[Command] = Command.WELCOME
    confirm: bytes = _blob(64)


# The WebSocket subprotocol a client offers to say it takes `Queued` words while it waits for
# its login's turn. Offered, not required: a hub that does not know it picks none and the
# client waits in silence as before; a client that does not offer it is never sent one.
LOGIN_QUEUE_SUBPROTOCOL = "gossip.login-queue.v1"


@dataclass(frozen=True)
class Queued(Frame):
    """The hub has more logins under way than it takes at once: this connection waits for its
    turn, `place` in line (1: next), about `wait` seconds by the hub's estimate. Repeated
    every few seconds until the turn comes; the hub reads nothing of the client meanwhile
    (its greeting waits, unread). Only for clients that offered LOGIN_QUEUE_SUBPROTOCOL."""

    command: ClassVar[Command] = Command.QUEUED
    place: int
    wait: float


@dataclass(frozen=True)
class Error(Frame):
    """A refusal. `code` is machine-readable (auth, protocol, malformed, ...). A refusal of
    one frame the client named carries that `ref`; `retry_after` (seconds) says when the
    same frame would be accepted (rate and budget refusals)."""

    command: ClassVar[Command] = Command.ERROR
    code: str = _text(32)
    reason: str = _text(256)
    ref: bytes | None = _blob(MAX_REF_BYTES, default=None)
    retry_after: float | None = None


# --- key sync ----------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyRequest(Frame):
    command: ClassVar[Command] = Command.KEY_REQUEST


@dataclass(frozen=True)
class Key(Frame):
    command: ClassVar[Command] = Command.KEY
    user: str = _name()
    key: bytes = _blob(MAX_KEY_BYTES)


@dataclass(frozen=True)
class Channels(Frame):
    command: ClassVar[Command] = Command.CHANNELS
    channels: tuple[str, ...] = _name()


@dataclass(frozen=True)
class EndOfKeys(Frame):
    command: ClassVar[Command] = Command.END_OF_KEYS


@dataclass(frozen=True)
class KeyRemoved(Frame):
    command: ClassVar[Command] = Command.KEY_REMOVED
    user: str = _name()


# --- chat --------------------------------------------------------------------------------

MAX_SEALED_BYTES = 200 * 1024


@dataclass(frozen=True)
class Message(Frame):
    """A sealed chat message. Clients send it without `sender`; the hub sets `sender` to the
    authenticated user when it fans the message out (a client-set sender is refused).
    Client to hub only: `ref` names the frame in a refusal of it; `to` sends it to that one
    member (a resend to a reader who missed it) instead of the whole channel. The hub
    delivers neither field."""

    command: ClassVar[Command] = Command.MESSAGE
    channel: str = _name()
    blob: bytes = _blob(MAX_SEALED_BYTES)
    sender: str | None = _name(default=None)
    ref: bytes | None = _blob(MAX_REF_BYTES, default=None)
    to: str | None = _name(default=None)


@dataclass(frozen=True)
class Missed(Frame):
    """Hub to a reader: `count` messages from `sender` in `channel` did not reach you (you
    were behind on that sender, or let go as slow), the first of them `seconds` ago."""

    command: ClassVar[Command] = Command.MISSED
    count: int
    seconds: float
    sender: str = _name()
    channel: str = _name()


@dataclass(frozen=True)
class MissedBy(Frame):
    """Hub to a sender: `user` did not get `count` of your messages in `channel`, the first
    of them `seconds` ago; resend what you still have of that span to them (`msg.to`)."""

    command: ClassVar[Command] = Command.MISSED_BY
    count: int
    seconds: float
    user: str = _name()
    channel: str = _name()


# --- calls (signalling; payloads are sealed to the one recipient) ------------------------

@dataclass(frozen=True)
class StartCall(Frame):
    command: ClassVar[Command] = Command.START_CALL
    channel: str = _name()


@dataclass(frozen=True)
class CallMembers(Frame):
    command: ClassVar[Command] = Command.CALL_MEMBERS
    channel: str = _name()
    users: tuple[str, ...] = _name()
    # Set when the call is large enough to go through the hub's relay (gossip.relay): where
    # it listens and its DTLS certificate's fingerprint. Absent: a full mesh.
    relay_url: str | None = field(default=None, metadata={"max_chars": 256})
    relay_fingerprint: str | None = field(default=None, metadata={"max_chars": 128})
    relay_ticket: str | None = field(default=None, metadata={"max_chars": 128})  # for us


@dataclass(frozen=True)
class CallRoster(Frame):
    """Who is in a channel's call, as the hub says, for every member of the channel (in the
    call or not): after the key sync one per channel the member sees (empty: no call), then
    on each change. Unverified: only joining shows who really answers."""

    command: ClassVar[Command] = Command.CALL_ROSTER
    channel: str = _name()
    users: tuple[str, ...] = _name()


@dataclass(frozen=True)
class Signal(Frame):
    """Base for offer/answer/ice: routing fields in the clear, the SDP or candidate sealed.
    Clients address `peer` (the recipient); the hub rewrites `peer` to the sender on delivery."""

    channel: str = _name()
    peer: str = _name()
    blob: bytes = _blob(64 * 1024)


@dataclass(frozen=True)
class Offer(Signal):
    command: ClassVar[Command] = Command.OFFER


@dataclass(frozen=True)
class Answer(Signal):
    command: ClassVar[Command] = Command.ANSWER


@dataclass(frozen=True)
class Ice(Signal):
    command: ClassVar[Command] = Command.ICE


@dataclass(frozen=True)
class HangUp(Frame):
    command: ClassVar[Command] = Command.HANG_UP
    channel: str = _name()
    user: str | None = _name(default=None)


# --- private channels (the roster log: signed entries the hub stores and relays blind) -----

# One encoded roster entry (gossip.crypto.rosterlog): fields, a signature and, for create and
# add, the subject's public key (at most MAX_KEY_BYTES).
MAX_ROSTER_ENTRY_BYTES = MAX_KEY_BYTES + 4 * 1024
# Entries in one private channel's log, and its bytes: past either the hub refuses appends.
MAX_ROSTER_ENTRIES = 1024
MAX_ROSTER_LOG_BYTES = 2 * 2**20
# A whole log goes out in parts of at most this many bytes of entries (frames stay small).
ROSTER_PART_BYTES = 128 * 1024


@dataclass(frozen=True)
class CreatePrivate(Frame):
    """Create private channel `channel`; `entry` is its signed creation (the log's first)."""

    command: ClassVar[Command] = Command.CREATE_PRIVATE
    channel: str = _name()
    entry: bytes = _blob(MAX_ROSTER_ENTRY_BYTES)
    ref: bytes | None = _blob(MAX_REF_BYTES, default=None)


@dataclass(frozen=True)
class RosterAppend(Frame):
    """One signed entry appended to `channel`'s log. Up: from its author (with `ref` naming
    it in a refusal). Down: to each member as the hub sees the roster (and to a member it
    removes), with `position`, the entry's index in the log; a client-set position is refused."""

    command: ClassVar[Command] = Command.ROSTER_APPEND
    channel: str = _name()
    entry: bytes = _blob(MAX_ROSTER_ENTRY_BYTES)
    position: int | None = None
    ref: bytes | None = _blob(MAX_REF_BYTES, default=None)


@dataclass(frozen=True)
class RosterRequest(Frame):
    """Ask for `channel`'s whole log again (a member whose log did not come, or a stale one)."""

    command: ClassVar[Command] = Command.ROSTER_REQUEST
    channel: str = _name()


@dataclass(frozen=True)
class RosterLog(Frame):
    """Part of `channel`'s whole log: `entries` are those from index `start`; the log holds
    `total`. A whole log starts at 0 and its parts follow in order until `total`."""

    command: ClassVar[Command] = Command.ROSTER_LOG
    start: int
    total: int
    channel: str = _name()
    entries: tuple[bytes, ...] = _blob(MAX_ROSTER_ENTRY_BYTES)


@dataclass(frozen=True)
class PrivateChannels(Frame):
    """The private channels whose roster names you, as the hub reads the logs; sent after
    the key sync and whenever it changes (each listed channel's log follows)."""

    command: ClassVar[Command] = Command.PRIVATE_CHANNELS
    channels: tuple[str, ...] = _name()


# --- files (gossip/hub/files.py stores them; gossip/client/files.py moves them) ----------

FILE_ID_BYTES = 16
# One sealed chunk: 64 KiB of plaintext and its 16-byte tag (gossip.crypto.filestream).
MAX_FILE_CHUNK_BYTES = 64 * 1024 + 16
# One bit per chunk: 2**31 bytes of chunks of 64 KiB, the most a size field can say.
MAX_FILE_BITMAP_BYTES = 4096
MAX_FILE_GET_CHUNKS = 16


@dataclass(frozen=True)
class FileBegin(Frame):
    """Store a file of `size` sealed bytes in `chunks` chunks until `ttl` seconds from now,
    for the members of `channel`; answered with FileHeld (naming `ref`) or a refusal."""

    command: ClassVar[Command] = Command.FILE_BEGIN
    size: int
    chunks: int
    ttl: float
    channel: str = _name()
    ref: bytes = _blob(MAX_REF_BYTES)


@dataclass(frozen=True)
class FileHeld(Frame):
    """Hub to client: stored file `file` of `chunks` chunks; bit i of `have` (bit i % 8 of
    byte i // 8) says chunk i is stored; `complete` is 1 once its uploader said done. Echoes
    the `ref` of the FileBegin it answers."""

    command: ClassVar[Command] = Command.FILE_HELD
    chunks: int
    complete: int
    file: bytes = _blob(FILE_ID_BYTES)
    have: bytes = _blob(MAX_FILE_BITMAP_BYTES)
    ref: bytes | None = _blob(MAX_REF_BYTES, default=None)


@dataclass(frozen=True)
class FileStatus(Frame):
    command: ClassVar[Command] = Command.FILE_STATUS
    file: bytes = _blob(FILE_ID_BYTES)


@dataclass(frozen=True)
class FilePut(Frame):
    command: ClassVar[Command] = Command.FILE_PUT
    index: int
    file: bytes = _blob(FILE_ID_BYTES)
    data: bytes = _blob(MAX_FILE_CHUNK_BYTES)


@dataclass(frozen=True)
class FileDone(Frame):
    command: ClassVar[Command] = Command.FILE_DONE
    file: bytes = _blob(FILE_ID_BYTES)


@dataclass(frozen=True)
class FileGet(Frame):
    """Send me chunks `index` to `index + count - 1` (count 1 when absent, at most
    MAX_FILE_GET_CHUNKS): one small frame up for a run of chunks down."""

    command: ClassVar[Command] = Command.FILE_GET
    index: int
    file: bytes = _blob(FILE_ID_BYTES)
    count: int | None = None


@dataclass(frozen=True)
class FileChunk(Frame):
    command: ClassVar[Command] = Command.FILE_CHUNK
    index: int
    file: bytes = _blob(FILE_ID_BYTES)
    data: bytes = _blob(MAX_FILE_CHUNK_BYTES)


@dataclass(frozen=True)
class FileAbandon(Frame):
    """Drop my unfinished upload `file` now: its room in my quota is free again. Answered
    only when refused (a complete file stays until it expires: others may be fetching it)."""

    command: ClassVar[Command] = Command.FILE_ABANDON
    file: bytes = _blob(FILE_ID_BYTES)


FILE_FRAMES = (
    FileBegin, FileHeld, FileStatus, FilePut, FileDone, FileGet, FileChunk, FileAbandon
)

FRAME_TYPES: dict[Command, type[Frame]] = {
    cls.command: cls
    for cls in (Greeting, HubHello, LoginProof, Welcome, Queued, Error, KeyRequest, Key, Channels,
                EndOfKeys, KeyRemoved, Message, Missed, MissedBy, StartCall, CallMembers,
                CallRoster, Offer, Answer, Ice, HangUp, CreatePrivate, RosterAppend,
                RosterRequest, RosterLog, PrivateChannels, *FILE_FRAMES)
}


# --- decoding ----------------------------------------------------------------------------

def decode_frame(data: bytes, *, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Frame:
    """Turn untrusted bytes into a validated frame, or raise a FrameError subclass."""
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedFrame("frames are binary")
    if len(data) > max_bytes:
        raise FrameTooLarge(f"frame of {len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises many unrelated types on garbage
        raise MalformedFrame("not a msgpack frame") from exc
    if not isinstance(body, dict):
        raise MalformedFrame("a frame is a map")
    wire_name = body.pop("c", None)
    if not isinstance(wire_name, str):
        raise MalformedFrame("frame has no command")
    command = BY_WIRE_NAME.get(wire_name)
    if command is None:
        raise UnknownCommand(f"unknown command {wire_name[:32]!r}")
    cls = FRAME_TYPES[command]
    known = {item.name: item for item in dataclasses.fields(cls)}
    unexpected = set(body) - set(known)
    if unexpected:
        raise MalformedFrame(f"{wire_name}: unexpected fields {sorted(map(str, unexpected))[:4]}")
    values: dict[str, Any] = {}
    hints = _hints(cls)
    for name, item in known.items():
        if name not in body:
            if item.default is dataclasses.MISSING:
                raise MalformedFrame(f"{wire_name}: missing field {name!r}")
            continue
        values[name] = _check(wire_name, name, hints[name], item.metadata, body[name])
    return cls(**values)


_HINT_CACHE: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINT_CACHE.get(cls)
    if hints is None:
        hints = _HINT_CACHE[cls] = typing.get_type_hints(cls)
    return hints


def _check(frame: str, name: str, hint: Any, rules: Any, value: Any) -> Any:
    """Validate one field against its declared type and limits."""
    where = f"{frame}.{name}"
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        hint = next(arg for arg in args if arg is not type(None))
    if hint is int:
        if type(value) is not int or not (0 <= value < 2**31):
            raise MalformedFrame(f"{where}: expected a small non-negative integer")
        return value
    if hint is float:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise MalformedFrame(f"{where}: expected a finite number")
        return float(value)
    if hint is bytes:
        if not isinstance(value, bytes):
            raise MalformedFrame(f"{where}: expected bytes")
        if len(value) > rules.get("max_bytes", DEFAULT_MAX_FRAME_BYTES):
            raise FrameTooLarge(f"{where}: {len(value)} bytes is too many")
        return value
    if hint is str:
        return _check_str(where, rules, value)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
            raise MalformedFrame(f"{where}: expected a list of at most {MAX_LIST_ITEMS}")
        if typing.get_args(hint)[0] is bytes:
            return tuple(_check(frame, name, bytes, rules, item) for item in value)
        return tuple(_check_str(where, rules, item) for item in value)
    raise MalformedFrame(f"{where}: unsupported field type")  # pragma: no cover


def _check_str(where: str, rules: Any, value: Any) -> str:
    if not isinstance(value, str):
        raise MalformedFrame(f"{where}: expected text")
    pattern = rules.get("pattern")
    if pattern is not None and not pattern.fullmatch(value):
        raise MalformedFrame(f"{where}: not a valid name")
    if len(value) > rules.get("max_chars", MAX_TEXT):
        raise MalformedFrame(f"{where}: text too long")
    if any(ord(ch) < 32 for ch in value):
        raise MalformedFrame(f"{where}: control characters")
    return value


def is_valid_name(name: str) -> bool:
    """True for a valid user or channel name (the same rule the decoder applies)."""
    return bool(NAME_PATTERN.fullmatch(name))
