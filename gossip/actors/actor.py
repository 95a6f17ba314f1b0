"""Actors: a unit of state behind a bounded inbox, and the ActorRef that is the only way in.

Owns one actor instance's life (started -> main -> stopped), its helper tasks, and how `ask`
replies travel back. Restart policy is not here: see `supervisor.py`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar, cast

import trio

from gossip.actors.errors import ActorFailed, ActorStopped, InboxFull, Refusal

log = logging.getLogger("gossip.actors")

DEFAULT_INBOX_SIZE = 64

R = TypeVar("R", covariant=True)


class Request(Generic[R]):
    """Base of a message that is asked, not told: it declares the type of its answer.

    `await ref.ask(request)` returns an `R`, or raises the actor's `Refusal` (or a runtime
    error). Subclass as `@dataclass(frozen=True) class GetState(Request[SessionState])`.
    """

    __slots__ = ()


class _Reply:
    """The one-shot slot an `ask` waits on."""

    __slots__ = ("cause", "done", "refusal", "stopped", "value")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.value: object = None
        self.cause: BaseException | None = None
        self.refusal: Refusal | None = None
        self.stopped = False

    def resolve(self, value: object) -> None:
        self.value = value
        self.done.set()

    def refuse(self, refusal: Refusal) -> None:
        self.refusal = refusal
        self.done.set()

    def fail(self, exc: BaseException) -> None:
        # Cancelled or KeyboardInterrupt mean the actor was torn down, not that it crashed.
        if isinstance(exc, Exception):
            self.cause = exc
        else:
            self.stopped = True
        self.done.set()

    def stop(self) -> None:
        self.stopped = True
        self.done.set()


@dataclass(frozen=True, slots=True)
class _Envelope:
    message: object
    reply: _Reply | None


Inbox = trio.MemoryReceiveChannel[_Envelope]

# `open_inbox`, `close_inbox` and `run_instance` are for supervisor.py, not the package API.


class ActorRef:
    """The handle others hold to send an actor messages.

    Under a supervisor the same ref serves every restart of a child, so holders never need a
    new one; messages queued while the child restarts are kept.
    """

    __slots__ = ("_send", "_trio_token", "name")

    def __init__(self, name: str, send: trio.MemorySendChannel[_Envelope]) -> None:
        self.name = name
        self._send = send
        self._trio_token = trio.lowlevel.current_trio_token()

    def __repr__(self) -> str:
        return f"<ActorRef {self.name}>"

    async def tell(self, message: object) -> None:
        """Queue `message`, waiting while the inbox is full. Raises ActorStopped."""
        await self._post(_Envelope(message, None))

    def tell_nowait(self, message: object) -> None:
        """Queue `message` now or raise InboxFull. Raises ActorStopped."""
        try:
            self._send.send_nowait(_Envelope(message, None))
        except trio.WouldBlock:
            raise InboxFull(f"{self.name}'s inbox is full") from None
        except trio.BrokenResourceError:
            raise ActorStopped(f"{self.name} has stopped") from None

    def tell_threadsafe(self, message: object) -> None:
        """`tell_nowait` from a thread that is not running trio (a UI thread, say).

        Never waits for inbox space: a full inbox raises InboxFull at once. The calling thread
        only waits for the trio loop to run the enqueue, which takes no trio time. From trio
        code, use `tell_nowait` instead.
        """
        try:
            trio.from_thread.run_sync(self.tell_nowait, message, trio_token=self._trio_token)
        except trio.RunFinishedError:
            raise ActorStopped(f"{self.name} has stopped: its trio run is over") from None

    async def ask(self, message: Request[R]) -> R:
        """Send `message` and return what the actor's `receive` returns for it.

        Raises the actor's `Refusal` as it is (the actor goes on), ActorFailed (with the
        actor's exception as `__cause__`) if the actor crashed handling it, and ActorStopped
        if the actor stopped first. Callers wanting a timeout wrap the call in
        `trio.fail_after`.
        """
        reply = _Reply()
        await self._post(_Envelope(message, reply))
        await reply.done.wait()
        if reply.refusal is not None:
            raise reply.refusal
        if reply.stopped:
            raise ActorStopped(f"{self.name} stopped before answering")
        if reply.cause is not None:
            raise ActorFailed(
                f"{self.name} crashed handling a {type(message).__name__}"
            ) from reply.cause
        return cast(R, reply.value)

    async def _post(self, envelope: _Envelope) -> None:
        try:
            await self._send.send(envelope)
        except trio.BrokenResourceError:
            raise ActorStopped(f"{self.name} has stopped") from None


def open_inbox(name: str, size: int) -> tuple[ActorRef, Inbox]:
    """A bounded inbox and the ref that feeds it; it outlives any one actor instance."""
    send, receive = trio.open_memory_channel[_Envelope](size)
    return ActorRef(name, send), receive


def close_inbox(inbox: Inbox) -> None:
    """Answer every queued `ask` with ActorStopped, then make further sends raise it."""
    # Draining first matters: closing a trio channel silently drops what is buffered,
    # which would leave those askers waiting forever.
    while True:
        try:
            envelope = inbox.receive_nowait()
        except (trio.WouldBlock, trio.ClosedResourceError):
            break
        if envelope.reply is not None:
            envelope.reply.stop()
    inbox.close()


class Actor:
    """Subclass and override `receive`; optionally `started`, `stopped` and `main`.

    An actor handles one message at a time, so its state needs no locks. Helper tasks
    started in `self.nursery` (a writer loop, say) die with the actor, and a crash in one is
    the actor's crash. Subclasses need not call `Actor.__init__`.
    """

    inbox_size: int = DEFAULT_INBOX_SIZE
    # Seconds `stopped()` may run before it is cut short, so a stuck hook cannot block a stop.
    stop_timeout: float = 5.0

    _ref: ActorRef | None = None
    _inbox: Inbox | None = None
    _nursery: trio.Nursery | None = None

    @property
    def ref(self) -> ActorRef:
        """This actor's own ref, to hand to others (valid from `started` on)."""
        if self._ref is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._ref

    @property
    def nursery(self) -> trio.Nursery:
        """Where to start helper tasks that must live exactly as long as this actor."""
        if self._nursery is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._nursery

    async def started(self) -> None:
        """Runs before `main`; the actor counts as up (for its starter) once this returns."""

    async def stopped(self) -> None:
        """Runs once when this instance ends for any reason: return, crash or cancellation.

        Helper tasks are already gone. It runs shielded from cancellation, for at most
        `stop_timeout` seconds.
        """

    async def receive(self, message: object) -> object:
        """Handle one message; the return value answers an `ask`.

        Raising a `Refusal` answers the asker with it (a told message's refusal is logged)
        and the actor goes on; raising anything else crashes the actor.
        """
        raise NotImplementedError(f"{type(self).__name__} does not handle {type(message)}")

    async def main(self) -> None:
        """The actor's job; by default, serving the inbox. Returning ends the actor normally.

        An I/O actor overrides this with its loop, and serves the inbox from a helper task
        (`self.nursery.start_soon(self.serve)`) if it also takes messages.
        """
        await self.serve()

    async def serve(self) -> None:
        """Hand inbox messages to `receive`, one at a time, until the actor ends."""
        if self._inbox is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        async for envelope in self._inbox:
            await self._handle(envelope)

    def stop(self) -> None:
        """End this actor as a normal exit (not a crash), from inside it."""
        self.nursery.cancel_scope.cancel()

    async def _handle(self, envelope: _Envelope) -> None:
        if envelope.reply is None:
            try:
                await self.receive(envelope.message)
            except Refusal as refusal:
                log.info("%s refused a told %s: %s", type(self).__name__,
                         type(envelope.message).__name__, refusal)
            return
        try:
            value = await self.receive(envelope.message)
        except Refusal as refusal:
            envelope.reply.refuse(refusal)
            return
        except BaseException as exc:
            envelope.reply.fail(exc)
            raise
        envelope.reply.resolve(value)


