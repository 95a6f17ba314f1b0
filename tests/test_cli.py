"""The CLI and the hub as a user runs them: separate processes on loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PASSWORD = "s3cret"


@pytest.fixture
def hub_process(tmp_path: Path):
    log = (tmp_path / "hub.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "gossip.hub", "--host", "127.0.0.1", "--port", "0",
         "--password", PASSWORD, "--data-dir", str(tmp_path / "hub")],
        stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        port = _wait_for_port(tmp_path / "hub.log", process)
        yield port, tmp_path / "hub.log"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _wait_for_port(log: Path, process: subprocess.Popen) -> int:
    # The hub prints its port once it listens; poll the file while the process runs.
    for _ in range(2000):
        found = re.search(r"on 127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return int(found.group(1))
        if process.poll() is not None:
            raise AssertionError(f"hub exited: {log.read_text()}")
        try:
            process.wait(timeout=0.01)
        except subprocess.TimeoutExpired:
            pass
    raise AssertionError("hub did not start")


def cli(port: int, user: str, tmp_path: Path, *args: str, password: str = PASSWORD,
        background: bool = False):
    # The password goes by the environment, as a user should pass it (--password warns).
    command = [sys.executable, "-m", "gossip.cli", "--host", "127.0.0.1", "--port", str(port),
               "--user", user, "--profile", str(tmp_path / "profiles" / user), *args]
    env = {**os.environ, "GOSSIP_PASSWORD": password}
    if background:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)


def test_alice_sends_and_bob_listening_gets_it_verified(hub_process, tmp_path):
    port, hub_log = hub_process
    bob = cli(port, "bob", tmp_path, "listen", "--channel", "general", "--count", "2",
              "--json", background=True)
    try:
        for _ in range(100):  # `members` until bob shows, as a user would
            members = cli(port, "alice", tmp_path, "members")
            assert members.returncode == 0, members.stderr
            if "bob" in members.stdout.split():
                break
        else:
            raise AssertionError("bob never came online")
        assert "pinned its certificate" in members.stderr or members.stderr == ""
        sent = cli(port, "alice", tmp_path, "send", "general", "pelicans at dawn",
                   "--expiry", "120")
        assert sent.returncode == 0, sent.stderr
        reply = cli(port, "alice", tmp_path, "send", "general", "and gulls at dusk",
                    "--reply-to", sent.stdout.strip())
        assert reply.returncode == 0, reply.stderr
        out, err = bob.communicate(timeout=60)
    finally:
        bob.kill()
    line, answer = [event for event in map(json.loads, out.strip().splitlines())
                    if event["event"] == "message"]
    assert answer["kind"] == "reply" and answer["reply_to"] == line["id"] == sent.stdout.strip()
    assert line["kind"] == "text" and "reply_to" not in line
    assert line["text"] == "pelicans at dawn" and line["sender"] == "alice"
    assert line["verified"] is True and line["trust"] == "new"
    assert line["channel"] == "general"
    assert line["expires_at"] - line["sent_at"] == pytest.approx(120)
    assert {"id", "sent_at", "expires_at"} <= set(line)
    log = hub_log.read_text()
    assert "pelicans" not in log
    assert "msg user=alice channel=general" in log


def test_send_as_the_listening_user_leaves_the_listener_running(hub_process, tmp_path):
    """Bob listens on one connection and sends from another (the same key): the listener is
    not pushed out, and prints what bob sent from there."""
    port, _ = hub_process
    bob = cli(port, "bob", tmp_path, "listen", "--channel", "general", "--count", "1",
              "--json", background=True)
    try:
        for _ in range(100):  # until the listener is online, as a user would check
            members = cli(port, "alice", tmp_path, "members")
            if "bob" in members.stdout.split():
                break
        else:
            raise AssertionError("bob never came online")
        sent = cli(port, "bob", tmp_path, "send", "general", "note to self")
        assert sent.returncode == 0, sent.stderr
        out, err = bob.communicate(timeout=60)
    finally:
        bob.kill()
    assert bob.returncode == 0, err
    assert "another connection" not in err
    line = json.loads(out.strip().splitlines()[-1])
    assert (line["sender"], line["text"], line["verified"]) == ("bob", "note to self", True)


def test_a_wrong_password_is_one_line_and_a_nonzero_exit(hub_process, tmp_path):
    port, _ = hub_process
    result = cli(port, "eve", tmp_path, "members", password="nope")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len([line for line in lines if line.startswith("gossip-cli:")]) >= 1
    assert "Traceback" not in result.stderr
    assert "wrong password" in lines[-1]


def test_hub_down_and_bad_input_are_clean_errors(tmp_path):
    down = cli(1, "alice", tmp_path, "members")
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert down.stderr.count("\n") == 1 and "cannot connect" in down.stderr
    bad = cli(1, "not a name", tmp_path, "members")
    assert bad.returncode == 2 and "invalid user name" in bad.stderr
    expiry = cli(1, "alice", tmp_path, "send", "general", "hi", "--expiry", "0")
    assert expiry.returncode == 2 and "expiry" in expiry.stderr


def test_key_commands_work_offline(tmp_path):
    fingerprint = cli(1, "alice", tmp_path, "key", "fingerprint")
    assert re.fullmatch(r"[0-9A-F]{40}\n", fingerprint.stdout)
    exported = cli(1, "alice", tmp_path, "key", "export")
    assert exported.stdout.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    nothing = cli(1, "alice", tmp_path, "key", "accept", "bob")
    assert nothing.returncode == 1 and "nothing to accept" in nothing.stderr


def test_safety_numbers_match_on_both_sides(hub_process, tmp_path):
    port, _ = hub_process
    bob = cli(port, "bob", tmp_path, "listen", "--count", "1", background=True)
    try:
        for _ in range(100):
            if "bob" in cli(port, "alice", tmp_path, "members").stdout.split():
                break
        alice_view = cli(port, "alice", tmp_path, "key", "safety", "bob")
        assert alice_view.returncode == 0, alice_view.stderr
    finally:
        bob.kill()
        bob.wait()
    bob_view = cli(port, "bob", tmp_path, "key", "safety", "alice")
    assert bob_view.returncode == 0, bob_view.stderr
    number = alice_view.stdout.strip()
    assert re.fullmatch(r"(\d{5} ){11}\d{5}", number)
    assert bob_view.stdout.strip() == number
    unasked = cli(port, "bob", tmp_path, "key", "verify", "alice")  # no terminal to ask on
    assert unasked.returncode == 2 and "--yes" in unasked.stderr
    verified = cli(port, "bob", tmp_path, "key", "verify", "alice", "--yes")
    assert verified.returncode == 0 and number in verified.stdout


def _env_without_display() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DISPLAY"}


def test_a_three_way_call_from_the_cli(hub_process, tmp_path):
    """What a user runs: three `call` processes, loopback ICE only, each reporting both
    others with frames received, a set-up time and a verified link."""
    port, hub_log = hub_process
    tones = {"ann": 300, "ben": 600, "cat": 900}
    calls = {
        name: cli(port, name, tmp_path, "call", "general", "--ice-host", "127.0.0.1",
                  "--source", f"tone:{hz}", "--sink", "null", "--duration", "8", "--json",
                  background=True)
        for name, hz in tones.items()
    }
    summaries = {}
    for name, process in calls.items():
        out, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
        assert "Traceback" not in err
        summaries[name] = json.loads(out.strip().splitlines()[-1])
    for name, summary in summaries.items():
        assert summary["channel"] == "general"
        assert set(summary["peers"]) == set(tones) - {name}
        for peer in summary["peers"].values():
            assert peer["link_authenticated"] is True and peer["trust"] == "new"
            assert peer["frames_received"] > 50
            assert peer["setup_ms"] > 0 and peer["first_audio_ms"] > 0
    assert "offer" in hub_log.read_text() and "v=0" not in hub_log.read_text()


def test_call_rejects_a_bad_source_before_connecting(tmp_path):
    result = cli(1, "ann", tmp_path, "call", "general", "--source", "banjo", "--sink", "null")
    assert result.returncode == 2 and "unknown audio source" in result.stderr
    result = cli(1, "ann", tmp_path, "call", "general", "--ice-host", "localhost")
    assert result.returncode == 2 and "IP address" in result.stderr


def test_a_three_way_video_call_from_the_cli(hub_process, tmp_path):
    """Three `call --video pattern` processes on loopback: each reports video frames from
    both others, and the one recording saves each peer's pictures as PNG files."""
    port, _ = hub_process
    tones = {"ann": 300, "ben": 600, "cat": 900}
    record = tmp_path / "received"
    calls = {
        name: cli(port, name, tmp_path, "call", "general", "--ice-host", "127.0.0.1",
                  "--source", f"tone:{hz}", "--sink", "null", "--duration", "8", "--json",
                  "--video", "pattern", "--video-size", "160x90", "--video-fps", "10",
                  *(["--record-video", str(record)] if name == "ann" else []),
                  background=True)
        for name, hz in tones.items()
    }
    summaries = {}
    for name, process in calls.items():
        out, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
        assert "Traceback" not in err
        summaries[name] = json.loads(out.strip().splitlines()[-1])
    for name, summary in summaries.items():
        assert set(summary["peers"]) == set(tones) - {name}
        for peer in summary["peers"].values():
            assert peer["link_authenticated"] is True and peer["frames_received"] > 50
            assert peer["video_frames_received"] > 0 and peer["video_fps"] > 0
    saved = {path.name for path in record.iterdir()}
    assert {"ben-last.png", "cat-last.png"} <= saved
    assert (record / "ben-last.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_call_rejects_a_bad_video_spec_before_connecting(tmp_path):
    for args, words in ((("--video", "banjo"), "unknown video source"),
                        (("--video", "file:"), "needs a path"),
                        (("--video", "pattern", "--video-size", "wide"), "WIDTHxHEIGHT"),
                        (("--video", "pattern", "--video-size", "641x360"), "even"),
                        (("--video", "pattern", "--video-fps", "0"), "fps")):
        result = cli(1, "ann", tmp_path, "call", "general", "--source", "null", "--sink",
                     "null", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1


def test_call_flags_choose_processing_stages_and_the_transmit_mode():
    from gossip.cli.call import voice_options
    from gossip.cli.main import build_parser
    from gossip.media.voicespec import TransmitMode

    args = build_parser().parse_args(["call", "general", "--no-aec", "--agc",
                                      "--transmit", "voice"])
    voice = voice_options(args)
    assert (voice.echo_cancellation, voice.gain_control, voice.noise_suppression) == (
        False, True, None)  # None: on with a microphone, off for a tone or WAV source
    assert voice.transmit is TransmitMode.VOICE
    assert not voice.stages(live_devices=True).echo_cancellation
    assert voice.stages(live_devices=False).gain_control
    with pytest.raises(SystemExit):  # an unknown mode is a usage error
        build_parser().parse_args(["call", "general", "--transmit", "always"])


async def test_the_terminal_talk_key_toggles_push_to_talk(monkeypatch):
    import trio

    from gossip.cli.call import _talk_key_toggles

    read_end, write_end = os.pipe()
    monkeypatch.setattr(sys, "stdin", os.fdopen(read_end))
    told: list[bool] = []
    both = trio.Event()

    class Call:
        async def tell(self, message) -> None:
            told.append(message.held)
            if len(told) == 2:
                both.set()

    os.write(write_end, b"x xy ")  # two presses of the talk key (space), other keys ignored
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_talk_key_toggles, Call(), " ")
            await both.wait()
            nursery.cancel_scope.cancel()
    os.close(write_end)
    assert told == [True, False]  # pressed: talking; pressed again: not talking
