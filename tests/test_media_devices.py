"""Sound devices that come and go, with real ones made without hardware: ALSA PCMs defined in an
asoundrc (the `file` plugin writing to a FIFO, the `null` plugin) that tests add, remove and
"unplug" (the FIFO's reader goes away: ALSA's write fails and PortAudio's stream ends, as it
does when a USB headset is pulled). The watcher lists them in a fresh child process as the app
does; a call whose speakers go away goes on with the default and says so."""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import trio

from gossip.actors import open_actor
from gossip.client import events as ev
from gossip.media.devicekind import DeviceKind
from gossip.media.devicelist import (
    MAX_DEVICES,
    MAX_NAME_CHARS,
    DeviceList,
    DeviceProblem,
    decode_device_list,
)
from gossip.media.devices import refresh_portaudio
from gossip.media.devicewatch import DeviceWatcher, RefreshDevices
from gossip.ui import intents
from gossip.ui import notices as nt
from gossip.ui.bridge import Bridge
from gossip.ui.callview import CallPhase, CallView
from gossip.ui.model import AppModel
from gossip.ui.trioside.callcontrol import CallSetup
from tests.test_cli import PASSWORD, hub_process  # noqa: F401 - the fixture, shared
from tests.test_ui_bridge import next_notice

WAIT = 30.0  # a guard against hanging, never a measurement


def asound_home(home: Path, pcms: dict[str, str]) -> Path:
    """A HOME whose ~/.asoundrc defines `pcms` (name -> body), as ALSA reads it at start."""
    home.mkdir(exist_ok=True)
    (home / ".asoundrc").write_text(
        "".join(f"pcm.{name} {{ {body} }}\n" for name, body in pcms.items()))
    return home


def fifo_pcm(path: Path) -> str:
    """A PCM that writes what is played into the FIFO at `path` (nothing paces it but the
    reader); the FIFO is opened when a stream starts, not when the device is listed."""
    os.mkfifo(path)
    return f'type file; slave.pcm "null"; file "{path}"; format "raw"'


async def test_a_device_added_appears_and_one_removed_goes_without_a_restart(tmp_path,
                                                                             monkeypatch):
    home = asound_home(tmp_path / "home", {"gossip_desk": "type null"})
    monkeypatch.setenv("HOME", str(home))  # the listing child inherits it
    seen: list[DeviceList] = []
    async with open_actor(DeviceWatcher(seen.append, interval=3600)) as watcher:
        first = await watcher.ask(RefreshDevices())
        assert "gossip_desk" in first.inputs and "gossip_desk" in first.outputs
        asound_home(home, {"gossip_desk": "type null", "gossip_usb": "type null"})  # plugged in
        second = await watcher.ask(RefreshDevices())
        assert "gossip_usb" in second.inputs and "gossip_usb" in second.outputs
        asound_home(home, {"gossip_usb": "type null"})  # the desk one unplugged
        third = await watcher.ask(RefreshDevices())
        assert "gossip_desk" not in third.outputs and "gossip_usb" in third.outputs
        assert await watcher.ask(RefreshDevices()) == third
    # The owner heard of each change once (the pickers are redrawn only then).
    assert seen == [first, second, third]


def test_a_listing_is_read_within_bounds():
    names = [f"dev{i}" for i in range(10 * MAX_DEVICES)]
    listed = decode_device_list(json.dumps(
        {"inputs": ["x" * (MAX_NAME_CHARS + 1), "mic", "mic", 7, *names],
         "outputs": [], "problem": None}).encode())
    assert listed.inputs[0] == "mic" and len(listed.inputs) < MAX_DEVICES
    for nonsense in (b"", b"[]", b'{"inputs": "mic", "outputs": [], "problem": null}',
                     b'{"inputs": [], "outputs": [], "problem": "on fire"}'):
        assert decode_device_list(nonsense).problem is DeviceProblem.LISTING_FAILED


class Drain:
    """The reader of a FIFO device, in a thread: reads what is played until told to
    unplug (then closes its end, so the next write fails) or to stop."""

    def __init__(self, path: Path) -> None:
        # Non-blocking: opening does not wait for a writer, and a stream opening the device
        # finds a reader (a FIFO opened for writing without one would block).
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.received = 0
        self.got_data = threading.Event()
        self._unplug = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._unplug.is_set():
                readable, _, _ = select.select([self._fd], [], [], 0.05)
                if readable:
                    try:
                        chunk = os.read(self._fd, 1 << 16)
                    except BlockingIOError:
                        continue
                    if chunk:
                        self.received += len(chunk)
                        self.got_data.set()
                    else:  # no writer just now (between two streams): wait for one
                        self._unplug.wait(0.05)
        finally:
            os.close(self._fd)

    def mark(self) -> int:
        self.got_data.clear()
        return self.received

    def unplug(self) -> None:
        self._unplug.set()
        self._thread.join(WAIT)


def lines_of(stream) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], needle: str) -> str:
    while True:
        line = lines.get(timeout=WAIT)
        if needle in line:
            return line


