"""Slows down repeated failed logins from one address, so password guessing stays online-slow."""

from __future__ import annotations

import trio


class LoginThrottle:
    """Each failure doubles the wait before the next refusal from that address (capped);
    failures are forgotten after `memory` seconds without one. Uses trio's clock, so
    MockClock drives it in tests."""

    def __init__(self, base: float, cap: float, memory: float = 300.0) -> None:
        self._base = base
        self._cap = cap
        self._memory = memory
        self._failures: dict[str, tuple[int, float]] = {}

    def failed(self, address: str) -> float:
        """Record a failure; return how long to wait before answering it."""
        now = trio.current_time()
        count, last = self._failures.get(address, (0, now))
        if now - last > self._memory:
            count = 0
        count += 1
        self._failures[address] = (count, now)
        if len(self._failures) > 100_000:  # bounded: forget the oldest half
            for key, _ in sorted(self._failures.items(), key=lambda kv: kv[1][1])[:50_000]:
                del self._failures[key]
        return min(self._base * 2 ** (count - 1), self._cap)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
