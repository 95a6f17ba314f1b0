"""The audit as a human reads it: per machine OK or its findings; per pair, coverage and
findings."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from ..base import ProtocolMachine
from ..registry import Pair
from .model import MachineSpec
from .pairs import DEFAULT_BOUNDS, PAIR_RULES, Bounds, PairReport, explore_pair
from .rules import RULES, Finding, check_machine


@dataclass(frozen=True)
class AuditReport:
    """Findings per machine and per pair, in registry order."""

    machines: Mapping[str, tuple[Finding, ...]]
    pairs: tuple[PairReport, ...]

    @property
    def findings(self) -> list[Finding]:
        found = [finding for findings in self.machines.values() for finding in findings]
        return found + [finding for report in self.pairs for finding in report.findings]

    @property
    def ok(self) -> bool:
        return not self.findings


def audit(machines: Mapping[str, type[ProtocolMachine]], pairs: Sequence[Pair],
          bounds: Bounds = DEFAULT_BOUNDS) -> AuditReport:
    """Check every machine against the rules and explore every pair.

    A machine that takes wire frames must be in a pair, or its conversation would never be
    explored; one driven only by its owner (no `wire_events`, e.g. the reconnect machine) is
    checked by the rules alone.
    """
    paired = {name for pair in pairs for name in (pair.left, pair.right)}
    return AuditReport(
        machines={name: (*check_machine(name, machine), *_unpaired(name, machine, paired))
                  for name, machine in machines.items()},
        pairs=tuple(explore_pair(pair, machines, bounds) for pair in pairs),
    )


def _unpaired(name: str, machine: type[ProtocolMachine], paired: set[str]) -> list[Finding]:
    if not machine.wire_events or name in paired:
        return []
    return [Finding("unpaired", name, (
        f"{machine.__name__} takes wire frames ({', '.join(sorted(machine.wire_events))}) but "
        "is in no pair, so its conversation is never explored: add a Pair to the registry"))]


def format_report(report: AuditReport, machines: Mapping[str, type[ProtocolMachine]]) -> str:
    return "\n".join(_lines(report, machines)) + "\n"


def _lines(report: AuditReport, machines: Mapping[str, type[ProtocolMachine]]) -> Iterator[str]:
    yield "Machines (rules: " + ", ".join(RULES) + ")"
    width = max((len(name) for name in report.machines), default=0)
    for name, findings in report.machines.items():
        spec = MachineSpec(machines[name])
        size = (f"{len(spec.states)} states, {len(spec.events)} events, "
                f"{len(spec.edges)} transitions"
                + ("" if spec.wire_events else " (owner events only: no wire peer)"))
        verdict = "OK" if not findings else f"{len(findings)} finding(s)"
        yield f"  {name:<{width}}  {verdict:<14} {size}"
        for finding in findings:
            yield f"      - {finding}"
    if report.pairs:
        yield ""
        yield ("Pairs (joint states over an in-order connection, frames in flight included; "
               "rules: " + ", ".join(PAIR_RULES) + ")")
    for pair_report in report.pairs:
        yield from _pair_lines(pair_report)
    yield ""
    found = report.findings
    total = f"{len(report.machines)} machine(s), {len(report.pairs)} pair(s)"
    yield f"Result: {total}: " + ("all OK" if not found else f"{len(found)} finding(s)")


def _pair_lines(report: PairReport) -> Iterator[str]:
    pair = report.pair
    verdict = "OK" if not report.findings else f"{len(report.findings)} finding(s)"
    yield f"  {pair.name} ({pair.left} <-> {pair.right})  {verdict}"
    bounds = report.bounds
    extent = "complete" if report.complete else "STOPPED AT THE STATE BOUND"
    yield (f"      explored {report.joint_states} joint states, {report.joint_transitions} "
           f"transitions ({extent}; bounds: {bounds.max_states} states, "
           f"{bounds.depth} frames in flight per direction for local requests"
           + (f", {report.pruned} requests held back" if report.pruned else "") + ")")
    for side in report.sides:
        yield (f"      {side.label}: {len(side.states_seen)}/{len(side.states)} states, "
               f"{len(side.edges_seen)}/{len(side.edges)} transitions exercised")
        for edge in side.unexercised:
            yield f"          not exercised: {edge}"
    for note in report.notes:
        yield f"      note: {note}"
    for finding in report.findings:
        yield f"      - {finding}"
        for number, step in enumerate(finding.trace, 1):
            yield f"          {number}. {step}"
