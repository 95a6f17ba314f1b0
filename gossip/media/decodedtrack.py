"""A peer's audio decoded already, on a trio channel the engine reads directly (no asyncio
hop per frame): what a relayed call's receive path (gossip.media.slotreceive) and a mesh
link's (gossip.media.meshreceive) give."""

from __future__ import annotations

import trio
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .concealment import ConcealingOpusDecoder
from .format import Frame

QUEUED_FRAMES = 16  # decoded frames waiting for the engine (320 ms): more are dropped


class DecodedAudioTrack(MediaStreamTrack):
    """One sender's audio off a relay slot, decoded: (timestamp, mono frame) on `frames`,
    a trio channel the engine reads (gossip.media.engine). It has no asyncio `recv`."""

    kind = "audio"

    def __init__(self, decoder: ConcealingOpusDecoder | None = None) -> None:
        super().__init__()
        # The decoder that makes these frames: the playout asks it to conceal a late one.
        self.decoder = decoder
        self._send, self.frames = trio.open_memory_channel[tuple[int, Frame]](QUEUED_FRAMES)
        self.dropped = 0  # the engine fell behind

    def push(self, timestamp: int, frame: Frame) -> None:
        try:
            self._send.send_nowait((timestamp, frame))
        except trio.WouldBlock:
            self.dropped += 1
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    async def recv(self) -> Frame:  # type: ignore[override]
        raise MediaStreamError("read DecodedAudioTrack.frames (trio) instead")

    def stop(self) -> None:
        super().stop()
        self._send.close()
