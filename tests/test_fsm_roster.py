"""A client's view of a private channel's roster: stories for each outcome, and the rule that a
client never seals to a non-member, checked over random runs with real keys, real logs and a
hub that lies (forges, forks, withholds, replays old logs).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from gossip.crypto import Identity, PublicKey
from gossip.crypto import rosterlog as rl
from gossip.fsm import MACHINES, MachineDriver, ProtocolViolation
from gossip.fsm.roster import RosterOrder, RosterPhase, RosterView, seal_to

CHANNEL = "council"
T0 = 1_700_000_000_000
MEMBERS_TO_BE = ("alice", "bob", "carol", "dave")  # bob is the client under test


@functools.cache
def person(name: str, number: int = 0) -> Identity:
    """Real identities, made once; (name, 1) is an impostor key under the same name."""
    with warnings.catch_warnings():  # PGPy's deprecation noise (see KNOWN.md)
        warnings.simplefilter("ignore")
        return Identity.generate(name)


@functools.cache
def parse(data: bytes) -> PublicKey:
    return PublicKey.from_bytes(data)


ME = person("bob").public


Guards = dict[str, Any]  # Any: mypy would match a dict[str, bool] against `build`
Fed = tuple[str, Guards]


def view(*steps: Fed) -> tuple[MachineDriver[RosterView], tuple[str, ...]]:
    driver = MachineDriver(RosterView)
    reports: tuple[str, ...] = ()
    for event, guards in steps:
        reports = driver.step(event, **guards).reports
    return driver, reports


def verdict(valid: bool = True, consistent: bool = True, current: bool = True,
            includes_me: bool = True) -> Fed:
    return "verified", {"valid": valid, "consistent": consistent, "current": current,
                        "includes_me": includes_me}


LOG: Fed = ("log_received", {})


# -- stories -----------------------------------------------------------------------------------
def test_it_is_registered_so_the_audit_checks_it() -> None:
    assert MACHINES["roster"] is RosterView and RosterView.Phase is RosterPhase
    assert RosterView.sealing_states == {"member"}


def test_a_verified_log_that_names_me_makes_me_a_member_and_a_removal_ends_it() -> None:
    driver, reports = view(LOG)
    assert driver.phase is RosterPhase.VERIFYING and reports == (RosterOrder.VERIFY,)
    driver, reports = view(LOG, verdict())
    assert driver.phase is RosterPhase.MEMBER and reports == (RosterOrder.ROSTER_CHANGED,)
    driver, reports = view(LOG, verdict(), ("extension_received", {}),
                           verdict(includes_me=False))
    assert driver.phase is RosterPhase.NOT_MEMBER and reports == (RosterOrder.ROSTER_CHANGED,)


@pytest.mark.parametrize(("outcome", "phase", "report"), [
    (verdict(valid=False), RosterPhase.FORGED, RosterOrder.ALARM_FORGED),
    (verdict(valid=False, consistent=False), RosterPhase.FORGED, RosterOrder.ALARM_FORGED),
    (verdict(consistent=False), RosterPhase.FORKED, RosterOrder.ALARM_FORKED),
    (verdict(current=False), RosterPhase.WITHHELD, RosterOrder.LOG_WITHHELD),
])
def test_a_bad_log_from_a_member_ends_in_its_own_state_with_its_own_report(
        outcome: Fed, phase: RosterPhase, report: str) -> None:
    driver, reports = view(LOG, verdict(), LOG, outcome)
    assert driver.phase is phase and reports == (report,)


def test_a_log_that_never_comes_is_said_and_a_late_one_is_still_verified() -> None:
    driver, reports = view(("timeout", {}))
    assert driver.phase is RosterPhase.WITHHELD and reports == (RosterOrder.LOG_WITHHELD,)
    driver, reports = view(("extension_received", {}))  # changes, but no log to apply them to
    assert driver.phase is RosterPhase.WITHHELD and reports == (RosterOrder.LOG_WITHHELD,)
    driver, _ = view(("timeout", {}), LOG, verdict())
    assert driver.phase is RosterPhase.MEMBER


def test_the_hub_dropping_a_member_from_the_channel_is_an_alarm_not_a_quiet_exit() -> None:
    driver, reports = view(LOG, verdict(), ("removed", {}))
    assert driver.phase is RosterPhase.EXCLUDED and reports == (RosterOrder.ALARM_EXCLUDED,)
    driver, reports = view(LOG, verdict(includes_me=False), ("removed", {}))
    assert driver.phase is RosterPhase.CLOSED and reports == ()


def test_while_verifying_nothing_else_may_be_fed() -> None:
    driver, _ = view(LOG)
    for event in ("log_received", "extension_received", "timeout", "removed"):
        with pytest.raises(ProtocolViolation, match="not allowed in state 'verifying'"):
            driver.step(event)


# -- sealing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FakeKey:
    user: str
    fingerprint: str


@dataclass(frozen=True)
class FakeRoster:
    members: frozenset[FakeKey]

    def is_member(self, user: str, fingerprint: str) -> bool:
        return FakeKey(user, fingerprint) in self.members


KEYS = st.builds(FakeKey, st.sampled_from("abcde"), st.sampled_from("12"))


@given(phase=st.sampled_from(RosterPhase), members=st.frozensets(KEYS),
       announced=st.lists(KEYS))
def test_seal_to_returns_only_members_and_nobody_unless_a_verified_member(
        phase: RosterPhase, members: frozenset[FakeKey], announced: list[FakeKey]) -> None:
    chosen = seal_to(phase, FakeRoster(members), announced)
    assert set(chosen) <= members and set(chosen) <= set(announced)
    if phase is not RosterPhase.MEMBER:
        assert chosen == ()
    else:
        assert set(chosen) == members & set(announced)
    assert seal_to(phase, None, announced) == ()


class LyingHubRun(RuleBasedStateMachine):
    """The hub holds the true log that the members write; it sends bob the true log, an
    extension, a stale prefix, a forgery or a fork; bob verifies each and feeds the machine."""

    def __init__(self) -> None:
        super().__init__()
        self.time = T0
        self.hub_log = rl.create(CHANNEL, person("alice"), self.time)
        self.driver = MachineDriver(RosterView)
        self.known: rl.Roster | None = None

    @initialize(others=st.lists(st.sampled_from(MEMBERS_TO_BE[2:]), unique=True),
                with_bob=st.sampled_from([True, True, True, False]))
    def the_owner_adds_the_first_members(self, others: list[str], with_bob: bool) -> None:
        for name in (["bob"] if with_bob else []) + others:
            self.hub_log = rl.add_member(self.hub_log, person(name).public, person("alice"),
                                         self.tick())

    def tick(self) -> int:
        self.time += 1000
        return self.time

    @rule(author=st.sampled_from(MEMBERS_TO_BE), subject=st.sampled_from(MEMBERS_TO_BE),
          operation=st.sampled_from(["add", "remove", "hand_over"]))
    def a_member_writes(self, author: str, subject: str, operation: str) -> None:
        writer = person(author)
        try:
            if operation == "add":
                self.hub_log = rl.add_member(self.hub_log, person(subject).public, writer,
                                             self.tick())
            elif operation == "remove":
                self.hub_log = rl.remove_member(self.hub_log, subject, writer, self.tick())
            else:
                self.hub_log = rl.hand_over(self.hub_log, subject, writer, self.tick())
        except rl.RosterError:
            pass  # refused by the writer's own client: nothing reaches the hub

    # Honest relays get three rules to the lies' one, so runs get far before an alarm.
    @rule()
    def the_hub_relays_the_log(self) -> None:
        self.send("true", 0)

    @rule()
    def the_hub_relays_an_extension(self) -> None:
        self.send("extension", 0)

    @rule(cut=st.integers(1, 30))
    def the_hub_replays_an_old_log(self, cut: int) -> None:
        self.send("stale", cut)

    @rule(kind=st.sampled_from(["forged", "forked"]), cut=st.integers(1, 30))
    def the_hub_lies(self, kind: str, cut: int) -> None:
        self.send(kind, cut)

    def send(self, kind: str, cut: int) -> None:
        blobs = self.hub_log.encoded()
        extension = kind == "extension"
        if extension:
            held = len(self.known.entries) if self.known is not None else 1
            blobs = blobs[held:]
        elif kind == "stale":
            blobs = blobs[:max(1, min(cut, len(blobs) - 1))]
        elif kind == "forged":
            blobs = [*blobs, self.forged_entry().to_bytes()]
        elif kind == "forked":
            blobs = self.forked_log(cut)
        event = "extension_received" if extension else "log_received"
        if event not in self.allowed():
            return
        reports = self.driver.step(event).reports
        if RosterOrder.VERIFY not in reports:
            return
        outcome = rl.judge(self.known, blobs, ME, channel=CHANNEL, extension=extension,
                           parse_key=parse)
        reports = self.driver.step("verified", **outcome.guards()).reports
        if RosterOrder.ROSTER_CHANGED in reports:
            assert outcome.roster is not None
            self.known = outcome.roster

    @rule(event=st.sampled_from(["timeout", "removed"]))
    def the_owner_notices(self, event: str) -> None:
        if event in self.allowed():
            self.driver.step(event)

    def allowed(self) -> set[str]:
        machine = RosterView(start_value=self.driver.state_id)
        return set(machine.allowed())

    def forged_entry(self) -> rl.RosterEntry:
        """The ghost adds itself, naming the owner as author but signing with its own key."""
        ghost = person("ghost")
        entry = rl.RosterEntry(self.hub_log.head, CHANNEL, rl.RosterOperation.ADD, "ghost",
                               ghost.fingerprint, ghost.public.to_bytes(),
                               self.hub_log.members[self.hub_log.owner].fingerprint,
                               self.tick())
        return dataclasses.replace(entry, signature=rl.sign_detached(
            entry.body(), ghost, context=rl.ROSTER_CONTEXT))

    def forked_log(self, cut: int) -> list[bytes]:
        """A prefix of the true log continued differently, signed by the owner of the time."""
        prefix = rl.verify_log(self.hub_log.entries[:max(1, min(cut, len(self.hub_log.entries)))],
                               channel=CHANNEL, parse_key=parse)
        writer = person(prefix.owner)
        try:
            return rl.add_member(prefix, person("erin").public, writer, self.tick()).encoded()
        except rl.RosterError:  # erin already there: leave instead
            return prefix.encoded()

    @invariant()
    def bob_seals_only_to_verified_members(self) -> None:
        announced = [person(name).public for name in (*MEMBERS_TO_BE, "erin", "ghost")]
        announced += [person(name, 1).public for name in MEMBERS_TO_BE]  # impostors
        chosen = seal_to(self.driver.phase, self.known, announced)
        if self.driver.phase is not RosterPhase.MEMBER:
            assert chosen == ()
            return
        assert self.known is not None and self.known.is_member(ME.user, ME.fingerprint)
        rebuilt = rl.verify_log(self.known.entries, channel=CHANNEL, parse_key=parse)
        for key in chosen:
            assert rebuilt.is_member(key.user, key.fingerprint)
            assert key.user != "ghost"
            assert key not in [person(name, 1).public for name in MEMBERS_TO_BE]
        # What bob holds was written by members: no entry signed by the ghost was adopted.
        assert person("ghost").fingerprint not in {
            entry.author_fingerprint for entry in self.known.entries}


def test_no_run_of_a_lying_hub_makes_a_client_seal_to_a_non_member() -> None:
    run_state_machine_as_test(LyingHubRun, settings=settings(
        max_examples=60, stateful_step_count=30, deadline=None))
