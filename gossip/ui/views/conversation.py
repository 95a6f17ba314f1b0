"""The middle column: the channel's header, its messages (sender, time, verified mark and a
countdown to when each disappears) and the composer with its expiry picker."""

from __future__ import annotations

import time
from pathlib import Path

import dearpygui.dearpygui as dpg

from .. import formatting as fmt
from .. import viewmodel as vm
from ..model import AppModel
from .base import AppActions

AVATAR = 34
COUNTDOWN_WIDTH = 64
TICK_SECONDS = 0.25  # how often the countdowns are rewritten
# During a call the video grid takes this share of the column's height, within bounds, so the
# latest messages stay in view under it.
VIDEO_SHARE = 0.45
VIDEO_MIN_HEIGHT = 150
VIDEO_MAX_HEIGHT = 520
VIDEO_SIDE_PADDING = 16


class Conversation:
    def __init__(self, app: AppActions, parent: int | str, default_expiry: float,
                 right_margin: int) -> None:
        self._app = app
        self._version = -1
        self._composer_state: vm.Composer | None = None
        self._countdowns: list[tuple[int | str, float]] = []  # item, expires_at
        self._last_tick = 0.0
        self._scroll_frames = 0
        themes, fonts = app.themes, app.fonts
        with dpg.child_window(parent=parent, width=-right_margin, height=-38,
                              border=False) as self.root:
            themes.bind(self.root, "chat")
            with dpg.group(horizontal=True):
                self.title = dpg.add_text("")
                dpg.bind_item_font(self.title, fonts.title)
                self.subtitle = dpg.add_text("")
                themes.bind(self.subtitle, "dim")
            dpg.add_separator()
            self.video_slot = dpg.add_group()  # the video grid goes here during a call
            with dpg.child_window(height=-54, border=False) as self.messages:
                themes.bind(self.messages, "chat")
            with dpg.group(horizontal=True):
                self.composer = dpg.add_input_text(width=-340, hint="", on_enter=True,
                                                   callback=self._send)
                themes.bind(self.composer, "composer")
                self.expiry = dpg.add_combo([label for label, _ in vm.EXPIRY_CHOICES],
                                            default_value=vm.expiry_label(default_expiry),
                                            width=130)
                with dpg.tooltip(self.expiry):
                    dpg.add_text("How long the message lives before it disappears "
                                 "from every screen")
                self.attach_button = dpg.add_button(label="Attach", width=80, height=36,
                                                    callback=self._pick_file)
                with dpg.tooltip(self.attach_button):
                    dpg.add_text("Send a file: sealed for the channel's members, kept on the "
                                 "hub until it expires like the message")
                self.send_button = dpg.add_button(label="Send", width=-1, height=36,
                                                  callback=self._send)
                themes.bind(self.send_button, "accent_button")
        # The file picker: a Dear PyGui dialog, hidden until Attach is pressed.
        self.file_dialog = dpg.add_file_dialog(show=False, modal=True, width=700, height=420,
                                               callback=self._file_picked,
                                               directory_selector=False)
        dpg.add_file_extension(".*", parent=self.file_dialog)

    def redraw(self) -> None:
        self._version = -1
        self._composer_state = None

    def video_area(self) -> tuple[int, int]:
        """The size the video grid gets: the column's width, a share of its height."""
        width, height = dpg.get_item_rect_size(self.root)
        share = min(VIDEO_MAX_HEIGHT, max(VIDEO_MIN_HEIGHT, int(height * VIDEO_SHARE)))
        return max(1, int(width) - VIDEO_SIDE_PADDING), share

    def focus_composer(self) -> None:
        dpg.focus_item(self.composer)

    def update(self, model: AppModel, now: float) -> None:
        state = vm.composer(model)
        if state != self._composer_state:
            self._composer_state = state
            dpg.configure_item(self.composer, hint=state.hint, enabled=state.enabled)
            dpg.configure_item(self.send_button, enabled=state.enabled)
            dpg.configure_item(self.attach_button, enabled=state.enabled)
        if model.messages_version != self._version:
            self._version = model.messages_version
            self._draw(model, now)
        elif now - self._last_tick >= TICK_SECONDS:
            self._tick(now)
        if self._scroll_frames:
            # The list's height is known only after it has been drawn once.
            self._scroll_frames -= 1
            dpg.set_y_scroll(self.messages, dpg.get_y_scroll_max(self.messages))

    def _tick(self, now: float) -> None:
        self._last_tick = now
        palette = self._app.themes.palette
        for item, expires_at in self._countdowns:
            left = expires_at - now
            dpg.set_value(item, "◷ " + fmt.countdown(left))
            dpg.configure_item(item, color=palette.warn if left < vm.URGENT_SECONDS
                               else palette.dim)

    def _draw(self, model: AppModel, now: float) -> None:
        themes, fonts, palette = self._app.themes, self._app.fonts, self._app.themes.palette
        channel = model.current_channel or ""
        dpg.set_value(self.title, f"# {channel}" if channel else "")
        dpg.set_value(self.subtitle, "end-to-end encrypted · messages disappear on their own"
                      if channel else "")
        at_bottom = dpg.get_y_scroll(self.messages) >= dpg.get_y_scroll_max(self.messages) - 4
        dpg.delete_item(self.messages, children_only=True)
        self._countdowns = []
        rows = vm.message_rows(model, now)
        if not rows:
            dpg.add_spacer(height=40, parent=self.messages)
            empty = dpg.add_text(f"No messages in #{channel} yet.\nWhat you write here is "
                                 "sealed for each member and vanishes when it expires.",
                                 parent=self.messages)
            themes.bind(empty, "dim")
            return
        with dpg.table(parent=self.messages, header_row=False, borders_innerH=False,
                       borders_outerH=False, borders_innerV=False, borders_outerV=False,
                       policy=dpg.mvTable_SizingStretchProp) as table:
            themes.bind(table, "message_table")
            dpg.add_table_column(width_fixed=True, init_width_or_weight=AVATAR + 8)
            dpg.add_table_column(width_stretch=True, init_width_or_weight=1.0)
            dpg.add_table_column(width_fixed=True, init_width_or_weight=COUNTDOWN_WIDTH)
            for row in rows:
                colour = palette.names[row.name_colour]
                if not row.continued:
                    with dpg.table_row():
                        dpg.add_spacer(height=7)
                with dpg.table_row():
                    if row.continued:
                        dpg.add_text("")
                    else:
                        self._avatar(row.sender, colour)
                    with dpg.group():
                        if not row.continued:
                            with dpg.group(horizontal=True):
                                name = dpg.add_text(row.sender, color=colour)
                                dpg.bind_item_font(name, fonts.bold)
                                if row.mark:
                                    mark = dpg.add_text(row.mark, color=palette.ok
                                                        if row.mark_kind == "verified"
                                                        else palette.danger)
                                    with dpg.tooltip(mark):
                                        dpg.add_text(row.mark_tooltip)
                                stamp = dpg.add_text(row.time)
                                dpg.bind_item_font(stamp, fonts.small)
                                themes.bind(stamp, "dim")
                        dpg.add_text(row.text, wrap=0,
                                     color=palette.danger if row.mark_kind == "unverified"
                                     else palette.text)
                        if row.file is not None:
                            self._attachment(row.id, row.file)
                    countdown = dpg.add_text("◷ " + row.countdown,
                                             color=palette.warn if row.urgent else palette.dim)
                    dpg.bind_item_font(countdown, fonts.small)
                    with dpg.tooltip(countdown):
                        dpg.add_text("Disappears at " + time.strftime(
                            "%H:%M:%S", time.localtime(row.expires_at)) + " on every screen")
                    self._countdowns.append((countdown, row.expires_at))
        if at_bottom:
            self._scroll_frames = 2

    def _attachment(self, message_id: str, file: vm.FileRow) -> None:
        """A file message's line: a Save button, a progress bar while it moves, or where
        it was saved."""
        with dpg.group(horizontal=True):
            label = dpg.add_text(file.label)
            self._app.themes.bind(label, "dim")
            if file.state == "save":
                dpg.add_button(label="Save", callback=self._save, user_data=message_id)
            elif file.state == "moving":
                dpg.add_progress_bar(default_value=file.fraction, overlay=file.detail,
                                     width=260)
            elif file.state == "saved":
                saved = dpg.add_text(f"✓ saved as {Path(file.detail).name}")
                self._app.themes.bind(saved, "dim")
                with dpg.tooltip(saved):
                    dpg.add_text(file.detail)

    def _save(self, sender: object, app_data: object, message_id: str) -> None:
        self._app.save_file(message_id)

    def _pick_file(self) -> None:
        dpg.show_item(self.file_dialog)

    def _file_picked(self, sender: object, app_data: dict[str, object]) -> None:
        path = str(app_data.get("file_path_name") or "")
        if path:
            ttl = vm.expiry_seconds(str(dpg.get_value(self.expiry)))
            self._app.attach_file(path, ttl)

    def _avatar(self, user: str, colour: tuple[int, int, int]) -> None:
        palette = self._app.themes.palette
        with dpg.drawlist(width=AVATAR, height=AVATAR):
            half = AVATAR / 2
            dpg.draw_circle((half, half), half - 1, fill=(*colour, 255), color=(*colour, 255))
            letter = user[:1].upper() or "?"
            dpg.draw_text((half - 6, half - 11), letter, size=20,
                          color=(*palette.background, 255))

    def _send(self) -> None:
        text = str(dpg.get_value(self.composer))
        if not text.strip():
            return
        ttl = vm.expiry_seconds(str(dpg.get_value(self.expiry)))
        self._app.send_message(text, ttl)
        dpg.set_value(self.composer, "")
        dpg.focus_item(self.composer)
