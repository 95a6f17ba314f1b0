"""Dialogs: the safety number (verify a contact, or accept their changed key), settings, and
the list of keyboard shortcuts. Modal windows built once and shown on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import dearpygui.dearpygui as dpg

from .. import viewmodel as vm
from ..devicechoice import device_choices, device_label, device_setting
from ..intents import AcceptChangedKey, MarkKeyVerified
from ..model import AppModel
from ..settings import FONT_SCALES, THEMES, VOICE_STAGES, Settings, parse_hosts
from ..shortcuts import SHORTCUTS, TALK_KEYS
from ..videosetting import VIDEO_CHOICES, video_label, video_setting
from .base import AppActions


def _centre(window: int | str, width: int, height: int) -> None:
    viewport_w, viewport_h = dpg.get_viewport_client_width(), dpg.get_viewport_client_height()
    dpg.set_item_pos(window, (max(0, (viewport_w - width) // 2),
                              max(0, (viewport_h - height) // 2)))


class SafetyDialog:
    WIDTH, HEIGHT = 560, 340

    def __init__(self, app: AppActions) -> None:
        self._app = app
        self._version = -1
        themes, fonts = app.themes, app.fonts
        with dpg.window(label="Safety number", modal=True, show=False, width=self.WIDTH,
                        height=self.HEIGHT, no_resize=True, no_collapse=True,
                        on_close=lambda: app.close_safety(), no_saved_settings=True) as self.window:
            themes.bind(self.window, "dialog")
            self.title = dpg.add_text("")
            dpg.bind_item_font(self.title, fonts.title)
            self.explanation = dpg.add_text("", wrap=self.WIDTH - 50)
            dpg.add_spacer(height=4)
            self.number = dpg.add_text("")
            dpg.bind_item_font(self.number, fonts.title)
            themes.bind(self.number, "accent_text")
            dpg.add_spacer(height=4)
            self.their = dpg.add_text("")
            self.own = dpg.add_text("")
            for item in (self.their, self.own):
                dpg.bind_item_font(item, fonts.small)
                themes.bind(item, "dim")
            dpg.add_spacer(height=8)
            with dpg.group(horizontal=True):
                self.verify = dpg.add_button(label="They match: mark as verified",
                                             callback=self._verify)
                themes.bind(self.verify, "accent_button")
                self.accept = dpg.add_button(label="Numbers match: accept the new key",
                                             callback=self._accept)
                themes.bind(self.accept, "danger_button")
                close = dpg.add_button(label="Close", callback=lambda: app.close_safety())
                themes.bind(close, "ghost_button")

    def update(self, model: AppModel) -> None:
        if model.safety_version == self._version:
            return
        self._version = model.safety_version
        dialog = vm.safety_dialog(model)
        if dialog is None:
            dpg.configure_item(self.window, show=False)
            return
        dpg.set_value(self.title, dialog.title)
        dpg.set_value(self.explanation, dialog.explanation)
        dpg.set_value(self.number, "\n".join(dialog.number_lines) if dialog.number_lines
                      else "…")
        dpg.set_value(self.their, f"{dialog.user}'s key:  {dialog.their_fingerprint}"
                      if dialog.their_fingerprint else "")
        dpg.set_value(self.own, f"your key:  {dialog.own_fingerprint}"
                      if dialog.own_fingerprint else "")
        dpg.configure_item(self.verify, show=dialog.can_verify, user_data=dialog.user)
        dpg.configure_item(self.accept, show=dialog.can_accept, user_data=dialog.user)
        if not dpg.is_item_shown(self.window):
            _centre(self.window, self.WIDTH, self.HEIGHT)
            dpg.configure_item(self.window, show=True)

    def _verify(self, sender: object, app_data: object, user: str) -> None:
        self._app.post(MarkKeyVerified(user))

    def _accept(self, sender: object, app_data: object, user: str) -> None:
        self._app.post(AcceptChangedKey(user))


STAGE_LABELS = {"echo_cancellation": "Echo cancellation", "noise_suppression": "Noise suppression",
                "gain_control": "Automatic gain", "high_pass": "High-pass filter"}


class SettingsDialog:
    WIDTH, HEIGHT = 470, 850

    def __init__(self, app: AppActions, save: Callable[[Settings], None]) -> None:
        self._app = app
        self._save = save
        self._settings = Settings()
        self._device_lists: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        themes, fonts = app.themes, app.fonts
        with dpg.window(label="Settings", modal=True, show=False, width=self.WIDTH,
                        height=self.HEIGHT, no_resize=True, no_collapse=True,
                        no_saved_settings=True) as self.window:
            themes.bind(self.window, "dialog")
            self._heading("Appearance")
            self.theme = dpg.add_radio_button([name.capitalize() for name in THEMES],
                                              horizontal=True, callback=self._preview_theme)
            self.scale = dpg.add_slider_float(label="Text size", min_value=FONT_SCALES[0],
                                              max_value=FONT_SCALES[1], format="%.1f×",
                                              width=220)
            hint = dpg.add_text("A new text size applies at once; the layout follows it.")
            dpg.bind_item_font(hint, fonts.small)
            themes.bind(hint, "dim")
            self._heading("Defaults")
            self.user = dpg.add_input_text(label="User name", width=220)
            self.host = dpg.add_input_text(label="Hub", width=220)
            self.port = dpg.add_input_int(label="Port", width=220, min_value=1,
                                          max_value=65535, min_clamped=True, max_clamped=True)
            self.expiry = dpg.add_combo([label for label, _ in vm.EXPIRY_CHOICES],
                                        label="Messages expire after", width=220)
            self.remember = dpg.add_checkbox(label="Remember the password")
            self.notify = dpg.add_checkbox(
                label="Desktop notifications while the window is in the background")
            self.ring = dpg.add_checkbox(label="...with a ring when a call starts")
            self.pictures = dpg.add_checkbox(
                label="Show small pictures as they arrive (fetch those of 2 MB or less)")
            self._heading("Calls")
            # The devices the call panel offers, picked the same way.
            self.input = dpg.add_combo([], label="Microphone", width=220)
            self.output = dpg.add_combo([], label="Speakers", width=220)
            self.ice_hosts = dpg.add_input_text(label="Call addresses", width=220,
                                                hint="automatic")
            hint = dpg.add_text("IP addresses calls offer to others, e.g. 192.168.1.20. "
                                "Automatic: every interface (only loopback for a hub on "
                                "this machine).", wrap=self.WIDTH - 50)
            dpg.bind_item_font(hint, fonts.small)
            themes.bind(hint, "dim")
            self.video = dpg.add_combo([label for label, _ in VIDEO_CHOICES], label="Video",
                                       width=220)
            hint = dpg.add_text("What the Camera switch in a call sends. Automatic: your "
                                "camera, if this computer has one. Applies at once, also "
                                "in a call.", wrap=self.WIDTH - 50)
            dpg.bind_item_font(hint, fonts.small)
            themes.bind(hint, "dim")
            self.stages: dict[str, int | str] = {}
            for row in (VOICE_STAGES[:2], VOICE_STAGES[2:]):
                with dpg.group(horizontal=True):
                    for stage in row:
                        self.stages[stage] = dpg.add_checkbox(label=STAGE_LABELS[stage])
            with dpg.group(horizontal=True):
                self.transmit = dpg.add_combo(list(vm.TRANSMIT_WORDS.values()), label="Send",
                                              width=180)
                self.talk_key = dpg.add_combo(list(TALK_KEYS), label="Talk key", width=70)
                self.global_talk_key = dpg.add_checkbox(label="in other windows too")
            hint = dpg.add_text("Microphone processing runs on a real microphone (echo "
                                "cancellation also needs speakers). Push-to-talk: hold the "
                                "talk key in this window, and in other windows too where the "
                                "desktop allows it (X11). Applies from the next call.",
                                wrap=self.WIDTH - 50)
            dpg.bind_item_font(hint, fonts.small)
            themes.bind(hint, "dim")
            self.talk_key_reach = dpg.add_text("", wrap=self.WIDTH - 50)
            dpg.bind_item_font(self.talk_key_reach, fonts.small)
            themes.bind(self.talk_key_reach, "dim")
            self.problem = dpg.add_text("", show=False, wrap=self.WIDTH - 50)
            themes.bind(self.problem, "error_text")
            dpg.add_spacer(height=10)
            with dpg.group(horizontal=True):
                self.save_button = dpg.add_button(label="Save", width=110,
                                                  callback=self._apply)
                themes.bind(self.save_button, "accent_button")
                cancel = dpg.add_button(label="Cancel", callback=self._cancel)
                themes.bind(cancel, "ghost_button")

    def _stage(self, stage: str) -> bool:
        return bool(dpg.get_value(self.stages[stage]))

    def _heading(self, text: str) -> None:
        dpg.add_spacer(height=4)
        item = dpg.add_text(text)
        dpg.bind_item_font(item, self._app.fonts.bold)
        self._app.themes.bind(item, "accent_text")

    def open(self, settings: Settings) -> None:
        self._settings = settings
        dpg.set_value(self.theme, settings.theme.capitalize())
        dpg.set_value(self.scale, settings.font_scale)
        dpg.set_value(self.user, settings.user)
        dpg.set_value(self.host, settings.host)
        dpg.set_value(self.port, settings.port)
        dpg.set_value(self.expiry, vm.expiry_label(settings.default_expiry))
        dpg.set_value(self.remember, settings.remember_password)
        dpg.set_value(self.notify, settings.desktop_notifications)
        dpg.set_value(self.ring, settings.call_sound)
        dpg.set_value(self.pictures, settings.auto_fetch_pictures)
        self._show_devices(settings.input_device, settings.output_device)
        dpg.set_value(self.ice_hosts, ", ".join(settings.ice_hosts))
        labels = [label for label, _ in VIDEO_CHOICES]
        current = video_label(settings.video_source)
        dpg.configure_item(self.video, items=labels if current in labels else
                           [*labels, current])
        dpg.set_value(self.video, current)
        for stage, box in self.stages.items():
            dpg.set_value(box, getattr(settings, stage))
        dpg.set_value(self.transmit, vm.TRANSMIT_WORDS[settings.transmit])
        dpg.set_value(self.talk_key, settings.talk_key)
        dpg.set_value(self.global_talk_key, settings.global_talk_key)
        dpg.set_value(self.talk_key_reach, f"Talk key in other windows: {self._app.talk_key_reach}")
        dpg.configure_item(self.problem, show=False)
        # Taller than a small window: it fits the window and scrolls (Save stays reachable).
        height = min(self.HEIGHT, dpg.get_viewport_client_height() - 40)
        dpg.configure_item(self.window, height=height)
        _centre(self.window, self.WIDTH, height)
        dpg.configure_item(self.window, show=True)

    def close(self) -> None:
        dpg.configure_item(self.window, show=False)

    def update(self, model: AppModel) -> None:
        """Devices plugged in or out while the dialog is open show up in its choices; what
        the user has picked in it stays picked."""
        lists = (model.call.input_devices, model.call.output_devices)
        if lists == self._device_lists or not dpg.is_item_shown(self.window):
            return
        self._show_devices(device_setting(dpg.get_value(self.input)),
                           device_setting(dpg.get_value(self.output)))

    def _show_devices(self, input_device: str, output_device: str) -> None:
        call = self._app.model.call
        self._device_lists = (call.input_devices, call.output_devices)
        for combo, devices, chosen in ((self.input, call.input_devices, input_device),
                                       (self.output, call.output_devices, output_device)):
            dpg.configure_item(combo, items=list(device_choices(devices, chosen)))
            dpg.set_value(combo, device_label(chosen))

    def _preview_theme(self, sender: object, value: str) -> None:
        self._app.set_theme(value.lower())

    def _cancel(self) -> None:
        self._app.set_theme(self._settings.theme)
        self.close()

    def _apply(self) -> None:
        remember = bool(dpg.get_value(self.remember))
        try:
            ice_hosts = parse_hosts(str(dpg.get_value(self.ice_hosts)))
        except ValueError as exc:
            dpg.set_value(self.problem, str(exc))
            dpg.configure_item(self.problem, show=True)
            return
        self._save(replace(
            self._settings, theme=str(dpg.get_value(self.theme)).lower(),
            font_scale=round(float(dpg.get_value(self.scale)), 2),
            user=str(dpg.get_value(self.user)).strip(),
            host=str(dpg.get_value(self.host)).strip(), port=int(dpg.get_value(self.port)),
            default_expiry=vm.expiry_seconds(str(dpg.get_value(self.expiry))),
            remember_password=remember,
            desktop_notifications=bool(dpg.get_value(self.notify)),
            call_sound=bool(dpg.get_value(self.ring)),
            auto_fetch_pictures=bool(dpg.get_value(self.pictures)),
            password=self._settings.password if remember else "",
            input_device=device_setting(str(dpg.get_value(self.input))),
            output_device=device_setting(str(dpg.get_value(self.output))),
            ice_hosts=ice_hosts,
            video_source=video_setting(str(dpg.get_value(self.video))),
            transmit=next((mode for mode, words in vm.TRANSMIT_WORDS.items()
                           if words == dpg.get_value(self.transmit)), self._settings.transmit),
            talk_key=str(dpg.get_value(self.talk_key)) or self._settings.talk_key,
            global_talk_key=bool(dpg.get_value(self.global_talk_key)),
            echo_cancellation=self._stage("echo_cancellation"),
            noise_suppression=self._stage("noise_suppression"),
            gain_control=self._stage("gain_control"), high_pass=self._stage("high_pass")))
        self.close()


class ShortcutsDialog:
    WIDTH, HEIGHT = 460, 420

    def __init__(self, app: AppActions) -> None:
        with dpg.window(label="Keyboard shortcuts", modal=True, show=False, width=self.WIDTH,
                        height=self.HEIGHT, no_resize=True, no_collapse=True,
                        no_saved_settings=True) as self.window:
            app.themes.bind(self.window, "dialog")
            with dpg.table(header_row=False, policy=dpg.mvTable_SizingStretchProp):
                dpg.add_table_column(width_fixed=True, init_width_or_weight=150)
                dpg.add_table_column(width_stretch=True, init_width_or_weight=1.0)
                for shortcut in SHORTCUTS:
                    with dpg.table_row():
                        keys = dpg.add_text(shortcut.keys)
                        app.themes.bind(keys, "accent_text")
                        dpg.add_text(shortcut.description)

    def open(self) -> None:
        _centre(self.window, self.WIDTH, self.HEIGHT)
        dpg.configure_item(self.window, show=True)

    def close(self) -> None:
        dpg.configure_item(self.window, show=False)


class ConfirmDialog:
    """Asks before something that cannot be taken back lightly: a title, what it means, and
    two buttons. `ask` shows it; the confirm button runs the action given to `ask`."""

    WIDTH, HEIGHT = 520, 330

    def __init__(self, app: AppActions) -> None:
        self._action: Callable[[], None] | None = None
        themes, fonts = app.themes, app.fonts
        # As tall as what it says (autosize), as wide as the text scale needs.
        with dpg.window(label="Are you sure?", modal=True, show=False, autosize=True,
                        no_resize=True, no_collapse=True,
                        no_saved_settings=True, on_close=self.close) as self.window:
            themes.bind(self.window, "dialog")
            self.title = dpg.add_text("", wrap=self.WIDTH - 50)
            dpg.bind_item_font(self.title, fonts.bold)
            self.body = dpg.add_text("", wrap=self.WIDTH - 50)
            dpg.add_spacer(height=8)
            with dpg.group(horizontal=True):
                self.confirm = dpg.add_button(label="", callback=self._confirm)
                themes.bind(self.confirm, "danger_button")
                self.cancel = dpg.add_button(label="Cancel", callback=self.close)
                themes.bind(self.cancel, "ghost_button")

    def ask(self, title: str, body: str, confirm_label: str, action: Callable[[], None],
            scale: float = 1.0) -> None:
        self._action = action
        width = min(round(self.WIDTH * scale), dpg.get_viewport_client_width() - 40)
        dpg.set_value(self.title, title)
        dpg.set_value(self.body, body)
        for text in (self.title, self.body):
            dpg.configure_item(text, wrap=width - 50)
        dpg.configure_item(self.confirm, label=confirm_label)
        _centre(self.window, width, min(round(self.HEIGHT * scale),
                                        dpg.get_viewport_client_height() - 40))
        dpg.configure_item(self.window, show=True)

    @property
    def shown(self) -> bool:
        return bool(dpg.is_item_shown(self.window))

    def close(self) -> None:
        self._action = None
        dpg.configure_item(self.window, show=False)

    def _confirm(self) -> None:
        action = self._action
        self.close()
        if action is not None:
            action()
