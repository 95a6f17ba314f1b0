"""The app's bridge without a window: its trio thread connects to a real hub on loopback,
carries out the user's intents and reports back through the notice queue."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from gossip.client import events as ev
from gossip.client.commands import SendChat
from gossip.client.errors import ConnectionLost, HubUnreachable, LoginFailed, SignedInElsewhere
from gossip.client.profile import Profile
from gossip.crypto import HubKeyChanged, Identity, safety_number
from gossip.crypto.pins import Trust
from gossip.ui import intents
from gossip.ui import notices as nt
from gossip.ui.bridge import Bridge, NoticeQueue
from gossip.ui.model import AppModel
from gossip.ui.trioside.keeper import ending_of

from .conftest import PASSWORD
from .faultproxy import FaultProxy

NOTICE_TIMEOUT = 20.0
NOW = 1_700_000_000.0  # the model's clock, for toasts


@pytest.fixture
async def bridge():
    bridge = Bridge(retry_base=0.05)
    await trio.to_thread.run_sync(bridge.start)
    yield bridge
    assert await trio.to_thread.run_sync(bridge.stop)


async def next_notice(bridge: Bridge, kind: type | tuple[type, ...],
                      predicate: Callable[[object], bool] = lambda n: True) -> object:
    """The next notice of this kind (others are skipped), within a bound."""
    with trio.fail_after(NOTICE_TIMEOUT):
        while True:
            notice = await trio.to_thread.run_sync(bridge.notices.get, NOTICE_TIMEOUT,
                                                   abandon_on_cancel=True)
            if isinstance(notice, kind) and predicate(notice):
                return notice


def login(hub, profile_dir: Path, user: str = "you",
          password: str = PASSWORD) -> intents.ConnectToHub:
    return intents.ConnectToHub("127.0.0.1", hub.port, user, password, profile_dir)


async def test_the_bridge_goes_online_and_a_message_reaches_another_client(
        bridge, hub, connect, tmp_path):
    bob = await connect("bob")
    bridge.post(login(hub, tmp_path / "you"))
    online = await next_notice(bridge, nt.Online)
    assert [m.user for m in online.state.members] == ["bob", "you"]
    latency = await next_notice(bridge, nt.LatencyMeasured)  # measured as soon as online
    assert latency.seconds is not None and latency.seconds >= 0
    bridge.post(intents.SubmitMessage("general", "hi bob", 60))
    sent = (await next_notice(bridge, nt.MessageSent)).message
    got = (await bob.next_event(ev.MessageReceived)).message
    assert (got.id, got.sender, got.text, got.verified) == (sent.id, "you", "hi bob", True)


async def test_a_message_from_another_client_arrives_for_the_ui(bridge, hub, connect, tmp_path):
    bob = await connect("bob")
    bridge.post(login(hub, tmp_path / "you"))
    await next_notice(bridge, nt.Online)
    await bob.next_event(ev.MemberJoined, lambda e: e.user == "you")
    await bob.session.ref.ask(SendChat("random", "hello you", 60))
    got = await next_notice(bridge, ev.MessageReceived)
    assert (got.message.sender, got.message.channel, got.message.text) == (
        "bob", "random", "hello you")


async def test_commands_the_session_would_crash_on_are_refused_and_it_lives_on(
        bridge, hub, tmp_path):
    bridge.post(login(hub, tmp_path / "you"))
    await next_notice(bridge, nt.Online)
    for command, reason in [
        (intents.SubmitMessage("nowhere", "hi", 60), "no channel #nowhere"),
        (intents.SubmitMessage("general", "   ", 60), "the message is empty"),
        (intents.AcceptChangedKey("bob"), "bob's key did not change"),
        (intents.MarkKeyVerified("bob"), "No key is known for bob yet"),
        (intents.ComputeSafetyNumber("bob"), "bob is not online"),
    ]:
        bridge.post(command)
        failed = await next_notice(bridge, nt.CommandFailed)
        assert reason in failed.reason
    bridge.post(intents.SubmitMessage("general", "still here", 60))
    assert (await next_notice(bridge, nt.MessageSent)).message.text == "still here"


async def test_a_dropped_connection_is_reconnected_and_shown_as_such(
        bridge, hub, connect, nursery, tmp_path):
    bob = await connect("bob")
    proxy = FaultProxy(hub.port)
    await nursery.start(proxy.run)
    bridge.post(intents.ConnectToHub("127.0.0.1", proxy.port, "you", PASSWORD, tmp_path / "you"))
    await next_notice(bridge, nt.Online)
    proxy.refuse_for(1.0)
    proxy.cut_all()  # the network drops us
    reconnecting = await next_notice(bridge, nt.Reconnecting)
    assert reconnecting.attempt == 1 and 0 < reconnecting.delay <= 0.05
    # Written while offline: the session keeps it and sends it once it is back.
    bridge.post(intents.SubmitMessage("general", "written offline", 60))
    again = await next_notice(bridge, nt.Connecting)
    assert again.attempt >= 1
    online = await next_notice(bridge, nt.Online)
    assert "you" in [m.user for m in online.state.members]
    got = await bob.next_event(ev.MessageReceived)
    assert (got.message.sender, got.message.text) == ("you", "written offline")


async def test_a_message_refused_by_a_full_offline_outbox_is_shown_as_failed_not_sent(
        bridge, hub, nursery, tmp_path, monkeypatch):
    # The session refuses it (OutboxFull); the bridge once posted that refusal as a sent
    # message, and the model then crashed on the render thread.
    monkeypatch.setattr("gossip.client.chat.OUTBOX_LIMIT", 2)
    proxy = FaultProxy(hub.port)
    await nursery.start(proxy.run)
    bridge.post(intents.ConnectToHub("127.0.0.1", proxy.port, "you", PASSWORD, tmp_path / "you"))
    model = AppModel()
    model.apply(await next_notice(bridge, nt.Online), NOW)
    proxy.refuse_for(600)  # offline until the test ends
    proxy.cut_all()
    await next_notice(bridge, nt.Reconnecting)
    for text in ("first", "second", "one too many"):
        bridge.post(intents.SubmitMessage("general", text, 60))
    answers = [await next_notice(bridge, (nt.MessageSent, nt.CommandFailed)) for _ in range(3)]
    for answer in answers:
        model.apply(answer, NOW)
    assert [type(answer) for answer in answers] == [nt.MessageSent, nt.MessageSent,
                                                    nt.CommandFailed]
    assert answers[2].what == "send the message" and "2 messages already wait" in \
        answers[2].reason
    assert sorted(m.text for m in model.messages.values()) == ["first", "second"]
    toast = next(t for t in model.toasts.visible() if t.kind == "error")
    assert toast.title == "Could not send the message" and "try again" in toast.body


async def test_the_app_stays_online_beside_another_connection_of_its_user(
        bridge, hub, connect, tmp_path):
    bridge.post(login(hub, tmp_path / "you"))
    await next_notice(bridge, nt.Online)
    # The same user and key on another connection (the CLI, a phone) runs beside the app,
    # and what it sends shows in the app.
    phone = await connect("you", profile=Profile.open("you", tmp_path / "you"))
    await phone.session.ref.ask(SendChat("general", "sent from the phone", 60))
    got = await next_notice(bridge, (ev.MessageReceived, nt.ConnectFailed))
    assert isinstance(got, ev.MessageReceived)
    assert (got.message.sender, got.message.text) == ("you", "sent from the phone")


async def test_a_wrong_password_fails_for_good(bridge, hub, tmp_path):
    bridge.post(login(hub, tmp_path / "you", password="wrong"))
    failed = await next_notice(bridge, nt.ConnectFailed)
    assert failed.kind == "login" and "wrong password" in failed.reason
    # Nothing was pinned: the card must not blame a pin (gossip/ui/wording.py).
    assert failed.code == "auth" and failed.first_visit


async def test_an_unreachable_hub_fails_on_the_first_try(bridge, tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bridge.post(intents.ConnectToHub("127.0.0.1", port, "you", "pw", tmp_path / "you"))
    failed = await next_notice(bridge, nt.ConnectFailed)
    assert failed.kind == "unreachable" and str(port) in failed.reason
    assert failed.code == "refused" and failed.reason.count(str(port)) == 1


async def test_safety_numbers_match_what_the_other_side_computes(bridge, hub, connect, tmp_path):
    bob = await connect("bob")
    bridge.post(login(hub, tmp_path / "you"))
    online = await next_notice(bridge, nt.Online)
    bridge.post(intents.ComputeSafetyNumber("bob"))
    ready = await next_notice(bridge, nt.SafetyNumberReady)
    assert ready.number == safety_number("bob", bob.profile.identity.fingerprint, "you",
                                         online.own_fingerprint)
    assert ready.trust is Trust.NEW


async def test_a_changed_key_is_reported_and_can_be_accepted(bridge, hub, connect, tmp_path):
    Profile.open("you", tmp_path / "you").pins.check("bob", Identity.generate("bob").fingerprint)
    await connect("bob")
    bridge.post(login(hub, tmp_path / "you"))
    changed = await next_notice(bridge, ev.KeyChanged)
    assert changed.user == "bob"
    await next_notice(bridge, nt.Online)
    bridge.post(intents.MarkKeyVerified("bob"))
    assert "accept the new key first" in (await next_notice(bridge, nt.CommandFailed)).reason
    bridge.post(intents.AcceptChangedKey("bob"))
    assert (await next_notice(bridge, nt.TrustUpdated)).trust is Trust.PINNED
    bridge.post(intents.MarkKeyVerified("bob"))
    assert (await next_notice(bridge, nt.TrustUpdated)).trust is Trust.VERIFIED


async def test_disconnecting_leaves_the_hub_politely(bridge, hub, connect, tmp_path):
    bob = await connect("bob")
    bridge.post(login(hub, tmp_path / "you"))
    await next_notice(bridge, nt.Online)
    bridge.post(intents.DisconnectFromHub())
    await next_notice(bridge, nt.Offline)
    assert (await bob.next_event(ev.MemberLeft)).user == "you"


async def test_the_call_side_reports_itself_and_needs_a_connection_to_join(bridge):
    view = (await next_notice(bridge, nt.CallChanged)).view
    assert view.available and not view.joined
    bridge.post(intents.JoinChannelCall("general"))
    failed = await next_notice(bridge, nt.CommandFailed)
    assert failed.what == "join the call"
    assert failed.reason == "You are not connected to the hub. Connect, then join the call."
    bridge.post(intents.ChooseMuted(True))  # before a call: the choice for the next one
    assert (await next_notice(bridge, nt.CallChanged)).view.muted
    bridge.post(intents.ChoosePeerVolume("bob", 3.0))
    assert "between 0 and 2" in (await next_notice(bridge, nt.CommandFailed)).reason
    bridge.post(intents.HoldTalkKey(True))  # push-to-talk: held now, told to the next call
    assert (await next_notice(bridge, nt.CallChanged)).view.talk_key_held


def test_a_ui_that_falls_behind_is_told_to_fetch_a_fresh_state():
    queue = NoticeQueue(size=2)
    for seconds in (1.0, 2.0, 3.0, 4.0):
        queue.put(nt.LatencyMeasured(seconds))
    assert queue.drain(10) == [nt.LatencyMeasured(1.0), nt.LatencyMeasured(2.0),
                               nt.NoticesLost(2)]
    assert queue.drain(10) == []


def test_how_a_session_ends_is_told_apart():
    assert ending_of(LoginFailed("auth", "no"), False).permanent
    assert ending_of(SignedInElsewhere("replaced"), False).kind == "elsewhere"
    assert ending_of(HubKeyChanged("h", 1, "AA", "BB", ""), False).kind == "hub_key"
    assert not ending_of(HubUnreachable("down"), False).permanent
    assert ending_of(ConnectionLost("gone"), False).kind == "lost"
    assert ending_of(None, True).kind == "left"
