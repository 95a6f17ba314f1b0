"""The connections of one identity (a user name under one key): a person on several devices.

All of them are one member to everyone else: announced once (when the first is live), gone
once (when the last leaves), in a call at most once, and sharing one set of budgets, so a
member gains nothing by opening more connections (or signing in on more hubs of a cluster:
each hub allows its share of the budgets). Beyond `Limits.connections_per_identity`, counted
over every hub of a cluster, a new connection is refused; the ones already there are never
pushed out by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .ratelimit import ByteBudget, TokenBucket

if TYPE_CHECKING:
    from .config import Limits
    from .registry import MemberPort


class JoinRefused(Exception):
    """A proven login that may not join now: `code` and `reason` go to the client."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class MemberBudgets:
    """What one identity may make the hub do, however many connections it has: frames a
    second, bytes a second (fan-out counted), messages a second per channel, and file bytes
    a second (uploads and downloads)."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self.frames = TokenBucket(limits.frames_per_second, limits.frame_burst)
        self.bytes = ByteBudget(limits.sender_bytes_per_second, limits.sender_bytes_burst)
        self.file_bytes = ByteBudget(limits.file_bytes_per_second, limits.file_bytes_burst)
        # Keyed by channels the hub knows (the connection checks before asking): bounded.
        self._channel_rates: dict[str, TokenBucket] = {}
        self._parts = 1

    def share(self, hubs: int) -> None:
        """The identity is signed in on `hubs` hubs of a cluster, each with budgets of its
        own: this hub allows its share, so more hubs buy no more than more connections do."""
        parts = max(1, hubs)
        if parts == self._parts:
            return
        self._parts = parts
        budgets: list[TokenBucket | ByteBudget] = [
            self.frames, self.bytes, self.file_bytes, *self._channel_rates.values()
        ]
        for budget in budgets:
            budget.share(parts)

    def channel_rate(self, channel: str) -> TokenBucket:
        rate = self._channel_rates.get(channel)
        if rate is None:
            rate = self._channel_rates[channel] = TokenBucket(
                self._limits.channel_messages_per_second, self._limits.channel_message_burst
            )
            rate.share(self._parts)
        return rate


@dataclass
class Attached:
    port: MemberPort
    live: bool = False  # has taken its key snapshot; gets announcements and messages


@dataclass
class IdentityConnections:
    """Every connection of `user` under the key `public_key`, in the order they came."""

    user: str
    public_key: bytes
    fingerprint: str
    budgets: MemberBudgets
    attached: list[Attached] = field(default_factory=list)
    # The others were told this member came (one of its connections went live); they are
    # told it left when the last connection goes, and never in between.
    announced: bool = False
    # channel -> the one connection of this identity in that channel's call
    in_calls: dict[str, MemberPort] = field(default_factory=dict)

    def find(self, port: MemberPort) -> Attached | None:
        return next((entry for entry in self.attached if entry.port is port), None)

    def live_ports(self, *, besides: MemberPort | None = None) -> list[MemberPort]:
        # A list, not a generator: delivering may kick a slow connection, which changes it.
        return [entry.port for entry in self.attached if entry.live and entry.port is not besides]

    @property
    def live(self) -> bool:
        return any(entry.live for entry in self.attached)
