"""Files end to end through a real hub on loopback: sealed chunks up, a file message, chunks
down, checked and saved; resumed across a cut; refused clearly when they must be."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest
import trio

from gossip.client import events as ev
from gossip.client.files import WINDOW, FileTransferFailed, safe_file_name
from gossip.client.filesend import save_file, send_file
from gossip.crypto.filestream import SEALED_CHUNK_BYTES, chunk_count
from gossip.hub import HubConfig, Limits
from gossip.hub.connection import ConnectionActor, Disconnect
from gossip.wire import Command, ErrorCode, decode_frame
from tests.conftest import PASSWORD
from tests.faultproxy import Direction, FaultProxy

MARKER = b"PLAINTEXT-MARKER-7f3a"


def _make_file(path: Path, size: int) -> str:
    """A file of `size` bytes whose every 4 KiB block carries the marker; its sha256."""
    block = MARKER + os.urandom(4096 - len(MARKER))
    data = (block * (size // len(block) + 1))[:size]
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


async def test_a_file_goes_from_alice_to_bob_sealed_and_checked(connect, hub_tap, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    alice = await connect("alice")
    bob = await connect("bob")
    source = tmp_path / "report.pdf"
    digest = _make_file(source, 3 * 2**20 + 12345)
    sent = await send_file(alice.session.ref, source, channel="general", ttl=600)
    got = (await bob.next_event(ev.MessageReceived)).message
    assert got.file is not None and got.file.name == "report.pdf"
    assert got.file.mime == "application/pdf" and got.file.size == source.stat().st_size
    saved = await save_file(bob.session.ref, got, tmp_path / "inbox")
    assert saved.path == tmp_path / "inbox" / "report.pdf"
    assert saved.sha256 == digest == hashlib.sha256(saved.path.read_bytes()).hexdigest()
    assert [p.name for p in (tmp_path / "inbox").iterdir()] == ["report.pdf"]
    final = await bob.next_event(ev.FileProgress, lambda e: e.done == e.total)
    assert final.direction == "down" and final.file_id == sent.file.file_id
    # What the hub held and logged: ciphertext only, never the marker or the file's key.
    stored = b"".join(p.read_bytes() for p in (tmp_path / "hub" / "files").iterdir())
    key = got.file.key.key
    for place in (hub_tap.everything(), stored, caplog.text.encode()):
        assert MARKER not in place and key not in place and key.hex().encode() not in place
    assert len(stored) > 3 * 2**20


@pytest.fixture
def hub_config(tmp_path: Path) -> HubConfig:
    """The usual test hub, with a file quota of 8 MB a member."""
    return HubConfig(
        name="test hub",
        host="127.0.0.1",
        port=0,
        password=PASSWORD,
        channels=("general", "random"),
        data_dir=tmp_path / "hub",
        limits=Limits(file_quota_per_user=8_000_000),
    )


def _chunks_moved(tap, command: Command) -> int:
    """Chunks the hub was sent (puts) or asked for (gets), counted from its frames."""
    frames = [
        decode_frame(data, max_bytes=1 << 20)
        for direction, _, data in tap.frames
        if direction == "in"
    ]
    return sum(getattr(frame, "count", None) or 1 for frame in frames if frame.command is command)


async def test_a_transfer_cut_halfway_resumes_where_it_broke(
    connect, hub, hub_tap, nursery, tmp_path
):
    proxy = await nursery.start(FaultProxy(hub.port).run)
    alice = await connect("alice", port=proxy.port, reconnect_base=0.05)
    bob = await connect("bob", port=proxy.port, reconnect_base=0.05)
    source = tmp_path / "video.mp4"
    digest = _make_file(source, 6 * 2**20)
    chunks = chunk_count(6 * 2**20)
    proxy.cut_after(3 * 2**20, Direction.UP)  # alice's upload, halfway
    await send_file(alice.session.ref, source, channel="general", ttl=600)
    assert proxy.cuts == 1
    puts = _chunks_moved(hub_tap, Command.FILE_PUT)
    # Resumed, not started over (that would send the first half twice): only what was on
    # its way when the link broke goes again.
    assert chunks <= puts < chunks * 3 // 2
    got = (await bob.next_event(ev.MessageReceived)).message
    proxy.cut_after(3 * 2**20, Direction.DOWN)  # bob's download, halfway
    saved = await save_file(bob.session.ref, got, tmp_path / "inbox")
    assert proxy.cuts == 2
    assert saved.sha256 == digest
    # At most the chunks asked and not yet arrived (one window) are asked again.
    assert chunks <= _chunks_moved(hub_tap, Command.FILE_GET) <= chunks + WINDOW


async def test_a_member_offline_when_it_was_sent_gets_it_on_return(connect, tmp_path):
    # No resend window for chat: the file message comes back because it is a file (it
    # waits on the hub until it expires), not because it is recent.
    alice = await connect("alice", resend_window=0.0)
    bob = await connect("bob")
    bob.stop()
    await alice.next_event(ev.MemberLeft, lambda e: e.user == "bob")
    source = tmp_path / "notes.txt"
    digest = _make_file(source, 300_000)
    await send_file(alice.session.ref, source, channel="general", ttl=600)
    back = await connect("bob")  # alice resends what bob missed; the hub kept the chunks
    got = (await back.next_event(ev.MessageReceived, lambda e: e.message.file)).message
    saved = await save_file(back.session.ref, got, tmp_path / "inbox")
    assert saved.sha256 == digest and saved.path.name == "notes.txt"


def _tamper(blob: Path) -> None:
    data = bytearray(blob.read_bytes())
    data[SEALED_CHUNK_BYTES + 10] ^= 0x01
    blob.write_bytes(bytes(data))


def _reorder(blob: Path) -> None:
    data = blob.read_bytes()
    first, second = data[:SEALED_CHUNK_BYTES], data[SEALED_CHUNK_BYTES : 2 * SEALED_CHUNK_BYTES]
    blob.write_bytes(second + first + data[2 * SEALED_CHUNK_BYTES :])


def _truncate(blob: Path) -> None:
    with blob.open("r+b") as handle:
        handle.truncate(blob.stat().st_size - 100)


@pytest.mark.parametrize("lie", [_tamper, _reorder, _truncate])
async def test_a_hub_that_alters_chunks_is_caught_and_nothing_is_saved(connect, tmp_path, lie):
    alice = await connect("alice")
    bob = await connect("bob")
    source = tmp_path / "contract.pdf"
    _make_file(source, 300_000)
    await send_file(alice.session.ref, source, channel="general", ttl=600)
    got = (await bob.next_event(ev.MessageReceived)).message
    (blob,) = (tmp_path / "hub" / "files").glob("*.blob")
    lie(blob)
    with pytest.raises(FileTransferFailed) as refused:
        await save_file(bob.session.ref, got, tmp_path / "inbox")
    assert refused.value.code == "verify" and "not saved" in str(refused.value)
    assert list((tmp_path / "inbox").iterdir()) == []


async def test_over_the_quota_is_refused_clearly(connect, tmp_path):
    alice = await connect("alice")
    source = tmp_path / "big.iso"
    _make_file(source, 5_000_000)
    await send_file(alice.session.ref, source, channel="general", ttl=600)
    with pytest.raises(FileTransferFailed) as refused:
        await send_file(alice.session.ref, source, channel="general", ttl=600)
    assert refused.value.code == ErrorCode.QUOTA
    assert "quota" in str(refused.value) and "wait for older files" in str(refused.value)


async def test_a_name_with_path_tricks_is_saved_inside_the_folder(connect, tmp_path):
    alice = await connect("alice")
    bob = await connect("bob")
    source = tmp_path / "x"
    _make_file(source, 1000)
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    for trick in ("../../.bashrc", "/etc/passwd", "..", "sub/../../x"):
        await send_file(alice.session.ref, source, channel="general", ttl=600, name=trick)
        got = (await bob.next_event(ev.MessageReceived)).message
        saved = await save_file(bob.session.ref, got, inbox)
        assert saved.path.parent == inbox and not saved.path.name.startswith(".")
    assert sorted(p.name for p in inbox.iterdir()) == [
        "_.._.bashrc",
        "_etc_passwd",
        "file",
        "sub",
        "sub_.._.._x",
    ]


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("holiday.jpg", "holiday.jpg"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..", "file"),
        (".hidden", "hidden"),
        ("-rf", "rf"),
        ("a\x1b[31mred\x07.txt", "a[31mred.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("C:\\Windows\\win.ini", "C:_Windows_win.ini"),
        ("x" * 300 + ".png", "x" * 196 + ".png"),
        ("", "file"),
    ],
)
def test_received_names_are_made_safe(name: str, safe: str) -> None:
    assert safe_file_name(name) == safe


async def test_collisions_get_a_number_and_never_overwrite(connect, tmp_path):
    alice = await connect("alice")
    bob = await connect("bob")
    source = tmp_path / "photo.jpg"
    _make_file(source, 1000)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "photo.jpg").write_bytes(b"mine")
    await send_file(alice.session.ref, source, channel="general", ttl=600)
    got = (await bob.next_event(ev.MessageReceived)).message
    saved = await save_file(bob.session.ref, got, inbox)
    assert saved.path.name == "photo (2).jpg"
    assert (inbox / "photo.jpg").read_bytes() == b"mine"


async def test_a_cancelled_download_leaves_nothing_behind(connect, tmp_path):
    alice = await connect("alice")
    bob = await connect("bob")
    source = tmp_path / "movie.mkv"
    _make_file(source, 3 * 2**20)
    await send_file(alice.session.ref, source, channel="general", ttl=600)
    got = (await bob.next_event(ev.MessageReceived)).message
    inbox = tmp_path / "inbox"
    async with trio.open_nursery() as nursery:

        async def save() -> None:
            await save_file(bob.session.ref, got, inbox)

        nursery.start_soon(save)
        # The user presses cancel once the download is under way.
        await bob.next_event(ev.FileProgress, lambda e: e.direction == "down" and e.done > 0)
        nursery.cancel_scope.cancel()
    assert list(inbox.iterdir()) == []


async def test_a_hub_that_drops_us_at_every_file_frame_is_given_up_on(
    connect, tmp_path, monkeypatch
):
    """Like a hub without files (it closes on a command it does not know): the client
    reconnects a few times, then says so instead of trying for ever."""

    async def unknown_command(self, frame):
        raise Disconnect(ErrorCode.UNKNOWN_COMMAND, f"unknown command {frame.command.value!r}")

    monkeypatch.setattr(ConnectionActor, "_file_frame", unknown_command)
    alice = await connect("alice", reconnect_base=0.01, reconnect_cap=0.05)
    source = tmp_path / "x.bin"
    _make_file(source, 1000)
    with pytest.raises(FileTransferFailed) as refused:
        await send_file(alice.session.ref, source, channel="general", ttl=600)
    assert refused.value.code == "stalled" and "does this hub store files" in str(refused.value)
