"""End-to-end frame encryption on real aiortc links on loopback (gossip.media.framecrypt).

Two sides, each with its own CallFrames: one Opus encoder and one sealer per side, the
other's frames opened between aiortc's jitter buffer and its decoder. What travels is
checked not to decode as the sender's tone or picture without the key, and a former member
holding an old key opens nothing sealed after a fresh key.
"""

from __future__ import annotations

import av
import numpy as np
import pytest
import trio
import trio_asyncio
from aiortc.codecs.opus import OpusDecoder
from aiortc.codecs.vpx import Vp8Decoder
from aiortc.jitterbuffer import JitterFrame

from gossip.crypto.frames import FrameOpener, FrameOpenError
from gossip.media.aiortc_seams import check_seams, receiver_buffer
from gossip.media.engine import AudioEngine
from gossip.media.format import FRAME_SAMPLES
from gossip.media.framecrypt import CallFrames, OpeningBuffer, clear_bytes
from gossip.media.loop import open_media_loop
from gossip.media.peer import MediaLink
from gossip.media.sinks import MemorySink
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout
from gossip.media.video import PatternSource, VideoFanout, decode_counter

from .test_media_links import (
    BOUND,
    LOOPBACK,
    Side,
    hear,
    magnitude_at,
    spectrum,
    wait_connected,
)


def test_the_aiortc_seams_frame_encryption_uses_are_where_we_expect() -> None:
    check_seams()  # fails loudly, naming each, when an aiortc upgrade moves one


def test_codec_bits_a_forwarder_needs_stay_clear() -> None:
    assert clear_bytes("audio", b"\xfc\x01\x02") == 1
    assert clear_bytes("video", b"\x10" + bytes(20)) == 10  # keyframe: tag, start code, size
    assert clear_bytes("video", b"\x11" + bytes(20)) == 3  # inter frame: the tag alone


def decoded_audio(frames: list[bytes]) -> np.ndarray:
    """What an Opus decoder without the key makes of the given frames (errors skipped)."""
    decoder = OpusDecoder()
    out = []
    for index, data in enumerate(frames):
        try:
            decoded = decoder.decode(JitterFrame(data, index * FRAME_SAMPLES))
        except av.FFmpegError:
            continue
        out += [frame.to_ndarray().reshape(-1)[::2] for frame in decoded]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


def prominence(samples: np.ndarray, hz: float) -> float:
    """How far `hz` stands above the spectrum around it (a tone: hundreds; shaped noise, such
    as a decoder makes of random bytes, a few at most)."""
    freqs, magnitudes = spectrum(samples)
    around = magnitudes[(np.abs(freqs - hz) > 20) & (np.abs(freqs - hz) < 150)]
    return magnitude_at(samples, hz) / max(float(np.median(around)), 1e-9)


def counters_in_video(frames: list[bytes]) -> int:
    decoder = Vp8Decoder()
    found = 0
    for index, data in enumerate(frames):
        try:
            pictures = decoder.decode(JitterFrame(data, index * 3000))
        except av.FFmpegError:
            continue
        found += sum(decode_counter(picture) is not None for picture in pictures)
    return found


async def sealed_side(nursery: trio.Nursery, name: str, hz: float) -> tuple[Side, CallFrames]:
    """A participant's audio end: an engine playing into memory, its tone, its call frames."""
    engine = AudioEngine(MemorySink())
    await nursery.start(engine.run)
    fanout = SourceFanout(ToneSource(hz))
    return Side(name, fanout, engine.sink, engine), CallFrames(fanout)  # type: ignore[arg-type]


async def sealed_pair(nursery: trio.Nursery) -> tuple[dict[str, Side], dict[str, CallFrames]]:
    """Alice (a 440 Hz tone) and bob (1000 Hz), each holding the other's frame key (a call
    hands it over sealed signalling)."""
    sides, frames = {}, {}
    for name, hz in (("alice", 440.0), ("bob", 1000.0)):
        sides[name], frames[name] = await sealed_side(nursery, name, hz)
    frames["bob"].peer("alice").add_key(frames["alice"].sealer.key)  # type: ignore
    frames["alice"].peer("bob").add_key(frames["bob"].sealer.key)  # type: ignore
    return sides, frames


