"""A private channel's roster: a hash-chained log of signed membership operations.

Each entry (create, add, remove, hand-over of ownership) names the hash of the one before,
the channel, the operation, its subject (user, key fingerprint, and for create and add the
public key itself, so the log verifies on its own), its author and the author's time, and is
signed by the author's identity key. The creator owns the channel; the owner adds, removes and
hands ownership over; any member may remove itself (leave). Every client verifies the whole
chain, so a hub that stores and relays the log blind can withhold it but cannot forge,
reorder, fork or rewrite it unnoticed: each of those is a specific RosterError. A client seals
only to `recipients(roster, announced)`, never to whoever the hub announces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Protocol, TypedDict, TypeVar

import msgpack

from gossip.crypto.errors import BadSignature, CryptoError, InvalidKey
from gossip.crypto.identity import MAX_PUBLIC_KEY_BYTES, Identity, PublicKey
from gossip.crypto.sealing import sign_detached, verify_detached

FORMAT_VERSION = 1
ROSTER_CONTEXT = "roster"  # signatures made for a roster entry verify for nothing else
GENESIS = bytes(32)  # what the create entry names as its previous hash
MAX_ENTRIES = 4096  # verifying 50 entries took ~110 ms here (~23 ms with keys cached)
MAX_NAME_CHARS = 64
MAX_SIGNATURE_BYTES = 1024
MAX_LOG_BYTES = MAX_ENTRIES * (MAX_PUBLIC_KEY_BYTES // 8)
# Members' clocks differ: an entry may carry a time this much earlier than the one before it
# (the same allowance receivers give a message's send time).
MAX_CLOCK_SKEW_MS = 5 * 60 * 1000
_FIELDS = 10  # version, previous, channel, operation, user, fingerprint, key, author, time, sig


class RosterError(CryptoError):
    """Base of every way a roster log can be refused."""


class MalformedRosterEntry(RosterError):
    """Bytes that are not a roster entry in the one canonical encoding we accept."""


class RosterSignatureInvalid(RosterError):
    """An entry's signature does not verify under its author's key."""


class NotAuthorised(RosterError):
    """An entry's author may not do that: not a member, or not the owner."""


class InvalidRosterOperation(RosterError):
    """A well-signed entry that makes no sense here (adds a member twice, removes a stranger,
    names another channel, goes back in time, the owner leaving without a hand-over...)."""


class RosterChainBroken(RosterError):
    """An entry does not follow the one before it: entries reordered, dropped or inserted."""


class RosterForked(RosterError):
    """Two different entries follow the same entry: someone shows different histories."""

    def __init__(self, at: bytes, ours: RosterEntry, theirs: RosterEntry) -> None:
        super().__init__(f"the roster forks after entry {at.hex()[:16]}: we hold "
                         f"{ours.describe()}, this log says {theirs.describe()}")
        self.at, self.ours, self.theirs = at, ours, theirs


class RosterRewritten(RosterError):
    """A log for this channel that starts from another creation: its history was replaced."""


class RosterRolledBack(RosterError):
    """A log that ends before the entry we already hold: newer entries were withheld."""

    def __init__(self, held: int, shown: int) -> None:
        super().__init__(f"we hold {held} roster entries, this log shows only the first "
                         f"{shown}: the newer ones were withheld")
        self.held, self.shown = held, shown


class RosterOperation(StrEnum):
    CREATE = "create"
    ADD = "add"
    REMOVE = "remove"
    HAND_OVER = "hand_over"


