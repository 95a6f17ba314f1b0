"""The thread boundary: the client's actors run under trio on a thread of their own; the
render thread posts intents without ever waiting, and drains notices once per frame. The
trio thread also hosts the process's one asyncio loop for aiortc, which every call reuses.

    render thread ──post(intent)──► trio token ──► BridgeActor ──asks──► Session
    render thread ◄──drain()── NoticeQueue ◄──put── keeper, bridge actor, session events
                  ◄──wakes──── (each put pokes the sleeping render thread awake)
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from gossip.actors import ActorError, ActorRef
from gossip.actors.actor import run_actor
from gossip.media.loop import open_media_loop

from . import notices as nt
from .intents import Intent
from .trioside.bridge_actor import BridgeActor, Shutdown
from .trioside.callcontrol import CallSetup
from .videofeeds import VideoFeeds

log = logging.getLogger("gossip.ui")

NOTICE_QUEUE_SIZE = 4096
START_TIMEOUT = 10.0
STOP_TIMEOUT = 8.0
# Bounded wait, on the way out, for the asyncio tasks aiortc leaves behind after a close.
MEDIA_DRAIN_SECONDS = 2.0


class BridgeError(Exception):
    """The trio thread could not be started, or has stopped."""


class NoticeQueue:
    """Bounded and thread-safe. The trio side never waits: when the UI falls this far
    behind, a notice is dropped and counted, and the UI is told to fetch a fresh state."""

    def __init__(self, size: int = NOTICE_QUEUE_SIZE) -> None:
        self._queue: queue.Queue[nt.Notice] = queue.Queue(size)
        self._lost = 0
        self._lock = threading.Lock()
        self._listener: Callable[[], None] | None = None

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Call `listener` (from the putting thread, so it must not block) after each put: the
        app wakes its render thread with it, which sleeps while nothing changes."""
        self._listener = listener

    def put(self, notice: nt.Notice) -> None:
        try:
            self._queue.put_nowait(notice)
        except queue.Full:
            with self._lock:
                self._lost += 1
        listener = self._listener
        if listener is not None:
            listener()

    def get(self, timeout: float) -> nt.Notice:
        """The next notice, waiting at most `timeout` seconds (for scripts and tests; the
        render thread uses `drain`, which never waits). Raises TimeoutError."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no notice within {timeout:g} s") from None

    def drain(self, limit: int) -> list[nt.Notice]:
        items: list[nt.Notice] = []
        while len(items) < limit:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        with self._lock:
            lost, self._lost = self._lost, 0
        if lost:
            items.append(nt.NoticesLost(lost))
        return items


@dataclass
class Backstage:
    """What a backdrop task (demo mode's scene) gets: the bridge's actor, to post intents to
    as the user would."""

    bridge: ActorRef


Backdrop = Callable[[Backstage], Awaitable[None]]


class Bridge:
    def __init__(self, *, backdrop: Backdrop | None = None,
                 call_setup: CallSetup | None = None, retry_base: float = 1.0,
                 queue_size: int = NOTICE_QUEUE_SIZE) -> None:
        self.notices = NoticeQueue(queue_size)
        # The call's video streams, filled on the trio thread and read by the UI's converter.
        self.video_feeds = VideoFeeds()
        self._backdrop = backdrop
        self._call_setup = call_setup
        self._retry_base = retry_base
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._ref: ActorRef | None = None
        self._shutdown: trio.Event | None = None
        self.failure: BaseException | None = None

    # -- the render thread's side -------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run_trio, name="gossip-actors",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT) or self._token is None:
            raise BridgeError(f"the actor thread did not start: {self.failure!r}")

    def post(self, intent: Intent) -> None:
        """Hand an intent to the actors. Never waits for them: the trio loop picks it up."""
        if self._token is None:
            raise BridgeError("the bridge is not running")
        try:
            self._token.run_sync_soon(self._deliver, intent)
        except trio.RunFinishedError:
            raise BridgeError("the actor thread has stopped") from None

    def drain(self, limit: int = 500) -> list[nt.Notice]:
        return self.notices.drain(limit)

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Leave the hub politely and end the actor thread; False if it did not end in time."""
        if self._thread is None:
            return True
        if self._token is not None and self._shutdown is not None:
            try:
                self._token.run_sync_soon(self._shutdown.set)
            except trio.RunFinishedError:
                pass
        self._thread.join(timeout)
        stopped = not self._thread.is_alive()
        if not stopped:
            log.warning("the actor thread did not stop within %.0f s", timeout)
        return stopped

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the trio thread's side -----------------------------------------------------------------
    def _run_trio(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to the UI, which cannot work without us
            self.failure = exc
            log.exception("the actor thread failed")
            self.notices.put(nt.BackendFailed(f"{type(exc).__name__}: {exc}"))
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._shutdown = trio.Event()
        actor = BridgeActor(self.notices.put, call_setup=self._call_setup,
                            retry_base=self._retry_base, video_feeds=self.video_feeds)
        # Entered around everything, so every call (ours and the demo's) shares the loop.
        async with open_media_loop(drain_seconds=MEDIA_DRAIN_SECONDS), \
                trio.open_nursery() as nursery:
            self._ref = await nursery.start(run_actor, actor)
            if self._backdrop is not None:
                nursery.start_soon(self._run_backdrop, Backstage(self._ref))
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await self._shutdown.wait()
            with trio.move_on_after(STOP_TIMEOUT / 2):
                try:
                    await self._ref.ask(Shutdown())
                except ActorError:
                    pass
            nursery.cancel_scope.cancel()

    async def _run_backdrop(self, backstage: Backstage) -> None:
        assert self._backdrop is not None
        try:
            await self._backdrop(backstage)
        except Exception as exc:  # a broken scene should not take the app down with it
            log.exception("the backdrop failed")
            self.notices.put(nt.CommandFailed("run the demo scene", f"{exc}"))

    def _deliver(self, intent: Intent) -> None:
        """Runs on the trio thread, called soon after `post`."""
        assert self._ref is not None
        try:
            self._ref.tell_nowait(intent)
        except ActorError as exc:  # a full inbox: the user clicked faster than we work
            self.notices.put(nt.CommandFailed("do that now", str(exc)))
