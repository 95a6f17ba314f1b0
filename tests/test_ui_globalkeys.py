"""The desktop-wide talk key: one change per press and per release, X's auto-repeat (a
release and a press at once) does not let go of the microphone, and where the desktop keeps
keys to the window in front we say so instead of listening."""

from __future__ import annotations

import threading

from gossip.ui.globalkeys import GlobalTalkKey, desktop_refusal

F8 = object()  # stands for pynput's key: only identity matters


def _listening_for_f8() -> tuple[GlobalTalkKey, list[bool], threading.Event]:
    changes: list[bool] = []
    let_go = threading.Event()

    def changed(held: bool) -> None:
        changes.append(held)
        if not held:
            let_go.set()

    talk = GlobalTalkKey(changed)
    talk._key = F8  # as start() sets it, without a display
    talk._listener = object()  # listening (as far as its callbacks can tell)
    return talk, changes, let_go


def test_auto_repeat_keeps_the_key_held_and_a_real_release_lets_go():
    talk, changes, let_go = _listening_for_f8()
    talk._pressed(F8)
    for _ in range(5):  # X repeats a held key as release-and-press pairs
        talk._released(F8)
        talk._pressed(F8)
    talk._pressed(object())  # another key: nothing
    assert changes == [True]
    talk._released(F8)
    assert let_go.wait(5)
    assert changes == [True, False]


def test_stopping_lets_go_of_a_held_key_once():
    talk, changes, _ = _listening_for_f8()
    talk._pressed(F8)
    talk._released(F8)  # not settled yet
    talk._listener = None  # (stop() stops a real listener: see test_ui_idle.py)
    talk.stop()
    talk.stop()
    assert changes == [True, False]
    talk._pressed(F8)  # a stopped listener's thread may still call: nothing happens
    assert changes == [True, False]


def test_where_the_desktop_keeps_keys_to_the_front_window_we_say_so():
    assert desktop_refusal({"DISPLAY": ":0"}) is None
    assert "Wayland" in (desktop_refusal({"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"}) or "")
    assert "Wayland" in (desktop_refusal({"WAYLAND_DISPLAY": "wayland-0"}) or "")
    assert "no X display" in (desktop_refusal({}) or "")
    talk = GlobalTalkKey(lambda held: None)
    assert not talk.listening and talk.status == "off"
