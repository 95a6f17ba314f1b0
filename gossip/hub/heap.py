"""The hub process's garbage-collector policy: what its connections keep alive is frozen out
of the cyclic collector's sight, and looked at again only once enough of it may be garbage.

Why: a hub's heap is mostly its connections' state, alive as long as they are. Python runs a
full collection whenever a quarter more objects reached the old generation since the last
one, and each walks the whole heap: in a 10,000-client reconnect storm that was a quarter of
the hubs' CPU (2.1 ms a login, 29 full collections, against 1.2 ms at 2,000 clients:
benchmarks/reconnect.py), so a login cost more the more members were already back.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass

import trio


@dataclass(frozen=True)
class HeapPolicy:
    # How often what is alive is frozen (a young collection first: cycles that are already
    # garbage are reclaimed, not frozen).
    period: float = 2.0
    # A full collection over everything, frozen or not, once this share of the connections
    # open at the last one have ended since (their cycles, if any, were frozen with them)...
    churn: float = 0.25
    # ...or this long after the last one, whatever the churn: frozen cyclic garbage (a
    # connection's exception and its frames, say) lives at most this long.
    max_age: float = 600.0
    # Churn starts one at most this often: a full collection walks the whole heap (every
    # connection's objects), and whoever opens and closes connections must not be able to
    # make the hub do that every period.
    min_gap: float = 30.0


class HeapKeeper:
    """Runs the policy for one hub: `connections` says how many are open, `ended` how many
    have ended since the hub started (both counted by the hub)."""

    def __init__(self, connections: Callable[[], int], ended: Callable[[], int],
                 policy: HeapPolicy | None = None) -> None:
        self._connections = connections
        self._ended = ended
        self._policy = policy or HeapPolicy()
        self.full_collections = 0  # the keeper's own (for tests and tools)

    async def run(self) -> None:
        policy = self._policy
        last_full = trio.current_time()
        open_then, ended_then = self._connections(), self._ended()
        while True:
            await trio.sleep(policy.period)
            open_then = max(open_then, self._connections())
            since = trio.current_time() - last_full
            churned = (self._ended() - ended_then > policy.churn * max(1, open_then)
                       and since >= policy.min_gap)
            if churned or since >= policy.max_age:
                gc.unfreeze()
                gc.collect()
                self.full_collections += 1
                last_full = trio.current_time()
                open_then, ended_then = self._connections(), self._ended()
            else:
                gc.collect(1)
            gc.freeze()
