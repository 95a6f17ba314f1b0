"""What a protocol machine asks its owning actor to do. Plain frozen values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from gossip.wire import Command


@dataclass(frozen=True)
class Send:
    """Build and send a frame of this command (the actor supplies its contents)."""

    command: Command


@dataclass(frozen=True)
class Close:
    """Close the connection, telling the other side why."""

    reason: str
    code: str = "protocol"


@dataclass(frozen=True)
class Report:
    """Tell the actor's owner (the UI, the registry) that something happened."""

    what: str


Action = Send | Close | Report
