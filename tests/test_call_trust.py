"""Calls show who is really there: a lying hub (tests/lyinghub.py) puts a ghost into a call
or swaps a member's key, and the call says so. Who a peer is (their key's trust) is kept
apart from the link's check (DTLS against the signed SDP), which a ghost passes as well as
anyone. Real sessions, real aiortc links on 127.0.0.1 only."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from gossip.client import events as ev
from gossip.client.calltypes import NOT_CALLED, CallOptions, CallState, GetCallState, LeaveCall
from gossip.client.commands import AcceptKey, JoinCall, VerifyKey
from gossip.crypto.pins import Trust
from gossip.hub import RunningHub
from gossip.media.loop import open_media_loop
from gossip.media.sinks import MemorySink
from gossip.media.sources import ToneSource
from gossip.ui import notices as nt
from gossip.wire import Signal

from .lyinghub import Direction, Ghost, GhostCall, LyingHub

LOOPBACK = ("127.0.0.1",)
BOUND = 30  # seconds any one wait may take before the test fails instead of hanging


@pytest.fixture
async def media_loop():
    async with open_media_loop() as loop:
        yield loop


@pytest.fixture
async def lying(nursery: trio.Nursery, hub: RunningHub) -> LyingHub:
    return await nursery.start(LyingHub(hub).run)


def call_options(hz: float) -> CallOptions:
    return CallOptions(source=ToneSource(hz), sink=MemorySink(), ice_hosts=LOOPBACK)


async def call_events_until(client, done, kinds: tuple[type, ...]) -> list[object]:
    """The client's events of these kinds, in order, until `done(events)` holds (bounded)."""
    seen: list[object] = []
    with trio.fail_after(BOUND):
        async for event in client.events:
            if isinstance(event, kinds):
                seen.append(event)
                if done(seen):
                    return seen
    raise AssertionError("event channel closed")


def connected_to(events: list[object], *users: str) -> bool:
    return set(users) <= {e.user for e in events if isinstance(e, ev.CallPeerConnected)}


async def test_a_ghost_the_hub_puts_in_a_call_shows_as_an_unverified_newcomer(
        media_loop, connect, lying: LyingHub, nursery: trio.Nursery, tmp_path: Path):
    alice = await connect("alice", port=lying.port)
    bob = await connect("bob")
    assert await alice.session.ref.ask(VerifyKey("bob")) is Trust.VERIFIED

    # The hub invents a member, puts it in every roster it sends alice and answers her
    # signals with a real call under the ghost's key.
    ghost = Ghost("ghost", tmp_path / "ghost")
    ghost_call = GhostCall(lying, ghost, alice.profile.identity.public, "general",
                           call_options(900.0))
    lying.hooks[Direction.UP] = ghost_call.hook_up
    lying.hooks[Direction.DOWN] = ghost_call.hook_down
    await nursery.start(ghost_call.run)
    lying.of("alice").inject(ghost.key_frame())
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "ghost")

    call = await alice.session.ref.ask(JoinCall("general", call_options(300.0)))
    await bob.session.ref.ask(JoinCall("general", call_options(600.0)))
    seen = await call_events_until(
        alice, lambda events: connected_to(events, "ghost", "bob"),
        (ev.CallPeerUnknown, ev.CallPeerConnected, ev.CallPeerKeyChanged))

    # Loud, before and when the ghost's link is up: a first contact, never "verified".
    unknown = [e for e in seen if isinstance(e, ev.CallPeerUnknown)]
    assert [(e.user, e.fingerprint) for e in unknown] == [("ghost", ghost.identity.fingerprint)]
    up = {e.user: e for e in seen if isinstance(e, ev.CallPeerConnected)}
    assert up["ghost"].trust is Trust.NEW and up["ghost"].first_contact
    assert up["ghost"].fingerprint == ghost.identity.fingerprint
    assert up["bob"].trust is Trust.VERIFIED and not up["bob"].first_contact
    assert ghost_call.diverted, "alice's signals reached the ghost (the attack is real)"

    state: CallState = await call.ask(GetCallState())
    spook, friend = state.peers["ghost"], state.peers["bob"]
    # The ghost's link is as authenticated as bob's: that says nothing about who it is.
    assert spook.link == "connected" and spook.link_authenticated
    assert spook.trust is Trust.NEW and spook.first_contact and not spook.identity_verified
    assert friend.link == "connected" and friend.link_authenticated
    assert friend.trust is Trust.VERIFIED and friend.identity_verified
    assert spook.as_json()["trust"] == "new" and "verified" not in spook.as_json()

    # What the user is shown: the app's panel and `gossip-cli call`.
    from gossip.cli.call import call_event_line, peer_line
    from gossip.ui import viewmodel as vm
    from gossip.ui.trioside.callcontrol import participants

    rows = {p.user: vm.peer_row(p) for p in participants(state, "alice")}
    assert (rows["ghost"].identity_kind, rows["ghost"].link_kind) == ("new", "ok")
    assert "UNVERIFIED NEWCOMER" in rows["ghost"].identity_tip
    assert (rows["bob"].identity_kind, rows["bob"].identity) == ("verified", "✓ verified")
    assert "unverified newcomer in the call: ghost" in str(call_event_line(unknown[0]))
    assert "NEW key, NOT verified" in str(call_event_line(up["ghost"]))
    assert "identity NEW key, NOT verified" in peer_line("ghost", spook)
    assert "link connected, authenticated" in peer_line("ghost", spook)
    assert "identity verified key" in peer_line("bob", friend)
    # Alice hangs up first: her links end while nothing else is being torn down.
    await call.tell(LeaveCall())
    await alice.next_event(ev.CallLeft)