@dataclass(frozen=True)
class RosterEntry:
    """One signed operation. Decode with `from_bytes`; the hash covers the signature too."""

    previous: bytes
    channel: str
    operation: RosterOperation
    subject_user: str
    subject_fingerprint: str
    subject_key: bytes  # the subject's public key for create and add; empty otherwise
    author_fingerprint: str
    time: int  # milliseconds since the epoch, by the author's clock
    signature: bytes = b""

    def body(self) -> bytes:
        """The signed bytes: every field but the signature, canonically encoded."""
        return _pack(self._fields())

    def to_bytes(self) -> bytes:
        return _pack([*self._fields(), self.signature])

    @cached_property
    def hash(self) -> bytes:
        return hashlib.sha256(self.to_bytes()).digest()

    def describe(self) -> str:
        return (f"{self.operation.value} {self.subject_user} ({self.subject_fingerprint[:16]}) "
                f"by {self.author_fingerprint[:16]}")

    def _fields(self) -> list[object]:
        return [FORMAT_VERSION, self.previous, self.channel, self.operation.value,
                self.subject_user, self.subject_fingerprint, self.subject_key,
                self.author_fingerprint, self.time]

    @classmethod
    def from_bytes(cls, data: bytes) -> RosterEntry:
        """Decode one entry, refusing anything but its canonical encoding (so that one entry
        has exactly one hash)."""
        if not isinstance(data, (bytes, bytearray)):
            raise MalformedRosterEntry(f"expected bytes, got {type(data).__name__}")
        try:
            fields = msgpack.unpackb(bytes(data), raw=False, use_list=True, strict_map_key=True)
        except Exception as error:  # msgpack raises many unrelated types on garbage
            raise MalformedRosterEntry("not a msgpack roster entry") from error
        if not isinstance(fields, list) or len(fields) != _FIELDS:
            raise MalformedRosterEntry(f"expected a list of {_FIELDS} fields")
        version, previous, channel, operation, user, fingerprint, key, author, time, sig = fields
        if version != FORMAT_VERSION:
            raise MalformedRosterEntry(f"unknown roster format version {version!r}")
        if not (isinstance(previous, bytes) and len(previous) == 32):
            raise MalformedRosterEntry("the previous hash is not 32 bytes")
        for label, name in (("channel", channel), ("user", user)):
            if not _is_name(name):
                raise MalformedRosterEntry(f"the {label} name is not a valid name")
        try:
            operation = RosterOperation(operation)
        except ValueError:
            raise MalformedRosterEntry(f"unknown operation {operation!r}") from None
        for label, value in (("subject", fingerprint), ("author", author)):
            if not _is_fingerprint(value):
                raise MalformedRosterEntry(f"the {label} fingerprint is not 40 upper-case hex")
        if not (isinstance(key, bytes) and len(key) <= MAX_PUBLIC_KEY_BYTES):
            raise MalformedRosterEntry("the subject key is not bytes of a key's size")
        if not (type(time) is int and 0 <= time < 2**53):
            raise MalformedRosterEntry("the time is not a whole number of milliseconds")
        if not (isinstance(sig, bytes) and 0 < len(sig) <= MAX_SIGNATURE_BYTES):
            raise MalformedRosterEntry("the signature is missing or too large")
        entry = cls(previous, channel, operation, user, fingerprint, key, author, time, sig)
        if entry.to_bytes() != bytes(data):
            raise MalformedRosterEntry("not the canonical encoding of the entry")
        return entry


@dataclass(frozen=True)
class Member:
    user: str
    fingerprint: str
    key: PublicKey


@dataclass(frozen=True)
class Roster:
    """A verified log and what it says: who the members are and who owns the channel."""

    channel: str
    entries: tuple[RosterEntry, ...]
    members: Mapping[str, Member]  # by user name
    owner: str
    _positions: Mapping[bytes, int] = field(repr=False, compare=False)

    @property
    def head(self) -> bytes:
        """The hash of the last entry: what the next entry must name as its previous."""
        return self.entries[-1].hash

    @property
    def genesis(self) -> bytes:
        """The hash of the create entry: the channel's identity, whatever its name."""
        return self.entries[0].hash

    def is_member(self, user: str, fingerprint: str) -> bool:
        member = self.members.get(user)
        return member is not None and member.fingerprint == fingerprint

    def position(self, entry_hash: bytes) -> int | None:
        return self._positions.get(entry_hash)

    def encoded(self) -> list[bytes]:
        """The log as the hub stores and relays it: one blob per entry, in order."""
        return [entry.to_bytes() for entry in self.entries]


