"""A hub that lies gets caught: real clients behind a lying hub (tests/lyinghub.py), which
adds ghosts, swaps keys, hands a user her own name under another key, injects a ghost into
a call, drops and reorders. Each test asserts what the user sees and that nothing was
sealed to the ghost."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest
import trio

from gossip.cli.listen import ListenPrinter, listen
from gossip.cli.terminal import BIDI_CONTROLS, safe_block, safe_field
from gossip.client import events as ev
from gossip.client.commands import GetState, SendChat, VerifyKey
from gossip.client.messages import ChannelSender, ChatMessage, new_chat
from gossip.crypto.pins import Trust
from gossip.hub import RunningHub
from gossip.wire import Key, KeyRemoved, Message, MissedBy

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
    rejected = await alice.next_event(ev.MessageDiscarded)
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


async def test_a_hub_claiming_a_ghost_missed_messages_gets_it_nothing(
        connect, lying: LyingHub, tmp_path: Path):
    alice = await connect("alice", port=lying.port)
    bob = await connect("bob")
    await alice.session.ref.ask(SendChat("general", "before the ghost", 60))
    assert (await bob.next_event(ev.MessageReceived)).message.text == "before the ghost"
    ghost = Ghost("ghost", tmp_path / "ghost")
    relay = lying.of("alice")
    relay.inject(ghost.key_frame())
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "ghost")

    # "They missed your last 30 s": for the ghost a lie, for bob a fact. Alice answers in
    # order, so once bob's copy is out, the ghost's claim has been weighed too.
    relay.inject(MissedBy(count=1, seconds=30.0, user="ghost", channel="general"))
    relay.inject(MissedBy(count=1, seconds=30.0, user="bob", channel="general"))

    def bob_can_read() -> list[str]:
        return readable_by(bob.profile.identity, relay.sent_up(Message),
                           alice.profile.identity.public, now=time.time())

    await lying.until(lambda: bob_can_read() == ["before the ghost"] * 2, "the resend to bob")
    resent = [frame for frame in relay.sent_up(Message) if frame.to]
    assert [frame.to for frame in resent] == ["bob"]
    assert ghost.read_chat(relay.sent_up(Message), alice.profile.identity.public,
                           now=time.time()) == []


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
            if isinstance(event, ev.MessageDiscarded) and event.sender == "alice":
                break
            if isinstance(event, ev.MessageReceived) and event.message.id == forged.id:
                assert not event.message.verified and event.message.trust is Trust.CHANGED
                break
    state = await bob.session.ref.ask(GetState())
    assert [m.text for m in state.messages if m.verified and m.sender == "alice"] \
        == ["the real alice"]


# -- 2 and 5. what `gossip-cli listen` prints ---------------------------------------------------

async def _listen_until(client, out: io.StringIO, *, count: int, as_json: bool = False) -> None:
    printer = ListenPrinter(out, as_json=as_json, count=count)
    with trio.fail_after(20):
        await listen(client.events, printer)


async def test_listen_prints_a_line_for_each_join_and_leave(connect, lying: LyingHub,
                                                             tmp_path: Path):
    alice = await connect("alice", port=lying.port)
    bob = await connect("bob")
    ghost = Ghost("ghost", tmp_path / "ghost")
    lying.of("alice").inject(ghost.key_frame())
    await bob.session.ref.ask(SendChat("general", "hi", 60))
    text, as_json = io.StringIO(), io.StringIO()
    await _listen_until(alice, text, count=1)
    lines = text.getvalue().splitlines()
    assert any("--> bob joined" in line for line in lines)
    assert any("--> ghost joined" in line and "NEW KEY, first contact" in line
               for line in lines)
    assert re.search(r"#general <bob> hi   \[verified, expires in \d+ s\]$", lines[-1])

    lying.of("alice").inject(KeyRemoved(user="ghost"))
    await bob.session.ref.ask(SendChat("general", "still here", 60))
    await _listen_until(alice, as_json, count=1, as_json=True)
    objects = [json.loads(line) for line in as_json.getvalue().splitlines()]
    assert {"event": "left", "user": "ghost", "fingerprint": ghost.identity.fingerprint,
            "trust": "new"} in objects
    assert objects[-1]["event"] == "message" and objects[-1]["text"] == "still here"


async def test_a_message_the_hub_drops_is_reported_and_a_held_one_marked_late(
        connect, lying: LyingHub):
    alice = await connect("alice")
    bob = await connect("bob", port=lying.port)
    held: list[Message] = []
    plan = iter(["pass", "drop", "pass", "hold", "pass"])  # alice's five messages

    def drop_and_hold(connection: Relayed, frame):
        if not (isinstance(frame, Message) and frame.sender == "alice"):
            return [frame]
        if frame.blob[:32].find(b"skd1") >= 0:
            return [frame]  # hand-overs pass
        step = next(plan)
        if step == "drop":
            return []
        if step == "hold":
            held.append(frame)
            return []
        return [frame]

    lying.hooks[Direction.DOWN] = drop_and_hold
    for number in range(1, 6):
        await alice.session.ref.ask(SendChat("general", f"m{number}", 60))
    out = io.StringIO()
    await _listen_until(bob, out, count=3)
    lines = out.getvalue().splitlines()
    assert any("1 message from alice in #general did not arrive" in line for line in lines)
    printed = [line for line in lines if "<alice>" in line]
    assert [line.split("<alice> ")[1].split()[0] for line in printed] == ["m1", "m3", "m5"]
    assert sum("did not arrive" in line for line in lines) == 2  # m2, and m4 so far
    lying.of("bob").inject(held[0])  # m4, long after m5 was shown
    await _listen_until(bob, out, count=1)
    late = out.getvalue().splitlines()[-1]
    assert "<alice> m4" in late and "LATE" in late


def _chat(sender: str, text: str, sent_at: float, *, late: bool = False) -> ev.MessageReceived:
    message = ChatMessage(id=f"{sender}-{text}", channel="general", sender=sender, text=text,
                          sent_at=sent_at, expires_at=sent_at + 60, verified=True,
                          trust=Trust.PINNED, late=late)
    return ev.MessageReceived(message, late=late)


async def test_listen_orders_by_the_senders_time_within_its_window(autojump_clock):
    out = io.StringIO()
    printer = ListenPrinter(out, count=3, clock=lambda: 1000.0)
    send, receive = trio.open_memory_channel[ev.SessionEvent](10)
    # The hub delivered b's message before a's, which was written first; and c's gap was
    # filled (the missing one came late but inside the window): no gap, no LATE.
    for event in (_chat("bob", "second", 990.0), _chat("alice", "first", 989.0),
                  ev.MessagesMissing("carol", "general", 1), _chat("carol", "c2", 992.0),
                  _chat("carol", "c1", 991.0, late=True)):
        send.send_nowait(event)
    await listen(receive, printer)
    lines = out.getvalue().splitlines()
    assert [line.split("> ")[1].split()[0] for line in lines] == ["first", "second", "c1"]
    assert not any("did not arrive" in line or "LATE" in line for line in lines)


# -- 6. terminal output is safe -----------------------------------------------------------------

HOSTILE = [
    "fake\n[12:00:00] #general <alice> send the keys   [verified, expires in 60 s]",
    "\x1b[2J\x1b[1;1Hcleared",  # clear screen, home
    "\x1b]0;title\x07",  # OSC: set the terminal's title
    "\x9b31mred via C1 CSI",
    "\u202eevil reversed\u202c",
    "\u2066isolate\u2069 and \u200fmark",
    "carriage\rreturn and line\u2028separator",
    "\x00nul \x7f del \x08 backspace",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_terminal_escapes_what_could_fake_or_hide_a_line(text: str):
    field = safe_field(text)
    assert field.isprintable() and "\x1b" not in field
    assert not set(field) & (BIDI_CONTROLS | {"\n", "\r", "\u2028"})
    block = safe_block(text, "    ")
    for number, line in enumerate(block.split("\n")):
        assert line.isprintable()
        assert number == 0 or line.startswith("    ")


def test_terminal_leaves_ordinary_text_alone():
    assert safe_field("héllo wörld — ok ✓ 日本") == "héllo wörld — ok ✓ 日本"
    assert safe_field("a\x1bb") == "a\\x1bb" and safe_field("\u202e") == "\\u202e"
    assert safe_block("one\ntwo", "  ") == "one\n  two"


def test_listen_escapes_every_field_from_the_network():
    out = io.StringIO()
    printer = ListenPrinter(out, clock=lambda: 1000.0)
    message = ChatMessage(id="x", channel="general", sender="eve\x1b[31m",
                          text="hi\n[12:00:00] #general <alice> fake", sent_at=999.0,
                          expires_at=1059.0, verified=False, trust=Trust.NEW)
    printer._print(ev.MessageReceived(message), 999.0)
    printer._print(ev.MemberJoined("\u202eevil", "AB" * 20, Trust.NEW), 999.0)
    lines = out.getvalue().splitlines()
    assert all(line.isprintable() for line in lines)
    assert lines[0].startswith("[") and "<eve\\x1b[31m>" in lines[0]
    assert lines[1].startswith(" ") and "fake" in lines[1]  # indented: not a line of ours
    assert "\\u202eevil joined" in lines[2]


def test_listen_tells_what_the_hub_says_we_missed():
    out = io.StringIO()
    printer = ListenPrinter(out, clock=lambda: 1000.0)
    printer._print(ev.HubReportedMissed("bob\x1b", "general", 3, 20.0), 999.0)
    assert "the hub says 3 messages from bob\\x1b in #general did not reach you" \
        in out.getvalue()


def test_listen_warns_of_a_name_that_looks_like_another():
    out = io.StringIO()
    printer = ListenPrinter(out, clock=lambda: 1000.0)
    printer._print(ev.MemberJoined("alice", "AB" * 20, Trust.VERIFIED), 999.0)
    printer._print(ev.MemberJoined("aIice", "CD" * 20, Trust.NEW), 999.0)
    printer._print(ev.MemberJoined("alicia", "EF" * 20, Trust.NEW), 999.0)
    first, lookalike, other = out.getvalue().splitlines()
    assert "LOOKS LIKE" not in first and "LOOKS LIKE" not in other
    assert lookalike.endswith("!! LOOKS LIKE alice")
