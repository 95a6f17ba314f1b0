"""Files, client side: upload a file in sealed chunks, fetch and check one, save it safely.

The session owns a FileLane: it sends file frames on the current connection and hands the
hub's answers to the transfer waiting for them. Transfers run in the front end's own task
(cancel one by cancelling its scope) and read and write the disk a chunk at a time, so memory
stays flat whatever the size. Both directions resume after a lost connection from the hub's
map of the chunks it holds (uploads) or from the chunks already checked (downloads).
A download is checked chunk by chunk as it arrives (AEAD at its place) and against the
manifest's root hash at the end; only then is it linked under its final name, so nothing
partial is ever presented as complete.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import unicodedata
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from gossip.crypto.filestream import (
    CHUNK_BYTES,
    ChunkRefused,
    FileKey,
    FileManifest,
    RootHash,
    chunk_count,
    new_file_id,
    seal_stream,
    sealed_size,
)
from gossip.fsm import FileTransfer, FileTransferPhase, MachineDriver
from gossip.wire import (
    Error,
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

from . import events as ev
from .errors import CommandRefused, ConnectionLost
from .transport import HubLink

log = logging.getLogger("gossip.client.files")

# Chunks asked for and not yet arrived, per download (2 MiB in flight: enough to keep a
# loopback or LAN pipe busy; it bounds what the hub queues for us), asked RUN at a time.
WINDOW = 32
RUN = 8
# No answer from the hub for this long while a transfer waits: it is stuck, said so.
STALL_TIMEOUT = 60.0
PROGRESS_INTERVAL = 0.25  # seconds between two progress events
ABANDON_WAIT = 2.0  # at most, to tell the hub a cancelled upload is dropped
_INBOX_LIMIT = 4 * WINDOW
MAX_SAVED_NAME_BYTES = 200


# Lost connections in a row with nothing gained between them before a transfer gives up (a
# hub that drops us at every file frame, such as one that stores no files).
MAX_FRUITLESS_LOSSES = 5


class FileTransferFailed(CommandRefused):
    """A transfer that cannot finish: refused by the hub (over quota, too large, expired),
    a chunk that fails to verify, a root hash that does not match. Nothing partial is kept."""

    def __init__(self, reason: str, code: str = "failed") -> None:
        super().__init__(reason)
        self.code = code


class _Losses:
    """Counts lost connections since the transfer last gained something."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.count = 0

    def progressed(self) -> None:
        self.count = 0

    def lost(self) -> None:
        self.count += 1
        if self.count > MAX_FRUITLESS_LOSSES:
            raise FileTransferFailed(
                f"{self._name}: the connection to the hub broke {self.count} times in a row "
                "with no progress (does this hub store files?)",
                "stalled",
            )


class _Inbox:
    """The hub's answers for one transfer, and whether the connection broke meanwhile."""

    def __init__(self) -> None:
        self.items: deque[Frame] = deque()
        self.lost = False
        self._changed = trio.Event()

    def put(self, frame: Frame) -> bool:
        if len(self.items) >= _INBOX_LIMIT:
            return False  # more than we asked for: a broken hub; the transfer stalls, said
        self.items.append(frame)
        self._changed.set()
        return True

    def lose(self) -> None:
        self.lost = True
        self._changed.set()

    def resumed(self) -> None:
        """Back online and about to ask again: a loss noticed before now is dealt with."""
        self.lost = False

    def next_nowait(self) -> Frame | None:
        return self.items.popleft() if self.items else None

    async def next(self) -> Frame:
        """The next answer; ConnectionLost (once) if the connection broke since the last."""
        with trio.move_on_after(STALL_TIMEOUT) as stalled:
            while True:
                if self.lost:
                    self.lost = False
                    raise ConnectionLost("the connection to the hub broke")
                if self.items:
                    return self.items.popleft()
                self._changed = trio.Event()
                await self._changed.wait()
        assert stalled.cancelled_caught
        raise FileTransferFailed(f"the hub sent nothing for {STALL_TIMEOUT:g} s", "stalled")


