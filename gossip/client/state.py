"""What a front end reads of a session: the hub, channels, members with trust, messages."""

from __future__ import annotations

from dataclasses import dataclass

from gossip.crypto.pins import Trust

from .messages import ChatMessage


@dataclass(frozen=True)
class MemberView:
    user: str
    fingerprint: str
    trust: Trust


@dataclass(frozen=True)
class SessionState:
    hub: str
    hub_fingerprint: str
    channels: tuple[str, ...]
    members: tuple[MemberView, ...]
    messages: tuple[ChatMessage, ...]
