"""Where `gossip-cli` takes its secrets from, run as a user would against a real hub: a
password file, the environment, a no-echo prompt on a terminal, a warning for --password, one
clear line when there is none; and the optional passphrase of the identity key."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.test_cli import PASSWORD, hub_process  # noqa: F401 - the fixture, shared

WARNING = "--password is visible"


def run_cli(port: int, tmp_path: Path, *args: str, env: dict[str, str] | None = None,
            user: str = "alice") -> subprocess.CompletedProcess[str]:
    """The CLI with no terminal on stdin and no password unless the test gives one."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("GOSSIP_PASSWORD", "GOSSIP_PASSPHRASE")}
    command = [sys.executable, "-m", "gossip.cli", "--host", "127.0.0.1", "--port", str(port),
               "--user", user, "--profile", str(tmp_path / "profiles" / user), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env={**base, **(env or {})})


def test_the_password_comes_from_a_file(hub_process, tmp_path):  # noqa: F811
    port, _ = hub_process
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    result = run_cli(port, tmp_path, "--password-file", str(secret), "members")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["alice"]
    assert WARNING not in result.stderr


def test_the_password_comes_from_the_environment(hub_process, tmp_path):  # noqa: F811
    port, _ = hub_process
    result = run_cli(port, tmp_path, "channels", env={"GOSSIP_PASSWORD": PASSWORD})
    assert result.returncode == 0, result.stderr
    assert "general" in result.stdout.split()
    assert WARNING not in result.stderr


def test_a_password_on_the_command_line_works_but_warns(hub_process, tmp_path):  # noqa: F811
    port, _ = hub_process
    result = run_cli(port, tmp_path, "--password", PASSWORD, "members")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"gossip-cli: warning: {WARNING}")


def test_no_password_and_no_terminal_is_one_line_and_exit_2(hub_process, tmp_path):  # noqa: F811
    port, _ = hub_process
    result = run_cli(port, tmp_path, "members")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no password" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreadable_or_empty_password_file_is_one_line(tmp_path):
    missing = run_cli(1, tmp_path, "--password-file", str(tmp_path / "nope"), "members")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "cannot read --password-file" in missing.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    result = run_cli(1, tmp_path, "--password-file", str(empty), "members")
    assert result.returncode == 2 and "is empty" in result.stderr


def test_offline_key_commands_need_no_password(tmp_path):
    result = run_cli(1, tmp_path, "key", "fingerprint")
    assert result.returncode == 0 and result.stderr == ""


def _read_until(fd: int, marker: bytes, seen: bytearray, deadline: float) -> None:
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"never saw {marker!r} in {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            assert chunk, f"terminal closed before {marker!r}: {bytes(seen)!r}"
            seen.extend(chunk)


def test_on_a_terminal_the_password_is_asked_without_echo(hub_process, tmp_path):  # noqa: F811
    """A real pseudo-terminal, as a person at a shell: the prompt shows, the typed password
    is not echoed back, and the command goes on."""
    port, _ = hub_process
    base = {k: v for k, v in os.environ.items() if k != "GOSSIP_PASSWORD"}
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "gossip.cli", "--host", "127.0.0.1", "--port", str(port),
         "--user", "alice", "--profile", str(tmp_path / "profiles" / "alice"), "members"],
        stdin=follower, stdout=follower, stderr=follower, env=base, start_new_session=True)
    os.close(follower)
    seen = bytearray()
    try:
        deadline = time.monotonic() + 60
        _read_until(leader, b"Password for the hub", seen, deadline)
        _read_until(leader, b": ", seen, deadline)
        os.write(leader, PASSWORD.encode() + b"\n")
        _read_until(leader, b"alice", seen, deadline)
        assert process.wait(timeout=60) == 0, bytes(seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    assert PASSWORD.encode() not in seen


def test_a_protected_identity_needs_its_passphrase(tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse\n")
    made = run_cli(1, tmp_path, "--passphrase-file", str(secret), "key", "fingerprint")
    assert made.returncode == 0, made.stderr
    again = run_cli(1, tmp_path, "key", "fingerprint",
                    env={"GOSSIP_PASSPHRASE": "correct horse"})
    assert again.stdout == made.stdout
    without = run_cli(1, tmp_path, "key", "fingerprint")
    assert without.returncode == 2 and without.stderr.count("\n") == 1
    assert "protected by a passphrase" in without.stderr and "Traceback" not in without.stderr
    wrong = run_cli(1, tmp_path, "key", "fingerprint", env={"GOSSIP_PASSPHRASE": "wrong"})
    assert wrong.returncode == 3 and wrong.stderr.count("\n") == 1
    assert "wrong passphrase" in wrong.stderr


def _drain(fd: int, seen: bytearray) -> None:
    """What the finished process left on the terminal."""
    while select.select([fd], [], [], 0)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # closed: nothing more
            return
        if not chunk:
            return
        seen.extend(chunk)


def _verify_on_a_terminal(port: int, tmp_path: Path, answer: bytes) -> tuple[int, bytes]:
    """bob runs `key verify alice` at a real pseudo-terminal and answers the question."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "gossip.cli", "--host", "127.0.0.1", "--port", str(port),
         "--user", "bob", "--profile", str(tmp_path / "profiles" / "bob"),
         "key", "verify", "alice"],
        stdin=follower, stdout=follower, stderr=follower,
        env={**os.environ, "GOSSIP_PASSWORD": PASSWORD}, start_new_session=True)
    os.close(follower)
    seen = bytearray()
    try:
        deadline = time.monotonic() + 60
        _read_until(leader, b"[y/N] ", seen, deadline)
        os.write(leader, answer + b"\n")
        status = process.wait(timeout=60)
        _drain(leader, seen)
        return status, bytes(seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)


def test_key_verify_shows_the_number_and_marks_only_what_was_confirmed(
        hub_process, tmp_path):  # noqa: F811
    port, _ = hub_process
    alice = subprocess.Popen(  # online, so that bob is handed her key
        [sys.executable, "-m", "gossip.cli", "--host", "127.0.0.1", "--port", str(port),
         "--user", "alice", "--profile", str(tmp_path / "profiles" / "alice"), "listen"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        env={**os.environ, "GOSSIP_PASSWORD": PASSWORD})
    try:
        deadline = time.monotonic() + 60
        as_bob = {"GOSSIP_PASSWORD": PASSWORD}
        while "alice" not in run_cli(port, tmp_path, "members", user="bob",
                                     env=as_bob).stdout.split():
            assert time.monotonic() < deadline, "alice never came online"
        number = run_cli(port, tmp_path, "key", "safety", "alice", user="bob",
                         env=as_bob).stdout.strip()
        assert number
        refused, shown = _verify_on_a_terminal(port, tmp_path, b"n")
        assert refused == 1 and number.encode() in shown and b"not marked verified" in shown
        confirmed, shown = _verify_on_a_terminal(port, tmp_path, b"y")
        assert confirmed == 0 and b"is verified" in shown
    finally:
        alice.kill()
        alice.wait()
