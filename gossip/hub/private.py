"""Private channels on the hub: each one's roster log, stored and relayed blind.

The hub cannot verify a roster for its members (it trusts nothing it could forge itself), so
it checks only what keeps its own books straight: each entry is one canonical encoding, names
this channel, continues the log it holds (its previous hash is the hash of the last entry),
and is authored by the key that sent it. It reads the membership fields, which are in the
clear, to decide whom to relay the channel's messages and log to; a lie in them (the hub's own
or a member's) makes a client alarm or drop, never seal to a non-member: clients verify every
signature and seal only to the roster they verified. Logs are kept in SQLite beside the name
book, so they survive a restart.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from gossip.crypto.rosterlog import GENESIS, MalformedRosterEntry, RosterEntry, RosterOperation
from gossip.wire import MAX_ROSTER_ENTRIES, MAX_ROSTER_LOG_BYTES, ErrorCode

log = logging.getLogger("gossip.hub.private")

PRIVATE_FILE = "private.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    channel TEXT NOT NULL,
    position INTEGER NOT NULL,
    entry BLOB NOT NULL,
    PRIMARY KEY (channel, position)
)
"""


class RosterRefusal(Exception):
    """An entry the hub does not store; `code` goes into the err frame."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class PrivateLog:
    """One channel's log as the hub holds it, and the membership its clear fields state."""

    channel: str
    entries: list[bytes] = field(default_factory=list)
    head: bytes = GENESIS
    members: dict[str, str] = field(default_factory=dict)  # user -> key fingerprint
    owner: str = ""
    size: int = 0

    def view(self) -> Mapping[str, str]:
        return MappingProxyType(dict(self.members))


@dataclass(frozen=True)
class Appended:
    """An entry stored at `position`; the members before and after it (to relay to)."""

    position: int
    before: Mapping[str, str]
    after: Mapping[str, str]


class PrivateStore:
    """The logs on disk: one row per entry. Appends are cheap (WAL, synchronous=NORMAL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    @classmethod
    def open(cls, data_dir: Path) -> PrivateStore:
        return cls(Path(data_dir) / PRIVATE_FILE)

    def load(self) -> dict[str, list[bytes]]:
        logs: dict[str, list[bytes]] = {}
        for channel, _, entry in self._db.execute(
                "SELECT channel, position, entry FROM entries ORDER BY channel, position"):
            logs.setdefault(str(channel), []).append(bytes(entry))
        return logs

    def append(self, channel: str, position: int, entry: bytes) -> None:
        self._db.execute("INSERT INTO entries VALUES (?, ?, ?)", (channel, position, entry))

    def close(self) -> None:
        self._db.close()


class PrivateBook:
    """Every private channel's log; synchronous, like the registry (each call is atomic)."""

    def __init__(self, store: PrivateStore | None = None, *, max_channels: int = 4096,
                 max_created_per_member: int = 16) -> None:
        self._store = store
        self._logs: dict[str, PrivateLog] = {}
        self._max_channels = max_channels
        self._max_created = max_created_per_member
        if store is not None:
            for channel, entries in store.load().items():
                self._restore(channel, entries)

    def _restore(self, channel: str, entries: list[bytes]) -> None:
        book = PrivateLog(channel)
        try:
            for blob in entries:
                _apply(book, _decode(channel, blob, book.head), blob)
        except RosterRefusal as error:  # a file edited by hand: keep what still chains
            log.warning("private channel %s: stored log cut short: %s", channel, error.reason)
        if book.entries:
            self._logs[channel] = book

    # -- reading ----------------------------------------------------------------------------
    def is_private(self, channel: str) -> bool:
        return channel in self._logs

    def members(self, channel: str) -> Mapping[str, str]:
        book = self._logs.get(channel)
        return book.view() if book is not None else MappingProxyType({})

    def is_member(self, channel: str, user: str, fingerprint: str) -> bool:
        book = self._logs.get(channel)
        return book is not None and book.members.get(user) == fingerprint

    def channels_of(self, user: str, fingerprint: str) -> tuple[str, ...]:
        return tuple(sorted(channel for channel, book in self._logs.items()
                            if book.members.get(user) == fingerprint))

    def channels(self) -> list[str]:
        return sorted(self._logs)

    def entries(self, channel: str) -> list[bytes]:
        book = self._logs.get(channel)
        return list(book.entries) if book is not None else []

    # -- writing ----------------------------------------------------------------------------
    def create(self, channel: str, blob: bytes, user: str, fingerprint: str) -> None:
        entry = self._creation(channel, blob, user, fingerprint)
        book = PrivateLog(channel)
        _apply(book, entry, blob)
        self._save(channel, 0, blob)
        self._logs[channel] = book

    def _creation(self, channel: str, blob: bytes, user: str, fingerprint: str) -> RosterEntry:
        if channel in self._logs:
            raise RosterRefusal(ErrorCode.CHANNEL_EXISTS, f"a channel {channel!r} exists")
        if len(self._logs) >= self._max_channels:
            raise RosterRefusal(ErrorCode.TOO_MANY_CHANNELS,
                                f"this hub holds {self._max_channels} private channels")
        owned = sum(1 for book in self._logs.values() if book.owner == user)
        if owned >= self._max_created:
            raise RosterRefusal(ErrorCode.TOO_MANY_CHANNELS,
                                f"you own {owned} private channels, the most one may")
        entry = _decode(channel, blob, GENESIS)
        if entry.operation is not RosterOperation.CREATE:
            raise RosterRefusal(ErrorCode.ROSTER_REFUSED, "a log starts with a creation")
        _check_author(entry, user, fingerprint)
        if (entry.subject_user, entry.subject_fingerprint) != (user, fingerprint):
            raise RosterRefusal(ErrorCode.ROSTER_REFUSED, "a channel is created for oneself")
        return entry

    def append(self, channel: str, blob: bytes, user: str, fingerprint: str) -> Appended:
        book, entry = self._appendable(channel, blob, user, fingerprint)
        before = book.view()
        _apply(book, entry, blob)
        position = len(book.entries) - 1
        self._save(channel, position, blob)
        return Appended(position, before, book.view())

    def _appendable(self, channel: str, blob: bytes, user: str,
                    fingerprint: str) -> tuple[PrivateLog, RosterEntry]:
        book = self._logs.get(channel)
        if book is None:
            raise RosterRefusal(ErrorCode.UNKNOWN_CHANNEL, f"no private channel {channel!r}")
        if len(book.entries) >= MAX_ROSTER_ENTRIES or book.size + len(blob) > \
                MAX_ROSTER_LOG_BYTES:
            raise RosterRefusal(ErrorCode.ROSTER_FULL, (
                f"the roster of {channel} is full ({MAX_ROSTER_ENTRIES} entries or "
                f"{MAX_ROSTER_LOG_BYTES} bytes): make a new channel"))
        entry = _decode(channel, blob, book.head)
        _check_author(entry, user, fingerprint)
        return book, entry

    # -- a hub of a cluster: logs shared through Redis (cluster/link.py) -------------------
    def preview(self, channel: str, blob: bytes, user: str, fingerprint: str, *,
                create: bool) -> int:
        """Every check `create` or `append` makes, storing nothing: the position the entry
        would take (a hub of a cluster reserves it in Redis before it stores it)."""
        if create:
            self._creation(channel, blob, user, fingerprint)
            return 0
        book, entry = self._appendable(channel, blob, user, fingerprint)
        trial = PrivateLog(channel, list(book.entries), book.head, dict(book.members),
                           book.owner, book.size)
        _apply(trial, entry, blob)
        return len(book.entries)

    def length(self, channel: str) -> int:
        book = self._logs.get(channel)
        return 0 if book is None else len(book.entries)

    def replicate(self, channel: str, position: int, blob: bytes) -> Appended | None:
        """Store an entry another hub of the cluster accepted (its author checked there);
        None if this hub has it already. Raises RosterRefusal if it does not continue the
        log as held here (a gap: the caller reads the log again)."""
        book = self._logs.get(channel)
        length = 0 if book is None else len(book.entries)
        if position < length:
            return None
        if position > length:
            raise RosterRefusal(ErrorCode.ROSTER_REFUSED, f"entry {position} of {channel} "
                                f"came before entry {length}")
        entry = _decode(channel, blob, GENESIS if book is None else book.head)
        fresh = PrivateLog(channel) if book is None else book
        if book is None and entry.operation is not RosterOperation.CREATE:
            raise RosterRefusal(ErrorCode.ROSTER_REFUSED, "a log starts with a creation")
        before = fresh.view()
        _apply(fresh, entry, blob)
        self._logs[channel] = fresh
        self._save(channel, position, blob)
        return Appended(position, before, fresh.view())

    def _save(self, channel: str, position: int, blob: bytes) -> None:
        if self._store is not None:
            self._store.append(channel, position, blob)


