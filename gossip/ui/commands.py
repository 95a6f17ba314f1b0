"""What the UI asks of the client side: plain frozen values posted to the bridge.

The render thread builds these from user actions; the bridge's actor carries them out on the
trio thread and answers with notices (see notices.py), never with return values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Connect:
    host: str
    port: int
    user: str
    password: str
    profile_dir: Path | None = None  # None: the user's default profile directory
    tls: bool = True


@dataclass(frozen=True)
class Disconnect:
    """Leave the hub politely and stop reconnecting."""


@dataclass(frozen=True)
class SendMessage:
    channel: str
    text: str
    ttl: float


@dataclass(frozen=True)
class AcceptKey:
    """Pin the changed key now offered for `user` (after the user confirmed it)."""

    user: str


@dataclass(frozen=True)
class VerifyKey:
    """Mark `user`'s pinned key verified (after comparing safety numbers)."""

    user: str


@dataclass(frozen=True)
class ComputeSafetyNumber:
    user: str


@dataclass(frozen=True)
class AcceptHubKey:
    """Trust a hub's new certificate (after its operator confirmed it), then connect again."""

    host: str
    port: int
    fingerprint: str


@dataclass(frozen=True)
class RefreshState:
    """Ask for a fresh snapshot (after the UI fell behind on notices)."""


# -- voice: carried out by the call side (sessioncalls.py), answered with a CallView ---------

@dataclass(frozen=True)
class JoinCall:
    channel: str


@dataclass(frozen=True)
class LeaveCall:
    pass


@dataclass(frozen=True)
class SetMuted:
    muted: bool


@dataclass(frozen=True)
class SetDeafened:
    deafened: bool


@dataclass(frozen=True)
class SetPeerVolume:
    user: str
    volume: float  # 0.0 .. 2.0, 1.0 = as received


@dataclass(frozen=True)
class SelectDevices:
    input_device: str  # "" = the system default
    output_device: str


@dataclass(frozen=True)
class SetIceHosts:
    """The addresses the next call offers as ICE host candidates; () = the default choice."""

    hosts: tuple[str, ...]


@dataclass(frozen=True)
class SetVideo:
    """Turn our camera (or whatever the video source is) on or off, in the call and after."""

    enabled: bool


CallCommand = (JoinCall | LeaveCall | SetMuted | SetDeafened | SetPeerVolume | SelectDevices
               | SetIceHosts | SetVideo)
UiCommand = (Connect | Disconnect | SendMessage | AcceptKey | VerifyKey | ComputeSafetyNumber
             | AcceptHubKey | RefreshState | CallCommand)
