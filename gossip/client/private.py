"""Private channels for one session: per channel, the roster we verified and the RosterView
machine that says what it means (gossip/fsm/roster.py).

The hub relays each channel's roster log blind. This desk assembles what arrives, asks the
session to judge it (rosterlog.judge, off the event loop), feeds the verdict to the channel's
machine and turns the machine's reports into events. Everything the session seals in a private
channel goes through `seal_to`, and every message it opens there through `sender_refusal`:
only verified roster members, under the exact key the roster names, whatever the hub says.
Nothing here awaits or does I/O.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from gossip.crypto import Identity, PublicKey
from gossip.crypto import rosterlog as rl
from gossip.crypto.pins import KeyPinStore, Trust
from gossip.fsm import NO_BUILDERS, MachineDriver, ProtocolViolation
from gossip.fsm.roster import RosterOrder, RosterPhase, RosterView, seal_to
from gossip.wire import RosterAppend, RosterLog

from . import events as ev

log = logging.getLogger("gossip.client.private")

# Times we ask the hub again for a log it withheld, per channel and connection: a hub that
# keeps answering with a stale log does not get us asking forever.
MAX_LOG_REQUESTS = 3
# Private channels a session follows at most (each costs a machine and a roster).
MAX_PRIVATE_CHANNELS = 256


class AlarmKind(StrEnum):
    FORGED = "forged"  # an entry that does not verify: the hub (or a member) lies
    FORKED = "forked"  # two histories of the channel: the hub shows members different logs
    WITHHELD = "withheld"  # the hub does not send the (current) log: we cannot send there
    EXCLUDED = "excluded"  # the roster says we are a member; the hub dropped us anyway


_ALARMS = {RosterOrder.ALARM_FORGED: AlarmKind.FORGED,
           RosterOrder.ALARM_FORKED: AlarmKind.FORKED,
           RosterOrder.LOG_WITHHELD: AlarmKind.WITHHELD,
           RosterOrder.ALARM_EXCLUDED: AlarmKind.EXCLUDED}


@dataclass(frozen=True)
class PrivateChannelView:
    """A private channel as this session sees it: its phase, owner, members and last alarm."""

    channel: str
    phase: RosterPhase
    owner: str
    members: tuple[ev.RosterMember, ...]
    alarm: str = ""


@dataclass(frozen=True)
class Judgement:
    """Blobs to judge against what we hold: the session runs `judge` off the event loop."""

    channel: str
    known: rl.Roster | None
    blobs: tuple[bytes, ...]
    extension: bool


@dataclass
class _Channel:
    name: str
    driver: MachineDriver[RosterView] = field(
        default_factory=lambda: MachineDriver(RosterView))
    roster: rl.Roster | None = None
    parts: list[bytes] | None = None  # a whole log being assembled
    requests: int = 0
    deadline: float | None = None  # when the log should have come (UNKNOWN only)
    alarm: str = ""


@dataclass
class Outcome:
    """What one input came to: events to publish, whether to ask the hub for the log."""

    events: list[ev.SessionEvent] = field(default_factory=list)
    ask_for_log: list[str] = field(default_factory=list)
    judge: list[Judgement] = field(default_factory=list)


class PrivateDesk:
    def __init__(self, identity: Identity, pins: KeyPinStore, *, log_timeout: float,
                 session_trust: Callable[[str, str], Trust | None] = lambda user, fp: None
                 ) -> None:
        self._identity = identity
        self._pins = pins
        # The trust this session gives a key it saw announced (a first contact stays NEW for
        # the session), or None for a key not announced here.
        self._session_trust = session_trust
        self._log_timeout = log_timeout
        self._channels: dict[str, _Channel] = {}

    # -- what the session asks ---------------------------------------------------------------
    def is_private(self, channel: str) -> bool:
        return channel in self._channels

    def phase(self, channel: str) -> RosterPhase | None:
        known = self._channels.get(channel)
        return known.driver.phase if known is not None else None

    def roster(self, channel: str) -> rl.Roster | None:
        known = self._channels.get(channel)
        return known.roster if known is not None else None

    def member_channels(self) -> tuple[str, ...]:
        return tuple(name for name, known in self._channels.items()
                     if known.driver.phase is RosterPhase.MEMBER)

    def seal_to(self, channel: str, announced: Iterable[PublicKey]) -> tuple[PublicKey, ...]:
        """The keys we may seal to in `channel`: none unless our verified view says we are a
        member; then only announced keys the roster names, exactly (the machine's rule)."""
        known = self._channels.get(channel)
        if known is None:
            return ()
        return seal_to(known.driver.phase, known.roster, announced)

    def may_reach(self, channel: str, user: str, fingerprint: str) -> bool:
        """Whether we may seal to `user`'s key `fingerprint` in `channel` (an offer, an answer,
        a sender key): always in an open channel; in a private one only as a verified member,
        to a member the verified roster names under exactly that key."""
        known = self._channels.get(channel)
        if known is None:
            return True
        return known.driver.phase is RosterPhase.MEMBER and known.roster is not None \
            and known.roster.is_member(user, fingerprint)

    def send_refusal(self, channel: str) -> str | None:
        """Why we may not send in `channel` now (None: we may)."""
        known = self._channels.get(channel)
        if known is None:
            return None
        phase = known.driver.phase
        if phase is RosterPhase.MEMBER:
            return None
        return {
            RosterPhase.UNKNOWN: "its roster has not arrived yet",
            RosterPhase.VERIFYING: "its roster is being verified",
            RosterPhase.WITHHELD: ("the hub withholds its roster: nothing can be sent there "
                                   "until it sends it"),
            RosterPhase.NOT_MEMBER: "you are not in its roster",
            RosterPhase.FORGED: f"its roster was forged (alarm: {known.alarm})",
            RosterPhase.FORKED: f"its roster was forked (alarm: {known.alarm})",
            RosterPhase.EXCLUDED: "the hub dropped you from it although its roster names you",
            RosterPhase.CLOSED: "you are not in its roster any more",
        }[phase]

    def sender_refusal(self, channel: str, user: str, fingerprint: str) -> str | None:
        """Why a message in private `channel` from `user` under `fingerprint` is refused."""
        known = self._channels[channel]
        if known.driver.phase is not RosterPhase.MEMBER or known.roster is None:
            return f"we hold no verified roster of {channel} that names us"
        if not known.roster.is_member(user, fingerprint):
            return f"{user} ({fingerprint[:16]}) is not in the roster of {channel}"
        return None

    def view(self, channel: str) -> PrivateChannelView | None:
        known = self._channels.get(channel)
        if known is None:
            return None
        roster = known.roster
        return PrivateChannelView(channel, known.driver.phase, roster.owner if roster else "",
                                  self._members(roster), known.alarm)

    def views(self) -> tuple[PrivateChannelView, ...]:
        return tuple(view for name in sorted(self._channels)
                     if (view := self.view(name)) is not None)

    def settled(self) -> bool:
        """No channel waits for its log or its verification."""
        return all(known.driver.phase not in (RosterPhase.UNKNOWN, RosterPhase.VERIFYING)
                   for known in self._channels.values())

    def next_deadline(self) -> float | None:
        deadlines = [known.deadline for known in self._channels.values()
                     if known.deadline is not None]
        return min(deadlines) if deadlines else None

    # -- what the profile kept -----------------------------------------------------------------
    def restore(self, roster: rl.Roster) -> None:
        """A roster we verified in an earlier session (rosterstore.py, verified again on
        loading): the machine takes it as a verdict, so the hub's next log is judged against
        it (one that ends before it or departs from it is an alarm, as live), and a hub that
        stops listing a channel the roster names us in is an exclusion."""
        known = self._open(roster.channel)
        if known is None or known.roster is not None:
            return
        outcome = Outcome()
        self._step(known, "log_received", outcome)
        verdict = rl.RosterVerdict(valid=True, roster=roster, includes_me=roster.is_member(
            self._identity.user, self._identity.fingerprint))
        self.judged(Judgement(roster.channel, None, (), extension=False), verdict)

    # -- what the hub sends ------------------------------------------------------------------
    def start_over(self, now: float) -> None:
        """A new connection: logs come again; any half-assembled one is dropped, and a channel
        still waiting for its first log waits anew."""
        for known in self._channels.values():
            known.parts = None
            known.requests = 0
            if known.driver.phase is RosterPhase.UNKNOWN:
                known.deadline = now + self._log_timeout

    def listed(self, channels: Sequence[str], now: float) -> Outcome:
        """The hub's listing of our private channels: a new one waits for its log (which
        must follow); one no longer listed is `removed` (an alarm if the roster names us)."""
        outcome = Outcome()
        for name in channels:
            known = self._channels.get(name)
            if known is None or (known.driver.phase is RosterPhase.CLOSED):
                known = self._open(name)
                if known is None:
                    continue
            if known.driver.phase is RosterPhase.UNKNOWN:
                known.deadline = now + self._log_timeout
        for name, known in list(self._channels.items()):
            if name not in channels:
                known.deadline = None
                self._step(known, "removed", outcome)
        return outcome

    def log_part(self, frame: RosterLog, now: float) -> Outcome:
        """Part of a whole log: once all of it is here, it goes to be judged."""
        outcome = Outcome()
        known = self._channels.get(frame.channel) or self._open(frame.channel)
        if known is None:
            return outcome
        if frame.start == 0:
            known.parts = list(frame.entries)
        elif known.parts is not None and frame.start == len(known.parts):
            known.parts.extend(frame.entries)
        else:
            log.warning("a part of %s's log out of order (from %d): dropped", frame.channel,
                        frame.start)
            known.parts = None
            return outcome
        if len(known.parts) > rl.MAX_ENTRIES:
            known.parts = None
            return outcome
        if len(known.parts) < frame.total:
            return outcome
        blobs, known.parts = tuple(known.parts), None
        known.deadline = None
        self._step(known, "log_received", outcome)
        if known.driver.phase is RosterPhase.VERIFYING:
            outcome.judge.append(Judgement(known.name, known.roster, blobs, extension=False))
        return outcome

    def appended(self, frame: RosterAppend) -> Outcome:
        """One entry appended: verified as an extension of what we hold. Without a roster to
        extend, the log was withheld from us."""
        outcome = Outcome()
        known = self._channels.get(frame.channel) or self._open(frame.channel)
        if known is None:
            return outcome
        known.deadline = None
        self._step(known, "extension_received", outcome)
        if known.driver.phase is RosterPhase.VERIFYING:
            outcome.judge.append(Judgement(known.name, known.roster, (frame.entry,),
                                           extension=True))
        return outcome

    def timed_out(self, now: float) -> Outcome:
        """Channels whose log should have come by now and did not."""
        outcome = Outcome()
        for known in self._channels.values():
            if known.deadline is not None and known.deadline <= now:
                known.deadline = None
                self._step(known, "timeout", outcome)
        return outcome

    def judged(self, judgement: Judgement, verdict: rl.RosterVerdict) -> Outcome:
        """Feed a verdict to the channel's machine and carry out its reports."""
        outcome = Outcome()
        known = self._channels[judgement.channel]
        before = known.roster
        reports = self._step(known, "verified", outcome, verdict=verdict, **verdict.guards())
        if RosterOrder.ROSTER_CHANGED in reports and verdict.roster is not None:
            known.roster = verdict.roster
            if before is None or before.head != verdict.roster.head:
                outcome.events.append(ev.RosterChanged(
                    known.name, verdict.roster.owner, self._members(verdict.roster),
                    known.driver.phase is RosterPhase.MEMBER))
        return outcome

    # -- inside ------------------------------------------------------------------------------
    def _open(self, name: str) -> _Channel | None:
        if len(self._channels) >= MAX_PRIVATE_CHANNELS and name not in self._channels:
            log.warning("ignoring private channel %s: following %d already", name,
                        MAX_PRIVATE_CHANNELS)
            return None
        old = self._channels.get(name)
        known = self._channels[name] = _Channel(name)
        if old is not None:
            known.roster = old.roster  # a channel we left and rejoin: its history still holds
        return known

    def _step(self, known: _Channel, event: str, outcome: Outcome, *,
              verdict: rl.RosterVerdict | None = None, **guards: bool) -> tuple[str, ...]:
        if known.driver.finished:
            return ()
        try:
            reports = known.driver.step(event, NO_BUILDERS, **guards).reports
        except ProtocolViolation as error:
            log.warning("private channel %s: %s", known.name, error)
            return ()
        for report in reports:
            kind = _ALARMS.get(RosterOrder(report))
            if kind is None:
                continue
            detail = str(verdict.error) if verdict is not None and verdict.error else {
                AlarmKind.WITHHELD: "the hub did not send the channel's roster log",
                AlarmKind.EXCLUDED: "the hub no longer lists the channel for us",
            }.get(kind, "")
            known.alarm = f"{kind.value}: {detail}"
            outcome.events.append(ev.RosterAlarm(known.name, kind.value, detail))
            if kind is AlarmKind.WITHHELD and known.requests < MAX_LOG_REQUESTS:
                known.requests += 1
                outcome.ask_for_log.append(known.name)
        return reports

    def _members(self, roster: rl.Roster | None) -> tuple[ev.RosterMember, ...]:
        if roster is None:
            return ()
        return tuple(ev.RosterMember(member.user, member.fingerprint,
                                     self._trust(member.user, member.fingerprint),
                                     member.user == roster.owner)
                     for _, member in sorted(roster.members.items()))

    def _trust(self, user: str, fingerprint: str) -> Trust:
        """How far we trust the key the roster names for `user`: our pin's trust if it is the
        pinned key, CHANGED if we pinned another, NEW if we never met them."""
        if user == self._identity.user:
            return Trust.VERIFIED if fingerprint == self._identity.fingerprint else \
                Trust.CHANGED
        seen = self._session_trust(user, fingerprint)
        if seen is not None:
            return seen
        pinned = self._pins.pinned_fingerprint(user)
        if pinned is None:
            return Trust.NEW
        if pinned != fingerprint:
            return Trust.CHANGED
        return self._pins.trust_of(user) or Trust.NEW


@functools.lru_cache(maxsize=512)
def parse_key(data: bytes) -> PublicKey:
    """Key parsing is most of what verifying a log costs; the same bytes give the same key."""
    return PublicKey.from_bytes(data)


def judge(judgement: Judgement, me: PublicKey) -> rl.RosterVerdict:
    """The verdict on a judgement (slow for long logs: run it in a worker thread)."""
    return rl.judge(judgement.known, judgement.blobs, me, channel=judgement.channel,
                    extension=judgement.extension, parse_key=parse_key)
