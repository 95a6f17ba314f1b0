"""The main screen's layout: sidebar | conversation (under the video grid during a call) |
call panel, over a status bar."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from ..model import AppModel
from .base import AppActions
from .callpanel import WIDTH as CALL_WIDTH
from .callpanel import CallPanel
from .conversation import Conversation
from .sidebar import Sidebar
from .statusbar import StatusBar
from .videogrid import VideoGrid


class MainScreen:
    def __init__(self, app: AppActions, parent: int | str, default_expiry: float) -> None:
        with dpg.group(parent=parent, show=False) as self.root:
            with dpg.group(horizontal=True) as columns:
                self.sidebar = Sidebar(app, columns)
                self.conversation = Conversation(app, columns, default_expiry,
                                                 right_margin=CALL_WIDTH)
                self.call = CallPanel(app, columns)
            self.status = StatusBar(app, self.root)
        self.video = VideoGrid(app, self.conversation.video_slot, app.video)

    def show(self, visible: bool) -> None:
        dpg.configure_item(self.root, show=visible)

    def redraw(self) -> None:
        for part in (self.sidebar, self.conversation, self.call, self.status, self.video):
            part.redraw()

    def update(self, model: AppModel, now: float) -> None:
        self.sidebar.update(model)
        self.conversation.update(model, now)
        self.video.update(model, *self.conversation.video_area())
        self.call.update(model)
        self.status.update(model, now)
