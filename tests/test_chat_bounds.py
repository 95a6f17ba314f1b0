"""The chat layer against a hostile member and a lying hub: bounded work and memory per frame,
trust bound to the key that signed, gaps and late deliveries, replays after a restart and
forward secrecy by time. Members are real identities with real keys; a hostile one builds
its frames with the same code an honest client uses, then departs from it."""

from __future__ import annotations

import os
import time

import msgpack
import pytest

from gossip.client import events as ev
from gossip.client.chat import PURGE_INTERVAL, ChatDesk
from gossip.client.commands import GetState, SendChat
from gossip.client.errors import MessageRejected, SignalRejected
from gossip.client.messages import (
    EPOCH_MAX_AGE,
    MAX_TEXT_CHARS,
    MAX_TTL,
    ROTATE_AFTER,
    ChannelSender,
    ChatMessage,
    Distribution,
    new_message_id,
)
from gossip.client.replaystore import ReplayStore, SavedReplay
from gossip.client.signalling import SignalPayload, open_signal, seal_signal
from gossip.client.store import StoreLimits
from gossip.crypto import Identity, PublicKey, ReplayState, SenderKeyMark, seal
from gossip.crypto._packets import Tag, walk
from gossip.crypto.pins import Trust
from gossip.crypto.replaystate import MAX_RETIRED
from gossip.wire import Message

CHANNEL = "general"
START = 1_700_000_000.0


class Wall:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def people() -> dict[str, Identity]:
    return {name: Identity.generate(name) for name in ("alice", "bob", "mallory")} | {
        "impostor": Identity.generate("alice")}


@pytest.fixture
def wall() -> Wall:
    return Wall()


def desk(identity: Identity, wall: Wall, **kwargs) -> ChatDesk:
    return ChatDesk(identity, wall, resend_window=60.0, **kwargs)


def as_frames(sender: Identity, blobs: list[Message]) -> list[Message]:
    """What the hub relays: the sender's frames with the routed sender filled in."""
    return [Message(channel=f.channel, blob=f.blob, sender=sender.user) for f in blobs]


def hostile_message(sender: Identity, text: str, wall: Wall) -> ChatMessage:
    """A message as a modified client would build it, past the checks of new_chat."""
    return ChatMessage(id=new_message_id(), channel=CHANNEL, sender=sender.user, text=text,
                       sent_at=wall(), expires_at=wall() + 3600, verified=True,
                       trust=Trust.VERIFIED)


def with_session_keys(outer: bytes, copies: int) -> bytes:
    """The same sealed blob with its first session-key packet repeated `copies` times: every
    copy is addressed to the recipient, as a hostile sealer would write it."""
    fields = msgpack.unpackb(outer, raw=False)
    sealed = fields["data"]
    headers = walk(sealed)
    pkesk = next(h for h in headers if h.tag == Tag.PKESK)
    seipd = headers[-1]
    fields["data"] = (sealed[pkesk.start:pkesk.end] * copies
                      + sealed[seipd.start:seipd.end])
    return msgpack.packb(fields, use_bin_type=True)


def open_all(reader: ChatDesk, frames: list[Message], key: PublicKey,
             trust: Trust = Trust.PINNED, members: int = 3) -> list:
    return [reader.open(frame, key, trust, members=members) for frame in frames]


# -- bounded work per frame ----------------------------------------------------------------

def test_a_hand_over_stuffed_with_session_keys_is_refused_by_its_size(people, wall):
    mallory, bob = people["mallory"], people["bob"]
    honest = ChannelSender(mallory, CHANNEL, wall).distribution_for([bob.public])
    assert honest is not None
    stuffed = with_session_keys(honest, 2127)  # the 200 KiB hand-over
    assert len(stuffed) > 190_000
    reader = desk(bob, wall)
    with pytest.raises(MessageRejected) as refused:
        reader.open(Message(CHANNEL, stuffed, "mallory"), mallory.public, Trust.PINNED,
                    members=3)
    assert refused.value.reason == "too_large"
    # The honest hand-over still opens.
    taken = reader.open(Message(CHANNEL, honest, "mallory"), mallory.public, Trust.PINNED,
                        members=3)
    assert isinstance(taken, Distribution)


