"""Encrypted chat through a real hub on loopback: real TLS, real PGPy keys, real sessions."""

from __future__ import annotations

import logging

import pytest
import trio

from gossip.client import events as ev
from gossip.client.commands import AcceptKey, GetState, SendChat
from gossip.client.profile import Profile
from gossip.crypto.pins import Trust
from gossip.wire import Message, decode_frame


async def test_two_users_chat_and_the_message_arrives_verified(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    sent = await alice.session.ref.ask(SendChat("general", "hello bob", 120))
    got = (await bob.next_event(ev.MessageReceived)).message
    assert (got.id, got.sender, got.channel, got.text) == (sent.id, "alice", "general",
                                                           "hello bob")
    assert got.verified and got.trust is Trust.NEW
    assert got.expires_at == pytest.approx(got.sent_at + 120)


async def test_members_and_channels_are_synced(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    state = await bob.session.ref.ask(GetState())
    assert [m.user for m in state.members] == ["alice", "bob"]
    assert state.channels == ("general", "random")
    assert state.hub == "test hub"
    bob.stop()
    left = await alice.next_event(ev.MemberLeft)
    assert left.user == "bob"


async def test_the_hub_never_holds_plaintext(connect, hub_tap, caplog):
    caplog.set_level(logging.DEBUG)
    alice = await connect("alice")
    bob = await connect("bob")
    secret = "the eagle lands at midnight"
    await alice.session.ref.ask(SendChat("general", secret, 60))
    assert (await bob.next_event(ev.MessageReceived)).message.text == secret
    seen = hub_tap.everything()
    assert len(seen) > 1000  # the tap really saw the traffic, keys and all
    for form in (secret.encode(), secret.encode("utf-16-le"), b"eagle"):
        assert form not in seen
    assert "eagle" not in caplog.text
    assert "msg user=alice channel=general" in caplog.text  # but it does log the routing


async def test_a_replayed_message_is_dropped(connect, hub):
    alice = await connect("alice")
    bob = await connect("bob")
    publish = hub.registry.publish
    replayed = trio.Event()

    def publish_twice(channel, data, *, sender):
        publish(channel, data, sender=sender)
        hub.registry.publish = publish
        replayed.set()
        return publish(channel, data, sender=sender)

    hub.registry.publish = publish_twice
    await alice.session.ref.ask(SendChat("general", "once", 60))
    await replayed.wait()
    await alice.session.ref.ask(SendChat("general", "twice", 60))
    texts = [(await bob.next_event(ev.MessageReceived)).message.text for _ in range(2)]
    assert texts == ["once", "twice"]


def _tampering(hub, change):
    """Make the hub alter every relayed message frame with `change(frame) -> frame`."""
    publish = hub.registry.publish

    def tampered(channel, data, *, sender):
        frame = change(decode_frame(data))
        return publish(frame.channel, frame.encode(), sender=sender)

    hub.registry.publish = tampered


def _flip_last_byte(frame):
    return Message(channel=frame.channel, blob=frame.blob[:-1] + bytes([frame.blob[-1] ^ 1]),
                   sender=frame.sender)


# The hub alters every frame it relays, the sender-key hand-over included, so what the
# receiver notices first may be the hand-over or the message; either way nothing is shown.
@pytest.mark.parametrize("change, reason", [
    (_flip_last_byte, {"malformed", "bad_signature"}),
    (lambda f: Message(channel=f.channel, blob=f.blob, sender="carol"),
     {"bad_signature", "unknown_sender_key"}),
    (lambda f: Message(channel="random", blob=f.blob, sender=f.sender),
     {"bad_signature", "malformed", "unknown_sender_key", "wrong_channel"}),
], ids=["ciphertext", "sender", "channel"])
async def test_a_message_the_hub_altered_is_rejected(connect, hub, change, reason):
    alice = await connect("alice")
    bob = await connect("bob")
    await connect("carol")
    await bob.next_event(ev.MemberJoined, lambda e: e.user == "carol")
    _tampering(hub, change)
    await alice.session.ref.ask(SendChat("general", "do not touch", 60))
    rejected = await bob.next_event(ev.MessageDiscarded)
    assert rejected.reason in reason
    state = await bob.session.ref.ask(GetState())
    assert state.messages == ()


async def test_a_message_the_hub_holds_back_is_rejected_as_stale(connect, hub, clock):
    start = 1_700_000_000.0

    def wall() -> float:
        return start + trio.current_time()

    alice = await connect("alice", clock=wall)
    bob = await connect("bob", clock=wall)
    held: list[tuple] = []
    arrived = trio.Event()
    publish = hub.registry.publish

    def hold(channel, data, *, sender):
        held.append((channel, data, sender))
        arrived.set()
        return 1

    hub.registry.publish = hold
    await alice.session.ref.ask(SendChat("general", "old news", 3600))
    while len(held) < 2:  # the sender-key hand-over, then the message
        await arrived.wait()
        arrived = trio.Event()
    clock.jump(400)  # the hub sits on them for almost seven minutes, then delivers them
    for channel, data, sender in held:
        publish(channel, data, sender=sender)
    assert (await bob.next_event(ev.MessageDiscarded)).reason == "stale"


async def test_messages_expire_from_view_and_store(connect, clock):
    start = 1_700_000_000.0

    def wall() -> float:
        return start + trio.current_time()

    alice = await connect("alice", clock=wall)
    bob = await connect("bob", clock=wall)
    await alice.session.ref.ask(SendChat("general", "short-lived", 30))
    await alice.session.ref.ask(SendChat("general", "long-lived", 300))
    short = (await bob.next_event(ev.MessageReceived)).message
    await bob.next_event(ev.MessageReceived)
    clock.jump(31)
    expired = await bob.next_event(ev.MessageExpired)
    assert expired.id == short.id
    for client in (alice, bob):
        state = await client.session.ref.ask(GetState())
        assert [m.text for m in state.messages] == ["long-lived"]


async def test_a_changed_user_key_is_flagged_until_accepted(connect, hub, tmp_path):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.session.ref.ask(SendChat("general", "first", 60))
    assert (await bob.next_event(ev.MessageReceived)).message.trust is Trust.NEW
    alice.stop()
    await bob.next_event(ev.MemberLeft)
    # Someone (or the hub) now presents a different key for "alice": the hub binds names to
    # keys, so its operator has freed the name first (or the hub itself is hostile).
    hub.reset_name("alice")
    impostor = Profile.open("alice", tmp_path / "elsewhere")
    alice2 = await connect("alice", profile=impostor)
    changed = await bob.next_event(ev.KeyChanged)
    assert changed.user == "alice" and changed.offered == impostor.identity.fingerprint
    assert changed.pinned == alice.profile.identity.fingerprint
    await alice2.session.ref.ask(SendChat("general", "trust me", 60))
    got = (await bob.next_event(ev.MessageReceived)).message
    assert got.text == "trust me" and not got.verified and got.trust is Trust.CHANGED
    assert await bob.session.ref.ask(AcceptKey("alice")) is Trust.PINNED
    await alice2.session.ref.ask(SendChat("general", "accepted now", 60))
    got = (await bob.next_event(ev.MessageReceived)).message
    assert got.verified and got.trust is Trust.PINNED
