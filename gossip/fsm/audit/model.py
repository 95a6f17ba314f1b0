"""A static view of one machine class: states, events, guarded edges and the declarations.

Everything the audit knows about a machine's shape comes from here, read off the
python-statemachine class itself, so a report always describes the code as written.
"""

from __future__ import annotations

import ast
import inspect
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from statemachine.callbacks import CallbackSpec, SpecReference
from statemachine.event import Event
from statemachine.spec_parser import replace_operators
from statemachine.transition import Transition

from ..base import ProtocolMachine

# Names python-statemachine passes to every callback; a guard parameter with one of these
# names is not something the actor supplies.
LIBRARY_KEYWORDS = frozenset({
    "event_data", "machine", "model", "event", "transition", "state", "source", "target",
    "error",
})
# A guard made of more atoms than this is not enumerated (2**n assignments).
MAX_GUARD_ATOMS = 10


@dataclass(frozen=True)
class Guard:
    """One condition of a transition: a named method, an expression over names, or a callable."""

    text: str  # as the library shows it ("proof_valid", "a and not b", "<lambda>")
    expected: bool  # False for `unless=`
    named: bool  # written as a name of the machine's own, not an anonymous callable
    atoms: tuple[str, ...]  # the names it reads; the whole text when it cannot be parsed
    keywords: tuple[str, ...]  # the event data it reads, which the owning actor supplies
    _tree: ast.expr | None

    @classmethod
    def of(cls, spec: CallbackSpec, machine: type[ProtocolMachine]) -> Guard:
        expected = spec.expected_value is not False
        if spec.reference is not SpecReference.NAME:
            func = spec.func.fget if isinstance(spec.func, property) else spec.func
            return cls(spec.attr_name, expected, False, (spec.attr_name,), keywords_of(func),
                       None)
        text = str(spec.func)
        tree = _parse_boolean(text)
        atoms = tuple(sorted(_names(tree))) if tree is not None else (text,)
        keywords = sorted({kw for atom in atoms
                           for kw in keywords_of(getattr(machine, atom, None))})
        return cls(text, expected, True, atoms, tuple(keywords), tree)

    def holds(self, values: Mapping[str, bool]) -> bool:
        """Whether the transition's condition passes when its atoms take these values."""
        result = _evaluate(self._tree, values) if self._tree is not None else values[self.text]
        return result == self.expected

    def __str__(self) -> str:
        if self.expected:
            return self.text
        return f"!{self.text}" if self.atoms == (self.text,) else f"!({self.text})"


@dataclass(frozen=True)
class Edge:
    """One declared transition for one event: source --event [guards]--> target."""

    source: str
    event: str
    target: str
    guards: tuple[Guard, ...]
    internal: bool
    transition_id: int  # id() of the library's Transition, to recognise it when it fires

    @property
    def guard_text(self) -> str:
        return " and ".join(str(guard) for guard in self.guards)

    def enabled(self, values: Mapping[str, bool]) -> bool:
        return all(guard.holds(values) for guard in self.guards)

    def __str__(self) -> str:
        guard = f" [{self.guard_text}]" if self.guards else ""
        return f"{self.source} --{self.event}{guard}--> {self.target}"


