"""The hub's file store: sealed chunks kept blind in the data directory until they expire.

Each stored file is three files: `<id>.blob` (the ciphertext, written chunk by chunk at its
offset, never held in memory), `<id>.have` (one byte per chunk: which are stored, for a
resumed upload or a hub restart) and `<id>.json` (owner, channel, sizes, expiry, done). The
hub never holds a key: it checks places, sizes, owners and quotas, and deletes what expired.
Disk calls are made in place on the event loop: one chunk is one 64 KiB pwrite or pread
into the page cache (tens of microseconds), less than a trip to a worker thread costs.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio

from gossip.crypto import write_atomic
from gossip.crypto.filestream import (
    SEALED_CHUNK_BYTES,
    TAG_BYTES,
    chunk_count,
    sealed_chunk_size,
)
from gossip.wire import (
    FILE_ID_BYTES,
    MAX_FILE_CHUNK_BYTES,
    MAX_FILE_GET_CHUNKS,
    ErrorCode,
    FileAbandon,
    FileBegin,
    FileChunk,
    FileDone,
    FileGet,
    FileHeld,
    FilePut,
    FileStatus,
    Frame,
)

from .config import Limits

log = logging.getLogger("gossip.hub.files")

# As long as a chat message may live (gossip.client.messages.MAX_TTL): a file outlives no
# message that could name it.
MAX_FILE_TTL = 7 * 24 * 3600.0
# How often the sweeper looks for expired files (an expired file is refused at once; its
# bytes go at the next sweep).
SWEEP_INTERVAL = 60.0


class FileRefused(Exception):
    """A file frame the store will not carry out; `code` is the ErrorCode to send."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class StoredFile:
    file_id: bytes
    owner: str
    channel: str
    size: int  # sealed bytes
    chunks: int
    expires_at: float  # wall clock
    complete: bool
    have: bytearray  # one byte per chunk (1 = stored)
    held: int = 0
    # The same as bits, kept up to date as chunks land: a status costs a copy of at most
    # 4 KiB, never a walk over every chunk (members may ask often).
    bits: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self.bits = bytearray((self.chunks + 7) // 8)
        for index, mark in enumerate(self.have):
            if mark:
                self.mark(index)

    def mark(self, index: int) -> None:
        self.bits[index // 8] |= 1 << (index % 8)

    def bitmap(self) -> bytes:
        """Bit i (bit i % 8 of byte i // 8) set when chunk i is stored."""
        return bytes(self.bits)


class FileStore:
    """Every stored file of one hub; synchronous (called from connection actors)."""

    def __init__(
        self, directory: Path, limits: Limits, clock: Callable[[], float] = time.time
    ) -> None:
        self._dir = directory
        self._limits = limits
        self._clock = clock
        self._files: dict[bytes, StoredFile] = {}
        self._usage: Counter[str] = Counter()
        self._uploading: Counter[str] = Counter()
        self._count: Counter[str] = Counter()  # files stored per member
        self.total = 0

    @classmethod
    def open(
        cls, data_dir: Path, limits: Limits, clock: Callable[[], float] = time.time
    ) -> FileStore:
        """The store under `data_dir`, with what a previous run left that has not expired."""
        store = cls(data_dir / "files", limits, clock)
        store._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for record in sorted(store._dir.glob("*.json")):
            store._load(record)
        store.sweep()
        return store

    def _load(self, record: Path) -> None:
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            file_id = bytes.fromhex(record.stem)
            have = bytearray(self._path(file_id, "have").read_bytes())
            stored = StoredFile(
                file_id,
                str(data["owner"]),
                str(data["channel"]),
                int(data["size"]),
                int(data["chunks"]),
                float(data["expires_at"]),
                bool(data["complete"]),
                have,
            )
            if len(have) != stored.chunks or not self._path(file_id, "blob").exists():
                raise ValueError("chunk map or ciphertext missing")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("dropping stored file %s: %s", record.stem, exc)
            self._delete_files(record.stem)
            return
        stored.held = sum(stored.have)
        self._add(stored)

    # -- uploads ---------------------------------------------------------------------------
    def begin(self, owner: str, channel: str, size: int, chunks: int, ttl: float) -> StoredFile:
        """Reserve room for a file of `size` sealed bytes; refused (FileRefused) when it is
        too large, does not add up, or is over a quota."""
        limits = self._limits
        if not 0 < ttl <= MAX_FILE_TTL:
            raise FileRefused(
                ErrorCode.BAD_CHUNK, f"a file lives between 1 s and {int(MAX_FILE_TTL)} s"
            )
        if size > limits.max_file_bytes:
            raise FileRefused(
                ErrorCode.FILE_TOO_LARGE,
                (
                    f"{size} bytes is over this hub's limit of {limits.max_file_bytes} bytes a "
                    "file; send a smaller file, or split it"
                ),
            )
        plain = size - TAG_BYTES * chunks
        if chunks < 1 or plain < 0 or chunk_count(plain) != chunks:
            raise FileRefused(ErrorCode.BAD_CHUNK, f"{chunks} chunks cannot hold {size} bytes")
        if self._usage[owner] + size > limits.file_quota_per_user:
            raise FileRefused(
                ErrorCode.QUOTA,
                (
                    f"you have {self._usage[owner]} bytes stored here; with this file you would be "
                    f"over your quota of {limits.file_quota_per_user} bytes: wait for older files "
                    "to expire"
                ),
            )
        if self.total + size > limits.file_quota_total:
            raise FileRefused(ErrorCode.QUOTA, "the hub's file store is full: try later")
        if self._count[owner] >= limits.files_per_user:
            raise FileRefused(
                ErrorCode.QUOTA,
                f"you have {limits.files_per_user} files stored here: wait for some to expire",
            )
        if self._uploading[owner] >= limits.open_uploads_per_user:
            raise FileRefused(
                ErrorCode.QUOTA,
                (
                    f"{limits.open_uploads_per_user} uploads of yours are unfinished: finish "
                    "or let them expire first"
                ),
            )
        file_id = os.urandom(FILE_ID_BYTES)
        stored = StoredFile(
            file_id, owner, channel, size, chunks, self._clock() + ttl, False, bytearray(chunks)
        )
        # Sparse until written: reserving the bytes costs no disk until chunks arrive.
        with open(self._path(file_id, "blob"), "wb") as blob:
            blob.truncate(size)
        self._path(file_id, "have").write_bytes(bytes(chunks))
        self._write_record(stored)
        self._add(stored)
        log.info(
            "file begin owner=%s id=%s bytes=%d chunks=%d", owner, file_id.hex()[:8], size, chunks
        )
        return stored

    def put(self, owner: str, file_id: bytes, index: int, data: bytes) -> None:
        stored = self._own(owner, file_id)
        if stored.complete:
            raise FileRefused(ErrorCode.BAD_CHUNK, "that file is complete; nothing more to put")
        if index >= stored.chunks:
            raise FileRefused(
                ErrorCode.BAD_CHUNK, f"chunk {index} of a file of {stored.chunks} chunks"
            )
        expected = sealed_chunk_size(index, stored.chunks, stored.size)
        if len(data) != expected:
            raise FileRefused(
                ErrorCode.BAD_CHUNK, f"chunk {index} has {len(data)} bytes; {expected} expected"
            )
        self._pwrite(self._path(file_id, "blob"), data, index * SEALED_CHUNK_BYTES)
        if not stored.have[index]:
            stored.have[index] = 1
            stored.mark(index)
            stored.held += 1
            self._pwrite(self._path(file_id, "have"), b"\x01", index)

    def done(self, owner: str, file_id: bytes) -> StoredFile:
        stored = self._own(owner, file_id)
        if stored.held < stored.chunks:
            raise FileRefused(
                ErrorCode.FILE_INCOMPLETE,
                (
                    f"{stored.chunks - stored.held} of {stored.chunks} chunks are missing: "
                    "ask which (file status) and send them"
                ),
            )
        if not stored.complete:
            stored.complete = True
            self._uploading[owner] -= 1
            self._write_record(stored)
            log.info("file done owner=%s id=%s", owner, file_id.hex()[:8])
        return stored

    def abandon(self, owner: str, file_id: bytes) -> None:
        """The owner drops an unfinished upload: gone now, its room free. A complete file is
        kept until it expires (members may be fetching it; its message says how long)."""
        stored = self._own(owner, file_id)
        if stored.complete:
            raise FileRefused(
                ErrorCode.BAD_CHUNK, "that file is complete; it is kept until it expires"
            )
        self._remove(stored)
        log.info("file abandoned owner=%s id=%s", owner, file_id.hex()[:8])

    # -- downloads -------------------------------------------------------------------------
    def find(self, file_id: bytes) -> StoredFile:
        """A stored file that has not expired, or FileRefused(UNKNOWN_FILE)."""
        stored = self._files.get(file_id)
        if stored is None or stored.expires_at <= self._clock():
            raise FileRefused(
                ErrorCode.UNKNOWN_FILE, "no such file here (expired, or never stored)"
            )
        return stored

    def read(self, file_id: bytes, index: int) -> bytes:
        """Chunk `index` of a complete file (its ciphertext, as uploaded)."""
        stored = self.find(file_id)
        if not stored.complete:
            raise FileRefused(ErrorCode.FILE_INCOMPLETE, "that file is still being uploaded")
        if index >= stored.chunks:
            raise FileRefused(
                ErrorCode.BAD_CHUNK, f"chunk {index} of a file of {stored.chunks} chunks"
            )
        size = sealed_chunk_size(index, stored.chunks, stored.size)
        fd = os.open(self._path(file_id, "blob"), os.O_RDONLY)
        try:
            return os.pread(fd, size, index * SEALED_CHUNK_BYTES)
        finally:
            os.close(fd)

    # -- expiry ----------------------------------------------------------------------------
    def sweep(self) -> int:
        """Delete every file whose time is up; how many went."""
        now = self._clock()
        gone = [stored for stored in self._files.values() if stored.expires_at <= now]
        for stored in gone:
            self._remove(stored)
        if gone:
            log.info("files expired: %d", len(gone))
        return len(gone)

    def held(self) -> list[StoredFile]:
        """Every file stored here that has not expired (for a cluster to learn of again)."""
        now = self._clock()
        return [stored for stored in self._files.values() if stored.expires_at > now]

    def usage(self, owner: str) -> int:
        return self._usage[owner]

    # -- helpers ---------------------------------------------------------------------------
    def _own(self, owner: str, file_id: bytes) -> StoredFile:
        stored = self.find(file_id)
        if stored.owner != owner:
            # Said as unknown: a member learns nothing of files that are not theirs.
            raise FileRefused(ErrorCode.UNKNOWN_FILE, "no such upload of yours here")
        return stored

    def _remove(self, stored: StoredFile) -> None:
        del self._files[stored.file_id]
        self._count[stored.owner] -= 1
        self._usage[stored.owner] -= stored.size
        self.total -= stored.size
        if not stored.complete:
            self._uploading[stored.owner] -= 1
        self._delete_files(stored.file_id.hex())

    def _add(self, stored: StoredFile) -> None:
        self._files[stored.file_id] = stored
        self._count[stored.owner] += 1
        self._usage[stored.owner] += stored.size
        self.total += stored.size
        if not stored.complete:
            self._uploading[stored.owner] += 1

    def _path(self, file_id: bytes, kind: str) -> Path:
        return self._dir / f"{file_id.hex()}.{kind}"

    def _write_record(self, stored: StoredFile) -> None:
        write_atomic(
            self._path(stored.file_id, "json"),
            json.dumps(
                {
                    "owner": stored.owner,
                    "channel": stored.channel,
                    "size": stored.size,
                    "chunks": stored.chunks,
                    "expires_at": stored.expires_at,
                    "complete": stored.complete,
                }
            ).encode(),
        )

    def _delete_files(self, stem: str) -> None:
        for kind in ("json", "have", "blob"):
            (self._dir / f"{stem}.{kind}").unlink(missing_ok=True)

    @staticmethod
    def _pwrite(path: Path, data: bytes, offset: int) -> None:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)


async def sweep_files(store: FileStore, interval: float = SWEEP_INTERVAL) -> None:
    """Delete expired files now and then, for as long as the hub runs."""
    while True:
        store.sweep()
        await trio.sleep(interval)


# -- one member's file frames ----------------------------------------------------------------

UploadFrame = FileBegin | FileStatus | FilePut | FileDone | FileGet | FileAbandon
FILE_UPLINK = (FileBegin, FileStatus, FilePut, FileDone, FileGet, FileAbandon)


def file_frame_cost(frame: UploadFrame, limits: Limits) -> int:
    """What a file frame costs from its member's file budget: the bytes it moves (a get
    moves a chunk down), and never less than `file_frame_cost`, so small frames cannot be
    sent by the thousand."""
    moved = (
        len(frame.data)
        if isinstance(frame, FilePut)
        else (MAX_FILE_CHUNK_BYTES * _run_length(frame) if isinstance(frame, FileGet) else 0)
    )
    return max(moved, limits.file_frame_cost)


def _run_length(frame: FileGet) -> int:
    return frame.count if frame.count is not None else 1


def answer_file_frame(
    store: FileStore, frame: UploadFrame, user: str, may_read: Callable[[str], bool]
) -> list[Frame]:
    """Carry out one member's file frame; the frames to answer with (none for a put, which
    is answered only when refused; a get's chunks, in order). `may_read(channel)`: may this
    member read that channel (an open channel of this hub, or a private one whose roster
    names them). Raises FileRefused."""
    if isinstance(frame, FileBegin):
        if not may_read(frame.channel):
            raise FileRefused(ErrorCode.UNKNOWN_CHANNEL, f"you cannot post in {frame.channel}")
        stored = store.begin(user, frame.channel, frame.size, frame.chunks, frame.ttl)
        return [_held(stored, ref=frame.ref)]
    if isinstance(frame, FilePut):
        store.put(user, frame.file, frame.index, frame.data)
        return []
    if isinstance(frame, FileDone):
        return [_held(store.done(user, frame.file))]
    if isinstance(frame, FileAbandon):
        store.abandon(user, frame.file)
        return []
    stored = store.find(frame.file)
    if stored.owner != user and not may_read(stored.channel):
        raise FileRefused(ErrorCode.UNKNOWN_FILE, "no such file here for you")
    if isinstance(frame, FileStatus):
        return [_held(stored)]
    count = _run_length(frame)
    if not 1 <= count <= MAX_FILE_GET_CHUNKS:
        raise FileRefused(ErrorCode.BAD_CHUNK, f"ask for 1 to {MAX_FILE_GET_CHUNKS} chunks at once")
    return [
        FileChunk(file=frame.file, index=index, data=store.read(frame.file, index))
        for index in range(frame.index, frame.index + count)
    ]


def _held(stored: StoredFile, *, ref: bytes | None = None) -> FileHeld:
    return FileHeld(
        file=stored.file_id,
        chunks=stored.chunks,
        complete=int(stored.complete),
        have=stored.bitmap(),
        ref=ref,
    )
