"""The requests a front end (CLI, app, bot) asks a session, each with the type of its answer.

`await session.ref.ask(SendChat(...))` returns a ChatMessage or raises CommandRefused (or a
subclass: OutboxFull, NotConnected); the session goes on either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from gossip.actors import ActorRef, Request
from gossip.crypto.pins import Trust

from .calltypes import CallOptions
from .messages import DEFAULT_TTL, ChatMessage
from .state import SessionState


@dataclass(frozen=True)
class SendChat(Request[ChatMessage]):
    channel: str
    text: str
    ttl: float = DEFAULT_TTL


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
class MeasureLatency(Request[float | None]):
    """The round trip of a ping to the hub in seconds, or None if none came."""


@dataclass(frozen=True)
class JoinCall(Request[ActorRef]):
    """Join (or start) a channel's call; the answer is the call actor's ref."""

    channel: str
    options: CallOptions = CallOptions()


@dataclass(frozen=True)
class Leave(Request[None]):
    """Close the connection politely; the session then ends."""
