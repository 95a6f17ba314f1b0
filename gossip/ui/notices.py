"""What the bridge tells the UI besides the session's own events (gossip.client.events):
connection progress, answers to intents, measurements. Plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gossip.client import events as ev
from gossip.client.messages import ChatMessage
from gossip.client.state import SessionState
from gossip.crypto.pins import Trust

from .callview import CallView

if TYPE_CHECKING:
    from .settings import Settings


@dataclass(frozen=True)
class Connecting:
    host: str
    port: int
    user: str
    attempt: int  # 1 for the first try from the connect screen


@dataclass(frozen=True)
class Online:
    """Logged in and synced (again, after a reconnect): the whole state to show."""

    host: str
    port: int
    user: str
    own_fingerprint: str
    state: SessionState


@dataclass(frozen=True)
class Reconnecting:
    reason: str
    delay: float
    attempt: int


@dataclass(frozen=True)
class ConnectFailed:
    """Connecting failed for good; the user has to change something (or try again)."""

    kind: str  # "login", "unreachable", "hub_key", "error"
    reason: str
    host: str = ""
    port: int = 0
    offered_fingerprint: str = ""  # for "hub_key": the new certificate to accept
    pinned_fingerprint: str = ""  # for "hub_key": the one pinned before
    code: str = ""  # the hub's error code ("login") or what failed ("unreachable": its cause)
    first_visit: bool = False  # no certificate was pinned for this hub yet


@dataclass(frozen=True)
class Offline:
    """The user disconnected; nothing will reconnect."""


@dataclass(frozen=True)
class MessageSent:
    message: ChatMessage


@dataclass(frozen=True)
class FileSaved:
    """The file of message `message_id` is saved, checked, at `path`."""

    message_id: str
    path: str
    sha256: str


@dataclass(frozen=True)
class TransferEnded:
    """The upload or download `file_id` is over, whichever way (done, failed, cancelled):
    its progress bar goes. `cancelled`: the user stopped it."""

    file_id: str
    cancelled: bool


@dataclass(frozen=True)
class PictureReady:
    """The picture of message `message_id`, made small to show inline (thumbnails.py)."""

    message_id: str
    width: int
    height: int
    rgba: bytes


@dataclass(frozen=True)
class PictureRefused:
    """The file of message `message_id` says it is a picture but is not shown: why, briefly."""

    message_id: str
    reason: str


@dataclass(frozen=True)
class CommandFailed:
    what: str
    reason: str


@dataclass(frozen=True)
class StateRefreshed:
    state: SessionState


@dataclass(frozen=True)
class LatencyMeasured:
    seconds: float | None


@dataclass(frozen=True)
class SafetyNumberReady:
    user: str
    number: str
    their_fingerprint: str
    own_fingerprint: str
    trust: Trust


@dataclass(frozen=True)
class TrustUpdated:
    user: str
    trust: Trust


@dataclass(frozen=True)
class CallChanged:
    view: CallView


@dataclass(frozen=True)
class NoticesLost:
    """The UI fell behind and some notices were dropped; it should ask for a fresh state."""

    count: int


@dataclass(frozen=True)
class BackendFailed:
    """The trio thread itself failed: nothing will work until the app is restarted."""

    reason: str


@dataclass(frozen=True)
class KeyringUpdated:
    """What the keyring made of UpdateKeyring: the settings as they now stand (not
    remembering, without the password, after a refusal) and the refusal in words, if any."""

    settings: Settings
    refusal: str | None


@dataclass(frozen=True)
class PasswordRecalled:
    """The keyring's answer to RecallPassword: for which login, the password ("" if none),
    and why it could not be read, if it could not."""

    account: str
    password: str
    problem: str | None


Notice = (Connecting | Online | Reconnecting | ConnectFailed | Offline | MessageSent
          | CommandFailed | StateRefreshed | LatencyMeasured | SafetyNumberReady | TrustUpdated
          | CallChanged | NoticesLost | BackendFailed | KeyringUpdated | PasswordRecalled
          | FileSaved | TransferEnded | PictureReady | PictureRefused
          | ev.SessionEvent)
