"""What a call shares with its peer links: the call owns it, links only read it (and write
their own LinkStats). Its own module, so that calls.py and peerlink.py need not import each
other; it loads media types and is imported only once a call starts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiortc.mediastreams import MediaStreamTrack

from gossip.crypto import Identity
from gossip.crypto.pins import Trust
from gossip.media.engine import AudioEngine
from gossip.media.framecrypt import CallFrames, Opening
from gossip.media.track import SourceFanout
from gossip.media.video import VideoFanout

from . import events as ev
from .calltypes import CallOptions, FrameSender


@dataclass
class CallContext:
    """What a call's peer links share (owned by the call; links only read it and write
    their own LinkStats)."""

    channel: str
    identity: Identity
    options: CallOptions
    engine: AudioEngine
    fanout: SourceFanout
    send: FrameSender
    joined_at: float
    clock: Callable[[], float]
    emit: Callable[[ev.SessionEvent], Awaitable[None]]
    video: VideoFanout | None = None
    video_enabled: bool = False
    links: Callable[[], int] = lambda: 1  # peer links now: they share the video budget
    # A peer's identity trust now (the call keeps it apart from the link's DTLS check).
    peer_trust: Callable[[str], Trust] = lambda user: Trust.NEW
    # Encode once, seal end to end (None: each link encodes its own, unsealed; benchmarks).
    frames: CallFrames | None = None
    # A peer's link is up: hand them our current frame key and say what we send (sealed
    # signalling).
    greet: Callable[[str], Awaitable[None]] | None = None
    # A link's track of the peer's audio, and where their frames are opened: the call plays
    # it now, or once a frame opens there if it still plays them another way (the relay).
    # (None: played at once.)
    take_audio: Callable[[str, MediaStreamTrack, Opening | None], None] | None = None
