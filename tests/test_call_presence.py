"""Calls you can see before joining: the hub tells a channel's members who is in its call,
as it changes and in the snapshot after the key sync; the client keeps it and reports a call
starting, its roster changing and it ending (hub's word, unverified until one joins)."""

from __future__ import annotations

import io
import json

import trio

from gossip.cli.listen import ListenPrinter
from gossip.client import events as ev
from gossip.client.callpresence import MAX_NAMES, CallPresenceBook
from gossip.client.commands import GetState
from gossip.client.state import SessionState
from gossip.ui import notices as nt
from gossip.ui import viewmodel as vm
from gossip.ui.callview import CallPhase, CallView
from gossip.wire import CallRoster, HangUp, StartCall

from .rawmember import log_in, next_of
from .test_ui_model import NOW, online_model

CALL_EVENTS = (ev.CallStarted, ev.CallRosterChanged, ev.CallEnded)


async def test_members_outside_a_call_see_who_is_in_it(nursery, hub, connect):
    alice = await connect("alice")  # never joins: she only watches
    ann, ben = await log_in(nursery, hub, "ann"), await log_in(nursery, hub, "ben")
    out = io.StringIO()
    printer = ListenPrinter(out, as_json=True)

    async def next_call_event() -> object:
        event = await alice.next_event(CALL_EVENTS)
        printer.take(event)
        return event

    await ann.send_message(StartCall(channel="general").encode())
    assert await next_call_event() == ev.CallStarted("general", ("ann",))
    await ben.send_message(StartCall(channel="general").encode())
    assert await next_call_event() == ev.CallRosterChanged("general", ("ann", "ben"))

    # Someone who comes while the call is on sees it at once (the snapshot after the sync),
    # and so does a front end that reads the session's state (after notices it lost).
    dora = await connect("dora")
    assert await dora.next_event(CALL_EVENTS) == ev.CallStarted("general", ("ann", "ben"))
    assert (await dora.session.ref.ask(GetState())).call_rosters == {"general": ("ann", "ben")}

    # Who leaves a call is told the roster without them: nothing stale after leaving.
    await ann.send_message(HangUp(channel="general").encode())
    assert await next_call_event() == ev.CallRosterChanged("general", ("ben",))
    told = await next_of(ann, CallRoster, matching=lambda f: f.users == ("ben",))
    assert told.channel == "general"
    # The last one goes (here by vanishing): the call ended.
    await ben.aclose()
    assert await next_call_event() == ev.CallEnded("general")
    assert await dora.next_event(CALL_EVENTS, lambda e: isinstance(e, ev.CallEnded))

    # `gossip-cli listen --json` reports the same, line by line.
    printer.release_due(everything=True)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines == [
        {"event": "call_started", "channel": "general", "users": ["ann"]},
        {"event": "call_roster", "channel": "general", "users": ["ann", "ben"]},
        {"event": "call_roster", "channel": "general", "users": ["ben"]},
        {"event": "call_ended", "channel": "general", "users": []},
    ]


async def test_a_roster_for_a_channel_we_are_not_in_is_ignored(nursery, hub, connect):
    """The hub's word is taken only for channels the client knows: a made-up channel's
    roster makes no event (and a real one after it still does)."""
    alice = await connect("alice")
    for port in hub.registry.all_live_ports():
        port.call_roster("nowhere", ("mallory",))
    ann = await log_in(nursery, hub, "ann")
    await ann.send_message(StartCall(channel="random").encode())
    with trio.fail_after(10):
        event = await alice.next_event(CALL_EVENTS)
    assert event == ev.CallStarted("random", ("ann",))


