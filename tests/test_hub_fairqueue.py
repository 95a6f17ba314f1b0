"""The fair outbox, the byte budget and the missed ledger on their own: each rule of theirs,
with trio's clock under the test's control."""

from __future__ import annotations

import trio
import trio.testing

from gossip.hub.fairqueue import FairOutbox, OutboxLimits, Put
from gossip.hub.missed import MissedLedger
from gossip.hub.ratelimit import ByteBudget

LIMITS = OutboxLimits(frames=10, bytes=1000, sender_frames=3, sender_bytes=300)


async def _drain(outbox: FairOutbox) -> list[tuple[str | None, bytes]]:
    served = []
    while outbox.frames:
        sender, item = await outbox.get()
        assert isinstance(item, bytes)
        served.append((sender, item))
    return served


async def test_senders_are_served_in_turn_and_the_hub_first() -> None:
    outbox = FairOutbox(LIMITS)
    for number in range(3):
        assert outbox.put("mallory", b"m%d" % number, 10, channel="general") is Put.QUEUED
    assert outbox.put("alice", b"a0", 10, channel="general") is Put.QUEUED
    assert outbox.put("bob", b"b0", 10, channel="general") is Put.QUEUED
    assert outbox.put_control(b"key", 10) is Put.QUEUED
    assert await _drain(outbox) == [
        (None, b"key"), ("mallory", b"m0"), ("alice", b"a0"), ("bob", b"b0"),
        ("mallory", b"m1"), ("mallory", b"m2")]


async def test_a_sender_over_its_share_is_dropped_and_counted_not_the_reader_kicked() -> None:
    outbox = FairOutbox(LIMITS)
    verdicts = [outbox.put("mallory", b"m", 10, channel="general") for _ in range(5)]
    assert verdicts == [Put.QUEUED] * 3 + [Put.DROPPED] * 2
    assert outbox.put("mallory", b"big", 301, channel="random") is Put.DROPPED
    assert {key: drop.count for key, drop in outbox.dropped.items()} == {
        ("mallory", "general"): 2, ("mallory", "random"): 1}
    # A key announcement is never dropped: it is bounded by the whole outbox only.
    assert outbox.put("mallory", b"key", 10, droppable=False) is Put.QUEUED
    assert outbox.put("alice", b"a", 10, channel="general") is Put.QUEUED


async def test_only_a_full_outbox_of_fair_shares_is_an_overflow() -> None:
    outbox = FairOutbox(LIMITS)
    for sender in ("a", "b", "c"):
        for _ in range(3):
            assert outbox.put(sender, b"x", 10, channel="general") is Put.QUEUED
    assert outbox.put("d", b"x", 10, channel="general") is Put.QUEUED  # ten frames now
    assert outbox.put("e", b"x", 10, channel="general") is Put.OVERFLOW
    assert outbox.put_control(b"x", 10) is Put.OVERFLOW
    # Bytes count too.
    roomy = FairOutbox(OutboxLimits(frames=100, bytes=100, sender_frames=10, sender_bytes=80))
    assert roomy.put("a", b"x", 80, channel="general") is Put.QUEUED
    assert roomy.put("b", b"x", 30, channel="general") is Put.OVERFLOW


async def test_closing_a_slow_readers_outbox_counts_what_it_never_got() -> None:
    outbox = FairOutbox(LIMITS)
    outbox.put("alice", b"x", 10, channel="general")
    outbox.put("alice", b"key", 10, droppable=False)
    outbox.put_control(b"err", 10)
    outbox.close(drop_backlog=True)
    assert outbox.put("alice", b"x", 10, channel="general") is Put.CLOSED
    assert {key: drop.count for key, drop in outbox.dropped.items()} == {
        ("alice", "general"): 2}
    try:
        await outbox.get()
    except trio.EndOfChannel:
        pass
    else:
        raise AssertionError("a closed, empty outbox gave an item")


async def test_the_writer_waits_for_the_next_item() -> None:
    outbox = FairOutbox(LIMITS)
    got: list[tuple[str | None, object]] = []

    async def writer() -> None:
        got.append(await outbox.get())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        outbox.put("alice", b"x", 1, channel="general")
    assert got == [("alice", b"x")]


async def test_the_byte_budget_admits_one_big_frame_then_waits_out_its_debt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    budget = ByteBudget(rate=100, burst=1000)
    assert budget.admits()
    budget.charge(5000)  # bigger than the whole burst: admitted, and owed
    assert not budget.admits()
    assert abs(budget.retry_after() - 40.0) < 1e-6
    await trio.sleep(40.01)
    assert budget.admits()


async def test_the_missed_ledger_counts_while_away_and_forgets(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ledger = MissedLedger(max_users=2, max_entries=2, ttl=60)
    assert not ledger
    ledger.record("reader", {})
    ledger.published("alice", "general")
    ledger.published("alice", "general")
    ledger.published("bob", "general")
    ledger.published("carol", "general")  # past max_entries: not kept
    ledger.published("reader", "general")  # its own messages are not missed
    counts = {(item.sender, item.channel): item.count for item in ledger.take("reader")}
    assert counts == {("alice", "general"): 2, ("bob", "general"): 1}
    assert ledger.take("reader") == []

    for user in ("u1", "u2", "u3"):  # past max_users: the oldest record goes
        ledger.record(user, {})
    assert "u1" not in ledger and "u3" in ledger
    await trio.sleep(61)
    assert ledger.take("u3") == [] and not ledger
