"""Toasts: a few fixed slots, filled from the ToastBoard whenever it changes. On the main
screen they stack down from the top-right corner of the message list, the area the layout
keeps for them, so they never cover the composer, the call panel or a drawer; elsewhere up
from the bottom-right corner. A changed-key or look-alike toast carries a button to the
safety number and stays until handled."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from ..themes import toast_colour
from ..toasts import Toast
from .base import AppActions

# Where toasts may go: left, top, width, height in window pixels.
Area = tuple[int, int, int, int]

SLOTS = 5
WIDTH = 286
MARGIN = 14


class ToastStack:
    def __init__(self, app: AppActions) -> None:
        self._app = app
        self._version = -1
        self._shown: list[Toast] = []
        self._slots = [self._slot() for _ in range(SLOTS)]
        self._placed: list[tuple[int, int, int, int, bool]] = []

    def _slot(self) -> dict[str, int | str]:
        fonts = self._app.fonts
        with dpg.window(show=False, no_title_bar=True, no_resize=True, no_move=True,
                        no_collapse=True, no_scrollbar=True, no_focus_on_appearing=True,
                        width=WIDTH, height=60, min_size=(120, 30),
                        no_saved_settings=True) as window:
            title = dpg.add_text("")
            dpg.bind_item_font(title, fonts.bold)
            body = dpg.add_text("", wrap=WIDTH - 30)
            with dpg.group(horizontal=True) as actions:
                act = dpg.add_button(label="Check safety number", callback=self._act)
                self._app.themes.bind(act, "accent_button")
                close = dpg.add_button(label="Dismiss", callback=self._close)
                self._app.themes.bind(close, "ghost_button")
        return {"window": window, "title": title, "body": body, "actions": actions,
                "act": act, "close": close}

    def redraw(self) -> None:
        self._version = -1

    def update(self, width: int, height: int, area: Area | None = None,
               scale: float = 1.0) -> None:
        """Stack the toasts down from the top of `area`, or (None) up from the window's
        bottom-right corner, above the status bar."""
        board = self._app.model.toasts
        if board.version != self._version:
            self._version = board.version
            self._fill(board.visible()[:SLOTS])
        if area is None:
            self._place(width, height, (0, 0, width, height), scale, downwards=False)
        else:
            self._place(width, height, area, scale, downwards=True)

    def _fill(self, toasts: list[Toast]) -> None:
        self._shown = toasts
        palette = self._app.themes.palette
        for index, slot in enumerate(self._slots):
            if index >= len(toasts):
                dpg.configure_item(slot["window"], show=False)
                continue
            toast = toasts[index]
            dpg.set_value(slot["title"], toast.title)
            dpg.configure_item(slot["title"], color=toast_colour(palette, toast.kind))
            dpg.set_value(slot["body"], toast.body)
            dpg.configure_item(slot["body"], show=bool(toast.body))
            # Only sticky toasts have buttons: the others leave by themselves.
            dpg.configure_item(slot["actions"], show=toast.sticky)
            dpg.configure_item(slot["act"], show=toast.opens_safety,
                               user_data=toast.user)
            dpg.configure_item(slot["close"], show=toast.sticky, user_data=toast.id)
            self._app.themes.bind(slot["window"], f"toast_{toast.kind}")
            dpg.configure_item(slot["window"], show=True)
        self._placed = []

    def _place(self, width: int, height: int, area: Area, scale: float, *,
               downwards: bool) -> None:
        # A toast is as tall as what it shows, which is known once it has been drawn;
        # until then an estimate stands in.
        left, top, area_w, area_h = area
        wide = max(1, min(round(WIDTH * scale), area_w - 2 * MARGIN))
        x = left + area_w - wide - MARGIN
        y = top + MARGIN if downwards else height - 44
        placed = []
        for toast, slot in zip(self._shown, self._slots):
            last = slot["actions"] if toast.sticky else slot["body"] if toast.body \
                else slot["title"]
            bottom = dpg.get_item_pos(last)[1] + dpg.get_item_rect_size(last)[1]
            tall = bottom + 12 if bottom > 20 else self._height(toast)
            if downwards:
                fits = y + tall <= top + area_h
                placed.append((x, y, tall, wide, fits))
                y += tall + 8
            else:
                y -= tall + 8
                placed.append((x, y, tall, wide, True))
        if placed != self._placed:
            self._placed = placed
            for (x, y, tall, wide, fits), slot in zip(placed, self._slots):
                # One that does not fit waits, hidden, until those above it go.
                dpg.configure_item(slot["window"], pos=(x, y), height=tall, width=wide,
                                   show=fits)
                dpg.configure_item(slot["body"], wrap=wide - 30)

    @staticmethod
    def _height(toast: Toast) -> int:
        # Measured heights lag a frame behind; an estimate keeps the stack steady.
        lines = max(1, len(toast.body) // 34 + 1) if toast.body else 0
        return 38 + lines * 19 + (36 if toast.sticky else 0)

    def _act(self, sender: object, app_data: object, user: str) -> None:
        self._app.open_safety(user)

    def _close(self, sender: object, app_data: object, toast_id: int) -> None:
        self._app.dismiss_toast(toast_id)
