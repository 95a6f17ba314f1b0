"""The vocabulary of calls, shared by the session, the call actor, its links and front ends:
options, the requests a call answers and the state it reports. Nothing here loads media:
chat front ends import it freely, and the media stack is loaded when a call starts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from gossip.actors import Request
from gossip.crypto import PublicKey
from gossip.crypto.pins import Trust
from gossip.fsm import ClientCallPhase
from gossip.media.defaults import DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH
from gossip.media.voicespec import TransmitMode, VoiceOptions
from gossip.wire import Frame

# Sends frames to the hub on the session's current connection (dropped if there is none:
# a call ends with its connection anyway).
FrameSender = Callable[[Sequence[Frame]], Awaitable[None]]


@dataclass(frozen=True)
class PeerIdentity:
    """The key the session now holds for a member, the trust its pins give it, and whether we
    may call that key in this call's channel: in a private channel only if the roster we
    verified names it (always in an open channel)."""

    key: PublicKey
    trust: Trust
    member: bool = True

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint


# The session's member directory as a call sees it: a member's identity now (None for a name
# the hub never announced a usable key for).
IdentityLookup = Callable[[str], "PeerIdentity | None"]

# A peer's link state when we refuse to call them: their key changed and was not accepted,
# or (PeerState.roster_member False) the private channel's verified roster does not name them.
NOT_CALLED = "not_called"

# Whether the verified roster of private `channel` names `user` under `fingerprint` (True for
# an open channel): who a private channel's call may reach.
MembershipCheck = Callable[[str, str, str], bool]

if TYPE_CHECKING:
    from gossip.media.sinks import AudioSink
    from gossip.media.sources import AudioSource
    from gossip.media.videoframes import LatestFrame
    from gossip.media.videosource import VideoSource


@dataclass(frozen=True)
class CallOptions:
    # A spec (tone:HZ, wav:PATH, null, mic[:DEVICE]) or a ready source object.
    source: str | AudioSource = "null"
    # A spec (wav:PATH, null, speaker[:DEVICE]) or a ready sink (tests keep a MemorySink).
    sink: str | AudioSink = "null"
    ice_hosts: tuple[str, ...] = ()  # addresses offered as ICE host candidates; () = all
    ice_servers: tuple[str, ...] = ()  # STUN/TURN URLs; none by default (offline-safe)
    muted: bool = False
    connect_timeout: float = 15.0
    link_restarts: int = 3        # per peer, within `link_restart_period` seconds
    link_restart_period: float = 60.0
    # A spec for parse_video_source (pattern, none, file:PATH, camera[:DEVICE], screen) or a
    # ready source; "none" sends no video (others' video is still received).
    video: str | VideoSource = "none"
    video_width: int = DEFAULT_WIDTH
    video_height: int = DEFAULT_HEIGHT
    video_fps: float = DEFAULT_FPS
    video_enabled: bool = True  # join with the camera on (when there is a source)
    # In a call through the relay: whose video we receive, the last N speakers (the rest
    # are tiles with initials). 0: none.
    relay_video_slots: int = 4
    # Echo cancellation, noise suppression, gain, high-pass and the transmit mode.
    voice: VoiceOptions = VoiceOptions()
    # Seal every audio and video frame end to end (gossip.crypto.frames); every member of a
    # call must agree. Off only for benchmarks, as is encoding per link instead of once.
    frame_encryption: bool = True
    encode_once: bool = True
    # A mesh link's audio received in place (gossip.media.meshreceive), its socket read at the
    # engine's playout ticks; "in-place-readiness": the socket read in place, woken by each
    # packet; "in-place-aioice": the socket read by aioice, a wake-up a packet; "aiortc":
    # through aiortc's receiver and decoder thread (old paths, benchmarks' baselines).
    mesh_receive: Literal["in-place", "in-place-readiness", "in-place-aioice", "aiortc"] = \
        "in-place"
    # With frames encoded once: we packetize and send the call's audio from one tick
    # (gossip.media.rtpsend), or aiortc's sender does for each link (benchmarks' baseline).
    send_path: Literal["ours", "aiortc"] = "ours"
    # With frames encoded once: a mesh call's video encoded once for all links
    # (gossip.media.videosend), or once per link ("per-link": the benchmarks' baseline).
    video_encode: Literal["once", "per-link"] = "once"

    def video_source(self) -> VideoSource | None:
        """The source to send, or None for no video (raises SpecError for a bad spec)."""
        if not isinstance(self.video, str):
            return self.video
        if self.video == "none":
            return None
        from gossip.media.videospec import parse_video_source  # media only for a call

        return parse_video_source(self.video, width=self.video_width,
                                  height=self.video_height, fps=self.video_fps)


@dataclass(frozen=True)
class CallFrame:
    """A frame for this call from the hub, with the keys of the users it concerns."""

    frame: Frame
    keys: Mapping[str, PublicKey]


@dataclass(frozen=True)
class SetMuted(Request[None]):
    muted: bool


@dataclass(frozen=True)
class SetDeafened(Request[None]):
    deafened: bool


@dataclass(frozen=True)
class SetVolume(Request[None]):
    peer: str
    volume: float


@dataclass(frozen=True)
class SetTransmit(Request[None]):
    """Send always, on voice activation, or while the push-to-talk key is held."""

    mode: TransmitMode


@dataclass(frozen=True)
class SetTalkKey(Request[None]):
    """The push-to-talk key went down (True) or up (False)."""

    held: bool


@dataclass(frozen=True)
class SetVideo(Request[None]):
    """Camera on or off: off stops sending our video (renegotiated), not the call."""

    enabled: bool


@dataclass(frozen=True)
class GetVideoFrames(Request["VideoFrames"]):
    """The pictures to show."""


@dataclass(frozen=True)
class VideoFrames:
    """The self-view (None without a video source) and one picture per peer. The objects
    stay the same for a peer's life in the call: ask again when the roster changes."""

    self_view: LatestFrame | None
    peers: Mapping[str, LatestFrame]


