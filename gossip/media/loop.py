"""How a Gossip process runs aiortc: one asyncio loop inside trio, entered once by the call actor.

`open_media_loop()` opens trio_asyncio's loop and installs our ICE address chooser. On exit
it waits (bounded) for the asyncio tasks aiortc and aioice leave behind after a close, so they
finish inside the loop instead of being destroyed pending. Every awaited aiortc call goes
through `trio_asyncio.aio_as_trio`; `MediaLoop.pending_tasks()` lets tests check the drain.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio
import trio_asyncio

from . import icehosts

DRAIN_SECONDS = 5.0


@dataclass
class MediaLoop:
    """The running asyncio loop that hosts every RTCPeerConnection of this process."""

    loop: asyncio.AbstractEventLoop

    def pending_tasks(self) -> list[asyncio.Task[object]]:
        """asyncio tasks that have not finished yet."""
        return [task for task in asyncio.all_tasks(self.loop) if not task.done()]

    async def drain(self, timeout: float = DRAIN_SECONDS) -> list[asyncio.Task[object]]:
        """Wait until no asyncio task is pending, or `timeout`; return the ones still pending.

        Waits on the tasks themselves, not on a timer: a finishing task may start another, so
        this repeats until a round finds nothing new.
        """
        with trio.move_on_after(timeout):
            while tasks := self.pending_tasks():
                await trio_asyncio.aio_as_trio(_wait_all)(tasks)
        return self.pending_tasks()


async def _wait_all(tasks: list[asyncio.Task[object]]) -> None:
    await asyncio.wait(tasks)


@asynccontextmanager
async def open_media_loop(*, drain_seconds: float = DRAIN_SECONDS) -> AsyncIterator[MediaLoop]:
    """Run the body with an asyncio loop for aiortc; drain leftover aiortc tasks on exit."""
    icehosts.install()
    async with trio_asyncio.open_loop() as loop:
        media = MediaLoop(loop)
        try:
            yield media
        finally:
            with trio.CancelScope(shield=True):
                await media.drain(drain_seconds)
