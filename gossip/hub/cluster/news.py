"""What hubs of a cluster tell each other over Redis pub/sub, as bytes.

Each piece of news is a kind letter and NUL-separated fields, with the one free-form byte
field (a key, a frame) last, so it may hold any byte. Redis is the operator's trusted
infrastructure (docs/security.md), but a hub still decodes each piece once, at the edge,
and drops (and logs) what does not parse rather than acting on half of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gossip.wire import is_valid_name

_SEP = b"\0"


class MalformedNews(ValueError):
    """Bytes from the cluster that are not news this hub understands."""


@dataclass(frozen=True)
class Joined:
    hub: str
    user: str
    public_key: bytes
    rejoin: bool  # sent again after an outage: the others resend to it what it may have missed


@dataclass(frozen=True)
class Left:
    hub: str
    user: str


@dataclass(frozen=True)
class CallChanged:
    hub: str
    channel: str
    user: str
    joined: bool


@dataclass(frozen=True)
class Published:
    """A chat message (an encoded frame) for every member of `channel` on the other hubs;
    for a private channel, `members` names them (user -> key fingerprint)."""

    hub: str
    channel: str
    sender: str
    data: bytes
    members: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Direct:
    """A frame for one member on the hub this is sent to (sender "" is a hub); with `call`,
    only for its connection in that channel's call, if that is on this hub."""

    hub: str
    user: str
    sender: str
    channel: str
    data: bytes
    call: str = ""


@dataclass(frozen=True)
class RosterAppended:
    """A private channel's roster entry that `author` appended at `position` (reserved in
    Redis by the hub that accepted it)."""

    hub: str
    channel: str
    author: str
    position: int
    entry: bytes


@dataclass(frozen=True)
class FileAsked:
    """Hub `hub` asks the hub this is sent to for chunks `index` to `index + count - 1` of a
    file it holds (request: the asker's id for the answers)."""

    hub: str
    request: str
    file: bytes
    index: int
    count: int


@dataclass(frozen=True)
class FileAnswered:
    """One answer to a FileAsked: chunk `index`'s sealed bytes, or `code` (an ErrorCode
    value) when the holder refuses."""

    hub: str
    request: str
    index: int
    code: str
    data: bytes


News = Joined | Left | CallChanged | Published | Direct | RosterAppended | FileAsked | FileAnswered


def encode(news: News) -> bytes:
    if isinstance(news, Joined):
        return _join(b"J", news.hub, news.user, "1" if news.rejoin else "0") + news.public_key
    if isinstance(news, Left):
        return _join(b"L", news.hub, news.user)
    if isinstance(news, CallChanged):
        return _join(b"C", news.hub, news.channel, news.user, "1" if news.joined else "0")
    if isinstance(news, Published):
        members = (
            ""
            if news.members is None
            else ";".join(f"{user}={fingerprint}" for user, fingerprint in news.members.items())
        )
        kind = b"M" if news.members is None else b"P"
        return _join(kind, news.hub, news.channel, news.sender, members) + news.data
    if isinstance(news, RosterAppended):
        return _join(b"R", news.hub, news.channel, news.author, str(news.position)) + news.entry
    if isinstance(news, FileAsked):
        return _join(
            b"F", news.hub, news.request, news.file.hex(), str(news.index), str(news.count)
        )
    if isinstance(news, FileAnswered):
        return _join(b"A", news.hub, news.request, str(news.index), news.code) + news.data
    return _join(b"D", news.hub, news.user, news.sender, news.channel, news.call) + news.data


def decode(data: bytes) -> News:
    kind, _, rest = data.partition(_SEP)
    if kind == b"J":
        hub, user, rejoin, key = _split(rest, 3)
        return Joined(_name(hub), _name(user), key, rejoin == b"1")
    if kind == b"L":
        hub, user = _split(rest, 1)
        return Left(_name(hub), _name(user.rstrip(_SEP)))
    if kind == b"C":
        hub, channel, user, joined = _split(rest, 3)
        return CallChanged(_name(hub), _name(channel), _name(user), joined.rstrip(_SEP) == b"1")
    if kind in (b"M", b"P"):
        hub, channel, sender, members, frame = _split(rest, 4)
        return Published(
            _name(hub),
            _name(channel),
            _name(sender),
            frame,
            _members(members) if kind == b"P" else None,
        )
    if kind == b"D":
        hub, user, sender, channel, call, frame = _split(rest, 5)
        return Direct(
            _name(hub),
            _name(user),
            _name(sender, empty=True),
            _name(channel, empty=True),
            frame,
            _name(call, empty=True),
        )
    if kind == b"R":
        hub, channel, author, position, entry = _split(rest, 4)
        if not position.isdigit() or len(position) > 9:
            raise MalformedNews("a position that is not a number")
        return RosterAppended(_name(hub), _name(channel), _name(author), int(position), entry)
    if kind == b"F":
        hub, request, file, index, count, _ = _split(rest, 5)
        try:
            file_id = bytes.fromhex(file.decode())
        except (UnicodeDecodeError, ValueError):
            raise MalformedNews("a file id that is not hex") from None
        return FileAsked(_name(hub), _name(request), file_id, _number(index), _number(count))
    if kind == b"A":
        hub, request, index, code, data = _split(rest, 4)
        return FileAnswered(
            _name(hub), _name(request), _number(index), _name(code, empty=True), data
        )
    raise MalformedNews(f"unknown kind {kind[:8]!r}")


def _number(raw: bytes) -> int:
    if not raw.isdigit() or len(raw) > 9:
        raise MalformedNews("a count that is not a number")
    return int(raw)


def _join(kind: bytes, *fields: str) -> bytes:
    return _SEP.join([kind, *(field.encode() for field in fields)]) + _SEP


def _split(rest: bytes, fields: int) -> list[bytes]:
    parts = rest.split(_SEP, fields)
    if len(parts) != fields + 1:
        raise MalformedNews("too few fields")
    return parts


def _name(raw: bytes, *, empty: bool = False) -> str:
    try:
        name = raw.decode()
    except UnicodeDecodeError:
        raise MalformedNews("a name that is not UTF-8") from None
    if (empty and not name) or is_valid_name(name):
        return name
    raise MalformedNews(f"not a name: {name[:40]!r}")


def _members(raw: bytes) -> dict[str, str]:
    members: dict[str, str] = {}
    for pair in raw.decode(errors="replace").split(";") if raw else ():
        user, _, fingerprint = pair.partition("=")
        if not is_valid_name(user) or not fingerprint.isalnum():
            raise MalformedNews("a malformed member list")
        members[user] = fingerprint
    return members