def _decode(channel: str, blob: bytes, head: bytes) -> RosterEntry:
    try:
        entry = RosterEntry.from_bytes(blob)
    except MalformedRosterEntry as error:
        raise RosterRefusal(ErrorCode.ROSTER_REFUSED, f"not a roster entry: {error}") from None
    if entry.channel != channel:
        raise RosterRefusal(ErrorCode.ROSTER_REFUSED, f"an entry of {entry.channel!r}")
    if entry.previous != head:
        raise RosterRefusal(ErrorCode.ROSTER_REFUSED, (
            "the entry does not follow the last one of the log: it moved on meanwhile "
            "(take the log again and retry)"))
    return entry


def _check_author(entry: RosterEntry, user: str, fingerprint: str) -> None:
    if entry.author_fingerprint != fingerprint:
        raise RosterRefusal(ErrorCode.ROSTER_REFUSED, f"{user} may send only entries it signed")


def _apply(book: PrivateLog, entry: RosterEntry, blob: bytes) -> None:
    """The membership the entry's clear fields state (rules checked loosely: a member who
    breaks them is refused by every client anyway; this keeps the hub's relay list sane)."""
    members, operation = book.members, entry.operation
    author = next((name for name, fp in members.items() if fp == entry.author_fingerprint), "")
    if operation is RosterOperation.CREATE:
        if book.entries:
            raise RosterRefusal(ErrorCode.ROSTER_REFUSED, "a second creation")
        members[entry.subject_user] = entry.subject_fingerprint
        book.owner = entry.subject_user
    elif not author:
        raise RosterRefusal(ErrorCode.NOT_MEMBER, "the author is not a member")
    elif operation is RosterOperation.ADD:
        if author != book.owner or entry.subject_user in members:
            raise RosterRefusal(ErrorCode.ROSTER_REFUSED, "only the owner adds, a non-member")
        members[entry.subject_user] = entry.subject_fingerprint
    elif operation is RosterOperation.REMOVE:
        if members.get(entry.subject_user) != entry.subject_fingerprint or (
                author != book.owner and author != entry.subject_user) or (
                entry.subject_user == book.owner):
            raise RosterRefusal(ErrorCode.ROSTER_REFUSED, "not a removal one may make")
        del members[entry.subject_user]
    else:  # hand-over
        if author != book.owner or members.get(entry.subject_user) != \
                entry.subject_fingerprint or entry.subject_user == book.owner:
            raise RosterRefusal(ErrorCode.ROSTER_REFUSED, "not a hand-over one may make")
        book.owner = entry.subject_user
    book.entries.append(blob)
    book.head = entry.hash
    book.size += len(blob)