async def each_hears_the_other(sides: dict[str, Side], offerer: MediaLink,
                               answerer: MediaLink) -> None:
    """Alice plays the offerer's remote track, bob the answerer's: each hears the other's
    tone and not their own."""
    sides["alice"].engine.add_peer("bob", offerer.remote_track)
    sides["bob"].engine.add_peer("alice", answerer.remote_track)
    await hear(sides["alice"], present=[1000.0], absent=[440.0])
    await hear(sides["bob"], present=[440.0], absent=[1000.0])


async def test_sealed_frames_are_heard_and_seen_yet_the_wire_holds_neither() -> None:
    async with open_media_loop(), trio.open_nursery() as nursery:
        sides, frames = await sealed_pair(nursery)
        bob_copy = FrameOpener()  # opens again what bob's tap kept (bob's own refuses replays)
        bob_copy.add_key(frames["alice"].sealer.key, now=trio.current_time())
        video = VideoFanout(PatternSource(160, 90, 15))
        offerer = MediaLink(
            frames["alice"].audio_track(),
            ice_hosts=LOOPBACK,
            video_track=frames["alice"].video_track(video.track()),
            open_frames=frames["alice"].peer("bob"),
        )
        answerer = MediaLink(
            frames["bob"].audio_track(), ice_hosts=LOOPBACK, open_frames=frames["bob"].peer("alice")
        )
        try:
            await answerer_connects(offerer, answerer)
            await each_hears_the_other(sides, offerer, answerer)

            # Bob sees alice's picture, and tapped what arrived sealed.
            audio_tap = receiver_buffer(answerer.receiver)
            assert isinstance(audio_tap, OpeningBuffer)
            audio_tap.tap = []
            video_tap = receiver_buffer(
                next(t.receiver for t in answerer._pc.getTransceivers() if t.kind == "video")
            )
            assert isinstance(video_tap, OpeningBuffer)
            video_tap.tap = []
            with trio.fail_after(BOUND):
                picture = await next_picture(answerer)
            assert decode_counter(picture) is not None
            bob_sees = frames["bob"].peer("alice")
            opened_before = bob_sees.opened
            with trio.fail_after(BOUND):
                while len(audio_tap.tap) < 50:
                    await sides["bob"].engine.wait_frames_received(
                        "alice", sides["bob"].engine.peer("alice").frames_received + 1
                    )
            assert bob_sees.opened > opened_before and not bob_sees.failing

            # Without the key: no tone in what an Opus decoder makes of the wire, no picture.
            sealed = decoded_audio(audio_tap.tap)
            plain = decoded_audio(
                [bob_copy.open(data, 1, trio.current_time()) for data in audio_tap.tap]
            )
            assert prominence(plain[-24000:], 440.0) > 100
            # The wire decodes, if at all, to noise: the tone does not stand out of it.
            assert len(sealed) == 0 or prominence(sealed[-24000:], 440.0) < 10
            assert video_tap.tap and counters_in_video(video_tap.tap) == 0

            # Carol held alice's key and left: alice takes a fresh key and hands it to bob only.
            carol = FrameOpener()
            carol.add_key(frames["alice"].sealer.key, now=trio.current_time())
            bob_sees.add_key(frames["alice"].sealer.rekey(fresh=True))
            audio_tap.tap = []
            heard_before = sides["bob"].engine.peer("alice").frames_received
            with trio.fail_after(BOUND):
                await sides["bob"].engine.wait_frames_received("alice", heard_before + 50)
            for data in audio_tap.tap[-25:]:  # sealed well after the new key
                with pytest.raises(FrameOpenError):
                    carol.open(data, clear_bytes("audio", data), trio.current_time())
            await hear(sides["bob"], present=[440.0], absent=[1000.0])
        finally:
            await offerer.close()
            await answerer.close()
            nursery.cancel_scope.cancel()


async def answerer_connects(offerer: MediaLink, answerer: MediaLink) -> None:
    offer = await offerer.create_offer()
    answer = await answerer.accept_offer(offer)
    await offerer.accept_answer(answer)
    await wait_connected(offerer)
    await wait_connected(answerer)


async def next_picture(link: MediaLink) -> av.VideoFrame:
    """The next picture from the peer's video that carries a readable pattern code."""
    track = link.remote_video_track
    assert track is not None
    while True:
        picture = await trio_asyncio.aio_as_trio(track.recv)()
        if decode_counter(picture) is not None:
            return picture