class FileLane:
    """The session's side of file transfers (see the module docstring)."""

    def __init__(self, emit: Callable[[ev.SessionEvent], Awaitable[None]]) -> None:
        self._emit = emit
        self._link: HubLink | None = None
        self._online = trio.Event()
        self._inboxes: dict[bytes, _Inbox] = {}

    # -- the session's calls -------------------------------------------------------------------
    def attach(self, link: HubLink) -> None:
        """Online on `link` (synced): waiting transfers go on."""
        self._link = link
        self._online.set()

    def detach(self) -> None:
        """The connection is gone: every transfer hears it and waits to resume."""
        self._link = None
        if self._online.is_set():
            self._online = trio.Event()
        for inbox in self._inboxes.values():
            inbox.lose()

    def take(self, frame: FileHeld | FileChunk | Error) -> bool:
        """Hand a hub frame to the transfer it is for; False if none waits for it."""
        key = (
            frame.ref
            if isinstance(frame, Error)
            else (frame.ref if isinstance(frame, FileHeld) and frame.ref else frame.file)
        )
        inbox = self._inboxes.get(key) if key is not None else None
        if inbox is None:
            return False
        if not inbox.put(frame):
            log.warning("dropped a file frame nobody asked for (%s)", frame.command.value)
        return True

    # -- the transfers' calls ------------------------------------------------------------------
    def open(self, key: bytes) -> _Inbox:
        inbox = self._inboxes[key] = _Inbox()
        return inbox

    def close(self, key: bytes) -> None:
        self._inboxes.pop(key, None)

    async def wait_online(self) -> None:
        await self._online.wait()

    async def send(self, frame: Frame) -> None:
        link = self._link
        if link is None:
            raise ConnectionLost("not connected to the hub")
        await link.send(frame)

    async def emit(self, event: ev.SessionEvent) -> None:
        await self._emit(event)


class _Progress:
    def __init__(self, lane: FileLane, file_id: str, name: str, direction: str, total: int) -> None:
        self._lane, self._id, self._name = lane, file_id, name
        self._direction, self._total = direction, total
        self._start = trio.current_time()
        self._next = self._start

    async def report(self, done: int, *, final: bool = False) -> None:
        now = trio.current_time()
        if not final and now < self._next:
            return
        self._next = now + PROGRESS_INTERVAL
        speed = done / (now - self._start) if now > self._start else 0.0
        await self._lane.emit(
            ev.FileProgress(self._id, self._name, self._direction, done, self._total, speed)
        )


def _refusal(frame: Error) -> FileTransferFailed:
    return FileTransferFailed(
        f"the hub refused the file ({frame.code}): {frame.reason}", str(frame.code)
    )


def _count_bits(bitmap: bytes) -> int:
    return int.from_bytes(bitmap, "little").bit_count()


def _has(bitmap: bytes, index: int) -> bool:
    byte = index // 8
    return byte < len(bitmap) and bool(bitmap[byte] & (1 << (index % 8)))


# -- sending ------------------------------------------------------------------------------------


async def upload_file(
    lane: FileLane,
    path: Path,
    *,
    channel: str,
    ttl: float,
    name: str | None = None,
    file_id: str | None = None,
) -> FileManifest:
    """Seal and upload the file at `path` for `channel`'s members, to be kept `ttl` seconds;
    the manifest to post in a file message. Resumes across lost connections; raises
    FileTransferFailed when the hub refuses (quota, size) and OSError when the file is
    unreadable. `file_id` (a new one when None) names it in the progress events, so a front
    end can tell its transfers apart before the manifest exists."""
    size = path.stat().st_size
    key = FileKey.generate()
    chunks = chunk_count(size)
    file_name = name or path.name
    file_id = file_id or new_file_id()
    ref = os.urandom(16)
    progress = _Progress(lane, file_id, file_name, "up", size)
    transfer = MachineDriver(FileTransfer)
    losses = _Losses(file_name)
    with _discard_on_failure(transfer):
        begin = FileBegin(channel=channel, size=sealed_size(size), chunks=chunks, ttl=ttl, ref=ref)
        inbox = lane.open(ref)
        try:
            while transfer.phase is FileTransferPhase.STARTING:
                try:
                    held = await _ask(lane, inbox, begin)
                    transfer.step("started")
                except ConnectionLost:
                    losses.lost()
                    transfer.step("lost")  # asked again once back
        finally:
            lane.close(ref)
        blob, have, root = held.file, held.have, b""
        inbox = lane.open(blob)
        try:
            while transfer.phase is not FileTransferPhase.COMPLETE:
                phase = transfer.phase
                try:
                    if phase is FileTransferPhase.MOVING:
                        root = await _put_missing(
                            lane, inbox, path, key, size, blob, have, progress
                        )
                        transfer.step("all_moved")
                    elif phase is FileTransferPhase.FINISHING:
                        done = await _ask(lane, inbox, FileDone(file=blob))
                        transfer.step("completed" if done.complete else "incomplete")
                    elif phase is FileTransferPhase.RESUMING:
                        before = _count_bits(have)
                        have = (await _ask(lane, inbox, FileStatus(file=blob))).have
                        if _count_bits(have) > before:
                            losses.progressed()  # more landed than the hub held before
                        transfer.step("resumed")
                    else:  # WAITING
                        await lane.wait_online()
                        transfer.step("back")
                except ConnectionLost:
                    losses.lost()
                    transfer.step("lost")
                except FileTransferFailed as exc:
                    if (
                        phase is not FileTransferPhase.FINISHING
                        or exc.code != ErrorCode.FILE_INCOMPLETE
                    ):
                        raise
                    transfer.step("incomplete")  # some chunks were lost on the way
        except BaseException:
            await _abandon(lane, blob)
            raise
        finally:
            lane.close(blob)
    await progress.report(size, final=True)
    return FileManifest(
        file_id=file_id,
        name=file_name,
        mime=mimetypes.guess_type(file_name)[0] or "application/octet-stream",
        size=size,
        chunks=chunks,
        root=root,
        key=key,
        blob=blob,
    )


