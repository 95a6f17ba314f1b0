"""The middle column: the channel's header, its messages (sender, time, verified mark and a
countdown to when each disappears) and the composer with its expiry picker.

A message can be worked with: right-click it (or use `open_actions`) to reply, edit one of
ours, react, or copy its text or links; its links open in the system's browser. Ctrl+F
searches the channel, marking each match inside the messages it shows; away from the
bottom, new messages wait behind a "new messages" button instead of pulling the view down."""

from __future__ import annotations

import time
import webbrowser
from collections.abc import Callable
from pathlib import Path

import dearpygui.dearpygui as dpg
import numpy as np

from .. import formatting as fmt
from .. import highlight, intents
from .. import viewmodel as vm
from ..composing import QUICK_REACTIONS, composer_lines, toggled_reaction
from ..model import AppModel
from ..notices import PictureReady
from ..reflow import Columns, scaled
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
COMPOSER_HEIGHT = 36  # one line
COMPOSER_LINE = 18  # each line more, up to composing.MAX_COMPOSER_LINES
CONTEXT_BAR_HEIGHT = 30  # "Replying to …" / "Editing …" over the composer
BOTTOM_SLACK = 4  # pixels from the end that still count as "at the bottom"
HEADER_WIDTH = 640  # the channel's name and the subtitle beside it, at a text scale of 1
# A message with a search match is wrapped by us (highlight.py), to the list's width less the
# avatar and countdown columns, the table's cell padding and the list's scrollbar.
MATCH_WRAP_SLACK = 48
CANCEL_ROOM = 90  # pixels kept right of a progress bar for its Cancel button


