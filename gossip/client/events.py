"""What a client session tells its front end (CLI, desktop app): plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass

from gossip.crypto.pins import Trust
from gossip.media.devicekind import DeviceKind

from .messages import ChatMessage


@dataclass(frozen=True)
class Connected:
    hub: str
    fingerprint: str
    first_use: bool  # the hub's certificate was pinned just now


@dataclass(frozen=True)
class InLoginLine:
    """The hub is taking logins in turn (a reconnect storm) and says we are `place` in its
    line (1: next), about `wait` seconds from a turn: its word, shown, never trusted for a
    timer (bounded by the client's own limit on the whole login)."""

    place: int
    wait: float


@dataclass(frozen=True)
class Synced:
    members: tuple[str, ...]
    channels: tuple[str, ...]


@dataclass(frozen=True)
class MemberJoined:
    """An identity the hub says is here (during the first sync too): nobody joins silently.
    Trust NEW means first contact: nothing vouches for this key yet."""

    user: str
    fingerprint: str
    trust: Trust


@dataclass(frozen=True)
class MemberLeft:
    user: str
    fingerprint: str = ""  # the key they had here ("" if the session never saw one)
    trust: Trust | None = None


@dataclass(frozen=True)
class OwnKeyForged:
    """Loudest alarm: the hub announced a key under *our own* name that is not ours. The hub
    is lying or compromised (someone could read what is sealed to that key and speak as us);
    the key is refused and nothing is ever sealed to it."""

    user: str
    ours: str
    offered: str


@dataclass(frozen=True)
class MessagesMissing:
    """A sender's messages skipped over in their sender key's sequence: `count` did not
    arrive (the hub dropped them, or they are still on their way)."""

    sender: str
    channel: str
    count: int


@dataclass(frozen=True)
class KeyChanged:
    """Loud: the hub handed out a key for `user` other than the pinned one."""

    user: str
    pinned: str
    offered: str


@dataclass(frozen=True)
class ChannelsChanged:
    channels: tuple[str, ...]


@dataclass(frozen=True)
class MessageReceived:
    message: ChatMessage
    late: bool = False  # delivered after a later message of the same sender key


@dataclass(frozen=True)
class MessageDiscarded:
    """A message that failed its checks (the client's MessageRejected) was not shown."""

    sender: str
    channel: str
    reason: str
    detail: str


@dataclass(frozen=True)
class MessageExpired:
    id: str
    channel: str


@dataclass(frozen=True)
class HubError:
    """The hub refused something we sent, without closing the connection."""

    code: str
    reason: str


@dataclass(frozen=True)
class Disconnected:
    """The connection to the hub ended; with `retry_in`, the session reconnects by itself
    after that many seconds (code "reconnecting")."""

    code: str
    reason: str
    retry_in: float | None = None


# -- calls ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallStarted:
    """The hub says a call is going on in `channel` (it started, or was on when we came) with
    `users` in it. Hub-reported: unverified until we join and the peers authenticate."""

    channel: str
    users: tuple[str, ...]


@dataclass(frozen=True)
class CallRosterChanged:
    """The hub says who is in `channel`'s call changed (unverified, as CallStarted)."""

    channel: str
    users: tuple[str, ...]


@dataclass(frozen=True)
class CallEnded:
    """The hub says nobody is in `channel`'s call any more."""

    channel: str


CallPresenceEvent = CallStarted | CallRosterChanged | CallEnded


@dataclass(frozen=True)
class CallMembersChanged:
    channel: str
    users: tuple[str, ...]


@dataclass(frozen=True)
class CallPeerConnected:
    """A link is up and the peer's DTLS certificate matched their signed SDP: the media is
    bound to the key the hub handed out for them. Who holds that key is `trust`: NEW is a
    first contact nothing vouches for (the hub may have made it up)."""

    channel: str
    user: str
    setup_ms: float
    trust: Trust = Trust.NEW  # the peer's identity key as pinned (never assumed better)
    fingerprint: str = ""  # the key the link is bound to

    @property
    def first_contact(self) -> bool:
        return self.trust is Trust.NEW


@dataclass(frozen=True)
class CallPeerUnknown:
    """Loud: someone in the call roster whose key this client met for the first time (a
    newcomer, or a ghost the hub invented). They are called, but nothing vouches for them
    until the user compares safety numbers."""

    channel: str
    user: str
    fingerprint: str


@dataclass(frozen=True)
class CallPeerKeyChanged:
    """Loud: someone in the call roster whose key changed and was not accepted. Nothing is
    sealed to that key: no offer, no answer, no link, until the user accepts it."""

    channel: str
    user: str
    fingerprint: str  # the key the hub now hands out for them


@dataclass(frozen=True)
class CallPeerNotMember:
    """Loud: the hub put someone in a private channel's call whom the channel's verified
    roster does not name under this key (a ghost, or a member since removed). They are never
    called: no offer, no answer, nothing sealed to them."""

    channel: str
    user: str
    fingerprint: str  # the key the hub hands out for them


@dataclass(frozen=True)
class CallPeerLeft:
    channel: str
    user: str


@dataclass(frozen=True)
class CallPeerFailed:
    """A link kept failing past its restart intensity and was given up."""

    channel: str
    user: str
    reason: str


@dataclass(frozen=True)
class CallPeerUndecryptable:
    """A member's media frames keep failing to open (no key came, or not theirs): they are
    in the call but not heard."""

    channel: str
    user: str
    reason: str


@dataclass(frozen=True)
class CallPeerDecryptable:
    """A member's media frames open again after CallPeerUndecryptable."""

    channel: str
    user: str


@dataclass(frozen=True)
class CallDeviceLost:
    """The microphone or speakers (`kind`) the call used, named `device` ("" = the default),
    went away mid-call (unplugged); the call now uses the system default, or nothing if
    `problem` says why not. The choice of device is kept for the next call."""

    channel: str
    kind: DeviceKind
    device: str
    problem: str = ""


@dataclass(frozen=True)
class CallRelayFailed:
    """The relay the hub named for this call could not be used (refused, unreachable, another
    certificate than the hub named); a call small enough goes back to the mesh."""

    channel: str
    reason: str


@dataclass(frozen=True)
class CallSignalRejected:
    channel: str
    user: str
    reason: str


@dataclass(frozen=True)
class CallRefused:
    channel: str
    code: str
    reason: str


@dataclass(frozen=True)
class CallLeft:
    channel: str


@dataclass(frozen=True)
class CallSpeaking:
    """Someone in the call (us included, under our own name) started or stopped speaking:
    speech detected in what they send (with a short hangover), never from silence."""

    channel: str
    user: str
    speaking: bool


@dataclass(frozen=True)
class MessageDelayed:
    """The hub refused one of our messages for now (over a rate or a byte budget); it goes
    out again by itself in `retry_in` seconds."""

    id: str
    channel: str
    code: str
    retry_in: float


@dataclass(frozen=True)
class MessageNotSent:
    """The hub refused one of our messages for good: it did not reach anyone."""

    id: str
    channel: str
    code: str
    reason: str


@dataclass(frozen=True)
class HubReportedMissed:
    """The hub says `count` messages from `sender` in `channel` did not reach us (we were
    behind, or let go as slow), the first `seconds` ago; the sender was asked to resend."""

    sender: str
    channel: str
    count: int
    seconds: float


# -- private channels -------------------------------------------------------------------------

@dataclass(frozen=True)
class RosterMember:
    """A member a private channel's verified roster names, with our trust in that key."""

    user: str
    fingerprint: str
    trust: Trust
    owner: bool = False


@dataclass(frozen=True)
class RosterChanged:
    """A private channel's roster, verified, changed (or arrived): these are its members now;
    `member` says whether we are one (only then do we send and read there)."""

    channel: str
    owner: str
    members: tuple[RosterMember, ...]
    member: bool


@dataclass(frozen=True)
class RosterAlarm:
    """Something is wrong with a private channel's roster (kind: forged, forked, withheld,
    excluded; see gossip.client.private.AlarmKind): the hub (or a member) lies, or withholds
    the log. Nothing is sealed there until a verified roster names us again."""

    channel: str
    kind: str
    detail: str


@dataclass(frozen=True)
class FileProgress:
    """A file on its way up (`direction` "up") or down ("down"): `done` of `total` plaintext
    bytes, at `bytes_per_second` (over the transfer so far). The last one has done == total."""

    file_id: str
    name: str
    direction: str
    done: int
    total: int
    bytes_per_second: float


SessionEvent = (Connected | InLoginLine | Synced | MemberJoined | MemberLeft | OwnKeyForged
                | KeyChanged
                | ChannelsChanged | MessagesMissing | MessageDelayed | MessageNotSent
                | HubReportedMissed | MessageReceived | MessageDiscarded | MessageExpired
                | HubError | Disconnected
                | CallMembersChanged | CallPeerConnected | CallPeerUnknown
                | CallPeerKeyChanged | CallPeerNotMember | CallPeerLeft | CallPeerFailed
                | CallPeerUndecryptable | CallPeerDecryptable | CallDeviceLost | CallRelayFailed
                | CallSignalRejected | CallRefused | CallLeft | CallSpeaking | RosterChanged
                | RosterAlarm | CallStarted | CallRosterChanged | CallEnded
                | FileProgress)
