"""A token bucket per connection: a steady rate of frames, with room for a short burst."""

from __future__ import annotations

import trio


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._capacity = float(burst)
        self._tokens = float(burst)
        self._last = trio.current_time()

    def take(self) -> bool:
        """Spend one token if there is one; False means the sender is over its rate."""
        now = trio.current_time()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
