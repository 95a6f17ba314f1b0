"""Video groundwork: the pattern's code survives codec-like damage, and real aiortc links on
loopback carry each side's pattern (counter advancing) next to its audio tone.

Nothing waits on a timer: link tests wait on decoded frames with a fail_after bound.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
import trio
import trio_asyncio
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from gossip.media.engine import AudioEngine
from gossip.media.errors import SpecError
from gossip.media.format import SAMPLE_RATE
from gossip.media.loop import open_media_loop
from gossip.media.peer import Failed, LinkUp, MediaLink, RemoteTrack
from gossip.media.sinks import MemorySink
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout
from gossip.media.video import (
    FileSource,
    NoneSource,
    PatternSource,
    UnreadableVideo,
    VideoFanout,
    VideoSourceTrack,
    decode_counter,
    encode_band,
)
from gossip.media.videospec import parse_video_source

LOOPBACK = ["127.0.0.1"]
BOUND = 20  # seconds; generous for a loaded 2-core machine, never reached when things work
# Every side of a call runs in this one process (one GIL, one core's worth of Python), so a
# three-way mesh carries three participants' load: the link tests use small, slow pictures.
SMALL = (320, 180)
VIDEO_FPS = 15.0
TINY = (160, 90)
TINY_FPS = 5.0


class FixedClock:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self) -> float:
        return self.seconds


# -- pure: the code band ------------------------------------------------------------------


def box_blur(image: npt.NDArray[np.uint8], radius: int) -> npt.NDArray[np.uint8]:
    """A separable box blur, standing in for a codec's smearing of edges."""
    out = image.astype(np.float32)
    kernel = np.ones(2 * radius + 1, dtype=np.float32) / (2 * radius + 1)
    for axis in (0, 1):
        out = np.apply_along_axis(lambda line: np.convolve(line, kernel, mode="same"), axis, out)
    return np.clip(out, 0, 255).astype(np.uint8)


def test_pattern_frames_carry_an_advancing_counter_and_the_clock() -> None:
    source = PatternSource(clock=FixedClock(1_700_000_000.123))
    decoded = [decode_counter(source.read()) for _ in range(3)]
    assert decoded == [(n, 1_700_000_000_123) for n in range(3)]


@pytest.mark.parametrize("counter, ms", [(0, 0), (1, 2), (0xFFFFFFFF, (1 << 48) - 1),
                                         (123_456_789, 1_795_000_000_000)])
def test_code_band_round_trips_extreme_values(counter: int, ms: int) -> None:
    image = np.zeros((360, 640, 3), dtype=np.uint8)
    band = encode_band(counter, ms, 640)
    image[:band.shape[0]] = band
    assert decode_counter(image) == (counter, ms)


def test_counter_wraps_at_32_bits() -> None:
    source = PatternSource(clock=FixedClock(1.0))
    source.counter = 0xFFFFFFFF
    assert decode_counter(source.read()) == (0xFFFFFFFF, 1000)
    assert decode_counter(source.read()) == (0, 1000)


def test_code_survives_downscale_blur_noise_and_yuv420() -> None:
    source = PatternSource(clock=FixedClock(1_795_000_000.5))
    source.counter = 0x5A5A_A5A5
    image = source.read()
    # Downscale to half through libswscale's yuv420p path, as a receiver might get it.
    small = VideoFrame.from_ndarray(image, format="rgb24").reformat(
        width=320, height=180, format="yuv420p")
    assert decode_counter(small) == (0x5A5A_A5A5, 1_795_000_000_500)

    rng = np.random.default_rng(7)
    rgb = np.asarray(small.to_ndarray(format="rgb24"), dtype=np.uint8)
    damaged = box_blur(rgb, radius=2).astype(np.int16) + rng.integers(-40, 41, rgb.shape)
    damaged = np.clip(damaged, 0, 255).astype(np.uint8)
    assert decode_counter(damaged) == (0x5A5A_A5A5, 1_795_000_000_500)


def test_a_torn_or_foreign_picture_is_rejected_not_misread() -> None:
    image = PatternSource().read()
    torn = image.copy()
    torn[:, 300:340] = 255 - torn[:, 300:340]  # a few cells flipped
    assert decode_counter(torn) is None
    assert decode_counter(np.zeros((360, 640, 3), dtype=np.uint8)) is None
    assert decode_counter(np.zeros((8, 640), dtype=np.uint8)) is None  # too short for the band


