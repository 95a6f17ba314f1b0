"""A client's view of one private channel's roster: no log yet, verifying, member, not a
member, withheld, or an alarm (forged, forked, excluded).

The hub relays the roster log blind (gossip/crypto/rosterlog.py): it can withhold it but not
forge, reorder, fork or rewrite it unnoticed. The owner verifies what arrives (off the event
loop: `rosterlog.judge`) and feeds the verdicts in as guard values; the machine decides what
that means, and nothing happens silently: a log that does not come, a stale one, a forged one
and a fork each end in their own state with a report. A client seals only in `member`, and
only to roster members (`seal_to`); the audit's `seal-unverified` rule checks that `member`
is entered only through a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol, TypeVar

from statemachine import State

from .base import ProtocolMachine


class RosterPhase(StrEnum):
    """Where a client's view of one private channel's roster is."""

    UNKNOWN = "unknown"
    VERIFYING = "verifying"
    MEMBER = "member"
    NOT_MEMBER = "not_member"
    WITHHELD = "withheld"
    FORGED = "forged"
    FORKED = "forked"
    EXCLUDED = "excluded"
    CLOSED = "closed"


class RosterOrder(StrEnum):
    """What the machine asks its owner to do (the `what` of its Report actions)."""

    VERIFY = "verify"  # judge what arrived against the roster we hold, then feed `verified`
    ROSTER_CHANGED = "roster_changed"  # adopt the verified roster; show members what changed
    LOG_WITHHELD = "log_withheld"  # show that the hub withholds the (current) log; ask again
    ALARM_FORGED = "alarm_forged"  # an entry that does not verify: the hub or a member lies
    ALARM_FORKED = "alarm_forked"  # two histories of this channel: the hub lies
    ALARM_EXCLUDED = "alarm_excluded"  # the roster says member, the hub dropped us anyway


_VERDICT = "entries_valid and agrees_with_ours and up_to_date"


class RosterView(ProtocolMachine[RosterPhase]):
    Phase = RosterPhase
    purpose = ("A client's view of one private channel's roster log: verify what the hub "
               "relays, seal only as a verified member, alarm on forgery, forks, withholding.")
    resting = frozenset({"member", "not_member", "withheld"})
    sealing_states = frozenset({"member"})
    rejects = {
        "unknown": {"verified"},  # nothing is being verified
        # The owner verifies one log at a time and feeds the verdict before anything else.
        "verifying": {"log_received", "extension_received", "timeout", "removed"},
        "member": {"verified", "timeout"},  # the log came: nothing more to wait for
        "not_member": {"verified", "timeout"},
        "withheld": {"verified", "timeout"},  # already said so
    }

    unknown = State(initial=True)
    verifying = State()
    member = State()
    not_member = State()
    withheld = State()
    forged = State(final=True)
    forked = State(final=True)
    excluded = State(final=True)
    closed = State(final=True)

    log_received = (
        unknown.to(verifying, on="verify") | withheld.to(verifying, on="verify")
        | member.to(verifying, on="verify") | not_member.to(verifying, on="verify")
    )
    # An extension continues a roster we hold; without one we can only say the log is missing.
    extension_received = (
        member.to(verifying, on="verify") | not_member.to(verifying, on="verify")
        | unknown.to(withheld, on="withheld_log") | withheld.to.itself(internal=True)
    )
    verified = (
        verifying.to(forged, unless="entries_valid", on="alarm_forged")
        | verifying.to(forked, cond="entries_valid and not agrees_with_ours",
                       on="alarm_forked")
        | verifying.to(withheld, cond="entries_valid and agrees_with_ours and not up_to_date",
                       on="withheld_log")
        | verifying.to(member, cond=f"{_VERDICT} and names_me", on="roster_changed")
        | verifying.to(not_member, cond=f"{_VERDICT} and not names_me", on="roster_changed")
    )
    # The hub should have sent the log with the channel and did not.
    timeout = unknown.to(withheld, on="withheld_log")
    # The hub no longer lists the channel for us.
    removed = (
        member.to(excluded, on="alarm_excluded") | not_member.to(closed)
        | unknown.to(closed) | withheld.to(closed)
    )

    def entries_valid(self, valid: bool = False) -> bool:
        return valid

    def agrees_with_ours(self, consistent: bool = False) -> bool:
        return consistent

    def up_to_date(self, current: bool = False) -> bool:
        return current

    def names_me(self, includes_me: bool = False) -> bool:
        return includes_me

    def verify(self) -> None:
        self.report(RosterOrder.VERIFY)

    def roster_changed(self) -> None:
        self.report(RosterOrder.ROSTER_CHANGED)

    def withheld_log(self) -> None:
        self.report(RosterOrder.LOG_WITHHELD)

    def alarm_forged(self) -> None:
        self.report(RosterOrder.ALARM_FORGED)

    def alarm_forked(self) -> None:
        self.report(RosterOrder.ALARM_FORKED)

    def alarm_excluded(self) -> None:
        self.report(RosterOrder.ALARM_EXCLUDED)


class MembershipRoster(Protocol):
    """What `seal_to` needs of a roster (gossip.crypto.rosterlog.Roster is one)."""

    def is_member(self, user: str, fingerprint: str) -> bool: ...


class KeyLike(Protocol):
    @property
    def user(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...


K = TypeVar("K", bound=KeyLike)


def seal_to(phase: RosterPhase, roster: MembershipRoster | None,
            announced: Iterable[K]) -> tuple[K, ...]:
    """The keys a client may seal a private channel's sender keys and call offers to: none
    unless its verified view says it is a member; then only the announced keys that are roster
    members under their own name and exact key (as rosterlog.recipients)."""
    if phase not in RosterView.sealing_states or roster is None:
        return ()
    return tuple(key for key in announced if roster.is_member(key.user, key.fingerprint))
