"""What the app shows for a given state, without a window: the model fed with notices and
session events as the bridge would send them, and the rows and labels derived from it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gossip.client import events as ev
from gossip.client.messages import ChatMessage
from gossip.client.state import MemberView, SessionState
from gossip.crypto.pins import Trust
from gossip.ui import formatting as fmt
from gossip.ui import notices as nt
from gossip.ui import viewmodel as vm
from gossip.ui.callview import CallPeer, CallPhase, CallView
from gossip.ui.model import AppModel, Phase
from gossip.ui.shortcuts import action_for, channel_after
from gossip.ui.toasts import ToastBoard

NOW = 1_700_000_000.0
FP = {name: f"{i:040X}" for i, name in enumerate(("you", "alice", "bob", "carol", "dave"), 1)}


def message(sender: str, text: str, *, channel: str = "general", sent: float = NOW,
            ttl: float = 600, trust: Trust = Trust.PINNED, mid: str | None = None
            ) -> ChatMessage:
    return ChatMessage(mid or f"{sender}-{text}", channel, sender, text, sent, sent + ttl,
                       verified=trust is not Trust.CHANGED, trust=trust)


def online_model(*, trust: dict[str, Trust] | None = None,
                 messages: tuple[ChatMessage, ...] = ()) -> AppModel:
    trust = trust or {"you": Trust.NEW, "alice": Trust.VERIFIED, "bob": Trust.CHANGED,
                      "carol": Trust.PINNED, "dave": Trust.NEW}
    state = SessionState("test hub", "AB" * 32, ("general", "random"),
                         tuple(MemberView(u, FP[u], t) for u, t in trust.items()), messages)
    model = AppModel()
    model.begin_connect("127.0.0.1", 1720, "you")
    model.apply(nt.Connecting("127.0.0.1", 1720, "you", 1), NOW)
    model.apply(nt.Online("127.0.0.1", 1720, "you", FP["you"], state), NOW)
    return model


def test_members_show_presence_and_a_trust_badge_each_with_you_first():
    model = online_model()
    model.apply(ev.MemberLeft("dave"), NOW)
    rows = vm.member_rows(model)
    assert [(r.user, r.online, r.badge_kind) for r in rows] == [
        ("you", True, "self"), ("alice", True, "verified"), ("bob", True, "changed"),
        ("carol", True, "pinned"), ("dave", False, "new")]
    assert [r.badge for r in rows][1:4] == ["✓ verified", "⚠ changed", "pinned"]
    assert "offline" in rows[-1].tooltip


def test_messages_show_sender_time_mark_and_a_countdown_and_vanish_when_due():
    model = online_model(messages=(
        message("alice", "hello", sent=NOW - 10, ttl=610),
        message("alice", "again", sent=NOW - 5, ttl=35),
        message("bob", "trust me", sent=NOW - 1, trust=Trust.CHANGED),
        message("you", "mine", sent=NOW),
        message("carol", "elsewhere", channel="random"),
    ))
    rows = vm.message_rows(model, NOW)
    assert [(r.sender, r.mark_kind, r.continued) for r in rows] == [
        ("alice", "verified", False), ("alice", "verified", True),
        ("bob", "unverified", False), ("you", "own", False)]
    assert rows[0].countdown == "10:00" and not rows[0].urgent
    assert rows[1].countdown == "0:30" and rows[1].urgent
    assert rows[2].mark == "⚠ unverified"
    assert rows[0].time == fmt.clock_time(NOW - 10)
    assert [r.text for r in vm.message_rows(model, NOW + 31)] == ["hello", "trust me", "mine"]
    model.expire(NOW + 31)
    assert "alice-again" not in model.messages


def test_an_expired_event_removes_the_message_and_redraws():
    model = online_model(messages=(message("alice", "short"),))
    version = model.messages_version
    model.apply(ev.MessageExpired("alice-short", "general"), NOW)
    assert model.messages == {} and model.messages_version > version


def test_messages_elsewhere_count_as_unread_until_the_channel_is_opened():
    model = online_model()
    model.apply(ev.MessageReceived(message("dave", "psst", channel="random")), NOW)
    model.apply(ev.MessageReceived(message("dave", "psst again", channel="random")), NOW)
    assert [(r.name, r.unread) for r in vm.channel_rows(model)] == [("general", 0),
                                                                    ("random", 2)]
    model.select_channel("random")
    assert [(r.name, r.selected, r.unread) for r in vm.channel_rows(model)] == [
        ("general", False, 0), ("random", True, 0)]
    assert [r.text for r in vm.message_rows(model, NOW)] == ["psst", "psst again"]


def test_a_changed_key_raises_a_warning_that_stays_until_the_key_is_accepted():
    model = online_model(trust={"you": Trust.NEW, "bob": Trust.PINNED})
    model.apply(ev.KeyChanged("bob", FP["bob"], "F" * 40), NOW)
    model.apply(ev.MemberJoined("bob", "F" * 40, Trust.CHANGED), NOW)
    warning = [t for t in model.toasts.visible() if t.kind == "key_changed"]
    assert warning and warning[0].sticky and warning[0].user == "bob"
    model.toasts.expire(NOW + 3600)
    assert any(t.kind == "key_changed" for t in model.toasts.visible())
    assert vm.member_rows(model)[1].badge_kind == "changed"
    model.apply(nt.TrustUpdated("bob", Trust.PINNED), NOW)
    assert not any(t.kind == "key_changed" for t in model.toasts.visible())
    assert vm.member_rows(model)[1].badge_kind == "pinned"


def test_joins_and_leaves_are_toasted_once_online():
    model = online_model(trust={"you": Trust.NEW})
    model.apply(ev.MemberJoined("carol", FP["carol"], Trust.NEW), NOW)
    model.apply(ev.MemberLeft("carol"), NOW)
    assert [t.title for t in model.toasts.visible()] == ["carol left", "carol joined"]
    model.toasts.expire(NOW + 60)
    assert model.toasts.visible() == []


def test_a_lost_connection_is_shown_as_reconnecting_then_back_online():
    model = online_model()
    model.apply(nt.Reconnecting("the hub closed the connection", 2.0, 1), NOW)
    assert model.phase is Phase.RECONNECTING
    line = vm.status_line(model, NOW)
    assert line.state == "Reconnecting in 2 s (attempt 1)" and line.state_kind == "reconnecting"
    assert line.can_retry  # a pause to cut short: "Retry now" is offered
    assert not any(r.online for r in vm.member_rows(model))
    # Writing goes on: it waits in the session's outbox and shows as waiting until back.
    assert vm.composer(model).enabled and "waits" in vm.composer(model).hint
    assert vm.check_outgoing(model, "hi") is None
    model.apply(nt.MessageSent(message("you", "written while away")), NOW)
    assert [row.mark for row in vm.message_rows(model, NOW)] == ["◷ waiting"]
    model.apply(nt.Connecting("127.0.0.1", 1720, "you", 1), NOW + 2)
    assert vm.status_line(model, NOW + 2).state == "Reconnecting… (attempt 1)"
    assert not vm.status_line(model, NOW + 2).can_retry  # the attempt is under way
    state = SessionState("test hub", "AB" * 32, ("general",),
                         (MemberView("you", FP["you"], Trust.NEW),), ())
    model.apply(nt.Online("127.0.0.1", 1720, "you", FP["you"], state), NOW + 3)
    assert model.phase is Phase.ONLINE and not vm.status_line(model, NOW + 3).can_retry
    assert "Reconnected" in [t.title for t in model.toasts.visible()]
    assert vm.composer(model) == vm.Composer(True, "Message #general")
    assert [row.mark for row in vm.message_rows(model, NOW + 3)] == [""]  # sent now


def test_a_reconnect_in_the_hubs_login_line_shows_its_place_until_it_is_in():
    model = online_model()
    model.apply(nt.Reconnecting("the hub closed the connection", 1.0, 1), NOW)
    model.apply(nt.Connecting("127.0.0.1", 1720, "you", 1), NOW + 1)
    # The hub is taking logins in turn after a restart: it says where we stand.
    model.apply(ev.InLoginLine(412, 9.5), NOW + 2)
    assert vm.status_line(model, NOW + 2).state == "In the hub's login line: number 412, about 10 s"
    model.apply(ev.InLoginLine(30, 0.7), NOW + 7)
    assert vm.status_line(model, NOW + 8).state == "In the hub's login line: number 30, about 0 s"
    assert vm.status_line(model, NOW + 8).state_kind == "reconnecting"
    model.apply(ev.Connected("test hub", "AB" * 32, False), NOW + 9)
    assert vm.status_line(model, NOW + 9).state == "Reconnecting… (attempt 1)"


def test_status_line_names_the_hub_latency_and_certificate():
    model = online_model()
    model.apply(nt.LatencyMeasured(0.0123), NOW)
    line = vm.status_line(model, NOW)
    assert (line.state, line.hub, line.latency) == ("Online", "test hub (127.0.0.1:1720)",
                                                    "latency 12 ms")
    assert line.security == "hub key ABAB ABAB … ABAB ABAB"


def test_a_failed_first_connect_goes_back_to_the_form_with_the_reason():
    model = AppModel()
    model.begin_connect("127.0.0.1", 9, "you")
    model.apply(nt.ConnectFailed("login", "login refused: wrong password"), NOW)
    assert model.phase is Phase.FAILED and model.failure is not None
    assert model.failure.reason == "login refused: wrong password"
    assert model.toasts.visible() == []  # the form shows it; no toast on top


def test_disconnecting_clears_the_hub_but_keeps_the_toasts():
    model = online_model()
    model.toasts.push("info", "kept", "", NOW)
    model.apply(nt.Offline(), NOW)
    assert model.phase is Phase.IDLE and model.members == {} and model.channels == ()
    assert next(t.title for t in model.toasts.visible()) == "kept"


def test_safety_dialog_offers_verify_for_a_pinned_key_and_accept_for_a_changed_one():
    model = online_model()
    model.request_safety("carol")
    assert vm.safety_dialog(model).computing
    number = " ".join(["12345"] * 12)
    model.apply(nt.SafetyNumberReady("carol", number, FP["carol"], FP["you"], Trust.PINNED),
                NOW)
    dialog = vm.safety_dialog(model)
    assert dialog.number_lines == ("12345 12345 12345 12345",) * 3
    assert dialog.can_verify and not dialog.can_accept
    assert dialog.their_fingerprint == fmt.grouped_fingerprint(FP["carol"])
    model.apply(nt.TrustUpdated("carol", Trust.VERIFIED), NOW)
    assert not vm.safety_dialog(model).can_verify
    model.request_safety("bob")
    model.apply(nt.SafetyNumberReady("bob", number, "F" * 40, FP["you"], Trust.CHANGED), NOW)
    dialog = vm.safety_dialog(model)
    assert dialog.can_accept and not dialog.can_verify and "CHANGED" in dialog.explanation
    model.close_safety()
    assert vm.safety_dialog(model) is None


def in_call(*peers: CallPeer, **changes: object) -> CallView:
    """What the call side reports while we are in #general's call with `peers`."""
    view = CallView(available=True, unavailable_reason="", channel="general",
                    phase=CallPhase.IN_CALL, participants=peers, own_level_dbfs=-20.0)
    return replace(view, **changes)  # type: ignore[arg-type]


