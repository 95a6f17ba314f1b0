"""Nothing the session reports is silent in the app: every kind of session event has a place
in the model, and the alarms a lying hub causes stay on screen until the user deals with them."""

from __future__ import annotations

import typing

import pytest

from gossip.client import events as ev
from gossip.crypto.pins import Trust
from gossip.ui.model import _HANDLERS, AppModel

NOW = 1_700_000_000.0
# Events the app takes in through other paths, on purpose: Synced becomes the bridge's Online
# notice (with the session's state), Disconnected its Reconnecting/ConnectFailed notices.
ARRIVES_AS_NOTICES = {ev.Synced, ev.Disconnected}


def test_every_session_event_has_a_handler() -> None:
    kinds = set(typing.get_args(ev.SessionEvent))
    assert kinds, "SessionEvent is a union of event classes"
    assert sorted(k.__name__ for k in kinds - ARRIVES_AS_NOTICES - set(_HANDLERS)) == []


ALARMS = [
    ev.OwnKeyForged("you", "A" * 40, "B" * 40),
    ev.RosterAlarm("board", "forked", "two histories of the roster"),
    ev.MessageNotSent("m1", "general", "too_large", "frame too large"),
]


@pytest.mark.parametrize("alarm", ALARMS, ids=lambda a: type(a).__name__)
def test_an_alarm_stays_until_dismissed(alarm: object) -> None:
    model = AppModel()
    model.apply(alarm, NOW)
    model.toasts.expire(NOW + 3600)
    assert [toast.sticky for toast in model.toasts.toasts] == [True]


@pytest.mark.parametrize("event, words", [
    (ev.MessagesMissing("alice", "general", 2), "2 messages from alice in #general did not"),
    (ev.HubReportedMissed("alice", "general", 1, 30.0), "1 message from alice in #general"),
    (ev.MessageDelayed("m1", "general", "channel_rate", 2.0), "goes out again in 2 s"),
    (ev.RosterChanged("board", "alice", (ev.RosterMember("alice", "A" * 40, Trust.VERIFIED,
                                                          True),), True), "owner alice"),
], ids=lambda x: type(x).__name__ if not isinstance(x, str) else "")
def test_gaps_delays_and_roster_changes_are_told(event: object, words: str) -> None:
    model = AppModel()
    model.apply(event, NOW)
    assert any(words in toast.body for toast in model.toasts.toasts)
