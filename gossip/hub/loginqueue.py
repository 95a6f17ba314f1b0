"""The hub's line for login turns: at most `at_once` logins under way, the rest wait in
arrival order, bounded in number and in time, each able to learn its place and the wait.

A restart's reconnect storm is why: with every login under way at once each takes the whole
storm's time and all time out together; in line, each costs its CPU once, and a client told
where it stands waits instead of timing out and starting over (work done twice).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

# Told to a waiting connection: (its place in line, 1 = next; the expected wait in seconds).
# It runs in a task of the line's own and must not raise: it queues a frame and returns (a
# connection that cannot take it is let go by its own outbox, not through the line).
Tell = Callable[[int, float], None]
# The first guess at a turn's length (a TLS-terminated login on this kind of machine takes a
# few milliseconds of CPU, more with many under way at once); measured turns replace it.
_FIRST_TURN_GUESS = 0.05
_TURN_WEIGHT = 0.02  # each finished turn's weight in the running mean


class LoginQueue:
    """FIFO turns (trio's CapacityLimiter hands a freed turn straight to the longest waiter,
    so nobody jumps the line) plus the bookkeeping that tells a waiter its place."""

    def __init__(self, at_once: int, max_waiting: int) -> None:
        if at_once < 1 or max_waiting < 0:
            raise ValueError("a login queue needs at least one turn and a non-negative bound")
        self._turns = trio.CapacityLimiter(at_once)
        self._at_once = at_once
        self._max_waiting = max_waiting
        self._next_ticket = 0
        # Every ticket up to this one has left the line (the line is FIFO, so when a ticket
        # gets its turn all older ones are gone); _gone holds newer ones that left without
        # a turn (gave up, disconnected), so the tickets still ahead can be counted.
        self._admitted_upto = -1
        self._gone: list[int] = []
        self._waiting = 0
        self._turn_seconds = _FIRST_TURN_GUESS

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def under_way(self) -> int:
        return int(self._turns.borrowed_tokens)

    def place(self, ticket: int) -> int:
        """Where `ticket` stands in line: 1 is next."""
        ahead = ticket - self._admitted_upto - 1 - bisect_left(self._gone, ticket)
        return max(1, ahead + 1)

    def expected_wait(self, place: int) -> float:
        """Seconds until `place` gets its turn, at the pace turns have been ending."""
        return place * self._turn_seconds / self._at_once

    @asynccontextmanager
    async def turn(self, patience: float, *, tell: Tell | None = None,
                   every: float = 5.0) -> AsyncIterator[bool]:
        """A turn for as long as the block runs. Yields False, and takes no turn, if the line
        is full or none came within `patience` seconds. `tell`, if given, hears the place and
        expected wait on joining the line and every `every` seconds after."""
        got = await self._take(patience, tell, every)
        if not got:
            yield False
            return
        started = trio.current_time()
        try:
            yield True
        finally:
            self._turns.release()
            took = trio.current_time() - started
            self._turn_seconds += _TURN_WEIGHT * (took - self._turn_seconds)

    async def _take(self, patience: float, tell: Tell | None, every: float) -> bool:
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self._turns.acquire_nowait()  # a freed turn goes to a waiter, never to us here
            return True
        except trio.WouldBlock:
            pass
        if self._waiting >= self._max_waiting:
            return False
        ticket = self._next_ticket
        self._next_ticket += 1
        self._waiting += 1
        acquired = False
        try:
            with trio.move_on_after(patience):
                async with trio.open_nursery() as nursery:
                    if tell is not None:
                        nursery.start_soon(self._tell_every, ticket, tell, every)
                    await self._turns.acquire()
                    acquired = True
                    nursery.cancel_scope.cancel()
        except BaseException:
            if acquired:  # cancelled from outside just after the turn came: give it back
                self._turns.release()
                acquired = False
            raise
        finally:
            self._waiting -= 1
            self._left(ticket, acquired)
        return acquired

    async def _tell_every(self, ticket: int, tell: Tell, every: float) -> None:
        while True:
            place = self.place(ticket)
            tell(place, self.expected_wait(place))
            await trio.sleep(every)

    def _left(self, ticket: int, admitted: bool) -> None:
        if admitted:
            self._admitted_upto = ticket
            del self._gone[:bisect_left(self._gone, ticket)]
        elif ticket > self._admitted_upto:
            insort(self._gone, ticket)