async def _abandon(lane: FileLane, blob: bytes) -> None:
    """Tell the hub to drop what it holds of an upload that will not finish (cancelled,
    refused, unreadable), so its room in our quota is free now rather than when it would have
    expired. Best effort, and brief even while being cancelled: offline, the hub's expiry
    sweep does it."""
    with trio.CancelScope(shield=True), trio.move_on_after(ABANDON_WAIT):
        try:
            await lane.send(FileAbandon(file=blob))
        except ConnectionLost:
            pass


@contextmanager
def _discard_on_failure(transfer: MachineDriver[FileTransfer]) -> Iterator[None]:
    """A transfer that ends otherwise than complete is failed (refused, unreadable, not
    verified) or cancelled (its task was): the machine says so, the caller cleans up."""
    try:
        yield
    except trio.Cancelled:
        if not transfer.finished:
            transfer.step("cancel")
        raise
    except BaseException:
        if not transfer.finished:
            transfer.step(
                "refused" if transfer.phase is not FileTransferPhase.WAITING else "cancel"
            )
        raise


async def _ask(lane: FileLane, inbox: _Inbox, frame: Frame) -> FileHeld:
    """Send `frame` once online and wait for the hub's FileHeld (ConnectionLost if the
    connection breaks meanwhile: the caller's machine decides what next)."""
    await lane.wait_online()
    inbox.resumed()
    await lane.send(frame)
    while True:
        answer = await inbox.next()
        if isinstance(answer, Error):
            raise _refusal(answer)
        if isinstance(answer, FileHeld):
            return answer


async def _put_missing(
    lane: FileLane,
    inbox: _Inbox,
    path: Path,
    key: FileKey,
    size: int,
    blob: bytes,
    have: bytes,
    progress: _Progress,
) -> bytes:
    """Seal the whole file again (the root hash needs every chunk) and send the chunks the
    hub does not hold; the root. The file is read a chunk at a time on the event loop (a
    64 KiB read and seal take well under a millisecond)."""
    root = RootHash()
    with path.open("rb") as source:
        for index, sealed in seal_stream(source, key, size):
            root.add(sealed)
            if not _has(have, index):
                await lane.send(FilePut(file=blob, index=index, data=sealed))
                refused = inbox.next_nowait()
                if isinstance(refused, Error):
                    raise _refusal(refused)
            await progress.report(min(size, (index + 1) * CHUNK_BYTES))
    return root.digest()


# -- receiving ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedFile:
    path: Path
    sha256: str
    size: int


async def download_file(lane: FileLane, manifest: FileManifest, directory: Path) -> SavedFile:
    """Fetch, check and save the file `manifest` names into `directory` under its name made
    safe (never outside `directory`, never over an existing file). Raises
    FileTransferFailed (nothing is left behind) when the hub no longer has it or a chunk or
    the whole fails to verify."""
    directory.mkdir(parents=True, exist_ok=True)
    temp = directory / f".gossip-{manifest.file_id}.part"
    fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    transfer = MachineDriver(FileTransfer)
    try:
        with _discard_on_failure(transfer):
            os.ftruncate(fd, manifest.size)
            await _fetch(lane, manifest, fd, transfer)
            digest = _sha256_of(fd)
            os.fsync(fd)
            final = _link_unique(temp, directory, safe_file_name(manifest.name))
            transfer.step("completed")
    finally:
        os.close(fd)
        temp.unlink(missing_ok=True)
    return SavedFile(final, digest, manifest.size)