def test_none_source_is_black_at_the_asked_size() -> None:
    image = NoneSource(320, 180).read()
    assert image.shape == (180, 320, 3) and not image.any()


def test_parse_video_source() -> None:
    pattern = parse_video_source("pattern", width=320, height=180, fps=15)
    assert isinstance(pattern, PatternSource)
    assert (pattern.width, pattern.height, pattern.fps) == (320, 180, 15)
    assert isinstance(parse_video_source("none"), NoneSource)
    for spec in ("file:", "bogus", "pattern:3", "none:x"):
        with pytest.raises(SpecError):
            parse_video_source(spec)
    with pytest.raises(ValueError):
        PatternSource(641, 360)


def write_pattern_clip(path: Path, frames: int, fps: int) -> None:
    """A VP8 WebM of `frames` pattern frames (counters 0..frames-1) at 320x180."""
    source = PatternSource(*SMALL, fps=fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *SMALL, "yuv420p"
        for _ in range(frames):
            picture = VideoFrame.from_ndarray(source.read(), format="rgb24")
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))


def test_file_source_plays_the_clip_scaled_and_looped(tmp_path: Path) -> None:
    clip = tmp_path / "pattern.webm"
    write_pattern_clip(clip, frames=10, fps=10)
    source = parse_video_source(f"file:{clip}", width=640, height=360, fps=30)
    assert isinstance(source, FileSource)
    assert source.fps == 10  # the file's own rate, under the cap
    images = [source.read() for _ in range(25)]
    assert images[0].shape == (360, 640, 3)
    assert [decode_counter(image)[0] for image in images] == [n % 10 for n in range(25)]  # type: ignore[index]
    assert source.loops == 2
    source.close()

    halved = FileSource(clip, *SMALL, fps=5)  # a faster file drops frames evenly
    assert halved.fps == 5
    assert [decode_counter(halved.read())[0] for _ in range(6)] == [1, 3, 5, 7, 9, 1]  # type: ignore[index]
    halved.close()


def test_file_source_refuses_what_is_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    for path in (text, tmp_path / "missing.webm"):
        with pytest.raises(UnreadableVideo):
            parse_video_source(f"file:{path}")


# -- the track, under trio_asyncio with trio's mock clock ----------------------------------


