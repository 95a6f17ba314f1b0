"""The desktop app in a real window on a private X display (Xvfb), against a real hub: what a
user types reaches another client, what others send shows up, a changed key is flagged, and
the screenshots are real pictures. Each test drives the app frame by frame from this thread
and waits on the app's own state, with a bound."""

from __future__ import annotations

import inspect
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Self

import dearpygui.dearpygui as dpg
import pytest
import trio

from gossip.actors import ActorStopped
from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.commands import Leave, SendChat
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.hub import HubConfig, RunningHub, serve_hub
from gossip.ui.app import App
from gossip.ui.bridge import Bridge
from gossip.ui.model import Phase
from gossip.ui.screenshot import summarize_png
from gossip.ui.sessioncalls import CallSetup
from gossip.ui.settings import Settings
from gossip.ui.toasts import ToastBoard
from gossip.ui.virtual_display import virtual_display

PASSWORD = "s3cret"
WAIT = 20.0
APP_TONE = 440.0  # what the app's user says in a call: a test tone (no sound card in tests)

# Dear PyGui 2.3 crashes (in its GLFW cursor callback) when a second viewport is created in
# the same process, so every test module that needs the window shares this one, on one
# virtual display; both last until the test session ends. Each test connects the window to
# a hub of its own.
_shared: dict[str, Any] = {}


def shared_display(config: pytest.Config) -> str:
    if "display" not in _shared:
        stack = ExitStack()
        name = stack.enter_context(virtual_display(1280, 800))
        previous = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = name

        def restore() -> None:
            if previous is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = previous
            stack.close()

        config.add_cleanup(restore)
        _shared["display"] = name
    return str(_shared["display"])


def shared_window(config: pytest.Config, profiles: Path) -> App:
    if "window" not in _shared:
        calls = CallSetup(source=f"tone:{APP_TONE:g}", sink="null")
        app = App(Settings(user="you", host="127.0.0.1"),
                  Bridge(retry_base=0.1, call_setup=calls), profile_root=profiles)
        app.open(width=1240, height=800)

        def close() -> None:
            if app.bridge.running:
                app.close()

        config.add_cleanup(close)  # before the display goes: cleanups run last-in first-out
        _shared["window"] = app
    window: App = _shared["window"]
    return window


@pytest.fixture(scope="module")
def display(pytestconfig):
    return shared_display(pytestconfig)


