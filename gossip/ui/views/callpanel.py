"""The right column: the call. Join/leave, mute, deafen, camera, each peer's identity trust
(a badge as in the member list: a newcomer or a changed key stands out) apart from their
link, volume and level meter, and the audio devices. Levels change a few times a second:
the meters are updated in place, and the rows are rebuilt only when who is in the call (or
their link or trust) changes, so a slider being dragged is never pulled out from under the
mouse."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from .. import intents
from .. import viewmodel as vm
from ..devicechoice import device_setting
from ..model import AppModel
from .base import AppActions

WIDTH = 280
# Dear PyGui's style sizes (themes.py) that make up a checkbox's width beside its label.
SWITCH_FRAME_PADDING = 5
SWITCH_INNER_SPACING = 4
SWITCH_SPACING = 8
PANEL_SCROLLBAR = 11


class CallPanel:
    def __init__(self, app: AppActions, parent: int | str) -> None:
        self._app = app
        self._version: tuple[int, int, str | None] | None = None
        self._layout: tuple[tuple[str, str, str], ...] | None = None
        self._devices: tuple[object, ...] | None = None
        self.meters: dict[str, int | str] = {}
        self.sliders: dict[str, int | str] = {}
        self.width = WIDTH  # reflow.py decides it
        self._needs: dict[float, int] = {}
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
                self.camera = dpg.add_checkbox(label="Camera", callback=self._camera)
            with dpg.tooltip(self.camera):
                self.camera_tip = dpg.add_text("")
            self.own_meter = dpg.add_progress_bar(default_value=0.0, width=-1, height=16,
                                                  overlay="")
            themes.bind(self.own_meter, "meter")
            with dpg.tooltip(self.own_meter):
                dpg.add_text("Your microphone, as the others get it")
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
            self.devices_note = dpg.add_text("", wrap=WIDTH - 30)
            dpg.bind_item_font(self.devices_note, fonts.small)
            themes.bind(self.devices_note, "dim")
            label = dpg.add_text("Microphone")
            dpg.bind_item_font(label, fonts.small)
            self.input = dpg.add_combo([], width=-1, callback=self._pick_devices)
            label = dpg.add_text("Speakers")
            dpg.bind_item_font(label, fonts.small)
            self.output = dpg.add_combo([], width=-1, callback=self._pick_devices)

    def needed_width(self, scale: float) -> int:
        """The width the row of switches takes at text `scale`: the panel is never narrower,
        so no label is cut off ("Camera" read "Car" at 1.4x in a fixed width)."""
        if scale not in self._needs:
            box = round(16 * scale) + 2 * SWITCH_FRAME_PADDING  # the square is a frame high
            sizes = [dpg.get_text_size(dpg.get_item_label(item) or "")
                     for item in (self.mute, self.deafen, self.camera)]
            if None in sizes:
                return 0  # fonts are measured once the first frame is drawn
            row = sum(size[0] * scale + box + SWITCH_INNER_SPACING for size in sizes)
            self._needs[scale] = int(row) + 2 * SWITCH_SPACING + PANEL_SCROLLBAR + 4
        return self._needs[scale]

    def resize(self, width: int, height: int) -> None:
        dpg.configure_item(self.root, width=width, height=height)
        if width != self.width:
            self.width = width
            for item in (self.status, self.devices_note):
                dpg.configure_item(item, wrap=width - 30)
            self.redraw()

    def redraw(self) -> None:
        self._version = None
        self._layout = None
        self._devices = None

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
            dpg.configure_item(item, enabled=panel.switches_enabled)
        dpg.set_value(self.camera, panel.camera_on)
        dpg.configure_item(self.camera, enabled=panel.camera_enabled)
        dpg.set_value(self.camera_tip, panel.camera_tooltip)
        dpg.set_value(self.own_meter, panel.own_level)
        dpg.configure_item(self.own_meter, show=panel.available,
                           overlay=panel.own_level_text)
        self._update_devices(panel)
        if panel.layout != self._layout:
            self._layout = panel.layout
            self._draw_peers(panel)
        else:
            for peer in panel.peers:
                meter = self.meters[peer.user]
                dpg.set_value(meter, peer.level)
                dpg.configure_item(meter, overlay=peer.level_text)
                dpg.configure_item(self.sliders[peer.user], enabled=panel.controls_enabled)

    def _update_devices(self, panel: vm.CallPanelContent) -> None:
        # Only on a change: re-setting a combo's items closes its list under the user's mouse.
        devices = (panel.input_choices, panel.input_device, panel.output_choices,
                   panel.output_device, panel.devices_enabled, panel.devices_note)
        if devices == self._devices:
            return
        self._devices = devices
        for combo, choices, value in ((self.input, panel.input_choices, panel.input_device),
                                      (self.output, panel.output_choices,
                                       panel.output_device)):
            dpg.configure_item(combo, items=list(choices), enabled=panel.devices_enabled)
            dpg.set_value(combo, value)
        dpg.set_value(self.devices_note, panel.devices_note)
        dpg.configure_item(self.devices_note, show=bool(panel.devices_note))

    def _draw_peers(self, panel: vm.CallPanelContent) -> None:
        themes, fonts = self._app.themes, self._app.fonts
        palette = themes.palette
        dpg.delete_item(self.peers, children_only=True)
        self.meters, self.sliders = {}, {}
        if not panel.peers:
            empty = dpg.add_text("Nobody yet." if panel.controls_enabled else
                                 "Join to see who is talking: each person with a volume "
                                 "slider and a level meter.", wrap=self.width - 30,
                                 parent=self.peers)
            themes.bind(empty, "dim")
            return
        dots = {"ok": palette.ok, "waiting": palette.dim, "failed": palette.danger}
        for peer in panel.peers:
            with dpg.group(parent=self.peers):
                with dpg.group(horizontal=True):
                    dpg.add_text("●" if peer.connected else "○", color=dots[peer.link_kind])
                    dpg.add_text(peer.user)
                    if peer.identity:
                        # Who they are, never implied by the link: clicking opens the
                        # safety number, as in the member list.
                        badge = dpg.add_button(label=peer.identity, small=True,
                                               callback=self._open_safety,
                                               user_data=peer.user)
                        themes.bind(badge, f"badge_{peer.identity_kind}")
                        with dpg.tooltip(badge):
                            dpg.add_text(peer.identity_tip, wrap=WIDTH)
                    link = dpg.add_text(peer.link)
                    dpg.bind_item_font(link, fonts.small)
                    themes.bind(link, "dim")
                meter = dpg.add_progress_bar(default_value=peer.level, overlay=peer.level_text,
                                             width=-1, height=18)
                themes.bind(meter, "meter")
                slider = dpg.add_slider_float(default_value=peer.volume, min_value=0.0,
                                              max_value=2.0, width=-1, format="volume %.2f",
                                              callback=self._volume, user_data=peer.user,
                                              enabled=panel.controls_enabled)
                self.meters[peer.user], self.sliders[peer.user] = meter, slider

    # -- controls: messages to the bridge, which answers with a new CallView --------------------
    def _toggle_call(self) -> None:
        self.toggle_call()

    def toggle_call(self) -> None:
        call = self._app.model.call
        if call.joined:
            self._app.post(intents.LeaveChannelCall())
        elif call.channel is None and self._app.model.current_channel is not None:
            self._app.post(intents.JoinChannelCall(self._app.model.current_channel))

    def _mute(self, sender: object, value: bool) -> None:
        self._app.post(intents.ChooseMuted(bool(value)))

    def _deafen(self, sender: object, value: bool) -> None:
        self._app.post(intents.ChooseDeafened(bool(value)))

    def _camera(self, sender: object, value: bool) -> None:
        self._app.post(intents.ChooseVideo(bool(value)))

    def _open_safety(self, sender: object, app_data: object, user: str) -> None:
        self._app.open_safety(user)

    def _volume(self, sender: object, value: float, user: str) -> None:
        self._app.post(intents.ChoosePeerVolume(user, float(value)))

    def _pick_devices(self) -> None:
        chosen = [device_setting(str(dpg.get_value(item))) for item in (self.input, self.output)]
        self._app.select_devices(chosen[0], chosen[1])