async def test_track_paces_at_the_source_fps_and_sends_black_when_disabled(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio_asyncio.open_loop():
        source = PatternSource(*SMALL, fps=10)
        track = VideoSourceTrack(source)
        start = trio.current_time()
        frames = [await trio_asyncio.aio_as_trio(track.recv)() for _ in range(5)]
        assert trio.current_time() - start == pytest.approx(0.4, abs=1e-6)
        assert [decode_counter(f)[0] for f in frames] == [0, 1, 2, 3, 4]  # type: ignore[index]
        assert all(b.pts > a.pts for a, b in zip(frames, frames[1:], strict=False))

        track.enabled = False
        black = await trio_asyncio.aio_as_trio(track.recv)()
        assert not black.to_ndarray(format="rgb24").any()
        assert source.counter == 5  # the source is not read while disabled

        track.enabled = True
        back = await trio_asyncio.aio_as_trio(track.recv)()
        assert decode_counter(back)[0] == 5  # type: ignore[index]
        track.stop()
        with pytest.raises(MediaStreamError):
            await trio_asyncio.aio_as_trio(track.recv)()


async def test_fanout_tracks_share_one_frame_per_slot(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio_asyncio.open_loop():
        fanout = VideoFanout(PatternSource(*SMALL, fps=30))
        first, second = fanout.track(), fanout.track()
        seen: dict[str, list[int]] = {"first": [], "second": []}
        for _ in range(4):
            for name, track in (("first", first), ("second", second)):
                frame = await trio_asyncio.aio_as_trio(track.recv)()
                seen[name].append(decode_counter(frame)[0])  # type: ignore[index]
        assert seen["first"] == seen["second"] == [0, 1, 2, 3]
        assert fanout.frames_read == 4


# -- real links on loopback ---------------------------------------------------------------


@dataclass
class Side:
    name: str
    audio: SourceFanout
    video: VideoFanout
    engine: AudioEngine
    sink: MemorySink
    links: dict[str, MediaLink] = field(default_factory=dict)
    video_tracks: dict[str, VideoSourceTrack] = field(default_factory=dict)
    # Per peer: the counters decoded from its video, in arrival order.
    counters: dict[str, list[int]] = field(default_factory=dict)
    undecodable: dict[str, int] = field(default_factory=dict)
    progress: trio.Event = field(default_factory=trio.Event)


async def collect_video(side: Side, peer: str, track: MediaStreamTrack) -> None:
    """Decode `peer`'s frames into side.counters until the track ends."""
    counters = side.counters.setdefault(peer, [])
    side.undecodable.setdefault(peer, 0)
    while True:
        try:
            frame = await trio_asyncio.aio_as_trio(track.recv)()
        except MediaStreamError:
            return
        decoded = decode_counter(frame)
        if decoded is None:
            side.undecodable[peer] += 1
        else:
            counters.append(decoded[0])
        side.progress.set()
        side.progress = trio.Event()


async def wait_remote_tracks(link: MediaLink) -> dict[str, MediaStreamTrack]:
    tracks: dict[str, MediaStreamTrack] = {}
    connected = False
    with trio.fail_after(BOUND):
        async for event in link.events:
            if isinstance(event, RemoteTrack):
                tracks[event.track.kind] = event.track
            elif isinstance(event, LinkUp):
                connected = True
            elif isinstance(event, Failed):
                pytest.fail(f"link failed: {event}")
            if connected and set(tracks) == {"audio", "video"}:
                return tracks
    pytest.fail(f"event channel closed early; got {sorted(tracks)}")


async def connect(a: Side, b: Side, nursery: trio.Nursery) -> None:
    a.video_tracks[b.name] = a.video.track()
    b.video_tracks[a.name] = b.video.track()
    offerer = a.links[b.name] = MediaLink(a.audio.track(), ice_hosts=LOOPBACK,
                                         video_track=a.video_tracks[b.name])
    answerer = b.links[a.name] = MediaLink(b.audio.track(), ice_hosts=LOOPBACK,
                                          video_track=b.video_tracks[a.name])
    offer = await offerer.create_offer()
    answer = await answerer.accept_offer(offer)
    await offerer.accept_answer(answer)
    for side, link, other in ((a, offerer, b), (b, answerer, a)):
        tracks = await wait_remote_tracks(link)
        assert link.remote_video_track is tracks["video"]
        assert link.remote_track is tracks["audio"]
        side.engine.add_peer(other.name, tracks["audio"])
        nursery.start_soon(collect_video, side, other.name, tracks["video"])


async def wait_counters_advance(side: Side, peer: str, frames: int) -> list[int]:
    """Wait until `frames` more of `peer`'s frames decoded; return those counters."""
    start = len(side.counters.get(peer, []))
    with trio.fail_after(BOUND):
        while len(side.counters.get(peer, [])) < start + frames:
            await side.progress.wait()
    return side.counters[peer][start:start + frames]


@asynccontextmanager
async def video_call(names: list[str], size: tuple[int, int] = SMALL,
                     fps: float = VIDEO_FPS) -> AsyncIterator[dict[str, Side]]:
    """A full mesh of the named sides; side i sends a tone of 300*(i+1) Hz and a pattern."""
    async with open_media_loop(), trio.open_nursery() as nursery:
        sides: dict[str, Side] = {}
        for i, name in enumerate(names):
            sink = MemorySink()
            engine = AudioEngine(sink)
            await nursery.start(engine.run)
            sides[name] = Side(name, SourceFanout(ToneSource(300.0 * (i + 1))),
                               VideoFanout(PatternSource(*size, fps=fps)), engine, sink)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                await connect(sides[first], sides[second], nursery)
        try:
            yield sides
        finally:
            for side in sides.values():
                for link in side.links.values():
                    await link.close()
            nursery.cancel_scope.cancel()


def assert_advancing(counters: list[int]) -> None:
    # Strictly increasing: frames may be skipped under load, never repeated or reordered.
    assert all(b > a for a, b in zip(counters, counters[1:], strict=False)), counters
    assert counters[-1] > counters[0]


def peak_hz(samples: npt.NDArray[np.int16]) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])