def test_call_panel_waits_for_the_call_side_then_for_a_connection():
    model = AppModel()
    panel = vm.call_panel(model)
    assert not panel.can_join and not panel.switches_enabled
    assert panel.status == CallView().unavailable_reason
    model.apply(nt.CallChanged(CallView(available=True, unavailable_reason="",
                                        devices_note="No audio devices found")), NOW)
    panel = vm.call_panel(model)
    assert not panel.can_join and panel.status == "Calls need a connection to the hub."
    assert panel.input_choices == ("System default",) and not panel.devices_enabled
    assert panel.devices_note == "No audio devices found"
    state = SessionState("test hub", "AB" * 32, ("general",), (), ())
    model.apply(nt.Online("127.0.0.1", 1720, "you", FP["you"], state), NOW)
    panel = vm.call_panel(model)
    assert panel.can_join and panel.join_label == "Join call"
    assert panel.status == "Not in a call. Join to talk in #general."
    assert panel.switches_enabled and not panel.controls_enabled  # mute is a choice already
    assert panel.peers == () and panel.own_level == 0.0


def test_call_panel_shows_each_peer_with_link_level_and_volume():
    model = online_model()
    model.apply(nt.CallChanged(in_call(
        CallPeer("alice", level_dbfs=-30.0, volume=0.8, connected=True),
        CallPeer("carol"), CallPeer("dave", failed=True),
        input_devices=("USB mic",), input_device="USB mic")), NOW)
    panel = vm.call_panel(model)
    assert panel.join_label == "Leave call" and panel.can_join and panel.controls_enabled
    assert panel.status == "In the call in #general with 3 others (1 connected)."
    assert [(p.user, p.level, p.level_text, p.volume, p.link, p.link_kind)
            for p in panel.peers] == [
        ("alice", 0.5, "-30 dBFS", 0.8, "connected", "ok"),
        ("carol", 0.0, "", 1.0, "connecting…", "waiting"),
        ("dave", 0.0, "", 1.0, "no audio link", "failed")]
    assert panel.own_level == pytest.approx(2 / 3)
    assert panel.own_level_text == "sending continuously"
    assert panel.input_choices == ("System default", "USB mic")
    assert panel.input_device == "USB mic" and panel.output_device == "System default"
    assert [r.user for r in vm.member_rows(model) if r.in_call] == ["you", "alice", "carol",
                                                                     "dave"]


