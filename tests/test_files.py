"""Files end to end through a real hub on loopback: sealed chunks up, a file message, chunks
down, checked and saved; resumed across a cut; refused clearly when they must be."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from gossip.client import events as ev
from gossip.client.filesend import save_file, send_file

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
