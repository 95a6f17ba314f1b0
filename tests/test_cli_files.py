"""Files as a user sends and saves them with the CLI: separate processes, a real hub."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from gossip.cli.files import listen_saving
from gossip.cli.listen import ListenPrinter
from gossip.client import events as ev
from gossip.client.messages import ChatMessage
from gossip.crypto.filestream import FileKey, FileManifest, new_file_id
from gossip.crypto.pins import Trust
from tests.test_cli import PASSWORD, _wait_for_port, cli


@pytest.fixture
def small_hub(tmp_path: Path):
    """A hub whose file limit is 2 MB (config file [limits], as an operator sets it)."""
    config = tmp_path / "hub.toml"
    config.write_text("[limits]\nmax_file_bytes = 2000000\n")
    log = (tmp_path / "hub.log").open("w+")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gossip.hub",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--password",
            PASSWORD,
            "--data-dir",
            str(tmp_path / "hub"),
            "--config",
            str(config),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield _wait_for_port(tmp_path / "hub.log", process), tmp_path / "hub.log"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_send_file_and_listen_save_files_with_sha256(small_hub, tmp_path):
    port, hub_log = small_hub
    data = b"CLI-PLAINTEXT-MARKER " + os.urandom(1_500_000)
    (tmp_path / "holiday.jpg").write_bytes(data)
    (tmp_path / "huge.bin").write_bytes(os.urandom(2_500_000))
    inbox = tmp_path / "inbox"
    bob = cli(
        port,
        "bob",
        tmp_path,
        "listen",
        "--count",
        "1",
        "--json",
        "--save-files",
        str(inbox),
        background=True,
    )
    try:
        for _ in range(100):
            members = cli(port, "alice", tmp_path, "members")
            if "bob" in members.stdout.split():
                break
        else:
            raise AssertionError("bob never came online")
        too_big = cli(port, "alice", tmp_path, "send-file", "general", str(tmp_path / "huge.bin"))
        assert too_big.returncode == 1 and "Traceback" not in too_big.stderr
        assert "file_too_large" in too_big.stderr and "2000000" in too_big.stderr
        missing = cli(port, "alice", tmp_path, "send-file", "general", str(tmp_path / "nope"))
        assert missing.returncode == 2 and "no such file" in missing.stderr
        sent = cli(
            port,
            "alice",
            tmp_path,
            "send-file",
            "general",
            str(tmp_path / "holiday.jpg"),
            "--expiry",
            "300",
        )
        assert sent.returncode == 0, sent.stderr
        assert "sending holiday.jpg: 1.5 MB of 1.5 MB" in sent.stderr  # plain progress
        out, err = bob.communicate(timeout=60)
    finally:
        bob.kill()
    lines = [json.loads(line) for line in out.strip().splitlines()]
    message = next(line for line in lines if line["event"] == "message")
    saved = next(line for line in lines if line["event"] == "file_saved")
    assert message["file"]["name"] == "holiday.jpg" and message["id"] == sent.stdout.strip()
    assert "key" not in message["file"]
    assert saved["sha256"] == hashlib.sha256(data).hexdigest()
    assert Path(saved["path"]) == inbox / "holiday.jpg"
    assert (inbox / "holiday.jpg").read_bytes() == data
    assert "CLI-PLAINTEXT-MARKER" not in hub_log.read_text()
    assert "file done owner=alice" in hub_log.read_text()


async def test_listen_save_files_saves_nothing_from_a_changed_key(tmp_path, capsys):
    manifest = FileManifest(
        file_id=new_file_id(),
        name="invoice.pdf",
        mime="application/pdf",
        size=10,
        chunks=1,
        root=b"r" * 32,
        key=FileKey.generate(),
        blob=b"b" * 16,
    )
    message = ChatMessage(
        id="m1",
        channel="general",
        sender="bob",
        text="[file] invoice.pdf",
        sent_at=time.time(),
        expires_at=time.time() + 60,
        verified=False,
        trust=Trust.CHANGED,
        file=manifest,
    )
    send, events = trio.open_memory_channel(4)
    await send.send(ev.MessageReceived(message))
    await send.aclose()
    args = argparse.Namespace(save_files=tmp_path / "inbox", channel=None, json=True, count=1)
    printer = ListenPrinter(sys.stdout, as_json=True, count=1)
    await listen_saving(args, None, events, printer)  # the session is never asked
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    refused = next(line for line in lines if line["event"] == "file_refused")
    assert refused["name"] == "invoice.pdf" and "not verified (changed)" in refused["reason"]
    assert list((tmp_path / "inbox").iterdir()) == []
