"""The audit catches what it promises: broken machines and pairs defined here fail the check
with messages that name the culprit; ours pass; export and docs come from the classes.
"""

from __future__ import annotations

import shutil
from enum import Enum, StrEnum
from pathlib import Path
from typing import ClassVar, TypeVar

import pytest
from statemachine import State

from gossip.fsm import MACHINES, PAIRS, Pair, ProtocolMachine
from gossip.fsm.__main__ import main
from gossip.fsm.audit import (
    FORMATS,
    Bounds,
    DocsError,
    ExportUnavailable,
    audit,
    check_machine,
    explore_pair,
    export,
    render_document,
    stale_diff,
)
from gossip.fsm.audit.docs import BEGIN, END, default_path
from gossip.wire import Command

GREETING, HUB_HELLO, LOGIN_PROOF = (Command.GREETING.value, Command.HUB_HELLO.value,
                                    Command.LOGIN_PROOF.value)


M = TypeVar("M", bound=type[ProtocolMachine])


def with_phases(machine: M) -> M:
    """Gives a test machine the `Phase` enum the `phases` rule wants, made from its states, so
    each broken machine below breaks only the rule it is about."""
    machine.Phase = StrEnum(f"{machine.__name__}Phase",  # type: ignore[misc]
                            {state.id.upper(): state.id for state in machine.states})
    return machine


class Unchecked(ProtocolMachine):
    """Lets a broken definition through python-statemachine, so the audit must catch it."""

    validate_disconnected_states = False
    validate_trap_states = False
    validate_final_reachability = False


# -- broken machines, one rule each ----------------------------------------------------------
@with_phases
class WithOrphan(Unchecked):
    purpose = "Has a state nothing leads to."
    start = State(initial=True)
    orphan = State()
    done = State(final=True)
    finish = start.to(done) | orphan.to(done)


@with_phases
class WithLimbo(Unchecked):
    purpose = "Has a non-final state with no way out."
    start = State(initial=True)
    limbo = State()
    done = State(final=True)
    enter = start.to(limbo)
    finish = start.to(done)
    rejects: ClassVar = {"limbo": {"enter", "finish"}}


@with_phases
class WithTrap(Unchecked):
    purpose = "Has two states that bounce between each other forever."
    start = State(initial=True)
    ping = State()
    pong = State()
    done = State(final=True)
    go = start.to(ping) | ping.to(pong) | pong.to(ping)
    finish = start.to(done)
    rejects: ClassVar = {"ping": {"finish"}, "pong": {"finish"}}


@with_phases
class WithUndecidedPair(Unchecked):
    purpose = "Forgets to decide what 'poke' means while waiting."
    start = State(initial=True)
    waiting = State()
    done = State(final=True)
    begin = start.to(waiting)
    poke = start.to(done)
    finish = waiting.to(done)
    rejects: ClassVar = {"start": {"finish"}}


@with_phases
class WithLambdaGuard(Unchecked):
    purpose = "Guards a transition with an anonymous function."
    start = State(initial=True)
    done = State(final=True)
    finish = start.to(done, cond=lambda: True) | start.to(done)


@with_phases
class WithGuardGap(Unchecked):
    purpose = "Handles a proof only when it is valid, and says nothing otherwise."
    start = State(initial=True)
    done = State(final=True)
    proof = start.to(done, cond="valid_proof")

    def valid_proof(self, valid: bool = False) -> bool:
        return valid


@with_phases
class WithContradiction(Unchecked):
    purpose = "Rejects an event it handles."
    start = State(initial=True)
    done = State(final=True)
    finish = start.to(done)
    rejects: ClassVar = {"start": {"finish"}, "nowhere": {"finish"}}


def findings(machine: type[ProtocolMachine]) -> list[tuple[str, str]]:
    return [(finding.rule, finding.message) for finding in check_machine("test", machine)]


def rules_broken(machine: type[ProtocolMachine]) -> set[str]:
    return {rule for rule, _ in findings(machine)}


@pytest.mark.parametrize("name", list(MACHINES))
def test_our_machines_keep_every_rule(name: str) -> None:
    assert check_machine(name, MACHINES[name]) == []


def test_an_unreachable_state_is_named() -> None:
    assert ("unreachable", "state 'orphan' cannot be reached from the initial state 'start'") in \
        findings(WithOrphan)