def test_speakers_unplugged_mid_call_fall_back_to_the_default_with_a_notice(
        hub_process, tmp_path):  # noqa: F811
    port, _ = hub_process
    home = asound_home(tmp_path / "home", {
        "gossip_headset": fifo_pcm(tmp_path / "headset.fifo"),
        "!default": fifo_pcm(tmp_path / "default.fifo"),
    })
    headset, default = Drain(tmp_path / "headset.fifo"), Drain(tmp_path / "default.fifo")
    cli = subprocess.Popen(
        [sys.executable, "-m", "gossip.cli", "--host", "127.0.0.1", "--port", str(port),
         "--user", "ann", "--profile", str(tmp_path / "profile"), "call", "general",
         "--source", "null", "--sink", "speaker:gossip_headset", "--ice-host", "127.0.0.1",
         "--json", "--duration", "120"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "GOSSIP_PASSWORD": PASSWORD, "HOME": str(home)})
    try:
        out, err = lines_of(cli.stdout), lines_of(cli.stderr)
        wait_for_line(err, "in the call: ann")  # joined: the call plays into the headset
        headset.mark()
        assert headset.got_data.wait(WAIT)
        before = default.mark()
        headset.unplug()
        notice = json.loads(wait_for_line(out, '"device-lost"'))
        assert notice == {"event": "device-lost", "kind": "speakers",
                          "device": "gossip_headset", "now": "default", "problem": ""}
        assert "the speakers gossip_headset went away; using the default now" in \
            wait_for_line(err, "WARNING: the speakers")
        # The call goes on, playing into the default device now.
        default.mark()
        assert default.got_data.wait(WAIT) and default.received > before
        cli.send_signal(signal.SIGINT)
        summary = json.loads(wait_for_line(out, '"channel"'))
        assert summary["channel"] == "general"
        assert cli.wait(WAIT) == 0
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(WAIT)
        default.unplug()
        headset.unplug()


def fifo_capture_pcm(path: Path) -> str:
    """A microphone that reads what is written into the FIFO at `path`: while the FIFO has a
    writer and nothing in it, its reads wait, and the stream's callbacks stop, as a
    microphone's do on hosts where an unplug ends nothing."""
    os.mkfifo(path)
    return f'type file; slave.pcm "null"; file "/dev/null"; infile "{path}"; format "raw"'


class Feed:
    """The writer of a FIFO microphone, in a thread: keeps it fed until told to stop (then
    it holds the FIFO open, empty: the microphone's reads wait), and closes it at the end
    (reads see end of file: nothing waits any more)."""

    def __init__(self, path: Path) -> None:
        # Read and write: opening does not wait for the other end.
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            _, writable, _ = select.select([], [self._fd], [], 0.05)
            if writable:
                try:
                    os.write(self._fd, bytes(4096))
                except BlockingIOError:
                    continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(WAIT)

    def close(self) -> None:
        self.stop()
        os.close(self._fd)


def test_a_microphone_that_stops_mid_call_gives_way_to_the_default_with_a_notice(
        hub_process, tmp_path):  # noqa: F811
    port, _ = hub_process
    home = asound_home(tmp_path / "home", {
        "gossip_mic": fifo_capture_pcm(tmp_path / "mic.fifo"),
        "!default": fifo_capture_pcm(tmp_path / "default.fifo"),
    })
    mic, default = Feed(tmp_path / "mic.fifo"), Feed(tmp_path / "default.fifo")
    default.stop()  # fed later, to see that the call reads it
    cli = subprocess.Popen(
        [sys.executable, "-m", "gossip.cli", "--host", "127.0.0.1", "--port", str(port),
         "--user", "ann", "--profile", str(tmp_path / "profile"), "call", "general",
         "--source", "mic:gossip_mic", "--sink", "null", "--no-aec", "--no-ns", "--no-agc",
         "--ice-host", "127.0.0.1", "--json", "--duration", "120"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "GOSSIP_PASSWORD": PASSWORD, "HOME": str(home)})
    try:
        out, err = lines_of(cli.stdout), lines_of(cli.stderr)
        wait_for_line(err, "in the call: ann")  # joined, hearing the microphone
        mic.stop()  # it stops delivering sound, without an error
        notice = json.loads(wait_for_line(out, '"device-lost"'))
        assert notice == {"event": "device-lost", "kind": "microphone",
                          "device": "gossip_mic", "now": "default", "problem": ""}
        # The call reads the default microphone now: what is written into it is taken
        # (more than a pipe holds, so the write returns only once the call has read it).
        with open(tmp_path / "default.fifo", "wb") as writer:
            writer.write(bytes(256 * 1024))
        cli.send_signal(signal.SIGINT)
        assert json.loads(wait_for_line(out, '"channel"'))["channel"] == "general"
    finally:
        mic.close()  # reads still waiting see end of file, whatever the CLI still holds
        default.close()
        try:
            cli.wait(WAIT)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait(WAIT)


@pytest.mark.parametrize("problem", ["", "no device"])
def test_the_app_tells_of_a_lost_device_and_what_plays_now(problem):
    model = AppModel()
    model.call = CallView(available=True, channel="general", phase=CallPhase.IN_CALL)
    model.apply(ev.CallDeviceLost("general", DeviceKind.MICROPHONE, "USB mic", problem), 0.0)
    (toast,) = model.toasts.toasts
    assert "USB mic" in toast.body
    assert ("default" in toast.body) != bool(problem)



