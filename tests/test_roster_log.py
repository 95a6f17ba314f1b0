"""A private channel's roster log, with real keys: what the owner and members may write, and
every way a lying hub (or a member) could bend the log being refused with its own error.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import msgpack
import pytest

from gossip.crypto import CryptoError, Identity, PublicKey
from gossip.crypto import rosterlog as rl
from gossip.crypto.rosterlog import (
    InvalidRosterOperation,
    MalformedRosterEntry,
    NotAuthorised,
    Roster,
    RosterChainBroken,
    RosterEntry,
    RosterForked,
    RosterOperation,
    RosterRewritten,
    RosterRolledBack,
    RosterSignatureInvalid,
)

CHANNEL = "council"
T0 = 1_700_000_000_000


@functools.cache
def person(name: str) -> Identity:
    with warnings.catch_warnings():  # PGPy's deprecation noise (see KNOWN.md)
        warnings.simplefilter("ignore")
        return Identity.generate(name)


@functools.cache
def parse(data: bytes) -> PublicKey:
    """Key parsing is the costly part of verifying; the same bytes always give the same key."""
    return PublicKey.from_bytes(data)


def alice_bob_carol() -> Roster:
    roster = rl.create(CHANNEL, person("alice"), T0)
    roster = rl.add_member(roster, person("bob").public, person("alice"), T0 + 1)
    return rl.add_member(roster, person("carol").public, person("alice"), T0 + 2)


def resigned(entry: RosterEntry, signer: Identity, **changes: object) -> RosterEntry:
    """The entry with fields changed and signed again by `signer` (whoever it claims to be)."""
    changed = dataclasses.replace(entry, signature=b"", **changes)  # type: ignore[arg-type]
    return dataclasses.replace(changed, signature=rl.sign_detached(
        changed.body(), signer, context=rl.ROSTER_CONTEXT))


# -- what members may write ----------------------------------------------------------------------
def test_the_creator_owns_the_channel_and_adds_members_whom_every_reader_sees() -> None:
    roster = alice_bob_carol()
    assert sorted(roster.members) == ["alice", "bob", "carol"] and roster.owner == "alice"
    assert [entry.operation for entry in roster.entries] == [
        RosterOperation.CREATE, RosterOperation.ADD, RosterOperation.ADD]
    # A reader gets the blobs from the hub and builds the same roster from them alone.
    read = rl.verify_log(rl.decode_log(roster.encoded()), channel=CHANNEL, parse_key=parse)
    assert read.head == roster.head and read.members.keys() == roster.members.keys()
    assert read.is_member("bob", person("bob").fingerprint)
    assert not read.is_member("bob", person("mallory").fingerprint)


def test_an_entry_signed_by_a_non_member_or_a_plain_member_is_refused() -> None:
    roster = alice_bob_carol()
    with pytest.raises(NotAuthorised, match="the author is not a member"):
        rl.add_member(roster, person("ghost").public, person("ghost"), T0 + 3)
    with pytest.raises(NotAuthorised, match=r"only the owner \(alice\) may do that"):
        rl.add_member(roster, person("ghost").public, person("bob"), T0 + 3)
    with pytest.raises(NotAuthorised):
        rl.remove_member(roster, "carol", person("bob"), T0 + 3)
    # The same entry arriving from the hub (not written through our API) is refused alike.
    forged = resigned(roster.entries[1], person("ghost"), previous=roster.head,
                      author_fingerprint=person("ghost").fingerprint, time=T0 + 3,
                      subject_user="ghost", subject_fingerprint=person("ghost").fingerprint,
                      subject_key=person("ghost").public.to_bytes())
    with pytest.raises(NotAuthorised):
        rl.verify_extension(roster, [forged], parse_key=parse)


def test_an_entry_claiming_the_owner_as_author_but_signed_by_another_key_is_refused() -> None:
    roster = alice_bob_carol()
    ghost = person("ghost")
    forged = resigned(roster.entries[1], ghost, previous=roster.head, time=T0 + 3,
                      subject_user="ghost", subject_fingerprint=ghost.fingerprint,
                      subject_key=ghost.public.to_bytes())
    assert forged.author_fingerprint == person("alice").fingerprint
    with pytest.raises(RosterSignatureInvalid):
        rl.verify_extension(roster, [forged], parse_key=parse)
    # Alice's real signature over one entry does not carry over to altered contents.
    altered = dataclasses.replace(roster.entries[2], subject_user="ghost")
    with pytest.raises((RosterSignatureInvalid, InvalidRosterOperation)):
        rl.verify_log([*roster.entries[:2], altered], channel=CHANNEL, parse_key=parse)


def test_an_add_whose_key_is_not_the_subject_named_is_refused() -> None:
    roster = rl.create(CHANNEL, person("alice"), T0)
    bob_with_ghost_key = resigned(
        rl.add_member(roster, person("bob").public, person("alice"), T0 + 1).entries[1],
        person("alice"), subject_key=person("ghost").public.to_bytes())
    with pytest.raises(InvalidRosterOperation, match="not the subject named"):
        rl.verify_extension(roster, [bob_with_ghost_key], parse_key=parse)


def test_nonsense_operations_are_refused_by_name() -> None:
    roster = alice_bob_carol()
    alice = person("alice")
    with pytest.raises(InvalidRosterOperation, match="already a member"):
        rl.add_member(roster, person("bob").public, alice, T0 + 3)
    with pytest.raises(InvalidRosterOperation, match="not a member"):
        rl.remove_member(roster, "ghost", alice, T0 + 3)
    with pytest.raises(InvalidRosterOperation, match="hand the channel over before leaving"):
        rl.remove_member(roster, "alice", alice, T0 + 3)
    with pytest.raises(InvalidRosterOperation, match="already the owner"):
        rl.hand_over(roster, "alice", alice, T0 + 3)
    with pytest.raises(InvalidRosterOperation, match="dated well before"):
        rl.add_member(roster, person("dave").public, alice, T0 - rl.MAX_CLOCK_SKEW_MS - 1)
    # A little clock skew between members is fine.
    rl.add_member(roster, person("dave").public, alice, T0 - 1000)
    with pytest.raises(InvalidRosterOperation, match="belongs to channel 'council'"):
        rl.verify_log(roster.entries, channel="other", parse_key=parse)


def test_the_owner_hands_over_and_the_old_owner_becomes_a_plain_member_who_may_leave() -> None:
    roster = rl.hand_over(alice_bob_carol(), "bob", person("alice"), T0 + 3)
    assert roster.owner == "bob"
    with pytest.raises(NotAuthorised, match=r"only the owner \(bob\)"):
        rl.add_member(roster, person("dave").public, person("alice"), T0 + 4)
    roster = rl.add_member(roster, person("dave").public, person("bob"), T0 + 4)
    roster = rl.remove_member(roster, "alice", person("alice"), T0 + 5)  # alice leaves
    assert sorted(roster.members) == ["bob", "carol", "dave"]
    assert rl.verify_log(roster.entries, channel=CHANNEL, parse_key=parse).owner == "bob"


def test_a_removed_member_stops_being_a_recipient_and_can_come_back_with_a_new_key() -> None:
    roster = alice_bob_carol()
    everyone = [person(name).public for name in ("alice", "bob", "carol")]
    assert rl.recipients(roster, everyone) == tuple(everyone)
    roster = rl.remove_member(roster, "carol", person("alice"), T0 + 3)
    assert [key.user for key in rl.recipients(roster, everyone)] == ["alice", "bob"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        new_carol = Identity.generate("carol")
    roster = rl.add_member(roster, new_carol.public, person("alice"), T0 + 4)
    assert [key.user for key in rl.recipients(roster, [*everyone, new_carol.public])] == [
        "alice", "bob", "carol"]
    assert new_carol.public in rl.recipients(roster, [*everyone, new_carol.public])
    assert person("carol").public not in rl.recipients(roster, everyone)  # the old key


def test_a_ghost_or_an_impostor_under_a_members_name_is_never_a_recipient() -> None:
    roster = alice_bob_carol()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        impostor_bob = Identity.generate("bob").public
    announced = [person("alice").public, person("ghost").public, impostor_bob]
    assert rl.recipients(roster, announced) == (person("alice").public,)


# -- what a lying hub could try ------------------------------------------------------------------
def test_reordered_dropped_or_inserted_entries_break_the_chain() -> None:
    entries = list(alice_bob_carol().entries)
    with pytest.raises(RosterChainBroken, match="does not follow"):
        rl.verify_log([entries[0], entries[2], entries[1]], channel=CHANNEL, parse_key=parse)
    with pytest.raises(RosterChainBroken):
        rl.verify_log([entries[0], entries[2]], channel=CHANNEL, parse_key=parse)
    with pytest.raises(RosterChainBroken, match="must start with its channel's creation"):
        rl.verify_log(entries[1:], channel=CHANNEL, parse_key=parse)
    with pytest.raises(RosterChainBroken, match="entry we do not hold"):
        rl.verify_extension(rl.create(CHANNEL, person("alice"), T0), [entries[2]],
                            parse_key=parse)


def test_two_different_entries_after_the_same_one_are_a_fork() -> None:
    base = rl.add_member(rl.create(CHANNEL, person("alice"), T0), person("bob").public,
                         person("alice"), T0 + 1)
    ours = rl.add_member(base, person("carol").public, person("alice"), T0 + 2)
    theirs = rl.add_member(base, person("dave").public, person("alice"), T0 + 2)
    with pytest.raises(RosterForked) as forked:
        rl.verify_extension(ours, [theirs.entries[-1]], parse_key=parse)
    assert forked.value.at == base.head
    assert forked.value.ours.subject_user == "carol" and forked.value.theirs.subject_user == "dave"
    with pytest.raises(RosterForked):
        rl.reconcile(ours, theirs.entries, channel=CHANNEL, parse_key=parse)


def test_another_creation_of_the_channel_is_a_rewrite() -> None:
    ours = alice_bob_carol()
    theirs = rl.create(CHANNEL, person("ghost"), T0)
    with pytest.raises(RosterRewritten):
        rl.reconcile(ours, theirs.entries, channel=CHANNEL, parse_key=parse)
    with pytest.raises(RosterRewritten):
        rl.verify_extension(ours, theirs.entries, parse_key=parse)


def test_a_log_that_stops_before_what_we_hold_is_a_rollback() -> None:
    ours = alice_bob_carol()
    with pytest.raises(RosterRolledBack) as rolled_back:
        rl.reconcile(ours, ours.entries[:2], channel=CHANNEL, parse_key=parse)
    assert (rolled_back.value.held, rolled_back.value.shown) == (3, 2)


def test_a_resend_of_entries_we_hold_before_new_ones_is_accepted() -> None:
    ours = alice_bob_carol()
    longer = rl.add_member(ours, person("dave").public, person("alice"), T0 + 3)
    extended = rl.verify_extension(ours, longer.entries[1:], parse_key=parse)
    assert extended.head == longer.head and "dave" in extended.members
    assert rl.reconcile(ours, longer.entries, channel=CHANNEL, parse_key=parse).head == \
        longer.head


# -- the edge --------------------------------------------------------------------------------
def test_only_the_one_canonical_encoding_of_an_entry_is_accepted() -> None:
    entry = alice_bob_carol().entries[1]
    assert RosterEntry.from_bytes(entry.to_bytes()) == entry
    fields = msgpack.unpackb(entry.to_bytes())
    # The same version number as a one-byte uint instead of a fixint: equal value, other
    # bytes, so another hash for the same entry.
    body = bytearray(b"\x9a\xcc\x01")  # a fixarray of 10, then the version
    for value in fields[1:]:
        body += msgpack.packb(value, use_bin_type=True)
    assert msgpack.unpackb(bytes(body)) == fields
    with pytest.raises(MalformedRosterEntry, match="canonical"):
        RosterEntry.from_bytes(bytes(body))


@pytest.mark.parametrize(("blob", "message"), [
    (b"\xc1", "not a msgpack"),
    (msgpack.packb([1, 2, 3]), "list of 10 fields"),
    (msgpack.packb({"a": 1}), "list of 10 fields"),
])
def test_garbage_is_a_malformed_entry(blob: bytes, message: str) -> None:
    with pytest.raises(MalformedRosterEntry, match=message):
        RosterEntry.from_bytes(blob)


@pytest.mark.parametrize(("index", "value", "message"), [
    (0, 2, "version"), (1, b"short", "previous hash"), (2, "two words", "channel name"),
    (3, "promote", "unknown operation"), (5, "abc", "fingerprint"),
    (7, "ab" * 20, "fingerprint"), (8, -1, "time"), (8, 1.5, "time"), (9, b"", "signature"),
])
def test_each_field_is_checked_at_the_edge(index: int, value: object, message: str) -> None:
    fields = msgpack.unpackb(alice_bob_carol().entries[1].to_bytes())
    fields[index] = value
    with pytest.raises(MalformedRosterEntry, match=message):
        RosterEntry.from_bytes(msgpack.packb(fields, use_bin_type=True))


def test_every_refusal_is_a_crypto_error_and_too_long_a_log_is_refused_unread() -> None:
    assert issubclass(rl.RosterError, CryptoError)
    with pytest.raises(MalformedRosterEntry, match="more than"):
        rl.decode_log([b""] * (rl.MAX_ENTRIES + 1))


# -- the verdicts a client feeds its roster machine ---------------------------------------------
def test_judge_sorts_each_outcome_into_the_machines_verdicts() -> None:
    bob = person("bob").public
    roster = alice_bob_carol()
    fresh = rl.judge(None, roster.encoded(), bob, channel=CHANNEL, parse_key=parse)
    assert fresh.guards() == {"valid": True, "consistent": True, "current": True,
                              "includes_me": True}
    assert fresh.roster is not None and fresh.roster.head == roster.head
    removed = rl.remove_member(roster, "bob", person("alice"), T0 + 3)
    extension = rl.judge(roster, removed.encoded()[3:], bob, channel=CHANNEL, extension=True,
                         parse_key=parse)
    assert extension.valid and not extension.includes_me
    forked = rl.add_member(rl.create(CHANNEL, person("alice"), T0), person("dave").public,
                           person("alice"), T0 + 1)
    fork = rl.judge(roster, forked.encoded(), bob, channel=CHANNEL, parse_key=parse)
    assert (fork.valid, fork.consistent, fork.roster) == (True, False, None)
    assert isinstance(fork.error, RosterForked)
    stale = rl.judge(roster, roster.encoded()[:2], bob, channel=CHANNEL, parse_key=parse)
    assert (stale.valid, stale.consistent, stale.current) == (True, True, False)
    garbage = rl.judge(roster, [b"\xc1"], bob, channel=CHANNEL, parse_key=parse)
    assert not garbage.valid and isinstance(garbage.error, MalformedRosterEntry)
    orphan = rl.judge(None, roster.encoded()[1:], bob, channel=CHANNEL, extension=True,
                      parse_key=parse)
    assert not orphan.valid and isinstance(orphan.error, RosterChainBroken)
