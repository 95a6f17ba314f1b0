"""The desktop app: the window and its render loop on the main thread.

Each frame runs Dear PyGui's queued callbacks (manual callback management, so every callback
runs here, on this thread), applies the notices drained from the bridge to the model, lets
the views copy what changed into their widgets, and renders. Nothing here waits on the
network or does crypto: that all happens on the bridge's trio thread.

Frames are drawn on demand (pacing.py): between them the thread sleeps in one select() on the
X display's socket (input), a pipe the bridge and the video converter poke (news) and a
timeout for the next countdown or toast (wakeup.py). Dear PyGui reads input only inside a
frame, so a frame drawn at a low fixed rate would be the other way to notice it; at ~10 ms of
CPU per frame (Mesa, software GL) even 5 frames a second would cost 5% of a core, so the app
waits on the display's socket itself and keeps a low rate only where it has none.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import dearpygui.dearpygui as dpg
import numpy as np
import platformdirs

from gossip.client import events as ev
from gossip.client.messages import ChatMessage
from gossip.crypto.filestream import new_file_id

from . import intents
from . import notices as nt
from .alerts import Alerts
from .bridge import Bridge, BridgeError
from .callview import CallView
from .desktopnotify import DesktopNotifier
from .fonts import Fonts, load_fonts
from .globalkeys import GlobalTalkKey
from .model import AppModel, Phase
from .pacing import FRAME_SECONDS, RenderMode, RenderPacer, next_picture_change
from .palettes import PALETTES
from .pictures import AUTO_FETCH_BYTES, is_picture_type
from .pngwriter import frame_pixels, write_png
from .settings import (
    Settings,
    SettingsError,
    keyring_change_needed,
    login_account,
    save_settings,
    voice_options,
)
from .shortcuts import TALK_KEYS, action_for, channel_after
from .themes import Themes
from .videoconvert import VideoConverter
from .videosetting import video_spec
from .viewmodel import check_outgoing
from .views.connect import ConnectView
from .views.dialogs import ConfirmDialog, SafetyDialog, SettingsDialog, ShortcutsDialog
from .views.main import MainScreen
from .views.toasts import ToastStack
from .wakeup import DisplaySocket, Wakeup, Woken, sleep_until_woken
from .windowfocus import WindowFocus

log = logging.getLogger("gossip.ui")

NOTICES_PER_FRAME = 500
SETTLE_FRAMES = 20  # frames drawn after the scene is complete, before a screenshot
SCREENSHOT_FRAMES = 120  # frames to wait for the frame buffer


class AppError(Exception):
    """The app could not start (no display, no OpenGL) or the actor thread failed."""


class App:
    # Where Save puts received files (None: the user's downloads folder, "Gossip" in it).
    downloads_dir: Path | None = None
    pictures_dir: Path | None = None  # where pictures are fetched only to be shown (a cache)

    def __init__(self, settings: Settings, bridge: Bridge, *,
                 settings_path: Path | None = None, profile_root: Path | None = None,
                 autoconnect: intents.ConnectToHub | None = None, title: str = "Gossip",
                 settled: Callable[[AppModel], bool] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.bridge = bridge
        self.model = AppModel()
        # Anything another thread has for the window wakes the render thread through this.
        self.wakeup = Wakeup()
        bridge.notices.set_listener(self.wakeup.poke)
        # Turns the call's video pictures into texture data on a thread of its own.
        self.video = VideoConverter(bridge.video_feeds, on_ready=self.wakeup.poke)
        self.pacer = RenderPacer(RenderMode(settings.render))
        self.display_socket: DisplaySocket | None = None
        # Desktop notifications and the title's unread count (alerts.py); the focus is read
        # from the window once it is shown.
        self.notifier = DesktopNotifier()
        self.global_talk = GlobalTalkKey(self.hold_talk_key)
        self._global_talk_key = ""
        self.focus = WindowFocus(None)
        self.alerts = Alerts(self.notifier.notify, lambda: self.focus.focused())
        self._shown_title = title
        self.frames = 0
        self._settings_path = settings_path  # None: settings are not written (demo, tests)
        self.profile_root = profile_root  # None: each user's default profile directory
        self._autoconnect = autoconnect
        self._title = title
        self._settled = settled or self._default_settled
        self._clock = clock
        self._pending_login: Settings | None = None
        self._key_names: dict[int, str] = {}
        self._viewport = (0, 0)
        self._settled_frame: int | None = None
        self._opened_at = 0.0
        self._last_expiry = 0.0

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self, width: int = 1240, height: int = 800) -> None:
        dpg.create_context()
        dpg.configure_app(manual_callback_management=True)
        dpg.create_viewport(title=self._title, width=width, height=height, min_width=960,
                            min_height=620)
        self.fonts: Fonts = load_fonts(self.settings.font_scale)
        # Later changes of the scale apply on top of the size the fonts were loaded at.
        self._fonts_scale = self.settings.font_scale
        self.themes = Themes(PALETTES.get(self.settings.theme, PALETTES["wintry"]))
        self._build()
        dpg.setup_dearpygui()
        dpg.show_viewport()
        self._opened_at = self._clock()
        self.display_socket = DisplaySocket.of_viewport()
        self.focus = WindowFocus.of_viewport()
        self.notifier.start()
        self.pacer.sees_input = self.display_socket is not None
        self.pacer.start(time.monotonic())
        try:
            self.bridge.start()
        except BridgeError as exc:
            raise AppError(str(exc)) from None
        self.video.start()
        self._follow_talk_mode()
        if self._autoconnect is not None:
            c = self._autoconnect
            self.model.begin_connect(c.host, c.port, c.user)
            self.post(c)
        self._show_screen()

    def close(self) -> None:
        """Leave the hub politely, stop the actor thread, then drop the window."""
        self.global_talk.stop()
        self.bridge.stop()
        self.video.stop()
        self.notifier.stop()
        self.bridge.notices.set_listener(None)
        self.wakeup.close()
        dpg.destroy_context()

    def run(self, *, screenshot: Path | None = None, quit_after: float | None = None) -> int:
        """Render until the window closes (or `quit_after` seconds); 0 on success."""
        status = 0
        quit_at = None if quit_after is None else time.monotonic() + quit_after
        try:
            # A screenshot waits for frames to be drawn, so none is slept through.
            while self.step(on_demand=screenshot is None, until=quit_at):
                if screenshot is not None and self._ready_for_screenshot():
                    self.save_screenshot(screenshot)
                    screenshot = None
                if quit_after is not None and self._clock() - self._opened_at >= quit_after:
                    if screenshot is not None:
                        log.warning("the scene did not settle in %.0f s; taking the "
                                    "screenshot anyway", quit_after)
                        self.save_screenshot(screenshot)
                        status = 1
                    break
        finally:
            self.close()
        return status

    def step(self, *, on_demand: bool = False, until: float | None = None) -> bool:
        """One frame. False once the window has been closed.

        With `on_demand`, first sleep until the frame is needed (pacing.py), at most until
        `until` (monotonic); without, draw at once (tests and scripts pump frames this way)."""
        if not dpg.is_dearpygui_running():
            return False
        woken = self._sleep_until_needed(until) if on_demand else None
        started = time.monotonic()
        callbacks = dpg.get_callback_queue()
        dpg.run_callbacks(callbacks)
        now = self._clock()
        notices = self.bridge.drain(NOTICES_PER_FRAME)
        for notice in notices:
            self._take(notice, now)
        if woken is Woken.TIMER or now - self._last_expiry >= 0.25:
            self._last_expiry = now
            self.model.expire(now)
            self.model.toasts.expire(now)
        self._update_views(now)
        dpg.render_dearpygui_frame()
        self.frames += 1
        self.pacer.frame_drawn(now=time.monotonic(), input_seen=bool(callbacks)
                               or woken is Woken.INPUT,
                               # A video picture is shown in full in this very frame.
                               changed=bool(notices) or woken is Woken.TIMER)
        if self._settled_frame is None and self._settled(self.model):
            self._settled_frame = self.frames
        # Without vsync (a virtual display) the loop would spin; 60 frames a second is plenty.
        spare = FRAME_SECONDS - (time.monotonic() - started)
        if spare > 0:
            time.sleep(spare)
        return True

    def _sleep_until_needed(self, until: float | None) -> Woken | None:
        """Sleep while no frame is needed; what woke us (None: no sleep was allowed)."""
        now, wall = time.monotonic(), self._clock()
        due = next_picture_change(self.model, wall)
        due_monotonic = None if due is None else now + (due - wall)
        if until is not None:
            due_monotonic = until if due_monotonic is None else min(due_monotonic, until)
        pause = self.pacer.sleep_for(now, due_monotonic)
        if pause is None:
            self.wakeup.take()  # news is drawn in this frame anyway
            return None
        woken = sleep_until_woken(self.wakeup, self.display_socket, pause)
        self.wakeup.take()
        self.pacer.woke(woken, time.monotonic())
        return woken

    def pump_until(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Render frames until `condition()` holds; for tests and scripts. Raises AppError
        after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AppError(f"condition not met within {timeout:.0f} s "
                               f"(phase {self.model.phase.value})")
            if not self.step():
                raise AppError("the window was closed")

    def save_screenshot(self, path: Path) -> None:
        """Save the frame buffer as a PNG."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_png(path, self.grab_frame())

    def grab_frame(self) -> np.ndarray:
        """The window's pixels (height x width x 3, uint8 RGB). Dear PyGui hands them over
        through a callback a frame or two later, so this renders (a bounded number of)
        frames."""
        captured: list[np.ndarray] = []

        def take(sender: object, buffer: object) -> None:
            captured.append(frame_pixels(buffer, buffer.get_width(),  # type: ignore[attr-defined]
                                         buffer.get_height()))  # type: ignore[attr-defined]

        dpg.output_frame_buffer(callback=take)
        for _ in range(SCREENSHOT_FRAMES):
            if captured or not self.step():
                break
        if not captured:
            raise AppError("the frame buffer was not handed over")
        return captured[0]

    # -- building -----------------------------------------------------------------------------
    def _build(self) -> None:
        with dpg.window(tag="root", no_scrollbar=True) as self.root:
            with dpg.menu_bar():
                with dpg.menu(label="Gossip"):
                    dpg.add_menu_item(label="Settings…", shortcut="Ctrl+,",
                                      callback=lambda: self.open_settings())
                    dpg.add_menu_item(label="Keyboard shortcuts", shortcut="F1",
                                      callback=lambda: self.open_shortcuts())
                    dpg.add_separator()
                    self._disconnect_item = dpg.add_menu_item(
                        label="Disconnect", callback=lambda: self.disconnect())
                    dpg.add_menu_item(label="Quit", shortcut="Ctrl+Q",
                                      callback=lambda: self.quit())
                with dpg.menu(label="View"), dpg.menu(label="Theme"):
                    for name in PALETTES:
                        dpg.add_menu_item(label=name.capitalize(), user_data=name,
                                          callback=self._menu_theme)
            self.connect_view = ConnectView(self, self.root, self.settings)
            self.main = MainScreen(self, self.root, self.settings.default_expiry)
        dpg.set_primary_window(self.root, True)
        self.toasts = ToastStack(self)
        self.safety_dialog = SafetyDialog(self)
        self.settings_dialog = SettingsDialog(self, self.apply_settings)
        self.shortcuts_dialog = ShortcutsDialog(self)
        self.confirm_dialog = ConfirmDialog(self)
        self._key_names = _key_names()
        self._talk_key_held = False
        # The window's key handlers and the desktop-wide listener both hold the talk key.
        self._talk_key_lock = threading.Lock()
        with dpg.handler_registry():
            dpg.add_key_press_handler(callback=self._on_key)
            dpg.add_key_release_handler(callback=self._on_key_release)

    def _show_screen(self) -> None:
        on_main = self.model.phase in (Phase.ONLINE, Phase.RECONNECTING)
        self.main.show(on_main)
        self.connect_view.show(not on_main)
        dpg.configure_item(self._disconnect_item, enabled=self.model.phase is not Phase.IDLE)

    def _update_views(self, now: float) -> None:
        size = (dpg.get_viewport_client_width(), dpg.get_viewport_client_height())
        status_version = self.model.status_version
        if size != self._viewport:
            self._viewport = size
        self.connect_view.layout(*size, self.settings.font_scale)
        self.connect_view.update(self.model)
        self.main.layout(*size, self.settings.font_scale, self.model)
        self.main.update(self.model, now)
        on_main = self.model.phase in (Phase.ONLINE, Phase.RECONNECTING)
        self.toasts.update(*size, self.main.toast_area() if on_main
                           else self.connect_view.toast_area(), self.settings.font_scale)
        self.safety_dialog.update(self.model)
        self.settings_dialog.update(self.model)
        if status_version != getattr(self, "_screen_version", -1):
            self._screen_version = status_version
            self._show_screen()
        online = self.model.phase in (Phase.ONLINE, Phase.RECONNECTING)
        title = self.alerts.title(self._title, sum(self.model.unread.values()),
                                  self.model.current_channel if online else None)
        if title != self._shown_title:
            self._shown_title = title
            dpg.set_viewport_title(title)

    # -- notices --------------------------------------------------------------------------------
    def _take(self, notice: nt.Notice, now: float) -> None:
        self.model.apply(notice, now)
        if isinstance(notice, ev.MessageReceived):
            self._fetch_picture(notice.message)
        self.alerts.take(notice, own_user=self.model.user,
                         current_channel=self.model.current_channel,
                         enabled=self.settings.desktop_notifications,
                         call_sound=self.settings.call_sound)
        if isinstance(notice, nt.Online) and self._pending_login is not None:
            self._store_settings(self._pending_login)
            self._pending_login = None
        elif isinstance(notice, nt.PasswordRecalled):
            self._password_recalled(notice)
        elif isinstance(notice, nt.KeyringUpdated):
            self._keyring_answered(notice)
        elif isinstance(notice, nt.NoticesLost):
            self.post(intents.RefreshState())
        elif isinstance(notice, nt.BackendFailed):
            self.model.toasts.push("error", "Gossip stopped working", notice.reason, now,
                                   sticky=True)

    # -- actions the views call ---------------------------------------------------------------
    def post(self, intent: intents.Intent) -> None:
        try:
            self.bridge.post(intent)
        except BridgeError as exc:
            self.model.toasts.push("error", "Gossip stopped working", str(exc), self._clock())

    def connect(self, host: str, port: int, user: str, password: str, remember: bool) -> None:
        profile_dir = self.profile_root / user if self.profile_root is not None else None
        self._pending_login = replace(self.settings, remember_password=remember).with_login(
            host, port, user, password)
        self.model.begin_connect(host, port, user)
        self.post(intents.ConnectToHub(host, port, user, password, profile_dir))

    def send_message(self, text: str, ttl: float, reply_to: str = "") -> None:
        problem = check_outgoing(self.model, text)
        if problem is not None:
            self.model.toasts.push("error", "Could not send the message", problem,
                                   self._clock())
            return
        assert self.model.current_channel is not None
        self.post(intents.SubmitMessage(self.model.current_channel, text, ttl, reply_to))

    def attach_file(self, path: str, ttl: float) -> None:
        """Send the file the user picked to the current channel (in the background)."""
        channel = self.model.current_channel
        problem = "connect to a hub and pick a channel first" \
            if channel is None or self.model.phase is not Phase.ONLINE else None
        try:
            size = Path(path).stat().st_size
        except OSError as exc:
            problem = problem or f"{path} cannot be read ({exc.strerror}): pick another file"
        if problem is not None or channel is None:
            self.model.toasts.push("error", "Could not send the file", problem or "",
                                   self._clock())
            return
        file_id = new_file_id()
        self.model.begin_transfer(file_id, Path(path).name, "up", size, channel)
        self.post(intents.AttachFile(channel, Path(path), ttl, file_id))

    def save_file(self, message_id: str, directory: Path | None = None) -> None:
        """Fetch, check and save a message's file into `directory` (None: the downloads
        folder)."""
        directory = directory or self.downloads_folder()
        message = self.model.messages.get(message_id)
        if message is not None and message.file is not None:
            manifest = message.file
            self.model.begin_transfer(manifest.file_id, manifest.name, "down", manifest.size)
            self.post(intents.SaveFile(message_id, directory, manifest.file_id))

    def _fetch_picture(self, message: ChatMessage) -> None:
        """A small picture is fetched as it arrives, to be shown (a cache, emptied at once)."""
        manifest = message.file
        if (manifest is not None and self.settings.auto_fetch_pictures
                and is_picture_type(manifest.mime) and manifest.size <= AUTO_FETCH_BYTES
                and message.id not in self.model.pictures):
            cache = self.pictures_dir or platformdirs.user_cache_path("gossip") / "pictures"
            self.post(intents.SaveFile(message.id, cache, preview=True))

    def downloads_folder(self) -> Path:
        return self.downloads_dir or platformdirs.user_downloads_path() / "Gossip"

    def cancel_transfer(self, file_id: str) -> None:
        self.post(intents.CancelTransfer(file_id))

    def select_channel(self, channel: str) -> None:
        self.model.select_channel(channel)

    def select_devices(self, input_device: str, output_device: str) -> None:
        """Use these sound devices ("" = the system default), now and next time."""
        self._store_settings(replace(self.settings, input_device=input_device,
                                     output_device=output_device))
        self.post(intents.ChooseDevices(input_device, output_device))

    def open_safety(self, user: str) -> None:
        self.model.request_safety(user)
        self.post(intents.ComputeSafetyNumber(user))

    def close_safety(self) -> None:
        self.model.close_safety()

    def dismiss_toast(self, toast_id: int) -> None:
        self.model.toasts.dismiss(toast_id)

    def open_settings(self) -> None:
        self.settings_dialog.open(self.settings)

    def open_shortcuts(self) -> None:
        self.shortcuts_dialog.open()

    def confirm(self, title: str, body: str, confirm_label: str,
                action: Callable[[], None]) -> None:
        """Ask before `action`: it runs only if the user confirms."""
        self.confirm_dialog.ask(title, body, confirm_label, action, self.settings.font_scale)

    def disconnect(self) -> None:
        if self.model.phase is not Phase.IDLE:
            self.post(intents.DisconnectFromHub())

    def quit(self) -> None:
        dpg.stop_dearpygui()

    def set_theme(self, name: str) -> None:
        if name in PALETTES and name != self.themes.palette.name:
            self.themes.apply(name)
            self.main.redraw()
            self.toasts.redraw()

    def apply_settings(self, settings: Settings) -> None:
        self.set_theme(settings.theme)
        previous = self.settings
        self.set_font_scale(settings.font_scale)
        self._store_settings(settings)
        if (settings.input_device, settings.output_device) != (previous.input_device,
                                                               previous.output_device):
            self.post(intents.ChooseDevices(settings.input_device, settings.output_device))
        if settings.ice_hosts != previous.ice_hosts:
            self.post(intents.ChooseIceHosts(settings.ice_hosts))
        if settings.video_source != previous.video_source:
            self.post(intents.ChooseVideoSource(video_spec(settings.video_source)))
        if voice_options(settings) != voice_options(previous):
            self.post(intents.ChooseVoice(voice_options(settings)))
        self._follow_talk_mode()
        self.model.toasts.push("info", "Settings saved", "" if self._settings_path else
                               "Kept for this session only (not written in demo mode).",
                               self._clock())

    def set_font_scale(self, scale: float) -> None:
        """Show text `scale` times its normal size, now; the layout follows next frame."""
        # Relative to the size the fonts were loaded at, not to the last choice: 1.4x then
        # 1.0x must come back to the size of a fresh start.
        dpg.set_global_font_scale(scale / self._fonts_scale)
        self.settings = replace(self.settings, font_scale=scale)

    @property
    def call_view(self) -> CallView:
        return self.model.call

    def _store_settings(self, settings: Settings) -> None:
        # The demo and tests leave no trace, not even in the keyring. The keyring answers on
        # the trio side (a locked one may take seconds); until then the file is written as
        # always, without the password.
        if self._settings_path is not None and keyring_change_needed(self.settings, settings):
            self.post(intents.UpdateKeyring(self.settings, settings))
        self.settings = settings
        if self._settings_path is None:
            return
        try:
            save_settings(settings, self._settings_path)
        except SettingsError as exc:
            self.model.toasts.push("error", "Settings not saved", str(exc), self._clock())

    def recall_password(self) -> None:
        """Ask the keyring (on the trio side) for the password remembered for this login;
        the connect form gets it when it comes, unless the user typed one meanwhile."""
        if self.settings.remember_password and not self.settings.password:
            self.post(intents.RecallPassword(self.settings))

    def _password_recalled(self, notice: nt.PasswordRecalled) -> None:
        if notice.problem is not None:
            self.model.toasts.push("error", "Settings", notice.problem, self._clock())
        if not notice.password or notice.account != login_account(self.settings):
            return
        self.settings = replace(self.settings, password=notice.password)
        if hasattr(self, "connect_view"):
            self.connect_view.offer_password(notice.password)

    def _keyring_answered(self, notice: nt.KeyringUpdated) -> None:
        if notice.refusal is None:
            return
        # It stays: whoever ticked "remember" expects not to be asked next time.
        self.model.toasts.push("error", "Password not remembered", notice.refusal,
                               self._clock(), sticky=True)
        kept = notice.settings
        if not kept.remember_password and self.settings.remember_password:
            self._store_settings(replace(self.settings, remember_password=False, password=""))
            if hasattr(self, "connect_view"):  # the box says what will happen next time
                self.connect_view.untick_remember()

    def _menu_theme(self, sender: object, app_data: object, name: str) -> None:
        self.set_theme(name)
        self._store_settings(replace(self.settings, theme=name))

    # -- keyboard -------------------------------------------------------------------------------
    def _on_key(self, sender: object, key: int) -> None:
        name = self._key_names.get(key)
        if name is None:
            return
        ctrl = dpg.is_key_down(dpg.mvKey_LControl) or dpg.is_key_down(dpg.mvKey_RControl)
        alt = dpg.is_key_down(dpg.mvKey_LAlt) or dpg.is_key_down(dpg.mvKey_RAlt)
        shift = dpg.is_key_down(dpg.mvKey_LShift) or dpg.is_key_down(dpg.mvKey_RShift)
        if name == self.settings.talk_key:
            self.hold_talk_key(True)
            return
        action = action_for(name, ctrl=ctrl, alt=alt, shift=shift)
        if action is not None:
            self.perform(action)

    def _on_key_release(self, sender: object, key: int) -> None:
        if self._key_names.get(key) == self.settings.talk_key:
            self.hold_talk_key(False)

    def hold_talk_key(self, held: bool) -> None:
        """Push-to-talk: the talk key went down or up, in the window or (from the global
        listener's thread) anywhere on the desktop; told once per change, however often the
        keyboard repeats and however many of them saw it."""
        with self._talk_key_lock:
            if held == self._talk_key_held:
                return
            self._talk_key_held = held
        self.post(intents.HoldTalkKey(held))

    @property
    def talk_key_reach(self) -> str:
        return self.global_talk.status

    def _follow_talk_mode(self) -> None:
        """Listen for the talk key outside the window only in push-to-talk mode, and only
        if the settings ask for it: in the other modes nothing hears the keyboard there."""
        settings = self.settings
        wanted = settings.transmit == "ptt" and settings.global_talk_key
        if not wanted:
            self.global_talk.stop()
        elif not self.global_talk.listening or self._global_talk_key != settings.talk_key:
            self._global_talk_key = settings.talk_key
            self.global_talk.start(settings.talk_key)

    def perform(self, action: str) -> None:
        """Carry out a shortcut's action (see shortcuts.py)."""
        model = self.model
        if action.startswith("channel:"):
            target = channel_after(model.channels, model.current_channel, action)
            if target is not None:
                self.select_channel(target)
        elif action == "focus_composer":
            self.main.conversation.focus_composer()
        elif action == "search":
            self.main.conversation.open_search()
        elif action == "toggle_call":
            self.main.call.toggle_call()
        elif action == "toggle_mute":
            self.post(intents.ChooseMuted(not model.call.muted))
        elif action == "toggle_deafen":
            self.post(intents.ChooseDeafened(not model.call.deafened))
        elif action == "toggle_video":
            self.post(intents.ChooseVideo(not model.call.video_on))
        elif action == "settings":
            self.open_settings()
        elif action == "help":
            self.open_shortcuts()
        elif action == "close_dialog":
            self.close_safety()
            self.settings_dialog.close()
            self.shortcuts_dialog.close()
            self.confirm_dialog.close()
            self.main.conversation.escape()
        elif action == "quit":
            self.quit()

    # -- screenshots ----------------------------------------------------------------------------
    def _default_settled(self, model: AppModel) -> bool:
        return self.frames >= SETTLE_FRAMES

    def _ready_for_screenshot(self) -> bool:
        return (self._settled_frame is not None
                and self.frames - self._settled_frame >= SETTLE_FRAMES)


def _key_names() -> dict[int, str]:
    names: dict[int, str] = {}
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
        names[getattr(dpg, f"mvKey_{letter}")] = letter
    names.update({dpg.mvKey_F1: "F1", dpg.mvKey_Up: "Up", dpg.mvKey_Down: "Down",
                  dpg.mvKey_Escape: "Escape", dpg.mvKey_Comma: ","})
    names.update({getattr(dpg, f"mvKey_{key}"): key for key in TALK_KEYS})
    return names