def test_a_non_final_state_without_a_way_out_is_named() -> None:
    message = "non-final state 'limbo' has no way out: no transition leads to another state"
    assert ("dead-end", message) in findings(WithLimbo)


def test_a_trap_names_its_states() -> None:
    [message] = [message for rule, message in findings(WithTrap) if rule == "trap"]
    assert "'ping', 'pong'" in message


def test_an_undecided_state_event_pair_is_named() -> None:
    undecided = [message for rule, message in findings(WithUndecidedPair) if rule == "undecided"]
    assert undecided == [
        f"state 'waiting' neither handles nor rejects event {event!r} (add a transition, or "
        "list it in `rejects['waiting']`)" for event in ("begin", "poke")
    ]


def test_an_anonymous_guard_is_named_by_its_transition() -> None:
    [message] = [message for rule, message in findings(WithLambdaGuard)
                 if rule == "unnamed-guard"]
    assert "start --finish [<lambda>]--> done" in message


def test_a_guard_that_leaves_a_case_undecided_is_caught() -> None:
    [message] = [message for rule, message in findings(WithGuardGap) if rule == "guard-gap"]
    assert "'start'" in message and "'proof'" in message and "valid_proof is False" in message


def test_declarations_must_agree_with_the_machine() -> None:
    assert rules_broken(WithContradiction) == {"contradiction", "declaration"}


class WithoutPhases(Unchecked):
    purpose = "Declares no Phase enum, so owners would compare its states as strings."
    start = State(initial=True)
    done = State(final=True)
    finish = start.to(done)


class WrongPhasesPhase(StrEnum):
    START = "start"
    DONE = "finished"  # the state is `done`: a renamed state its owners would never match


class WithWrongPhases(Unchecked):
    Phase = WrongPhasesPhase
    purpose = "Declares a Phase enum that disagrees with its states."
    start = State(initial=True)
    done = State(final=True)
    finish = start.to(done)


def test_a_machine_without_a_phase_enum_is_named() -> None:
    [(rule, message)] = findings(WithoutPhases)
    assert rule == "phases"
    assert "WithoutPhases declares no `Phase` StrEnum" in message and "start, done" in message


def test_a_phase_enum_must_name_exactly_the_states() -> None:
    assert findings(WithWrongPhases) == [
        ("phases", "state 'done' has no member in WrongPhasesPhase"),
        ("phases", "WrongPhasesPhase has 'finished', which is not a state of WithWrongPhases"),
    ]


def test_a_phase_enum_that_is_not_a_str_enum_is_refused() -> None:
    class Numbered(Enum):
        START = 1
        DONE = 2

    class WithNumberedPhases(Unchecked):
        Phase = Numbered  # type: ignore[assignment]
        purpose = "Numbers its phases."
        start = State(initial=True)
        done = State(final=True)
        finish = start.to(done)

    assert [rule for rule, _ in findings(WithNumberedPhases)] == ["phases"]


@pytest.mark.parametrize("name", list(MACHINES))
def test_every_machine_phase_is_its_state_and_reachable_from_the_class(name: str) -> None:
    machine = MACHINES[name]
    assert [phase.value for phase in machine.Phase] == [state.id for state in machine.states]
    for state in machine.states:
        phase = machine.phase_of(state.id)
        assert phase is machine.Phase(state.id) and phase == state.id
    assert machine().phase is machine.Phase(machine.initial_state.id)


