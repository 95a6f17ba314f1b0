"""Running a machine for the audit: reach any state by a shortest path, fire one event there.

The probe drives real instances through `handle`, so what the audit, the docs and the tests
report is what the code does. A machine's state id is taken to be its whole state: protocol
machines keep no other data (their class body is the spec).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from statemachine.transition import Transition

from ..actions import Action
from ..base import ProtocolMachine, ProtocolViolation
from .model import Edge, MachineSpec

GuardData = tuple[tuple[str, bool], ...]  # the verdicts an actor passes with an event


@dataclass(frozen=True)
class ProbeStep:
    """One event as the owning actor would feed it: name and guard verdicts."""

    event: str
    data: GuardData = ()

    def __str__(self) -> str:
        verdicts = ", ".join(f"{key}={value}" for key, value in self.data)
        return f"{self.event}({verdicts})" if verdicts else self.event


@dataclass(frozen=True)
class Outcome:
    """What one event did in one state: the transition taken and the actions, or a refusal."""

    source: str
    step: ProbeStep
    target: str
    edge: Edge | None  # the declared transition that fired; None when refused
    actions: tuple[Action, ...]
    violation: str | None = None  # ProtocolViolation's message when refused

    @property
    def refused(self) -> bool:
        return self.violation is not None


class MachineCrashed(Exception):
    """A machine raised something other than ProtocolViolation (or could not be built)."""

    def __init__(self, machine: str, where: str, error: BaseException) -> None:
        super().__init__(f"{machine}: {where}: {type(error).__name__}: {error}")
        self.machine = machine
        self.where = where
        self.error = error


class _TransitionRecorder:
    """A python-statemachine listener that notes which declared transitions fire."""

    def __init__(self) -> None:
        self.fired: list[tuple[Transition, str]] = []

    def on_transition(self, transition: Transition, event: str) -> None:
        self.fired.append((transition, str(event)))


def verdicts(keywords: tuple[str, ...]) -> Iterator[GuardData]:
    """Every combination of truth values for the guard keywords an actor supplies."""
    for values in itertools.product((True, False), repeat=len(keywords)):
        yield tuple(zip(keywords, values, strict=True))


class Probe:
    """Fires events at a machine class in any reachable state; outcomes are cached."""

    def __init__(self, machine: type[ProtocolMachine]) -> None:
        self.spec = MachineSpec(machine)
        self._outcomes: dict[tuple[str, ProbeStep], Outcome] = {}

    @property
    def machine(self) -> type[ProtocolMachine]:
        return self.spec.machine

    def new(self) -> tuple[ProtocolMachine, _TransitionRecorder]:
        try:
            instance = self.machine()
        except Exception as error:  # the library checks callbacks only when instantiating
            raise MachineCrashed(self.spec.name, "instantiation", error) from error
        recorder = _TransitionRecorder()
        instance.add_listener(recorder)
        return instance, recorder

    @cached_property
    def paths(self) -> Mapping[str, tuple[ProbeStep, ...]]:
        """A shortest event path from the initial state to every state the code can reach."""
        paths: dict[str, tuple[ProbeStep, ...]] = {self.spec.initial: ()}
        queue = deque([self.spec.initial])
        while queue:
            state = queue.popleft()
            for event in self.spec.events:
                if not self.spec.handles(state, event):
                    continue
                for outcome in self.outcomes(state, event, _paths=paths):
                    if not outcome.refused and outcome.target not in paths:
                        paths[outcome.target] = (*paths[state], outcome.step)
                        queue.append(outcome.target)
        return paths

    def at(self, state: str,
           _paths: Mapping[str, tuple[ProbeStep, ...]] | None = None
           ) -> tuple[ProtocolMachine, _TransitionRecorder]:
        """A fresh instance brought to `state` along its shortest path."""
        path = (_paths if _paths is not None else self.paths)[state]
        instance, recorder = self.new()
        for step in path:
            instance.handle(step.event, **dict(step.data))
        recorder.fired.clear()
        return instance, recorder

    def fire(self, state: str, step: ProbeStep,
             _paths: Mapping[str, tuple[ProbeStep, ...]] | None = None) -> Outcome:
        key = (state, step)
        if key not in self._outcomes:
            self._outcomes[key] = self._fire(state, step, _paths)
        return self._outcomes[key]

    def outcomes(self, state: str, event: str,
                 _paths: Mapping[str, tuple[ProbeStep, ...]] | None = None) -> tuple[Outcome, ...]:
        """The outcome of `event` in `state` for every combination of guard verdicts."""
        keywords = self.spec.guard_keywords(state, event)
        return tuple(self.fire(state, ProbeStep(event, data), _paths)
                     for data in verdicts(keywords))

    def _fire(self, state: str, step: ProbeStep,
              _paths: Mapping[str, tuple[ProbeStep, ...]] | None) -> Outcome:
        instance, recorder = self.at(state, _paths)
        where = f"{step} in state {state!r}"
        try:
            actions = instance.handle(step.event, **dict(step.data))
        except ProtocolViolation as violation:
            if instance.state_id != state:
                raise MachineCrashed(self.spec.name, where, RuntimeError(
                    f"refused, yet moved to {instance.state_id!r}")) from violation
            return Outcome(state, step, state, None, (), str(violation))
        except Exception as error:
            raise MachineCrashed(self.spec.name, where, error) from error
        edge = None
        for transition, event in recorder.fired:
            edge = self.spec.edge_by_transition.get((id(transition), event), edge)
        return Outcome(state, step, instance.state_id, edge, tuple(actions))
