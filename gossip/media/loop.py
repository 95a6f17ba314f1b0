"""How a Gossip process runs aiortc: one asyncio loop inside trio, entered once by the call actor.

`open_media_loop()` opens trio_asyncio's loop, installs our ICE address chooser and an
executor that lets cancellation through (below). On exit it waits (bounded) for the asyncio
tasks aiortc and aioice leave behind after a close, so they finish inside the loop instead of
being destroyed pending. Every awaited aiortc call goes through `trio_asyncio.aio_as_trio`;
`MediaLoop.pending_tasks()` lets tests check the drain.

Why the executor: aiortc encodes Opus with `loop.run_in_executor`. trio_asyncio 0.16's
executor runs the job with `trio.to_thread.run_sync`, which ignores cancellation; when an
asyncio task is cancelled while waiting for it, the future later resolves with the job's
result and the task never sees its CancelledError. `RTCRtpSender.stop()` cancels the sending
task and waits for it to end, so `RTCPeerConnection.close()` hung in most of our runs.
`CancellableExecutor` abandons the thread on cancellation (the job finishes on its own and
its result is dropped), so the task is cancelled as asyncio promises.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import trio
import trio_asyncio

from . import icehosts

T = TypeVar("T")

DRAIN_SECONDS = 5.0


class CancellableExecutor(trio_asyncio.TrioExecutor):
    """trio_asyncio's executor, but a cancelled caller stops waiting for the thread."""

    async def submit(self, func: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(func, *args, abandon_on_cancel=True)


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
        loop.set_default_executor(CancellableExecutor())
        media = MediaLoop(loop)
        try:
            yield media
        finally:
            with trio.CancelScope(shield=True):
                await media.drain(drain_seconds)
