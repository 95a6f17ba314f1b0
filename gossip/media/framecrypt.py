"""Frame encryption on a call's media path: encode once, seal once, packetize per link.

    frames = CallFrames(SourceFanout(source))        # the call's sealer and Opus encoder
    link = MediaLink(frames.audio_track(), ..., video_track=frames.video_track(video_track),
                     open_frames=frames.peer("bob"))   # bob's frames are opened on arrival

Sending: `EncodedAudio` encodes each 20 ms slot of the microphone once with Opus and seals it
once (gossip.crypto.frames); every link's `EncodedAudioTrack` hands those bytes to aiortc as
an `av.Packet`, which aiortc only packetizes. A mesh call's video is encoded and sealed once
too (gossip.media.videosend); `EncodedVideoTrack` encodes one link's own (the relay's one link,
and the benchmarks' baseline). No plain frame ever reaches aiortc's sender, so none can reach
the wire.

Receiving: each peer's frames are opened between aiortc's jitter buffer and its decoder
(`OpeningBuffer`). `PeerFrames` counts what opened and what did not; a sender whose frames
keep failing is `failing` until one opens again.

Codec bits a forwarder may need stay clear but authenticated: Opus's TOC byte; VP8's 3-byte
frame tag, plus the 7 bytes of start code and size on a keyframe.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import trio
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RtpPacket
from av import VideoFrame
from av.packet import Packet

from gossip.crypto.frames import FrameKey, FrameOpener, FrameOpenError, FrameSealer

from .aiortc_seams import (
    JitterBufferLike,
    WholeFrameVp8Encoder,
    on_keyframe_request,
    sender_enabled,
)
from .fecpolicy import FecPolicy
from .format import FRAME_SAMPLES, SAMPLE_RATE
from .opusfec import AdaptiveOpusEncoder, FecSettings
from .track import SourceFanout

if TYPE_CHECKING:
    from .videosend import SharedVideo

logger = logging.getLogger(__name__)

Kind = Literal["audio", "video"]
_AUDIO_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
_VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
_CACHED_SLOTS = 8  # as SourceFanout: a lagging link skips to the present
# Frames in a row that do not open before a sender counts as failing (a second of audio):
# the first frames of a link may come before its sender's key does.
FAILING_STREAK = 50


def clear_bytes(kind: Kind, frame: bytes) -> int:
    """How many leading bytes of an encoded frame stay readable (and authenticated)."""
    if not frame:
        return 0
    if kind == "audio":
        return 1  # Opus TOC: mode, bandwidth, frame size
    keyframe = frame[0] & 0x01 == 0  # VP8 frame tag, RFC 6386 section 9.1
    return min(len(frame), 10 if keyframe else 3)


def seal_frame(sealer: FrameSealer, kind: Kind, frame: bytes) -> bytes:
    clear = clear_bytes(kind, frame)
    return sealer.seal(frame[:clear], frame[clear:])


def open_frame(opener: FrameOpener, kind: Kind, sealed: bytes, now: float) -> bytes:
    """The encoded frame inside `sealed` (FrameOpenError if it does not open)."""
    return opener.open(sealed, clear_bytes(kind, sealed), now)


class PeerFrames:
    """One sender's frames as we receive them: their keys, and what opened and what not."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.opener = FrameOpener()
        self.failed_by_reason: collections.Counter[str] = collections.Counter()
        self.streak = 0  # failures since the last frame that opened
        self.failing = False
        self.changed = trio.Event()  # set (and replaced) when `failing` flips

    @property
    def opened(self) -> int:
        return self.opener.opened

    @property
    def failed(self) -> int:
        return self.opener.failed

    def add_key(self, key: FrameKey) -> None:
        self.opener.add_key(key, trio.current_time())

    def authentic(self, kind: Kind, sealed: bytes) -> bool:
        """Whether the frame opens, leaving no trace (see FrameOpener.authentic)."""
        return self.opener.authentic(sealed, clear_bytes(kind, sealed), trio.current_time())

    def open(self, kind: Kind, sealed: bytes) -> bytes | None:
        try:
            plain = open_frame(self.opener, kind, sealed, trio.current_time())
        except FrameOpenError as exc:
            self.failed_by_reason[exc.reason] += 1
            self.streak += 1
            if self.streak >= FAILING_STREAK and not self.failing:
                logger.warning("frames from %s do not open: %s", self.peer, exc)
                self._flip(True)
            return None
        self.streak = 0
        if self.failing:
            self._flip(False)
        return plain

    def _flip(self, failing: bool) -> None:
        self.failing = failing
        self.changed.set()
        self.changed = trio.Event()