@dataclass(frozen=True)
class LeaveCall(Request[None]):
    pass


@dataclass(frozen=True)
class GetCallState(Request["CallState"]):
    pass


@dataclass(frozen=True)
class PeerState:
    """One peer of a call. Two separate questions: is the link authenticated (its DTLS
    certificate matched the one in the SDP their key signed), and who holds that key
    (`trust`, from the pins: a first-contact key is NEW however good its link is)."""

    user: str
    link: str                 # the peer-link machine's state ("not_called": key changed)
    frames_received: int
    setup_ms: float | None    # join to an authenticated, connected link
    first_audio_ms: float | None
    link_authenticated: bool  # DTLS certificate matched the signed SDP (says nothing of who)
    level_dbfs: float
    volume: float
    gave_up: bool
    trust: Trust = Trust.NEW  # the identity key's trust as pinned, refreshed as it changes
    fingerprint: str = ""     # the identity key the link is bound to (or was refused)
    # False: in a private channel's call roster (the hub put them there) but not in the
    # roster we verified; never called, nothing sealed to them (link is "not_called").
    roster_member: bool = True
    video_frames_received: int = 0
    video_fps: float = 0.0            # over the last ~2 s
    video_latency_ms: float | None = None  # pattern video only: drawn-in time to arrival
    video_counter: int | None = None       # pattern video only: the last counter decoded
    renegotiations: int = 0
    link_attempts: int = 0
    video_sent: str | None = None  # WxH@fps our video goes to this peer at (adapted)
    video_steps_down: int = 0
    speaking: bool = False  # speech in what they send now (see CallSpeaking)
    concealed: int = 0  # frames lost on the way and concealed (a talk pause is not loss)
    frame_keys: str = ""  # their frame keys as we hold them: awaiting_key, keyed, failing
    frames_undecryptable: int = 0  # their frames that did not open (no key, forged, stale)
    frame_key_id: int | None = None  # the newest of their frame keys we hold
    # Moves between mesh and relay, and those where the old path no longer played them when
    # the new one's first frame of theirs opened (a break: a gap in their voice).
    path_switches: int = 0
    path_breaks: int = 0
    # What they say they send, sealed and signed by them (None: not said yet). Their word,
    # not the truth: `speaking` and `level_dbfs` come from what we decode.
    muted: bool | None = None
    camera_on: bool | None = None

    @property
    def first_contact(self) -> bool:
        """Nothing vouches for this key: met for the first time (perhaps made up by the hub)."""
        return self.trust is Trust.NEW

    @property
    def identity_verified(self) -> bool:
        """The user compared safety numbers for exactly this key."""
        return self.trust is Trust.VERIFIED

    def as_json(self) -> dict[str, object]:
        return {"frames_received": self.frames_received, "setup_ms": _round(self.setup_ms),
                "first_audio_ms": _round(self.first_audio_ms),
                "trust": self.trust.value, "fingerprint": self.fingerprint,
                "link_authenticated": self.link_authenticated,
                "level_dbfs": round(self.level_dbfs, 1), "link": self.link,
                "roster_member": self.roster_member,
                "video_frames_received": self.video_frames_received,
                "video_fps": round(self.video_fps, 1),
                "video_latency_ms": _round(self.video_latency_ms),
                "video_sent": self.video_sent, "speaking": self.speaking,
                "concealed": self.concealed, "frame_keys": self.frame_keys,
                "frames_undecryptable": self.frames_undecryptable,
                "muted": self.muted, "camera_on": self.camera_on}


@dataclass(frozen=True)
class CallState:
    channel: str
    state: ClientCallPhase
    members: tuple[str, ...]
    muted: bool
    deafened: bool
    peers: Mapping[str, PeerState]
    transmit: TransmitMode = TransmitMode.CONTINUOUS
    speaking: bool = False  # we are sending speech now
    talk_key_held: bool = False
    processing: str = "none"  # the voice-processing stages running on our microphone
    frames_sent: int = 0  # microphone frames sent (a talk pause sends none)
    frames_captured: int = 0
    frame_key_id: int | None = None  # the key our frames are sealed under (None: unsealed)
    relayed: bool = False  # through the hub's relay (gossip.relay), not a mesh of links
    # Call signals refused, by reason: a check failed (bad_signature, stale, misrouted ...),
    # "replayed" (a frame key no newer than the last taken), "not_in_call" (from no peer).
    signals_refused: Mapping[str, int] = field(default_factory=dict)
    # Our video: pictures read from the source, and frames the call's one encoder made from
    # them (a mesh call encodes once for all links; 0 when each link encodes its own).
    video_pictures: int = 0
    video_frames_encoded: int = 0

    def as_json(self) -> dict[str, object]:
        return {"channel": self.channel, "transmit": self.transmit.value,
                "processing": self.processing, "frames_sent": self.frames_sent,
                "frames_captured": self.frames_captured,
                "peers": {user: peer.as_json() for user, peer in sorted(self.peers.items())}}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
