"""Limits the rate of login attempts, so password guessing stays online and slow.

Three budgets, all on trio's clock (MockClock drives them in tests): logins under way at once
per address (more connections wait, unread, for a slot); a penalty per address, waited out
before its next exchange starts (nothing is read meanwhile); and failures per user name and on
the whole hub within a window.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import trio

from .config import Limits

# Dictionaries keyed by what outsiders choose (addresses, names) stay bounded: past this many
# entries the oldest half is forgotten.
_MAX_ENTRIES = 100_000
# An address that logged in successfully this recently is exempt from the failure budgets.
KNOWN_GOOD_SECONDS = 24 * 3600.0
V = TypeVar("V")


def address_key(host: str) -> str:
    """The unit an address budget counts: an IPv4 address, or an IPv6 /64 (one subscriber
    gets a whole /64, so counting single IPv6 addresses would count nothing)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class _Slots:
    semaphore: trio.Semaphore
    users: int = 0  # connections holding or waiting for one of these slots


@dataclass
class _Penalty:
    failures: int
    last: float
    until: float  # the address may start its next exchange from then on


class LoginThrottle:
    def __init__(self, *, base: float = 0.5, cap: float = 8.0, memory: float = 300.0,
                 pending_per_address: int = 2, window: float = 600.0,
                 user_budget: int = 20, hub_budget: int = 200) -> None:
        self._base = base
        self._cap = cap
        self._memory = memory
        self._pending_per_address = pending_per_address
        self._window = window
        self._user_budget = user_budget
        self._slots: dict[str, _Slots] = {}
        self._penalties: dict[str, _Penalty] = {}
        self._user_failures: dict[str, deque[float]] = {}
        self._hub_failures: deque[float] = deque(maxlen=max(1, hub_budget))
        self._hub_budget = hub_budget
        self._known_good: dict[str, float] = {}

    @classmethod
    def from_limits(cls, limits: Limits) -> LoginThrottle:
        return cls(base=limits.login_penalty_base, cap=limits.login_penalty_cap,
                   memory=limits.login_failure_memory,
                   pending_per_address=limits.max_pending_logins_per_address,
                   window=limits.failure_window, user_budget=limits.user_failure_budget,
                   hub_budget=limits.hub_failure_budget)

    # -- logins under way ------------------------------------------------------------------
    @asynccontextmanager
    async def login_slot(self, address: str, patience: float) -> AsyncIterator[bool]:
        """One of the address's few login slots, for as long as the block runs; waits (nothing
        read meanwhile) up to `patience` seconds for one, and yields False if none came free.
        More connections from one NAT queue up behind each other instead of failing."""
        slots = self._slots.get(address)
        if slots is None:
            slots = self._slots[address] = _Slots(trio.Semaphore(self._pending_per_address))
        slots.users += 1
        try:
            acquired = False
            with trio.move_on_after(patience):
                await slots.semaphore.acquire()
                acquired = True
            if not acquired:
                yield False
                return
            try:
                yield True
            finally:
                slots.semaphore.release()
        finally:
            slots.users -= 1
            if not slots.users:
                del self._slots[address]

    def pending(self, address: str) -> int:
        """Logins under way from `address` (each holding a slot; queued ones not counted)."""
        slots = self._slots.get(address)
        return 0 if slots is None else self._pending_per_address - slots.semaphore.value

    # -- before the exchange -----------------------------------------------------------------
    def wait_before_exchange(self, address: str) -> float:
        """Seconds until this address may start a login exchange (0: at once)."""
        penalty = self._penalties.get(address)
        if penalty is None:
            return 0.0
        return max(0.0, penalty.until - trio.current_time())

    def budget_refusal(self, address: str, user: str) -> str | None:
        """Why a login as `user` from `address` is refused before any cryptography, or None.
        Addresses that logged in successfully lately are exempt: outsiders spending the budget
        cannot lock out the people who were already here."""
        now = trio.current_time()
        good = self._known_good.get(address)
        if good is not None and now - good < KNOWN_GOOD_SECONDS:
            return None
        user_failures = self._user_failures.get(user)
        if user_failures is not None and self._spent(user_failures, self._user_budget, now):
            return (f"too many failed logins as {user}; try again in "
                    f"{self._retry_after(user_failures, now):.0f} s")
        if self._spent(self._hub_failures, self._hub_budget, now):
            return (f"too many failed logins on this hub; try again in "
                    f"{self._retry_after(self._hub_failures, now):.0f} s")
        return None

    def _spent(self, failures: deque[float], budget: int, now: float) -> bool:
        while failures and now - failures[0] >= self._window:
            failures.popleft()
        return len(failures) >= budget

    def _retry_after(self, failures: deque[float], now: float) -> float:
        return max(1.0, failures[0] + self._window - now)

    # -- outcomes ------------------------------------------------------------------------------
    def failed(self, address: str, user: str = "") -> float:
        """Record a failed login; return the penalty the address now waits before its next
        exchange (base after the first failure, doubling up to the cap)."""
        now = trio.current_time()
        penalty = self._penalties.get(address)
        failures = 1 if penalty is None or now - penalty.last > self._memory \
            else penalty.failures + 1
        wait = min(self._base * 2 ** (failures - 1), self._cap)
        self._penalties[address] = _Penalty(failures, now, now + wait)
        _bound(self._penalties, lambda item: item.last)
        if user:
            user_failures = self._user_failures.setdefault(
                user, deque(maxlen=max(1, self._user_budget)))
            user_failures.append(now)
            _bound(self._user_failures, lambda item: item[-1] if item else 0.0)
        self._hub_failures.append(now)
        return wait

    def succeeded(self, address: str) -> None:
        self._penalties.pop(address, None)
        self._known_good[address] = trio.current_time()
        _bound(self._known_good, lambda last: last)


def _bound(table: dict[str, V], age: Callable[[V], float]) -> None:
    if len(table) <= _MAX_ENTRIES:
        return
    oldest = sorted(table, key=lambda name: age(table[name]))[: _MAX_ENTRIES // 2]
    for name in oldest:
        del table[name]