def test_the_app_shows_a_call_before_joining_and_tells_when_one_starts():
    model = online_model()
    model.apply(nt.CallChanged(CallView(available=True, unavailable_reason="")), NOW)
    model.apply(ev.CallStarted("general", ("alice", "bob")), NOW)
    # A notice, the channel list's mark, and the panel's line before joining.
    toast = model.toasts.toasts[-1]
    assert toast.title == "Call in #general" and "alice, bob in the call" in toast.body
    assert model.call_notices == 1
    rows = {row.name: row.label for row in vm.channel_rows(model)}
    assert rows == {"general": "# general  [call: 2]", "random": "# random"}
    panel = vm.call_panel(model)
    assert panel.status.startswith("alice, bob are in the call in #general")
    assert panel.join_label == "Join call" and panel.can_join
    # Changes show; a call we are in makes no notice; an ended one leaves no mark.
    model.apply(ev.CallRosterChanged("general", ("bob",)), NOW)
    assert vm.call_panel(model).status.startswith("bob is in the call")
    model.apply(ev.CallStarted("random", ("you", "carol")), NOW)
    assert model.call_notices == 1
    model.apply(ev.CallEnded("general"), NOW)
    assert vm.call_panel(model).status.startswith("Not in a call")
    assert vm.channel_rows(model)[0].label == "# general"


def test_the_notice_of_a_call_goes_once_we_are_in_it():
    model = online_model()
    model.apply(nt.CallChanged(CallView(available=True, unavailable_reason="")), NOW)
    model.apply(ev.CallStarted("general", ("alice", "bob")), NOW)
    model.apply(ev.CallStarted("random", ("carol",)), NOW)
    assert {t.title for t in model.toasts.toasts} == {"Call in #general", "Call in #random"}
    model.apply(nt.CallChanged(CallView(available=True, unavailable_reason="",
                                        channel="general", phase=CallPhase.IN_CALL)), NOW)
    assert model.call.joined
    assert {t.title for t in model.toasts.toasts} == {"Call in #random"}


async def test_rosters_a_reader_has_not_taken_yet_are_coalesced(nursery, hub):
    """However fast calls change, a reader's outbox holds one roster per channel: the hub
    sends the newest when the reader gets there (so churn cannot fill it)."""
    ann = await log_in(nursery, hub, "ann")
    snapshot = [await next_of(ann, CallRoster) for _ in range(2)]  # after the key sync
    assert [(frame.channel, frame.users) for frame in snapshot] == [("general", ()), ("random", ())]
    (port,) = hub.registry.all_live_ports()
    for size in range(1, 101):  # no checkpoint in between: the writer cannot run
        port.call_roster("general", tuple(f"u{i}" for i in range(size)))
    port.call_roster("random", ("bo",))
    got = [await next_of(ann, CallRoster) for _ in range(2)]
    assert [(frame.channel, len(frame.users)) for frame in got] == [("general", 100), ("random", 1)]
    port.call_roster("general", ())
    assert (await next_of(ann, CallRoster)).users == ()  # and nothing came in between


def test_a_lying_hubs_roster_costs_little_to_keep():
    """A hub may send any roster: a thousand names, each twice. The client keeps each name
    once and at most MAX_NAMES of them, so a roster cannot grow its memory or its screen."""
    book = CallPresenceBook()
    names = tuple(f"u{i}" for i in range(1000))
    event = book.take("general", names + names)
    assert isinstance(event, ev.CallStarted)
    assert event.users == names[:MAX_NAMES]
    assert book.take("general", names) is None  # the same roster again: no news


def test_after_lost_notices_the_app_takes_the_calls_from_the_state_it_reads_again():
    model = online_model()
    model.apply(ev.CallStarted("general", ("ann",)), NOW)
    model.apply(nt.NoticesLost(3), NOW)
    assert model.needs_refresh
    # Meanwhile the call in #general ended and one in #random started.
    state = SessionState("test hub", "AB" * 32, ("general", "random"), (), (),
                         {"random": ("ben",)})
    model.apply(nt.StateRefreshed(state), NOW)
    assert model.call_rosters == {"random": ("ben",)}
    assert [row.label for row in vm.channel_rows(model)] == ["# general", "# random  [call: 1]"]
