"""The desktop app in a real window on a private X display (Xvfb), against a real hub: what a
user types reaches another client, what others send shows up, a changed key is flagged, and
the screenshots are real pictures. Each test drives the app frame by frame from this thread
and waits on the app's own state, with a bound."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import dearpygui.dearpygui as dpg

from gossip.client import events as ev
from gossip.fsm.reconnect import BackoffPolicy
from gossip.ui.model import Phase

from .appwindow import (
    WAIT,
    click,
    go_online,
    texts_in,
)
from .conftest import PASSWORD
from .pngcheck import summarize_png


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


def test_in_the_background_a_message_counts_in_the_title_and_notifies(app, world):
    """The window's focus as GLFW tracks it (X11 FocusOut/FocusIn): taken away, a message
    in the open channel shows as "(1)" in the title and is handed to the notifier."""
    go_online(app, world)
    app.pump_until(lambda: dpg.get_viewport_title() == "Gossip — general", WAIT)
    assert app.focus.focused() is True
    glfw, xlib, display = _x11()
    xlib.XSetInputFocus(display, 0, 0, 0)  # focus to no window: ours loses it
    xlib.XFlush(display)
    app.pump_until(lambda: app.focus.focused() is False, WAIT)
    notified = app.alerts.notified
    world.say("general", "while you were away")
    app.pump_until(lambda: dpg.get_viewport_title() == "(1) Gossip — general", WAIT)
    assert app.alerts.notified == notified + 1
    glfw.glfwFocusWindow(glfw.glfwGetCurrentContext())
    app.pump_until(lambda: dpg.get_viewport_title() == "Gossip — general", WAIT)


def _x11() -> tuple[ctypes.CDLL, ctypes.CDLL, ctypes.c_void_p]:
    """GLFW (in Dear PyGui's module), Xlib, and the window's X display."""
    import dearpygui._dearpygui as core

    glfw = ctypes.CDLL(core.__file__)
    glfw.glfwGetX11Display.restype = ctypes.c_void_p
    glfw.glfwGetCurrentContext.restype = ctypes.c_void_p
    glfw.glfwFocusWindow.argtypes = [ctypes.c_void_p]
    xlib = ctypes.CDLL(ctypes.util.find_library("X11"))
    xlib.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int,
                                    ctypes.c_ulong]
    xlib.XFlush.argtypes = [ctypes.c_void_p]
    return glfw, xlib, ctypes.c_void_p(glfw.glfwGetX11Display())


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


def test_voice_settings_are_chosen_in_the_dialog_and_reach_the_call_side(app, world):
    before = app.settings
    app.open_settings()
    dialog = app.settings_dialog
    app.pump_until(lambda: dpg.is_item_shown(dialog.window), WAIT)
    assert all(dpg.get_value(box) for box in dialog.stages.values())  # on by default
    assert dpg.get_value(dialog.transmit) == "sending continuously"
    dpg.set_value(dialog.stages["echo_cancellation"], False)
    dpg.set_value(dialog.transmit, "push-to-talk")
    dpg.set_value(dialog.talk_key, "F9")
    click(dialog.save_button)
    try:
        assert not app.settings.echo_cancellation and app.settings.noise_suppression
        assert (app.settings.transmit, app.settings.talk_key) == ("ptt", "F9")
        # The transmit mode reaches the call side at once (shown by the call panel).
        app.pump_until(lambda: app.model.call.transmit == "ptt", WAIT)
    finally:
        app.apply_settings(before)
    app.pump_until(lambda: app.model.call.transmit == "continuous", WAIT)


def test_retry_now_shows_only_while_reconnecting_and_cuts_the_backoff_short(
        app, world, monkeypatch):
    # A hub away long enough that the backoff reached ten minutes: only "Retry now" can bring
    # the app back within the test's bounded waits.
    monkeypatch.setattr(BackoffPolicy, "delay", lambda self, failures, draw: 600.0)
    proxy = world.fault_proxy()
    app.connect("127.0.0.1", proxy.port, "you", PASSWORD, remember=False)
    app.pump_until(lambda: app.model.phase is Phase.ONLINE, WAIT)
    bar = app.main.status
    assert not dpg.is_item_shown(bar.retry)  # online: nothing to retry

    world.call_sync(proxy.refuse_for, 600.0)
    world.call_sync(proxy.cut_all)
    app.pump_until(lambda: dpg.is_item_shown(bar.retry), WAIT)
    assert app.model.phase is Phase.RECONNECTING
    countdown = dpg.get_value(bar.state).split()
    assert countdown[:2] == ["Reconnecting", "in"] and int(countdown[2]) > 500

    world.call_sync(proxy.refuse_for, 0.0)  # the hub is reachable again
    click(bar.retry)
    app.pump_until(lambda: app.model.phase is Phase.ONLINE, WAIT)
    assert not dpg.is_item_shown(bar.retry)
