"""A mesh call's one video encoder (gossip.media.videosend), its links' tracks read directly
under trio_asyncio with trio's mock clock: every link gets the same sealed frames, each
picture is encoded once, and a link that missed a frame passes nothing on until a keyframe.
(Real links carrying it: tests/test_calls_video.py.)"""

from __future__ import annotations

import av
import pytest
import trio
import trio_asyncio
from aiortc.mediastreams import MediaStreamError

from gossip.crypto.frames import FrameKey, FrameOpener, FrameOpenError, FrameSealer
from gossip.media.adapt import Quality
from gossip.media.framecrypt import open_frame
from gossip.media.video import PatternSource, VideoFanout, decode_counter
from gossip.media.videosend import KEYFRAME_GAP, RING_FRAMES, LinkVideoTrack, SharedVideo

SIZE = (160, 90)
FPS = 10.0


def shared_video() -> tuple[SharedVideo, FrameKey]:
    sealer = FrameSealer()
    return SharedVideo(VideoFanout(PatternSource(*SIZE, fps=FPS)), sealer), sealer.key


def opener(key: FrameKey) -> FrameOpener:
    """A peer's opener for the sender's key (each peer has its own replay window)."""
    opening = FrameOpener()
    opening.add_key(key, 0.0)
    return opening


async def next_frame(track: LinkVideoTrack) -> bytes:
    packet = await trio_asyncio.aio_as_trio(track.recv)()
    return bytes(packet)


def is_keyframe(vp8: bytes) -> bool:
    return vp8[0] & 0x01 == 0  # RFC 6386 9.1


class Viewer:
    """A peer's decoder: opens each sealed frame and decodes the VP8 inside, in order."""

    def __init__(self, key: FrameKey) -> None:
        self.opener = opener(key)
        self.decoder = av.CodecContext.create("vp8", "r")
        self.counters: list[int] = []
        self.first_keyframe: bool | None = None

    def take(self, sealed: bytes) -> None:
        vp8 = open_frame(self.opener, "video", sealed, 0.0)
        if self.first_keyframe is None:
            self.first_keyframe = is_keyframe(vp8)
        for picture in self.decoder.decode(av.Packet(vp8)):
            code = decode_counter(picture)
            assert code is not None, "a picture that does not decode to the pattern"
            self.counters.append(code[0])