def test_more_session_keys_than_the_channel_has_members_are_refused(people, wall):
    mallory, bob = people["mallory"], people["bob"]
    honest = ChannelSender(mallory, CHANNEL, wall).distribution_for([bob.public])
    assert honest is not None
    small_but_many = with_session_keys(honest, 20)  # fits the size bound for 3 members
    assert len(small_but_many) < 5000
    with pytest.raises(MessageRejected) as refused:
        desk(bob, wall).open(Message(CHANNEL, small_but_many, "mallory"), mallory.public,
                             Trust.PINNED, members=3)
    assert refused.value.reason == "too_many_recipients"
    # In a channel of 20 members the same blob is plausible: it opens.
    opened = desk(bob, wall).open(Message(CHANNEL, small_but_many, "mallory"),
                                  mallory.public, Trust.PINNED, members=20)
    assert isinstance(opened, Distribution)


def test_an_old_style_sealed_message_is_bounded_by_the_member_count_too(people, wall):
    mallory, bob = people["mallory"], people["bob"]
    inner = msgpack.packb({"id": new_message_id(), "channel": CHANNEL, "sender": "mallory",
                           "sent_at": wall(), "expires_at": wall() + 60, "text": "hi"},
                          use_bin_type=True)
    sealed = seal(inner, mallory, [bob.public])
    blob = msgpack.packb({"scheme": "pgp1", "data": sealed}, use_bin_type=True)
    opened = desk(bob, wall).open(Message(CHANNEL, blob, "mallory"), mallory.public,
                                  Trust.PINNED, members=3)
    assert isinstance(opened, ChatMessage) and opened.signer == mallory.fingerprint
    with pytest.raises(MessageRejected) as refused:
        desk(bob, wall).open(Message(CHANNEL, with_session_keys(blob, 40), "mallory"),
                             mallory.public, Trust.PINNED, members=3)
    assert refused.value.reason == "too_many_recipients"


def test_the_text_limit_holds_on_receive(people, wall):
    mallory, bob = people["mallory"], people["bob"]
    writer, reader = desk(mallory, wall), desk(bob, wall)
    too_long = writer.seal(hostile_message(mallory, "x" * (MAX_TEXT_CHARS + 1), wall),
                           [bob.public])
    handover, message = as_frames(mallory, too_long)
    assert isinstance(reader.open(handover, mallory.public, Trust.PINNED, members=3),
                      Distribution)
    with pytest.raises(MessageRejected) as refused:
        reader.open(message, mallory.public, Trust.PINNED, members=3)
    assert refused.value.reason == "too_long"
    huge = as_frames(mallory, writer.seal(hostile_message(mallory, "y" * 203_000, wall),
                                          [bob.public]))
    with pytest.raises(MessageRejected) as refused:
        reader.open(huge[-1], mallory.public, Trust.PINNED, members=3)
    assert refused.value.reason == "too_large"
    assert len(reader.store) == 0


def test_one_member_cannot_fill_the_store(people, wall):
    """300 messages of the longest text (16,000 four-byte characters, 64 KB each: 19 MB)
    from one member: the store keeps at most its per-sender share, drops the oldest first,
    counts what it dropped, and keeps everyone else's messages."""
    alice, bob, mallory = people["alice"], people["bob"], people["mallory"]
    reader = desk(bob, wall)
    from_alice = desk(alice, wall)
    first = as_frames(alice, from_alice.seal(from_alice.compose(CHANNEL, "hello", 3600),
                                             [bob.public]))
    open_all(reader, first, alice.public)
    flooder = desk(mallory, wall)
    for number in range(300):
        text = f"{number:04d}" + "\N{MUSICAL SYMBOL G CLEF}" * (MAX_TEXT_CHARS - 4)
        frames = as_frames(mallory, flooder.seal(hostile_message(mallory, text, wall),
                                                 [bob.public]))
        open_all(reader, frames, mallory.public)  # a new epoch now and then
    limits = reader.store.limits
    kept = [m for m in reader.store.messages() if m.sender == "mallory"]
    assert reader.store.text_bytes <= limits.per_sender_bytes + len("hello")
    each = 4 + (MAX_TEXT_CHARS - 4) * 4  # UTF-8 bytes of one of mallory's texts
    assert len(kept) == limits.per_sender_bytes // each
    assert reader.store.dropped == {"mallory": 300 - len(kept)}
    assert [m.text[:4] for m in kept] == [f"{n:04d}" for n in range(300 - len(kept), 300)]
    assert [m.text for m in reader.store.messages() if m.sender == "alice"] == ["hello"]
    evicted = reader.store.take_evicted()
    assert len(evicted) == 300 - len(kept) and {e.sender for e in evicted} == {"mallory"}
    assert reader.store.take_evicted() == []


