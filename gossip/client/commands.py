"""The requests a front end (CLI, app, bot) asks a session, each with the type of its answer.

`await session.ref.ask(SendChat(...))` returns a ChatMessage or raises CommandRefused (or a
subclass: OutboxFull, NotConnected); the session goes on either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from gossip.actors import ActorRef, Request
from gossip.crypto.filestream import FileManifest
from gossip.crypto.pins import Trust

from .calltypes import CallOptions
from .files import FileLane
from .messages import DEFAULT_TTL, ChatMessage
from .private import PrivateChannelView
from .state import SessionState


@dataclass(frozen=True)
class SendChat(Request[ChatMessage]):
    channel: str
    text: str
    ttl: float = DEFAULT_TTL
    reply_to: str = ""  # the id of the message this answers (quoted where it is shown)
    # A file message: the manifest of a file already uploaded (gossip/client/files.py).
    file: FileManifest | None = None


@dataclass(frozen=True)
class EditChat(Request[ChatMessage]):
    """Replace the text of one of our messages (`ref`, its id) on every screen."""

    ref: str
    text: str


@dataclass(frozen=True)
class React(Request[ChatMessage]):
    """Put `emoji` under message `ref` ("" takes our reaction back)."""

    ref: str
    emoji: str


@dataclass(frozen=True)
class AcceptKey(Request[Trust]):
    user: str


@dataclass(frozen=True)
class VerifyKey(Request[Trust]):
    user: str


@dataclass(frozen=True)
class GetState(Request[SessionState]):
    pass


@dataclass(frozen=True)
class GetFileLane(Request[FileLane]):
    """The session's lane for file transfers (gossip/client/files.py): upload_file and
    download_file run in the asker's tasks over it."""


@dataclass(frozen=True)
class MeasureLatency(Request[float | None]):
    """The round trip of a ping to the hub in seconds, or None if none came."""


@dataclass(frozen=True)
class JoinCall(Request[ActorRef]):
    """Join (or start) a channel's call; the answer is the call actor's ref."""

    channel: str
    options: CallOptions = CallOptions()


@dataclass(frozen=True)
class RetryNow(Request[bool]):
    """Cut the reconnect backoff short: while the session waits to retry (after a lost
    connection), it tries at once. True if a wait was cut short; False when there was none
    to cut (online, or an attempt already under way)."""


@dataclass(frozen=True)
class Leave(Request[None]):
    """Close the connection politely; the session then ends."""


# -- private channels (gossip/client/private.py) ----------------------------------------------

@dataclass(frozen=True)
class CreatePrivateChannel(Request[PrivateChannelView]):
    """Create private channel `channel` with us as its owner and only member; answered once
    the hub stored its log and we verified it."""

    channel: str


@dataclass(frozen=True)
class AddToChannel(Request[PrivateChannelView]):
    """Add `user` to private `channel` (we must own it) under the key the hub announces for
    them now, if we trust it (new, pinned or verified; never a changed key not accepted)."""

    channel: str
    user: str


@dataclass(frozen=True)
class RemoveFromChannel(Request[PrivateChannelView]):
    """Remove `user` from private `channel` (the owner removes anyone, a member itself). Our
    next message there starts a new sender-key epoch that `user` is not given."""

    channel: str
    user: str


@dataclass(frozen=True)
class HandOverChannel(Request[PrivateChannelView]):
    """Make member `user` the owner of private `channel` (we must own it): from then on they
    add and remove members, and we no longer may (we stay a member, and may leave)."""

    channel: str
    user: str


@dataclass(frozen=True)
class GetPrivateChannels(Request[tuple[PrivateChannelView, ...]]):
    """Every private channel this session follows: phase, owner, members and trust, alarm.
    With `settled`, once the hub's listing on this connection came and each listed log was
    verified or given up as withheld (bounded by the session's roster timeout)."""

    settled: bool = False
