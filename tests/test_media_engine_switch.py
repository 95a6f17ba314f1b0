"""The audio engine moving a peer to another track (a call moving between mesh and relay):
the old track plays on until the new one's first frame is decoded, then is let go."""

from __future__ import annotations

import asyncio

import av
import numpy as np
import trio
from aiortc.mediastreams import MediaStreamTrack

from gossip.media.engine import open_audio_engine
from gossip.media.format import FRAME_SAMPLES, SAMPLE_RATE
from gossip.media.loop import open_media_loop
from gossip.media.sinks import MemorySink


class FedTrack(MediaStreamTrack):
    """A remote track whose decoded frames the test hands in one by one."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.frames: asyncio.Queue[av.AudioFrame] = asyncio.Queue()
        self.pts = 0

    def feed(self) -> None:
        frame = av.AudioFrame.from_ndarray(np.full((1, FRAME_SAMPLES), 1000, np.int16),
                                           format="s16", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, self.pts
        self.pts += FRAME_SAMPLES
        self.frames.put_nowait(frame)

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        return await self.frames.get()


async def test_a_peer_moved_to_another_track_plays_the_old_one_till_the_new_one_delivers():
    async with open_media_loop(), open_audio_engine(MemorySink()) as engine:
        old, new = FedTrack(), FedTrack()
        engine.add_peer("bob", old)
        engine.mixer.set_volume("bob", 1.5)
        old.feed()
        with trio.fail_after(10):
            await engine.wait_frames_received("bob", 1)
        engine.replace_peer("bob", new)
        assert engine.peer("bob").track is old  # nothing of the new one decoded yet
        old.feed()
        with trio.fail_after(10):
            await engine.wait_frames_received("bob", 2)  # the old one still plays
        new.feed()
        with trio.fail_after(10):
            await engine.wait_until(lambda: engine.peer("bob").track is new)
        engine.remove_peer("bob", old)  # the path it came from going away removes nothing
        assert engine.peers == ["bob"] and engine.mixer.volume("bob") == 1.5
        engine.remove_peer("bob", new)
        assert engine.peers == []
