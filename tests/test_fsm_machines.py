"""Every machine in the registry, every state reached by a shortest path from the initial one:
each declared transition does what the class says, each other event is a ProtocolViolation.

Generic over MACHINES, so a machine added to the registry is covered with no change here.
"""

from __future__ import annotations

import pytest
from statemachine.transition import Transition

from gossip.fsm import MACHINES, ProtocolMachine, ProtocolViolation
from gossip.fsm.actions import Close, Report, Send
from gossip.fsm.audit import Edge, MachineSpec, Probe
from gossip.fsm.audit.probe import verdicts
from gossip.wire import Command

PROBES = {name: Probe(machine) for name, machine in MACHINES.items()}
UNKNOWN_EVENT = "no_such_event"


class TransitionLog:
    """Listens to a machine and keeps the declared transitions that fired."""

    def __init__(self) -> None:
        self.fired: list[Transition] = []

    def on_transition(self, transition: Transition) -> None:
        self.fired.append(transition)


def machine_in(name: str, state: str) -> ProtocolMachine:
    """A fresh machine brought to `state` along the shortest path, checked step by step."""
    probe = PROBES[name]
    machine = probe.machine()
    for step in probe.paths[state]:
        machine.handle(step.event, **dict(step.data))
    assert machine.state_id == state, f"the shortest path to {state!r} ends elsewhere"
    return machine


def legal_cases() -> list[tuple[str, Edge]]:
    return [(name, edge) for name, probe in PROBES.items() for edge in probe.spec.edges]


def illegal_cases() -> list[tuple[str, str, str]]:
    cases = []
    for name, probe in PROBES.items():
        spec = probe.spec
        for state in spec.states:
            for event in (*spec.events, UNKNOWN_EVENT):
                if not spec.handles(state, event):
                    cases.append((name, state, event))
    return cases


@pytest.mark.parametrize("name", list(MACHINES))
def test_every_declared_state_is_reached_by_the_code(name: str) -> None:
    probe = PROBES[name]
    assert set(probe.paths) == set(probe.spec.states)
    # Breadth-first: no path is longer than the number of states.
    assert all(len(path) < len(probe.spec.states) for path in probe.paths.values())


@pytest.mark.parametrize(("name", "edge"), legal_cases(),
                         ids=lambda case: str(case) if isinstance(case, str) else
                         f"{case.source}-{case.event}-{case.target}")
def test_a_legal_event_takes_the_declared_transition(name: str, edge: Edge) -> None:
    spec = PROBES[name].spec
    keywords = spec.guard_keywords(edge.source, edge.event)
    taken = []
    for data in verdicts(keywords):
        machine = machine_in(name, edge.source)
        log = TransitionLog()
        machine.add_listener(log)
        actions = machine.handle(edge.event, **dict(data))
        if any(id(transition) == edge.transition_id for transition in log.fired):
            taken.append(data)
            assert machine.state_id == edge.target
            assert machine.finished == (edge.target in spec.finals)
            for action in actions:
                assert isinstance(action, Send | Close | Report)
                if isinstance(action, Send):
                    assert isinstance(action.command, Command)
    assert taken, f"no guard verdicts among {keywords} make {edge} fire"


@pytest.mark.parametrize(("name", "state", "event"), illegal_cases(),
                         ids=lambda part: part)
def test_an_illegal_event_is_a_violation_that_changes_nothing(
        name: str, state: str, event: str) -> None:
    machine = machine_in(name, state)
    allowed_before = machine.allowed()
    with pytest.raises(ProtocolViolation) as raised:
        machine.handle(event)
    violation = raised.value
    assert (violation.machine, violation.state, violation.event) == (
        MACHINES[name].__name__, state, event)
    assert repr(state) in str(violation) and repr(event) in str(violation)
    assert machine.state_id == state
    assert machine.allowed() == allowed_before


