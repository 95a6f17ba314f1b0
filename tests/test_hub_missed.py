"""Nothing lost without notice, on the hub's side: a refused frame is named in its refusal,
a message can go to one member (a resend), and a reader let go as slow is told on its return
what it missed, while its senders are told who missed what."""

from __future__ import annotations

from dataclasses import replace

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed

from gossip.hub import HubConfig, Limits, RunningHub
from gossip.wire import Error, ErrorCode, Message, Missed, MissedBy

from .rawmember import log_in, next_frame, next_of

OUTBOX = 8
BLOB = 64 * 1024
SENT_BEFORE = 150  # far more than the stalled reader's socket buffers and outbox hold
SENT_AWAY = 5
BURST = SENT_BEFORE + SENT_AWAY + 10  # frames and messages per channel a member may send at once


@pytest.fixture
def hub_config(hub_config: HubConfig) -> HubConfig:
    return replace(hub_config, channels=("general",), limits=replace(
        Limits(), outbox_frames=OUTBOX, channel_messages_per_second=5,
        channel_message_burst=BURST, frame_burst=BURST + 10))


async def test_a_refusal_names_the_frame_it_refuses(
    nursery: trio.Nursery, hub: RunningHub, autojump_clock: trio.testing.MockClock,
) -> None:
    alice = await log_in(nursery, hub, "alice")
    await alice.send_message(Message(channel="nowhere", blob=b"x", ref=b"n1").encode())
    refusal = await next_of(alice, Error)
    assert (refusal.code, refusal.ref) == (ErrorCode.UNKNOWN_CHANNEL, b"n1")

    # Over the channel's rate: the message after the burst is refused by name, with the time
    # after which it would be taken.
    for number in range(BURST + 1):
        await alice.send_message(Message(channel="general", blob=b"x",
                                         ref=number.to_bytes(2, "big")).encode())
    refusal = await next_of(alice, Error)
    assert (refusal.code, refusal.ref) == (ErrorCode.CHANNEL_RATE, BURST.to_bytes(2, "big"))
    assert refusal.retry_after is not None and 0 < refusal.retry_after <= 1 / 5
    await trio.sleep(refusal.retry_after)
    await alice.send_message(Message(channel="general", blob=b"x", ref=b"again").encode())
    await alice.send_message(Message(channel="general", blob=b"x", ref=b"too soon").encode())
    assert (await next_of(alice, Error)).ref == b"too soon"


async def test_a_ref_longer_than_sixteen_bytes_is_malformed(
    nursery: trio.Nursery, hub: RunningHub, autojump_clock: trio.testing.MockClock,
) -> None:
    alice = await log_in(nursery, hub, "alice")
    await alice.send_message(Message(channel="general", blob=b"x", ref=bytes(17)).encode())
    refusal = await next_of(alice, Error)
    assert refusal.code in (ErrorCode.TOO_LARGE, ErrorCode.MALFORMED)


async def test_a_message_to_one_member_reaches_only_them(
    nursery: trio.Nursery, hub: RunningHub, autojump_clock: trio.testing.MockClock,
) -> None:
    alice, bob, carol = [await log_in(nursery, hub, user) for user in ("alice", "bob", "carol")]
    await alice.send_message(Message(channel="general", blob=b"for bob", to="bob").encode())
    await alice.send_message(Message(channel="general", blob=b"for all").encode())
    got = await next_of(bob, Message)
    assert (got.sender, got.blob, got.to, got.ref) == ("alice", b"for bob", None, None)
    assert (await next_of(carol, Message)).blob == b"for all"
    await alice.send_message(Message(channel="general", blob=b"x", to="dave",
                                     ref=b"r").encode())
    refusal = await next_of(alice, Error)
    assert (refusal.code, refusal.ref) == (ErrorCode.NOT_ONLINE, b"r")


async def test_a_reader_let_go_as_slow_learns_on_return_what_it_missed(
    nursery: trio.Nursery, hub: RunningHub, autojump_clock: trio.testing.MockClock,
) -> None:
    alice = await log_in(nursery, hub, "alice")
    stalled = await log_in(nursery, hub, "slow", receive_buffer=4096)
    for number in range(SENT_BEFORE):
        await alice.send_message(Message(channel="general",
                                         blob=number.to_bytes(4, "big") + bytes(BLOB)).encode())
    # The stalled member reads what reached it before it was let go.
    read = 0
    refusal: Error | None = None
    with trio.fail_after(60):
        try:
            while True:
                frame = await next_frame(stalled)
                if isinstance(frame, Message):
                    read += 1
                elif isinstance(frame, Error):
                    refusal = frame
        except ConnectionClosed:
            pass
    assert refusal is not None and refusal.code == ErrorCode.SLOW
    assert read < SENT_BEFORE
    # While it is away, alice writes on.
    for _ in range(SENT_AWAY):
        await alice.send_message(Message(channel="general", blob=b"meanwhile").encode())
        await trio.sleep(0.25)

    back = await log_in(nursery, hub, "slow")
    missed = await next_of(back, Missed)
    assert (missed.sender, missed.channel) == ("alice", "general")
    assert missed.count == SENT_BEFORE + SENT_AWAY - read
    assert missed.seconds > 0
    told = await next_of(alice, MissedBy)
    assert (told.user, told.channel, told.count) == ("slow", "general", missed.count)
    # Told once: a second return has nothing to report.
    assert not hub.registry.take_missed("slow")