async def test_two_peers_see_each_others_pattern_advance_and_still_hear_the_tone() -> None:
    async with video_call(["alice", "bob"]) as sides:
        for listener, speaker, hz in (("alice", "bob", 600.0), ("bob", "alice", 300.0)):
            side = sides[listener]
            assert_advancing(await wait_counters_advance(side, speaker, 10))
            got = side.engine.peer(speaker).frames_received
            with trio.fail_after(BOUND):
                await side.engine.wait_frames_received(speaker, got + 25)
                await side.engine.wait_frames_played(side.engine.frames_played + 25)
            assert peak_hz(side.sink.samples(25)) == pytest.approx(hz, abs=4)
            assert side.undecodable[speaker] <= len(side.counters[speaker]) // 4


async def test_three_way_mesh_each_side_sees_both_others() -> None:
    async with video_call(["ann", "ben", "cat"], TINY, TINY_FPS) as sides:
        for listener, side in sides.items():
            for speaker in sides:
                if speaker != listener:
                    assert_advancing(await wait_counters_advance(side, speaker, 3))
                    got = side.engine.peer(speaker).frames_received
                    with trio.fail_after(BOUND):
                        await side.engine.wait_frames_received(speaker, got + 10)


async def test_disabling_video_turns_the_peer_black_without_stopping_audio() -> None:
    async with video_call(["alice", "bob"]) as sides:
        alice, bob = sides["alice"], sides["bob"]
        await wait_counters_advance(bob, "alice", 3)
        track = alice.video_tracks["bob"]
        track.enabled = False
        # Black frames carry no code: wait for undecodable frames to arrive.
        with trio.fail_after(BOUND):
            before = bob.undecodable["alice"]
            while bob.undecodable["alice"] < before + 3:
                await bob.progress.wait()
        got = bob.engine.peer("alice").frames_received
        with trio.fail_after(BOUND):
            await bob.engine.wait_frames_received("alice", got + 25)
        track.enabled = True
        assert_advancing(await wait_counters_advance(bob, "alice", 3))


async def test_a_link_without_video_still_receives_the_peers_video() -> None:
    async with open_media_loop():
        sender = MediaLink(SourceFanout(ToneSource(440)).track(), ice_hosts=LOOPBACK,
                          video_track=VideoFanout(PatternSource(*SMALL, fps=15)).track())
        audio_only = MediaLink(SourceFanout(ToneSource(880)).track(), ice_hosts=LOOPBACK)
        try:
            answer = await audio_only.accept_offer(await sender.create_offer())
            await sender.accept_answer(answer)
            tracks = await wait_remote_tracks(audio_only)
            with trio.fail_after(BOUND):
                while True:
                    frame = await trio_asyncio.aio_as_trio(tracks["video"].recv)()
                    if decode_counter(frame) is not None:
                        break
            assert "video" not in {t.kind for t in await announced_tracks(sender)}
            assert sender.sends_video and not audio_only.sends_video
        finally:
            await sender.close()
            await audio_only.close()


async def test_an_offer_without_video_leaves_the_answerers_video_unsent() -> None:
    async with open_media_loop():
        audio_only = MediaLink(SourceFanout(ToneSource(440)).track(), ice_hosts=LOOPBACK)
        with_video = MediaLink(SourceFanout(ToneSource(880)).track(), ice_hosts=LOOPBACK,
                              video_track=VideoFanout(PatternSource(*TINY, fps=TINY_FPS)).track())
        try:
            answer = await with_video.accept_offer(await audio_only.create_offer())
            assert "m=video" not in answer
            await audio_only.accept_answer(answer)
            with trio.fail_after(BOUND):
                async for event in audio_only.events:
                    if isinstance(event, LinkUp | Failed):
                        assert isinstance(event, LinkUp), event
                        break
            assert not with_video.sends_video and audio_only.remote_video_track is None
            assert audio_only.remote_track is not None
        finally:
            await audio_only.close()
            await with_video.close()


async def announced_tracks(link: MediaLink) -> list[MediaStreamTrack]:
    """The remote tracks `link` announced so far (drains pending events without waiting)."""
    tracks: list[MediaStreamTrack] = []
    while True:
        try:
            event = link.events.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return tracks
        if isinstance(event, RemoteTrack):
            tracks.append(event.track)
