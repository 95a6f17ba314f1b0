"""How the main screen's columns share the window's width: the sidebar, the conversation and
the call panel, at the user's text scale. The conversation keeps room for a message box of a
useful width; a side panel that does not fit beside it shrinks, then collapses to a rail (a
narrow strip with a button). Which panel gives way first follows what the user is doing: the
call panel while not in a call, the sidebar while in one or after the call's rail was clicked.
When neither fits, a rail's button opens its panel as a drawer over the conversation.

Pure arithmetic on numbers the views measured, so it is tested without a window."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# Widths at a text scale of 1.0, in pixels; each grows with the scale.
SIDEBAR_WIDTH = 260
SIDEBAR_MIN_WIDTH = 200
CALL_WIDTH = 280
RAIL_WIDTH = 44
COMPOSER_MIN_WIDTH = 280  # the message box itself, beside the expiry picker and Send
EXPIRY_WIDTH = 120
SEND_WIDTH = 84
COMPOSER_HEIGHT = 36
STATUS_BAR_HEIGHT = 30
# Dear PyGui's style sizes, which the text scale leaves alone (themes.py sets them).
WINDOW_PADDING = 14
ITEM_SPACING = 8
SLACK = 6  # rounding, and the conversation's own scrollbar should it show one


class Side(Enum):
    SIDEBAR = "sidebar"
    CALL = "call"


@dataclass(frozen=True)
class Columns:
    """Widths in pixels. A side panel of width 0 is collapsed to its rail (`rail` wide)."""

    sidebar: int
    conversation: int
    call: int
    rail: int
    drawer: Side | None  # a collapsed panel shown over the conversation, at its full width
    drawer_width: int
    composer: int
    expiry: int
    send: int
    composer_height: int
    column_height_margin: int  # the columns' height is the window's less this (status bar)
    status_bar_height: int
    scale: float

    def shows(self, side: Side) -> bool:
        return (self.sidebar if side is Side.SIDEBAR else self.call) > 0


def scaled(pixels: int, scale: float) -> int:
    return round(pixels * scale)


def conversation_min_width(scale: float) -> int:
    return scaled(COMPOSER_MIN_WIDTH + EXPIRY_WIDTH + SEND_WIDTH, scale) + 2 * ITEM_SPACING + SLACK


def plan_columns(
    width: int,
    scale: float,
    *,
    call_needs: int = 0,
    prefer: Side = Side.SIDEBAR,
    drawer: Side | None = None,
) -> Columns:
    """The columns for a window `width` wide. `call_needs` is the width the call panel's
    widest row takes at this scale (measured by the panel); `prefer` the panel kept when only
    one fits; `drawer` a collapsed panel the user opened."""
    available = width - 2 * WINDOW_PADDING - 2 * ITEM_SPACING
    conversation_min = conversation_min_width(scale)
    rail = scaled(RAIL_WIDTH, scale)
    side_full, side_min = scaled(SIDEBAR_WIDTH, scale), scaled(SIDEBAR_MIN_WIDTH, scale)
    call_full = max(scaled(CALL_WIDTH, scale), call_needs)
    both = [(side_full, call_full), (side_min, call_full)]
    sidebar_only = [(side_full, 0), (side_min, 0)]
    call_only = [(0, call_full)]
    choices = both + (call_only + sidebar_only if prefer is Side.CALL else sidebar_only + call_only)
    sidebar, call = next(
        ((s, c) for s, c in choices if (s or rail) + (c or rail) + conversation_min <= available),
        (0, 0),
    )
    if sidebar:  # a shrunk sidebar takes back what the conversation can spare
        sidebar = min(side_full, available - (call or rail) - conversation_min)
    conversation = available - (sidebar or rail) - (call or rail)
    opened = (
        drawer if drawer is not None and not (sidebar if drawer is Side.SIDEBAR else call) else None
    )
    expiry, send = scaled(EXPIRY_WIDTH, scale), scaled(SEND_WIDTH, scale)
    status_bar = max(STATUS_BAR_HEIGHT, scaled(13, scale) + 12)
    return Columns(
        sidebar=sidebar,
        conversation=conversation,
        call=call,
        rail=rail,
        drawer=opened,
        drawer_width=side_full if opened is Side.SIDEBAR else call_full,
        composer=conversation - expiry - send - 2 * ITEM_SPACING - SLACK,
        expiry=expiry,
        send=send,
        composer_height=max(COMPOSER_HEIGHT, scaled(16, scale) + 20),
        column_height_margin=status_bar + ITEM_SPACING,
        status_bar_height=status_bar,
        scale=scale,
    )
