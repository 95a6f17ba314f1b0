"""Fonts: a clean sans-serif from the system (DejaVu, Liberation, Noto, Segoe, Helvetica) at
the sizes the app uses, scaled by the user's setting; Dear PyGui's built-in font otherwise."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import dearpygui.dearpygui as dpg

log = logging.getLogger("gossip.ui")

# (regular, bold) pairs, most preferred first.
CANDIDATES: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
     "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
     "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
     "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
     "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
    ("C:/Windows/Fonts/segoeui.ttf", "C:/Windows/Fonts/segoeuib.ttf"),
    ("/Library/Fonts/Arial Unicode.ttf", "/Library/Fonts/Arial Unicode.ttf"),
)
# Dear PyGui 2 loads every glyph a font has (✓ ⚠ ● ◷ …), so no ranges are listed.
SIZES = {"body": 16, "small": 13, "bold": 16, "title": 21, "hero": 34}


@dataclass(frozen=True)
class Fonts:
    """Font item ids by role; 0 means Dear PyGui's default font."""

    body: int | str = 0
    small: int | str = 0
    bold: int | str = 0
    title: int | str = 0
    hero: int | str = 0
    found: str = ""  # the file used, for the about box and the logs


def find_font_files() -> tuple[Path, Path] | None:
    for regular, bold in CANDIDATES:
        if Path(regular).is_file():
            return Path(regular), Path(bold) if Path(bold).is_file() else Path(regular)
    return None


def load_fonts(scale: float) -> Fonts:
    """Load the app's fonts at `scale` and make the body font the default."""
    files = find_font_files()
    if files is None:
        log.info("no system font found; using Dear PyGui's built-in font")
        return Fonts()
    regular, bold = files
    loaded: dict[str, int | str] = {}
    with dpg.font_registry():
        for role, size in SIZES.items():
            path = bold if role in ("bold", "title", "hero") else regular
            loaded[role] = dpg.add_font(str(path), round(size * scale))
    dpg.bind_font(loaded["body"])
    return Fonts(found=str(regular), **loaded)
