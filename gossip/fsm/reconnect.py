"""A session's connection life: first attempt, online, waiting to retry, retrying, stopped.

One machine and one backoff policy for every owner (the client session, and through it the
app and the CLI), so reconnect policy lives in one place. The first attempt comes from the
user (the connect screen, a CLI command): if it fails, that failure goes back to them rather
than into a retry loop; once a session has been online, a loss means pausing and trying again
until the user leaves or the hub refuses for good. The machine has no wire peer: every event
is the owner's, and its reports (`ReconnectOrder`) say what the owner must do next.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from statemachine import State

from .base import ProtocolMachine


class ReconnectPhase(StrEnum):
    """Where a session is in its connection life."""

    CONNECTING = "connecting"
    ONLINE = "online"
    WAITING = "waiting"
    RETRYING = "retrying"
    LEFT = "left"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"


class ReconnectOrder(StrEnum):
    """What the machine asks its owner to do (the `what` of its Report actions)."""

    REPORT_ONLINE = "report_online"  # tell the user; note the time (Backoff.went_online)
    REPORT_OFFLINE = "report_offline"  # tell the user the connection is lost, chat is queued
    SCHEDULE_RETRY = "schedule_retry"  # wait Backoff.after_loss's delay, then `retry_due`
    # (or `retry_now`, when the user asks to cut the pause short)
    CONNECT = "connect"  # open a new connection now
    STOP = "stop"  # end the session for good; the phase says why


class Reconnect(ProtocolMachine[ReconnectPhase]):
    Phase = ReconnectPhase
    purpose = ("A session's connection life: first attempt, online, waiting to retry with "
               "backoff, retrying, stopped for good.")
    resting = frozenset({"online"})
    rejects = {
        "connecting": {"retry_due", "retry_now"},  # nothing scheduled yet
        # One sync per connection; no retry is pending.
        "online": {"synced", "retry_due", "retry_now"},
        # No connection is open while waiting: nothing can be lost, synced or refused.
        "waiting": {"synced", "lost", "refused_for_good"},
        "retrying": {"retry_due", "retry_now"},  # the retry already began
    }

    connecting = State(initial=True)
    online = State()
    waiting = State()
    retrying = State()
    left = State(final=True)
    refused = State(final=True)  # wrong password, signed in elsewhere, hub key changed
    unreachable = State(final=True)  # the first attempt failed: the user decides what next

    synced = connecting.to(online, on="now_online") | retrying.to(online, on="now_online")
    lost = (
        connecting.to(unreachable, on="stop")
        | online.to(waiting, on="went_offline")
        | retrying.to(waiting, on="schedule_retry")  # the attempt failed too: pause longer
    )
    retry_due = waiting.to(retrying, on="connect")
    # The user cut the pause short ("Retry now"): the same attempt, begun at once. Only a
    # pause can be cut short; an attempt under way or a live connection is left alone.
    retry_now = waiting.to(retrying, on="connect")
    # Refused for good: retrying cannot help, the user has to change something.
    refused_for_good = (
        connecting.to(refused, on="stop") | online.to(refused, on="stop")
        | retrying.to(refused, on="stop")
    )
    leave = (
        connecting.to(left, on="stop") | online.to(left, on="stop")
        | waiting.to(left, on="stop") | retrying.to(left, on="stop")
    )

    def now_online(self) -> None:
        self.report(ReconnectOrder.REPORT_ONLINE)

    def went_offline(self) -> None:
        self.report(ReconnectOrder.REPORT_OFFLINE)
        self.report(ReconnectOrder.SCHEDULE_RETRY)

    def schedule_retry(self) -> None:
        self.report(ReconnectOrder.SCHEDULE_RETRY)

    def connect(self) -> None:
        self.report(ReconnectOrder.CONNECT)

    def stop(self) -> None:
        self.report(ReconnectOrder.STOP)


@dataclass(frozen=True)
class BackoffPolicy:
    """How long to pause before each reconnect attempt.

    The pause doubles from `base` up to `cap`, times a random factor in (1 - jitter, 1], so
    that clients dropped by one hub restart do not all come back in the same instant. A
    connection that stayed up for `reset_after` seconds proved the hub is back: the next loss
    starts from `base` again; one that dropped sooner keeps backing off (a hub that accepts
    and then fails at once is not hammered).
    """

    base: float = 0.5
    cap: float = 30.0
    jitter: float = 0.5
    reset_after: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise ValueError(f"need 0 < base <= cap, got base={self.base}, cap={self.cap}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")
        if self.reset_after < 0:
            raise ValueError(f"reset_after must be >= 0, got {self.reset_after}")

    def delay(self, failures: int, draw: float) -> float:
        """The pause after `failures` earlier failed pauses (0 for the first), for a random
        `draw` in [0, 1) (the owner passes random.random(); tests pass fixed values)."""
        if not 0 <= draw < 1:
            raise ValueError(f"draw must be in [0, 1), got {draw}")
        # min() before the power would overflow: 2 ** 1100 is not a float.
        exponent = min(max(0, failures), 64)
        return min(self.cap, self.base * 2.0 ** exponent) * (1 - self.jitter * draw)


@dataclass(frozen=True)
class Backoff:
    """The backoff's memory between losses, as an immutable value (times come from the owner's
    clock, so tests control them)."""

    policy: BackoffPolicy = BackoffPolicy()
    failures: int = 0  # pauses since the last connection that lasted
    online_since: float | None = None

    def went_online(self, now: float) -> Backoff:
        """On ReconnectOrder.REPORT_ONLINE."""
        return replace(self, online_since=now)

    def after_loss(self, now: float, draw: float) -> tuple[Backoff, float]:
        """On ReconnectOrder.SCHEDULE_RETRY: the next memory and how long to wait."""
        failures = self.failures
        if self.online_since is not None and now - self.online_since >= self.policy.reset_after:
            failures = 0
        delay = self.policy.delay(failures, draw)
        return replace(self, failures=failures + 1, online_since=None), delay

    @property
    def attempt(self) -> int:
        """The number of the attempt the current pause leads to (1 after the first loss)."""
        return max(1, self.failures)
