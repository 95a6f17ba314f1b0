"""Text from the network made safe for a terminal.

Anything a member or the hub chose (message text, user names) could otherwise move the
cursor, recolour or clear the screen, forge a whole line that looks like ours (a newline),
or reverse what follows (bidi controls). Every such character is shown as a visible escape
instead; message text keeps its line breaks, each continuation line indented under the first.
"""

from __future__ import annotations

import unicodedata

# Unicode's explicit directional formatting characters (UAX #9) and the marks that act
# like them: they reorder text after them, so a line can read other than it is.
BIDI_CONTROLS = frozenset(
    "\u061c"  # ARABIC LETTER MARK
    "\u200e\u200f"  # LEFT-TO-RIGHT / RIGHT-TO-LEFT MARK
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings, overrides, pop
    "\u2066\u2067\u2068\u2069"  # isolates
)
# Characters that end a line for some terminals or readers besides "\n".
LINE_BREAKS = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _unsafe(char: str) -> bool:
    code = ord(char)
    return (code < 0x20 or code == 0x7f or 0x80 <= code <= 0x9f or char in BIDI_CONTROLS
            or char in LINE_BREAKS or unicodedata.category(char) == "Cs")


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xff:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xffff else f"\\U{code:08x}"


def safe_field(text: str) -> str:
    """One line: every control, ESC, C1, bidi and line-break character (newline too) shown
    as an escape such as \\x1b or \\u202e."""
    return "".join(_escape(char) if char == "\n" or _unsafe(char) else char for char in text)


def safe_block(text: str, indent: str) -> str:
    """Several lines: each escaped as by safe_field, and every line after the first begins
    with `indent`, so no line of it can pass for a line of ours."""
    return ("\n" + indent).join(safe_field(line) for line in text.split("\n"))
