"""What a client remembers of messages: the visible ones until they expire, and the ids it has
seen (so a replay is dropped). Nothing here outlives its expiry; nothing is written to disk."""

from __future__ import annotations

import heapq

from .messages import ChatMessage


class MessageStore:
    def __init__(self) -> None:
        self._messages: dict[str, ChatMessage] = {}
        self._seen: dict[str, float] = {}  # id -> when it may be forgotten
        self._expiries: list[tuple[float, str]] = []

    def add(self, message: ChatMessage) -> bool:
        """Keep a message; False if its id was seen before (a replay or a duplicate)."""
        if message.id in self._seen:
            return False
        self._seen[message.id] = message.expires_at
        self._messages[message.id] = message
        heapq.heappush(self._expiries, (message.expires_at, message.id))
        return True

    def expire(self, now: float) -> list[ChatMessage]:
        """Drop and return every message whose time is up. Ids are kept until then too,
        after which the clock window refuses a replay anyway."""
        gone: list[ChatMessage] = []
        while self._expiries and self._expiries[0][0] <= now:
            _, message_id = heapq.heappop(self._expiries)
            message = self._messages.pop(message_id, None)
            self._seen.pop(message_id, None)
            if message is not None:
                gone.append(message)
        return gone

    def next_expiry(self) -> float | None:
        return self._expiries[0][0] if self._expiries else None

    def messages(self, channel: str | None = None) -> list[ChatMessage]:
        found = [m for m in self._messages.values() if channel is None or m.channel == channel]
        return sorted(found, key=lambda m: m.sent_at)
