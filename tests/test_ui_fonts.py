"""What people write shows up: emoji, Japanese, Korean, Chinese, Greek, Cyrillic, accented
and Arabic letters are in the app's fonts (the system sans merged with Debian's CJK and emoji
faces) and, drawn in the real window, none of them comes out as the replacement glyph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dearpygui.dearpygui as dpg
import numpy as np
import pytest
from fontTools.ttLib import TTFont

from gossip.ui import fonts as app_fonts
from gossip.ui.fontmerge import FontSource, build_merged_font, merged_font

from .appwindow import shared_display, shared_window

# One sample of each kind of text the issue names, and the characters drawn one by one.
SAMPLES = {
    "emoji": "👋😀🎉👍❤🔥🚀✅🙂",
    "japanese": "こんにちはカタカナ日本語",
    "korean": "안녕하세요",
    "chinese": "你好世界",
    "greek": "Καλημέρα",
    "cyrillic": "Привет",
    "accents": "çãéñőŁđžŷ",
    "arabic": "مرحبا",
}
# Characters no font has (Unicode's last private-use code points): Dear PyGui draws its
# replacement glyph for them, the picture a missing character makes.
NOWHERE = ("\U0010fffd", "\U0010fffc")
PER_ROW = 16


def installed_faces() -> tuple[Path, Path, tuple[FontSource, ...]]:
    files = app_fonts.find_font_files()
    fallbacks = app_fonts.find_fallbacks()
    # The Makefile's system packages install these; a missing one is a broken set-up.
    assert files is not None, "no system sans (fonts-dejavu-core)"
    assert len(fallbacks) == len(app_fonts.FALLBACKS), "fonts-wqy-microhei or fonts-symbola"
    return files[0], files[1], fallbacks


# -- the merged face ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def merged(tmp_path_factory) -> Path:
    regular, _, fallbacks = installed_faces()
    return merged_font(FontSource(regular), fallbacks, tmp_path_factory.mktemp("fonts"))


@pytest.mark.parametrize("kind", SAMPLES)
def test_the_merged_face_has_every_character_people_write(merged: Path, kind: str) -> None:
    regular, _, _ = installed_faces()
    cmap = TTFont(merged, lazy=True).getBestCmap()
    assert [c for c in SAMPLES[kind] if ord(c) not in cmap] == []
    if kind in ("emoji", "japanese", "korean", "chinese"):
        # ...and they came from the fallbacks: the system sans alone lacks some of them.
        base = TTFont(regular, lazy=True).getBestCmap()
        assert [c for c in SAMPLES[kind] if ord(c) not in base]


def test_copied_glyphs_keep_their_outlines_and_lose_their_hinting(merged: Path) -> None:
    _, _, fallbacks = installed_faces()
    ours = TTFont(merged)
    for source, text in zip(fallbacks, ("こ안你", "👋🎉🚀"), strict=True):
        theirs = TTFont(source.path, fontNumber=source.number)
        for char in text:
            mine = ours["glyf"][ours.getBestCmap()[ord(char)]]
            original = theirs["glyf"][theirs.getBestCmap()[ord(char)]]
            assert original.numberOfContours != 0
            # The points, contours and on/off-curve flags, composites resolved.
            coordinates, ends, flags = mine.getCoordinates(ours["glyf"])
            expected = original.getCoordinates(theirs["glyf"])
            assert (list(coordinates), ends, list(flags)) == (
                list(expected[0]), expected[1], list(expected[2]))
            if not mine.isComposite():
                assert len(mine.program.getBytecode()) == 0


def test_the_merged_face_is_built_once_and_rebuilt_when_a_source_changes(
        tmp_path: Path) -> None:
    regular, _, fallbacks = installed_faces()
    cache = tmp_path / "cache"
    first = merged_font(FontSource(regular), fallbacks[1:], cache)
    built_at = first.stat().st_mtime_ns
    assert merged_font(FontSource(regular), fallbacks[1:], cache) == first
    assert first.stat().st_mtime_ns == built_at
    copy = tmp_path / "Symbola-copy.ttf"
    copy.write_bytes(fallbacks[1].path.read_bytes())
    rebuilt = merged_font(FontSource(regular), (FontSource(copy),), cache)
    assert rebuilt != first and rebuilt.is_file()
    assert not first.exists()  # the outdated build does not pile up


def test_a_fallback_that_does_not_fit_is_left_out(tmp_path: Path) -> None:
    regular, _, fallbacks = installed_faces()
    odd = TTFont(fallbacks[1].path)
    odd["head"].unitsPerEm = 1000  # the glyphs would come out at twice their size
    odd.save(tmp_path / "odd.ttf")
    made = build_merged_font(FontSource(regular), (FontSource(tmp_path / "odd.ttf"),),
                             tmp_path / "out.ttf")
    assert made.added == 0
    assert made.codepoints == len(TTFont(regular, lazy=True).getBestCmap())


# -- in the window --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def window(pytestconfig, tmp_path_factory):
    shared_display(pytestconfig)
    app = shared_window(pytestconfig, tmp_path_factory.mktemp("profiles"))
    assert app.bridge.running, "an earlier test closed the window"
    return app


def draw_each(app, font: int | str, chars: list[str]) -> dict[str, np.ndarray]:
    """Each character alone in a text item of `font`, on one frame: its pixels."""
    items: dict[str, int | str] = {}
    with dpg.window(pos=(0, 0), width=1240, height=800, no_title_bar=True, no_move=True,
                    no_scrollbar=True) as sheet:
        for row in range(0, len(chars), PER_ROW):  # rows, so that none runs off the edge
            with dpg.group(horizontal=True, horizontal_spacing=12):
                for char in chars[row:row + PER_ROW]:
                    items[char] = dpg.add_text(char)
                    dpg.bind_item_font(items[char], font)
    try:
        for _ in range(3):  # laid out, glyphs rasterized, drawn
            app.step()
        frame = app.grab_frame()
        drawn = {}
        for char, item in items.items():
            (x, y), (w, h) = dpg.get_item_rect_min(item), dpg.get_item_rect_size(item)
            drawn[char] = frame[int(y):int(y + h), int(x):int(x + w)].copy()
        return drawn
    finally:
        dpg.delete_item(sheet)


def looks_alike(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.abs(a.astype(int) - b.astype(int)).max() <= 8)


def inked(pixels: np.ndarray) -> bool:
    """Something was drawn: the glyph's box is not one flat colour."""
    return pixels.size > 0 and int(np.ptp(pixels.reshape(-1, 3), axis=0).max()) > 60


