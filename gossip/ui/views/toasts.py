"""Toasts in the top-right corner: a few fixed slots, filled from the ToastBoard whenever it
changes. A changed-key toast carries a button to the safety number and stays until handled."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from ..toasts import Toast
from .base import AppActions

SLOTS = 5
WIDTH = 340
MARGIN = 14


class ToastStack:
    def __init__(self, app: AppActions) -> None:
        self._app = app
        self._version = -1
        self._shown: list[Toast] = []
        self._slots = [self._slot() for _ in range(SLOTS)]
        self._size = (0, 0)

    def _slot(self) -> dict[str, int | str]:
        fonts = self._app.fonts
        with dpg.window(show=False, no_title_bar=True, no_resize=True, no_move=True,
                        no_collapse=True, no_scrollbar=True, no_focus_on_appearing=True,
                        width=WIDTH, autosize=True, no_saved_settings=True) as window:
            with dpg.group(horizontal=True):
                title = dpg.add_text("")
                dpg.bind_item_font(title, fonts.bold)
            body = dpg.add_text("", wrap=WIDTH - 30)
            with dpg.group(horizontal=True) as actions:
                act = dpg.add_button(label="Compare safety numbers", callback=self._act)
                self._app.themes.bind(act, "accent_button")
                close = dpg.add_button(label="Dismiss", callback=self._close)
                self._app.themes.bind(close, "ghost_button")
        return {"window": window, "title": title, "body": body, "actions": actions,
                "act": act, "close": close}

    def redraw(self) -> None:
        self._version = -1

    def update(self, width: int) -> None:
        board = self._app.model.toasts
        resized = width != self._size[0]
        if board.version == self._version and not resized:
            return
        self._version, self._size = board.version, (width, 0)
        self._shown = board.visible()[:SLOTS]
        palette = self._app.themes.palette
        from ..themes import toast_colour
        y = 40
        for index, slot in enumerate(self._slots):
            if index >= len(self._shown):
                dpg.configure_item(slot["window"], show=False)
                continue
            toast = self._shown[index]
            dpg.set_value(slot["title"], toast.title)
            dpg.configure_item(slot["title"], color=toast_colour(palette, toast.kind))
            dpg.set_value(slot["body"], toast.body)
            dpg.configure_item(slot["body"], show=bool(toast.body))
            dpg.configure_item(slot["actions"], show=toast.sticky)
            dpg.configure_item(slot["act"], show=toast.kind == "key_changed",
                               user_data=toast.user)
            dpg.configure_item(slot["close"], user_data=toast.id)
            self._app.themes.bind(slot["window"], f"toast_{toast.kind}")
            dpg.configure_item(slot["window"], show=True, pos=(width - WIDTH - MARGIN, y))
            y += self._height(toast) + 8

    @staticmethod
    def _height(toast: Toast) -> int:
        # Measured heights lag a frame behind; an estimate keeps the stack steady.
        lines = max(1, len(toast.body) // 44 + 1) if toast.body else 0
        return 38 + lines * 19 + (36 if toast.sticky else 0)

    def _act(self, sender: object, app_data: object, user: str) -> None:
        self._app.open_safety(user)

    def _close(self, sender: object, app_data: object, toast_id: int) -> None:
        self._app.dismiss_toast(toast_id)