@pytest.mark.parametrize("name", list(MACHINES))
def test_events_a_state_rejects_are_exactly_the_ones_it_does_not_handle(name: str) -> None:
    spec = MachineSpec(MACHINES[name])
    for state in spec.states:
        if state in spec.finals:
            continue
        unhandled = {event for event in spec.events if not spec.handles(state, event)}
        assert spec.rejects(state) == unhandled, state


@pytest.mark.parametrize("name", list(MACHINES))
def test_a_name_that_is_an_attribute_but_not_an_event_is_a_violation(name: str) -> None:
    machine = MACHINES[name]()
    for stranger in ("send", "state_id", machine.state_id, "handle"):
        with pytest.raises(ProtocolViolation):
            machine.handle(stranger)


# -- the peer link's renegotiation, as stories ---------------------------------------------

def peer_link(*steps: tuple[str, bool]) -> tuple[ProtocolMachine, list]:
    """A PeerLink after `steps` (event, matches); returns it and the last step's actions."""
    machine = MACHINES["peer-link"]()
    actions: list = []
    for event, matches in steps:
        actions = machine.handle(event, matches=matches)
    return machine, actions


OFFERER_UP = (("start_offering", False), ("offer_ready", False), ("answer", False),
              ("transport_up", True))
ANSWERER_UP = (("start_answering", False), ("offer", False), ("answer_ready", False),
               ("transport_up", True))


def test_only_the_first_offerer_re_offers_and_a_matching_re_answer_brings_it_back() -> None:
    offerer, _ = peer_link(*OFFERER_UP)
    assert offerer.state_id == "connected" and "renegotiate" in offerer.allowed()
    assert offerer.handle("renegotiate") == [Report("make_offer")]
    assert offerer.handle("offer_ready") == [Send(Command.OFFER)]
    assert offerer.state_id == "awaiting_reanswer"
    offerer.handle("answer", matches=True)
    assert offerer.state_id == "connected"

    answerer, _ = peer_link(*ANSWERER_UP)
    assert answerer.state_id == "answer_connected"
    with pytest.raises(ProtocolViolation):
        answerer.handle("renegotiate")  # no glare: it asks instead
    assert answerer.handle("request_offer") == [Send(Command.ICE)]
    assert answerer.state_id == "answer_connected"
    answerer.handle("offer", matches=True)
    assert answerer.state_id == "making_reanswer"
    assert answerer.handle("answer_ready") == [Send(Command.ANSWER)]
    assert answerer.state_id == "answer_connected"


def test_a_renegotiation_with_other_fingerprints_fails_the_link() -> None:
    answerer, actions = peer_link(*ANSWERER_UP, ("offer", False))
    assert answerer.state_id == "failed" and Report("fingerprint_mismatch") in actions
    offerer, actions = peer_link(*OFFERER_UP, ("renegotiate", False), ("offer_ready", False),
                                 ("answer", False))
    assert offerer.state_id == "failed" and Report("fingerprint_mismatch") in actions


def test_a_re_offer_before_the_answerers_transport_is_up_is_held_then_answered() -> None:
    early = (("start_answering", False), ("offer", False), ("answer_ready", False))
    answerer, _ = peer_link(*early, ("offer", True), ("offer", True))
    assert answerer.state_id == "reoffer_held"
    actions = answerer.handle("transport_up", matches=True)
    assert answerer.state_id == "making_reanswer"
    assert actions == [Report("connected"), Report("make_answer")]
    impostor, _ = peer_link(*early, ("offer", True), ("transport_up", False))
    assert impostor.state_id == "failed"


def test_a_re_offer_that_gets_no_answer_times_out_but_a_settled_link_does_not() -> None:
    offerer, _ = peer_link(*OFFERER_UP, ("renegotiate", False), ("offer_ready", False),
                           ("timeout", False))
    assert offerer.state_id == "failed"
    for settled in (peer_link(*OFFERER_UP)[0], peer_link(*ANSWERER_UP)[0]):
        with pytest.raises(ProtocolViolation):
            settled.handle("timeout")
