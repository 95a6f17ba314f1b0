"""The message box's keys: Enter sends, Shift+Enter starts a new line. Dear PyGui's
multi-line input puts a new line in for Enter itself; this tells such an edit from others, so
the view sends what was there before it. Pure, so it is tested without a window."""

from __future__ import annotations

# The reactions offered on a message (a member may send any one emoji; these are the quick ones).
QUICK_REACTIONS: tuple[str, ...] = ("👍", "❤", "😂", "🎉", "😮", "😢")
MAX_COMPOSER_LINES = 6  # the box grows with its text up to this many lines, then scrolls


def sent_by_enter(before: str, after: str, *, shift: bool) -> str | None:
    """When `after` is `before` with one new line typed into it and Shift was not held, the
    text to send (`before`); else None (an ordinary edit, or Shift+Enter's new line)."""
    if shift or len(after) != len(before) + 1:
        return None
    at = next((i for i, (a, b) in enumerate(zip(before, after)) if a != b), len(before))
    if after[at] != "\n" or after[:at] + after[at + 1 :] != before:
        return None
    return before


def composer_lines(text: str) -> int:
    """How many lines tall the box is for `text`."""
    return max(1, min(MAX_COMPOSER_LINES, text.count("\n") + 1))


def toggled_reaction(mine: str, chosen: str) -> str:
    """Our reaction after choosing `chosen`: choosing the one we gave takes it back."""
    return "" if chosen == mine else chosen
