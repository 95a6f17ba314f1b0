"""The bottom line: connection state (reconnecting shown as such, with "Retry now" while it
counts down to the next attempt), the hub, the latency and the hub's certificate
fingerprint."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from .. import intents
from .. import viewmodel as vm
from ..model import AppModel
from .base import AppActions


class StatusBar:
    def __init__(self, app: AppActions, parent: int | str) -> None:
        self._app = app
        self._shown: vm.StatusLine | None = None
        themes, fonts = app.themes, app.fonts
        with dpg.child_window(parent=parent, height=30, width=-1, border=False,
                              no_scrollbar=True) as self.root:
            themes.bind(self.root, "statusbar")
            with dpg.group(horizontal=True):
                self.dot = dpg.add_text("●")
                self.state = dpg.add_text("")
                dpg.bind_item_font(self.state, fonts.small)
                # Cuts the backoff pause short; shown only while there is one to cut.
                self.retry = dpg.add_button(label="Retry now", small=True, show=False,
                                            callback=self._retry_now)
                dpg.bind_item_font(self.retry, fonts.small)
                self.hub = dpg.add_text("")
                self.latency = dpg.add_text("")
                self.security = dpg.add_text("")
                for item in (self.hub, self.latency, self.security):
                    dpg.bind_item_font(item, fonts.small)
                    themes.bind(item, "dim")

    def _retry_now(self) -> None:
        self._app.post(intents.RetryConnectionNow())

    def resize(self, height: int) -> None:
        dpg.configure_item(self.root, height=height)

    def redraw(self) -> None:
        self._shown = None

    def update(self, model: AppModel, now: float) -> None:
        line = vm.status_line(model, now)
        if line == self._shown:
            return
        self._shown = line
        palette = self._app.themes.palette
        colour = {"online": palette.ok, "connecting": palette.info,
                  "reconnecting": palette.warn, "failed": palette.danger}.get(line.state_kind,
                                                                              palette.dim)
        dpg.configure_item(self.dot, color=colour)
        dpg.configure_item(self.state, color=colour)
        dpg.set_value(self.state, line.state)
        dpg.configure_item(self.retry, show=line.can_retry)
        dpg.set_value(self.hub, f"·  {line.hub}" if line.hub else "")
        dpg.set_value(self.latency, f"·  {line.latency}" if line.latency else "")
        dpg.set_value(self.security, f"·  {line.security}" if line.security else "")
