"""What the user wants done, as the render thread hands it to the bridge: plain frozen values.

The bridge's actor carries them out on the trio thread, mostly by asking the session or the
call (gossip.client.commands, gossip.client.calltypes), and answers with notices (see
notices.py), never with return values. The names differ from the client's requests on
purpose: `LeaveChannelCall` is what the user clicked, `LeaveCall` what the call actor is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import Settings

from gossip.media.voicespec import VoiceOptions


@dataclass(frozen=True)
class ConnectToHub:
    host: str
    port: int
    user: str
    password: str
    profile_dir: Path | None = None  # None: the user's default profile directory
    tls: bool = True


@dataclass(frozen=True)
class DisconnectFromHub:
    """Leave the hub politely and stop reconnecting."""


@dataclass(frozen=True)
class RetryConnectionNow:
    """While reconnecting: cut the backoff pause short and try at once ("Retry now")."""


@dataclass(frozen=True)
class SubmitMessage:
    """The composer's text, to send to `channel` (checked again before it goes)."""

    channel: str
    text: str
    ttl: float
    reply_to: str = ""  # the id of the message it answers


@dataclass(frozen=True)
class EditMessage:
    """New text for one of our messages (`ref`, its id)."""

    ref: str
    text: str


@dataclass(frozen=True)
class ReactToMessage:
    """Our reaction under message `ref` ("" takes it back)."""

    ref: str
    emoji: str


@dataclass(frozen=True)
class AcceptChangedKey:
    """Pin the changed key now offered for `user` (after the user confirmed it)."""

    user: str


@dataclass(frozen=True)
class MarkKeyVerified:
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


# -- voice: carried out by the call side (trioside/callcontrol.py), answered with a CallView --
# The Choose* intents are preferences: applied to the call at once when in one, and kept for
# the next call otherwise.

@dataclass(frozen=True)
class JoinChannelCall:
    channel: str


@dataclass(frozen=True)
class LeaveChannelCall:
    """Leave the call we are in (or joining)."""


@dataclass(frozen=True)
class ChooseMuted:
    muted: bool


@dataclass(frozen=True)
class ChooseDeafened:
    deafened: bool


@dataclass(frozen=True)
class ChoosePeerVolume:
    user: str
    volume: float  # 0.0 .. 2.0, 1.0 = as received


@dataclass(frozen=True)
class ChooseDevices:
    input_device: str  # "" = the system default
    output_device: str


@dataclass(frozen=True)
class ChooseIceHosts:
    """The addresses the next call offers as ICE host candidates; () = the default choice."""

    hosts: tuple[str, ...]


@dataclass(frozen=True)
class ChooseVideo:
    """Turn our camera (or whatever the video source is) on or off, in the call and after."""

    enabled: bool


@dataclass(frozen=True)
class ChooseVideoSource:
    """Send video from this source spec (camera[:DEV], screen, pattern, file:PATH, none)
    from now on: in the call at once, else from the next one."""

    spec: str


@dataclass(frozen=True)
class UpdateKeyring:
    """Put the password into the system keyring, or take it out, as `settings` asks after
    `previous`. Off the render thread: a keyring may take seconds (D-Bus, an unlock prompt)."""

    previous: Settings
    settings: Settings


@dataclass(frozen=True)
class RecallPassword:
    """Read the password remembered for this login from the keyring (off the render thread)."""

    settings: Settings


@dataclass(frozen=True)
class ChooseVoice:
    """Processing stages and transmit mode: the mode applies at once, the stages from the
    next call."""

    voice: VoiceOptions


@dataclass(frozen=True)
class HoldTalkKey:
    """The push-to-talk key went down (True) or up (False) in the app's window."""

    held: bool


CallIntent = (JoinChannelCall | LeaveChannelCall | ChooseMuted | ChooseDeafened | ChoosePeerVolume
              | ChooseDevices | ChooseIceHosts | ChooseVideo | ChooseVideoSource
              | HoldTalkKey | ChooseVoice)
# -- files: carried out in the background (gossip.client.filesend), answered with notices --

@dataclass(frozen=True)
class AttachFile:
    """Send the file at `path` to `channel` (uploaded, then posted as a file message). The
    upload's progress comes as FileProgress events under `file_id` (chosen by the app, so it
    can show and cancel the upload before the hub has seen a byte)."""

    channel: str
    path: Path
    ttl: float
    file_id: str = ""


@dataclass(frozen=True)
class SaveFile:
    """Fetch, check and save the file of message `message_id` into `directory`."""

    message_id: str
    directory: Path
    file_id: str = ""  # the manifest's, so the transfer can be cancelled by it
    # Only to show it inline: fetched into `directory` (a cache), made a thumbnail of, and
    # deleted; not "saved".
    preview: bool = False


@dataclass(frozen=True)
class CancelTransfer:
    """Stop the upload or download `file_id` (nothing partial is kept or shown)."""

    file_id: str


Intent = (ConnectToHub | DisconnectFromHub | SubmitMessage | EditMessage | ReactToMessage
          | RetryConnectionNow
          | AcceptChangedKey | MarkKeyVerified
          | ComputeSafetyNumber | AcceptHubKey | RefreshState | UpdateKeyring | RecallPassword
          | CallIntent | AttachFile | SaveFile | CancelTransfer)
