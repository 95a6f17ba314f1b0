"""Fan-out without stalls: a member who stops reading delays nobody else, and once its own
bounded outbox is full the hub disconnects it with the "slow" error frame."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection

from gossip.hub import HubConfig, Limits, RunningHub
from gossip.wire import Error, Message

from .conftest import PASSWORD
from .rawmember import log_in, next_frame

OUTBOX = 8
BLOB = 64 * 1024
# 9 MiB: more than the kernel buffers on both sides of the stalled socket can hold (its
# receive buffer is shrunk to a few KiB; Linux grows a send buffer to 4 MiB at most), plus the
# outbox. Fewer messages than Limits.frame_burst, so the sender's rate limit never kicks in.
MESSAGES = 150


@pytest.fixture
def hub_config(tmp_path: Path) -> HubConfig:
    return HubConfig(name="test hub", host="127.0.0.1", port=0, password=PASSWORD,
                     channels=("general",), data_dir=tmp_path / "hub",
                     limits=replace(Limits(), outbox_frames=OUTBOX))


async def _next_message(ws: WebSocketConnection) -> Message:
    """The next chat message, skipping key announcements."""
    while True:
        frame = await next_frame(ws)
        if isinstance(frame, Message):
            return frame


@dataclass
class StalledReaderStory:
    """What the stalled member found when it finally read, and the others still connected."""

    before: list[int]  # message numbers read before the refusal
    refusal: Error | None
    after: list[int]  # message numbers read after it
    fast: dict[str, WebSocketConnection]
    alice: WebSocketConnection


async def _stalled_reader_story(nursery: trio.Nursery, hub: RunningHub) -> StalledReaderStory:
    assert Limits().frame_burst > MESSAGES  # the rate limit must not refuse any of them
    fast = {user: await log_in(nursery, hub, user) for user in ("bob", "carol")}
    stalled = await log_in(nursery, hub, "slow", receive_buffer=4096)
    alice = await log_in(nursery, hub, "alice")

    # Alice posts; bob and carol get each message before she posts the next one, while the
    # stalled member reads nothing at all. A stall would hang here until the (virtual) clock
    # ran out: the autojump clock only advances when every task is blocked.
    for number in range(MESSAGES):
        blob = number.to_bytes(4, "big") + bytes(BLOB)
        await alice.send_message(Message(channel="general", blob=blob).encode())
        for ws in fast.values():
            with trio.fail_after(5):
                message = await _next_message(ws)
            assert (message.sender, message.blob) == ("alice", blob)

    # Now the stalled member reads whatever reached it before the hub gave up on it.
    story = StalledReaderStory([], None, [], fast, alice)
    with trio.fail_after(30):
        try:
            while True:
                frame = await next_frame(stalled)
                if isinstance(frame, Message):
                    number = int.from_bytes(frame.blob[:4], "big")
                    (story.before if story.refusal is None else story.after).append(number)
                elif isinstance(frame, Error):
                    story.refusal = frame
        except ConnectionClosed:
            pass
    await trio.testing.wait_all_tasks_blocked()  # the hub finishes closing its side
    return story


async def test_a_reader_that_never_reads_stalls_nobody_and_is_told_it_is_slow(
    nursery: trio.Nursery, hub: RunningHub, autojump_clock: trio.testing.MockClock,
) -> None:
    story = await _stalled_reader_story(nursery, hub)

    assert story.refusal is not None and story.refusal.code == "slow"
    # An unbroken run from the first message, cut short: the rest of its outbox was dropped.
    received = story.before + story.after
    assert received == list(range(len(received)))
    assert len(received) < MESSAGES - OUTBOX
    assert not hub.registry.online("slow")
    assert hub.registry.members() == ["alice", "bob", "carol"]

    # The others carry on as before.
    await story.alice.send_message(Message(channel="general", blob=b"after").encode())
    for ws in story.fast.values():
        assert (await _next_message(ws)).blob == b"after"


async def test_the_slow_refusal_is_the_last_frame(
    nursery: trio.Nursery, hub: RunningHub, autojump_clock: trio.testing.MockClock,
) -> None:
    story = await _stalled_reader_story(nursery, hub)
    assert story.refusal is not None
    assert story.after == []


async def test_a_key_snapshot_bigger_than_the_outbox_takes_one_slot(
    nursery: trio.Nursery, hub: RunningHub, autojump_clock: trio.testing.MockClock,
) -> None:
    # More members than outbox slots: the newcomer's snapshot (a key per member, channels,
    # end of keys) is queued as one item, so it is not taken for a slow reader on arrival.
    members = [await log_in(nursery, hub, f"member{number}") for number in range(OUTBOX + 2)]
    newcomer = await log_in(nursery, hub, "newcomer")
    await members[0].send_message(Message(channel="general", blob=b"welcome").encode())
    with trio.fail_after(5):
        message = await _next_message(newcomer)
    assert (message.sender, message.blob) == ("member0", b"welcome")
    assert hub.registry.online("newcomer")
