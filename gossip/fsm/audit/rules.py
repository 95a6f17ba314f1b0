"""The rules one machine must keep, checked on its class: every state reachable, no dead end,
no trap, every (state, event) pair decided, every guard named, declarations consistent.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from gossip.wire import BY_WIRE_NAME

from ..base import ProtocolMachine
from .model import MAX_GUARD_ATOMS, MachineSpec, keywords_of


@dataclass(frozen=True)
class Finding:
    """One broken rule, said so that an auditor can find the culprit in the code."""

    rule: str  # short tag: unreachable, dead-end, trap, undecided, ...
    subject: str  # the machine or pair it is about
    message: str
    trace: tuple[str, ...] = ()  # for pairs: the shortest run that shows it

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


RULES = {
    "declaration": "resting, rejects, wire_events and purpose name real states, events, commands",
    "phases": "the machine declares `Phase`, a StrEnum whose values are exactly its state ids",
    "unreachable": "every state can be reached from the initial state",
    "dead-end": "every non-final state has a way out to another state",
    "trap": "from every state a final or resting state can be reached",
    "undecided": "in every non-final state every event is handled or explicitly rejected",
    "contradiction": "no event is both handled and declared rejected in the same state",
    "guard-gap": "a handled event is decided for every value of its guards",
    "unnamed-guard": "every guard is a named method of the machine",
    "seal-unverified": "every transition into a sealing state is guarded by the owner's verdict",
    # Checked by report.audit, which knows the pairs: a machine alone cannot tell.
    "unpaired": "a machine that takes wire frames is in a pair, so its conversation is explored",
}


def check_machine(name: str, machine: type[ProtocolMachine]) -> list[Finding]:
    """Every finding for one machine class; an empty list means it keeps all the rules."""
    spec = MachineSpec(machine)
    return [Finding(rule, name, message) for rule, message in _findings(spec)]


def _findings(spec: MachineSpec) -> Iterator[tuple[str, str]]:
    yield from _declarations(spec)
    yield from _phases(spec)
    yield from _shape(spec)
    yield from _decisions(spec)
    yield from _guards(spec)
    yield from _sealing(spec)


def _declarations(spec: MachineSpec) -> Iterator[tuple[str, str]]:
    machine = spec.machine
    states, events = set(spec.states), set(spec.events)
    if not machine.purpose.strip():
        yield "declaration", f"{spec.name} has no `purpose` (a one-line summary for auditors)"
    for state in sorted(frozenset(machine.sealing_states) - states):
        yield "declaration", (
            f"`sealing_states` names {state!r}, which is not a state of {spec.name}")
    for state in sorted(spec.resting - states):
        yield "declaration", f"`resting` names {state!r}, which is not a state of {spec.name}"
    for state, rejected in machine.rejects.items():
        if state not in states:
            yield "declaration", f"`rejects` names {state!r}, which is not a state of {spec.name}"
        for event in sorted(set(rejected) - events):
            yield "declaration", (
                f"`rejects` lists {event!r} for state {state!r}, but {spec.name} has no such "
                "event")
    seen: dict[str, str] = {}
    for event, command in spec.wire_events.items():
        if event not in events:
            yield "declaration", f"`wire_events` maps {event!r}, which is not an event"
        if command not in BY_WIRE_NAME:
            yield "declaration", f"`wire_events` maps {event!r} to {command!r}, not a wire command"
        if command in seen:
            yield "declaration", (
                f"wire command {command!r} arrives as two events, {seen[command]!r} and "
                f"{event!r}: the receiver could not tell which")
        seen[command] = event


def _phases(spec: MachineSpec) -> Iterator[tuple[str, str]]:
    phases = getattr(spec.machine, "Phase", None)
    if not (isinstance(phases, type) and issubclass(phases, StrEnum)):
        yield "phases", (
            f"{spec.name} declares no `Phase` StrEnum (owners compare phases, not strings: "
            f"declare one whose values are its state ids, {', '.join(spec.states)})")
        return
    values = {str(phase.value) for phase in phases}
    states = set(spec.states)
    for missing in sorted(states - values):
        yield "phases", f"state {missing!r} has no member in {phases.__name__}"
    for extra in sorted(values - states):
        yield "phases", f"{phases.__name__} has {extra!r}, which is not a state of {spec.name}"


def _shape(spec: MachineSpec) -> Iterator[tuple[str, str]]:
    reachable = spec.reachable()
    for state in spec.states:
        if state not in reachable:
            yield "unreachable", (
                f"state {state!r} cannot be reached from the initial state {spec.initial!r}")
    dead_ends = {
        state for state in spec.states
        if state not in spec.finals
        and not any(edge.target != state for edge in spec.edges_from(state))
    }
    for state in spec.states:
        if state in dead_ends:
            kind = "resting state" if state in spec.resting else "non-final state"
            yield "dead-end", (
                f"{kind} {state!r} has no way out: no transition leads to another state")
    if not spec.ends:
        yield "trap", f"{spec.name} declares no final state and no resting state"
        return
    trapped = [
        state for state in spec.states
        if state not in dead_ends and not (spec.reachable(state) & spec.ends)
    ]
    if trapped:
        yield "trap", (
            f"states {', '.join(map(repr, trapped))} can move but never reach a final or "
            f"resting state ({', '.join(sorted(spec.ends))})")


def _decisions(spec: MachineSpec) -> Iterator[tuple[str, str]]:
    for state in spec.states:
        rejected = spec.rejects(state)
        for event in spec.events:
            handled = spec.handles(state, event)
            if handled and event in rejected:
                yield "contradiction", (
                    f"state {state!r} handles {event!r} but also declares it rejected")
            elif not handled and event not in rejected and state not in spec.finals:
                yield "undecided", (
                    f"state {state!r} neither handles nor rejects event {event!r} "
                    f"(add a transition, or list it in `rejects[{state!r}]`)")


def _guards(spec: MachineSpec) -> Iterator[tuple[str, str]]:
    for edge in spec.edges:
        for guard in edge.guards:
            if not guard.named:
                yield "unnamed-guard", (
                    f"transition {edge} has an anonymous guard ({guard.text}): name it as a "
                    "method of the machine so diagrams and reports can point to it")
                continue
            for atom in guard.atoms:
                if not hasattr(spec.machine, atom):
                    yield "unnamed-guard", (
                        f"transition {edge} has guard {atom!r}, which {spec.name} does not "
                        "define")
    for state in spec.states:
        for event in spec.events:
            if not spec.handles(state, event):
                continue
            if len(spec.guard_atoms(state, event)) > MAX_GUARD_ATOMS:
                yield "guard-gap", (
                    f"state {state!r}, event {event!r}: more than {MAX_GUARD_ATOMS} guard "
                    "names, too many to check every combination")
                continue
            edges = spec.edges_from(state, event)
            for values in spec.guard_assignments(state, event):
                if not any(edge.enabled(values) for edge in edges):
                    when = ", ".join(f"{atom} is {value}" for atom, value in values.items())
                    yield "guard-gap", (
                        f"state {state!r} decides nothing for event {event!r} when {when}: "
                        "add the transition for that case (e.g. with `unless=`)")


def _sealing(spec: MachineSpec) -> Iterator[tuple[str, str]]:
    sealing = frozenset(spec.machine.sealing_states)
    if spec.initial in sealing:
        yield "seal-unverified", (
            f"the initial state {spec.initial!r} is a sealing state: a fresh machine would "
            "seal before anything was verified")
    for edge in spec.edges:
        if edge.target not in sealing:
            continue
        atoms = sorted({atom for guard in edge.guards for atom in guard.atoms})
        # Verdicts: guard names whose methods read a value the owner computed.
        verdicts = [atom for atom in atoms if keywords_of(getattr(spec.machine, atom, None))]
        if len(atoms) > MAX_GUARD_ATOMS:
            continue  # `guard-gap` already says it is too many to check
        unchecked = not verdicts or any(
            edge.enabled(values) and not any(values[atom] for atom in verdicts)
            for values in _assignments(atoms))
        if unchecked:
            yield "seal-unverified", (
                f"transition {edge} enters sealing state {edge.target!r} without a positive "
                "verdict: guard it with a condition on what the owner verified")


def _assignments(atoms: list[str]) -> Iterator[dict[str, bool]]:
    for values in itertools.product((True, False), repeat=len(atoms)):
        yield dict(zip(atoms, values, strict=True))