class Opening(Protocol):
    """Where one sender's frames are opened on a receive path (an OpeningBuffer at aiortc's
    jitter buffer, or a relay slot of ours): whose frames, and whether the path is on trial
    (frames only checked, the first authentic one sets the event, nothing played)."""

    frames: PeerFrames | None
    trial: trio.Event | None


class OpeningBuffer:
    """aiortc's jitter buffer interface around the receiver's own buffer: each frame it
    rebuilds is opened (as `frames`' sender's) before the decoder sees it; one that does not
    open is dropped, and so is everything while `frames` is None.

    A path on trial (`trial` set: a call moving between mesh and relay still plays the
    sender through the other path) passes nothing on: each frame is only checked, and the
    first that opens sets `trial`; the call then takes this path and clears it. Checking
    leaves no trace, so the counters the old path still plays are not used up here."""

    def __init__(self, inner: JitterBufferLike, frames: PeerFrames | None, kind: Kind) -> None:
        self.inner = inner
        self.frames = frames
        self.kind = kind
        self.tap: list[bytes] | None = None  # tests: keep what arrived sealed
        self.trial: trio.Event | None = None

    @property
    def capacity(self) -> int:
        return self.inner.capacity

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        ask_keyframe, frame = self.inner.add(packet)
        if frame is None:
            return ask_keyframe, None
        if self.tap is not None and len(self.tap) < 500:
            self.tap.append(frame.data)
        if self.frames is None:  # a relay's slot nobody is assigned to
            return ask_keyframe, None
        if self.trial is not None:
            if not self.trial.is_set() and self.frames.authentic(self.kind, frame.data):
                self.trial.set()
            return ask_keyframe, None
        plain = self.frames.open(self.kind, frame.data)
        if plain is None:
            # A video frame lost means the pictures after it cannot decode: ask for a keyframe.
            return ask_keyframe or self.kind == "video", None
        frame.data = plain
        return ask_keyframe, frame


class EncodedAudio:
    """A call's one Opus encoder: each 20 ms slot of the source encoded and sealed once.

    Its in-band FEC follows the loss our audio's receivers report (gossip.media.fecpolicy):
    each link hands its RTCP reports to `loss_reported` (gossip.media.lossreports)."""

    def __init__(self, fanout: SourceFanout, sealer: FrameSealer | None) -> None:
        self.fanout = fanout
        self.sealer = sealer
        self.frames_encoded = 0
        self.fec_policy = FecPolicy()
        self.fec_switches = 0  # times FEC went on or off
        self.reported = trio.Event()  # set (and replaced) at each receiver report
        self._encoder = AdaptiveOpusEncoder(self.fec_policy.settings)
        self._cache: collections.OrderedDict[int, bytes | None] = collections.OrderedDict()
        self._last_slot = -1

    @property
    def fec(self) -> FecSettings:
        """The settings the encoder codes with now."""
        return self._encoder.settings

    def set_fec(self, settings: FecSettings) -> None:
        """Code with `settings` from the next slot on (the policy's, or a benchmark's)."""
        if settings.fec != self._encoder.settings.fec:
            self.fec_switches += 1
        self._encoder.apply(settings)

    def loss_reported(self, link: str, fraction_lost: float, now: float) -> None:
        """A receiver report from `link`: FEC on, off or planned for more or less loss."""
        settings = self.fec_policy.observe(link, fraction_lost, now)
        if settings is not None:
            self._follow(settings, f"{link} reported {fraction_lost:.1%} lost")
        self.reported.set()
        self.reported = trio.Event()

    def link_gone(self, link: str, now: float) -> None:
        settings = self.fec_policy.forget(link, now)
        if settings is not None:
            self._follow(settings, f"{link} left")

    def _follow(self, settings: FecSettings, why: str) -> None:
        logger.info("audio FEC %s, expecting %d%% loss (%s; worst smoothed %.1f%%)",
                    "on" if settings.fec else "off", settings.expected_loss_percent, why,
                    100 * self.fec_policy.worst_loss)
        self.set_fec(settings)

    def track(self) -> EncodedAudioTrack:
        return EncodedAudioTrack(self)

    def frame_for(self, slot: int) -> bytes | None:
        """The sealed Opus frame for `slot` (None: too old, a pause in voice activation or
        push-to-talk: nothing is sent for the slot)."""
        if slot > self._last_slot:
            self._last_slot = slot
            samples = self.fanout.frame_for(slot)
            self._cache[slot] = None if samples is None else self._encode(samples)
            while len(self._cache) > _CACHED_SLOTS:
                self._cache.popitem(last=False)
        return self._cache.get(slot)

    def _encode(self, samples: np.ndarray) -> bytes:
        """One slot's samples as a sealed Opus frame."""
        data = self._encoder.encode(np.ascontiguousarray(samples, dtype=np.int16))
        self.frames_encoded += 1
        if self.sealer is not None:
            data = seal_frame(self.sealer, "audio", data)
        return data