def test_call_panel_shows_who_speaks_and_the_transmit_mode():
    model = online_model()
    model.apply(nt.CallChanged(in_call(
        CallPeer("alice", level_dbfs=-30.0, connected=True, speaking=True),
        CallPeer("carol", level_dbfs=-70.0, connected=True),
        transmit="ptt", own_speaking=True)), NOW)
    panel = vm.call_panel(model)
    assert [p.level_text for p in panel.peers] == ["speaking · -30 dBFS", "silent"]
    assert panel.own_level_text == "speaking · push-to-talk"
    # Their sealed word that they muted themselves; a level heard all the same stays shown.
    model.apply(nt.CallChanged(in_call(
        CallPeer("alice", level_dbfs=-30.0, connected=True, muted=True),
        CallPeer("carol", level_dbfs=-70.0, connected=True, muted=True))), NOW)
    assert [p.level_text for p in vm.call_panel(model).peers] == ["muted · -30 dBFS", "muted"]
    model.apply(nt.CallChanged(in_call(transmit="voice")), NOW)
    assert vm.call_panel(model).own_level_text == "voice activation"
    model.apply(nt.CallChanged(in_call(transmit="ptt", talk_key_held=True)), NOW)
    assert vm.call_panel(model).own_level_text == "push-to-talk (key held)"