async def test_links_get_the_same_sealed_frames_each_picture_encoded_once(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio_asyncio.open_loop():
        shared, key = shared_video()
        first, second = shared.link_track(), shared.link_track()
        seen: dict[LinkVideoTrack, list[bytes]] = {first: [], second: []}
        for _ in range(6):
            for track in (first, second):
                seen[track].append(await next_frame(track))
        assert seen[first] == seen[second]
        assert shared.frames_encoded == 6 == shared.fanout.frames_read
        viewer = Viewer(key)
        for sealed in seen[first]:
            viewer.take(sealed)
        assert viewer.first_keyframe  # a peer's decoder starts from a keyframe
        assert viewer.counters == [0, 1, 2, 3, 4, 5]
        first.stop()
        with pytest.raises(MediaStreamError):
            await trio_asyncio.aio_as_trio(first.recv)()
        second.stop()


async def test_the_frames_are_sealed_and_a_stranger_cannot_open_them(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio_asyncio.open_loop():
        shared, key = shared_video()
        track = shared.link_track()
        sealed = await next_frame(track)
        vp8 = _vp8(opener(key), sealed)
        # A keyframe's first 10 bytes stay clear for a forwarder; none of the rest does.
        assert vp8[:10] == sealed[:10] and vp8[10:42] not in sealed
        stranger = FrameOpener()
        stranger.add_key(FrameSealer().key, 0.0)
        with pytest.raises(FrameOpenError):
            _vp8(stranger, sealed)
        track.stop()


async def test_a_link_that_falls_behind_the_ring_waits_for_a_keyframe(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio_asyncio.open_loop():
        shared, key = shared_video()
        fast, slow = shared.link_track(), shared.link_track()
        fast_viewer, slow_viewer = Viewer(key), Viewer(key)
        slow_viewer.take(await next_frame(slow))
        for _ in range(RING_FRAMES + 3):  # the slow link's sender stalls meanwhile
            fast_viewer.take(await next_frame(fast))
        keyframes_before = shared.keyframes
        # Its next frame is a keyframe made for it: the frames it missed are not referred to.
        resumed = await next_frame(slow)
        assert is_keyframe(_vp8(opener(key), resumed))
        assert shared.keyframes == keyframes_before + 1
        assert slow.frames_dropped >= RING_FRAMES
        slow_viewer.take(resumed)
        fast_viewer.take(await next_frame(fast))  # the keyframe is the fast link's too
        assert slow_viewer.counters[-1] == fast_viewer.counters[-1]
        assert fast_viewer.counters == list(range(fast_viewer.counters[0],
                                                  fast_viewer.counters[-1] + 1))
        fast.stop()
        slow.stop()


def _vp8(opening: FrameOpener, sealed: bytes) -> bytes:
    return open_frame(opening, "video", sealed, 0.0)


async def test_a_link_that_joins_later_starts_at_a_keyframe_from_now_on(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio_asyncio.open_loop():
        shared, key = shared_video()
        early = shared.link_track()
        for _ in range(4):
            await next_frame(early)
        late = shared.link_track()
        viewer = Viewer(key)
        viewer.take(await next_frame(late))
        assert viewer.first_keyframe
        # Nothing made before it joined; the keyframe may wait for KEYFRAME_GAP.
        assert 4 <= viewer.counters[0] <= 4 + KEYFRAME_GAP * FPS
        early.stop()
        late.stop()


async def test_the_stream_is_encoded_at_the_lowest_quality_its_links_can_take(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio_asyncio.open_loop():
        shared, key = shared_video()
        good, poor = shared.link_track(), shared.link_track()
        good.set_quality(*SIZE, FPS)
        poor.set_quality(80, 44, FPS / 2)
        assert shared.quality == Quality(80, 44, FPS / 2)
        start = trio.current_time()
        sealed = [await next_frame(good) for _ in range(3)]
        for _ in range(3):
            await next_frame(poor)
        assert trio.current_time() - start == pytest.approx(2 * 2 / FPS, abs=1e-6)
        picture = next(iter(av.CodecContext.create("vp8", "r").decode(
            av.Packet(_vp8(opener(key), sealed[0])))))
        assert (picture.width, picture.height) == (80, 44)
        poor.stop()  # the link that could take less is gone: back to the source's own
        assert shared.quality == Quality(*SIZE, FPS)
        good.stop()


async def test_a_pause_with_no_link_is_not_counted_as_pictures_skipped(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio_asyncio.open_loop():
        shared, key = shared_video()
        track = shared.link_track()
        for _ in range(3):
            await next_frame(track)
        track.stop()  # the only peer left: nobody reads the pictures for a while
        await trio.sleep(5)
        again = shared.link_track()
        viewer = Viewer(key)
        viewer.take(await next_frame(again))
        assert viewer.first_keyframe and again.slots_skipped == 0
        assert shared.frames_encoded == 4
        again.stop()


async def test_keyframe_requests_on_end_make_one_keyframe_per_gap_at_most(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio_asyncio.open_loop():
        shared, key = shared_video()
        track = shared.link_track()
        viewer = Viewer(key)
        start = trio.current_time()
        for _ in range(20):  # a peer (or a hostile member) asking before every frame
            shared.request_keyframe()
            viewer.take(await next_frame(track))
        seconds = trio.current_time() - start
        assert shared.keyframes <= 1 + seconds / KEYFRAME_GAP
        assert shared.keyframes >= 2  # and still honoured, at that pace
        assert viewer.counters == list(range(20))
        track.stop()
