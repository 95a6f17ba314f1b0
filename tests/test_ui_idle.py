"""Rendering on demand: the app draws no frame while nothing changes, and wakes for what does —
a notice from the trio side, input on the display, a countdown or toast coming due. The pacing
rules are checked as pure functions; the wakes in the real window on a private X display."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time
from dataclasses import replace

import pytest

from gossip.ui.model import AppModel, Phase
from gossip.ui.pacing import (
    ACTIVE_AFTER_INPUT,
    LONGEST_SLEEP,
    SETTLE_FRAMES,
    TIMER_GAP,
    RenderMode,
    RenderPacer,
    countdown_changes_at,
    next_picture_change,
)
from gossip.ui.toasts import ToastBoard
from gossip.ui.wakeup import Wakeup, Woken, sleep_until_woken

from .appwindow import WAIT, go_online, texts_in

FULL_RATE = 60
STEPS = 200  # frames any one wait below may take, at most


# -- the rules, without a window -------------------------------------------------------------------

def test_a_countdown_changes_each_second_under_an_hour_each_minute_under_a_day():
    assert countdown_changes_at(100.0, 57.5) == pytest.approx(57.999 + 0.01)  # 0:43 -> 0:42
    # 2h 05m 30s left: "2h 05m" until 2h 05m 00s is left.
    assert countdown_changes_at(10_000.0, 10_000.0 - 7530) == pytest.approx(
        10_000.0 - 7500 + 0.999 + 0.01)
    # 2 days 3 h 20 min left: the hour digit changes at 2 days 3 h.
    assert countdown_changes_at(1e6, 1e6 - (2 * 86400 + 3 * 3600 + 1200)) == pytest.approx(
        1e6 - (2 * 86400 + 3 * 3600) + 0.999 + 0.01)


def test_the_next_picture_change_is_the_soonest_countdown_toast_or_reconnect_tick():
    model = AppModel()
    assert next_picture_change(model, 1000.0) is None  # nothing on screen moves by itself
    model.toasts = ToastBoard()
    model.toasts.push("info", "hello", "", 1000.0)  # leaves after 5 s
    assert next_picture_change(model, 1001.0) == pytest.approx(1005.0)
    model.toasts.push("error", "stays", "", 1000.0, sticky=True)
    assert next_picture_change(model, 1001.0) == pytest.approx(1005.0)
    model.phase, model.reconnect_at = Phase.RECONNECTING, 1003.2
    assert next_picture_change(model, 1001.0) == pytest.approx(1003.2 + 0.999 - 3 + 0.01)


def test_the_pacer_sleeps_only_when_nothing_happened_lately():
    pacer = RenderPacer()
    pacer.start(now=0.0)
    assert pacer.sleep_for(0.5, due=None) is None  # just opened: full rate
    for _ in range(SETTLE_FRAMES):
        pacer.frame_drawn(now=1.5, input_seen=False, changed=False)
    assert pacer.sleep_for(1.5, due=None) == LONGEST_SLEEP
    pacer.frame_drawn(now=2.0, input_seen=False, changed=True)  # a notice: a few frames
    assert pacer.sleep_for(2.0, due=None) is None
    for _ in range(SETTLE_FRAMES):
        pacer.frame_drawn(now=2.0, input_seen=False, changed=False)
    assert pacer.sleep_for(2.0, due=5.0) == pytest.approx(3.0)  # until the timer
    pacer.frame_drawn(now=3.0, input_seen=True, changed=False)  # input: full rate a while
    assert pacer.sleep_for(3.0 + ACTIVE_AFTER_INPUT / 2, due=None) is None
    for _ in range(SETTLE_FRAMES):
        pacer.frame_drawn(now=4.5, input_seen=False, changed=False)
    assert pacer.sleep_for(3.0 + ACTIVE_AFTER_INPUT + 0.1, due=None) is not None


def test_timer_wakes_come_at_most_once_a_gap_and_the_old_loop_never_sleeps():
    pacer = RenderPacer(settle_left=0)
    pacer.woke(Woken.TIMER, 10.0)
    # Another countdown, out of step with the first, is redrawn with the next one's tick.
    assert pacer.sleep_for(10.2, due=10.3) == pytest.approx(10.0 + TIMER_GAP - 10.2)
    assert RenderPacer(RenderMode.ALWAYS, settle_left=0).sleep_for(10.0, due=None) is None
    blind = RenderPacer(sees_input=False, settle_left=0)  # no display socket to sleep on
    assert blind.sleep_for(10.0, due=None) < 1.0


def test_a_poke_from_another_thread_ends_the_sleep_and_a_timeout_is_a_timer():
    wakeup = Wakeup()
    try:
        assert sleep_until_woken(wakeup, None, 0.0) is Woken.TIMER
        poker = threading.Thread(target=wakeup.poke)
        poker.start()
        assert sleep_until_woken(wakeup, None, WAIT) is Woken.POKE
        poker.join()
        assert wakeup.take() is True
        assert wakeup.take() is False  # taken: the next sleep lasts
        assert sleep_until_woken(wakeup, None, 0.0) is Woken.TIMER
        for _ in range(5):  # pokes while one is pending are one wake
            wakeup.poke()
        assert sleep_until_woken(wakeup, None, WAIT) is Woken.POKE
        wakeup.take()
        assert sleep_until_woken(wakeup, None, 0.0) is Woken.TIMER
    finally:
        wakeup.close()


# -- the real window ---------------------------------------------------------------------------


def settle(app) -> None:
    """Draw frames on demand until the app would sleep before the next one."""
    for _ in range(STEPS):
        if app.pacer.sleep_for(time.monotonic(), None) is not None:
            return
        app.step(on_demand=True)
    raise AssertionError("the app never came to rest")


def test_a_message_from_the_trio_side_is_drawn_without_any_input(app, world):
    go_online(app, world)
    settle(app)
    wakes = dict(app.pacer.wakes)
    world.say("general", "written while the window slept")
    for _ in range(STEPS):
        app.step(on_demand=True)
        if "written while the window slept" in texts_in(app.main.conversation.messages):
            break
    else:
        raise AssertionError("the message was never drawn")
    assert app.pacer.wakes[Woken.POKE] > wakes[Woken.POKE]  # the notice woke it
    assert app.pacer.wakes[Woken.INPUT] == wakes[Woken.INPUT]  # nobody touched anything


def test_an_idle_app_draws_far_fewer_frames_than_the_full_rate(app, world):
    go_online(app, world)
    settle(app)
    frames, started = app.frames, time.monotonic()
    until = started + 3.0
    for _ in range(STEPS):
        if time.monotonic() >= until:
            break
        app.step(on_demand=True, until=until)
    elapsed = time.monotonic() - started
    drawn = app.frames - frames
    # An upper bound on a count: a slower machine draws fewer frames, never more.
    assert drawn <= FULL_RATE * elapsed / 10, f"{drawn} frames in {elapsed:.1f} s at rest"
    assert app.model.phase is Phase.ONLINE


def _xtest():
    x11_name, xtst_name = ctypes.util.find_library("X11"), ctypes.util.find_library("Xtst")
    if x11_name is None or xtst_name is None:
        pytest.skip("libX11/libXtst are not installed: no way to make input")
    x11, xtst = ctypes.CDLL(x11_name), ctypes.CDLL(xtst_name)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                          ctypes.c_int, ctypes.c_ulong]
    return x11, xtst


def test_input_on_the_display_wakes_a_resting_window(app, world):
    x11, xtst = _xtest()
    if app.display_socket is None:
        pytest.fail("the window's X connection was not found: input could not wake it")
    go_online(app, world)
    settle(app)
    connection = x11.XOpenDisplay(os.environ["DISPLAY"].encode())
    assert connection, "cannot open the test display"
    wakes = dict(app.pacer.wakes)
    try:
        for step in range(STEPS):
            # The pointer moves over the window (it spans the middle of the screen).
            xtst.XTestFakeMotionEvent(connection, -1, 500 + step % 40, 400, 0)
            x11.XFlush(connection)
            app.step(on_demand=True)
            if app.pacer.wakes[Woken.INPUT] > wakes[Woken.INPUT]:
                break
    finally:
        x11.XCloseDisplay(connection)
    assert app.pacer.wakes[Woken.INPUT] > wakes[Woken.INPUT]
    # Input keeps the window at full rate for a moment: clicks and hover feel live.
    assert app.pacer.sleep_for(time.monotonic(), None) is None


XK_F8 = 0xFFC5


def _hold_f8_over(app, x: int, y: int) -> None:
    """Press F8 with the pointer at (x, y) of the test display, then let it go; each time
    until the call side says the talk key is held, then not (the keyboard follows the
    pointer without a window manager)."""
    x11, xtst = _xtest()
    x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XKeysymToKeycode.restype = ctypes.c_ubyte
    xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                                       ctypes.c_ulong]
    connection = x11.XOpenDisplay(os.environ["DISPLAY"].encode())
    assert connection, "cannot open the test display"
    keycode = x11.XKeysymToKeycode(connection, XK_F8)
    try:
        for down in (True, False):
            xtst.XTestFakeMotionEvent(connection, -1, x, y, 0)
            xtst.XTestFakeKeyEvent(connection, keycode, int(down), 0)
            x11.XFlush(connection)
            app.pump_until(lambda down=down: app.model.call.talk_key_held is down, WAIT)
    finally:
        xtst.XTestFakeKeyEvent(connection, keycode, 0, 0)
        x11.XCloseDisplay(connection)


def test_holding_the_talk_key_in_the_window_is_push_to_talk(app, world):
    assert app.settings.talk_key == "F8"
    _hold_f8_over(app, 500, 400)


def test_in_push_to_talk_the_talk_key_works_over_other_windows_too(app, world):
    """Outside the window (the pointer over the bare desktop, where X sends the keys without
    a window manager) the window's own handlers see nothing: the desktop-wide listener does.
    It runs only in push-to-talk mode."""
    assert not app.global_talk.listening  # continuous mode: nothing listens outside
    before = app.settings
    app.apply_settings(replace(before, transmit="ptt"))
    try:
        assert app.global_talk.listening, app.global_talk.status
        _hold_f8_over(app, 1800, 1000)  # off the 1240×800 window
    finally:
        app.apply_settings(before)
    # Stopped, its thread has ended (not waiting for a next key, as pynput's alone would).
    assert not app.global_talk.listening and app.global_talk.join_stopped(0)