def test_a_peer_whose_key_changed_shows_why_no_link_forms():
    model = online_model()  # bob's key changed and was not accepted
    model.apply(nt.CallChanged(in_call(CallPeer("bob"))), NOW)
    row = vm.call_panel(model).peers[0]
    assert (row.link, row.link_kind) == ("key changed: check it first", "failed")


def test_muted_or_deafened_the_own_meter_rests_and_says_so():
    model = online_model()
    model.apply(nt.CallChanged(in_call(muted=True)), NOW)
    panel = vm.call_panel(model)
    assert (panel.own_level, panel.own_level_text, panel.muted) == (0.0, "muted", True)
    assert panel.status == "In the call in #general. Nobody else yet."
    model.apply(nt.CallChanged(in_call(deafened=True)), NOW)
    assert vm.call_panel(model).own_level_text == "deafened (and muted)"


def test_joining_and_leaving_are_shown_on_the_button():
    model = online_model()
    model.apply(nt.CallChanged(in_call(phase=CallPhase.JOINING)), NOW)
    panel = vm.call_panel(model)
    assert (panel.join_label, panel.can_join) == ("Leave call", True)
    assert panel.status == "Joining the call in #general…"
    model.apply(nt.CallChanged(in_call(phase=CallPhase.LEAVING)), NOW)
    panel = vm.call_panel(model)
    assert (panel.join_label, panel.can_join, panel.controls_enabled) == ("Leaving…", False,
                                                                        False)
    assert not any(r.in_call for r in vm.member_rows(model))


