"""`gossip-cli listen`: the session's timeline as lines, or as one JSON object a line.

Nothing happens silently: besides messages it prints every member who joins or leaves with
their key's trust, gaps in a sender's messages and the alarms. Messages are held for a short
window and printed in the order their senders wrote them; one that arrives after a later one
was printed is marked late. Everything that came from the network is escaped (terminal.py).
"""

from __future__ import annotations

import heapq
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TextIO

import trio

from gossip.client import events as ev
from gossip.client.lookalike import lookalikes
from gossip.client.messages import ChatMessage, MessageKind
from gossip.crypto.pins import Trust

from .terminal import safe_block, safe_field

# How long a message waits for earlier-written ones still on their way (seconds).
ORDER_WINDOW = 1.5
# Events held for reordering at most; past it the oldest is printed at once.
MAX_HELD = 256

TRUST_LABELS = {
    Trust.NEW: "NEW KEY, first contact: nobody has checked it yet",
    Trust.PINNED: "known key",
    Trust.VERIFIED: "verified key",
    Trust.CHANGED: "KEY CHANGED: not accepted, nothing is sealed to it",
}


def _stamp(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))


def _short(fingerprint: str) -> str:
    return " ".join(fingerprint[i:i + 4] for i in range(0, min(len(fingerprint), 16), 4))


@dataclass(order=True)
class _Held:
    order: float  # the sender's time for a message, the arrival time for the rest
    number: int  # arrival order among equal times
    event: ev.SessionEvent = field(compare=False)
    arrived: float = field(compare=False, default=0.0)  # wall-clock time it came


def _kind_prefix(message: ChatMessage) -> str:
    """How a line says what a reply, edit or reaction names (the message's id)."""
    if message.kind is MessageKind.REPLY:
        return f"(reply to {safe_field(message.ref)}) "
    if message.kind is MessageKind.EDIT:
        return f"(edits {safe_field(message.ref)}) "
    if message.kind is MessageKind.REACTION:
        return f"(reacts to {safe_field(message.ref)}) "
    return ""


