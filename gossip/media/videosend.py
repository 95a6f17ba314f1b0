"""A mesh call's video encoded and sealed once, however many links send it.

Each mesh link used to encode its own VP8 stream (`EncodedVideoTrack` per link): with three
peers, three encoders ran the same pictures, and VP8 through PyAV holds the GIL. Here the
call has one `SharedVideo`: one paced picture track, one encoder, one sealer; each link's
`LinkVideoTrack` hands the same sealed frames to its aiortc sender, which only packetizes them.

    shared = SharedVideo(fanout, sealer)
    link = MediaLink(..., video_track=shared.link_track())

There is no task of its own: whichever link asks first for a frame not yet made reads the
source and encodes it (the leader); links asking meanwhile wait for it. The last frames are
kept in a short ring, so a link whose sender was briefly slower still gets each in order. VP8
frames depend on the ones before, so a link that missed one (it fell behind the ring, or its
sender was disabled) passes nothing on until a keyframe, and asks for one; a keyframe request
from any link's receiver makes the next frame a keyframe for all (at most one every
KEYFRAME_GAP seconds, whoever asks).

Quality: each link's adapter (gossip.media.adapt) still says what its peer can take; the one
stream is encoded at the lowest of them (`set_quality` on a link). The mesh's send budget
still divides by the number of links: encoding once no longer costs more per link, but each
receiver still decodes everyone's stream.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import math
from dataclasses import dataclass

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender
from av import VideoFrame
from av.packet import Packet

from gossip.crypto.frames import FrameSealer

from .adapt import Quality
from .aiortc_seams import WholeFrameVp8Encoder, on_keyframe_request, sender_enabled
from .framecrypt import seal_frame
from .video import VideoFanout, VideoSourceTrack

_VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
# Frames kept for links whose sender asks a little later than the leader (a second at 8 fps,
# a quarter of one at 30): more would only delay a link that is really behind.
RING_FRAMES = 8
# Keyframes made on request at most this often: one peer's receiver (or a hostile member
# sending keyframe requests on end) would otherwise make every frame a keyframe for all of
# them. A link waiting for one shows its last picture that much longer.
KEYFRAME_GAP = 0.5


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One slot of the call's video: its sealed VP8 frame (None when no link sends, or the
    encoder gave nothing) and its 90 kHz timestamp."""

    index: int
    data: bytes | None
    keyframe: bool
    pts: int

    @property
    def skipped(self) -> bool:
        """Nothing to send for this slot (nobody was sending, or the encoder gave nothing)."""
        return not self.data


class SharedVideo:
    """The call's one video encoder for all its mesh links."""

    def __init__(self, fanout: VideoFanout, sealer: FrameSealer | None) -> None:
        self.fanout = fanout
        self.sealer = sealer
        self.frames_encoded = 0
        self.keyframes = 0
        self._enabled = True  # the camera: off sends black frames (see VideoSourceTrack)
        self._source: VideoSourceTrack | None = None
        self._encoder = WholeFrameVp8Encoder()
        self._ring: collections.deque[EncodedFrame] = collections.deque(maxlen=RING_FRAMES)
        self._next_index = 0
        self._keyframe_wanted = True
        self._last_keyframe = -math.inf  # loop time of the last keyframe asked for
        self._leading: asyncio.Future[None] | None = None  # set while a leader makes a frame
        self._encoding: asyncio.Future[tuple[list[bytes], int]] | None = None
        self._links: dict[LinkVideoTrack, Quality | None] = {}
        self._quality: Quality | None = None

    # -- links --------------------------------------------------------------------------------
    def link_track(self) -> LinkVideoTrack:
        """A new link's video track, sending this call's frames."""
        track = LinkVideoTrack(self)
        self._links[track] = None
        self.request_keyframe()  # its peer's decoder starts from nothing
        return track

    def leave(self, track: LinkVideoTrack) -> None:
        self._links.pop(track, None)
        if not self._links and self._source is not None:
            # Nobody reads the pictures now: a later link starts a fresh paced track (the old
            # one would count the idle time as slots skipped).
            self._source.stop()
            self._source = None
        self._apply_quality()

    def want(self, track: LinkVideoTrack, quality: Quality) -> None:
        """What `track`'s peer can take now; the stream follows the lowest of its links."""
        if track in self._links:
            self._links[track] = quality
            self._apply_quality()

    def request_keyframe(self) -> None:
        self._keyframe_wanted = True

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        if self._source is not None:
            self._source.enabled = enabled

    @property
    def newest_index(self) -> int:
        """The index of the newest frame made (-1 before the first)."""
        return self._next_index - 1

    @property
    def quality(self) -> Quality | None:
        """What the stream is encoded at now (None: the source's own)."""
        return self._quality

    @property
    def slots_skipped(self) -> int:
        """Picture slots the encoder fell behind on (it is busy, or the CPU is)."""
        return self._source.slots_skipped if self._source is not None else 0

    def _apply_quality(self) -> None:
        wanted = [quality for quality in self._links.values() if quality is not None]
        # The lowest by cost: a link that can take less decides (no simulcast yet).
        self._quality = min(wanted, key=lambda q: (q.pixel_rate, q.fps)) if wanted else None
        if self._source is not None:
            self._set_source_quality(self._source)

    def _set_source_quality(self, source: VideoSourceTrack) -> None:
        picture = self.fanout.source
        quality = self._quality or Quality(picture.width, picture.height, picture.fps)
        source.set_quality(quality.width, quality.height, quality.fps)

    def _paced_source(self) -> VideoSourceTrack:
        if self._source is None:
            self._source = self.fanout.track()
            self._source.enabled = self._enabled
            self._set_source_quality(self._source)
        return self._source

    # -- frames -------------------------------------------------------------------------------
    async def frame_after(self, index: int) -> EncodedFrame:
        """The first kept frame after `index` (the oldest kept one if `index` fell out of the
        ring: the caller sees the gap), waiting for it to be made."""
        while True:
            for frame in self._ring:
                if frame.index > index:
                    return frame
            if self._leading is None:
                await self._lead()
            else:
                # shield: a waiter cancelled (its link closing) must not cancel the leader.
                await asyncio.shield(self._leading)

    async def _lead(self) -> None:
        loop = asyncio.get_running_loop()
        self._leading = loop.create_future()
        try:
            picture = await self._paced_source().recv()
            assert isinstance(picture, VideoFrame)
            self._ring.append(await self._encode(loop, picture))
        finally:
            leading, self._leading = self._leading, None
            leading.set_result(None)

    async def _encode(self, loop: asyncio.AbstractEventLoop, picture: VideoFrame) -> EncodedFrame:
        index, self._next_index = self._next_index, self._next_index + 1
        pts = int(picture.pts or 0)
        if not any(track.sending for track in self._links):
            self._keyframe_wanted = True  # whoever sends next starts from nothing
            return EncodedFrame(index, None, False, pts)
        if self._encoding is not None and not self._encoding.done():
            # A leader cancelled mid-encode left the encoder busy on its thread: one at a time.
            await asyncio.wait({self._encoding})
        keyframe = self._keyframe_wanted and loop.time() - self._last_keyframe >= KEYFRAME_GAP
        if keyframe:
            self._keyframe_wanted, self._last_keyframe = False, loop.time()
        # As aiortc does: VP8 releases the GIL part of the time, so off the loop's thread.
        self._encoding = loop.run_in_executor(None, self._encoder.encode, picture, keyframe)
        try:
            payloads, pts = await asyncio.shield(self._encoding)
        except asyncio.CancelledError:
            # The frame being made is lost to everyone and the next would refer to it.
            self._keyframe_wanted = True
            raise
        if not payloads:
            return EncodedFrame(index, b"", False, pts)
        data = payloads[0]
        is_keyframe = data[0] & 0x01 == 0  # VP8 frame tag (RFC 6386 9.1): 0 is a keyframe
        self.keyframes += is_keyframe
        self.frames_encoded += 1
        if self.sealer is not None:
            data = seal_frame(self.sealer, "video", data)
        return EncodedFrame(index, data, is_keyframe, pts)


