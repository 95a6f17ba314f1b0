"""The base of every protocol machine: events in, actions out, a specific error when illegal.

Machines are python-statemachine classes whose class body is the spec. Callbacks only record
actions; the owning actor carries them out. Nothing here touches a socket or a clock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar, cast

from statemachine import StateMachine
from statemachine.event import Event
from statemachine.exceptions import TransitionNotAllowed

from .actions import Action, Close, Report, Send


class ProtocolViolation(Exception):
    """An event arrived in a state that does not allow it."""

    def __init__(self, machine: str, state: str, event: str) -> None:
        super().__init__(f"{machine}: {event!r} is not allowed in state {state!r}")
        self.machine = machine
        self.state = state
        self.event = event


P = TypeVar("P", bound=StrEnum)


class PhasesUndeclared(TypeError):
    """A machine class was asked for its phase but declares no `Phase` enum (a bug the audit's
    `phases` rule reports first)."""


class ProtocolMachine(StateMachine, Generic[P]):
    """Feed events with `handle`; it returns the actions the transition produced.

    Subclasses name the peer events that arrive on the wire in `wire_events` (readable
    event name -> wire command); the other events are the owner's (timeouts, results of
    checks the actor did, local requests). Each declares its states a second time as `Phase`,
    a StrEnum whose values are the state ids, so that owners compare `phase is X.LIVE` and a
    renamed state breaks at the type checker instead of silently never matching; the audit
    checks that the two declarations agree.
    """

    purpose: ClassVar[str] = ""
    # Not ClassVar[type[P]]: a class variable cannot mention a type variable. Set it to the
    # machine's own enum; `phase_of` gives it back typed as P.
    Phase: ClassVar[type[StrEnum]]
    wire_events: ClassVar[Mapping[str, str]] = {}
    # A live session has no natural end but a disconnect: the audit accepts these states as
    # ends of a conversation, as it does final states.
    resting: ClassVar[frozenset[str]] = frozenset()
    # States in which the owner seals to the people the machine vouches for (a private
    # channel's roster). The audit's `seal-unverified` rule wants every transition into one
    # guarded by a verdict the owner computed, so no event sequence reaches it unchecked.
    sealing_states: ClassVar[frozenset[str]] = frozenset()
    # State id -> events that state refuses on purpose (`handle` raises ProtocolViolation).
    # The audit wants every (state, event) pair handled or listed here, so that a missing
    # transition is a decision and not an oversight; final states refuse everything unlisted.
    rejects: ClassVar[Mapping[str, Collection[str]]] = {}

    # The audit (`python -m gossip.fsm check`) owns these rules and reports them readably;
    # left on, the library raises at import and the audit never gets to run.
    validate_disconnected_states = False
    validate_trap_states = False
    validate_final_reachability = False

    def __init__(self, start_value: str | None = None) -> None:
        """`start_value`: begin in that state instead of the initial one (for
        CompiledMachine, which decides an event in any state on a fresh instance)."""
        self._pending: list[Action] = []
        super().__init__(start_value=start_value)

    @classmethod
    def phase_of(cls, state_id: str) -> P:
        """The declared phase for a state id (ValueError if the state is not a phase)."""
        phases: type[StrEnum] | None = getattr(cls, "Phase", None)
        if phases is None:
            raise PhasesUndeclared(f"{cls.__name__} declares no `Phase` enum")
        return cast(P, phases(state_id))

    @classmethod
    def event_names(cls) -> frozenset[str]:
        """Every event the class body declares."""
        # The metaclass makes `events` a class-level list; its stubs describe the method.
        events: Iterable[Event] = cls.events  # type: ignore[assignment]
        return frozenset(event.id for event in events)

    # -- used by the class bodies -----------------------------------------------------------
    def send_frame(self, command: Any) -> None:
        self._pending.append(Send(command))

    def close(self, reason: str, code: str = "protocol") -> None:
        self._pending.append(Close(reason, code))

    def report(self, what: str) -> None:
        self._pending.append(Report(what))

    # -- used by the actor ------------------------------------------------------------------
    def handle(self, event: str, **data: Any) -> list[Action]:
        """Apply one event; return the actions, or raise ProtocolViolation if illegal."""
        self._pending = []
        if event not in self.event_names():
            # `send` would look up any attribute (a state, a method) by that name.
            raise ProtocolViolation(type(self).__name__, self.state_id, event)
        try:
            self.send(event, **data)
        except TransitionNotAllowed:
            raise ProtocolViolation(type(self).__name__, self.state_id, event) from None
        actions, self._pending = self._pending, []
        return actions

    @property
    def state_id(self) -> str:
        return next(iter(self.configuration)).id

    @property
    def phase(self) -> P:
        return self.phase_of(self.state_id)

    @property
    def finished(self) -> bool:
        return any(state.final for state in self.configuration)

    def allowed(self) -> list[str]:
        """Events the current state accepts (for reports and property tests)."""
        return sorted({event.id for event in self.allowed_events})
