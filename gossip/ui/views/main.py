"""The main screen's layout: sidebar | conversation (under the video grid during a call) |
call panel, over a status bar. The columns reflow with the window's width and the text scale
(reflow.py): a side panel that does not fit collapses to a rail, and opens from it as a
drawer over the conversation when even then there is no room."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from ..model import AppModel
from ..reflow import ITEM_SPACING, WINDOW_PADDING, Columns, Side, plan_columns
from .base import AppActions
from .callpanel import WIDTH as CALL_WIDTH
from .callpanel import CallPanel
from .conversation import Conversation
from .rails import Drawer, Rail
from .sidebar import Sidebar
from .statusbar import StatusBar
from .videogrid import VideoGrid


class MainScreen:
    def __init__(self, app: AppActions, parent: int | str, default_expiry: float) -> None:
        self._app = app
        self.prefer = Side.SIDEBAR
        self.opened: Side | None = None  # a collapsed panel the user opened from its rail
        self.columns: Columns | None = None
        self._joined = False
        self._planned_for: tuple[object, ...] | None = None
        with dpg.group(parent=parent, show=False) as self.root:
            with dpg.group(horizontal=True) as self._row:
                self.sidebar_rail = Rail(
                    app,
                    self._row,
                    "☰",
                    "Show channels and members",
                    lambda: self.open_panel(Side.SIDEBAR),
                )
                self.sidebar = Sidebar(app, self._row)
                self.conversation = Conversation(
                    app, self._row, default_expiry, right_margin=CALL_WIDTH
                )
                self.call_rail = Rail(
                    app, self._row, "☎", "Show the call panel", lambda: self.open_panel(Side.CALL)
                )
                self.call = CallPanel(app, self._row)
            self.status = StatusBar(app, self.root)
        self.drawer = Drawer(app)
        self.video = VideoGrid(app, self.conversation.video_slot, app.video)

    def show(self, visible: bool) -> None:
        dpg.configure_item(self.root, show=visible)
        if not visible:
            self.drawer.hold(None)

    def redraw(self) -> None:
        for part in (self.sidebar, self.conversation, self.call, self.status, self.video):
            part.redraw()

    def update(self, model: AppModel, now: float) -> None:
        self.sidebar.update(model)
        self.conversation.update(model, now)
        self.video.update(model, *self.conversation.video_area())
        self.call.update(model)
        self.status.update(model, now)

    def toast_area(self) -> tuple[int, int, int, int]:
        """Where toasts go (left, top, width, height): over the message list, clear of the
        composer, both side panels and an open drawer."""
        conversation = self.conversation
        column_x, column_y = dpg.get_item_pos(conversation.root)
        list_x, list_y = dpg.get_item_pos(conversation.messages)
        list_w, list_h = dpg.get_item_rect_size(conversation.messages)
        left, top = int(column_x + list_x), int(column_y + list_y)
        right, bottom = left + int(list_w), top + int(list_h)
        drawer = self.drawer.placed
        if drawer is not None and self.columns is not None:
            x, _, w, _ = drawer
            if self.columns.drawer is Side.CALL:
                right = min(right, x - ITEM_SPACING)
            else:
                left = max(left, x + w + ITEM_SPACING)
        return left, top, max(0, right - left), max(0, bottom - top)

    # -- reflow ---------------------------------------------------------------------------------
    def open_panel(self, side: Side) -> None:
        """A rail was clicked: keep that panel beside the conversation if it fits there at the
        other's expense, else open it as a drawer (a second click closes the drawer)."""
        if self.opened is side:
            self.opened = None
        else:
            self.prefer = side
            self.opened = side
        self._planned_for = None

    def layout(self, width: int, height: int, scale: float, model: AppModel) -> None:
        """Fit the columns to a window `width` by `height` at text scale `scale`."""
        joined = model.call.joined
        if joined != self._joined:  # who is in the call matters more than the channels then
            self._joined = joined
            self.prefer, self.opened = (Side.CALL if joined else Side.SIDEBAR), None
            self._planned_for = None
        needs = self.call.needed_width(scale)
        key = (width, scale, needs, self.prefer, self.opened)
        if key != self._planned_for:
            self._planned_for = key
            self._apply(
                plan_columns(width, scale, call_needs=needs, prefer=self.prefer, drawer=self.opened)
            )
        columns = self.columns
        if columns is not None and columns.drawer is not None:
            x, y = dpg.get_item_pos(self.conversation.root)
            tall = dpg.get_item_rect_size(self.conversation.root)[1]
            if columns.drawer is Side.SIDEBAR:
                left = WINDOW_PADDING + columns.rail + ITEM_SPACING
            else:
                left = width - WINDOW_PADDING - columns.rail - ITEM_SPACING - columns.drawer_width
            self.drawer.place(left, int(y), columns.drawer_width, int(tall))

    def _apply(self, columns: Columns) -> None:
        self.columns = columns
        if columns.drawer is None:
            self.opened = None  # it fits beside the conversation now: no drawer to close
        margin = columns.column_height_margin
        in_drawer = {Side.SIDEBAR: self.sidebar.root, Side.CALL: self.call.root}
        held = in_drawer[columns.drawer] if columns.drawer is not None else None
        home = {Side.SIDEBAR: self.conversation.root, Side.CALL: None}
        self.drawer.hold(held, self._row, home[columns.drawer] if columns.drawer else None)
        for side, rail, panel, wide in (
            (Side.SIDEBAR, self.sidebar_rail, self.sidebar, columns.sidebar),
            (Side.CALL, self.call_rail, self.call, columns.call),
        ):
            drawn = columns.drawer is side
            rail.place(not wide, columns.rail, margin, drawn)
            dpg.configure_item(panel.root, show=bool(wide) or drawn)
            panel.resize(wide or columns.drawer_width, -1 if drawn else -margin)
        self.conversation.resize(columns)
        self.status.resize(columns.status_bar_height)
