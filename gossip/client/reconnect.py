"""When a session tries its hub again: exponential backoff with jitter, started over once a
connection got online. One policy, used by the session (and so by every front end)."""

from __future__ import annotations

import random
from collections.abc import Callable


class Reconnector:
    def __init__(self, base: float, cap: float, *,
                 jitter: Callable[[], float] = lambda: random.uniform(0.5, 1.0)) -> None:
        self._base, self._cap = base, cap
        self._jitter = jitter  # a factor in (0, 1]: a hub restart is not a stampede
        self._failures = 0
        self._went_online = False

    def online(self, now: float) -> None:
        """The connection got online: the next loss starts the backoff over."""
        self._went_online = True

    def lost(self) -> float:
        """The connection (or an attempt) failed: seconds to wait before the next attempt."""
        if self._went_online:
            self._failures = 0
        self._went_online = False
        delay = min(self._cap, self._base * 2 ** self._failures) * self._jitter()
        self._failures += 1
        return delay
