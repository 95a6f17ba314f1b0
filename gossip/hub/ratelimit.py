"""Rates a sender may not exceed: frames per second (a token bucket), and bytes per second
counted with the fan-out (a budget that may go briefly into debt)."""

from __future__ import annotations

import trio


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self._full_rate = rate
        self._full_burst = float(burst)
        self._rate = rate
        self._capacity = float(burst)
        self._tokens = float(burst)
        self._last = trio.current_time()

    def share(self, parts: int) -> None:
        """Allow 1/`parts` of the rate and burst (kept whole at 1): an identity signed in on
        `parts` hubs of a cluster, each holding its own bucket, then gets no more in all."""
        self._refill()
        self._rate = self._full_rate / parts
        self._capacity = max(1.0, self._full_burst / parts)
        self._tokens = min(self._tokens, self._capacity)

    def take(self) -> bool:
        """Spend one token if there is one; False means the sender is over its rate."""
        self._refill()
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def retry_after(self) -> float:
        """Seconds until a token is there again (0 if there is one now)."""
        self._refill()
        return max(0.0, (1.0 - self._tokens) / self._rate) if self._rate > 0 else 0.0

    def _refill(self) -> None:
        now = trio.current_time()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now


class ByteBudget:
    """Bytes per second with a burst, where one frame may cost more than the whole burst (a
    hand-over sealed to every member, fanned out to all of them): a frame is admitted while the
    budget is not in debt, and its whole cost is charged, so the long-run rate still holds."""

    def __init__(self, rate: float, burst: float) -> None:
        self._full_rate = rate
        self._full_burst = burst
        self._rate = rate
        self._capacity = burst
        self._balance = burst
        self._last = trio.current_time()

    def share(self, parts: int) -> None:
        """Allow 1/`parts` of the rate and burst (see TokenBucket.share)."""
        self._refill()
        self._rate = self._full_rate / parts
        self._capacity = self._full_burst / parts
        self._balance = min(self._balance, self._capacity)

    def admits(self) -> bool:
        self._refill()
        return self._balance > 0

    def charge(self, cost: float) -> None:
        self._refill()
        self._balance -= cost

    def retry_after(self) -> float:
        """Seconds until the budget is out of debt (0 if it is now)."""
        self._refill()
        return max(0.0, -self._balance / self._rate) if self._rate > 0 else 0.0

    def _refill(self) -> None:
        now = trio.current_time()
        self._balance = min(self._capacity, self._balance + (now - self._last) * self._rate)
        self._last = now
