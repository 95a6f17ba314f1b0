"""The right column: the voice call. Join/leave, mute, deafen, each peer's volume and level
meter, and the audio devices. Until call actors exist the controls are shown disabled, with
the reason, rather than pretending."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from .. import commands as cmd
from .. import viewmodel as vm
from ..model import AppModel
from .base import AppActions

WIDTH = 280


class CallPanel:
    def __init__(self, app: AppActions, parent: int | str) -> None:
        self._app = app
        self._version: tuple[int, int, str | None] | None = None
        self._peer_items: dict[str, tuple[int | str, int | str]] = {}
        themes, fonts = app.themes, app.fonts
        with dpg.child_window(parent=parent, width=-1, height=-38, border=False) as self.root:
            themes.bind(self.root, "panel")
            self.title = dpg.add_text("Voice")
            dpg.bind_item_font(self.title, fonts.title)
            self.status = dpg.add_text("", wrap=WIDTH - 30)
            themes.bind(self.status, "dim")
            dpg.add_spacer(height=2)
            self.join = dpg.add_button(label="Join call", width=-1, height=36,
                                       callback=self._toggle_call)
            themes.bind(self.join, "accent_button")
            with dpg.group(horizontal=True):
                self.mute = dpg.add_checkbox(label="Mute", callback=self._mute)
                self.deafen = dpg.add_checkbox(label="Deafen", callback=self._deafen)
            self.own_meter = dpg.add_progress_bar(default_value=0.0, width=-1, height=8,
                                                  overlay="")
            themes.bind(self.own_meter, "meter")
            dpg.add_separator()
            heading = dpg.add_text("IN THE CALL")
            dpg.bind_item_font(heading, fonts.small)
            themes.bind(heading, "dim")
            self.peers = dpg.add_group()
            dpg.add_spacer(height=6)
            dpg.add_separator()
            heading = dpg.add_text("AUDIO DEVICES")
            dpg.bind_item_font(heading, fonts.small)
            themes.bind(heading, "dim")
            label = dpg.add_text("Microphone")
            dpg.bind_item_font(label, fonts.small)
            self.input = dpg.add_combo([], width=-1, callback=self._devices)
            label = dpg.add_text("Speakers")
            dpg.bind_item_font(label, fonts.small)
            self.output = dpg.add_combo([], width=-1, callback=self._devices)

    def redraw(self) -> None:
        self._version = None

    def update(self, model: AppModel) -> None:
        version = (model.call_version, model.status_version, model.current_channel)
        if version == self._version:
            return
        self._version = version
        panel = vm.call_panel(model)
        dpg.set_value(self.title, panel.title)
        dpg.set_value(self.status, panel.status)
        dpg.configure_item(self.join, label=panel.join_label, enabled=panel.can_join)
        for item, state in ((self.mute, panel.muted), (self.deafen, panel.deafened)):
            dpg.set_value(item, state)
            dpg.configure_item(item, enabled=panel.controls_enabled)
        dpg.set_value(self.own_meter, panel.own_level)
        dpg.configure_item(self.own_meter, show=panel.available)
        for combo, choices, value in ((self.input, panel.input_choices, panel.input_device),
                                      (self.output, panel.output_choices,
                                       panel.output_device)):
            dpg.configure_item(combo, items=list(choices), enabled=panel.available)
            dpg.set_value(combo, value)
        self._draw_peers(panel)

    def _draw_peers(self, panel: vm.CallPanel) -> None:
        themes = self._app.themes
        dpg.delete_item(self.peers, children_only=True)
        self._peer_items = {}
        if not panel.peers:
            empty = dpg.add_text("Nobody yet." if panel.available else
                                 "Calls light up here: each person with a volume "
                                 "slider and a level meter.", wrap=WIDTH - 30,
                                 parent=self.peers)
            themes.bind(empty, "dim")
            return
        for peer in panel.peers:
            with dpg.group(parent=self.peers):
                with dpg.group(horizontal=True):
                    dpg.add_text("●" if peer.connected else "○",
                                 color=themes.palette.ok if peer.connected
                                 else themes.palette.dim)
                    dpg.add_text(peer.user)
                meter = dpg.add_progress_bar(default_value=peer.level, overlay=peer.level_text,
                                             width=-1, height=12)
                themes.bind(meter, "meter")
                slider = dpg.add_slider_float(default_value=peer.volume, min_value=0.0,
                                              max_value=2.0, width=-1, format="volume %.2f",
                                              callback=self._volume, user_data=peer.user,
                                              enabled=panel.controls_enabled)
                self._peer_items[peer.user] = (meter, slider)

    # -- controls: messages to the bridge, which answers with a new CallView --------------------
    def _toggle_call(self) -> None:
        self.toggle_call()

    def toggle_call(self) -> None:
        model = self._app.model
        if model.call.joined:
            self._app.post(cmd.LeaveCall())
        elif model.current_channel is not None:
            self._app.post(cmd.JoinCall(model.current_channel))

    def _mute(self, sender: object, value: bool) -> None:
        self._app.post(cmd.SetMuted(bool(value)))

    def _deafen(self, sender: object, value: bool) -> None:
        self._app.post(cmd.SetDeafened(bool(value)))

    def _volume(self, sender: object, value: float, user: str) -> None:
        self._app.post(cmd.SetPeerVolume(user, float(value)))

    def _devices(self) -> None:
        default = "System default"
        chosen = [str(dpg.get_value(item)) for item in (self.input, self.output)]
        self._app.post(cmd.SelectDevices(*("" if c == default else c for c in chosen)))
