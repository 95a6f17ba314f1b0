"""Voice calls in the desktop app: the window joins a real call through a real hub, hears a
scripted member (a test tone over real aiortc links, loopback only), mutes, sets a volume
and leaves; the bridge copes without sound devices; the helpers that pick ICE addresses and
build the roster. Media runs in real time, so these waits are bounded, never slept."""

from __future__ import annotations

import dearpygui.dearpygui as dpg
import pytest
import trio

from gossip.actors.actor import ActorRef
from gossip.client import events as ev
from gossip.client.calltypes import CallOptions, CallState, GetCallState, PeerState
from gossip.client.commands import JoinCall
from gossip.crypto.pins import Trust
from gossip.media.devicelist import DeviceList, list_devices
from gossip.media.sources import ToneSource
from gossip.media.switchable import SwitchableSource
from gossip.ui import intents
from gossip.ui import notices as nt
from gossip.ui.bridge import Bridge
from gossip.ui.callview import CallPhase
from gossip.ui.trioside.callcontrol import CallSetup, call_ice_hosts, meter, participants

from .appwindow import (
    WAIT,
    PeerWorld,
    click,
    go_online,
    texts_in,
)
from .conftest import PASSWORD
from .faultproxy import FaultProxy
from .test_ui_bridge import next_notice

LOOPBACK = ("127.0.0.1",)
BOB_TONE = 660.0
AUDIBLE_DBFS = -40.0  # a 0.3 full-scale tone arrives near -17 dBFS; silence near -100
SILENT_DBFS = -80.0


class CallWorld(PeerWorld):
    """The hub and bob, who can join #general's call speaking a test tone."""

    bob_call: ActorRef | None = None

    def bob_joins_the_call(self) -> None:
        async def join() -> None:
            assert self._bob is not None
            options = CallOptions(source=ToneSource(BOB_TONE), sink="null", ice_hosts=LOOPBACK)
            self.bob_call = await self._bob.ref.ask(JoinCall("general", options))
        self.call(join)

    def bob_hears(self, user: str) -> PeerState | None:
        """What bob's call knows of `user`'s link and level."""
        async def state() -> CallState:
            assert self.bob_call is not None
            return await self.bob_call.ask(GetCallState())
        return self.call(state).peers.get(user)


@pytest.fixture
def world(tmp_path):
    with CallWorld(tmp_path / "world") as world:
        yield world


def bob_heard_at(world: CallWorld, below: float | None = None,
                 above: float | None = None) -> bool:
    peer = world.bob_hears("you")
    if peer is None or peer.link != "connected":
        return False
    return ((above is None or peer.level_dbfs > above)
            and (below is None or peer.level_dbfs < below))


def test_the_app_joins_a_call_hears_the_peer_then_mutes_and_leaves(app, world):
    world.bob_joins_the_call()
    go_online(app, world)
    panel = app.main.call
    assert dpg.get_item_label(panel.join) == "Join call"
    click(panel.join)
    # bob's tone comes through: his row says connected and his meter moves.
    app.pump_until(lambda: "bob" in panel.meters and dpg.get_value(panel.meters["bob"]) > 0.3,
                   WAIT)
    assert "connected" in texts_in(panel.peers)
    assert str(dpg.get_item_configuration(panel.meters["bob"])["overlay"]).endswith("dBFS")
    assert dpg.get_item_label(panel.join) == "Leave call"
    app.pump_until(lambda: dpg.get_value(panel.own_meter) > 0.3, WAIT)  # our tone goes out
    members = texts_in(app.main.sidebar.members)
    assert "bob  ♪" in members and "you  ♪" in members
    app.pump_until(lambda: bob_heard_at(world, above=AUDIBLE_DBFS), WAIT)

    dpg.set_value(panel.mute, True)
    click(panel.mute)
    app.pump_until(lambda: bob_heard_at(world, below=SILENT_DBFS), WAIT)
    assert app.model.call.muted and dpg.get_value(panel.own_meter) == 0.0
    assert dpg.get_item_configuration(panel.own_meter)["overlay"] == "muted"

    dpg.set_value(panel.sliders["bob"], 0.5)
    click(panel.sliders["bob"])
    app.pump_until(lambda: app.model.call.peer("bob") is not None
                   and app.model.call.peer("bob").volume == pytest.approx(0.5), WAIT)

    click(panel.join)  # "Leave call"
    assert world.wait_for(ev.CallPeerLeft, lambda e: e.user == "you").channel == "general"
    app.pump_until(lambda: app.model.call.phase is CallPhase.IDLE
                   and dpg.get_item_label(panel.join) == "Join call", WAIT)
    assert "bob  ♪" not in texts_in(app.main.sidebar.members)


@pytest.fixture
async def deviceless_bridge():
    """The app's call side as on a machine whose devices cannot be opened."""
    setup = CallSetup(input_device="no such microphone", output_device="no such speakers",
                      level_interval=0.1)
    bridge = Bridge(retry_base=0.05, call_setup=setup)
    await trio.to_thread.run_sync(bridge.start)
    yield bridge
    assert await trio.to_thread.run_sync(bridge.stop)