class PeerWorld:
    """A hub and the user "bob" on a trio thread of their own, driven from the test."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.events: queue.Queue[Any] = queue.Queue()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)
        self._token: trio.lowlevel.TrioToken | None = None
        self._bob: Session | None = None
        self._hub: RunningHub | None = None

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._ready.wait(WAIT), "the hub did not start"
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._token is not None
        self._token.run_sync_soon(self._stop.cancel)
        self._thread.join(WAIT)

    async def _main(self) -> None:
        config = HubConfig(name="test hub", host="127.0.0.1", port=0, password=PASSWORD,
                           channels=("general", "random"), data_dir=self.directory / "hub")
        with trio.CancelScope() as self._stop:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                hub = await nursery.start(serve_hub, config)
                self._hub = hub
                self.port = hub.port
                await self._start_bob("bob")
                self._token = trio.lowlevel.current_trio_token()
                self._ready.set()

    async def _start_bob(self, profile_name: str) -> None:
        send, receive = trio.open_memory_channel[ev.SessionEvent](256)
        profile = Profile.open("bob", self.directory / profile_name)
        self._bob = Session(profile, SessionConfig("127.0.0.1", self.port, PASSWORD), send)

        async def run() -> None:
            try:
                await run_actor(self._bob)
            except Exception as exc:  # noqa: BLE001 - the test looks at how it ended
                self.events.put(exc)

        async def forward() -> None:
            async for event in receive:
                self.events.put(event)

        self._nursery.start_soon(run)
        self._nursery.start_soon(forward)
        with trio.fail_after(WAIT):
            await self._bob.synced.wait()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def say(self, channel: str, text: str) -> None:
        async def say() -> None:
            assert self._bob is not None
            await self._bob.ref.ask(SendChat(channel, text, 600))
        self.call(say)

    def bob_gets_a_new_key(self) -> None:
        async def change() -> None:
            assert self._bob is not None
            try:
                await self._bob.ref.ask(Leave())
            except ActorStopped:  # the session may end before it answers
                pass
            assert self._hub is not None
            self._hub.reset_name("bob")  # the operator frees the name for the new key
            await self._start_bob("bob-new-laptop")
        self.call(change)

    def wait_for(self, kind: type, predicate: Callable[[Any], bool] = lambda e: True) -> Any:
        while True:
            event = self.events.get(timeout=WAIT)
            if isinstance(event, kind) and predicate(event):
                return event


@pytest.fixture
def world(tmp_path):
    with PeerWorld(tmp_path / "world") as world:
        yield world


@pytest.fixture(scope="module")
def window(display, pytestconfig, tmp_path_factory):
    """The one window (see `shared_window`)."""
    return shared_window(pytestconfig, tmp_path_factory.mktemp("profiles"))


@pytest.fixture
def app(window, world, tmp_path):
    """The shared app, back on its connect screen, with a fresh profile for this test."""
    assert window.bridge.running, "an earlier test closed the window"
    window.profile_root = tmp_path / "profiles"
    yield window
    window.close_safety()
    window.disconnect()
    window.pump_until(lambda: window.model.phase in (Phase.IDLE, Phase.FAILED), WAIT)
    window.model.toasts = ToastBoard()


def click(item: int | str) -> None:
    """What Dear PyGui does when the item is clicked or Enter is pressed in it."""
    callback = dpg.get_item_callback(item)
    assert callback is not None
    # Like Dear PyGui, pass only as many of (sender, app_data, user_data) as it takes.
    arity = len(inspect.signature(callback).parameters)
    callback(*(item, dpg.get_value(item), dpg.get_item_user_data(item))[:arity])


def texts_in(item: int | str) -> list[str]:
    """Every text and label shown under an item, depth first."""
    found: list[str] = []
    kind = dpg.get_item_type(item)
    if kind.endswith("mvText"):
        found.append(str(dpg.get_value(item)))
    elif kind.endswith(("mvButton", "mvSelectable")):
        found.append(str(dpg.get_item_label(item)))
    for children in dpg.get_item_children(item).values():
        for child in children:
            found.extend(texts_in(child))
    return found


def go_online(app: App, world: PeerWorld) -> None:
    app.connect("127.0.0.1", world.port, "you", PASSWORD, remember=False)
    app.pump_until(lambda: app.model.phase is Phase.ONLINE, WAIT)


def test_a_message_typed_in_the_app_reaches_another_client(app, world):
    form = app.connect_view
    assert dpg.get_value(form.host) == "127.0.0.1" and dpg.get_value(form.user) == "you"
    dpg.set_value(form.port, str(world.port))
    dpg.set_value(form.password, PASSWORD)
    click(form.button)
    app.pump_until(lambda: app.model.phase is Phase.ONLINE, WAIT)
    composer = app.main.conversation.composer
    dpg.set_value(composer, "hello bob, from the window")
    click(composer)  # Enter in the message box
    got = world.wait_for(ev.MessageReceived).message
    assert (got.sender, got.channel, got.text, got.verified) == (
        "you", "general", "hello bob, from the window", True)
    assert dpg.get_value(composer) == ""
    app.pump_until(lambda: "hello bob, from the window" in texts_in(
        app.main.conversation.messages), WAIT)


def test_a_message_from_another_client_shows_up_with_its_countdown(app, world):
    go_online(app, world)
    world.say("general", "hi you, it's bob")
    messages = app.main.conversation.messages
    app.pump_until(lambda: "hi you, it's bob" in texts_in(messages), WAIT)
    shown = texts_in(messages)
    assert "bob" in shown and "✓" in shown
    assert any(text.startswith(("◷ 9:", "◷ 10:")) for text in shown)
    assert "● " not in shown
    world.say("random", "over here")
    app.pump_until(lambda: "1" in texts_in(app.main.sidebar.channels), WAIT)  # unread badge


def test_a_changed_key_raises_the_warning_until_it_is_accepted(app, world):
    go_online(app, world)
    world.bob_gets_a_new_key()
    toast = app.toasts._slots[0]
    members = app.main.sidebar.members
    app.pump_until(lambda: dpg.is_item_shown(toast["window"])
                   and dpg.get_value(toast["title"]) == "bob's key changed"
                   and "⚠ changed" in texts_in(members), WAIT)
    click(toast["act"])  # "Check safety number"
    dialog = app.safety_dialog
    app.pump_until(lambda: dpg.is_item_shown(dialog.window)
                   and dpg.is_item_shown(dialog.accept)
                   and len(str(dpg.get_value(dialog.number))) == 71, WAIT)
    assert not dpg.is_item_shown(dialog.verify)
    click(dialog.accept)
    app.pump_until(lambda: "pinned" in texts_in(members)
                   and "⚠ changed" not in texts_in(members), WAIT)
    assert not any(t.kind == "key_changed" for t in app.model.toasts.visible())


def test_a_screenshot_of_the_app_in_use_is_a_real_picture(app, world, tmp_path):
    go_online(app, world)
    world.say("general", "smile")
    app.pump_until(lambda: "smile" in texts_in(app.main.conversation.messages), WAIT)
    path = tmp_path / "shot.png"
    app.save_screenshot(path)
    picture = summarize_png(path)
    assert (picture.width, picture.height) == (dpg.get_viewport_client_width(),
                                               dpg.get_viewport_client_height())
    assert not picture.blank and picture.colours > 500


CLOSING_SCRIPT = """
import sys
from pathlib import Path
from gossip.ui.app import App
from gossip.ui.bridge import Bridge
from gossip.ui.model import Phase
from gossip.ui.settings import Settings