class EncodedAudioTrack(MediaStreamTrack):
    """One link's audio: the call's encoded frames as packets, paced on the fanout's slots."""

    kind = "audio"

    def __init__(self, encoded: EncodedAudio) -> None:
        super().__init__()
        self.encoded = encoded
        self.frames_sent = 0
        self._slot: int | None = None

    async def recv(self) -> Packet:  # type: ignore[override]
        fanout = self.encoded.fanout
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            self._slot = await fanout.next_slot(self._slot)
            data = self.encoded.frame_for(self._slot)
            if data is None:
                continue
            packet = Packet(data)
            packet.pts = self._slot * FRAME_SAMPLES
            packet.time_base = _AUDIO_TIME_BASE
            self.frames_sent += 1
            return packet


class EncodedVideoTrack(MediaStreamTrack):
    """One link's video: the pictures of `source` (a paced track) encoded with VP8 and sealed
    here, so aiortc only packetizes them. A keyframe request reaches `request_keyframe`."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, sealer: FrameSealer | None) -> None:
        super().__init__()
        self.source = source
        self.sealer = sealer
        self.frames_sent = 0
        self._encoder = WholeFrameVp8Encoder()
        self._keyframe_wanted = True
        self._sender: RTCRtpSender | None = None

    def attach(self, sender: RTCRtpSender) -> None:
        """The aiortc sender that sends this track: its keyframe requests become ours, and
        while it is disabled nothing is encoded (it would drop the frames a decoder needs)."""
        self._sender = sender
        on_keyframe_request(sender, self.request_keyframe)

    def request_keyframe(self) -> None:
        self._keyframe_wanted = True

    async def recv(self) -> Packet:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            frame = await self.source.recv()
            assert isinstance(frame, VideoFrame)
            if self._sender is not None and not sender_enabled(self._sender):
                self._keyframe_wanted = True  # the peer gets nothing until it is enabled again
                return _empty_video_packet(frame)
            keyframe, self._keyframe_wanted = self._keyframe_wanted, False
            # As aiortc does: VP8 holds the GIL only part of the time; off the loop thread.
            payloads, timestamp = await loop.run_in_executor(
                None, self._encoder.encode, frame, keyframe
            )
            if not payloads:
                continue
            data = payloads[0]
            if self.sealer is not None:
                data = seal_frame(self.sealer, "video", data)
            packet = Packet(data)
            packet.pts = timestamp
            packet.time_base = _VIDEO_TIME_BASE
            self.frames_sent += 1
            return packet

    def stop(self) -> None:
        super().stop()
        self.source.stop()


def _empty_video_packet(frame: VideoFrame) -> Packet:
    """A packet the sender drops (it is disabled) or, should it be enabled meanwhile, cuts
    into no payload at all: nothing is sent."""
    packet = Packet(b"")
    packet.pts = frame.pts
    packet.time_base = frame.time_base or _VIDEO_TIME_BASE
    return packet


class AudioTracks(Protocol):
    """What makes each link's audio track from the call's encoder instead of aiortc's
    sender pulling an EncodedAudioTrack (gossip.media.rtpsend.AudioSending)."""

    def track(self) -> MediaStreamTrack: ...


class CallFrames:
    """A call's frame path: its sealer (None when frame encryption is off), its one audio
    encoder, and each peer's PeerFrames. The call decides when keys change. With `sending`
    set (gossip.media.rtpsend), links' audio tracks come from it: we packetize and send."""

    def __init__(self, fanout: SourceFanout, *, encrypt: bool = True) -> None:
        self.sealer = FrameSealer() if encrypt else None
        self.audio = EncodedAudio(fanout, self.sealer)
        self.sending: AudioTracks | None = None
        # A mesh call's video encoded once for all links (gossip.media.videosend); None:
        # each link encodes its own (`video_track`: the relay's one link, and benchmarks).
        self.video: SharedVideo | None = None
        self._peers: dict[str, PeerFrames] = {}

    def audio_track(self) -> MediaStreamTrack:
        if self.sending is not None:
            return self.sending.track()
        return self.audio.track()

    def video_track(self, source: MediaStreamTrack) -> EncodedVideoTrack:
        return EncodedVideoTrack(source, self.sealer)

    def peer(self, user: str) -> PeerFrames | None:
        """`user`'s frames as we open them (None when frames are not encrypted)."""
        if self.sealer is None:
            return None
        if user not in self._peers:
            self._peers[user] = PeerFrames(user)
        return self._peers[user]

    def forget(self, user: str) -> None:
        self._peers.pop(user, None)