class Conversation:
    def __init__(self, app: AppActions, parent: int | str, default_expiry: float,
                 right_margin: int) -> None:
        self._app = app
        self._version = -1
        self._composer_state: vm.Composer | None = None
        self._countdowns: list[tuple[int | str, float]] = []  # item, expires_at
        self._last_tick = 0.0
        # Opens a link; tests put a recorder here so no browser ever starts.
        self.open_url: Callable[[str], object] = webbrowser.open
        self._rows: dict[str, vm.MessageRow] = {}  # what is drawn, by message id
        self._links: vm.LinkMemo = {}  # the links found in what is drawn
        self._message_of: dict[int | str, str] = {}  # a message's text item -> its id
        self._drawn_ids: set[str] = set()
        self._channel: str | None = None
        self.unseen = 0  # messages that came while the view was not at the bottom
        self.search = ""
        self.highlights: list[int | str] = []  # the drawn pieces that are search matches
        self._wrapped_for = 0.0  # the width the matched messages were wrapped to
        self.replying_to = ""  # the id of the message the composer answers
        self.editing = ""  # the id of our message the composer rewrites
        self._composer_lines = 1
        self._one_line = COMPOSER_HEIGHT  # until reflow gives the column its sizes
        self._line = COMPOSER_LINE
        self._following = True  # the view stays at the newest message
        self._last_y = 0.0  # where the list was scrolled to at the last frame
        themes, fonts = app.themes, app.fonts
        with dpg.child_window(parent=parent, width=-right_margin, height=-38,
                              border=False) as self.root:
            themes.bind(self.root, "chat")
            with dpg.group(horizontal=True):
                self.title = dpg.add_text("")
                dpg.bind_item_font(self.title, fonts.title)
                self.subtitle = dpg.add_text("")
                themes.bind(self.subtitle, "dim")
                # In the header, not beside Send: the message box keeps its minimum width
                # there at any window size and text scale (reflow.py).
                self.attach_button = dpg.add_button(label="📎 Attach a file",
                                                    callback=self._pick_file)
                with dpg.tooltip(self.attach_button):
                    dpg.add_text("Send a file: sealed for the channel's members, kept on the "
                                 "hub until it expires like the message (the expiry beside "
                                 "Send)")
                self.jump = dpg.add_button(label="", show=False, callback=self.jump_to_bottom)
                themes.bind(self.jump, "accent_button")
            with dpg.group(horizontal=True, show=False) as self.search_bar:
                self.search_box = dpg.add_input_text(width=320, hint="Search this channel",
                                                     callback=self._search_changed)
                self.search_count = dpg.add_text("")
                themes.bind(self.search_count, "dim")
                dpg.add_button(label="Close (Esc)", callback=self.close_search)
            dpg.add_separator()
            self.video_slot = dpg.add_group()  # the video grid goes here during a call
            with dpg.child_window(height=-54, border=False) as self.messages:
                themes.bind(self.messages, "chat")
            with dpg.group(horizontal=True, show=False) as self.context_bar:
                self.context_text = dpg.add_text("")
                themes.bind(self.context_text, "dim")
                dpg.add_button(label="Cancel (Esc)", callback=self.cancel_context)
            with dpg.group(horizontal=True):
                # Enter sends; Ctrl+Enter starts a new line where the cursor is.
                self.composer = dpg.add_input_text(width=-250, hint="", on_enter=True,
                                                   multiline=True, height=COMPOSER_HEIGHT,
                                                   ctrl_enter_for_new_line=True,
                                                   callback=self._send)
                themes.bind(self.composer, "composer")
                self.expiry = dpg.add_combo([label for label, _ in vm.EXPIRY_CHOICES],
                                            default_value=vm.expiry_label(default_expiry),
                                            width=130)
                with dpg.tooltip(self.expiry):
                    dpg.add_text("How long the message lives before it disappears "
                                 "from every screen")
                self.send_button = dpg.add_button(label="Send", width=-1, height=36,
                                                  callback=self._send)
                themes.bind(self.send_button, "accent_button")
        # The file picker: a Dear PyGui dialog, hidden until Attach is pressed.
        self.file_dialog = dpg.add_file_dialog(show=False, modal=True, width=700, height=420,
                                               callback=self._file_picked,
                                               directory_selector=False)
        dpg.add_file_extension(".*", parent=self.file_dialog)
        # Save as: a folder chooser opened on the downloads folder; the file keeps its
        # (made safe) name there, never replacing one (client/files.py).
        self.save_dialog = dpg.add_file_dialog(show=False, modal=True, width=700, height=420,
                                               callback=self._save_folder_picked,
                                               directory_selector=True,
                                               label="Save the file in…")
        self.saving = ""  # the message whose file the save dialog is for
        # One menu for every message, filled in when it opens (not one window a message).
        with dpg.window(popup=True, show=False, autosize=True, no_title_bar=True,
                        min_size=(160, 40)) as self.menu:
            self.menu_body = dpg.add_group()
        # Inline pictures' textures, by message id, made once each (thumbnails.py).
        self._picture_registry = dpg.add_texture_registry()
        self.picture_textures: dict[str, int | str] = {}
        with dpg.item_handler_registry() as self._message_handlers:
            dpg.add_item_clicked_handler(button=dpg.mvMouseButton_Right,
                                         callback=self._message_clicked)

    def resize(self, columns: Columns) -> None:
        """Take the width and composer sizes reflow.py gave the column."""
        dpg.configure_item(self.root, width=columns.conversation,
                           height=-columns.column_height_margin)
        # The header's second half goes before it would run past the column.
        dpg.configure_item(self.subtitle, show=columns.conversation >= scaled(HEADER_WIDTH,
                                                                              columns.scale))
        self._one_line = columns.composer_height
        self._line = scaled(COMPOSER_LINE, columns.scale)
        self._fit_heights()
        dpg.configure_item(self.composer, width=columns.composer)
        dpg.configure_item(self.expiry, width=columns.expiry)
        dpg.configure_item(self.send_button, width=columns.send,
                           height=columns.composer_height)

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
            hint = state.hint + " · Enter sends, Ctrl+Enter adds a line" if state.enabled \
                else state.hint
            dpg.configure_item(self.composer, hint=hint, enabled=state.enabled)
            dpg.configure_item(self.send_button, enabled=state.enabled)
            dpg.configure_item(self.attach_button, enabled=state.enabled)
        if self.highlights and self._text_width() != self._wrapped_for:
            self._version = -1  # the column changed width: wrap the matched messages again
        if model.messages_version != self._version:
            self._version = model.messages_version
            self._draw(model, now)
        elif now - self._last_tick >= TICK_SECONDS:
            self._tick(now)
        self._follow_the_newest()
        lines = composer_lines(str(dpg.get_value(self.composer)))
        if lines != self._composer_lines:
            self._composer_lines = lines
            self._fit_heights()

    def at_bottom(self) -> bool:
        """Whether the view shows the newest message."""
        return dpg.get_y_scroll(self.messages) >= dpg.get_y_scroll_max(self.messages) \
            - BOTTOM_SLACK

    def _follow_the_newest(self) -> None:
        """Keep a view that was at the bottom there. The list's height is known only after it
        has been drawn, wrapped text grows it over the next frames and a scroll shows a frame
        late, so "at the bottom" is a state: left when the reader scrolls up, taken again
        when they scroll back down."""
        y, end = dpg.get_y_scroll(self.messages), dpg.get_y_scroll_max(self.messages)
        if y >= end - BOTTOM_SLACK:  # (a list that shrank is clamped to its end)
            self._following = True
            if self.unseen:
                self._set_unseen(0)  # scrolled down to them
        elif y < self._last_y - BOTTOM_SLACK:
            self._following = False  # the reader went up
        if self._following and y < end:
            dpg.set_y_scroll(self.messages, end)
        self._last_y = y

    def jump_to_bottom(self) -> None:
        self._set_unseen(0)
        self._following = True

    def _set_unseen(self, count: int) -> None:
        self.unseen = count
        plural = "message" if count == 1 else "messages"
        dpg.configure_item(self.jump, show=count > 0, label=f"↓ {count} new {plural}")

    def _fit_heights(self) -> None:
        # One line at the text scale reflow gave, each further line more (up to a cap).
        composer = self._one_line + self._line * (self._composer_lines - 1)
        context = CONTEXT_BAR_HEIGHT if (self.replying_to or self.editing) else 0
        dpg.configure_item(self.composer, height=composer)
        dpg.configure_item(self.messages, height=-(composer + 18 + context))

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
        at_bottom = self._following
        if channel != self._channel:  # another channel: start at its newest message
            self._channel, self._drawn_ids, at_bottom = channel, set(), True
            self._set_unseen(0)
            self.cancel_context()
        dpg.delete_item(self.messages, children_only=True)
        for gone in set(self.picture_textures) - set(model.pictures):
            dpg.delete_item(self.picture_textures.pop(gone))
        self._countdowns = []
        self._message_of = {}
        self.highlights = []
        rows = vm.message_rows(model, now, self.search, self._links)
        self._rows = {row.id: row for row in rows}
        if self.search:
            total = len(vm.message_rows(model, now, memo=self._links))
            dpg.set_value(self.search_count, f"{len(rows)} of {total} messages")
        arrived = [row for row in rows if row.id not in self._drawn_ids]
        self._drawn_ids |= {row.id for row in rows}
        if any(row.mine for row in arrived):
            at_bottom = True  # what we just wrote is always brought into view
        elif arrived and not at_bottom and not self.search:
            self._set_unseen(self.unseen + len(arrived))
        self._following = at_bottom
        uploads = vm.upload_rows(model)
        if not rows:
            self._uploads(uploads)
            dpg.add_spacer(height=40, parent=self.messages)
            empty = dpg.add_text(
                f"No messages match \"{self.search}\"." if self.search else
                f"No messages in #{channel} yet.\nWhat you write here is sealed for each "
                "member and vanishes when it expires.\nRight-click a message to reply, "
                "edit, react or copy it.", parent=self.messages, wrap=0)
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
                        self._message_body(row)
                        if row.file is not None:
                            self._attachment(row.id, row.file)
                    countdown = dpg.add_text("◷ " + row.countdown,
                                             color=palette.warn if row.urgent else palette.dim)
                    dpg.bind_item_font(countdown, fonts.small)
                    with dpg.tooltip(countdown):
                        dpg.add_text("Disappears at " + time.strftime(
                            "%H:%M:%S", time.localtime(row.expires_at)) + " on every screen")
                    self._countdowns.append((countdown, row.expires_at))
        self._uploads(uploads)

    def _message_body(self, row: vm.MessageRow) -> None:
        themes, fonts, palette = self._app.themes, self._app.fonts, self._app.themes.palette
        if row.quote:
            quote = dpg.add_text("↪ " + row.quote, wrap=0)
            themes.bind(quote, "dim")
            dpg.bind_item_font(quote, fonts.small)
        colour = palette.danger if row.mark_kind == "unverified" else palette.text
        spans = highlight.match_spans(row.text, self.search) if self.search else []
        if spans:
            self._marked_text(row, spans, colour)
        else:
            text = dpg.add_text(row.text, wrap=0, color=colour)
            dpg.bind_item_handler_registry(text, self._message_handlers)
            self._message_of[text] = row.id
        for target in row.links:
            # The label is the very address that opens (links.py): nothing else is shown.
            link = dpg.add_button(label="↗ " + target, small=True, user_data=target,
                                  callback=lambda _s, _a, url: self.open_link(url))
            themes.bind(link, "ghost_button")
        if row.edited or row.reactions:
            with dpg.group(horizontal=True):
                if row.edited:
                    edited = dpg.add_text("(edited)")
                    themes.bind(edited, "dim")
                    dpg.bind_item_font(edited, fonts.small)
                for emoji, count in row.reactions:
                    button = dpg.add_button(label=f"{emoji} {count}", small=True,
                                            user_data=(row.id, emoji),
                                            callback=lambda _s, _a, what: self.react(*what))
                    themes.bind(button, "accent_button" if emoji == row.my_reaction
                                else "ghost_button")

    def _marked_text(self, row: vm.MessageRow, spans: list[tuple[int, int]],
                     colour: tuple[int, int, int]) -> None:
        """The message's text with the search's matches in the accent colour and bold: lines
        of pieces side by side, wrapped here (side-by-side items do not wrap as one)."""
        fonts, palette = self._app.fonts, self._app.themes.palette
        scale = dpg.get_global_font_scale()

        def measure(piece: str, hit: bool) -> float:
            size = dpg.get_text_size(piece, font=fonts.bold if hit else fonts.body)
            return (size[0] if size else len(piece) * 8.0) * scale

        self._wrapped_for = self._text_width()
        with dpg.group():
            for line in highlight.wrap_pieces(row.text, spans, self._wrapped_for, measure):
                with dpg.group(horizontal=True, horizontal_spacing=0):
                    for piece, hit in line:
                        item = dpg.add_text(piece, color=palette.accent if hit else colour)
                        if hit:
                            dpg.bind_item_font(item, fonts.bold)
                            self.highlights.append(item)
                        dpg.bind_item_handler_registry(item, self._message_handlers)
                        self._message_of[item] = row.id

    def _text_width(self) -> float:
        """The width a message's text has in the list (before the list is first drawn, a
        guess: the next frame wraps again to the real one)."""
        width = dpg.get_item_rect_size(self.messages)[0] or 600
        return max(80.0, width - AVATAR - 8 - COUNTDOWN_WIDTH - MATCH_WRAP_SLACK)

    # -- what can be done with a message ------------------------------------------------------
    def _message_clicked(self, _sender: object, app_data: tuple[int, int | str]) -> None:
        message_id = self._message_of.get(app_data[1])
        if message_id is not None:
            self.open_actions(message_id)

    def open_actions(self, message_id: str) -> None:
        """The menu of what can be done with a message, at the pointer."""
        row = self._rows.get(message_id)
        if row is None:
            return
        dpg.delete_item(self.menu_body, children_only=True)
        entries: list[tuple[str, Callable[[], object]]] = [
            ("Reply", lambda: self.start_reply(message_id)),
            ("Copy text", lambda: self.copy_text(message_id))]
        if row.mine:
            entries.insert(1, ("Edit", lambda: self.start_edit(message_id)))
        for target in row.links:
            entries.append((f"Copy link {target}", _copier(target)))
        for label, action in entries:
            dpg.add_selectable(label=label, parent=self.menu_body, user_data=action,
                               callback=self._menu_chosen)
        with dpg.group(horizontal=True, parent=self.menu_body):
            for emoji in QUICK_REACTIONS:
                dpg.add_button(label=emoji, user_data=(message_id, emoji),
                               callback=self._reaction_chosen)
        dpg.configure_item(self.menu, show=True, pos=dpg.get_mouse_pos(local=False))

    def _menu_chosen(self, _sender: object, _data: object, action: Callable[[], object]
                     ) -> None:
        self._close_menu()
        action()

    def _reaction_chosen(self, _sender: object, _data: object, what: tuple[str, str]) -> None:
        self._close_menu()
        self.react(*what)

    def _close_menu(self) -> None:
        dpg.configure_item(self.menu, show=False)

    def copy_text(self, message_id: str) -> None:
        row = self._rows.get(message_id)
        if row is not None:
            dpg.set_clipboard_text(row.text)

    def open_link(self, url: str) -> None:
        self.open_url(url)

    def start_reply(self, message_id: str) -> None:
        row = self._rows.get(message_id)
        if row is None:
            return
        self.editing, self.replying_to = "", message_id
        first = " ".join(row.text.split())
        self._show_context(f"Replying to {row.sender}: {first[:60]}"
                           + ("…" if len(first) > 60 else ""))

    def start_edit(self, message_id: str) -> None:
        row = self._rows.get(message_id)
        if row is None or not row.mine:
            return
        self.replying_to, self.editing = "", message_id
        dpg.set_value(self.composer, row.text)
        self._show_context("Editing your message: Enter saves it on every screen")

    def react(self, message_id: str, emoji: str) -> None:
        """Put `emoji` under a message; choosing the one we gave takes it back."""
        row = self._rows.get(message_id)
        if row is not None:
            self._app.post(intents.ReactToMessage(
                message_id, toggled_reaction(row.my_reaction, emoji)))

    def _show_context(self, text: str) -> None:
        dpg.set_value(self.context_text, text)
        dpg.configure_item(self.context_bar, show=True)
        self._fit_heights()
        dpg.focus_item(self.composer)

    def cancel_context(self) -> None:
        if self.editing:
            dpg.set_value(self.composer, "")
        self.replying_to = self.editing = ""
        dpg.configure_item(self.context_bar, show=False)
        self._fit_heights()

    # -- search --------------------------------------------------------------------------------
    def open_search(self) -> None:
        dpg.configure_item(self.search_bar, show=True)
        dpg.focus_item(self.search_box)

    def close_search(self) -> None:
        dpg.configure_item(self.search_bar, show=False)
        dpg.set_value(self.search_box, "")
        self._search_changed(self.search_box, "")

    def _search_changed(self, _sender: object, value: str) -> None:
        if value != self.search:
            self.search = value
            self._version = -1  # drawn again with the filter

    def escape(self) -> None:
        """Esc: close a file chooser, the search, leave a reply or edit, close the menu."""
        self._close_menu()
        for dialog in (self.file_dialog, self.save_dialog):
            dpg.hide_item(dialog)
        if dpg.is_item_shown(self.search_bar):
            self.close_search()
        elif self.replying_to or self.editing:
            self.cancel_context()

    def _attachment(self, message_id: str, file: vm.FileRow) -> None:
        """A file message's line: a Save button, a progress bar while it moves, or where
        it was saved."""
        with dpg.group(horizontal=True):
            label = dpg.add_text(file.label)
            self._app.themes.bind(label, "dim")
            if file.state == "save":
                dpg.add_button(label="Save", callback=self._save, user_data=message_id)
            elif file.state == "saved":
                saved = dpg.add_text(f"✓ saved as {Path(file.detail).name}")
                self._app.themes.bind(saved, "dim")
                with dpg.tooltip(saved):
                    dpg.add_text(file.detail)
        if file.state == "moving":  # on a line of its own: a long name leaves it its width
            with dpg.group(horizontal=True):
                self._progress(file.file_id, file.fraction, file.detail)
        if file.picture is not None:
            dpg.add_image(self._picture_texture(message_id, file.picture))
        elif file.picture_note:
            note = dpg.add_text(file.picture_note)
            self._app.themes.bind(note, "dim")

    def _picture_texture(self, message_id: str, picture: PictureReady) -> int | str:
        tag = self.picture_textures.get(message_id)
        if tag is None:
            pixels = np.frombuffer(picture.rgba, dtype=np.uint8).astype(np.float32) / 255.0
            tag = dpg.add_static_texture(picture.width, picture.height, pixels,
                                         parent=self._picture_registry)
            self.picture_textures[message_id] = tag
        return tag

    def _uploads(self, uploads: tuple[vm.UploadRow, ...]) -> None:
        """Our files on their way up: below the messages until posted as one."""
        for upload in uploads:
            with dpg.group(horizontal=True, parent=self.messages):
                label = dpg.add_text(upload.label)
                self._app.themes.bind(label, "dim")
                self._progress(upload.file_id, upload.fraction, upload.detail)

    def _progress(self, file_id: str, fraction: float, detail: str) -> None:
        # To the right edge but for the Cancel (a long name leaves the bar less room).
        dpg.add_progress_bar(default_value=fraction, overlay=detail, width=-CANCEL_ROOM)
        dpg.add_button(label="Cancel", small=True, user_data=file_id,
                       callback=lambda _s, _a, what: self._app.cancel_transfer(what))

    def _save(self, sender: object, app_data: object, message_id: str) -> None:
        """Save: choose the folder, starting in the downloads folder."""
        self.saving = message_id
        folder = self._app.downloads_folder()
        start = next((p for p in (folder, *folder.parents) if p.is_dir()), Path.home())
        dpg.configure_item(self.save_dialog, default_path=str(start))
        dpg.show_item(self.save_dialog)

    def _save_folder_picked(self, sender: object, app_data: dict[str, object]) -> None:
        dpg.hide_item(self.save_dialog)  # a modal left up would take every click after it
        folder = str(app_data.get("file_path_name") or app_data.get("current_path") or "")
        message_id, self.saving = self.saving, ""
        if folder and message_id:
            self._app.save_file(message_id, Path(folder))

    def _pick_file(self) -> None:
        dpg.show_item(self.file_dialog)

    def _file_picked(self, sender: object, app_data: dict[str, object]) -> None:
        dpg.hide_item(self.file_dialog)
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
        if self.editing:
            self._app.post(intents.EditMessage(self.editing, text))
        else:
            ttl = vm.expiry_seconds(str(dpg.get_value(self.expiry)))
            self._app.send_message(text, ttl, reply_to=self.replying_to)
        # Enter leaves the box first (Dear PyGui keeps its own copy while it is being
        # typed in), so it can be emptied here and taken up again.
        dpg.set_value(self.composer, "")
        self.replying_to = self.editing = ""
        dpg.configure_item(self.context_bar, show=False)
        self._fit_heights()
        dpg.focus_item(self.composer)


def _copier(text: str) -> Callable[[], None]:
    return lambda: dpg.set_clipboard_text(text)