@pytest.mark.parametrize("role", ["body", "bold", "title"])
def test_no_character_people_write_is_drawn_as_the_replacement_glyph(window, role) -> None:
    font = getattr(window.fonts, role)
    assert font != 0, "the app fell back to Dear PyGui's built-in font"
    chars = sorted(set("".join(SAMPLES.values())))
    drawn = draw_each(window, font, [*NOWHERE, *chars])
    replacement = drawn[NOWHERE[0]]
    # The check can see a replacement glyph: two missing characters draw the same picture.
    assert inked(replacement) and looks_alike(drawn[NOWHERE[1]], replacement)
    assert [c for c in chars if looks_alike(drawn[c], replacement)] == []
    assert [c for c in chars if not inked(drawn[c])] == []


def test_the_app_loads_the_merged_faces(window) -> None:
    assert window.fonts.fallbacks and window.fonts.regular_file != window.fonts.found
    cmap = TTFont(window.fonts.bold_file, lazy=True).getBestCmap()
    assert ord("こ") in cmap and ord("👋") in cmap


def test_a_start_up_with_the_merged_face_cached_needs_no_font_tools(merged: Path) -> None:
    regular, _, fallbacks = installed_faces()
    # A fresh interpreter: this one has loaded fontTools for the tests above.
    probe = ("import sys; from pathlib import Path; "
             "from gossip.ui.fontmerge import FontSource, merged_font; "
             f"found = merged_font(FontSource(Path({str(regular)!r})), "
             f"tuple(FontSource(Path(p)) for p in {[str(f.path) for f in fallbacks]!r}), "
             f"Path({str(merged.parent)!r})); "
             "print(found, 'fontTools' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == [str(merged), "False"]