async def test_the_apps_pickers_follow_devices_plugged_in_and_out(tmp_path, monkeypatch):
    home = asound_home(tmp_path / "home", {"gossip_desk": "type null"})
    monkeypatch.setenv("HOME", str(home))  # the bridge's listing children inherit it
    bridge = Bridge(call_setup=CallSetup())  # the microphone and speakers picked in the panel
    await trio.to_thread.run_sync(bridge.start)
    try:
        shown = await next_notice(bridge, nt.CallChanged,
                                  lambda n: "gossip_desk" in n.view.input_devices)
        assert "gossip_desk" in shown.view.output_devices
        asound_home(home, {"gossip_usb": "type null"})  # one plugged in, the other out
        # The watcher's next listing (every few seconds) reaches the panel, no restart.
        shown = await next_notice(bridge, nt.CallChanged,
                                  lambda n: "gossip_usb" in n.view.input_devices)
        assert "gossip_desk" not in shown.view.input_devices + shown.view.output_devices
    finally:
        assert await trio.to_thread.run_sync(bridge.stop)


@pytest.fixture
def sound_home(tmp_path):
    """A HOME whose ~/.asoundrc the test writes, read by this process's PortAudio too (it is
    re-read at the start and, with the HOME of before, at the end)."""
    before = os.environ.get("HOME")
    home = tmp_path / "home"
    os.environ["HOME"] = str(asound_home(home, {}))
    try:
        yield home
    finally:
        if before is None:
            del os.environ["HOME"]
        else:
            os.environ["HOME"] = before
        refresh_portaudio()


async def test_in_a_call_the_app_takes_speakers_plugged_in_gives_them_up_and_takes_them_back(
        sound_home, hub, tmp_path):
    pcms = {"gossip_speakers": fifo_pcm(tmp_path / "speakers.fifo"),
            "!default": fifo_pcm(tmp_path / "default.fifo")}
    asound_home(sound_home, pcms)
    speakers, default = Drain(tmp_path / "speakers.fifo"), Drain(tmp_path / "default.fifo")
    await trio.to_thread.run_sync(refresh_portaudio)  # the app starts with these two
    bridge = Bridge(retry_base=0.05, call_setup=CallSetup(
        source="null", output_device="gossip_speakers", ice_hosts=("127.0.0.1",),
        level_interval=0.1))
    await trio.to_thread.run_sync(bridge.start)
    usb = None
    try:
        bridge.post(intents.ConnectToHub("127.0.0.1", hub.port, "you", PASSWORD,
                                         tmp_path / "you"))
        await next_notice(bridge, nt.Online)
        bridge.post(intents.JoinChannelCall("general"))
        await next_notice(bridge, nt.CallChanged, lambda n: n.view.phase is CallPhase.IN_CALL)
        assert await trio.to_thread.run_sync(speakers.got_data.wait, WAIT)

        # USB speakers plugged in mid-call: listed within a few seconds, and taken at once.
        usb_pcm = fifo_pcm(tmp_path / "usb.fifo")
        asound_home(sound_home, {**pcms, "gossip_usb": usb_pcm})
        usb = Drain(tmp_path / "usb.fifo")
        await next_notice(bridge, nt.CallChanged, lambda n: "gossip_usb" in n.view.output_devices)
        bridge.post(intents.ChooseDevices("", "gossip_usb"))
        await next_notice(bridge, nt.CallChanged, lambda n: n.view.output_device == "gossip_usb")
        assert await trio.to_thread.run_sync(usb.got_data.wait, WAIT)

        # Pulled out: the call goes on with the default, and the user is told.
        default.mark()
        await trio.to_thread.run_sync(usb.unplug)
        lost = await next_notice(bridge, ev.CallDeviceLost)
        assert (lost.kind, lost.device, lost.problem) == ("speakers", "gossip_usb", "")
        await next_notice(bridge, nt.CallChanged, lambda n: n.view.output_device == "")
        assert await trio.to_thread.run_sync(default.got_data.wait, WAIT)

        # Plugged in again (gone from a listing, then back): the call takes it back.
        asound_home(sound_home, pcms)
        await next_notice(bridge, nt.CallChanged,
                          lambda n: "gossip_usb" not in n.view.output_devices)
        usb = Drain(tmp_path / "usb.fifo")
        asound_home(sound_home, {**pcms, "gossip_usb": usb_pcm})
        await next_notice(bridge, nt.CallChanged, lambda n: n.view.output_device == "gossip_usb")
        assert await trio.to_thread.run_sync(usb.got_data.wait, WAIT)
        bridge.post(intents.LeaveChannelCall())
        await next_notice(bridge, nt.CallChanged, lambda n: n.view.phase is CallPhase.IDLE)
    finally:
        assert await trio.to_thread.run_sync(bridge.stop)
        for drain in (speakers, default, usb):
            if drain is not None:
                await trio.to_thread.run_sync(drain.unplug)