@dataclass(frozen=True)
class MachineSpec:
    """The shape of a ProtocolMachine class, as the audit, the docs and the tests see it."""

    machine: type[ProtocolMachine]

    @property
    def name(self) -> str:
        return self.machine.__name__

    @cached_property
    def states(self) -> tuple[str, ...]:
        return tuple(state.id for state in self.machine.states)

    @cached_property
    def initial(self) -> str:
        return str(next(state.id for state in self.machine.states if state.initial))

    @cached_property
    def finals(self) -> frozenset[str]:
        return frozenset(state.id for state in self.machine.states if state.final)

    @property
    def resting(self) -> frozenset[str]:
        return frozenset(self.machine.resting)

    @property
    def ends(self) -> frozenset[str]:
        """States where a conversation may stop: final or resting."""
        return self.finals | self.resting

    @cached_property
    def events(self) -> tuple[str, ...]:
        # The metaclass makes `events` a class-level list; its stubs describe the method.
        events: Iterable[Event] = self.machine.events  # type: ignore[assignment]
        return tuple(event.id for event in events)

    @property
    def wire_events(self) -> Mapping[str, str]:
        return self.machine.wire_events

    @cached_property
    def event_for_command(self) -> Mapping[str, str]:
        """Wire command -> the event it arrives as (the inverse of `wire_events`)."""
        return {command: event for event, command in self.wire_events.items()}

    @cached_property
    def owner_events(self) -> tuple[str, ...]:
        """Events the owning actor raises itself (timeouts, local requests, results)."""
        return tuple(event for event in self.events if event not in self.wire_events)

    def rejects(self, state: str) -> frozenset[str]:
        return frozenset(self.machine.rejects.get(state, ()))

    @cached_property
    def edges(self) -> tuple[Edge, ...]:
        return tuple(_edges(self.machine))

    def edges_from(self, state: str, event: str | None = None) -> tuple[Edge, ...]:
        return tuple(
            edge for edge in self.edges
            if edge.source == state and (event is None or edge.event == event)
        )

    def handles(self, state: str, event: str) -> bool:
        return bool(self.edges_from(state, event))

    @cached_property
    def edge_by_transition(self) -> Mapping[tuple[int, str], Edge]:
        return {(edge.transition_id, edge.event): edge for edge in self.edges}

    def guard_atoms(self, state: str, event: str) -> tuple[str, ...]:
        atoms = {atom for edge in self.edges_from(state, event) for guard in edge.guards
                 for atom in guard.atoms}
        return tuple(sorted(atoms))

    def guard_keywords(self, state: str, event: str) -> tuple[str, ...]:
        """The event data the guards of (state, event) read: the actor's verdicts."""
        keywords = {kw for edge in self.edges_from(state, event) for guard in edge.guards
                    for kw in guard.keywords}
        return tuple(sorted(keywords))

    def guard_assignments(self, state: str, event: str) -> Iterator[dict[str, bool]]:
        """Every truth assignment of the guard atoms that (state, event) depends on."""
        atoms = self.guard_atoms(state, event)[:MAX_GUARD_ATOMS]
        for values in itertools.product((True, False), repeat=len(atoms)):
            yield dict(zip(atoms, values, strict=True))

    def reachable(self, start: str | None = None) -> frozenset[str]:
        """States reachable from `start` (the initial state by default), whatever the guards."""
        seen = {start or self.initial}
        frontier = list(seen)
        while frontier:
            state = frontier.pop()
            for edge in self.edges_from(state):
                if edge.target not in seen:
                    seen.add(edge.target)
                    frontier.append(edge.target)
        return frozenset(seen)


def _edges(machine: type[ProtocolMachine]) -> Iterator[Edge]:
    for state in machine.states:
        transition: Transition
        for transition in state.transitions:
            target = transition.target.id if transition.target is not None else state.id
            guards = tuple(Guard.of(spec, machine) for spec in transition.cond)
            for event in transition.events:
                yield Edge(state.id, str(event.id), target, guards, bool(transition.internal),
                           id(transition))


def keywords_of(func: object) -> tuple[str, ...]:
    """Parameters of a guard that the actor fills in (not self, not the library's own)."""
    if func is None or not callable(func):
        return ()
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return ()
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(
        parameter.name for parameter in parameters
        if parameter.kind in plain and parameter.name != "self"
        and parameter.name not in LIBRARY_KEYWORDS
    )


def _parse_boolean(text: str) -> ast.expr | None:
    """Parse a guard expression made of names, and, or, not; None for anything richer."""
    try:
        tree = ast.parse(replace_operators(text), mode="eval").body
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.BoolOp | ast.UnaryOp | ast.Name | ast.And | ast.Or
                          | ast.Not | ast.Load):
            return None
        if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not):
            return None
    return tree


def _names(tree: ast.expr) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _evaluate(tree: ast.expr, values: Mapping[str, bool]) -> bool:
    if isinstance(tree, ast.Name):
        return bool(values[tree.id])
    if isinstance(tree, ast.UnaryOp):
        return not _evaluate(tree.operand, values)
    if isinstance(tree, ast.BoolOp):
        results = (_evaluate(operand, values) for operand in tree.values)
        return all(results) if isinstance(tree.op, ast.And) else any(results)
    raise TypeError(f"not a boolean guard expression: {ast.dump(tree)}")  # _parse_boolean bars it
