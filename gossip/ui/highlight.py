"""Where an in-view search matches inside a message, and the message cut into lines of pieces
so that the matches can be drawn in another colour.

Dear PyGui has no rich text: one text item has one colour and one font. A matched message is
therefore drawn as lines of pieces side by side; items side by side do not wrap as one
paragraph, so the lines are wrapped here, on widths the view measures with its fonts. Pure
functions: tested without a window.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Piece = tuple[str, bool]  # the text, and whether it is (part of) a match
Measure = Callable[[str, bool], float]  # a piece's width in pixels (matches may use bold)

_WORD = re.compile(r"\S+\s*|\s+")  # a word with the spaces after it (a line may end there)


def match_spans(text: str, search: str) -> list[tuple[int, int]]:
    """The [start, end) ranges of `text` that match `search`, in any case (casefold, as the
    search filters the messages), merged where they touch; none for a blank search."""
    needle = search.strip().casefold()
    if not needle:
        return []
    # Casefolding may lengthen a character ("ß" is "ss"): remember where each folded one came
    # from, so a match maps back onto the text as shown.
    origin: list[int] = []
    folded: list[str] = []
    for index, char in enumerate(text):
        fold = char.casefold()
        folded.append(fold)
        origin.extend([index] * len(fold))
    haystack = "".join(folded)
    spans: list[tuple[int, int]] = []
    at = haystack.find(needle)
    while at != -1:
        start, end = origin[at], origin[at + len(needle) - 1] + 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
        at = haystack.find(needle, at + len(needle))
    return spans


def wrap_pieces(
    text: str, spans: list[tuple[int, int]], width: float, measure: Measure
) -> list[list[Piece]]:
    """`text` as lines no wider than `width` (breaking between words, and inside a word only
    when it alone is wider), each line a list of pieces with the matched parts marked. Line
    breaks in the text are kept; an empty line is one empty piece."""
    lines: list[list[Piece]] = []
    offset = 0
    for paragraph in text.split("\n"):
        lines.extend(_wrap_paragraph(paragraph, offset, spans, width, measure))
        offset += len(paragraph) + 1
    return lines


def _wrap_paragraph(
    paragraph: str, offset: int, spans: list[tuple[int, int]], width: float, measure: Measure
) -> list[list[Piece]]:
    lines: list[list[Piece]] = []
    line: list[Piece] = []
    used = 0.0
    for word in _WORD.finditer(paragraph):
        fragments = _cut(word.group(), offset + word.start(), spans)
        size = sum(measure(part, hit) for part, hit in fragments)
        if line and used + size > width:
            lines.append(line)
            line, used = [], 0.0
        if size > width:  # one word wider than the line (a long address): break inside it
            for part, hit in fragments:
                for char in part:
                    char_size = measure(char, hit)
                    if line and used + char_size > width:
                        lines.append(line)
                        line, used = [], 0.0
                    _append(line, char, hit)
                    used += char_size
            continue
        for part, hit in fragments:
            _append(line, part, hit)
        used += size
    lines.append(line or [("", False)])
    return lines


def _cut(word: str, start: int, spans: list[tuple[int, int]]) -> list[Piece]:
    """`word` (at `start` in the text) cut where matches begin and end."""
    pieces: list[Piece] = []
    for index, char in enumerate(word, start):
        _append(pieces, char, any(a <= index < b for a, b in spans))
    return pieces


def _append(line: list[Piece], text: str, hit: bool) -> None:
    """Add to the last piece when it is of the same kind: as few items as possible to draw."""
    if line and line[-1][1] == hit:
        line[-1] = (line[-1][0] + text, hit)
    else:
        line.append((text, hit))
