"""The left column: the hub's channels (with unread counts) and its members (presence,
in-call state, a trust badge that opens the safety number, and a warning on a name that looks
like another member's)."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from .. import viewmodel as vm
from ..model import AppModel
from .base import AppActions

WIDTH = 260


class Sidebar:
    def __init__(self, app: AppActions, parent: int | str) -> None:
        self._app = app
        self._channels_version = -1
        self._members_version = -1
        self.width = WIDTH  # reflow.py decides it
        themes, fonts = app.themes, app.fonts
        with dpg.child_window(parent=parent, width=WIDTH, height=-38, border=False) as self.root:
            themes.bind(self.root, "panel")
            self.hub_name = dpg.add_text("")
            dpg.bind_item_font(self.hub_name, fonts.title)
            self.hub_detail = dpg.add_text("")
            dpg.bind_item_font(self.hub_detail, fonts.small)
            themes.bind(self.hub_detail, "dim")
            dpg.add_separator()
            self._heading("CHANNELS")
            self.channels = dpg.add_group()
            dpg.add_spacer(height=6)
            self.members_heading = self._heading("MEMBERS")
            self.members = dpg.add_group()

    def resize(self, width: int, height: int) -> None:
        dpg.configure_item(self.root, width=width, height=height)
        if width != self.width:
            self.width = width
            self.redraw()

    def _heading(self, text: str) -> int | str:
        item = dpg.add_text(text)
        dpg.bind_item_font(item, self._app.fonts.small)
        self._app.themes.bind(item, "dim")
        return item

    def update(self, model: AppModel) -> None:
        if model.channels_version != self._channels_version:
            self._channels_version = model.channels_version
            self._draw_channels(vm.channel_rows(model))
        if model.members_version != self._members_version:
            self._members_version = model.members_version
            dpg.set_value(self.hub_name, model.hub or "Gossip")
            dpg.set_value(self.hub_detail, f"{model.user} @ {model.host}:{model.port}")
            self._draw_members(vm.member_rows(model))

    def redraw(self) -> None:
        self._channels_version = self._members_version = -1

    def _draw_channels(self, rows: list[vm.ChannelRow]) -> None:
        themes, fonts = self._app.themes, self._app.fonts
        dpg.delete_item(self.channels, children_only=True)
        for row in rows:
            with dpg.group(horizontal=True, parent=self.channels):
                item = dpg.add_selectable(label=row.label, default_value=row.selected,
                                          width=self.width - 70 if row.unread
                                          else self.width - 30,
                                          callback=self._pick_channel, user_data=row.name)
                if row.selected:
                    themes.bind(item, "channel_selected")
                    dpg.bind_item_font(item, fonts.bold)
                elif row.unread:
                    dpg.bind_item_font(item, fonts.bold)
                else:
                    themes.bind(item, "dim")
                if row.unread:
                    badge = dpg.add_button(label=str(min(row.unread, 99)), small=True,
                                           callback=self._pick_channel, user_data=row.name)
                    themes.bind(badge, "badge_self")

    def _draw_members(self, rows: list[vm.MemberRow]) -> None:
        themes, palette = self._app.themes, self._app.themes.palette
        online = sum(1 for row in rows if row.online)
        dpg.set_value(self.members_heading, f"MEMBERS · {online} ONLINE")
        dpg.delete_item(self.members, children_only=True)
        with dpg.table(parent=self.members, header_row=False, borders_innerH=False,
                       borders_outerH=False, borders_innerV=False, borders_outerV=False,
                       policy=dpg.mvTable_SizingStretchProp, pad_outerX=False,
                       width=self.width - 40) as table:
            themes.bind(table, "member_table")
            dpg.add_table_column(width_fixed=True, init_width_or_weight=14)
            dpg.add_table_column(width_stretch=True, init_width_or_weight=1.0)
            dpg.add_table_column(width_fixed=True)
            for row in rows:
                with dpg.table_row():
                    dot = dpg.add_text("●" if row.online else "○",
                                       color=palette.ok if row.online else palette.dim)
                    with dpg.tooltip(dot):
                        dpg.add_text("online" if row.online else "offline")
                    name = row.label + ("  ♪" if row.in_call else "")
                    label = dpg.add_selectable(label=name, callback=self._pick_member,
                                               user_data=row.user, disable_popup_close=True)
                    if row.looks_like:  # the warning outweighs being offline
                        themes.bind(label, "warn_text")
                    elif not row.online:
                        themes.bind(label, "dim")
                    with dpg.tooltip(label):
                        dpg.add_text(row.tooltip)
                    badge = dpg.add_button(label=row.badge, small=True,
                                           callback=self._pick_member, user_data=row.user)
                    themes.bind(badge, f"badge_{row.badge_kind}")
                    with dpg.tooltip(badge):
                        dpg.add_text(row.tooltip)

    def _pick_channel(self, sender: object, app_data: object, user_data: str) -> None:
        self._app.select_channel(user_data)

    def _pick_member(self, sender: int | str, app_data: object, user_data: str) -> None:
        if dpg.get_item_type(sender).endswith("mvSelectable"):
            dpg.set_value(sender, False)  # a member row is a button, not a toggle
        if user_data != self._app.model.user:
            self._app.open_safety(user_data)
