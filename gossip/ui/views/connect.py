"""The connect screen: a card with host, port, user name and password, progress while
connecting, and a clear error (with a way forward) when it fails."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from gossip.wire import is_valid_name

from ..intents import AcceptHubKey
from ..model import AppModel, Phase
from ..settings import Settings
from .base import AppActions

CARD_WIDTH = 430
CARD_HEIGHT = 520


class ConnectView:
    def __init__(self, app: AppActions, parent: int | str, settings: Settings) -> None:
        self._app = app
        self._shown_status = -1
        self._size = (0, 0)
        themes, fonts = app.themes, app.fonts
        with dpg.group(parent=parent, show=False) as self.root, \
                dpg.child_window(width=CARD_WIDTH, height=CARD_HEIGHT, no_scrollbar=True,
                                 border=True) as self.card:
            themes.bind(self.card, "card")
            title = dpg.add_text("Gossip")
            dpg.bind_item_font(title, fonts.hero)
            themes.bind(title, "accent_text")
            subtitle = dpg.add_text("End-to-end encrypted chat and voice")
            themes.bind(subtitle, "dim")
            dpg.add_spacer(height=8)
            self.host = self._field("Hub", settings.host, hint="hub address")
            self.port = self._field("Port", str(settings.port), hint="1720",
                                    decimal=True)
            self.user = self._field("User name", settings.user, hint="your name")
            self.password = self._field("Password", settings.password,
                                        hint="the hub's password", password=True)
            self.remember = dpg.add_checkbox(label="Remember password on this computer",
                                             default_value=settings.remember_password)
            with dpg.tooltip(self.remember):
                dpg.add_text("Kept in your system keyring (such as GNOME Keyring or "
                             "KWallet), never in the settings file. Where there is no "
                             "keyring, it is not remembered.", wrap=300)
            dpg.add_spacer(height=4)
            self.button = dpg.add_button(label="Connect", width=-1, height=38,
                                         callback=self._submit)
            themes.bind(self.button, "accent_button")
            with dpg.group(horizontal=True, show=False) as self.progress:
                dpg.add_loading_indicator(style=1, radius=1.3, thickness=1.5,
                                          color=themes.palette.accent,
                                          secondary_color=themes.palette.border)
                self.progress_text = dpg.add_text("Connecting…")
                themes.bind(self.progress_text, "dim")
            self.error = dpg.add_text("", wrap=CARD_WIDTH - 60, show=False)
            themes.bind(self.error, "error_text")
            self.trust_hub = dpg.add_button(label="Trust the new certificate",
                                            show=False, callback=self._trust_hub)
            themes.bind(self.trust_hub, "danger_button")

    def _field(self, label: str, value: str, *, hint: str, password: bool = False,
               decimal: bool = False) -> int | str:
        text = dpg.add_text(label)
        dpg.bind_item_font(text, self._app.fonts.small)
        self._app.themes.bind(text, "dim")
        return dpg.add_input_text(default_value=value, hint=hint, password=password,
                                  decimal=decimal, width=-1, on_enter=True,
                                  callback=self._submit)

    def show(self, visible: bool) -> None:
        dpg.configure_item(self.root, show=visible)
        if visible and not dpg.get_value(self.password) and dpg.get_value(self.user):
            dpg.focus_item(self.password)

    def layout(self, width: int, height: int) -> None:
        """Keep the card in the middle of the window."""
        if (width, height) != self._size:
            self._size = (width, height)
            dpg.set_item_pos(self.card, (max(10, (width - CARD_WIDTH) // 2),
                                         max(30, (height - CARD_HEIGHT) // 2)))

    def update(self, model: AppModel) -> None:
        if model.status_version == self._shown_status:
            return
        self._shown_status = model.status_version
        busy = model.phase is Phase.CONNECTING
        dpg.configure_item(self.button, enabled=not busy,
                           label="Connecting…" if busy else "Connect")
        dpg.configure_item(self.progress, show=busy)
        if busy:
            dpg.set_value(self.progress_text, f"Connecting to {model.host}:{model.port} as "
                                              f"{model.user}…")
        failure = model.failure if model.phase is Phase.FAILED else None
        dpg.configure_item(self.error, show=failure is not None)
        dpg.set_value(self.error, failure.reason if failure else "")
        dpg.configure_item(self.trust_hub,
                           show=failure is not None and failure.kind == "hub_key")

    def show_error(self, text: str) -> None:
        dpg.set_value(self.error, text)
        dpg.configure_item(self.error, show=True)

    def _submit(self) -> None:
        host = str(dpg.get_value(self.host)).strip()
        user = str(dpg.get_value(self.user)).strip()
        password = str(dpg.get_value(self.password))
        try:
            port = int(str(dpg.get_value(self.port)).strip())
        except ValueError:
            port = 0
        problem = (
            "Enter the hub's address." if not host else
            "The port is a number from 1 to 65535." if not 0 < port < 65536 else
            "User names are 1-32 letters, digits, '_', '.' or '-'." if not is_valid_name(user)
            else "Enter the hub's password." if not password else None)
        if problem:
            self.show_error(problem)
            return
        self._app.connect(host, port, user, password, bool(dpg.get_value(self.remember)))

    def _trust_hub(self) -> None:
        failure = self._app.model.failure
        if failure is not None and failure.kind == "hub_key":
            self._app.post(AcceptHubKey(failure.host, failure.port,
                                        failure.offered_fingerprint))
