"""When the app draws its next frame: at once and at full rate for a while after input (so
clicks, typing, hover and scrolling feel live), a few frames after any other change (sizes in
Dear PyGui are known only once drawn), and otherwise not until something wakes the render
thread (wakeup.py) or the picture changes by itself (a countdown ticks, a toast leaves).
Pure: the app feeds it what happened and asks how long it may sleep."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from .model import AppModel, Phase
from .toasts import ToastBoard
from .wakeup import Woken

FRAME_SECONDS = 1 / 60  # the full rate: without vsync (a virtual display) the loop would spin
ACTIVE_AFTER_INPUT = 1.0  # seconds of full rate after input: callbacks, hover, key repeat
SETTLE_FRAMES = 2  # frames after a change: layout measured in one frame is used in the next
# Without the display's socket to sleep on, input is noticed only by drawing: a low idle rate.
BLIND_IDLE_SECONDS = 0.15
LONGEST_SLEEP = 30.0  # a safety net: wake at least this often even if nothing is due
# Countdowns of several messages tick out of step; one wake a second redraws them all.
TIMER_GAP = 1.0
AFTER_CHANGE = 0.01  # wake just after a countdown's text changes, not just before


class RenderMode(StrEnum):
    ON_DEMAND = "on_demand"
    ALWAYS = "always"  # the old loop: 60 frames a second whatever happens (for comparison)


@dataclass
class RenderPacer:
    """Tracks recent activity (monotonic seconds) and says when the next frame is needed."""

    mode: RenderMode = RenderMode.ON_DEMAND
    sees_input: bool = True  # False: no display socket, input is found by drawing
    active_until: float = 0.0
    settle_left: int = SETTLE_FRAMES
    last_timer_wake: float = -math.inf
    wakes: dict[Woken, int] = field(default_factory=lambda: dict.fromkeys(Woken, 0))

    def start(self, now: float) -> None:
        """The window has just opened: draw at full rate for a moment, as after input."""
        self.active_until = now + ACTIVE_AFTER_INPUT

    def frame_drawn(self, *, now: float, input_seen: bool, changed: bool) -> None:
        """After each frame: whether it carried input (a callback ran, the display woke us) or
        other news (notices, a timer, a video picture)."""
        if input_seen:
            self.active_until = max(self.active_until, now + ACTIVE_AFTER_INPUT)
        if input_seen or changed:
            self.settle_left = SETTLE_FRAMES
        elif self.settle_left:
            self.settle_left -= 1

    def woke(self, reason: Woken, now: float) -> None:
        self.wakes[reason] += 1
        if reason is Woken.TIMER:
            self.last_timer_wake = now

    def sleep_for(self, now: float, due: float | None) -> float | None:
        """How long the render thread may sleep before the next frame (monotonic `now`; `due`:
        the next timer, on the same clock); None: draw the next frame without sleeping (it is
        still paced at the full rate)."""
        if self.mode is RenderMode.ALWAYS or now < self.active_until or self.settle_left:
            return None
        longest = LONGEST_SLEEP if self.sees_input else BLIND_IDLE_SECONDS
        if due is None:
            return longest
        due = max(due, self.last_timer_wake + TIMER_GAP)
        return min(longest, max(0.0, due - now))


def countdown_changes_at(expires_at: float, now: float) -> float:
    """When a countdown's text (formatting.countdown) next changes: each second under an hour,
    each minute under a day, each hour beyond."""
    left = max(0, int(expires_at - now + 0.999))
    unit = 1 if left < 3600 else 60 if left < 86400 else 3600
    boundary = left // unit * unit
    return expires_at + 0.999 - boundary + AFTER_CHANGE


def next_picture_change(model: AppModel, now: float) -> float | None:
    """When what the window shows next changes by itself, with no notice or input (wall clock):
    a countdown under a message of the channel shown, a message's or toast's expiry, the
    seconds until the next reconnection attempt. None: nothing will."""
    times: list[float] = []
    for message in model.messages.values():
        if message.expires_at <= now:
            continue
        times.append(message.expires_at)
        if message.channel == model.current_channel:
            times.append(countdown_changes_at(message.expires_at, now))
    times.extend(_toast_expiries(model.toasts))
    if (model.phase is Phase.RECONNECTING and model.reconnect_at is not None
            and model.reconnect_at > now):
        times.append(countdown_changes_at(model.reconnect_at, now))
    future = [t for t in times if t > now]
    return min(future) if future else None


def _toast_expiries(board: ToastBoard) -> list[float]:
    return [at for at in (toast.expires_at() for toast in board.toasts) if at is not None]