port, password, profiles = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
app = App(Settings(user="you"), Bridge(), profile_root=profiles)
app.open()
app.connect("127.0.0.1", port, "you", password, remember=False)
app.pump_until(lambda: app.model.phase is Phase.ONLINE)
app.quit()
assert not app.step()
app.close()
assert not app.bridge.running
print("closed")
"""


def test_closing_the_window_leaves_the_hub_and_stops_the_actors(display, world, tmp_path):
    # A process of its own: the shared window stays open for the other tests.
    done = subprocess.run(
        [sys.executable, "-c", CLOSING_SCRIPT, str(world.port), PASSWORD, str(tmp_path)],
        env={**os.environ, "DISPLAY": display}, capture_output=True, text=True, timeout=60,
        check=False)
    assert done.returncode == 0 and done.stdout.strip() == "closed", done.stderr
    world.wait_for(ev.MemberJoined, lambda e: e.user == "you")
    assert world.wait_for(ev.MemberLeft).user == "you"  # it left; it did not just vanish


def run_gossip(args: list[str], env: dict[str, str], timeout: float = 60
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gossip", *args], env=env, timeout=timeout,
                          capture_output=True, text=True, check=False)


def private_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               **extra)
    return env


def test_the_demo_writes_a_screenshot_of_the_app_and_quits_by_itself(display, tmp_path):
    shot = tmp_path / "shot.png"
    done = run_gossip(["--demo", "--screenshot", str(shot), "--quit-after", "12"],
                      private_env(tmp_path, DISPLAY=display))
    assert done.returncode == 0, done.stderr
    picture = summarize_png(shot)
    assert not picture.blank and picture.colours > 1000
    assert not (tmp_path / "config").exists()  # the demo leaves no settings behind


def test_without_a_display_the_demo_runs_in_the_terminal(tmp_path):
    done = run_gossip(["--demo", "--quit-after", "2"], private_env(tmp_path))
    assert done.returncode == 0
    assert "no display" in done.stderr and "xvfb-run" in done.stderr
    assert "demo hub on 127.0.0.1:" in done.stdout
