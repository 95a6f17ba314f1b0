"""An in-view search marks the match inside each message: where the matches are (any case,
mapped back onto the text as shown) and the message wrapped into lines of pieces, measured
with a fixed-width stand-in for the font, so every figure is exact."""

from __future__ import annotations

from gossip.ui.highlight import match_spans, wrap_pieces


def mono(text: str, hit: bool) -> float:
    """Ten pixels a character; a match (drawn bold) twelve."""
    return len(text) * (12 if hit else 10)


def test_matches_are_found_in_any_case_and_mapped_onto_the_text_as_shown():
    assert match_spans("Apples and apples", "APPLES") == [(0, 6), (11, 17)]
    assert match_spans("Die Straße", "strasse") == [(4, 10)]  # "ß" folds to "ss"
    assert match_spans("aaaa", "aa") == [(0, 4)]  # touching matches are one mark
    assert match_spans("anything", "  ") == [] and match_spans("abc", "x") == []


def test_a_short_message_is_one_line_with_its_match_marked():
    text = "green apples too"
    assert wrap_pieces(text, match_spans(text, "apples"), 1000, mono) == [
        [("green ", False), ("apples", True), (" too", False)]
    ]


def test_lines_break_between_words_within_the_width_and_keep_the_text():
    text = "one two three four five\n\nsix apples"
    lines = wrap_pieces(text, match_spans(text, "apples"), 100, mono)
    assert lines == [
        [("one two ", False)],
        [("three ", False)],
        [("four five", False)],
        [("", False)],
        [("six ", False)],
        [("apples", True)],
    ]
    for line in lines:  # a trailing space may hang over: it draws nothing
        assert sum(mono(part.rstrip(), hit) for part, hit in line) <= 100
    assert "".join(part for line in lines for part, _ in line) == text.replace("\n", "")


def test_a_word_wider_than_the_line_is_broken_inside_and_its_match_stays_marked():
    text = "see https://example.org/apples/x"
    lines = wrap_pieces(text, match_spans(text, "apples"), 120, mono)
    assert all(sum(mono(part, hit) for part, hit in line) <= 120 for line in lines)
    assert "".join(part for line in lines for part, _ in line) == text
    assert "".join(part for line in lines for part, hit in line if hit) == "apples"