def test_the_store_is_capped_in_all(people, wall):
    bob = people["bob"]
    reader = desk(bob, wall, limits=StoreLimits(per_sender=5, total=8))
    writers = {who: desk(people[who], wall) for who in ("alice", "mallory")}
    for round_ in range(6):
        for who, writer in writers.items():
            frames = as_frames(people[who], writer.seal(
                writer.compose(CHANNEL, f"{who} {round_}", 600), [bob.public]))
            open_all(reader, frames, people[who].public)
    texts = [m.text for m in reader.store.messages()]
    assert len(texts) == 8
    assert texts[-2:] == ["alice 5", "mallory 5"]
    assert sum(reader.store.dropped.values()) == 12 - 8


# -- trust bound to the signer --------------------------------------------------------------

def test_a_message_under_a_hand_over_from_a_swapped_key_is_never_verified(people, wall):
    """The hub's flip: an impostor key for alice, a hand-over signed by it, then alice's real
    key again (pinned and verified). The impostor's messages show who signed them and are
    not verified; once alice's key changes back, forget_sender drops the impostor's epoch."""
    alice, bob, impostor = people["alice"], people["bob"], people["impostor"]
    reader = desk(bob, wall)
    fake = desk(impostor, wall)
    handover, message = as_frames(impostor, fake.seal(
        fake.compose(CHANNEL, "trust me", 600), [bob.public]))
    # While the impostor's key is offered (CHANGED), its hand-over opens against it.
    assert isinstance(reader.open(handover, impostor.public, Trust.CHANGED, members=3),
                      Distribution)
    # The hub shows alice's real key again: her pin is verified, the message is not.
    got = reader.open(message, alice.public, Trust.VERIFIED, members=3)
    assert isinstance(got, ChatMessage) and got.text == "trust me"
    assert got.signer == impostor.fingerprint != alice.fingerprint
    assert not got.verified and got.trust is Trust.CHANGED
    # The session forgets alice's inbound keys when her key changes: nothing more opens.
    reader.forget_sender("alice")
    second = fake.seal(fake.compose(CHANNEL, "and again", 600), [bob.public])
    with pytest.raises(MessageRejected) as refused:
        reader.open(as_frames(impostor, second)[-1], alice.public, Trust.VERIFIED, members=3)
    assert refused.value.reason == "unknown_sender_key"
    assert reader.open(handover, impostor.public, Trust.CHANGED, members=3) is None


def test_a_message_from_the_pinned_signer_is_verified_and_names_it(people, wall):
    alice, bob = people["alice"], people["bob"]
    writer, reader = desk(alice, wall), desk(bob, wall)
    frames = as_frames(alice, writer.seal(writer.compose(CHANNEL, "hi", 600), [bob.public]))
    _, got = open_all(reader, frames, alice.public)
    assert got.verified and got.signer == alice.fingerprint
    assert got.as_json()["signer"] == alice.fingerprint


# -- gaps and late deliveries ---------------------------------------------------------------

def test_gaps_are_counted_and_late_deliveries_flagged(people, wall):
    alice, bob = people["alice"], people["bob"]
    writer, reader = desk(alice, wall), desk(bob, wall)
    sent = []
    for number in range(5):
        frames = as_frames(alice, writer.seal(writer.compose(CHANNEL, f"m{number}", 600),
                                              [bob.public]))
        sent.extend(frames)
    handover, m0, m1, m2, m3, m4 = sent
    open_all(reader, [handover], alice.public)
    first = reader.open(m0, alice.public, Trust.PINNED, members=3)
    assert (first.missing, first.late) == (0, False)
    after_gap = reader.open(m3, alice.public, Trust.PINNED, members=3)
    assert (after_gap.text, after_gap.missing, after_gap.late) == ("m3", 2, False)
    late = reader.open(m1, alice.public, Trust.PINNED, members=3)
    assert (late.text, late.missing, late.late) == ("m1", 0, True)
    assert reader.open(m4, alice.public, Trust.PINNED, members=3).missing == 0
    assert late.as_json()["late"] is True and after_gap.as_json()["missing"] == 2


# -- replays after a restart ---------------------------------------------------------------

