"""A bounded, thread-safe memory of public keys already validated, keyed by SHA-256 of their bytes.

Every client sees every member's key at every sync and the hub sees one at every login; each
full validation checks every self-signature (milliseconds for our keys). The same bytes validate
the same way, so the second time costs a digest and a dict lookup. Refusals are remembered too.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gossip.crypto.identity import PublicKey

# A parsed key holds about 16 KiB of PGPy objects, so a full cache is about 16 MiB; a
# thousand keys is a large hub.
DEFAULT_CAPACITY = 1024


@dataclass(frozen=True, slots=True)
class _Accepted:
    key: PublicKey
    valid_until: datetime | None  # the earliest expiry among the parts the key relies on


@dataclass(frozen=True, slots=True)
class _Refused:
    reason: str


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    size: int
    capacity: int


def key_digest(data: bytes) -> bytes:
    """The cache's key for these bytes."""
    return hashlib.sha256(data).digest()


class ValidatedKeyCache:
    """digest -> validated PublicKey or the reason it was refused; least recently used goes."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 0:
            raise ValueError("capacity cannot be negative")
        self._capacity = capacity
        self._entries: OrderedDict[bytes, _Accepted | _Refused] = OrderedDict()
        # Validation runs in worker threads (the hub uses trio.to_thread); the lock guards only
        # the dict, never a validation, so two threads may validate one key at once, harmlessly.
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def lookup(self, digest: bytes, now: datetime) -> PublicKey | str | None:
        """The cached key, the reason it was refused (str), or None if unknown or expired."""
        with self._lock:
            entry = self._entries.get(digest)
            if isinstance(entry, _Accepted) and entry.valid_until is not None \
                    and entry.valid_until <= now:
                # It has expired since: validate again so the caller gets the real refusal.
                del self._entries[digest]
                entry = None
            if entry is None:
                self._misses += 1
                return None
            self._hits += 1
            self._entries.move_to_end(digest)
            return entry.key if isinstance(entry, _Accepted) else entry.reason

    def accept(self, digest: bytes, key: PublicKey, valid_until: datetime | None) -> None:
        self._store(digest, _Accepted(key, valid_until))

    def refuse(self, digest: bytes, reason: str) -> None:
        self._store(digest, _Refused(reason))

    def _store(self, digest: bytes, entry: _Accepted | _Refused) -> None:
        with self._lock:
            if self._capacity == 0:
                return
            self._entries[digest] = entry
            self._entries.move_to_end(digest)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries), self._capacity)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


# The process-wide cache PublicKey.from_bytes uses unless given another (or None).
KEY_CACHE = ValidatedKeyCache()