class KeyLike(Protocol):
    @property
    def user(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...


K = TypeVar("K", bound=KeyLike)
ParseKey = Callable[[bytes], PublicKey]


def recipients(roster: Roster, announced: Iterable[K]) -> tuple[K, ...]:
    """The announced keys a client may seal to: those of roster members, under their own name
    and the exact key the roster names. A ghost, or an impostor key under a member's name, is
    left out however the hub announces it."""
    return tuple(key for key in announced if roster.is_member(key.user, key.fingerprint))


# -- writing -------------------------------------------------------------------------------------
def create(channel: str, owner: Identity, time: int) -> Roster:
    """A new private channel with `owner` as its only member."""
    entry = _signed(RosterEntry(GENESIS, channel, RosterOperation.CREATE, owner.user,
                                owner.fingerprint, owner.public.to_bytes(), owner.fingerprint,
                                time), owner)
    return verify_log([entry], channel=channel)


def add_member(roster: Roster, key: PublicKey, author: Identity, time: int) -> Roster:
    return _append(roster, RosterOperation.ADD, key.user, key.fingerprint, key.to_bytes(),
                   author, time)


def remove_member(roster: Roster, user: str, author: Identity, time: int) -> Roster:
    """The owner removes `user`, or a member removes itself (leaves)."""
    return _append(roster, RosterOperation.REMOVE, user, _fingerprint_of(roster, user), b"",
                   author, time)


def hand_over(roster: Roster, user: str, author: Identity, time: int) -> Roster:
    """The owner makes another member the owner."""
    return _append(roster, RosterOperation.HAND_OVER, user, _fingerprint_of(roster, user), b"",
                   author, time)


def _fingerprint_of(roster: Roster, user: str) -> str:
    member = roster.members.get(user)
    if member is None:
        raise InvalidRosterOperation(f"{user!r} is not a member of {roster.channel!r}")
    return member.fingerprint


def _append(roster: Roster, operation: RosterOperation, user: str, fingerprint: str,
            key: bytes, author: Identity, time: int) -> Roster:
    entry = _signed(RosterEntry(roster.head, roster.channel, operation, user, fingerprint, key,
                                author.fingerprint, time), author)
    # The same rules as every reader's: a client cannot write what others would refuse.
    return verify_extension(roster, [entry])


def _signed(entry: RosterEntry, author: Identity) -> RosterEntry:
    signature = sign_detached(entry.body(), author, context=ROSTER_CONTEXT)
    return RosterEntry(entry.previous, entry.channel, entry.operation, entry.subject_user,
                       entry.subject_fingerprint, entry.subject_key, entry.author_fingerprint,
                       entry.time, signature)


# -- reading -------------------------------------------------------------------------------------
def decode_log(blobs: Sequence[bytes]) -> list[RosterEntry]:
    """Entries from the blobs the hub relays (the edge: everything after trusts the types)."""
    if len(blobs) > MAX_ENTRIES:
        raise MalformedRosterEntry(f"a roster of more than {MAX_ENTRIES} entries")
    return [RosterEntry.from_bytes(blob) for blob in blobs]


def verify_log(entries: Sequence[RosterEntry], *, channel: str,
               parse_key: ParseKey = PublicKey.from_bytes) -> Roster:
    """Verify a whole log from its creation; the roster it establishes."""
    if not entries:
        raise InvalidRosterOperation("an empty roster log")
    if len(entries) > MAX_ENTRIES:
        raise InvalidRosterOperation(f"a roster of more than {MAX_ENTRIES} entries")
    state = _State.genesis(entries[0], channel, parse_key)
    for entry in entries[1:]:
        state.apply(entry, parse_key)
    return state.roster()


def verify_extension(known: Roster, entries: Sequence[RosterEntry], *,
                     parse_key: ParseKey = PublicKey.from_bytes) -> Roster:
    """Verify entries that continue a roster we hold. Entries we already hold may come again
    (a resend) before the new ones; anything else that does not continue our head is a fork
    (another entry after one we hold), a rewrite (another creation) or a broken chain."""
    state = _State.of(known)
    fresh = False
    for entry in entries:
        if entry.operation is RosterOperation.CREATE or entry.previous == GENESIS:
            raise RosterRewritten(f"a creation of {entry.channel!r} inside an extension")
        if entry.previous != state.head:
            at = known.position(entry.previous)
            if at is None:
                raise RosterChainBroken(
                    f"{entry.describe()} follows an entry we do not hold: entries are missing "
                    "or out of order")
            ours = known.entries[at + 1] if at + 1 < len(known.entries) else None
            if ours is not None and ours.hash == entry.hash and not fresh:
                continue  # a resend of what we hold
            if ours is not None:
                raise RosterForked(entry.previous, ours, entry)
            raise RosterChainBroken(f"{entry.describe()} does not follow the last entry")
        state.apply(entry, parse_key)
        fresh = True
    return state.roster()


def reconcile(known: Roster | None, entries: Sequence[RosterEntry], *, channel: str,
              parse_key: ParseKey = PublicKey.from_bytes) -> Roster:
    """Verify a whole log received for a channel, against the one we hold if any: it must be
    valid, start from the same creation, agree entry for entry, and not end before our head."""
    roster = verify_log(entries, channel=channel, parse_key=parse_key)
    if known is None:
        return roster
    if roster.genesis != known.genesis:
        raise RosterRewritten(f"another creation of {channel!r} than the one we hold")
    for ours, theirs in zip(known.entries, roster.entries, strict=False):
        if ours.hash != theirs.hash:
            raise RosterForked(ours.previous, ours, theirs)
    if len(roster.entries) < len(known.entries):
        raise RosterRolledBack(len(known.entries), len(roster.entries))
    return roster


class RosterGuards(TypedDict):
    """The roster machine's guard values, by the names its guards read (a TypedDict, so that
    `driver.step("verified", **verdict.guards())` type-checks)."""

    valid: bool
    consistent: bool
    current: bool
    includes_me: bool


@dataclass(frozen=True)
class RosterVerdict:
    """What the owner of a roster machine feeds it as guard values, from one verification."""

    valid: bool  # every entry well-formed, signed, authorised and chained
    consistent: bool = True  # no fork or rewrite of what we already hold
    current: bool = True  # not older than what we already hold
    includes_me: bool = False
    roster: Roster | None = None  # the roster to use from now on (None when refused)
    error: RosterError | None = None

    def guards(self) -> RosterGuards:
        return {"valid": self.valid, "consistent": self.consistent, "current": self.current,
                "includes_me": self.includes_me}


def judge(known: Roster | None, blobs: Sequence[bytes], me: KeyLike, *, channel: str,
          extension: bool = False, parse_key: ParseKey = PublicKey.from_bytes) -> RosterVerdict:
    """Decode and verify a received log (or, with `extension`, new entries after ours) and
    sort the outcome into the verdicts the roster machine's guards take. Slow for long logs
    (~2 ms an entry with its key, here): run it off the event loop."""
    try:
        entries = decode_log(blobs)
        if extension:
            if known is None:
                raise RosterChainBroken("an extension of a roster we do not hold")
            roster = verify_extension(known, entries, parse_key=parse_key)
        else:
            roster = reconcile(known, entries, channel=channel, parse_key=parse_key)
    except (RosterForked, RosterRewritten) as error:
        return RosterVerdict(valid=True, consistent=False, error=error)
    except RosterRolledBack as error:
        return RosterVerdict(valid=True, current=False, error=error)
    except RosterError as error:
        return RosterVerdict(valid=False, error=error)
    return RosterVerdict(valid=True, includes_me=roster.is_member(me.user, me.fingerprint),
                         roster=roster)


class _State:
    """The roster as it is built entry by entry while verifying."""

    def __init__(self, channel: str, entries: list[RosterEntry], members: dict[str, Member],
                 owner: str) -> None:
        self.channel, self.entries, self.members, self.owner = channel, entries, members, owner

    @property
    def head(self) -> bytes:
        return self.entries[-1].hash

    @classmethod
    def of(cls, roster: Roster) -> _State:
        return cls(roster.channel, list(roster.entries), dict(roster.members), roster.owner)

    @classmethod
    def genesis(cls, entry: RosterEntry, channel: str, parse_key: ParseKey) -> _State:
        if entry.operation is not RosterOperation.CREATE or entry.previous != GENESIS:
            raise RosterChainBroken("a roster log must start with its channel's creation")
        _check_channel(entry, channel)
        if entry.author_fingerprint != entry.subject_fingerprint:
            raise NotAuthorised("a channel is created by its first member, for itself")
        creator = _member(entry, parse_key)
        _check_signature(entry, creator.key)
        return cls(channel, [entry], {creator.user: creator}, creator.user)

    def apply(self, entry: RosterEntry, parse_key: ParseKey) -> None:
        if entry.previous != self.head:
            raise RosterChainBroken(
                f"entry {len(self.entries)} ({entry.describe()}) does not follow the one "
                "before it: entries reordered, dropped or inserted")
        _check_channel(entry, self.channel)
        if entry.time < self.entries[-1].time - MAX_CLOCK_SKEW_MS:
            raise InvalidRosterOperation(f"{entry.describe()} is dated well before the entry "
                                         "it follows")
        author = self._author(entry)
        _check_signature(entry, author.key)
        rule = {RosterOperation.ADD: self._add, RosterOperation.REMOVE: self._remove,
                RosterOperation.HAND_OVER: self._hand_over}.get(entry.operation)
        if rule is None:
            raise RosterChainBroken("a second creation inside the log")
        rule(entry, author, parse_key)
        self.entries.append(entry)

    def _author(self, entry: RosterEntry) -> Member:
        for member in self.members.values():
            if member.fingerprint == entry.author_fingerprint:
                return member
        raise NotAuthorised(f"{entry.describe()}: the author is not a member")

    def _require_owner(self, entry: RosterEntry, author: Member) -> None:
        if author.user != self.owner:
            raise NotAuthorised(f"{entry.describe()}: only the owner ({self.owner}) may do that")

    def _subject(self, entry: RosterEntry) -> Member:
        member = self.members.get(entry.subject_user)
        if member is None or member.fingerprint != entry.subject_fingerprint:
            raise InvalidRosterOperation(f"{entry.describe()}: the subject is not a member")
        if entry.subject_key:
            raise InvalidRosterOperation(f"{entry.describe()}: carries a key it has no use for")
        return member

    def _add(self, entry: RosterEntry, author: Member, parse_key: ParseKey) -> None:
        self._require_owner(entry, author)
        if entry.subject_user in self.members:
            raise InvalidRosterOperation(f"{entry.describe()}: already a member")
        self.members[entry.subject_user] = _member(entry, parse_key)

    def _remove(self, entry: RosterEntry, author: Member, parse_key: ParseKey) -> None:
        subject = self._subject(entry)
        if subject != author:
            self._require_owner(entry, author)
        elif subject.user == self.owner:
            raise InvalidRosterOperation(f"{entry.describe()}: the owner must hand the "
                                         "channel over before leaving it")
        del self.members[subject.user]

    def _hand_over(self, entry: RosterEntry, author: Member, parse_key: ParseKey) -> None:
        self._require_owner(entry, author)
        subject = self._subject(entry)
        if subject.user == self.owner:
            raise InvalidRosterOperation(f"{entry.describe()}: already the owner")
        self.owner = subject.user

    def roster(self) -> Roster:
        positions = {entry.hash: index for index, entry in enumerate(self.entries)}
        return Roster(self.channel, tuple(self.entries), MappingProxyType(dict(self.members)),
                      self.owner, MappingProxyType(positions))


def _member(entry: RosterEntry, parse_key: ParseKey) -> Member:
    try:
        key = parse_key(entry.subject_key)
    except InvalidKey as error:
        raise InvalidRosterOperation(f"{entry.describe()}: the key is not usable: {error}") \
            from error
    if key.fingerprint != entry.subject_fingerprint or key.user != entry.subject_user:
        raise InvalidRosterOperation(f"{entry.describe()}: the key is {key.user!r} "
                                     f"({key.fingerprint[:16]}), not the subject named")
    return Member(key.user, key.fingerprint, key)


def _check_channel(entry: RosterEntry, channel: str) -> None:
    if entry.channel != channel:
        raise InvalidRosterOperation(f"{entry.describe()} belongs to channel "
                                     f"{entry.channel!r}, not {channel!r}")


def _check_signature(entry: RosterEntry, key: PublicKey) -> None:
    try:
        verify_detached(entry.body(), entry.signature, key, context=ROSTER_CONTEXT)
    except BadSignature as error:
        raise RosterSignatureInvalid(f"{entry.describe()}: {error}") from error


def _pack(fields: list[object]) -> bytes:
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


def _is_name(value: object) -> bool:
    return (isinstance(value, str) and 0 < len(value) <= MAX_NAME_CHARS
            and value.isprintable() and not any(char.isspace() for char in value))


def _is_fingerprint(value: object) -> bool:
    return (isinstance(value, str) and len(value) == 40
            and all(char in "0123456789ABCDEF" for char in value))