def test_replays_after_a_restart_are_dropped(people, wall, tmp_path):
    alice, bob = people["alice"], people["bob"]
    writer = desk(alice, wall)
    original = writer.compose(CHANNEL, "once", 600)
    recorded = as_frames(alice, writer.seal(original, [bob.public]))
    store = ReplayStore(tmp_path / "replay.state")
    before = desk(bob, wall)
    assert open_all(before, recorded, alice.public)[-1].text == "once"
    saved = before.replay_snapshot()
    assert saved is not None and before.replay_snapshot() is None  # nothing new since
    store.save(saved)

    after = desk(bob, wall)  # the client restarted
    after.restore_replay(store.load())
    handover, message = recorded
    after.open(handover, alice.public, Trust.PINNED, members=3)  # re-taken, read as before
    with pytest.raises(MessageRejected) as refused:
        after.open(message, alice.public, Trust.PINNED, members=3)
    assert refused.value.reason == "replayed"
    # Alice resending the same message id under a new epoch is dropped as seen.
    writer.new_epochs()
    resent = as_frames(alice, writer.seal(original, [bob.public]))
    assert open_all(after, resent, alice.public)[-1] is None
    assert len(after.store) == 0
    # Without the saved state the same replay would show again.
    fresh = desk(bob, wall)
    assert open_all(fresh, recorded, alice.public)[-1].text == "once"


def test_the_saved_state_is_bounded_merged_and_survives_damage(people, wall, tmp_path):
    path = tmp_path / "replay.state"
    store = ReplayStore(path)
    store.save(SavedReplay(seen={"a": START + 100}))
    store.save(SavedReplay(seen={"b": START + 200}))  # another process on the profile
    assert dict(store.load().seen) == {"a": START + 100, "b": START + 200}
    assert path.stat().st_mode & 0o077 == 0
    path.write_bytes(b"\x93garbage")
    assert store.load() == SavedReplay()  # logged and started afresh, not a crash
    path.write_bytes(b"\x00" * (80 * 1024 * 1024))
    assert store.load() == SavedReplay()


async def test_a_hub_replaying_after_a_restart_shows_nothing_again(connect, hub, profiles):
    """Against a real hub: it records alice's frames, bob restarts, the hub plays them to
    him again; he sees a refused replay, not the message, and alice's next one arrives."""
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    publish = hub.registry.publish
    recorded: list[tuple[str, bytes, str]] = []

    def record(channel, data, *, sender):
        recorded.append((channel, data, sender))
        return publish(channel, data, sender=sender)

    hub.registry.publish = record
    await alice.session.ref.ask(SendChat("general", "once only", 600))
    assert (await bob.next_event(ev.MessageReceived)).message.text == "once only"
    hub.registry.publish = publish
    bob.stop()
    await bob.done.wait()
    await alice.next_event(ev.MemberLeft, lambda e: e.user == "bob")
    bob = await connect("bob", profile=profiles("bob"))
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    for channel, data, sender in recorded:
        publish(channel, data, sender=sender)
    assert (await bob.next_event(ev.MessageDiscarded)).reason == "replayed"
    await alice.session.ref.ask(SendChat("general", "new", 600))
    assert (await bob.next_event(ev.MessageReceived)).message.text == "new"
    state = await bob.session.ref.ask(GetState())
    assert [m.text for m in state.messages] == ["new"]


async def test_a_hostile_member_through_a_real_hub_costs_others_nothing(connect, hub):
    """Mallory's client sends a stuffed hand-over and an over-long message through the hub;
    bob refuses both with their reasons and keeps chatting with alice."""
    alice = await connect("alice")
    bob = await connect("bob")
    mallory = await connect("mallory")
    await bob.next_event(ev.MemberJoined, lambda e: e.user == "mallory")
    identity = mallory.profile.identity
    honest = ChannelSender(identity, CHANNEL, time.time).distribution_for(
        [bob.profile.identity.public])
    assert honest is not None
    link = mallory.session._link  # a modified client: it writes its own frames
    assert link is not None
    await link.send(Message(CHANNEL, with_session_keys(honest, 1500)))
    assert (await bob.next_event(ev.MessageDiscarded)).reason == "too_large"
    await alice.session.ref.ask(SendChat("general", "still here", 60))
    assert (await bob.next_event(ev.MessageReceived)).message.text == "still here"


# -- forward secrecy by time ---------------------------------------------------------------

