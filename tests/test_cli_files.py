"""Files as a user sends and saves them with the CLI: separate processes, a real hub."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
