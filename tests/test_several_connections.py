"""One identity on several connections at once (a person's devices): each gets what the
others send, what one sends shows on the others, presence changes once, budgets are the
identity's, and only another key under the name is refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import trio

from gossip.client import events as ev
from gossip.client.commands import SendChat
from gossip.client.errors import LoginFailed
from gossip.client.profile import Profile
from gossip.hub import HubConfig
from gossip.hub.config import Limits
from gossip.wire import CallMembers, Error, Message, StartCall

from .conftest import Client
from .rawmember import log_in, next_of, try_log_in


@pytest.fixture
def hub_config(hub_config: HubConfig) -> HubConfig:
    # Few connections per identity and a small message burst (a chat message with its
    # sender-key hand-over is two), so the tests reach both bounds.
    return replace(
        hub_config,
        limits=Limits(
            connections_per_identity=3, channel_message_burst=8, channel_messages_per_second=0.01
        ),
    )


def _second_device(profile: Profile) -> Profile:
    """The same identity opened again from its files, as a second process would."""
    return Profile.open(profile.identity.user, profile.directory)


async def test_a_second_connection_of_the_same_key_runs_beside_the_first(connect, hub):
    alice = await connect("alice")
    listener = await connect("bob")
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    # Bob wrote before his second device came: its sender key was handed to alice and bob.
    await listener.session.ref.ask(SendChat("general", "before the phone", 60))
    assert (await alice.next_event(ev.MessageReceived)).message.text == "before the phone"
    _drain(listener)  # what the listener saw up to now (its own first sync)
    sender = await connect("bob", profile=_second_device(listener.profile))
    assert hub.registry.connections_of("bob") == 2

    await sender.session.ref.ask(SendChat("general", "from my phone", 60))
    # The listener, bob's other connection, sees what bob sent from there, verified as his,
    # and no "bob joined" for his own second device.
    before = []
    while not isinstance(event := await listener.next_event(object), ev.MessageReceived):
        before.append(event)
    assert not [e for e in before if isinstance(e, (ev.MemberJoined, ev.MemberLeft))]
    mine = event.message
    assert (mine.sender, mine.text, mine.verified) == ("bob", "from my phone", True)
    theirs = (await alice.next_event(ev.MessageReceived)).message
    assert (theirs.sender, theirs.text) == ("bob", "from my phone")

    # And the other way round: the listener's message shows on the second connection.
    await listener.session.ref.ask(SendChat("general", "from my desk", 60))
    back = (await sender.next_event(ev.MessageReceived)).message
    assert (back.sender, back.text) == ("bob", "from my desk")

    # The second connection goes: the first stays, and nobody is told bob left.
    sender.stop()
    await sender.done.wait()
    await alice.session.ref.ask(SendChat("general", "still there?", 60))
    assert (await listener.next_event(ev.MessageReceived)).message.text == "still there?"
    assert listener.failure is None and hub.registry.connections_of("bob") == 1
    # The last one goes: now bob left, once.
    listener.stop()
    await alice.next_event(ev.MemberLeft, lambda e: e.user == "bob")
    await connect("carol")
    seen = []
    while (
        event := await alice.next_event(
            (ev.MemberJoined, ev.MemberLeft), lambda e: e.user in ("bob", "carol")
        )
    ).user != "carol":
        seen.append(event)
    assert seen == []  # no second "bob left", no "bob joined" for the second device
    assert not hub.registry.online("bob")


def _drain(client: Client) -> None:
    while True:
        try:
            client.events.receive_nowait()
        except trio.WouldBlock:
            return


async def test_another_key_under_the_name_is_still_refused(connect, hub, tmp_path: Path):
    bob = await connect("bob")
    impostor = await connect("bob", profile=Profile.open("bob", tmp_path / "other"), wait=False)
    with trio.fail_after(20):
        await impostor.done.wait()
    assert isinstance(impostor.failure, LoginFailed)
    assert impostor.failure.code == "user_taken"
    assert bob.failure is None and hub.registry.connections_of("bob") == 1


async def test_past_the_bound_a_connection_is_refused_and_none_is_pushed_out(nursery, hub):
    devices = [await log_in(nursery, hub, "dana") for _ in range(3)]
    _, answer = await try_log_in(nursery, hub, "dana")
    assert isinstance(answer, Error) and answer.code == "too_many_connections"
    assert "close one of them" in answer.reason
    assert hub.registry.connections_of("dana") == 3
    # All three still relay, each to the others.
    await devices[0].send_message(Message(channel="general", blob=b"hello").encode())
    for device in devices[1:]:
        got = await next_of(device, Message)
        assert (got.sender, got.blob) == ("dana", b"hello")


async def test_budgets_are_the_identitys_not_each_connections(nursery, hub):
    """More connections buy no more: the channel's message burst (8 here) is spent by the
    identity, whichever connection sends."""
    devices = [await log_in(nursery, hub, "eve") for _ in range(3)]
    reader = await log_in(nursery, hub, "fred")
    for index in range(10):
        await devices[index % 3].send_message(
            Message(channel="general", blob=b"%d" % index, ref=bytes(16)).encode()
        )
    # The ninth and tenth, from the third and first device, are refused.
    refused = [await next_of(device, Error) for device in (devices[2], devices[0])]
    assert {error.code for error in refused} == {"channel_rate"}
    got = [(await next_of(reader, Message)).blob for _ in range(8)]
    assert got == [b"%d" % index for index in range(8)]


async def test_one_identity_is_in_a_call_once(nursery, hub):
    phone, desk = await log_in(nursery, hub, "gil"), await log_in(nursery, hub, "gil")
    await phone.send_message(StartCall(channel="general").encode())
    assert (await next_of(phone, CallMembers)).users == ("gil",)
    await desk.send_message(StartCall(channel="general").encode())
    refused = await next_of(desk, Error)
    assert refused.code == "call_elsewhere" and "hang up there first" in refused.reason
    assert hub.registry.call_members("general") == ("gil",)
