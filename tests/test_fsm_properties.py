"""Hypothesis drives every registered machine with random event sequences and guard verdicts:
it only ever raises ProtocolViolation, and its state is always one it declares; and its
compiled twin (what the actors run) does exactly the same, event for event.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from gossip.fsm import MACHINES, CompiledMachine, ProtocolMachine, ProtocolViolation
from gossip.fsm.actions import Close, Report, Send
from gossip.fsm.audit import MachineSpec

# Not events of any machine: unknown names, wire names, and names of attributes.
STRANGERS = ("no_such_event", "", "GREETING", "grtng", "disconnected ", "send", "state_id")


def fuzzer(machine_class: type[ProtocolMachine]) -> type[RuleBasedStateMachine]:
    spec = MachineSpec(machine_class)
    keywords = sorted({keyword for edge in spec.edges for guard in edge.guards
                       for keyword in guard.keywords})
    verdicts = st.fixed_dictionaries({keyword: st.booleans() for keyword in keywords})

    class Fuzz(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.machine = machine_class()
            self.twin = CompiledMachine(machine_class)

        def feed(self, event: str, data: dict[str, bool]) -> None:
            before = self.machine.state_id
            try:
                twin_actions: Sequence[object] | str = self.twin.handle(event, **data)
            except ProtocolViolation as violation:
                twin_actions = str(violation)
            try:
                actions = self.machine.handle(event, **data)
            except ProtocolViolation as violation:
                assert twin_actions == str(violation)
                assert (violation.state, violation.event) == (before, event)
                assert self.machine.state_id == before
                assert not spec.handles(before, event)
                return
            assert twin_actions == actions
            targets = {edge.target for edge in spec.edges_from(before, event)}
            assert self.machine.state_id in targets
            assert all(isinstance(action, Send | Close | Report) for action in actions)

        @rule(data=verdicts, pick=st.data())
        def a_legal_event(self, data: dict[str, bool], pick: st.DataObject) -> None:
            allowed = self.machine.allowed()
            if allowed:
                self.feed(pick.draw(st.sampled_from(allowed)), data)

        @rule(event=st.sampled_from(spec.events), data=verdicts)
        def any_event(self, event: str, data: dict[str, bool]) -> None:
            self.feed(event, data)

        @rule(event=st.sampled_from(STRANGERS))
        def a_stranger(self, event: str) -> None:
            self.feed(event, {})

        @invariant()
        def the_state_is_declared(self) -> None:
            assert self.machine.state_id in spec.states
            assert self.machine.finished == (self.machine.state_id in spec.finals)
            assert (self.twin.state_id, self.twin.finished) == (self.machine.state_id,
                                                                self.machine.finished)

    Fuzz.__name__ = f"Fuzz{machine_class.__name__}"
    return Fuzz


@pytest.mark.parametrize("name", list(MACHINES))
def test_random_event_sequences_only_ever_violate_the_protocol(name: str) -> None:
    run_state_machine_as_test(
        fuzzer(MACHINES[name]),
        settings=settings(max_examples=60, stateful_step_count=25, deadline=None))
