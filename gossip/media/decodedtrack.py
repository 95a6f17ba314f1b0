"""A peer's audio decoded already, handed to the engine as it is decoded (no asyncio hop, no
task woken per frame): what a relayed call's receive path (gossip.media.slotreceive) and a
mesh link's (gossip.media.meshreceive) give. Until an engine takes it, frames wait on a
bounded trio channel."""

from __future__ import annotations

from collections.abc import Callable

import trio
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .concealment import ConcealingOpusDecoder
from .format import Frame

QUEUED_FRAMES = 16  # decoded frames waiting for the engine (320 ms): more are dropped


class DecodedAudioTrack(MediaStreamTrack):
    """One sender's audio off a relay slot or a mesh link, decoded: each (timestamp, mono
    frame) goes to `deliver` once the engine playing it set that (gossip.media.engine), and
    waits on `frames`, a bounded trio channel, until then. It has no asyncio `recv`."""

    kind = "audio"

    def __init__(self, decoder: ConcealingOpusDecoder | None = None) -> None:
        super().__init__()
        # The decoder that makes these frames: the playout asks it to conceal a late one.
        self.decoder = decoder
        self._send, self.frames = trio.open_memory_channel[tuple[int, Frame]](QUEUED_FRAMES)
        self.dropped = 0  # the engine fell behind
        # Set by the engine that plays this track: frames go straight to it (a task woken
        # per frame cost a participant hearing eleven streams about 1% of a core), with when
        # the packet arrived (trio's clock; None: now).
        self.deliver: Callable[[int, Frame, float | None], None] | None = None
        self.stopped = trio.Event()

    def push(self, timestamp: int, frame: Frame, arrival: float | None = None) -> None:
        """A decoded frame; `arrival`: when its packet came (trio's clock), if it was read
        later than that (at a playout tick: gossip.client.relaylink)."""
        if self.deliver is not None:
            self.deliver(timestamp, frame, arrival)
            return
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
        self.deliver = None
        self.stopped.set()