async def run_instance(
    actor: Actor, ref: ActorRef, inbox: Inbox, ready: Callable[[], object]
) -> None:
    """Run one actor instance from `started` through `stopped`, calling `ready` in between.

    A crash is raised as the actor's own exception, not as a trio ExceptionGroup of one.
    """
    try:
        async with _open_nursery() as nursery:
            actor._ref, actor._inbox, actor._nursery = ref, inbox, nursery
            await actor.started()
            ready()
            await actor.main()
            nursery.cancel_scope.cancel()  # main is done, so its helpers are too
    finally:
        with trio.move_on_after(actor.stop_timeout, shield=True):
            await actor.stopped()


async def run_actor(
    actor: Actor,
    *,
    name: str | None = None,
    task_status: trio.TaskStatus[ActorRef] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `actor` unsupervised until it ends or is cancelled: `await nursery.start(...)`.

    Reports the actor's ref once `started` has returned. A crash propagates to the caller as
    the actor's own exception; there is no restart.
    """
    ref, inbox = open_inbox(name or type(actor).__name__, actor.inbox_size)
    try:
        await run_instance(actor, ref, inbox, partial(task_status.started, ref))
    finally:
        close_inbox(inbox)


@asynccontextmanager
async def open_actor(actor: Actor, *, name: str | None = None) -> AsyncIterator[ActorRef]:
    """Run `actor` for the length of an `async with` block; it is stopped at the block's end."""
    async with _open_nursery() as nursery:
        ref: ActorRef = await nursery.start(partial(run_actor, actor, name=name))
        yield ref
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def _open_nursery() -> AsyncIterator[trio.Nursery]:
    """A trio nursery that raises a lone exception as itself rather than in a group of one.

    Callers of an actor expect `except ValueError` or `except RestartIntensityExceeded` to
    work; several simultaneous failures still arrive as an ExceptionGroup.
    """
    lone: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        cancelled, failures = group.split(trio.Cancelled)
        if cancelled is not None and failures is not None:
            # A failure that raced our own cancellation (a peer link breaking while its call
            # is torn down): the cancellation wins, so that whoever cancelled sees the scope
            # end quietly; the failure is only logged.
            log.warning("failed while being cancelled: %r", failures)
            raise cancelled from None
        lone = _sole_exception(group)
        if lone is group:
            raise
    if lone is not None:
        # Raised outside the except block so it is not chained to the group that held it.
        raise lone


def _sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
