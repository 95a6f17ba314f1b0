"""What readers the hub let go of as slow missed, per sender and channel, until they return.

Bounded (users, entries per user) and expiring: the hub keeps no messages, only counts, so
that on its return a reader can be told what it missed and the senders asked to resend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import trio

from .fairqueue import DropKey, Dropped


@dataclass(frozen=True)
class MissedCount:
    sender: str
    channel: str
    count: int
    first: float  # trio time of the first missed message


@dataclass
class _Record:
    since: float  # when the reader was let go; the record expires `ttl` after it
    counts: dict[DropKey, Dropped]


class MissedLedger:
    def __init__(self, *, max_users: int, max_entries: int, ttl: float) -> None:
        self._max_users = max_users
        self._max_entries = max_entries
        self._ttl = ttl
        self._records: dict[str, _Record] = {}  # insertion order: oldest first

    def __bool__(self) -> bool:
        return bool(self._records)

    def __contains__(self, user: str) -> bool:
        return user in self._records

    def record(self, user: str, dropped: Mapping[DropKey, Dropped]) -> None:
        """`user` was let go with these messages undelivered; count on while it is away."""
        now = trio.current_time()
        self._expire(now)
        record = self._records.pop(user, None) or _Record(now, {})
        record.since = now
        self._records[user] = record
        for key, drop in dropped.items():
            self._add(record, key, drop.count, drop.first)
        while len(self._records) > self._max_users:
            del self._records[next(iter(self._records))]

    def published(self, sender: str, channel: str) -> None:
        """A message went out that every recorded user (all away: a user's record is taken
        when it is back) did not get."""
        now = trio.current_time()
        for user, record in self._records.items():
            if user != sender:
                self._add(record, (sender, channel), 1, now)

    def users(self) -> list[str]:
        return list(self._records)

    def take(self, user: str) -> list[MissedCount]:
        """What `user` missed (oldest first), forgetting it; nothing if expired."""
        now = trio.current_time()
        self._expire(now)
        record = self._records.pop(user, None)
        if record is None:
            return []
        return sorted((MissedCount(sender, channel, drop.count, drop.first)
                       for (sender, channel), drop in record.counts.items()),
                      key=lambda item: item.first)

    def _add(self, record: _Record, key: DropKey, count: int, first: float) -> None:
        drop = record.counts.get(key)
        if drop is not None:
            drop.count += count
            drop.first = min(drop.first, first)
        elif len(record.counts) < self._max_entries:
            record.counts[key] = Dropped(count, first)

    def _expire(self, now: float) -> None:
        while self._records:
            oldest = next(iter(self._records))
            if now - self._records[oldest].since < self._ttl:
                return
            del self._records[oldest]
