"""The connect screen: a card with host, port, user name and password, progress while
connecting, and a clear error (with a way forward) when it fails. The card scrolls when the
window is short; a changed hub certificate shows the old and new fingerprints and asks for a
confirmation before it is trusted. An error goes away once the user changes what it was about.
"""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from gossip.wire import is_valid_name

from ..formatting import grouped_fingerprint
from ..intents import AcceptHubKey
from ..model import AppModel, Phase
from ..settings import Settings
from ..wording import connect_failure
from .base import AppActions

CARD_WIDTH = 430
CARD_HEIGHT = 520
CARD_MARGIN = 20  # at least this much window around the card
TOAST_MIN_WIDTH = 240

Fields = tuple[str, str, str, str]


class ConnectView:
    def __init__(self, app: AppActions, parent: int | str, settings: Settings) -> None:
        self._app = app
        self._shown_status = -1
        self._size: tuple[int, int, float] = (0, 0, 0.0)
        self._error_fields: Fields | None = None  # what the form held when the error came
        themes, fonts = app.themes, app.fonts
        with dpg.group(parent=parent, show=False) as self.root, \
                dpg.child_window(width=CARD_WIDTH, height=CARD_HEIGHT, border=True) as self.card:
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
            with dpg.group(show=False) as self.error_box:
                self.error_title = dpg.add_text("")
                dpg.bind_item_font(self.error_title, fonts.bold)
                themes.bind(self.error_title, "error_text")
                self.error = dpg.add_text("", wrap=CARD_WIDTH - 60)
            with dpg.group(show=False) as self.hub_key:
                self.old_fingerprint = self._fingerprint("Pinned before")
                self.new_fingerprint = self._fingerprint("Shown now")
                self.trust_hub = dpg.add_button(label="Trust the new certificate…", width=-1,
                                                callback=self._trust_hub)
                themes.bind(self.trust_hub, "danger_button")

    def _fingerprint(self, label: str) -> int | str:
        heading = dpg.add_text(label)
        dpg.bind_item_font(heading, self._app.fonts.small)
        self._app.themes.bind(heading, "dim")
        return dpg.add_text("", wrap=CARD_WIDTH - 60)

    def _field(self, label: str, value: str, *, hint: str, password: bool = False,
               decimal: bool = False) -> int | str:
        text = dpg.add_text(label)
        dpg.bind_item_font(text, self._app.fonts.small)
        self._app.themes.bind(text, "dim")
        return dpg.add_input_text(default_value=value, hint=hint, password=password,
                                  decimal=decimal, width=-1, on_enter=True,
                                  callback=self._submit)

    def offer_password(self, password: str) -> None:
        """The remembered password arrived from the keyring: fill it in unless the user
        typed one meanwhile."""
        if not dpg.get_value(self.password):
            dpg.set_value(self.password, password)

    def untick_remember(self) -> None:
        dpg.set_value(self.remember, False)

    def show(self, visible: bool) -> None:
        dpg.configure_item(self.root, show=visible)
        if visible and not dpg.get_value(self.password) and dpg.get_value(self.user):
            dpg.focus_item(self.password)

    def layout(self, width: int, height: int, scale: float = 1.0) -> None:
        """Keep the card in the middle of the window, as large as the text scale needs and
        no larger than the window (it scrolls then)."""
        if (width, height, scale) == self._size:
            return
        self._size = (width, height, scale)
        card_w = min(round(CARD_WIDTH * scale), width - 2 * CARD_MARGIN)
        card_h = min(round(CARD_HEIGHT * scale), height - 30 - 2 * CARD_MARGIN)
        dpg.configure_item(self.card, width=card_w, height=card_h)
        for item in (self.error, self.old_fingerprint, self.new_fingerprint):
            dpg.configure_item(item, wrap=card_w - 60)
        dpg.set_item_pos(self.card, (max(CARD_MARGIN, (width - card_w) // 2),
                                     max(30 + CARD_MARGIN // 2, (height - card_h) // 2)))

    def toast_area(self) -> tuple[int, int, int, int] | None:
        """Where toasts go beside the card (left, top, width, height); None when there is
        no room beside it."""
        width, height, scale = self._size
        x = dpg.get_item_pos(self.card)[0]
        right = int(x + dpg.get_item_rect_size(self.card)[0])
        if width - right < round(TOAST_MIN_WIDTH * scale):
            return None
        return right, 30, int(width) - right, int(height) - 30

    def update(self, model: AppModel) -> None:
        if self._error_fields is not None and self._fields() != self._error_fields:
            self._clear_error()  # the user is fixing what it was about: it is stale now
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
        if failure is None:
            self._clear_error()
            return
        wording = connect_failure(failure, model.user)
        self.show_error(wording.sentence, wording.title)
        changed = failure.kind == "hub_key"
        dpg.configure_item(self.hub_key, show=changed)
        if changed:
            dpg.set_value(self.old_fingerprint,
                          grouped_fingerprint(failure.pinned_fingerprint) or "(unknown)")
            dpg.set_value(self.new_fingerprint, grouped_fingerprint(failure.offered_fingerprint))

    def show_error(self, text: str, title: str = "") -> None:
        dpg.set_value(self.error_title, title)
        dpg.configure_item(self.error_title, show=bool(title))
        dpg.set_value(self.error, text)
        dpg.configure_item(self.error_box, show=True)
        self._error_fields = self._fields()

    def _clear_error(self) -> None:
        self._error_fields = None
        dpg.configure_item(self.error_box, show=False)
        dpg.configure_item(self.hub_key, show=False)

    def _fields(self) -> Fields:
        return tuple(str(dpg.get_value(item))  # type: ignore[return-value]
                     for item in (self.host, self.port, self.user, self.password))

    def _submit(self) -> None:
        self._clear_error()  # starting again: the last attempt's error is history
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
        if failure is None or failure.kind != "hub_key":
            return
        accept = AcceptHubKey(failure.host, failure.port, failure.offered_fingerprint)
        self._app.confirm(
            f"Trust the new certificate of {failure.host}:{failure.port}?",
            "From now on Gossip takes this hub to be the one with the new certificate, and "
            "would warn you if the old one came back. Do this only if the hub's operator "
            "told you, by phone or in person, that they made a new certificate with "
            f"the fingerprint\n{grouped_fingerprint(failure.offered_fingerprint)}\n"
            "If it was someone else, they could see who you are and when you talk (not "
            "what you write: messages stay end-to-end encrypted).",
            "Trust it and connect", lambda: self._app.post(accept))