def test_the_command_line_fails_a_broken_machine_and_names_the_state(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"], machines={"limbo": WithLimbo}, pairs=()) == 1
    out = capsys.readouterr().out
    assert "limbo" in out and "'limbo' has no way out" in out
    assert "Result: 1 machine(s), 0 pair(s): 1 finding(s)" in out


def test_the_command_line_passes_our_machines_and_lists_at_least_four(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    machine_lines = [line for line in out.splitlines()
                     if line.split() and line.split()[0] in MACHINES and " OK " in line]
    assert len(machine_lines) == len(MACHINES) >= 4
    assert "all OK" in out


# -- pairs -----------------------------------------------------------------------------------
@with_phases
class Asker(ProtocolMachine):
    purpose = "Greets, then waits for a hello."
    wire_events: ClassVar = {"hello": HUB_HELLO}
    idle = State(initial=True)
    asked = State()
    done = State(final=True)
    connected = idle.to(asked, on="greet")
    hello = asked.to(done)
    rejects: ClassVar = {"idle": {"hello"}, "asked": {"connected"}}

    def greet(self) -> None:
        self.send_frame(Command.GREETING)


@with_phases
class Mute(ProtocolMachine):
    """Takes the greeting and then waits for a proof, never answering: both sides wait."""

    purpose = "Waits for a greeting, then for a proof."
    wire_events: ClassVar = {"greeting": GREETING, "proof": LOGIN_PROOF}
    waiting = State(initial=True)
    greeted = State()
    done = State(final=True)
    greeting = waiting.to(greeted)
    proof = greeted.to(done)
    rejects: ClassVar = {"waiting": {"proof"}, "greeted": {"greeting"}}


@with_phases
class Stutterer(ProtocolMachine):
    """Greets twice."""

    purpose = "Greets twice, then waits for a hello."
    wire_events: ClassVar = {"hello": HUB_HELLO}
    idle = State(initial=True)
    asked = State()
    done = State(final=True)
    connected = idle.to(asked, on="greet_twice")
    hello = asked.to(done)
    rejects: ClassVar = {"idle": {"hello"}, "asked": {"connected"}}

    def greet_twice(self) -> None:
        self.send_frame(Command.GREETING)
        self.send_frame(Command.GREETING)


@with_phases
class Greeter(ProtocolMachine):
    purpose = "Answers one greeting with a hello."
    wire_events: ClassVar = {"greeting": GREETING}
    waiting = State(initial=True)
    done = State(final=True)
    greeting = waiting.to(done, on="hello")

    def hello(self) -> None:
        self.send_frame(Command.HUB_HELLO)


@with_phases
class PingPong(ProtocolMachine):
    """Answers every greeting with a greeting, forever."""

    purpose = "Bounces greetings."
    wire_events: ClassVar = {"greeting": GREETING}
    idle = State(initial=True)
    bouncing = State()
    done = State(final=True)
    connected = idle.to(bouncing, on="greet")
    greeting = idle.to(bouncing, on="greet") | bouncing.to.itself(internal=True, on="greet")
    disconnected = bouncing.to(done)
    rejects: ClassVar = {"idle": {"disconnected"}, "bouncing": {"connected"}}

    def greet(self) -> None:
        self.send_frame(Command.GREETING)


@with_phases
class Receptionist(ProtocolMachine):
    """Takes a greeting, then waits for its user to accept before saying hello."""

    purpose = "Answers a greeting once its user accepts."
    wire_events: ClassVar = {"greeting": GREETING}
    waiting = State(initial=True)
    ringing = State()
    done = State(final=True)
    greeting = waiting.to(ringing)
    accept = ringing.to(done, on="hello")
    rejects: ClassVar = {"waiting": {"accept"}, "ringing": {"greeting"}}

    def hello(self) -> None:
        self.send_frame(Command.HUB_HELLO)


@with_phases
class Clumsy(ProtocolMachine):
    """Fails with a plain exception when greeted: a bug, not a protocol decision."""

    purpose = "Crashes on a greeting."
    wire_events: ClassVar = {"greeting": GREETING}
    waiting = State(initial=True)
    done = State(final=True)
    greeting = waiting.to(done, on="stumble")

    def stumble(self) -> None:
        raise RuntimeError("oops")


TEST_MACHINES: dict[str, type[ProtocolMachine]] = {
    "asker": Asker, "mute": Mute, "stutterer": Stutterer, "greeter": Greeter,
    "ping-pong": PingPong, "receptionist": Receptionist, "clumsy": Clumsy,
}


@pytest.mark.parametrize("pair", PAIRS, ids=lambda pair: pair.name)
def test_our_pairs_talk_without_findings_and_cover_every_state(pair: Pair) -> None:
    report = explore_pair(pair, MACHINES)
    assert report.findings == ()
    assert report.complete
    assert report.joint_states > 1 and report.joint_transitions >= report.joint_states - 1
    # Where both ends run one machine in two roles (offerer, answerer), each role covers
    # its own half: together they must cover every state.
    seen: dict[str, set[str]] = {}
    for name, side in zip((pair.left, pair.right), report.sides):
        seen.setdefault(name, set()).update(side.states_seen)
        assert seen[name] <= set(side.states)
    for name, side in zip((pair.left, pair.right), report.sides):
        assert seen[name] == set(side.states)


def test_both_sides_waiting_with_nothing_in_flight_is_a_deadlock() -> None:
    pair = Pair("stuck", "asker", "mute", kickoff=(("asker", "connected"),))
    report = explore_pair(pair, TEST_MACHINES)
    [deadlock] = [finding for finding in report.findings if finding.rule == "deadlock"]
    assert deadlock.message == ("deadlock: asker waits in 'asked' and mute waits in "
                                "'greeted', with nothing in flight")
    assert deadlock.trace == (
        "kickoff: asker connected in 'idle' -> 'asked', sends `grtng`",
        "`grtng` reaches mute: mute greeting in 'waiting' -> 'greeted'",
    )


def test_a_frame_arriving_where_it_is_not_expected_is_caught() -> None:
    pair = Pair("twice", "stutterer", "mute", kickoff=(("stutterer", "connected"),))
    report = explore_pair(pair, TEST_MACHINES)
    unexpected = [finding.message for finding in report.findings if finding.rule == "unexpected"]
    assert unexpected == [
        "`grtng` arrives as 'greeting' at mute in state 'greeted', which does not expect it"]


def test_a_conversation_that_can_never_end_is_caught() -> None:
    pair = Pair("bounce", "ping-pong", "ping-pong", kickoff=(("ping-pong", "connected"),))
    report = explore_pair(pair, TEST_MACHINES)
    [endless] = report.findings
    assert endless.rule == "never-finishes"
    assert "repeats its last 2 step(s) forever" in endless.message
    assert endless.trace[-2:] == tuple(
        f"`grtng` reaches ping-pong ({end}): ping-pong ({end}) greeting in 'bouncing' -> "
        "'bouncing', sends `grtng`" for end in ("left", "right"))
    assert check_machine("ping-pong", PingPong) == []  # each end is fine on its own


def test_a_healthy_test_pair_passes_and_reports_coverage() -> None:
    pair = Pair("hello", "asker", "greeter", kickoff=(("asker", "connected"),))
    report = explore_pair(pair, TEST_MACHINES)
    assert report.findings == ()
    assert [len(side.edges_seen) for side in report.sides] == [2, 1]


def test_waiting_for_a_local_request_is_not_a_deadlock() -> None:
    pair = Pair("call", "asker", "receptionist", kickoff=(("asker", "connected"),))
    assert explore_pair(pair, TEST_MACHINES).findings == ()


def test_a_machine_that_raises_something_else_is_reported_as_a_crash() -> None:
    pair = Pair("oops", "asker", "clumsy", kickoff=(("asker", "connected"),))
    crashes = [finding.message for finding in explore_pair(pair, TEST_MACHINES).findings
               if finding.rule == "crash"]
    assert crashes == ["Clumsy: greeting in state 'waiting': RuntimeError: oops"]


def test_the_exploration_bound_is_reported_not_hidden() -> None:
    report = explore_pair(PAIRS[1], MACHINES, Bounds(max_states=10))
    assert not report.complete
    assert [finding.rule for finding in report.findings] == ["bound"]


def test_the_command_line_reports_a_broken_pair(capsys: pytest.CaptureFixture[str]) -> None:
    pairs = (Pair("stuck", "asker", "mute", kickoff=(("asker", "connected"),)),)
    assert main(["check", "stuck"], machines=TEST_MACHINES, pairs=pairs) == 1
    out = capsys.readouterr().out
    assert "[deadlock]" in out and "1. kickoff: asker connected" in out


# -- export ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["dot", "mermaid"])
def test_export_writes_one_file_per_machine(fmt: str, tmp_path: Path) -> None:
    assert main(["export", "--format", fmt, "--out", str(tmp_path)]) == 0
    suffix = FORMATS[fmt]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        f"{name}.{suffix}" for name in MACHINES)
    for name, machine in MACHINES.items():
        text = (tmp_path / f"{name}.{suffix}").read_text()
        assert all(state.id in text for state in machine.states)


def test_dot_export_is_reproducible(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    export(MACHINES, "dot", first)
    export(MACHINES, "dot", second)
    for path in first.iterdir():
        assert path.read_text() == (second / path.name).read_text()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_svg_export_draws_with_graphviz(tmp_path: Path) -> None:
    written = export(MACHINES, "svg", tmp_path)
    assert len(written) == len(MACHINES)
    assert all("<svg" in path.read_text() for path in written)


def test_svg_export_without_graphviz_says_so_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot` on this PATH
    out_dir = tmp_path / "out"
    assert main(["export", "--format", "svg", "--out", str(out_dir)]) == 1
    assert "needs Graphviz's `dot` program, which is not installed" in capsys.readouterr().err
    assert not out_dir.exists()
    with pytest.raises(ExportUnavailable):
        export(MACHINES, "svg", out_dir)


def test_export_of_an_unknown_machine_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["export", "--format", "dot", "--out", str(tmp_path), "nonesuch"]) == 2


# -- docs ------------------------------------------------------------------------------------
def test_docs_protocol_md_shows_the_machines_as_they_are() -> None:
    diff = stale_diff(default_path(), MACHINES, PAIRS)
    assert diff == "", f"docs/protocol.md is stale: run `python -m gossip.fsm docs`\n{diff}"


def test_every_machine_has_a_mermaid_diagram_in_the_docs() -> None:
    text = default_path().read_text()
    assert text.count("```mermaid") == len(MACHINES)


def test_regenerating_keeps_the_hand_written_text() -> None:
    intro, outro = "# Intro\n\nWritten by hand.\n\n", "\nA footnote.\n"
    stale = "a stale generated line"
    document = render_document(f"{intro}{BEGIN}\n{stale}\n{END}\n{outro}", MACHINES, PAIRS)
    assert document.startswith(intro + BEGIN)
    assert document.endswith(f"{END}\n{outro}")
    assert stale not in document
    with pytest.raises(DocsError):
        render_document("no markers here", MACHINES, PAIRS)


def test_docs_check_fails_on_a_stale_file_and_docs_fixes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "protocol.md"
    path.write_text(f"# Ours\n\n{BEGIN}\nstale\n{END}\n")
    assert main(["docs", "--check", "--path", str(path)]) == 1
    assert main(["docs", "--path", str(path)]) == 0
    assert main(["docs", "--check", "--path", str(path)]) == 0
    assert path.read_text().startswith("# Ours\n")
    capsys.readouterr()


def test_list_names_every_machine_with_its_purpose(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, machine in MACHINES.items():
        assert f"{name}" in out and machine.purpose in out


# -- machines without a pair -----------------------------------------------------------------
def test_a_machine_that_takes_frames_but_is_in_no_pair_is_named() -> None:
    report = audit({"greeter": Greeter}, pairs=())
    [finding] = report.findings
    assert finding.rule == "unpaired" and "Greeter takes wire frames (greeting)" in str(finding)
    paired = (Pair("greet", "asker", "greeter", kickoff=(("asker", "connected"),)),)
    assert not [finding for finding in audit(TEST_MACHINES, paired).machines["greeter"]]


def test_a_machine_driven_only_by_its_owner_needs_no_pair(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert audit({"reconnect": MACHINES["reconnect"]}, pairs=()).ok
    assert main(["check", "reconnect"]) == 0
    assert "(owner events only: no wire peer)" in capsys.readouterr().out


# -- sealing states ----------------------------------------------------------------------------
@with_phases
class SealsUnchecked(Unchecked):
    purpose = "Seals to a roster it may enter without any verdict."
    sealing_states = frozenset({"member"})
    unknown = State(initial=True)
    member = State()
    closed = State(final=True)
    log_received = unknown.to(member, cond="valid_log") | unknown.to(closed, unless="valid_log")
    trusted_anyway = unknown.to(member)  # an unguarded way in
    # Guarded, but taken precisely when the verdict is negative.
    retried = member.to.itself(unless="valid_log")
    removed = member.to(closed)
    rejects: ClassVar = {"member": {"log_received", "trusted_anyway"},
                         "unknown": {"removed", "retried"}}

    def valid_log(self, valid: bool = False) -> bool:
        return valid


@with_phases
class SealsFromTheStart(Unchecked):
    purpose = "Starts in its sealing state."
    sealing_states = frozenset({"member"})
    member = State(initial=True)
    closed = State(final=True)
    removed = member.to(closed)


def test_a_sealing_state_entered_without_a_positive_verdict_is_named() -> None:
    unverified = [message for rule, message in findings(SealsUnchecked)
                  if rule == "seal-unverified"]
    assert len(unverified) == 2
    assert any("unknown --trusted_anyway--> member" in message for message in unverified)
    assert any("member --retried [!valid_log]--> member" in message for message in unverified)
    assert rules_broken(SealsFromTheStart) == {"seal-unverified"}
    assert check_machine("roster", MACHINES["roster"]) == []