def test_epochs_rotate_by_time_as_well_as_by_count(people, wall):
    alice, bob = people["alice"], people["bob"]
    sender = ChannelSender(alice, CHANNEL, wall)
    assert sender.distribution_for([bob.public]) is not None
    assert sender.distribution_for([bob.public]) is None
    wall.now += EPOCH_MAX_AGE - 1
    assert sender.distribution_for([bob.public]) is None
    wall.now += 1
    assert sender.distribution_for([bob.public]) is not None  # a day old: a new epoch
    for _ in range(ROTATE_AFTER):
        sender.encrypt(hostile_message(alice, "x", wall))
    assert sender.distribution_for([bob.public]) is not None


def test_skipped_keys_expire_with_the_messages_they_would_open(people, wall):
    alice, bob = people["alice"], people["bob"]
    writer, reader = desk(alice, wall), desk(bob, wall)
    frames = []
    for number in range(3):
        frames.extend(as_frames(alice, writer.seal(
            writer.compose(CHANNEL, f"m{number}", MAX_TTL), [bob.public])))
    handover, m0, m1, m2 = frames
    open_all(reader, [handover, m0, m2], alice.public)  # m1's key is held for it
    patient = desk(bob, wall)
    open_all(patient, [handover, m0, m2], alice.public)
    assert patient.open(m1, alice.public, Trust.PINNED, members=3).late  # held, it opens
    wall.now += MAX_TTL + PURGE_INTERVAL
    later = as_frames(alice, writer.seal(writer.compose(CHANNEL, "later", 60), [bob.public]))
    open_all(reader, later, alice.public)  # opening purges what has outlived its messages
    with pytest.raises(MessageRejected) as refused:
        reader.open(m1, alice.public, Trust.PINNED, members=3)
    # Refused by the sender key itself, before the expiry check: its key is gone.
    assert refused.value.reason in {"key_gone", "replayed"}


# -- call signals ----------------------------------------------------------------------------

def test_a_call_signal_carries_one_session_key_and_a_bounded_size(people, wall):
    alice, bob = people["alice"], people["bob"]
    payload = SignalPayload("offer", CHANNEL, "alice", "bob", "l1", "v=0", wall())
    blob = seal_signal(payload, alice, bob.public)
    assert open_signal(blob, bob, alice.public, kind="offer", channel=CHANNEL,
                       sender="alice", now=wall()).sdp == "v=0"
    headers = walk(blob)
    doubled = blob[headers[0].start:headers[0].end] * 2 + blob[headers[-1].start:]
    with pytest.raises(SignalRejected) as refused:
        open_signal(doubled, bob, alice.public, kind="offer", channel=CHANNEL,
                    sender="alice", now=wall())
    assert refused.value.reason == "too_many_recipients"
    with pytest.raises(SignalRejected) as refused:
        open_signal(blob + b"\x00" * 70_000, bob, alice.public, kind="offer",
                    channel=CHANNEL, sender="alice", now=wall())
    assert refused.value.reason == "too_large"


def test_saves_from_two_processes_merge_within_the_bounds_a_load_accepts(tmp_path):
    store = ReplayStore(tmp_path / "replay.state")
    key = os.urandom(16)
    older = {os.urandom(16) for _ in range(MAX_RETIRED)}
    store.save(SavedReplay(ReplayState({key: SenderKeyMark(3)}, frozenset(older))))
    newer = {os.urandom(16) for _ in range(10)}
    store.save(SavedReplay(ReplayState({key: SenderKeyMark(5, frozenset({4}))},
                                       frozenset(newer))))
    loaded = store.load()
    assert len(loaded.ring.retired) == MAX_RETIRED and newer <= loaded.ring.retired
    # Read up to 3 in one process, up to 5 but 4 in the other: only 4 is still unread.
    assert loaded.ring.marks[key] == SenderKeyMark(5, frozenset({4}))


def test_a_crowd_of_joins_costs_one_new_epoch_at_the_next_send(people, wall):
    """Each join marks our sender keys stale; the new epoch is made once, when we next write,
    so forty sybils joining in a row cost one hand-over, not forty."""
    alice, bob = people["alice"], people["bob"]
    writer = desk(alice, wall)
    assert len(writer.seal(writer.compose(CHANNEL, "one", 600), [bob.public])) == 2
    for _ in range(40):
        writer.new_epochs()
    assert len(writer.seal(writer.compose(CHANNEL, "two", 600), [bob.public])) == 2
    assert len(writer.seal(writer.compose(CHANNEL, "three", 600), [bob.public])) == 1
