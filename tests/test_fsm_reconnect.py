"""A session's connection life as stories (the machine), and the backoff between attempts
(the policy), with time and randomness passed in so every figure is exact.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gossip.fsm import MACHINES, ProtocolViolation, Report
from gossip.fsm.reconnect import (
    Backoff,
    BackoffPolicy,
    Reconnect,
    ReconnectOrder,
    ReconnectPhase,
)

ONLINE, OFFLINE, RETRY, CONNECT, STOP = (
    ReconnectOrder.REPORT_ONLINE, ReconnectOrder.REPORT_OFFLINE, ReconnectOrder.SCHEDULE_RETRY,
    ReconnectOrder.CONNECT, ReconnectOrder.STOP)


def orders(machine: Reconnect, event: str) -> list[str]:
    actions = machine.handle(event)
    assert all(isinstance(action, Report) for action in actions)
    return [action.what for action in actions if isinstance(action, Report)]


def online() -> Reconnect:
    machine = Reconnect()
    assert orders(machine, "synced") == [ONLINE]
    return machine


def test_it_is_registered_so_the_audit_checks_it() -> None:
    assert MACHINES["reconnect"] is Reconnect and Reconnect.Phase is ReconnectPhase
    assert Reconnect.wire_events == {}  # no wire peer: the owner drives every event


def test_a_failed_first_attempt_goes_back_to_the_user_instead_of_retrying() -> None:
    machine = Reconnect()
    assert orders(machine, "lost") == [STOP]
    assert machine.phase is ReconnectPhase.UNREACHABLE and machine.finished


def test_a_loss_once_online_pauses_then_retries_until_back_online() -> None:
    machine = online()
    assert orders(machine, "lost") == [OFFLINE, RETRY]
    assert machine.phase is ReconnectPhase.WAITING
    assert orders(machine, "retry_due") == [CONNECT]
    assert machine.phase is ReconnectPhase.RETRYING
    assert orders(machine, "lost") == [RETRY]  # still offline: no second "offline" notice
    assert orders(machine, "retry_due") == [CONNECT]
    assert orders(machine, "synced") == [ONLINE]
    assert machine.phase is ReconnectPhase.ONLINE


@pytest.mark.parametrize("path", [(), ("synced",), ("synced", "lost", "retry_due")],
                         ids=["first attempt", "online", "retrying"])
def test_a_refusal_for_good_stops_wherever_a_connection_is_open(path: tuple[str, ...]) -> None:
    # Wrong password (first attempt), signed in elsewhere (online), hub key changed (retry).
    machine = Reconnect()
    for event in path:
        machine.handle(event)
    assert orders(machine, "refused_for_good") == [STOP]
    assert machine.phase is ReconnectPhase.REFUSED and machine.finished


def test_while_waiting_nothing_can_be_lost_or_refused_but_the_user_can_leave() -> None:
    machine = online()
    machine.handle("lost")
    for event in ("lost", "synced", "refused_for_good"):
        with pytest.raises(ProtocolViolation, match="not allowed in state 'waiting'"):
            machine.handle(event)
    assert orders(machine, "leave") == [STOP]
    assert machine.phase is ReconnectPhase.LEFT
    with pytest.raises(ProtocolViolation):
        machine.handle("retry_due")  # a timer that fires after leaving is refused, not obeyed


def test_the_user_can_cut_a_pause_short_and_only_a_pause() -> None:
    machine = online()
    machine.handle("lost")
    assert orders(machine, "retry_now") == [CONNECT]  # the same attempt, begun at once
    assert machine.phase is ReconnectPhase.RETRYING
    assert orders(machine, "lost") == [RETRY]  # it failed too: back to pausing
    assert orders(machine, "retry_now") == [CONNECT]
    assert orders(machine, "synced") == [ONLINE]


@pytest.mark.parametrize("path", [(), ("synced",), ("synced", "lost", "retry_now")],
                         ids=["first attempt", "online", "retrying"])
def test_retry_now_is_refused_where_no_pause_is_running(path: tuple[str, ...]) -> None:
    machine = Reconnect()
    for event in path:
        machine.handle(event)
    phase = machine.phase
    with pytest.raises(ProtocolViolation, match=f"not allowed in state '{phase}'"):
        machine.handle("retry_now")
    assert machine.phase is phase  # a late click changes nothing


# -- the backoff -------------------------------------------------------------------------------
POLICY = BackoffPolicy(base=0.5, cap=30.0, jitter=0.5, reset_after=30.0)


def test_pauses_double_up_to_the_cap_and_jitter_only_shortens_them() -> None:
    assert [POLICY.delay(failures, 0.0) for failures in range(8)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert POLICY.delay(2, 0.5) == 2.0 * 0.75
    assert POLICY.delay(10_000, 0.0) == 30.0  # no overflow however long the hub is away


def test_a_connection_that_lasted_resets_the_backoff_and_a_brief_one_does_not() -> None:
    backoff = Backoff(POLICY)
    delays = []
    for _ in range(4):
        backoff, delay = backoff.after_loss(now=0.0, draw=0.0)
        delays.append(delay)
    assert delays == [0.5, 1.0, 2.0, 4.0] and backoff.attempt == 4

    brief, delay = backoff.went_online(now=100.0).after_loss(now=100.0 + 29.9, draw=0.0)
    assert delay == 8.0  # up for less than reset_after: a flapping hub is not hammered

    lasted, delay = brief.went_online(now=200.0).after_loss(now=230.0, draw=0.0)
    assert delay == 0.5 and lasted.failures == 1 and lasted.online_since is None


def test_the_machine_and_the_backoff_together_as_an_owner_runs_them() -> None:
    machine, backoff, now = online(), Backoff(POLICY).went_online(0.0), 0.0
    waited = []
    for event in ("lost", "retry_due", "lost", "retry_due", "lost", "retry_due", "synced"):
        for order in orders(machine, event):
            if order == RETRY:
                backoff, delay = backoff.after_loss(now, draw=0.0)
                waited.append(delay)
                now += delay
            elif order == ONLINE:
                backoff = backoff.went_online(now)
    assert waited == [0.5, 1.0, 2.0]  # online for 0 s before the first loss: no reset
    assert machine.phase is ReconnectPhase.ONLINE and backoff.online_since == now


@pytest.mark.parametrize(("fields", "message"), [
    ({"base": 0.0}, "0 < base <= cap"), ({"base": 5.0, "cap": 1.0}, "0 < base <= cap"),
    ({"jitter": 1.0}, "jitter"), ({"reset_after": -1.0}, "reset_after")])
def test_a_policy_that_makes_no_sense_is_refused(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BackoffPolicy(**fields)


def test_a_draw_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="draw"):
        POLICY.delay(0, 1.0)


@given(failures=st.integers(0, 200), draw=st.floats(0, 1, exclude_max=True),
       base=st.floats(0.01, 5), cap=st.floats(5, 120), jitter=st.floats(0, 0.99))
def test_every_pause_lies_between_the_jittered_and_the_full_doubling_and_never_past_the_cap(
        failures: int, draw: float, base: float, cap: float, jitter: float) -> None:
    policy = BackoffPolicy(base=base, cap=cap, jitter=jitter)
    full = min(cap, base * 2.0 ** min(failures, 64))
    delay = policy.delay(failures, draw)
    assert full * (1 - jitter) <= delay <= full <= cap
    assert policy.delay(failures + 1, draw) >= delay  # never shorter for one more failure
