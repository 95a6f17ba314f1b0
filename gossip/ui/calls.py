"""The call panel's contract: what the UI shows of a voice call, and who carries out its
controls. Call actors are not built yet, so `NoCalls` answers every control with a view that
says so; a real call actor will implement `CallPort` and publish CallView updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .commands import CallCommand

SILENCE_DBFS = -90.0


@dataclass(frozen=True)
class CallPeer:
    user: str
    level_dbfs: float = SILENCE_DBFS  # recent peak of what we hear from them
    volume: float = 1.0
    connected: bool = False  # the peer link is up (ICE + DTLS done)


@dataclass(frozen=True)
class CallView:
    available: bool = False
    unavailable_reason: str = "Voice calls are not in the app yet (gossip-cli call has them)"
    channel: str | None = None  # the call we are in, if any
    participants: tuple[CallPeer, ...] = ()
    own_level_dbfs: float = SILENCE_DBFS
    muted: bool = False
    deafened: bool = False
    input_devices: tuple[str, ...] = ()
    output_devices: tuple[str, ...] = ()
    input_device: str = ""
    output_device: str = ""

    @property
    def joined(self) -> bool:
        return self.channel is not None

    def in_call(self, user: str) -> bool:
        return any(peer.user == user for peer in self.participants)


class CallPort(Protocol):
    """What the bridge needs from the call side: carry out a control, say what to show."""

    async def handle(self, command: CallCommand) -> CallView: ...


class NoCalls:
    """Stands in until call actors land: every control leaves the call view unchanged."""

    def __init__(self) -> None:
        self.view = CallView()

    async def handle(self, command: CallCommand) -> CallView:
        return self.view
