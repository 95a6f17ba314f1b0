"""Supervisors: the one place that decides what a child's crash or exit means, as in Erlang/OTP.

One-for-one restarts within a restart intensity (at most `max_restarts` in `period` seconds),
beyond which the supervisor stops its children and fails upward. A Supervisor is an Actor, so
supervisors nest.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

import trio

from gossip.actors.actor import Actor, ActorRef, Inbox, close_inbox, open_inbox, run_instance
from gossip.actors.errors import ActorStopped, RestartIntensityExceeded

logger = logging.getLogger(__name__)


class Restart(Enum):
    """When a child that has ended is started again."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after a crash
    TEMPORARY = "temporary"  # never (e.g. one actor per network connection)

    def wants_restart(self, crashed: bool) -> bool:
        return self is Restart.PERMANENT or (self is Restart.TRANSIENT and crashed)


@dataclass(frozen=True)
class ChildSpec:
    """How to (re)create one child: a fresh actor from `factory` on each start.

    The factory should only construct; fallible set-up (I/O) belongs in `Actor.started`,
    where a failure is the child's own. A raising factory is a bug and fails the supervisor.
    """

    name: str
    factory: Callable[[], Actor]
    restart: Restart = Restart.PERMANENT


@dataclass(frozen=True)
class StartChild:
    """Ask a supervisor's ref to start a child; the answer is the child's ActorRef."""

    spec: ChildSpec


@dataclass(frozen=True)
class StopChild:
    """Ask a supervisor's ref to stop a child; answered once the child has stopped."""

    name: str


@dataclass(eq=False)
class _Child:
    """One child slot: its inbox and ref outlive the actor instances that serve them."""

    spec: ChildSpec
    ref: ActorRef
    inbox: Inbox
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    up: bool = False
    done: trio.Event = field(default_factory=trio.Event)


class Supervisor(Actor):
    """Runs children one-for-one: a crash restarts only that child, siblings are untouched.

    Each child keeps one ActorRef across its restarts: messages queued while it restarts
    are served by the new instance; only the message being handled at the crash is lost.
    Cancellation stops every child (each gets `stopped()`) and never counts as a failure.
    Subclasses overriding `started` or `receive` must call the base versions.
    """

    def __init__(
        self, children: Iterable[ChildSpec] = (), *, max_restarts: int = 3, period: float = 5.0
    ) -> None:
        self.max_restarts = max_restarts
        self.period = period
        self.restarts: Counter[str] = Counter()  # per child name, kept after it is gone
        # Ends by an exception, restarted or not (a temporary child's crash is only logged
        # otherwise): lets a caller check that faults were handled, not survived by luck.
        self.crashes: Counter[str] = Counter()
        self._specs = tuple(children)
        self._children: dict[str, _Child] = {}
        self._recent_restarts: deque[float] = deque()

    @property
    def children(self) -> Mapping[str, ActorRef]:
        """The running children's refs by name."""
        return {name: child.ref for name, child in self._children.items()}

    async def run(
        self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve as a top-level supervisor until cancelled: `await nursery.start(sup.run)`.

        Reports `self` once the static children are up. Raises RestartIntensityExceeded
        when it gives up, and a static child's exception if that child fails to start.
        """
        ref, inbox = open_inbox(type(self).__name__, self.inbox_size)
        try:
            await run_instance(self, ref, inbox, lambda: task_status.started(self))
        finally:
            close_inbox(inbox)

    async def started(self) -> None:
        for spec in self._specs:
            await self.start_child(spec)

    async def receive(self, message: object) -> object:
        match message:
            case StartChild(spec):
                return await self.start_child(spec)
            case StopChild(name):
                await self.stop_child(name)
                return None
        return await super().receive(message)

    async def start_child(self, spec: ChildSpec) -> ActorRef:
        """Start a child and return its ref once its `started()` has returned.

        If that first `started()` fails, its exception is raised here and no child is
        added: there is nothing yet to restart.
        """
        if spec.name in self._children:
            raise ValueError(f"{self.ref.name} already has a child named {spec.name!r}")
        actor = spec.factory()
        ref, inbox = open_inbox(spec.name, actor.inbox_size)
        child = _Child(spec, ref, inbox)
        self._children[spec.name] = child
        try:
            started_ref: ActorRef = await self.nursery.start(self._supervise, child, actor)
        except BaseException:
            self._forget(child)
            raise
        return started_ref

    async def stop_child(self, name: str) -> None:
        """Stop a child (it gets `stopped()`) and forget it.

        A missing name is not an error: a temporary child may have ended by itself meanwhile.
        """
        child = self._children.get(name)
        if child is not None:
            child.scope.cancel()
            await child.done.wait()

    async def _supervise(
        self, child: _Child, actor: Actor, *, task_status: trio.TaskStatus[ActorRef]
    ) -> None:
        """Run one child slot: its first instance, then restarts as its policy says."""

        def ready() -> None:
            if not child.up:
                child.up = True
                task_status.started(child.ref)

        try:
            with child.scope:
                while True:
                    failure: Exception | None = None
                    try:
                        await run_instance(actor, child.ref, child.inbox, ready)
                    except Exception as exc:
                        if not child.up:
                            raise  # to start_child's caller
                        failure = exc
                        self.crashes[child.spec.name] += 1
                    if not child.spec.restart.wants_restart(failure is not None):
                        self._log_end(child.spec, failure)
                        return
                    # No restart while this child, or the whole supervisor, is being stopped
                    # (e.g. a sibling has just exceeded the restart intensity).
                    await trio.lowlevel.checkpoint_if_cancelled()
                    self._count_restart(child.spec.name, failure)
                    actor = child.spec.factory()
            if not child.up:
                raise ActorStopped(f"{child.spec.name} was stopped while starting")
        finally:
            self._forget(child)

    def _count_restart(self, name: str, failure: Exception | None) -> None:
        """Record a restart, or give up if it would exceed the restart intensity."""
        now = trio.current_time()
        while self._recent_restarts and self._recent_restarts[0] <= now - self.period:
            self._recent_restarts.popleft()
        if len(self._recent_restarts) >= self.max_restarts:
            logger.error(
                "%s: giving up: %s ended again after %d restarts within %ss",
                self.ref.name,
                name,
                len(self._recent_restarts),
                self.period,
                exc_info=failure,
            )
            # Raised into this supervisor's nursery: that cancels the siblings and makes the
            # supervisor itself fail with it.
            raise RestartIntensityExceeded(
                f"{self.ref.name}: more than {self.max_restarts} restarts in {self.period}s"
                f" (last: {name})"
            ) from failure
        self._recent_restarts.append(now)
        self.restarts[name] += 1
        why = "crashed" if failure is not None else "ended"
        logger.warning("%s: restarting %s, which %s", self.ref.name, name, why, exc_info=failure)

    def _log_end(self, spec: ChildSpec, failure: Exception | None) -> None:
        if failure is None:
            logger.debug("%s: %s ended", self.ref.name, spec.name)
        else:
            logger.warning(
                "%s: %s crashed and is %s: not restarted",
                self.ref.name,
                spec.name,
                spec.restart.value,
                exc_info=failure,
            )

    def _forget(self, child: _Child) -> None:
        if child.done.is_set():
            return
        if self._children.get(child.spec.name) is child:
            del self._children[child.spec.name]
        close_inbox(child.inbox)
        child.done.set()
