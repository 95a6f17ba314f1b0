"""The hub's file store: chunks stored blind at their place, quotas, clear refusals, expiry,
and what survives a restart."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import trio

from gossip.client import events as ev
from gossip.client.commands import CreatePrivateChannel, GetFileLane, SendChat
from gossip.client.files import upload_file
from gossip.crypto.filestream import FileKey, chunk_count, seal_stream, sealed_size
from gossip.hub.config import Limits
from gossip.hub.files import FileRefused, FileStore
from gossip.wire import (
    MAX_FILE_GET_CHUNKS,
    Command,
    Error,
    ErrorCode,
    FileBegin,
    FileChunk,
    FileGet,
    FileHeld,
    FilePut,
    FileStatus,
    Frame,
    Message,
    decode_frame,
)
from tests.helpers import settled
from tests.rawmember import log_in, next_frame, next_of

PLAIN = b"secret-marker " * 20_000  # 280 KB: five chunks


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _chunks(plain: bytes = PLAIN) -> list[bytes]:
    return [chunk for _, chunk in seal_stream(io.BytesIO(plain), FileKey.generate(), len(plain))]


def _store(tmp_path: Path, clock: Clock, **limits: int) -> FileStore:
    return FileStore.open(tmp_path, Limits(**limits), clock)


def _refusal(call: object, *args: object) -> ErrorCode:
    with pytest.raises(FileRefused) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.code


def test_an_upload_is_stored_blind_and_read_back_chunk_by_chunk(tmp_path: Path) -> None:
    store, chunks = _store(tmp_path, Clock()), _chunks()
    stored = store.begin("alice", "general", sealed_size(len(PLAIN)), len(chunks), 60)
    for index in reversed(range(len(chunks))):  # any order
        store.put("alice", stored.file_id, index, chunks[index])
    assert _refusal(store.read, stored.file_id, 0) == ErrorCode.FILE_INCOMPLETE
    assert store.done("alice", stored.file_id).complete
    assert [store.read(stored.file_id, i) for i in range(len(chunks))] == chunks
    on_disk = b"".join(path.read_bytes() for path in (tmp_path / "files").iterdir())
    assert b"secret-marker" not in on_disk


def test_done_before_every_chunk_is_refused_and_the_bitmap_says_what_is_missing(
    tmp_path: Path,
) -> None:
    store, chunks = _store(tmp_path, Clock()), _chunks()
    stored = store.begin("alice", "general", sealed_size(len(PLAIN)), len(chunks), 60)
    store.put("alice", stored.file_id, 0, chunks[0])
    store.put("alice", stored.file_id, 3, chunks[3])
    assert stored.bitmap() == bytes([0b01001])
    assert _refusal(store.done, "alice", stored.file_id) == ErrorCode.FILE_INCOMPLETE


def test_bad_chunks_and_other_members_uploads_are_refused(tmp_path: Path) -> None:
    store, chunks = _store(tmp_path, Clock()), _chunks()
    stored = store.begin("alice", "general", sealed_size(len(PLAIN)), len(chunks), 60)
    assert _refusal(store.put, "alice", stored.file_id, 9, chunks[0]) == ErrorCode.BAD_CHUNK
    assert _refusal(store.put, "alice", stored.file_id, 0, chunks[0][:-1]) == ErrorCode.BAD_CHUNK
    assert _refusal(store.put, "alice", stored.file_id, 4, chunks[0]) == ErrorCode.BAD_CHUNK
    assert _refusal(store.put, "mallory", stored.file_id, 0, chunks[0]) == ErrorCode.UNKNOWN_FILE
    assert _refusal(store.find, b"x" * 16) == ErrorCode.UNKNOWN_FILE
    assert _refusal(store.begin, "alice", "general", 1000, 7, 60) == ErrorCode.BAD_CHUNK


def test_size_and_quotas_are_enforced(tmp_path: Path) -> None:
    size = sealed_size(len(PLAIN))
    store = _store(
        tmp_path,
        Clock(),
        max_file_bytes=size,
        file_quota_per_user=2 * size,
        file_quota_total=3 * size,
    )
    count = chunk_count(len(PLAIN))
    assert (
        _refusal(store.begin, "alice", "general", sealed_size(size + 1), chunk_count(size + 1), 60)
        == ErrorCode.FILE_TOO_LARGE
    )
    store.begin("alice", "general", size, count, 60)
    store.begin("alice", "general", size, count, 60)
    assert _refusal(store.begin, "alice", "general", size, count, 60) == ErrorCode.QUOTA
    store.begin("bob", "general", size, count, 60)
    assert _refusal(store.begin, "carol", "general", size, count, 60) == ErrorCode.QUOTA


def test_an_owner_abandons_an_unfinished_upload_and_its_room_is_free_at_once(
    tmp_path: Path,
) -> None:
    size, count = sealed_size(len(PLAIN)), chunk_count(len(PLAIN))
    store = _store(tmp_path, Clock(), file_quota_per_user=size, open_uploads_per_user=1)
    chunks = _chunks()
    stored = store.begin("alice", "general", size, count, 60)
    store.put("alice", stored.file_id, 0, chunks[0])
    assert _refusal(store.begin, "alice", "general", size, count, 60) == ErrorCode.QUOTA
    assert _refusal(store.abandon, "mallory", stored.file_id) == ErrorCode.UNKNOWN_FILE
    store.abandon("alice", stored.file_id)
    assert store.usage("alice") == 0 and store.total == 0
    assert _refusal(store.find, stored.file_id) == ErrorCode.UNKNOWN_FILE
    assert list(tmp_path.glob(stored.file_id.hex() + "*")) == []
    # Room again; a complete file stays until it expires (others may be fetching it).
    again = store.begin("alice", "general", size, count, 60)
    for index, chunk in enumerate(chunks):
        store.put("alice", again.file_id, index, chunk)
    store.done("alice", again.file_id)
    assert _refusal(store.abandon, "alice", again.file_id) == ErrorCode.BAD_CHUNK
    assert store.find(again.file_id).complete


async def test_a_cancelled_upload_frees_its_room_on_the_hub(connect, hub, tmp_path: Path):
    alice, bob = await connect("alice"), await connect("bob")
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * 2**20))
    lane = await alice.session.ref.ask(GetFileLane())
    with trio.CancelScope() as upload:

        async def cancel_once_under_way() -> None:
            await alice.next_event(ev.FileProgress, lambda e: e.direction == "up" and e.done > 0)
            upload.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_once_under_way)
            await upload_file(lane, source, channel="general", ttl=600)
    assert upload.cancelled_caught
    # Frames of one connection are handled in order: once bob has what alice wrote after
    # cancelling, the hub has dropped her upload.
    await alice.session.ref.ask(SendChat("general", "never mind", 60))
    await bob.next_event(ev.MessageReceived, lambda e: e.message.text == "never mind")
    assert hub.file_usage("alice") == 0


def test_expired_files_are_refused_then_deleted(tmp_path: Path) -> None:
    clock = Clock()
    store, chunks = _store(tmp_path, clock), _chunks()
    stored = store.begin("alice", "general", sealed_size(len(PLAIN)), len(chunks), 60)
    clock.now += 61
    assert _refusal(store.find, stored.file_id) == ErrorCode.UNKNOWN_FILE
    assert store.sweep() == 1
    assert list((tmp_path / "files").iterdir()) == []
    assert store.usage("alice") == 0 and store.total == 0


def test_a_restarted_hub_keeps_what_has_not_expired(tmp_path: Path) -> None:
    clock = Clock()
    store, chunks = _store(tmp_path, clock), _chunks()
    stored = store.begin("alice", "general", sealed_size(len(PLAIN)), len(chunks), 60)
    store.put("alice", stored.file_id, 1, chunks[1])
    again = _store(tmp_path, clock)
    assert again.find(stored.file_id).bitmap() == bytes([0b10])
    assert again.usage("alice") == stored.size
    clock.now += 61
    assert _store(tmp_path, clock).total == 0


async def test_a_hostile_member_cannot_fetch_add_to_or_misdeclare_files(
    connect, hub, nursery, tmp_path
):
    """Through a real hub: a private channel's file is for its roster, an upload is its
    owner's, and requests out of bounds are refused by name."""
    alice = await connect("alice")
    await alice.session.ref.ask(CreatePrivateChannel("board"))
    lane = await alice.session.ref.ask(GetFileLane())
    source = tmp_path / "minutes.txt"
    source.write_bytes(PLAIN)
    manifest = await upload_file(lane, source, channel="board", ttl=600)
    mallory = await log_in(nursery, hub, "mallory")

    async def refusal(frame: Frame) -> str:
        await mallory.send_message(frame.encode())
        return (await next_of(mallory, Error)).code

    blob = manifest.blob
    assert await refusal(FileGet(file=blob, index=0)) == ErrorCode.UNKNOWN_FILE
    assert await refusal(FileStatus(file=blob)) == ErrorCode.UNKNOWN_FILE
    assert await refusal(FilePut(file=blob, index=0, data=b"x" * 100)) == ErrorCode.UNKNOWN_FILE
    assert (
        await refusal(FileBegin(channel="board", size=100, chunks=1, ttl=60, ref=b"r"))
        == ErrorCode.UNKNOWN_CHANNEL
    )
    assert (
        await refusal(FileBegin(channel="general", size=10**9, chunks=1, ttl=60, ref=b"r"))
        == ErrorCode.BAD_CHUNK
    )
    own = sealed_size(len(PLAIN))
    await mallory.send_message(
        FileBegin(
            channel="general", size=own, chunks=chunk_count(len(PLAIN)), ttl=60, ref=b"r"
        ).encode()
    )
    held = await next_of(mallory, FileHeld)
    assert held.ref == b"r" and held.have == b"\x00"
    assert await refusal(FileGet(file=held.file, index=0)) == ErrorCode.FILE_INCOMPLETE
    assert await refusal(FileGet(file=held.file, index=0, count=17)) == ErrorCode.BAD_CHUNK


