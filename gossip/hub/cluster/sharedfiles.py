"""A cluster's file store: each file stays on the hub that took its upload; Redis says which
hub that is, and any other hub fetches chunks from it for its own members.

The record (`gossip:file:<id>`, expiring with the file) names the holding hub, the owner,
the channel and the sizes, so a hub checks a member's right to read (the same rule as for
its own files) before it asks anything. Chunks travel as they are stored: sealed, the hubs
hold no key. Every wait is bounded; a refusal says whether to try again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from gossip.wire import (
    FILE_ID_BYTES,
    MAX_FILE_GET_CHUNKS,
    ErrorCode,
    FileChunk,
    FileGet,
    FileHeld,
    FileStatus,
    Frame,
    is_valid_name,
)

from ..files import FileRefused, StoredFile
from .backend import ClusterUnavailable

# A record larger than this is not one of ours (names are short, numbers small).
MAX_RECORD_BYTES = 1024


@dataclass(frozen=True)
class SharedFile:
    """Where a stored file lives in the cluster, and what a hub needs to check a reader."""

    hub: str
    owner: str
    channel: str
    size: int
    chunks: int
    complete: bool
    expires_at: float  # wall clock

    @classmethod
    def of(cls, hub: str, stored: StoredFile) -> SharedFile:
        return cls(
            hub,
            stored.owner,
            stored.channel,
            stored.size,
            stored.chunks,
            stored.complete,
            stored.expires_at,
        )

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, raw: bytes) -> SharedFile:
        """Raises ValueError for a record that is not one (Redis is trusted, but parsed once)."""
        if len(raw) > MAX_RECORD_BYTES:
            raise ValueError("a file record too large")
        try:
            data = json.loads(raw)
            record = cls(
                str(data["hub"]),
                str(data["owner"]),
                str(data["channel"]),
                int(data["size"]),
                int(data["chunks"]),
                bool(data["complete"]),
                float(data["expires_at"]),
            )
        except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"a malformed file record: {exc}") from None
        if not all(map(is_valid_name, (record.hub, record.owner, record.channel))):
            raise ValueError("a file record with a bad name")
        if not 0 < record.chunks <= record.size:
            raise ValueError("a file record whose sizes do not add up")
        return record


class SharedFiles(Protocol):
    """What a hub's connections use to reach files held by other hubs of its cluster."""

    def file_held(self, stored: StoredFile) -> None:
        """A file of this hub began or completed: the cluster learns where it lives."""

    async def file_record(self, file_id: bytes) -> SharedFile | None:
        """Where a file lives; None if nowhere. Raises ClusterUnavailable."""

    async def fetch_chunks(
        self, record: SharedFile, file_id: bytes, index: int, count: int
    ) -> list[FileChunk]:
        """Chunks `index`.. of a file held by another hub. Raises FileRefused."""


async def answer_remote_file_frame(
    shared: SharedFiles,
    frame: FileStatus | FileGet,
    user: str,
    may_read: Callable[[str], bool],
    clock: Callable[[], float] = time.time,
) -> list[Frame]:
    """A member's status or get for a file this hub does not hold: answered from the hub
    that does, as it would answer. Raises FileRefused (ClusterUnavailable becomes
    CLUSTER_DOWN)."""
    if len(frame.file) != FILE_ID_BYTES:
        raise FileRefused(ErrorCode.UNKNOWN_FILE, "no such file here (expired, or never stored)")
    try:
        record = await shared.file_record(frame.file)
    except ClusterUnavailable as exc:
        raise FileRefused(ErrorCode.CLUSTER_DOWN, f"{exc}; the download resumes later") from None
    if record is None or record.expires_at <= clock():
        raise FileRefused(ErrorCode.UNKNOWN_FILE, "no such file here (expired, or never stored)")
    if record.owner != user and not may_read(record.channel):
        raise FileRefused(ErrorCode.UNKNOWN_FILE, "no such file here for you")
    if isinstance(frame, FileStatus):
        return [_held(frame.file, record)]
    count = frame.count if frame.count is not None else 1
    if not 1 <= count <= MAX_FILE_GET_CHUNKS:
        raise FileRefused(ErrorCode.BAD_CHUNK, f"ask for 1 to {MAX_FILE_GET_CHUNKS} chunks at once")
    if not record.complete:
        raise FileRefused(ErrorCode.FILE_INCOMPLETE, "that file is still being uploaded")
    if frame.index + count > record.chunks:
        raise FileRefused(
            ErrorCode.BAD_CHUNK, f"chunk {frame.index + count - 1} of a file of {record.chunks}"
        )
    try:
        return list(await shared.fetch_chunks(record, frame.file, frame.index, count))
    except ClusterUnavailable as exc:
        raise FileRefused(ErrorCode.CLUSTER_DOWN, f"{exc}; the download resumes later") from None


def _held(file_id: bytes, record: SharedFile) -> FileHeld:
    """A status as the holder would give it: every chunk once complete (an upload still
    under way is resumed on the hub that holds it, whose members see its progress)."""
    have = bytearray((record.chunks + 7) // 8)
    if record.complete:
        for index in range(record.chunks):
            have[index // 8] |= 1 << (index % 8)
    return FileHeld(
        file=file_id, chunks=record.chunks, complete=int(record.complete), have=bytes(have)
    )


# What the holding hub reads a chunk with (FileStore.read), for the link's answers.
ChunkReader = Callable[[bytes, int], bytes]