class ListenPrinter:
    """Turns session events into timeline lines on `out` (or JSON objects with `as_json`)."""

    def __init__(self, out: TextIO, *, as_json: bool = False, channel: str | None = None,
                 count: int | None = None, clock: Callable[[], float] = time.time) -> None:
        self._out = out
        self._count = count
        self._json = as_json
        self._channel = channel
        self._clock = clock
        self._held: list[_Held] = []
        self._numbers = itertools.count()
        self._due: list[float] = []  # release times (trio clock), in arrival order
        self._newest_printed = float("-inf")  # the latest sender time printed so far
        self._latest_order = float("-inf")  # the latest order given so far
        self.messages_printed = 0
        self._names_seen: set[str] = set()  # every member who joined, for look-alike warnings

    @property
    def done(self) -> bool:
        """True once `count` messages were printed."""
        return self._count is not None and self.messages_printed >= self._count

    # -- holding and releasing ------------------------------------------------------------------
    def take(self, event: ev.SessionEvent) -> None:
        """Hold a relevant event for the order window (print at once when too many wait)."""
        order = self._order_of(event)
        if order is None:
            return
        self._latest_order = max(self._latest_order, order)
        if isinstance(event, ev.MessageReceived) and event.late and self._fills_gap(event):
            event = replace(event, late=False)  # back in its place: nothing to report
        heapq.heappush(self._held, _Held(order, next(self._numbers), event, self._clock()))
        self._due.append(trio.current_time() + ORDER_WINDOW)
        if len(self._held) > MAX_HELD:
            self._release_one()

    def _fills_gap(self, event: ev.MessageReceived) -> bool:
        """A late message whose gap is still held unprinted: the gap shrinks by one."""
        message = event.message
        for held in self._held:
            gap = held.event
            if isinstance(gap, ev.MessagesMissing) and gap.count > 0 and \
                    (gap.sender, gap.channel) == (message.sender, message.channel):
                held.event = replace(gap, count=gap.count - 1)
                return True
        return False

    def next_due(self) -> float | None:
        """When the oldest held event is to be printed (trio's clock), or None."""
        return self._due[0] if self._due else None

    def release_due(self, *, everything: bool = False) -> None:
        """Print what has waited its window, earliest written first."""
        now = trio.current_time()
        while self._due and (everything or self._due[0] <= now) and not self.done:
            self._release_one()

    def _release_one(self) -> None:
        self._due.pop(0)
        held = heapq.heappop(self._held)
        self._print(held.event, held.arrived)

    def _order_of(self, event: ev.SessionEvent) -> float | None:
        if isinstance(event, ev.MessageReceived):
            if self._channel and event.message.channel != self._channel:
                return None
            return event.message.sent_at
        if isinstance(event, (ev.MessagesMissing, ev.HubReportedMissed)) and self._channel \
                and event.channel != self._channel:
            return None
        if isinstance(event, (ev.RosterChanged, ev.RosterAlarm, *_CALL_PRESENCE)) \
                and self._channel and event.channel != self._channel:
            return None
        if isinstance(event, (ev.MessagesMissing, ev.HubReportedMissed, ev.MemberJoined,
                              ev.MemberLeft,
                              ev.OwnKeyForged, ev.KeyChanged, ev.RosterChanged,
                              ev.RosterAlarm, *_CALL_PRESENCE)):
            # After everything that came before it; a message that comes later but was
            # written earlier may still go before it.
            return self._latest_order
        return None

    # -- lines ----------------------------------------------------------------------------------
    def _print(self, event: ev.SessionEvent, when: float) -> None:
        if isinstance(event, ev.MessageReceived):
            late = event.late or event.message.sent_at < self._newest_printed
            self._newest_printed = max(self._newest_printed, event.message.sent_at)
            self._write(self._message(event, late))
            self.messages_printed += 1
        elif isinstance(event, ev.MemberJoined):
            self._write(self._joined(event, when))
        elif isinstance(event, ev.MemberLeft):
            self._write(self._left(event, when))
        elif isinstance(event, ev.MessagesMissing) and event.count > 0:
            self._write(self._missing(event, when))
        elif isinstance(event, ev.HubReportedMissed):
            self._write(self._hub_missed(event, when))
        elif isinstance(event, ev.OwnKeyForged):
            self._write(self._forged(event, when))
        elif isinstance(event, ev.KeyChanged):
            self._write(self._changed(event, when))
        elif isinstance(event, ev.RosterChanged):
            self._write(self._roster(event, when))
        elif isinstance(event, ev.RosterAlarm):
            self._write(self._roster_alarm(event, when))
        elif isinstance(event, _CALL_PRESENCE):
            self._write(self._call_presence(event, when))

    def _write(self, line: str) -> None:
        print(line, file=self._out, flush=True)

    def _message(self, event: ev.MessageReceived, late: bool) -> str:
        message = event.message
        if self._json:
            return json.dumps({"event": "message", **message.as_json(), "late": late})
        mark = "verified" if message.verified else f"NOT VERIFIED ({message.trust.value})"
        if late:
            mark += ", LATE: arrived after later messages"
        head = (f"[{_stamp(message.sent_at)}] #{safe_field(message.channel)} "
                f"<{safe_field(message.sender)}> {_kind_prefix(message)}")
        return (f"{head}{safe_block(message.text, ' ' * len(head))}   "
                f"[{mark}, expires in {message.expires_at - self._clock():.0f} s]")

    def _joined(self, event: ev.MemberJoined, when: float) -> str:
        similar = lookalikes(event.user, self._names_seen)
        self._names_seen.add(event.user)
        if self._json:
            return json.dumps({"event": "joined", "user": event.user,
                               "fingerprint": event.fingerprint, "trust": event.trust.value,
                               "looks_like": list(similar)})
        warning = f" !! LOOKS LIKE {', '.join(map(safe_field, similar))}" if similar else ""
        return (f"[{_stamp(when)}] --> {safe_field(event.user)} joined "
                f"(key {_short(event.fingerprint)}: {TRUST_LABELS[event.trust]}){warning}")

    def _left(self, event: ev.MemberLeft, when: float) -> str:
        if self._json:
            return json.dumps({"event": "left", "user": event.user,
                               "fingerprint": event.fingerprint,
                               "trust": event.trust.value if event.trust else None})
        return f"[{_stamp(when)}] <-- {safe_field(event.user)} left"

    def _missing(self, event: ev.MessagesMissing, when: float) -> str:
        if self._json:
            return json.dumps({"event": "missing", "sender": event.sender,
                               "channel": event.channel, "count": event.count})
        noun = "message" if event.count == 1 else "messages"
        return (f"[{_stamp(when)}] !! {event.count} {noun} from "
                f"{safe_field(event.sender)} in #{safe_field(event.channel)} did not arrive")

    def _hub_missed(self, event: ev.HubReportedMissed, when: float) -> str:
        if self._json:
            return json.dumps({"event": "hub_reported_missed", "sender": event.sender,
                               "channel": event.channel, "count": event.count,
                               "seconds": event.seconds})
        noun = "message" if event.count == 1 else "messages"
        return (f"[{_stamp(when)}] !! the hub says {event.count} {noun} from "
                f"{safe_field(event.sender)} in #{safe_field(event.channel)} did not reach "
                "you (asked to send again)")

    def _forged(self, event: ev.OwnKeyForged, when: float) -> str:
        if self._json:
            return json.dumps({"event": "own_key_forged", "user": event.user,
                               "ours": event.ours, "offered": event.offered})
        return (f"[{_stamp(when)}] !! ALARM: the hub announced a key under your own "
                f"name that is not yours ({_short(event.offered)}); refused")

    def _changed(self, event: ev.KeyChanged, when: float) -> str:
        if self._json:
            return json.dumps({"event": "key_changed", "user": event.user,
                               "pinned": event.pinned, "offered": event.offered})
        return (f"[{_stamp(when)}] !! {safe_field(event.user)}'s key CHANGED "
                f"(pinned {_short(event.pinned)}, now {_short(event.offered)})")

    def _roster(self, event: ev.RosterChanged, when: float) -> str:
        if self._json:
            return json.dumps({"event": "roster", "channel": event.channel,
                               "owner": event.owner, "member": event.member,
                               "members": [{"user": m.user, "fingerprint": m.fingerprint,
                                            "trust": m.trust.value, "owner": m.owner}
                                           for m in event.members]})
        members = ", ".join(f"{safe_field(m.user)}{' (owner)' if m.owner else ''} "
                            f"[{_short(m.fingerprint)}: {TRUST_LABELS[m.trust]}]"
                            for m in event.members)
        us = "you are a member" if event.member else "you are NOT a member"
        return (f"[{_stamp(when)}] == #{safe_field(event.channel)} roster (verified; {us}): "
                f"{members}")

    def _call_presence(self, event: ev.CallPresenceEvent, when: float) -> str:
        """A call started, changed or ended in a channel, as the hub says (unverified)."""
        kind, users = (("call_ended", ()) if isinstance(event, ev.CallEnded) else
                       ("call_started", event.users) if isinstance(event, ev.CallStarted) else
                       ("call_roster", event.users))
        if self._json:
            return json.dumps({"event": kind, "channel": event.channel, "users": list(users)})
        channel = safe_field(event.channel)
        if not users:
            return f"[{_stamp(when)}] ~~ the call in #{channel} ended"
        names = ", ".join(map(safe_field, users))
        what = "a call started" if kind == "call_started" else "in the call"
        return f"[{_stamp(when)}] ~~ #{channel}: {what}: {names} (as the hub says)"

    def _roster_alarm(self, event: ev.RosterAlarm, when: float) -> str:
        if self._json:
            return json.dumps({"event": "roster_alarm", "channel": event.channel,
                               "kind": event.kind, "detail": event.detail})
        return (f"[{_stamp(when)}] !! ALARM: #{safe_field(event.channel)} roster "
                f"{safe_field(event.kind).upper()}: {safe_field(event.detail)}")


_CALL_PRESENCE = (ev.CallStarted, ev.CallRosterChanged, ev.CallEnded)


async def listen(events: trio.MemoryReceiveChannel[ev.SessionEvent],
                 printer: ListenPrinter) -> None:
    """Print the timeline until the printer is done or the events end."""
    while not printer.done:
        due = printer.next_due()
        with trio.move_on_at(due if due is not None else float("inf")):
            try:
                event = await events.receive()
            except trio.EndOfChannel:
                printer.release_due(everything=True)
                return
            printer.take(event)
            continue
        printer.release_due()
