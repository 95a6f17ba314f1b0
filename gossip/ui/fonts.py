"""Fonts: a clean sans-serif from the system (DejaVu, Liberation, Noto, Segoe, Helvetica) with
the CJK and emoji glyphs it lacks merged in from Debian's font packages, at the sizes the app
uses, scaled by the user's setting; Dear PyGui's built-in font when there is none."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import dearpygui.dearpygui as dpg
import platformdirs

from .fontmerge import FontMergeError, FontSource, merged_font

log = logging.getLogger("gossip.ui")

# (regular, bold) pairs, most preferred first. DejaVu Sans covers Latin, Greek, Cyrillic,
# Armenian, Georgian, Hebrew and Arabic letters and many symbols.
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
# What the base face lacks, in the order asked: Chinese, Japanese and Korean (WenQuanYi Micro
# Hei: TrueType outlines at DejaVu's 2048 units per em, which the merge needs, 5 MB; Noto Sans
# CJK has CFF outlines and 65,535 glyphs, and Droid Sans Fallback lacks Hangul), then
# monochrome emoji and symbols (Symbola; colour emoji fonts are bitmaps Dear PyGui cannot
# draw). Each entry lists where distributions put the file.
FALLBACKS: tuple[tuple[FontSource, ...], ...] = (
    (FontSource(Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")),
     FontSource(Path("/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc")),
     FontSource(Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"))),
    (FontSource(Path("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf")),
     FontSource(Path("/usr/share/fonts/TTF/Symbola.ttf")),
     FontSource(Path("/usr/share/fonts/gdouros-symbola/Symbola.ttf"))),
)
# Dear PyGui 2.3 (Dear ImGui 1.92) draws glyphs into its texture when they are first shown,
# so the whole merged face is loaded without listing ranges and only what is on screen costs.
SIZES = {"body": 16, "small": 13, "bold": 16, "title": 21, "hero": 34}
BOLD_ROLES = ("bold", "title", "hero")


@dataclass(frozen=True)
class Fonts:
    """Font item ids by role; 0 means Dear PyGui's default font."""

    body: int | str = 0
    small: int | str = 0
    bold: int | str = 0
    title: int | str = 0
    hero: int | str = 0
    found: str = ""  # the base face's file, for the about box and the logs
    regular_file: str = ""  # the files loaded: the base face, or it merged with fallbacks
    bold_file: str = ""
    fallbacks: tuple[str, ...] = ()  # the fallback files merged in


def default_cache_dir() -> Path:
    return platformdirs.user_cache_path("gossip") / "fonts"


def find_font_files() -> tuple[Path, Path] | None:
    for regular, bold in CANDIDATES:
        if Path(regular).is_file():
            return Path(regular), Path(bold) if Path(bold).is_file() else Path(regular)
    return None


def find_fallbacks() -> tuple[FontSource, ...]:
    """The first installed file of each fallback, in order."""
    found = []
    for places in FALLBACKS:
        found.extend(next(([s] for s in places if s.path.is_file()), []))
    return tuple(found)


def with_fallbacks(base: Path, fallbacks: tuple[FontSource, ...], cache_dir: Path) -> Path:
    """`base` merged with `fallbacks` (built once into `cache_dir`); `base` itself when there
    is nothing to merge or the merge fails: text then shows "?" for what it lacks."""
    if not fallbacks:
        return base
    try:
        return merged_font(FontSource(base), fallbacks, cache_dir)
    except (FontMergeError, OSError) as exc:
        log.warning("cannot merge fallback fonts into %s (%s); CJK and emoji will not show",
                    base.name, exc)
        return base


def load_fonts(scale: float, cache_dir: Path | None = None) -> Fonts:
    """Load the app's fonts at `scale` and make the body font the default."""
    files = find_font_files()
    if files is None:
        log.info("no system font found; using Dear PyGui's built-in font")
        return Fonts()
    fallbacks = find_fallbacks()
    if len(fallbacks) < len(FALLBACKS):
        log.info("some fallback fonts are missing (CJK: fonts-wqy-microhei, emoji: "
                 "fonts-symbola); characters they cover show as \"?\"")
    cache = cache_dir or default_cache_dir()
    regular = with_fallbacks(files[0], fallbacks, cache)
    bold = regular if files[1] == files[0] else with_fallbacks(files[1], fallbacks, cache)
    loaded: dict[str, int | str] = {}
    with dpg.font_registry():
        for role, size in SIZES.items():
            path = bold if role in BOLD_ROLES else regular
            loaded[role] = dpg.add_font(str(path), round(size * scale))
    dpg.bind_font(loaded["body"])
    return Fonts(found=str(files[0]), regular_file=str(regular), bold_file=str(bold),
                 fallbacks=tuple(str(f.path) for f in fallbacks), **loaded)
