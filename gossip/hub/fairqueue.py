"""One member's outbox on the hub: per-sender queues served round-robin, bounded twice.

A sender's share of one reader's outbox is bounded (frames and bytes): past it, that sender's
frames to this reader are dropped and counted, and the reader stays. Only when the whole
outbox, fairly filled by everyone, passes its bound is the reader the one that cannot keep up
(`Put.OVERFLOW`: the connection disconnects it as slow). The hub's own frames (refusals,
rosters, snapshots) go first, ahead of every sender, and are never dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

import trio

# What the writer sends as one unit: a frame, or a batch queued at once (a key snapshot of
# any size takes one outbox slot, so a big hub's newest member is not "slow" on arrival).
OutboxItem = bytes | tuple[bytes, ...]


class Put(Enum):
    QUEUED = "queued"
    DROPPED = "dropped"    # over this sender's share of the reader's outbox: not queued
    OVERFLOW = "overflow"  # over the whole outbox: the reader is too slow (not queued)
    CLOSED = "closed"      # the outbox takes nothing more (the connection is ending)


@dataclass(frozen=True)
class OutboxLimits:
    frames: int
    bytes: int
    sender_frames: int
    sender_bytes: int


@dataclass
class _Queued:
    item: OutboxItem
    size: int
    channel: str | None  # a chat message's channel, for the count of what was dropped


class _SenderQueue:
    __slots__ = ("items", "size")

    def __init__(self) -> None:
        self.items: deque[_Queued] = deque()
        self.size = 0


@dataclass
class Dropped:
    """Messages of one sender in one channel that one reader did not get."""

    count: int
    first: float  # trio time of the first of them


DropKey = tuple[str, str]  # (sender, channel)


class FairOutbox:
    """A bounded, fair queue with one reader (the connection's writer task)."""

    def __init__(self, limits: OutboxLimits) -> None:
        self._limits = limits
        self._control: deque[_Queued] = deque()
        self._senders: dict[str, _SenderQueue] = {}  # insertion order is the rotation
        self._frames = 0
        self._bytes = 0
        self._closed = False
        self._lost = False  # closed with its backlog dropped: what still comes is counted
        self._lot = trio.lowlevel.ParkingLot()
        # Messages this reader missed and has not yet been told of; the connection reports
        # them when it catches up with their sender, or keeps them when it ends.
        self.dropped: dict[DropKey, Dropped] = {}

    @property
    def frames(self) -> int:
        return self._frames

    @property
    def closed(self) -> bool:
        return self._closed

    def put_control(self, item: OutboxItem, size: int) -> Put:
        """Queue one of the hub's own frames (or a batch): served before any sender's."""
        if self._closed:
            return Put.CLOSED
        if self._frames >= self._limits.frames or self._bytes + size > self._limits.bytes:
            return Put.OVERFLOW
        self._control.append(_Queued(item, size, None))
        self._added(size)
        return Put.QUEUED

    def put(self, sender: str, item: OutboxItem, size: int, *, channel: str | None = None,
            droppable: bool = True) -> Put:
        """Queue a frame from `sender`. A chat message over the sender's share is dropped
        (and counted under its channel); frames that must arrive (a key announcement) are
        only bounded by the whole outbox."""
        if self._closed:
            if self._lost and channel is not None:
                self._count_drop(sender, channel, 1)
            return Put.CLOSED
        queue = self._senders.get(sender)
        if droppable and queue is not None and (
                len(queue.items) >= self._limits.sender_frames
                or queue.size + size > self._limits.sender_bytes):
            if channel is not None:
                self._count_drop(sender, channel, 1)
            return Put.DROPPED
        if self._frames >= self._limits.frames or self._bytes + size > self._limits.bytes:
            if channel is not None:
                self._count_drop(sender, channel, 1)
            return Put.OVERFLOW
        if queue is None:
            queue = self._senders[sender] = _SenderQueue()
        queue.items.append(_Queued(item, size, channel))
        queue.size += size
        self._added(size)
        return Put.QUEUED

    def _added(self, size: int) -> None:
        self._frames += 1
        self._bytes += size
        if self._lot:
            self._lot.unpark()

    def _count_drop(self, sender: str, channel: str, count: int) -> None:
        key = (sender, channel)
        record = self.dropped.get(key)
        if record is None:
            self.dropped[key] = Dropped(count, trio.current_time())
        else:
            record.count += count

    async def get(self) -> tuple[str | None, OutboxItem]:
        """The next item to write and its sender (None: the hub's own); waits for one.
        Raises trio.EndOfChannel once closed."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._frames:
            if self._closed:
                raise trio.EndOfChannel
            await self._lot.park()
        sender: str | None
        if self._control:
            sender, entry = None, self._control.popleft()
        else:
            sender = next(iter(self._senders))
            queue = self._senders.pop(sender)
            entry = queue.items.popleft()
            queue.size -= entry.size
            if queue.items:
                self._senders[sender] = queue  # to the back of the rotation
        self._frames -= 1
        self._bytes -= entry.size
        return sender, entry.item

    def backlog_of(self, sender: str) -> int:
        queue = self._senders.get(sender)
        return len(queue.items) if queue is not None else 0

    def close(self, *, drop_backlog: bool) -> None:
        """Take nothing more. With `drop_backlog`, what is still queued is thrown away (a
        slow reader): its chat messages are counted as dropped."""
        self._closed = True
        if drop_backlog:
            self._lost = True
            for sender, queue in self._senders.items():
                for entry in queue.items:
                    if entry.channel is not None:
                        self._count_drop(sender, entry.channel, 1)
            self._senders.clear()
            self._control.clear()
            self._frames = self._bytes = 0
        self._lot.unpark_all()
