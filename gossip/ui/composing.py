"""What the message box and a message's menu offer, as pure rules: how tall the box grows and
how a reaction toggles. (Enter sends and Ctrl+Enter starts a new line: Dear PyGui's
`ctrl_enter_for_new_line`. Its ImGui ignores Shift+Enter in a multi-line box and gives no
way to place the cursor, so Shift+Enter can neither add a line where one types nor send.)"""

from __future__ import annotations

# The reactions offered on a message (a member may send any one emoji; these are the quick ones).
QUICK_REACTIONS: tuple[str, ...] = ("👍", "❤", "😂", "🎉", "😮", "😢")
MAX_COMPOSER_LINES = 6  # the box grows with its text up to this many lines, then scrolls


def composer_lines(text: str) -> int:
    """How many lines tall the box is for `text`."""
    return max(1, min(MAX_COMPOSER_LINES, text.count("\n") + 1))


def toggled_reaction(mine: str, chosen: str) -> str:
    """Our reaction after choosing `chosen`: choosing the one we gave takes it back."""
    return "" if chosen == mine else chosen