class LinkVideoTrack(MediaStreamTrack):
    """One mesh link's video: the call's frames in order, from its first keyframe on.

    It answers the adapter as a paced picture track does (`fanout`, `enabled`,
    `set_quality`, `frames_sent`, `slots_skipped`), so a link adapts the same way whichever
    track it sends."""

    kind = "video"

    def __init__(self, shared: SharedVideo) -> None:
        super().__init__()
        self.shared = shared
        self.frames_sent = 0
        self.frames_dropped = 0  # missed for a gap, until the next keyframe
        self._last = shared.newest_index  # from the next frame on: its peer starts now
        self._awaiting_keyframe = True
        self._sender: RTCRtpSender | None = None

    def attach(self, sender: RTCRtpSender) -> None:
        """The aiortc sender that sends this track: its peer's keyframe requests reach the
        call's encoder, and while it is disabled the link takes no frames."""
        self._sender = sender
        on_keyframe_request(sender, self._keyframe_requested)

    def _keyframe_requested(self) -> None:
        self._awaiting_keyframe = True  # what it lost may be what the next frames refer to
        self.shared.request_keyframe()

    @property
    def sending(self) -> bool:
        """Whether this link's sender passes frames on now (before it is attached: yes)."""
        return self.readyState == "live" and (self._sender is None or sender_enabled(self._sender))

    # What the link's adapter reads and sets (gossip.client.peerlink).
    @property
    def fanout(self) -> VideoFanout:
        return self.shared.fanout

    @property
    def enabled(self) -> bool:
        return self.shared.enabled

    @enabled.setter
    def enabled(self, enabled: bool) -> None:
        self.shared.enabled = enabled

    @property
    def slots_skipped(self) -> int:
        return self.shared.slots_skipped + self.frames_dropped

    def set_quality(self, width: int, height: int, fps: float) -> None:
        self.shared.want(self, Quality(width, height, fps))

    async def recv(self) -> Packet:  # type: ignore[override]
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            frame = await self.shared.frame_after(self._last)
            if frame.index > self._last + 1:  # it fell out of the ring: the frames between lost
                self.frames_dropped += frame.index - self._last - 1
                self._keyframe_requested()
            self._last = frame.index
            if frame.data is None or not self.sending:
                self._awaiting_keyframe = True
                return _empty_packet(frame.pts)  # a disabled sender drops it; nothing is sent
            if frame.skipped:
                continue
            if self._awaiting_keyframe and not frame.keyframe:
                self.frames_dropped += 1
                self.shared.request_keyframe()
                continue
            self._awaiting_keyframe = False
            packet = Packet(frame.data)
            packet.pts = frame.pts
            packet.time_base = _VIDEO_TIME_BASE
            self.frames_sent += 1
            return packet

    def stop(self) -> None:
        super().stop()
        self.shared.leave(self)


def _empty_packet(pts: int) -> Packet:
    packet = Packet(b"")
    packet.pts = pts
    packet.time_base = _VIDEO_TIME_BASE
    return packet
