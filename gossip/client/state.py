"""What a front end reads of a session: the hub, channels, members with trust, messages,
and who the hub says is in each call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
    # channel -> who the hub says is in its call (its word, as CallStarted etc. carry it)
    call_rosters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