async def test_a_changed_key_in_the_call_roster_is_never_called(
        media_loop, connect, lying: LyingHub, tmp_path: Path):
    alice = await connect("alice", port=lying.port)
    bob = await connect("bob")  # alice pins bob's real key
    impostor = Ghost("bob", tmp_path / "impostor")
    lying.of("alice").inject(impostor.key_frame())  # the hub swaps bob's key for alice
    await alice.next_event(ev.KeyChanged, lambda e: e.user == "bob")

    call = await alice.session.ref.ask(JoinCall("general", call_options(300.0)))
    await bob.session.ref.ask(JoinCall("general", call_options(600.0)))
    refused = await alice.next_event(ev.CallPeerKeyChanged, lambda e: e.user == "bob")
    assert refused.fingerprint == impostor.identity.fingerprint

    state: CallState = await call.ask(GetCallState())
    shown = state.peers["bob"]
    assert (shown.link, shown.trust, shown.link_authenticated) == (NOT_CALLED, Trust.CHANGED,
                                                                   False)
    assert shown.fingerprint == impostor.identity.fingerprint
    # No offer, answer or candidate was sealed to bob's name, under either key (the call
    # has no link for him: nothing can be sent later either).
    assert [f for f in lying.of("alice").sent_up(Signal)
            if isinstance(f, Signal) and f.peer == "bob"] == []

    from gossip.cli.call import call_event_line, peer_line
    from gossip.ui import viewmodel as vm
    from gossip.ui.trioside.callcontrol import participants

    row = vm.peer_row(participants(state, "alice")[0])
    assert (row.user, row.identity_kind, row.link_kind) == ("bob", "changed", "failed")
    assert "not calling bob" in str(call_event_line(refused))
    assert "KEY CHANGED" in peer_line("bob", shown)

    # The user accepts the new key: the call takes the new trust at once and calls it.
    assert await alice.session.ref.ask(AcceptKey("bob")) is Trust.PINNED
    state = await call.ask(GetCallState())
    assert state.peers["bob"].trust is Trust.PINNED and state.peers["bob"].link != NOT_CALLED
    assert state.peers["bob"].fingerprint == impostor.identity.fingerprint


# -- what the app makes of the events (pure) ----------------------------------------------------

def test_the_app_marks_a_newcomer_and_a_changed_key_in_the_call_loudly():
    from gossip.ui import viewmodel as vm
    from gossip.ui.callview import CallPhase

    from .test_ui_model import FP, NOW, in_call, online_model

    model = online_model(trust={"you": Trust.NEW, "alice": Trust.VERIFIED,
                                "carol": Trust.PINNED})
    model.apply(nt.CallChanged(in_call(phase=CallPhase.JOINING)), NOW)
    model.apply(ev.CallMembersChanged("general", ("alice", "ghost", "mallory", "you")), NOW)
    model.apply(ev.CallPeerUnknown("general", "ghost", FP["dave"]), NOW)
    model.apply(ev.CallPeerKeyChanged("general", "mallory", FP["bob"]), NOW)
    model.apply(ev.CallPeerConnected("general", "ghost", 90.0, Trust.NEW, FP["dave"]), NOW)
    model.apply(ev.CallPeerConnected("general", "alice", 90.0, Trust.VERIFIED, FP["alice"]),
                NOW)
    rows = {row.user: row for row in vm.call_panel(model).peers}
    assert (rows["ghost"].identity_kind, rows["ghost"].link) == ("new", "connected")
    assert (rows["alice"].identity_kind, rows["alice"].link) == ("verified", "connected")
    assert (rows["mallory"].identity_kind, rows["mallory"].link_kind) == ("changed", "failed")
    titles = [toast.title for toast in model.toasts.visible()]
    assert "Unverified newcomer in the call: ghost" in titles
    assert "Not calling mallory: key changed" in titles
    plates = {tile.user: tile.label for tile in vm.video_tiles(model)}
    assert plates["ghost"] == "ghost · unverified" and plates["alice"] == "alice"
    assert plates["mallory"] == "mallory · key changed"
