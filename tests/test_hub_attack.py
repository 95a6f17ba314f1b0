"""The hostile-client battery (`python -m gossip.tools.attack`) against a real hub: every
attack is answered as a sound hub must, and two ordinary users chat afterwards."""

from __future__ import annotations

import trio
import trio.testing

from gossip.hub import RunningHub
from gossip.tools.attack import Target, Verdict, run_battery, two_users_chat

from .conftest import PASSWORD

# The attackers' own loopback address: the hub rightly penalises it, and the ordinary users of
# the final check (on 127.0.0.1) must not queue behind them.
ATTACKERS = "127.0.0.2"


async def test_every_attack_is_refused_and_two_users_chat_afterwards(
        hub: RunningHub, autojump_clock: trio.testing.MockClock) -> None:
    seen: list[Verdict] = []
    verdicts = await run_battery(Target("127.0.0.1", hub.port, PASSWORD, source=ATTACKERS),
                                 report=seen.append)
    assert [str(verdict) for verdict in verdicts if not verdict.ok] == []
    assert len(verdicts) == 22 and verdicts[-1].attack.startswith("two ordinary users")
    # The guessing address's queued connections are served two at a time, each after its
    # penalty: minutes of (mock) time, not a number of scheduling rounds.
    with trio.fail_after(600):
        await hub.wait_connections_at_most(0)


async def test_without_the_password_only_outsider_attacks_run(
        hub: RunningHub, autojump_clock: trio.testing.MockClock) -> None:
    verdicts = await run_battery(Target("127.0.0.1", hub.port, None, source=ATTACKERS),
                                 report=lambda v: None)
    assert [str(verdict) for verdict in verdicts if not verdict.ok] == []
    assert len(verdicts) == 14


async def test_the_chat_check_fails_against_a_hub_with_another_password(
        hub: RunningHub, autojump_clock: trio.testing.MockClock) -> None:
    verdict = await two_users_chat(Target("127.0.0.1", hub.port, "not the password"))
    assert not verdict.ok