def test_call_events_update_the_roster_before_the_next_report():
    model = online_model()
    model.apply(nt.CallChanged(in_call(phase=CallPhase.JOINING)), NOW)
    members = model.members_version
    model.apply(ev.CallMembersChanged("general", ("alice", "carol", "you")), NOW)
    assert model.call.phase is CallPhase.IN_CALL
    assert [(p.user, p.connected) for p in model.call.participants] == [("alice", False),
                                                                        ("carol", False)]
    assert model.members_version > members  # the member list shows who is in the call
    model.apply(ev.CallPeerConnected("general", "alice", 120.0), NOW)
    model.apply(ev.CallPeerConnected("random", "carol", 120.0), NOW)  # not our call
    assert [(p.user, p.connected) for p in model.call.participants] == [("alice", True),
                                                                        ("carol", False)]
    model.apply(ev.CallPeerFailed("general", "carol", "ICE failed"), NOW)
    assert model.call.peer("carol") == CallPeer("carol", failed=True)
    assert "No audio link to carol" in [t.title for t in model.toasts.visible()]
    model.apply(ev.CallPeerLeft("general", "carol"), NOW)
    assert [p.user for p in model.call.participants] == ["alice"]
    model.apply(ev.CallLeft("general"), NOW)
    assert model.call.phase is CallPhase.IDLE and model.call.participants == ()
    assert model.call.available  # the preferences and devices stay


def test_a_level_report_does_not_redraw_the_member_list():
    model = online_model()
    model.apply(nt.CallChanged(in_call(CallPeer("alice", -30.0, connected=True))), NOW)
    members, calls = model.members_version, model.call_version
    model.apply(nt.CallChanged(in_call(CallPeer("alice", -12.0, connected=True))), NOW)
    assert model.members_version == members and model.call_version == calls + 1


def test_a_refused_call_is_toasted_and_the_panel_goes_back_to_join():
    model = online_model()
    model.apply(nt.CallChanged(in_call(phase=CallPhase.JOINING)), NOW)
    model.apply(ev.CallRefused("general", "call_full", "the call is full (8 people)"), NOW)
    assert model.call.phase is CallPhase.IDLE
    toast = next(t for t in model.toasts.visible() if t.title == "Could not join the call")
    assert toast.body == "the call is full (8 people)"


def test_a_rejected_call_signal_is_reported():
    model = online_model()
    model.apply(nt.CallChanged(in_call(CallPeer("alice"))), NOW)
    model.apply(ev.CallSignalRejected("general", "alice", "bad_signature"), NOW)
    toast = model.toasts.visible()[0]
    assert toast.title == "Call signal from alice rejected" and "bad signature" in toast.body




@pytest.mark.parametrize("seconds, text", [(0.2, "0:01"), (42, "0:42"), (605, "10:05"),
                                           (3600, "1h 00m"), (7 * 86400 - 1, "6d 23h")])
def test_countdowns_read_naturally(seconds, text):
    assert fmt.countdown(seconds) == text


def test_toasts_pass_but_sticky_ones_stay_and_are_not_repeated():
    board = ToastBoard()
    board.push("join", "a joined", "", NOW)
    assert board.push("key_changed", "k", "", NOW, sticky=True, user="bob") is not None
    assert board.push("key_changed", "k", "", NOW, sticky=True, user="bob") is None
    board.expire(NOW + 10)
    assert [t.kind for t in board.visible()] == ["key_changed"]


def test_shortcuts_map_keys_to_actions_and_channels():
    assert action_for("1", ctrl=True) == "channel:1"
    assert action_for("M", ctrl=True) == "toggle_mute"
    assert action_for("Up", alt=True) == "channel:prev"
    assert action_for("F1") == "help" and action_for("M") is None
    channels = ("general", "random", "dev")
    assert channel_after(channels, "general", "channel:prev") == "dev"
    assert channel_after(channels, "dev", "channel:next") == "general"
    assert channel_after(channels, "general", "channel:2") == "random"
    assert channel_after(channels, "general", "channel:9") is None


def test_expiry_picker_labels_round_trip():
    for label, seconds in vm.EXPIRY_CHOICES:
        assert vm.expiry_label(seconds) == label and vm.expiry_seconds(label) == seconds
    assert vm.expiry_label(4000) == "1 hour"
