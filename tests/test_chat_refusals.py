"""Nothing lost without notice, on the client's side: a message the hub refuses for now
(over a channel's rate or a byte budget) is sent again when the hub says it may, and the
sender is told; a reader the hub says missed messages is told, and the sender resends."""

from __future__ import annotations

from dataclasses import replace

import pytest
import trio

from gossip.client import events as ev
from gossip.client.commands import SendChat
from gossip.hub import HubConfig, Limits
from gossip.wire import ErrorCode

RATE, BURST, SENT = 4.0, 2, 7


@pytest.fixture
def hub_config(hub_config: HubConfig) -> HubConfig:
    return replace(hub_config, limits=replace(
        Limits(), channel_messages_per_second=RATE, channel_message_burst=BURST))


async def test_messages_over_a_channels_rate_are_delayed_not_lost(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    sent = [await alice.session.ref.ask(SendChat("general", f"number {n}")) for n in range(SENT)]

    delayed = await alice.next_event(ev.MessageDelayed)
    assert delayed.code in (ErrorCode.CHANNEL_RATE, ErrorCode.RATE)
    assert 0 < delayed.retry_in <= 1
    got: set[str] = set()
    with trio.fail_after(20):
        while len(got) < SENT:
            got.add((await bob.next_event(ev.MessageReceived)).message.id)
    assert got == {message.id for message in sent}


async def test_a_message_refused_for_good_is_reported_not_sent(connect):
    alice = await connect("alice")
    message = await alice.session.ref.ask(SendChat("general", "hello"))
    # The hub refuses a frame naming the message for good (here: a channel the hub does not
    # have, as a lying or changed hub might answer): the sender is told it did not go out.
    from gossip.client.chat import ref_of
    from gossip.wire import Message

    assert alice.session._link is not None
    await alice.session._link.send(Message(channel="nowhere", blob=b"x", ref=ref_of(message)))
    not_sent = await alice.next_event(ev.MessageNotSent)
    assert (not_sent.id, not_sent.code) == (message.id, ErrorCode.UNKNOWN_CHANNEL)
