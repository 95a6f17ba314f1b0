"""One font file from several: a base face plus the glyphs its fallbacks have and it lacks
(CJK, emoji, symbols), because Dear PyGui draws a text item with a single font and cannot
merge fonts itself. Built once with fontTools and kept in a cache directory."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fontTools.ttLib import TTFont
    from fontTools.ttLib.tables._g_l_y_f import Glyph
# fontTools itself is imported where a font is built: once the merged file is cached, a
# start-up never needs it (about 25 ms of imports).

log = logging.getLogger("gossip.ui")

# Bump when the way a merged font is built changes, so that cached files are rebuilt.
BUILD_VERSION = 1
# Per-glyph device tables sized by the glyph count: stale once glyphs are added, and only
# hints for old rasterizers, so they go.
_STALE_TABLES = ("hdmx", "LTSH", "VDMX")


class FontMergeError(Exception):
    """A font file cannot be read or merged."""


@dataclass(frozen=True)
class FontSource:
    """A face in a font file; `number` picks one face of a collection (.ttc)."""

    path: Path
    number: int = 0

    def fingerprint(self) -> str:
        stat = self.path.stat()
        return f"{self.path}#{self.number}:{stat.st_size}:{stat.st_mtime_ns}"


@dataclass(frozen=True)
class MergedFont:
    path: Path
    codepoints: int  # characters the merged face maps
    added: int  # characters taken from the fallbacks


def merged_font(base: FontSource, fallbacks: Sequence[FontSource], cache_dir: Path) -> Path:
    """The merged font's file in `cache_dir`, built on first use (about a second per face:
    tens of thousands of CJK glyphs are copied) and reused while the sources are unchanged;
    a build for older sources is removed."""
    key = "|".join([str(BUILD_VERSION), base.fingerprint(),
                    *(f.fingerprint() for f in fallbacks)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    target = cache_dir / f"{base.path.stem}-merged-{digest}.ttf"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    merged = build_merged_font(base, fallbacks, target)
    for stale in cache_dir.glob(f"{base.path.stem}-merged-*.ttf"):  # from older sources
        if stale != target:
            stale.unlink(missing_ok=True)
    log.info("built %s: %d characters, %d from %s", target.name, merged.codepoints,
             merged.added, ", ".join(f.path.name for f in fallbacks))
    return target


def build_merged_font(base: FontSource, fallbacks: Sequence[FontSource],
                      target: Path) -> MergedFont:
    """Write `base` with every character of `fallbacks` it lacks (first fallback first).

    Only TrueType-outline (glyf) faces with the base's units per em are taken; a fallback
    that does not fit is skipped with a warning. Fallback glyphs lose their hinting (their
    instructions call the functions of their own font, which the merged font does not have).
    Outlines are copied as bytes: decoding and re-encoding tens of thousands of CJK glyphs
    would take several times longer."""
    font = _open(base)
    if "glyf" not in font:
        raise FontMergeError(f"{base.path}: not a TrueType-outline font")
    font.recalcBBoxes = False  # bounds are carried over from each source instead
    cmap = dict(font.getBestCmap())
    order = list(font.getGlyphOrder())
    added = 0
    for index, source in enumerate(fallbacks):
        fallback = _open(source)
        if "glyf" not in fallback or fallback["head"].unitsPerEm != font["head"].unitsPerEm:
            log.warning("font %s does not fit %s (outlines or units per em); skipped",
                        source.path.name, base.path.name)
            continue
        wanted = {cp: name for cp, name in sorted(fallback.getBestCmap().items())
                  if cp not in cmap}
        renamed = _copy_glyphs(fallback, wanted.values(), f"fb{index}.", font, order)
        for codepoint, name in wanted.items():
            cmap[codepoint] = renamed[name]
        _widen_limits(font, fallback)
        added += len(wanted)
    font.setGlyphOrder(order)
    font["glyf"].glyphOrder = order
    _set_unicode_cmap(font, cmap)
    for tag in _STALE_TABLES:
        if tag in font:
            del font[tag]
    font["post"].formatType = 3.0  # no glyph names: tens of thousands of them weigh
    _save_atomically(font, target)
    return MergedFont(target, len(cmap), added)


def _open(source: FontSource) -> TTFont:
    from fontTools.ttLib import TTFont

    try:
        return TTFont(source.path, fontNumber=source.number)
    except Exception as exc:  # noqa: BLE001 - any unreadable font file is the same failure
        raise FontMergeError(f"cannot read {source.path}: {exc}") from exc


def _copy_glyphs(source: TTFont, names: Iterable[str], prefix: str, into: TTFont,
                 order: list[str]) -> dict[str, str]:
    """Copy `names` and the glyphs their composites use; returns old name -> new name."""
    from fontTools.ttLib.tables._g_l_y_f import Glyph

    glyf, hmtx = source["glyf"], source["hmtx"]
    queue = list(dict.fromkeys(names))
    renamed: dict[str, str] = {}
    for name in queue:  # grows while it is walked: components join the end
        if name in renamed:
            continue
        renamed[name] = prefix + name
        if _is_composite(glyf.glyphs[name]):
            queue.extend(c.glyphName for c in glyf[name].components)
    target_glyf, target_hmtx = into["glyf"], into["hmtx"]
    # In the order `names` came (code point order), so that neighbouring characters get
    # neighbouring glyph ids and the BMP cmap stays compact.
    for name, new_name in renamed.items():
        raw = glyf.glyphs[name]
        if _is_composite(raw):
            # Components are stored as glyph ids: decode to names, re-encoded on save.
            glyph = glyf[name]
            glyph.removeHinting()
            for component in glyph.components:
                component.glyphName = renamed[component.glyphName]
        else:
            glyph = Glyph(_without_instructions(getattr(raw, "data", b"")))
        target_glyf.glyphs[new_name] = glyph
        target_hmtx.metrics[new_name] = hmtx[name]
        order.append(new_name)
    return renamed


def _is_composite(glyph: Glyph) -> bool:
    data = getattr(glyph, "data", None)
    if data is None:  # already decoded
        return bool(glyph.isComposite())
    return len(data) >= 2 and int.from_bytes(data[:2], "big", signed=True) < 0


def _without_instructions(data: bytes) -> bytes:
    """A simple glyph's bytes with its hinting program cut out (the header, the contour
    ends, then a length-prefixed program, then the points)."""
    if len(data) < 12:
        return data  # an empty glyph (a space)
    contours = int.from_bytes(data[:2], "big", signed=True)
    at = 10 + 2 * contours
    length = int.from_bytes(data[at:at + 2], "big")
    return data[:at] + b"\0\0" + data[at + 2 + length:]


def _widen_limits(font: TTFont, fallback: TTFont) -> None:
    """What the merged font's summary tables must cover now that `fallback`'s glyphs are in:
    the overall bounding box, the widest advance and the largest glyph sizes."""
    head, other = font["head"], fallback["head"]
    head.xMin, head.yMin = min(head.xMin, other.xMin), min(head.yMin, other.yMin)
    head.xMax, head.yMax = max(head.xMax, other.xMax), max(head.yMax, other.yMax)
    font["hhea"].advanceWidthMax = max(font["hhea"].advanceWidthMax,
                                       fallback["hhea"].advanceWidthMax)
    maxp, theirs = font["maxp"], fallback["maxp"]
    for field in ("maxPoints", "maxContours", "maxCompositePoints", "maxCompositeContours",
                  "maxComponentElements", "maxComponentDepth"):
        setattr(maxp, field, max(getattr(maxp, field), getattr(theirs, field)))


def _set_unicode_cmap(font: TTFont, cmap: dict[int, str]) -> None:
    """Windows Unicode subtables only: BMP (format 4) and full (format 12)."""
    from fontTools.ttLib.tables._c_m_a_p import CmapSubtable

    bmp = CmapSubtable.newSubtable(4)
    bmp.platformID, bmp.platEncID, bmp.language = 3, 1, 0
    bmp.cmap = {cp: name for cp, name in cmap.items() if cp <= 0xFFFF}
    full = CmapSubtable.newSubtable(12)
    full.platformID, full.platEncID, full.language = 3, 10, 0
    full.cmap = dict(cmap)
    font["cmap"].tables = [bmp, full]


def _save_atomically(font: TTFont, target: Path) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(handle)
    try:
        font.save(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
