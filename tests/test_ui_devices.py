"""Devices are picked the same way everywhere and apply at once: Settings offers the sound
devices as the call panel's drop-downs do (a chosen device that is unplugged stays listed, one
plugged in while it is open shows up),
saving a new device or video source reaches the call side without a restart, and a call's
video source can be swapped while it runs."""

from __future__ import annotations

from dataclasses import replace

import dearpygui.dearpygui as dpg
import pytest

from gossip.media.video import NoneSource, PatternSource
from gossip.ui import intents
from gossip.ui.devicechoice import DEFAULT_DEVICE, device_choices, device_setting
from gossip.ui.toasts import ToastBoard
from gossip.ui.trioside.callvideo import SwitchableVideo

from .appwindow import WAIT, click


def test_the_choices_start_with_the_default_and_keep_an_unplugged_choice():
    assert device_choices(("Desk mic",), "") == (DEFAULT_DEVICE, "Desk mic")
    assert device_choices(("Desk mic",), "USB mic") == (DEFAULT_DEVICE, "Desk mic", "USB mic")
    assert device_setting(DEFAULT_DEVICE) == "" and device_setting("Desk mic") == "Desk mic"


def test_a_calls_video_source_is_swapped_while_it_runs_and_keeps_its_size():
    video = SwitchableVideo(NoneSource(64, 48, 15))
    assert not video.read().any()
    old = video.swap(PatternSource(64, 48, 15))
    old.close()
    assert video.read().shape == (48, 64, 3) and video.read().any()
    with pytest.raises(ValueError, match="cannot replace"):
        video.swap(PatternSource(128, 96, 15))


def test_settings_offer_the_panels_devices_and_apply_them_and_the_video_source_live(window):
    app = window
    before = app.settings
    panel = app.main.call
    app.pump_until(lambda: app.model.call.available, WAIT)  # the call side has reported
    # What PortAudio would list here (the test machine has no sound card).
    app.model.set_call(replace(app.model.call, input_devices=("Desk mic",)))
    try:
        app.open_settings()
        dialog = app.settings_dialog
        app.pump_until(
            lambda: (
                dpg.is_item_shown(dialog.window)
                and "Desk mic" in dpg.get_item_configuration(panel.input)["items"]
            ),
            WAIT,
        )
        for combo, panel_combo in ((dialog.input, panel.input), (dialog.output, panel.output)):
            assert dpg.get_item_type(combo).endswith("mvCombo")  # not free text
            assert (
                dpg.get_item_configuration(combo)["items"]
                == dpg.get_item_configuration(panel_combo)["items"]
            )
        dpg.set_value(dialog.input, "Desk mic")
        # A headset plugged in while the dialog is open shows up in it; the pick stays.
        app.model.set_call(replace(app.model.call, input_devices=("Desk mic", "Headset")))
        app.pump_until(lambda: "Headset" in dpg.get_item_configuration(dialog.input)["items"],
                       WAIT)
        assert dpg.get_value(dialog.input) == "Desk mic"
        dpg.set_value(dialog.video, "Test pattern")
        click(dialog.save_button)
        # The call side took both, without a restart: the panel shows what it now uses.
        app.pump_until(
            lambda: (
                app.model.call.input_device == "Desk mic"
                and app.model.call.video_source == "pattern"
            ),
            WAIT,
        )
        app.pump_until(lambda: dpg.get_value(panel.input) == "Desk mic", WAIT)
        assert dpg.is_item_enabled(panel.camera)  # there is a source to turn on now
    finally:
        app.post(intents.ChooseDevices("", ""))
        app.post(intents.ChooseVideoSource("none"))
        app.pump_until(
            lambda: app.model.call.video_source == "none" and app.model.call.input_device == "",
            WAIT,
        )
        app.settings = before
        app.model.toasts = ToastBoard()