async def test_without_sound_devices_the_app_still_joins_and_hears_levels(
        deviceless_bridge, hub, connect, tmp_path):
    bridge = deviceless_bridge
    bob = await connect("bob")
    await bob.session.ref.ask(JoinCall("general", CallOptions(
        source=ToneSource(BOB_TONE), sink="null", ice_hosts=LOOPBACK)))
    bridge.post(intents.ConnectToHub("127.0.0.1", hub.port, "you", PASSWORD, tmp_path / "you"))
    await next_notice(bridge, nt.Online)
    bridge.post(intents.JoinChannelCall("general"))
    problems = {(n := await next_notice(bridge, nt.CommandFailed)).what: n.reason
                for _ in range(2)}
    assert set(problems) == {"open the microphone", "open the speakers"}
    # Worded for a person: which device, what to do, what it means; no "device None".
    assert "the microphone “no such microphone”" in problems["open the microphone"]
    assert "None" not in problems["open the speakers"]
    assert "others hear silence" in problems["open the microphone"]

    def hears_bob(notice: nt.CallChanged) -> bool:
        peer = notice.view.peer("bob")
        return peer is not None and peer.connected and peer.level_dbfs > AUDIBLE_DBFS

    view = (await next_notice(bridge, nt.CallChanged, hears_bob)).view
    assert view.phase is CallPhase.IN_CALL and view.channel == "general"
    connected = await bob.next_event(ev.CallPeerConnected)
    assert connected.user == "you"
    bridge.post(intents.LeaveChannelCall())
    await next_notice(bridge, nt.CallChanged, lambda n: n.view.phase is CallPhase.IDLE)
    assert (await bob.next_event(ev.CallPeerLeft)).user == "you"


async def test_a_call_lost_with_the_connection_is_rejoined_once_back(
        deviceless_bridge, hub, connect, nursery, tmp_path):
    bridge = deviceless_bridge
    bob = await connect("bob")
    await bob.session.ref.ask(JoinCall("general", CallOptions(
        source=ToneSource(BOB_TONE), sink="null", ice_hosts=LOOPBACK)))
    proxy = FaultProxy(hub.port)
    await nursery.start(proxy.run)
    bridge.post(intents.ConnectToHub("127.0.0.1", proxy.port, "you", PASSWORD, tmp_path / "you"))
    await next_notice(bridge, nt.Online)
    bridge.post(intents.JoinChannelCall("general"))

    def with_bob(notice: nt.CallChanged) -> bool:
        peer = notice.view.peer("bob")
        return notice.view.phase is CallPhase.IN_CALL and peer is not None and peer.connected

    await next_notice(bridge, nt.CallChanged, with_bob)
    proxy.cut_all()  # the network drops us, call and all
    await next_notice(bridge, nt.Reconnecting)
    # The call's end and the session's return race (a fast reconnect is online before the
    # poll sees the call gone); both must be told, in either order, before the rejoin.
    seen: list[object] = []

    def back_with_bob(notice: object) -> bool:
        seen.append(notice)
        return isinstance(notice, nt.CallChanged) and with_bob(notice)

    view = (await next_notice(bridge, (nt.CallChanged, nt.Online), back_with_bob)).view
    assert any(isinstance(n, nt.Online) for n in seen)
    assert any(isinstance(n, nt.CallChanged) and n.view.phase is CallPhase.IDLE for n in seen)
    assert view.channel == "general"
    assert (await bob.next_event(ev.CallPeerConnected, lambda e: e.user == "you")).user == "you"


# -- the pure parts ------------------------------------------------------------------------------

def test_calls_through_a_hub_on_loopback_offer_only_loopback():
    assert call_ice_hosts((), "127.0.0.1") == ("127.0.0.1",)
    assert call_ice_hosts((), "localhost") == ("127.0.0.1",)
    assert call_ice_hosts((), "::1") == ("::1",)
    assert call_ice_hosts((), "hub.example.org") == ()  # every interface
    assert call_ice_hosts((), "192.0.2.7") == ()
    assert call_ice_hosts(("192.0.2.1",), "127.0.0.1") == ("192.0.2.1",)  # as configured


def test_the_roster_shows_everyone_else_with_their_link():
    def peer(user: str, link: str, level: float = -20.0, authenticated: bool = True,
             trust: Trust = Trust.PINNED) -> PeerState:
        return PeerState(user, link, 10, 100.0, 120.0, authenticated, level, 1.0, False,
                         trust=trust)

    state = CallState("general", "in_call", ("alice", "bob", "carol", "you"), False, False, {
        "alice": peer("alice", "connected", trust=Trust.VERIFIED),
        "bob": peer("bob", "connecting", trust=Trust.NEW),
        "dave": peer("dave", "left"), "carol": peer("carol", "connected", authenticated=False)})
    # Connected means an authenticated link; who they are is the trust, shown apart.
    assert [(p.user, p.connected, p.level_dbfs, p.trust)
            for p in participants(state, "you")] == [
        ("alice", True, -20.0, Trust.VERIFIED), ("bob", False, -20.0, Trust.NEW),
        ("carol", False, -20.0, Trust.PINNED)]


def test_meters_rise_at_once_and_fall_gently():
    assert meter(-60.0, -20.0, 0.2) == -20.0
    assert meter(-20.0, -100.0, 0.2) == pytest.approx(-32.0)  # 60 dB a second
    assert meter(-20.0, -25.0, 0.2) == -25.0  # a small drop shows as it is


def test_the_own_meter_measures_what_the_call_read_and_a_swap_changes_the_source():
    source = SwitchableSource(ToneSource(440.0, 0.5))
    assert source.take_level() < -90  # nothing read yet
    for _ in range(5):
        source.read()
    assert -10 < source.take_level() < -8  # a 0.5 sine: -9 dBFS RMS
    old = source.swap(ToneSource(440.0, 0.05))
    assert isinstance(old, ToneSource)
    source.read()
    assert -30 < source.take_level() < -28


def test_device_listing_never_raises():
    devices = list_devices()
    assert isinstance(devices, DeviceList)
    assert devices.problem or devices.inputs or devices.outputs
