"""The video grid above the conversation while in a call: a tile per participant (ourselves
first), each showing the newest picture of their stream through a Dear PyGui dynamic texture
that is reused frame to frame, a name plate, an outline while they speak, and their initials
when they send no video. The pictures arrive converted (videoconvert.py); here they are only
copied into textures."""

from __future__ import annotations

from dataclasses import dataclass

import dearpygui.dearpygui as dpg

from .. import viewmodel as vm
from ..gridlayout import GridLayout, Rect, fit_rect, grid_layout
from ..model import AppModel
from ..palettes import mix
from ..videoconvert import TilePicture, VideoConverter
from .base import AppActions

PLATE_HEIGHT = 22
SPEAKING_THICKNESS = 3.0


@dataclass
class _Texture:
    tag: int | str
    width: int
    height: int
    sequence: int


@dataclass
class _TileItems:
    rect: Rect  # where the tile is, in the drawlist
    outline: int | str
    speaking: bool


class VideoGrid:
    def __init__(self, app: AppActions, parent: int | str, converter: VideoConverter) -> None:
        self._app = app
        self._converter = converter
        with dpg.group(parent=parent, show=False) as self.root:
            self.drawlist = dpg.add_drawlist(width=1, height=1)
            dpg.add_spacer(height=4)
        self._registry = dpg.add_texture_registry()
        self._textures: dict[str, _Texture] = {}
        self._items: dict[str, _TileItems] = {}
        self._structure: object = None
        self._size = (0, 0)
        self.layout = GridLayout(0, 0, ())
        self.tiles: tuple[vm.VideoTile, ...] = ()
        # user -> pictures copied into their texture, while they are in the grid
        self.pictures_shown: dict[str, int] = {}
        self.textures_made = 0  # textures created, ever: reuse keeps this low

    def redraw(self) -> None:
        self._structure = None

    @property
    def visible(self) -> bool:
        return bool(self.tiles)

    def has_picture(self, user: str) -> bool:
        return user in self._textures

    def speaking(self, user: str) -> bool:
        items = self._items.get(user)
        return items is not None and items.speaking

    def tile_on_screen(self, user: str) -> Rect | None:
        """Where `user`'s tile is in the window, for screenshots in tests."""
        items = self._items.get(user)
        if items is None or not dpg.is_item_visible(self.drawlist):
            return None
        left, top = dpg.get_item_rect_min(self.drawlist)
        return Rect(left + items.rect.x, top + items.rect.y, items.rect.width,
                    items.rect.height)

    def update(self, model: AppModel, width: int, height: int) -> None:
        tiles = vm.video_tiles(model)
        if not tiles:
            if self.tiles:
                self._clear()
            return
        size = (max(1, width), max(1, height))
        if size != self._size:
            self._size = size
            dpg.configure_item(self.drawlist, width=size[0], height=size[1])
        self.tiles = tiles
        self.layout = grid_layout(len(tiles), *size)
        tile_width, tile_height = self.layout.tile_size
        self._converter.set_box(tile_width, tile_height)
        ready = self._converter.take()
        # Whose pictures are shown: not those who said their camera is off (black frames).
        users = {tile.user for tile in tiles if not tile.camera_off}
        rebuild = self._take_pictures(
            {user: picture for user, picture in ready.items() if user in users})
        rebuild += [user for user in self._textures if user not in users]
        # Levels change all the time and only toggle outlines; this redraws the tiles.
        structure = (tuple((tile.user, tile.label, tile.camera_off) for tile in tiles), size,
                     self._app.themes.palette.name)
        if rebuild or structure != self._structure:
            self._rebuild(tiles, rebuild, ready, users)
            self._structure = structure
            dpg.configure_item(self.root, show=True)
        for tile in tiles:
            self._show_speaking(tile)

    # -- textures -------------------------------------------------------------------------------
    def _take_pictures(self, ready: dict[str, TilePicture]) -> list[str]:
        """Copy same-size pictures into their textures; the users whose texture must be
        made, resized or dropped (done in `_rebuild`, once nothing draws them)."""
        changed = []
        for user, picture in ready.items():
            texture = self._textures.get(user)
            if picture.pixels is None or texture is None or \
                    (texture.width, texture.height) != (picture.width, picture.height):
                changed.append(user)
                continue
            dpg.set_value(texture.tag, picture.pixels)
            texture.sequence = picture.sequence
            self.pictures_shown[user] = self.pictures_shown.get(user, 0) + 1
        return changed

    def _rebuild(self, tiles: tuple[vm.VideoTile, ...], changed: list[str],
                 ready: dict[str, TilePicture], users: set[str]) -> None:
        dpg.delete_item(self.drawlist, children_only=True)  # nothing draws a texture now
        self._items = {}
        for user in [user for user in self.pictures_shown if user not in users]:
            del self.pictures_shown[user]
        for user in changed:
            texture = self._textures.pop(user, None)
            if texture is not None:
                dpg.delete_item(texture.tag)
            picture = ready.get(user)
            if user in users and picture is not None and picture.pixels is not None:
                tag = dpg.add_dynamic_texture(picture.width, picture.height, picture.pixels,
                                              parent=self._registry)
                self.textures_made += 1
                self._textures[user] = _Texture(tag, picture.width, picture.height,
                                                picture.sequence)
                self.pictures_shown[user] = self.pictures_shown.get(user, 0) + 1
        for tile, rect in zip(tiles, self.layout.tiles, strict=True):
            self._draw_tile(tile, rect)

    def _clear(self) -> None:
        dpg.delete_item(self.drawlist, children_only=True)
        for texture in self._textures.values():
            dpg.delete_item(texture.tag)
        self._textures.clear()
        self._items.clear()
        self.pictures_shown.clear()
        self._converter.take()
        self.tiles = ()
        self.layout = GridLayout(0, 0, ())
        self._structure = None
        dpg.configure_item(self.root, show=False)

    # -- drawing --------------------------------------------------------------------------------
    def _draw_tile(self, tile: vm.VideoTile, rect: Rect) -> None:
        palette = self._app.themes.palette
        drawlist = self.drawlist
        dark = mix(palette.background, (0, 0, 0), 0.45)
        dpg.draw_rectangle(rect.pmin, rect.pmax, fill=(*dark, 255), color=(*dark, 255),
                           rounding=6, parent=drawlist)
        texture = self._textures.get(tile.user)
        if texture is not None:
            shown = fit_rect(rect, texture.width, texture.height)
            dpg.draw_image(texture.tag, shown.pmin, shown.pmax, parent=drawlist)
        else:
            colour = palette.names[tile.name_colour]
            radius = min(rect.width, rect.height) * 0.22
            centre = (rect.x + rect.width / 2, rect.y + rect.height / 2 - PLATE_HEIGHT / 3)
            dpg.draw_circle(centre, radius, fill=(*colour, 255), color=(*colour, 255),
                            parent=drawlist)
            size = max(12.0, radius)
            text_width = size * 0.62 * len(tile.initials)
            dpg.draw_text((centre[0] - text_width / 2, centre[1] - size * 0.62),
                          tile.initials, size=size, color=(*dark, 255), parent=drawlist)
        plate_width = min(rect.width - 12, 16 + 8.2 * len(tile.label))
        top = rect.y + rect.height - PLATE_HEIGHT - 6
        dpg.draw_rectangle((rect.x + 6, top), (rect.x + 6 + plate_width, top + PLATE_HEIGHT),
                           fill=(0, 0, 0, 150), color=(0, 0, 0, 0), rounding=4,
                           parent=drawlist)
        dpg.draw_text((rect.x + 14, top + 3), tile.label, size=15,
                      color=(240, 244, 248, 255), parent=drawlist)
        outline = dpg.draw_rectangle(rect.pmin, rect.pmax, color=(*palette.ok, 255),
                                     thickness=SPEAKING_THICKNESS, rounding=6,
                                     show=tile.speaking, parent=drawlist)
        self._items[tile.user] = _TileItems(rect, outline, tile.speaking)

    def _show_speaking(self, tile: vm.VideoTile) -> None:
        items = self._items.get(tile.user)
        if items is not None and items.speaking != tile.speaking:
            items.speaking = tile.speaking
            dpg.configure_item(items.outline, show=tile.speaking)
