"""Replies, edits and reactions through a real hub: each a signed, sealed message naming
another by its id. Only a message's author edits it, whatever another member's client sends,
and the hub (which sees none of it) cannot forge one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gossip.client import events as ev
from gossip.client.chat import ChatDesk
from gossip.client.commands import EditChat, GetState, React, SendChat
from gossip.client.errors import CommandRefused, MessageRejected
from gossip.client.messages import MessageKind, new_chat
from gossip.client.related import fold
from gossip.crypto import Identity
from gossip.crypto.pins import Trust
from gossip.wire import Message

from .test_chat import _flip_last_byte, _tampering


async def _three(connect):
    alice, bob, carol = [await connect(name) for name in ("alice", "bob", "carol")]
    for other in (alice, bob):
        await other.next_event(ev.MemberJoined, lambda e: e.user == "carol")
    return alice, bob, carol


async def _shown(client):
    state = await client.session.ref.ask(GetState())
    return {shown.message.id: shown for shown in fold(state.messages, client.user)}


async def test_a_reply_an_edit_and_reactions_reach_everyone(connect):
    alice, bob, carol = await _three(connect)
    original = await alice.session.ref.ask(SendChat("general", "lunch at noon?", 600))
    await bob.next_event(ev.MessageReceived, lambda e: e.message.id == original.id)
    await carol.next_event(ev.MessageReceived, lambda e: e.message.id == original.id)

    reply = await bob.session.ref.ask(SendChat("general", "yes!", 60, reply_to=original.id))
    got = (await alice.next_event(ev.MessageReceived, lambda e: e.message.id == reply.id)).message
    assert (got.kind, got.ref, got.verified) == (MessageKind.REPLY, original.id, True)
    assert (await _shown(alice))[reply.id].quoted_text == "lunch at noon?"

    edit = await alice.session.ref.ask(EditChat(original.id, "lunch at one?"))
    assert edit.expires_at == original.expires_at  # never outlives its original
    for reader in (bob, carol):
        await reader.next_event(ev.MessageReceived, lambda e: e.message.id == edit.id)
    shown = await _shown(bob)
    assert (shown[original.id].text, shown[original.id].edited) == ("lunch at one?", True)
    assert shown[reply.id].quoted_text == "lunch at one?"
    assert edit.id not in shown  # an edit is not a message of its own

    for reader, emoji in ((bob, "👍"), (carol, "👍"), (bob, "🎉")):  # bob changes his mind
        sent = await reader.session.ref.ask(React(original.id, emoji))
        await alice.next_event(ev.MessageReceived, lambda e, s=sent: e.message.id == s.id)
    assert (await _shown(alice))[original.id].reactions == (("🎉", 1), ("👍", 1))


async def test_only_the_author_edits_a_message(connect, monkeypatch):
    alice, bob, carol = await _three(connect)
    original = await alice.session.ref.ask(SendChat("general", "the code is 4711", 600))
    await carol.next_event(ev.MessageReceived, lambda e: e.message.id == original.id)
    await bob.next_event(ev.MessageReceived, lambda e: e.message.id == original.id)
    with pytest.raises(CommandRefused, match="only alice may edit"):
        await carol.session.ref.ask(EditChat(original.id, "the code is 0000"))

    # Carol's client, changed to skip its own check, sends the edit anyway: a member's
    # signed, sealed message, but not the author's.
    desk = carol.session._chat
    monkeypatch.setattr(
        desk,
        "compose_edit",
        lambda ref, text: desk._about(desk.store.get(ref), MessageKind.EDIT, text),
    )
    await carol.session.ref.ask(EditChat(original.id, "the code is 0000"))
    refused = await bob.next_event(ev.MessageDiscarded)
    assert (refused.sender, refused.reason) == ("carol", "not_author")
    assert (await _shown(bob))[original.id].text == "the code is 4711"


async def test_an_edit_the_hub_altered_is_rejected(connect, hub):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    original = await alice.session.ref.ask(SendChat("general", "meet at the bridge", 600))
    await bob.next_event(ev.MessageReceived, lambda e: e.message.id == original.id)
    _tampering(hub, _flip_last_byte)
    await alice.session.ref.ask(EditChat(original.id, "meet at the tower"))
    refused = await bob.next_event(ev.MessageDiscarded)
    assert refused.reason in {"malformed", "bad_signature"}
    assert (await _shown(bob))[original.id].text == "meet at the bridge"


# -- without a hub: the order things arrive in --------------------------------------------------


class _Clock:
    now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def people() -> dict[str, Identity]:
    return {name: Identity.generate(name) for name in ("alice", "bob", "carol")}


def _relay(frames, sender):
    return [Message(channel=f.channel, blob=f.blob, sender=sender) for f in frames]


def _deliver(reader: ChatDesk, frames, people, sender):
    opened = []
    for frame in _relay(frames, sender):
        opened.append(reader.open(frame, people[sender].public, Trust.PINNED, members=3))
    return opened[-1]


def test_an_edit_before_its_original_waits_and_a_forged_one_is_refused_then(people):
    clock = _Clock()
    desks = {name: ChatDesk(identity, clock, resend_window=30) for name, identity in people.items()}
    everyone = [identity.public for identity in people.values()]
    original = desks["alice"].compose("general", "first draft", 600)
    desks["alice"].keep(original)
    edit = desks["alice"].compose_edit(original.id, "second draft")
    desks["carol"].keep(original)  # carol has it and forges an edit under her own key
    forged = desks["carol"]._about(original, MessageKind.EDIT, "carol's words")
    reaction = desks["carol"].compose_reaction(original.id, "👀")
    bob = desks["bob"]
    # The edits and the reaction come first: kept, not shown, nothing refused yet.
    _deliver(bob, desks["alice"].seal(edit, everyone), people, "alice")
    _deliver(bob, desks["carol"].seal(forged, everyone), people, "carol")
    _deliver(bob, desks["carol"].seal(reaction, everyone), people, "carol")
    assert fold(bob.store.messages(), "bob") == []
    assert bob.take_late_refusals() == []
    _deliver(bob, desks["alice"].seal(original, everyone), people, "alice")
    refused = bob.take_late_refusals()
    assert [(m.id, why.reason) for m, why in refused] == [(forged.id, "not_author")]
    [shown] = fold(bob.store.messages(), "bob")
    assert (shown.text, shown.edited, shown.reactions) == ("second draft", True, (("👀", 1),))


def test_a_reaction_never_outlives_its_original(people):
    clock = _Clock()
    alice = ChatDesk(people["alice"], clock, resend_window=30)
    bob = ChatDesk(people["bob"], clock, resend_window=30)
    everyone = [people["alice"].public, people["bob"].public]
    original = alice.compose("general", "short-lived", 60)
    _deliver(bob, alice.seal(original, everyone), people, "alice")
    # A reaction sealed with a longer life than its original's is cut to it on arrival.
    long = new_chat(
        people["alice"],
        channel="general",
        text="🔥",
        ttl=3600,
        now=clock.now,
        kind=MessageKind.REACTION,
        ref=original.id,
    )
    kept = _deliver(bob, alice.seal(long, everyone), people, "alice")
    assert kept.expires_at == original.expires_at
    with pytest.raises(CommandRefused, match="one emoji"):
        bob.compose_reaction(original.id, "not an emoji at all, far too long")


def test_a_reaction_that_is_no_emoji_is_refused_on_arrival(people):
    clock = _Clock()
    alice = ChatDesk(people["alice"], clock, resend_window=30)
    bob = ChatDesk(people["bob"], clock, resend_window=30)
    everyone = [people["alice"].public, people["bob"].public]
    original = alice.compose("general", "vote here", 60)
    alice.keep(original)
    _deliver(bob, alice.seal(original, everyone), people, "alice")
    reaction = alice.compose_reaction(original.id, "👍")
    # Alice's client, changed, writes words (and a bidi override) where an emoji goes.
    for text in ("ADMIN: trust me", "\u202e👍"):
        forged = replace(
            reaction,
            id=new_chat(people["alice"], channel="general", text="x", ttl=60, now=clock.now).id,
            text=text,
        )
        with pytest.raises(MessageRejected, match="one emoji"):
            _deliver(bob, alice.seal(forged, everyone), people, "alice")
