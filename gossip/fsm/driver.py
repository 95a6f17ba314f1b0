"""The one way an actor runs a protocol machine: the machine decides, then the actor builds.

An actor feeds an event (with the guard values it computed) and a table of frame builders;
only the frames the transition asked for are built, so no actor builds a frame "in case". The
result is a `Step`: the frames to send in order, what to report, and whether to close.

The policy for violations, the same for every actor:
- `step` raises `ProtocolViolation` when the event is illegal in the current state. When the
  event came from the peer (a wire frame), the peer broke the protocol: the actor ends the
  conversation that machine governs (the hub closes that connection with `err protocol`, the
  client drops the connection and reconnects, a call leaves, a peer link fails and its
  supervisor decides), and nothing else.
- An owner event (a timeout, a local request) that is illegal is a bug in the actor; the audit
  proves the owners fire them only where legal, so it surfaces as the same exception.
- A builder missing for a frame the machine asked for is a bug too (`MissingFrameBuilder`).
- A `Close` action is not an error: the machine decided to end the conversation with a code
  and a reason, which the actor sends (where it can) before closing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from gossip.wire import Command, Frame

from .actions import Close, Report, Send
from .base import ProtocolMachine
from .compiled import CompiledMachine

# Covariant, so that a MachineDriver[HubKeySync] is a MachineDriver[ProtocolMachine[P]] and
# `phase` can name the machine's own phase enum.
M = TypeVar("M", bound=ProtocolMachine[Any], covariant=True)
P = TypeVar("P", bound=StrEnum)

# Builds the frame (or frames) of one command, called only if the machine asks to send it.
FrameBuilder = Callable[[], Frame | Sequence[Frame]]
Builders = Mapping[Command, FrameBuilder]

NO_BUILDERS: Builders = {}  # for events that send nothing


class MissingFrameBuilder(Exception):
    """The machine asked to send a command the actor gave no builder for (an actor bug)."""


@dataclass(frozen=True, slots=True)
class Step:
    """What one event asked the actor to do, in the machine's order: send `frames`, note
    `reports`, then close with `close` if it is set."""

    frames: tuple[Frame, ...] = ()
    reports: tuple[str, ...] = ()
    close: Close | None = None


class MachineDriver(Generic[M]):
    """A compiled protocol machine (a state id and a shared table: see compiled.py) behind
    the one driving interface every actor uses."""

    __slots__ = ("_compiled",)

    def __init__(self, machine: type[M]) -> None:
        self._compiled: CompiledMachine[M] = CompiledMachine(machine)

    @property
    def machine(self) -> type[M]:
        return self._compiled.machine

    @property
    def state_id(self) -> str:
        return self._compiled.state_id

    @property
    def phase(self: MachineDriver[ProtocolMachine[P]]) -> P:
        """The current state as the machine's declared phase: `driver.phase is X.LIVE`."""
        return self.machine.phase_of(self._compiled.state_id)

    @property
    def finished(self) -> bool:
        return self._compiled.finished

    def step(self, event: str, build: Builders = NO_BUILDERS, **guards: Hashable) -> Step:
        """Apply `event`; raise ProtocolViolation if it is illegal here (see the policy)."""
        actions = self._compiled.handle(event, **guards)
        frames: list[Frame] = []
        reports: list[str] = []
        close: Close | None = None
        for action in actions:
            if isinstance(action, Send):
                builder = build.get(action.command)
                if builder is None:
                    raise MissingFrameBuilder(
                        f"{self.machine.__name__} asked to send {action.command.readable} "
                        f"on {event!r}, and no builder was given")
                built = builder()
                frames.extend((built,) if isinstance(built, Frame) else built)
            elif isinstance(action, Report):
                reports.append(action.what)
            elif isinstance(action, Close):
                close = action
        return Step(tuple(frames), tuple(reports), close)

    def __repr__(self) -> str:
        return f"<driver {self.machine.__name__} in {self.state_id!r}>"
