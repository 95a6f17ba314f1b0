"""What a member has read under each sender key, as a small value a client can persist.

Sender keys live only in memory, so after a restart a recorded hand-over and message would
open again. The client saves SenderKeyRing.replay_state() and restores it at start: a hand-over
under a key id seen before then reads only what was not read yet (ReplayedMessage otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

from gossip.crypto.errors import StoreCorrupt

FORMAT_VERSION = 1
KEY_ID_BYTES = 16
MAX_INDEX = 2**32 - 1
# Bounds on what from_bytes accepts: far above what a ring holds (4 epochs per sender and
# channel, 1,000 skipped keys each, 4,096 retired ids) yet bounded for a damaged file.
MAX_MARKS = 65536
MAX_UNREAD_PER_MARK = 1024
MAX_RETIRED = 65536


class MalformedReplayState(StoreCorrupt):
    """Saved replay state that is not one we wrote."""


@dataclass(frozen=True, slots=True)
class SenderKeyMark:
    """How far one sender key was read: every index below next_index was read, except those in
    unread (skipped over and still readable when saved)."""

    next_index: int
    unread: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if not 0 <= self.next_index <= MAX_INDEX + 1:
            raise ValueError(f"bad next index {self.next_index}")
        if any(not 0 <= index < self.next_index for index in self.unread):
            raise ValueError("an unread index must be below next_index")

    def was_read(self, index: int) -> bool:
        return index < self.next_index and index not in self.unread


@dataclass(frozen=True, slots=True)
class ReplayState:
    """Marks of live sender keys by key id, and key ids retired for good (never taken again)."""

    marks: Mapping[bytes, SenderKeyMark] = field(default_factory=dict)
    retired: frozenset[bytes] = frozenset()

    def to_bytes(self) -> bytes:
        return msgpack.packb({
            "version": FORMAT_VERSION,
            "marks": [[key_id, mark.next_index, sorted(mark.unread)]
                      for key_id, mark in sorted(self.marks.items())],
            "retired": sorted(self.retired),
        }, use_bin_type=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> ReplayState:
        """Decode what to_bytes wrote; raise MalformedReplayState for anything else."""
        try:
            document: Any = msgpack.unpackb(
                bytes(data), raw=False, strict_map_key=True, max_bin_len=KEY_ID_BYTES,
                max_str_len=16, max_array_len=max(MAX_MARKS, MAX_RETIRED), max_map_len=3,
                max_ext_len=0)
        except Exception as error:  # msgpack raises many types on garbage
            raise MalformedReplayState("replay state is not msgpack") from error
        if type(document) is not dict or set(document) != {"version", "marks", "retired"}:
            raise MalformedReplayState("not a replay state")
        if document["version"] != FORMAT_VERSION:
            raise MalformedReplayState(f"unknown replay state version {document['version']!r}")
        marks_in, retired_in = document["marks"], document["retired"]
        if type(marks_in) is not list or type(retired_in) is not list \
                or len(marks_in) > MAX_MARKS or len(retired_in) > MAX_RETIRED:
            raise MalformedReplayState("replay state lists are missing or too long")
        marks: dict[bytes, SenderKeyMark] = {}
        try:
            for key_id, next_index, unread in marks_in:
                _check_key_id(key_id)
                if type(next_index) is not int or type(unread) is not list \
                        or len(unread) > MAX_UNREAD_PER_MARK \
                        or any(type(index) is not int for index in unread):
                    raise MalformedReplayState("bad sender-key mark")
                marks[key_id] = SenderKeyMark(next_index, frozenset(unread))
            for key_id in retired_in:
                _check_key_id(key_id)
        except (TypeError, ValueError) as error:
            raise MalformedReplayState(f"bad sender-key mark: {error}") from error
        return cls(marks, frozenset(retired_in))


def _check_key_id(key_id: object) -> None:
    if type(key_id) is not bytes or len(key_id) != KEY_ID_BYTES:
        raise MalformedReplayState("bad key id")
