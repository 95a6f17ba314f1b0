"""What a client must remember across a restart so that a hub replaying recorded frames is
caught: how far each sender key was read (the ring's ReplayState) and the message ids seen
recently. Kept in the profile directory, written atomically, merged with what another
process on the same profile wrote, and bounded when read back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import trio

from gossip.crypto import (
    MalformedReplayState,
    ReplayState,
    SenderKeyMark,
    exclusive_lock,
    write_atomic,
)
from gossip.crypto.replaystate import MAX_MARKS, MAX_RETIRED, MAX_UNREAD_PER_MARK

log = logging.getLogger("gossip.client.replaystore")

REPLAY_FILE = "replay.state"
FORMAT_VERSION = 1
# Bounds on what is read back: above what a store holds (StoreLimits.seen_ids) and what a
# ring's ReplayState.to_bytes can be at its own bounds (65,536 marks of 1,024 indices).
MAX_SEEN = 65_536
MAX_RING_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = MAX_RING_BYTES + 8 * 1024 * 1024
MAX_ID_CHARS = 64
# How often the session writes the state while it changes: a crash loses at most this much.
SAVE_INTERVAL = 1.0


@dataclass(frozen=True)
class SavedReplay:
    """The sender-key marks and retired key ids, and seen message ids with when each may be
    forgotten (seconds since the epoch)."""

    ring: ReplayState = field(default_factory=ReplayState)
    seen: Mapping[str, float] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return msgpack.packb({"version": FORMAT_VERSION, "ring": self.ring.to_bytes(),
                              "seen": sorted(self.seen.items())}, use_bin_type=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> SavedReplay:
        """Decode what to_bytes wrote; raise MalformedReplayState for anything else."""
        if len(data) > MAX_FILE_BYTES:
            raise MalformedReplayState("replay state file is too large")
        try:
            document: Any = msgpack.unpackb(
                data, raw=False, strict_map_key=True, max_bin_len=MAX_RING_BYTES,
                max_str_len=MAX_ID_CHARS, max_array_len=MAX_SEEN, max_map_len=3,
                max_ext_len=0)
        except Exception as error:  # msgpack raises many types on garbage
            raise MalformedReplayState("replay state is not msgpack") from error
        if type(document) is not dict or set(document) != {"version", "ring", "seen"}:
            raise MalformedReplayState("not a saved replay state")
        if document["version"] != FORMAT_VERSION:
            raise MalformedReplayState(f"unknown version {document['version']!r}")
        ring, seen_in = document["ring"], document["seen"]
        if type(ring) is not bytes or type(seen_in) is not list:
            raise MalformedReplayState("bad replay state fields")
        seen: dict[str, float] = {}
        for entry in seen_in:
            if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not str \
                    or type(entry[1]) not in (int, float):
                raise MalformedReplayState("bad seen id")
            seen[entry[0]] = float(entry[1])
        return cls(ReplayState.from_bytes(ring), seen)

    def merged(self, other: SavedReplay) -> SavedReplay:
        """What both remember (self being the newer): an index read in either counts as
        read. Within the bounds that from_bytes accepts, self's entries are kept first, so
        the file cannot grow without end across restarts."""
        retired = _first(self.ring.retired, other.ring.retired, MAX_RETIRED)
        marks: dict[bytes, SenderKeyMark] = {}
        for key_id in [*self.ring.marks, *other.ring.marks]:
            if key_id in retired or key_id in marks:
                continue
            if len(marks) >= MAX_MARKS:
                break
            ours, theirs = self.ring.marks.get(key_id), other.ring.marks.get(key_id)
            if ours is not None and theirs is not None:
                marks[key_id] = _merge_marks(ours, theirs)
            else:
                marks[key_id] = ours or theirs  # type: ignore[assignment]
        seen = dict(other.seen)
        for message_id, forget_at in self.seen.items():
            seen[message_id] = max(forget_at, seen.get(message_id, forget_at))
        if len(seen) > MAX_SEEN:  # keep those remembered longest
            seen = dict(sorted(seen.items(), key=lambda item: item[1])[-MAX_SEEN:])
        return SavedReplay(ReplayState(marks, retired), seen)


def _first(newer: frozenset[bytes], older: frozenset[bytes], limit: int) -> frozenset[bytes]:
    if len(newer | older) <= limit:
        return newer | older
    kept = set(list(newer)[:limit])
    for key_id in older:
        if len(kept) >= limit:
            break
        kept.add(key_id)
    return frozenset(kept)


def _merge_marks(a: SenderKeyMark, b: SenderKeyMark) -> SenderKeyMark:
    high = max(a.next_index, b.next_index)
    unread = sorted(i for i in a.unread | b.unread if not (a.was_read(i) or b.was_read(i)))
    # Past the bound, the oldest unread count as read: a late message refused, never a replay.
    return SenderKeyMark(high, frozenset(unread[-MAX_UNREAD_PER_MARK:]))


class ReplayStore:
    """The replay state file of one profile."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> SavedReplay:
        """What was saved; nothing (logged) for a missing or unreadable file: replay
        protection then starts afresh, as before it existed, and the session goes on."""
        try:
            with self.path.open("rb") as file:
                data = file.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return SavedReplay()
        except OSError as error:
            log.warning("cannot read %s: %s", self.path, error)
            return SavedReplay()
        try:
            return SavedReplay.from_bytes(data)
        except MalformedReplayState as error:
            log.warning("ignoring the replay state in %s: %s", self.path, error)
            return SavedReplay()

    def save(self, saved: SavedReplay) -> None:
        """Write `saved`, merged with what another process on this profile wrote meanwhile,
        in one step (never half a file)."""
        with exclusive_lock(self.path):
            merged = saved.merged(self.load()) if self.path.exists() else saved
            write_atomic(self.path, merged.to_bytes())


async def keep_replay_saved(snapshot: Callable[[], SavedReplay | None], store: ReplayStore,
                            *, interval: float = SAVE_INTERVAL) -> None:
    """Run for a session's life: write the state whenever `snapshot` (ChatDesk's
    replay_snapshot, None when nothing changed) has something, at most every `interval`
    seconds and once more when cancelled, so a clean exit loses nothing."""
    try:
        while True:
            await trio.sleep(interval)
            saved = snapshot()
            if saved is not None:
                await trio.to_thread.run_sync(_save_logged, store, saved)
    finally:
        saved = snapshot()
        if saved is not None:
            _save_logged(store, saved)


def _save_logged(store: ReplayStore, saved: SavedReplay) -> None:
    try:
        store.save(saved)
    except OSError as error:  # a full disk must not end the chat; replays stay caught live
        log.warning("cannot save the replay state to %s: %s", store.path, error)
