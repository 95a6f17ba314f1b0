"""What a client remembers of messages: the visible ones until they expire, within caps per
sender and in all, and the ids it has seen (so a replay is dropped).

Nothing here outlives its expiry. The caps are what keep one member from filling every
client's memory: past them the oldest arrivals go first, and the count of messages dropped
so is kept per sender for a front end to show.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .messages import CLOCK_WINDOW, ChatMessage


@dataclass(frozen=True)
class StoreLimits:
    """Caps on what the store holds. Text is counted in UTF-8 bytes (what it costs to keep
    is of that order); the defaults let one member hold at most 2 MiB of text, everyone
    together 16 MiB."""

    per_sender: int = 500
    per_sender_bytes: int = 2 * 1024 * 1024
    total: int = 5000
    total_bytes: int = 16 * 1024 * 1024
    # Ids of messages seen, kept while a replay would still pass the clock window.
    seen_ids: int = 50_000


@dataclass(frozen=True)
class Evicted:
    """A message dropped for the caps (its text is not kept): what a view needs to drop it."""

    id: str
    channel: str
    sender: str


def _cost(message: ChatMessage) -> int:
    return len(message.text.encode("utf-8", "surrogatepass"))


class MessageStore:
    def __init__(self, limits: StoreLimits | None = None) -> None:
        self.limits = limits or StoreLimits()
        self._messages: OrderedDict[str, ChatMessage] = OrderedDict()  # in arrival order
        self._by_sender: dict[str, OrderedDict[str, None]] = {}
        self._sender_bytes: dict[str, int] = {}
        self._bytes = 0
        self._expiries: list[tuple[float, str]] = []
        self._seen: dict[str, float] = {}  # id -> when it may be forgotten
        self._seen_expiries: list[tuple[float, str]] = []
        self._dropped: dict[str, int] = {}  # sender -> messages dropped for the caps
        # Bounded: a session that never drains it holds at most one entry per message kept.
        self._evicted: deque[Evicted] = deque(maxlen=self.limits.total)

    # -- keeping -----------------------------------------------------------------------------
    def add(self, message: ChatMessage) -> bool:
        """Keep a message; False if its id was seen before (a replay or a duplicate). Past a
        cap, the oldest arrivals (of the same sender first) make room: see take_evicted."""
        if message.id in self._seen:
            return False
        self._remember_id(message.id, _forget_at(message))
        cost = _cost(message)
        self._messages[message.id] = message
        self._by_sender.setdefault(message.sender, OrderedDict())[message.id] = None
        self._sender_bytes[message.sender] = self._sender_bytes.get(message.sender, 0) + cost
        self._bytes += cost
        heapq.heappush(self._expiries, (message.expires_at, message.id))
        self._enforce_caps(message.sender)
        return True

    def _enforce_caps(self, sender: str) -> None:
        limits = self.limits
        mine = self._by_sender[sender]
        while len(mine) > limits.per_sender or (
                self._sender_bytes[sender] > limits.per_sender_bytes and len(mine) > 1):
            self._evict(next(iter(mine)))
        while len(self._messages) > limits.total or (
                self._bytes > limits.total_bytes and len(self._messages) > 1):
            self._evict(next(iter(self._messages)))

    def _evict(self, message_id: str) -> None:
        message = self._remove(message_id)
        if message is not None:
            self._dropped[message.sender] = self._dropped.get(message.sender, 0) + 1
            self._evicted.append(Evicted(message.id, message.channel, message.sender))

    def _remove(self, message_id: str) -> ChatMessage | None:
        message = self._messages.pop(message_id, None)
        if message is None:
            return None
        cost = _cost(message)
        mine = self._by_sender[message.sender]
        del mine[message_id]
        self._sender_bytes[message.sender] -= cost
        if not mine:
            del self._by_sender[message.sender]
            del self._sender_bytes[message.sender]
        self._bytes -= cost
        return message

    def get(self, message_id: str) -> ChatMessage | None:
        return self._messages.get(message_id)

    def discard(self, message_id: str) -> None:
        """Stop showing a message kept before a later check refused it (its id stays seen)."""
        self._remove(message_id)

    def take_evicted(self) -> list[Evicted]:
        """The messages dropped for the caps since the last call (a front end removes them
        from view as if they expired; the newest `limits.total` are remembered)."""
        evicted = list(self._evicted)
        self._evicted.clear()
        return evicted

    @property
    def dropped(self) -> Mapping[str, int]:
        """Per sender, how many of their messages were dropped for the caps so far."""
        return dict(self._dropped)

    # -- seen ids ----------------------------------------------------------------------------
    def _remember_id(self, message_id: str, forget_at: float) -> None:
        self._seen[message_id] = forget_at
        heapq.heappush(self._seen_expiries, (forget_at, message_id))
        while len(self._seen) > self.limits.seen_ids:
            # Bounded even under a flood: the id nearest to being forgotten goes first.
            _, oldest = heapq.heappop(self._seen_expiries)
            self._seen.pop(oldest, None)

    def seen_ids(self) -> dict[str, float]:
        """Every id a replay of which is still to be dropped, with when it may be forgotten."""
        return dict(self._seen)

    def restore_seen(self, seen: Iterable[tuple[str, float]], now: float) -> None:
        """Take ids seen before a restart (only those not yet forgettable)."""
        for message_id, forget_at in seen:
            if forget_at > now and message_id not in self._seen:
                self._remember_id(message_id, forget_at)

    # -- time ---------------------------------------------------------------------------------
    def expire(self, now: float) -> list[ChatMessage]:
        """Drop and return every message whose time is up, and forget the ids of messages a
        replay of which the clock window (or the expiry) refuses anyway."""
        gone: list[ChatMessage] = []
        while self._expiries and self._expiries[0][0] <= now:
            _, message_id = heapq.heappop(self._expiries)
            message = self._remove(message_id)
            if message is not None:
                gone.append(message)
        self.forget_seen(now)
        return gone

    def forget_seen(self, now: float) -> None:
        """Forget the ids of messages a replay of which would be refused anyway by now."""
        while self._seen_expiries and self._seen_expiries[0][0] <= now:
            forget_at, message_id = heapq.heappop(self._seen_expiries)
            if self._seen.get(message_id) == forget_at:
                del self._seen[message_id]

    def next_expiry(self) -> float | None:
        return self._expiries[0][0] if self._expiries else None

    def messages(self, channel: str | None = None) -> list[ChatMessage]:
        found = [m for m in self._messages.values() if channel is None or m.channel == channel]
        return sorted(found, key=lambda m: m.sent_at)

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def text_bytes(self) -> int:
        """The UTF-8 size of every text held."""
        return self._bytes


def _forget_at(message: ChatMessage) -> float:
    # A copy is refused as stale once its send time is CLOCK_WINDOW away, and as expired
    # once its time is up: the id need not be held past the earlier of the two.
    return min(message.expires_at, message.sent_at + CLOCK_WINDOW)
