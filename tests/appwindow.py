"""Helpers shared by the app's window tests: the one window on one private X display
(Dear PyGui allows a single viewport per process), a hub with the user "bob" on a trio thread
of its own, and reading what the window shows."""

from __future__ import annotations

import inspect
import os
import queue
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
from gossip.ui.settings import Settings
from gossip.ui.trioside.callcontrol import CallSetup

from .conftest import PASSWORD
from .faultproxy import FaultProxy
from .virtual_display import virtual_display

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
        name = stack.enter_context(virtual_display(1920, 1080))
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

    def call_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A plain function on the world's trio thread (e.g. a FaultProxy's switches)."""
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def fault_proxy(self) -> FaultProxy:
        """A FaultProxy in front of the hub, running on the world's thread (switch its faults
        with `call_sync`)."""
        async def start() -> FaultProxy:
            return await self._nursery.start(FaultProxy(self.port).run)
        return self.call(start)

    def say(self, channel: str, text: str) -> None:
        async def say() -> None:
            assert self._bob is not None
            await self._bob.ref.ask(SendChat(channel, text, 600))
        self.call(say)

    def ask(self, request: Any) -> Any:
        """Bob's session answers a request (SendChat, EditChat, React …)."""
        async def ask() -> Any:
            assert self._bob is not None
            return await self._bob.ref.ask(request)
        return self.call(ask)

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
