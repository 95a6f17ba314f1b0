"""A member's seat in a call, and the watch that gives back a seat nobody uses.

A call is a small full mesh (eight seats by default): a connection that joins and never
signals (no offer, answer or candidate) while others are in the call holds a seat for nothing,
and enough of them make every call "full". A seat is proven by its first signal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import trio


@dataclass
class Seat:
    proven: bool = False
    ended: bool = False
    company_since: float | None = None  # since when others have been in the call with it
    _changed: trio.Event = field(default_factory=trio.Event)

    def roster_changed(self, others: bool) -> None:
        if others and self.company_since is None:
            self.company_since = trio.current_time()
        elif not others:
            self.company_since = None
        self._wake()

    def signalled(self) -> None:
        if not self.proven:
            self.proven = True
            self._wake()

    def end(self) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


async def watch_seat(seat: Seat, timeout: float, give_up: Callable[[], None]) -> None:
    """Until the seat is proven or ended; `give_up()` once it has had company for `timeout`
    seconds without a signal. Each turn of the loop waits for a change or the deadline."""
    while not (seat.proven or seat.ended):
        changed = seat._changed
        if seat.company_since is None:
            await changed.wait()
            continue
        deadline = seat.company_since + timeout
        if trio.current_time() >= deadline:
            give_up()
            return
        with trio.move_on_at(deadline):
            await changed.wait()