async def test_a_download_does_not_starve_chat(connect, hub, hub_tap, nursery, tmp_path):
    """A reader with 8 MiB of chunks queued still gets a chat message within a few chunks:
    chunks wait in their own lane of its fair outbox, and every sender gets a turn."""
    alice = await connect("alice")
    lane = await alice.session.ref.ask(GetFileLane())
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(8 * 2**20))
    manifest = await upload_file(lane, source, channel="general", ttl=600)
    # A small receive buffer: the hub cannot push the chunks into the network, they queue.
    mallory = await log_in(nursery, hub, "mallory", receive_buffer=32 * 1024)
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "mallory")
    for start in range(0, manifest.chunks, MAX_FILE_GET_CHUNKS):
        await mallory.send_message(
            FileGet(file=manifest.blob, index=start, count=MAX_FILE_GET_CHUNKS).encode()
        )

    def asked_all() -> bool:
        gets = [
            data
            for direction, who, data in hub_tap.frames
            if direction == "in"
            and who == "mallory"
            and decode_frame(data).command is Command.FILE_GET
        ]
        return len(gets) == manifest.chunks // MAX_FILE_GET_CHUNKS

    await settled(asked_all, "read all of mallory's gets")
    await alice.session.ref.ask(SendChat("general", "are you there?", 60))
    chunks_first = 0
    while not isinstance(frame := await next_frame(mallory), Message):
        chunks_first += isinstance(frame, FileChunk)
    assert chunks_first < manifest.chunks // 4


def test_files_per_member_are_counted_as_well_as_bytes(tmp_path: Path) -> None:
    store = _store(tmp_path, Clock(), files_per_user=2)
    for _ in range(2):
        store.begin("alice", "general", sealed_size(10), 1, 60)
    assert _refusal(store.begin, "alice", "general", sealed_size(10), 1, 60) == ErrorCode.QUOTA
    store.begin("bob", "general", sealed_size(10), 1, 60)
