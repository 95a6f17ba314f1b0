"""A hub that lies gets caught: real clients behind a lying hub (tests/lyinghub.py), which
adds ghosts, swaps keys, hands a user her own name under another key, injects a ghost into
a call, drops and reorders. Each test asserts what the user sees and that nothing was
sealed to the ghost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from gossip.client import events as ev
from gossip.client.commands import GetState, SendChat, VerifyKey
from gossip.client.messages import ChannelSender, new_chat
from gossip.crypto.pins import Trust
from gossip.hub import RunningHub
from gossip.wire import Key, Message

from .lyinghub import Direction, Ghost, LyingHub, Relayed, readable_by


@pytest.fixture
async def lying(nursery: trio.Nursery, hub: RunningHub) -> LyingHub:
    return await nursery.start(LyingHub(hub).run)


async def test_clients_behind_the_lying_hub_chat_as_usual(connect, lying: LyingHub):
    """The tool itself: the PAKE passes through (same certificate), frames are relayed."""
    alice = await connect("alice", port=lying.port)
    bob = await connect("bob", port=lying.port)
    await alice.session.ref.ask(SendChat("general", "through the relay", 60))
    got = (await bob.next_event(ev.MessageReceived)).message
    assert got.text == "through the relay" and got.verified
    assert {c.user for c in lying.connections} == {"alice", "bob"}
    assert any(isinstance(f, Message) for f in lying.of("alice").sent_up())


# -- 1. your own name is yours ----------------------------------------------------------------

async def test_a_key_under_my_own_name_that_is_not_mine_is_refused_loudly(
        connect, lying: LyingHub, tmp_path: Path):
    impostor = Ghost("alice", tmp_path / "impostor")

    def swap_my_key(connection: Relayed, frame):
        # At alice's very first connection the hub hands her an impostor key as her own.
        if connection.user == "alice" and isinstance(frame, Key) and frame.user == "alice":
            return [impostor.key_frame()]
        return [frame]

    lying.hooks[Direction.DOWN] = swap_my_key
    bob = await connect("bob")  # straight to the real hub
    alice = await connect("alice", port=lying.port)
    alarm = await alice.next_event(ev.OwnKeyForged)
    assert alarm.user == "alice" and alarm.offered == impostor.identity.fingerprint
    assert alarm.ours == alice.profile.identity.fingerprint
    # Never pinned, never listed as a member under her name.
    assert alice.profile.pins.pinned_fingerprint("alice") != impostor.identity.fingerprint
    state = await alice.session.ref.ask(GetState())
    assert [m.user for m in state.members] == ["bob"]

    await alice.session.ref.ask(SendChat("general", "only for bob and me", 60))
    assert (await bob.next_event(ev.MessageReceived)).message.text == "only for bob and me"
    sent = lying.of("alice").sent_up(Message)
    assert impostor.read_chat(sent, alice.profile.identity.public, now=time.time()) == []

    # A message "from alice" forged to alice by the hub is refused, not shown as hers.
    lying.of("alice").inject(Message(channel="general", blob=b"\x00", sender="alice"))
    rejected = await alice.next_event(ev.MessageRejected)
    assert rejected.sender == "alice"
    state = await alice.session.ref.ask(GetState())
    assert [m.text for m in state.messages] == ["only for bob and me"]


# -- 2. no silent members ---------------------------------------------------------------------

async def test_a_ghost_the_hub_adds_is_shown_and_reads_no_history(
        connect, lying: LyingHub, tmp_path: Path):
    alice = await connect("alice", port=lying.port)
    bob = await connect("bob")
    await alice.session.ref.ask(SendChat("general", "before the ghost", 60))
    assert (await bob.next_event(ev.MessageReceived)).message.text == "before the ghost"

    ghost = Ghost("ghost", tmp_path / "ghost")
    lying.of("alice").inject(ghost.key_frame())
    joined = await alice.next_event(ev.MemberJoined, lambda e: e.user == "ghost")
    assert joined.trust is Trust.NEW and joined.fingerprint == ghost.identity.fingerprint

    # Resend-on-join went to nobody (the ghost had not received the message first).
    sent = lying.of("alice").sent_up(Message)
    assert ghost.read_chat(sent, alice.profile.identity.public, now=time.time()) == []
    # A member who really comes back is sent again what she first received.
    bob.stop()
    await alice.next_event(ev.MemberLeft, lambda e: e.user == "bob")
    await connect("bob")

    def bob_can_read() -> list[str]:
        return readable_by(bob.profile.identity, lying.of("alice").sent_up(Message),
                           alice.profile.identity.public, now=time.time())

    await lying.until(lambda: bob_can_read() == ["before the ghost"] * 2, "the resend to bob")
    sent = lying.of("alice").sent_up(Message)
    assert ghost.read_chat(sent, alice.profile.identity.public, now=time.time()) == []


async def test_members_of_the_first_sync_each_show_with_their_trust(connect, lying: LyingHub,
                                                                     tmp_path: Path):
    await connect("bob")
    ghost = Ghost("ghost", tmp_path / "ghost")

    def add_ghost_to_the_sync(connection: Relayed, frame):
        if isinstance(frame, Key) and frame.user == "bob":
            return [frame, ghost.key_frame()]
        return [frame]

    lying.hooks[Direction.DOWN] = add_ghost_to_the_sync
    alice = await connect("alice", port=lying.port)
    joined = {}
    while len(joined) < 3:
        event = await alice.next_event(ev.MemberJoined)
        joined[event.user] = event.trust
    assert joined == {"alice": Trust.NEW, "bob": Trust.NEW, "ghost": Trust.NEW}


# -- 3. trust is bound to the signer ----------------------------------------------------------

async def test_the_flip_attack_shows_nothing_as_verified(connect, lying: LyingHub,
                                                         tmp_path: Path):
    """Issue 12, finding 3: an impostor key for alice, a hand-over signed by it, alice's real
    key again, then a message under the impostor's sender key."""
    alice = await connect("alice")
    bob = await connect("bob", port=lying.port)
    await bob.next_event(ev.MemberJoined, lambda e: e.user == "alice")
    assert await bob.session.ref.ask(VerifyKey("alice")) is Trust.VERIFIED
    await alice.session.ref.ask(SendChat("general", "the real alice", 60))
    real = (await bob.next_event(ev.MessageReceived)).message
    assert real.verified and real.trust is Trust.VERIFIED

    to_bob = lying.of("bob")
    impostor = Ghost("alice", tmp_path / "impostor")
    to_bob.inject(impostor.key_frame())
    changed = await bob.next_event(ev.KeyChanged)
    assert changed.offered == impostor.identity.fingerprint
    # Bob writes meanwhile: nothing of it is sealed to the key that changed.
    await bob.session.ref.ask(SendChat("general", "bob while alice is in doubt", 60))
    assert impostor.read_chat(to_bob.sent_up(Message), bob.profile.identity.public,
                              now=time.time()) == []

    forger = ChannelSender(impostor.identity, "general", time.time)
    to_bob.inject(Message(channel="general", sender="alice",
                          blob=forger.distribution_for([bob.profile.identity.public])))
    to_bob.inject(Key(user="alice", key=alice.profile.identity.public.to_bytes()))
    await bob.next_event(ev.MemberJoined, lambda e: e.user == "alice"
                         and e.fingerprint == alice.profile.identity.fingerprint)
    forged = new_chat(impostor.identity, channel="general", text="wire me the money",
                      ttl=60, now=time.time())
    to_bob.inject(Message(channel="general", sender="alice", blob=forger.encrypt(forged)))
    # What bob sees: the forged words are refused or shown unverified, never verified.
    with trio.fail_after(20):
        while True:
            event = await bob.events.receive()
            if isinstance(event, ev.MessageRejected) and event.sender == "alice":
                break
            if isinstance(event, ev.MessageReceived) and event.message.id == forged.id:
                assert not event.message.verified and event.message.trust is Trust.CHANGED
                break
    state = await bob.session.ref.ask(GetState())
    assert [m.text for m in state.messages if m.verified and m.sender == "alice"] \
        == ["the real alice"]