async def _fetch(
    lane: FileLane, manifest: FileManifest, fd: int, transfer: MachineDriver[FileTransfer]
) -> None:
    """Move every chunk of `manifest` into `fd`, checked, and the root hash; the transfer
    ends in FINISHING (checked, not yet delivered)."""
    progress = _Progress(lane, manifest.file_id, manifest.name, "down", manifest.size)
    inbox = lane.open(manifest.blob)
    root = RootHash()
    digests: dict[int, bytes] = {}  # checked chunks' hashes not yet folded in (a window)
    folded = 0  # chunks folded into the root, in order
    asked: set[int] = set()
    done: set[int] = set()
    upcoming = 0  # the next index never asked for
    last = manifest.chunks - 1
    losses = _Losses(manifest.name)
    transfer.step("started")
    try:
        while transfer.phase is not FileTransferPhase.FINISHING:
            phase = transfer.phase
            try:
                if phase is FileTransferPhase.WAITING:
                    await lane.wait_online()
                    transfer.step("back")
                    continue
                if phase is FileTransferPhase.RESUMING:
                    inbox.resumed()
                    for start, count in _runs(sorted(asked)):  # what was on its way, again
                        await lane.send(FileGet(file=manifest.blob, index=start, count=count))
                    transfer.step("resumed")
                    continue
                while len(asked) + RUN <= WINDOW and upcoming < manifest.chunks:
                    count = min(RUN, manifest.chunks - upcoming)
                    asked.update(range(upcoming, upcoming + count))
                    upcoming += count
                    await lane.send(
                        FileGet(file=manifest.blob, index=upcoming - count, count=count)
                    )
                answer = await inbox.next()
            except ConnectionLost:
                losses.lost()
                transfer.step("lost")
                continue
            if isinstance(answer, Error):
                raise _refusal(answer)
            if not isinstance(answer, FileChunk) or answer.index not in asked:
                continue  # a repeat after a reconnect, or nothing we asked for
            try:
                plain = manifest.key.open_chunk(
                    answer.index, answer.data, last=answer.index == last
                )
            except ChunkRefused as exc:
                raise FileTransferFailed(f"{manifest.name}: {exc}; not saved", "verify") from None
            os.pwrite(fd, plain, answer.index * CHUNK_BYTES)
            losses.progressed()
            asked.discard(answer.index)
            done.add(answer.index)
            digests[answer.index] = hashlib.sha256(answer.data).digest()
            while folded in digests:
                root.add_digest(digests.pop(folded))
                folded += 1
            await progress.report(min(manifest.size, len(done) * CHUNK_BYTES))
            if folded == manifest.chunks:
                transfer.step("all_moved")
    finally:
        lane.close(manifest.blob)
    if root.digest() != manifest.root:
        raise FileTransferFailed(
            f"{manifest.name}: the chunks do not add up to the file "
            "that was sent (root hash differs); not saved",
            "verify",
        )
    await progress.report(manifest.size, final=True)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted chunk indices as (first, count) runs of consecutive ones, at most RUN long."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][0] + runs[-1][1] == index and runs[-1][1] < RUN:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((index, 1))
    return runs


def _sha256_of(fd: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while block := os.pread(fd, 1 << 20, offset):
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def safe_file_name(name: str) -> str:
    """A name to save a received file under: no path separators, no '..', no control or
    invisible format characters (a right-to-left override turns 'gpj.exe' into 'exe.jpg' on
    screen), no leading dots (hidden files) or dashes (read as options), at most 200 bytes;
    'file' when nothing is left."""
    name = unicodedata.normalize("NFC", name)
    cleaned = "".join(
        "_" if ch in "/\\" else ch
        for ch in name
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
    )
    cleaned = cleaned.strip().lstrip(".-").rstrip(". ")
    while len(cleaned.encode()) > MAX_SAVED_NAME_BYTES:
        stem, dot, ext = cleaned.rpartition(".")
        if dot and stem and len(ext) <= 16:
            cleaned = f"{stem[:-1]}.{ext}"
        else:
            cleaned = cleaned[:-1]
    return cleaned or "file"


def _link_unique(temp: Path, directory: Path, name: str) -> Path:
    """Give `temp` its final name in `directory`: `name`, or `name (2)`... when taken; a
    hard link fails rather than replace, so nothing there is ever overwritten."""
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    for number in range(1, 10_000):
        candidate = name if number == 1 else f"{stem} ({number}){dot}{ext}"
        final = directory / candidate
        if final.resolve().parent != directory.resolve():
            raise FileTransferFailed(f"refused to save {name!r} outside the folder", "path")
        try:
            os.link(temp, final)
            return final
        except FileExistsError:
            continue
    raise FileTransferFailed(f"too many files named {name!r} already", "path")
