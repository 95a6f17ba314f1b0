"""Where the video grid's tiles go: as many columns and rows as make the tiles largest in the
panel (1, 2 side by side, 2x2, 3x3 ... in a panel of about their own shape), every tile the
same 16:9 size, the grid centred. Pure arithmetic, tested without a window."""

from __future__ import annotations

import math
from dataclasses import dataclass

TILE_ASPECT = 16 / 9
GAP = 8


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float

    @property
    def pmin(self) -> tuple[float, float]:
        return (self.x, self.y)

    @property
    def pmax(self) -> tuple[float, float]:
        return (self.x + self.width, self.y + self.height)


@dataclass(frozen=True)
class GridLayout:
    columns: int
    rows: int
    tiles: tuple[Rect, ...]  # in order: first row left to right, then the next

    @property
    def tile_size(self) -> tuple[int, int]:
        if not self.tiles:
            return (0, 0)
        return (int(self.tiles[0].width), int(self.tiles[0].height))


def grid_shape(count: int, width: float, height: float, *, aspect: float = TILE_ASPECT,
               gap: float = GAP) -> tuple[int, int]:
    """(columns, rows) that give `count` tiles of shape `aspect` the largest size."""
    if count <= 0:
        return (0, 0)
    best = (1, count)
    best_width = -1.0
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        if columns > 1 and math.ceil(count / (columns - 1)) == rows:
            continue  # a column more with no row fewer only makes the grid wider
        tile_width = _tile_width(columns, rows, width, height, aspect, gap)
        if tile_width > best_width + 1e-9:
            best, best_width = (columns, rows), tile_width
    return best


def _tile_width(columns: int, rows: int, width: float, height: float, aspect: float,
                gap: float) -> float:
    by_width = (width - (columns - 1) * gap) / columns
    by_height = (height - (rows - 1) * gap) / rows * aspect
    return max(0.0, min(by_width, by_height))


def grid_layout(count: int, width: float, height: float, *, aspect: float = TILE_ASPECT,
                gap: float = GAP) -> GridLayout:
    """The tiles' rectangles in a `width` x `height` panel; the last row, if short, centred."""
    columns, rows = grid_shape(count, width, height, aspect=aspect, gap=gap)
    if count <= 0:
        return GridLayout(0, 0, ())
    tile_width = math.floor(_tile_width(columns, rows, width, height, aspect, gap))
    tile_height = math.floor(tile_width / aspect)
    used_height = rows * tile_height + (rows - 1) * gap
    top = (height - used_height) / 2
    tiles = []
    for index in range(count):
        row, column = divmod(index, columns)
        in_row = min(columns, count - row * columns)
        row_width = in_row * tile_width + (in_row - 1) * gap
        left = (width - row_width) / 2
        tiles.append(Rect(round(left + column * (tile_width + gap)),
                          round(top + row * (tile_height + gap)), tile_width, tile_height))
    return GridLayout(columns, rows, tuple(tiles))


def fit_rect(box: Rect, width: int, height: int) -> Rect:
    """A `width` x `height` picture scaled to fit `box`, centred (letterboxed)."""
    if width <= 0 or height <= 0:
        return box
    scale = min(box.width / width, box.height / height)
    shown_width, shown_height = width * scale, height * scale
    return Rect(box.x + (box.width - shown_width) / 2, box.y + (box.height - shown_height) / 2,
                shown_width, shown_height)


def initials(user: str) -> str:
    """Up to two letters for a placeholder tile: "alice" -> "A", "mary-jane" -> "MJ"."""
    parts = [part for part in user.replace("_", "-").replace(".", "-").split("-") if part]
    letters = "".join(part[0] for part in parts[:2]).upper()
    return letters or "?"
