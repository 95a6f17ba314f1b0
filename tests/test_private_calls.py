"""Calls in private channels: the hub admits to the call only the members its stored roster
names, and each client calls only the members the roster it verified names, whatever call
roster the hub sends. Real hub, real sessions, real aiortc links on 127.0.0.1 only; the lying
hub (tests/lyinghub.py) puts a ghost into a private call."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio
from trio_websocket import WebSocketConnection

from gossip.client import events as ev
from gossip.client.calltypes import NOT_CALLED, CallState, GetCallState, LeaveCall
from gossip.client.commands import JoinCall
from gossip.client.errors import CommandRefused
from gossip.crypto import rosterlog as rl
from gossip.hub import RunningHub
from gossip.wire import (
    CallMembers,
    CreatePrivate,
    Error,
    ErrorCode,
    Offer,
    RosterAppend,
    RosterLog,
    Signal,
    StartCall,
)

from .conftest import Tap
from .lyinghub import Direction, Ghost, GhostCall, LyingHub
from .rawmember import identity_of, log_in, next_of
from .test_call_trust import call_events_until, call_options, connected_to, media_loop
from .test_private_channels import COUNCIL, Connect, council_of, join, lying

__all__ = ["join", "lying", "media_loop"]  # fixtures, which pytest finds by name


async def test_two_members_call_in_a_private_channel_and_outsiders_hear_of_nothing(
        media_loop, join: Connect, hub_tap: Tap):
    alice, bob, carol = await join("alice"), await join("bob"), await join("carol")
    await council_of(alice, bob)
    with pytest.raises(CommandRefused, match="not in its roster|no channel"):
        await carol.session.ref.ask(JoinCall(COUNCIL, call_options(900.0)))

    call = await alice.session.ref.ask(JoinCall(COUNCIL, call_options(300.0)))
    # Bob, a member, sees the call before he joins; carol, outside the roster, does not.
    started = await bob.next_event(ev.CallStarted, lambda e: e.channel == COUNCIL)
    assert started.users == ("alice",)
    bobs = await bob.session.ref.ask(JoinCall(COUNCIL, call_options(600.0)))
    seen = await call_events_until(alice, lambda events: connected_to(events, "bob"),
                                   (ev.CallPeerConnected, ev.CallPeerNotMember))
    assert not [e for e in seen if isinstance(e, ev.CallPeerNotMember)]
    await call_events_until(bob, lambda events: connected_to(events, "alice"),
                            (ev.CallPeerConnected,))
    state: CallState = await call.ask(GetCallState())
    peer = state.peers["bob"]
    assert (peer.link, peer.link_authenticated, peer.roster_member) == ("connected", True,
                                                                          True)
    # The hub told nobody outside the roster of the council's call.
    assert not [data for direction, who, data in hub_tap.frames
                if direction == "out" and who == "carol" and COUNCIL.encode() in data]
    await call.tell(LeaveCall())
    await alice.next_event(ev.CallLeft)
    await bobs.tell(LeaveCall())


async def test_a_ghost_the_hub_puts_in_a_private_call_is_shown_and_never_called(
        media_loop, join: Connect, lying: LyingHub, nursery: trio.Nursery, tmp_path: Path):
    alice = await join("alice", port=lying.port)
    bob = await join("bob", port=lying.port)
    await council_of(alice, bob)
    ghost = Ghost("ghost", tmp_path / "ghost")
    ghost_call = GhostCall(lying, ghost, alice.profile.identity.public, COUNCIL,
                           call_options(900.0))
    lying.hooks[Direction.UP] = ghost_call.hook_up
    lying.hooks[Direction.DOWN] = ghost_call.hook_down
    await nursery.start(ghost_call.run)
    lying.of("alice").inject(ghost.key_frame())  # the ghost is on the hub, not in the council
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "ghost")

    call = await alice.session.ref.ask(JoinCall(COUNCIL, call_options(300.0)))
    await bob.session.ref.ask(JoinCall(COUNCIL, call_options(600.0)))
    seen = await call_events_until(
        alice, lambda events: connected_to(events, "bob") and any(
            isinstance(e, ev.CallPeerNotMember) for e in events),
        (ev.CallPeerConnected, ev.CallPeerNotMember, ev.CallPeerUnknown))
    stranger = next(e for e in seen if isinstance(e, ev.CallPeerNotMember))
    assert (stranger.channel, stranger.user, stranger.fingerprint) == (
        COUNCIL, "ghost", ghost.identity.fingerprint)
    assert "ghost" not in {e.user for e in seen if isinstance(e, ev.CallPeerConnected)}

    state: CallState = await call.ask(GetCallState())
    shown = state.peers["ghost"]
    assert (shown.link, shown.roster_member, shown.link_authenticated) == (NOT_CALLED, False,
                                                                           False)
    assert state.peers["bob"].link == "connected"
    # Nothing of the call was sealed to the ghost, whichever side should have offered: no
    # signal went its way, and none alice sent up opens with its key.
    assert ghost_call.diverted == []
    sent = lying.of("alice").sent_up(Signal)
    assert ghost.read_signals(sent, alice.profile.identity.public, channel=COUNCIL,
                              now=time.time()) == []
    assert [f for f in sent if isinstance(f, Signal) and f.peer == "ghost"] == []

    from gossip.cli.call import call_event_line
    assert "not calling ghost" in str(call_event_line(stranger))
    await call.tell(LeaveCall())
    await alice.next_event(ev.CallLeft)


async def test_the_hub_admits_only_roster_members_to_a_private_call_and_drops_one_removed(
        nursery: trio.Nursery, hub: RunningHub):
    alice_ws = await log_in(nursery, hub, "alice")
    bob_ws = await log_in(nursery, hub, "bob")
    mallory_ws = await log_in(nursery, hub, "mallory")
    alice, bob = identity_of("alice"), identity_of("bob")
    now = int(time.time() * 1000)
    roster = rl.create(COUNCIL, alice, now)
    await alice_ws.send_message(CreatePrivate(channel=COUNCIL, entry=roster.encoded()[0],
                                              ref=b"c").encode())
    await next_of(alice_ws, RosterLog)
    added = rl.add_member(roster, bob.public, alice, now + 1)
    await alice_ws.send_message(RosterAppend(channel=COUNCIL, entry=added.encoded()[1]).encode())
    await next_of(alice_ws, RosterAppend)
    await next_of(bob_ws, RosterLog)

    async def refused(ws: WebSocketConnection, frame: object, code: str) -> None:
        await ws.send_message(frame.encode())  # type: ignore[attr-defined]
        assert (await next_of(ws, Error)).code == code

    await refused(mallory_ws, StartCall(channel=COUNCIL), ErrorCode.NOT_MEMBER)
    await refused(mallory_ws, Offer(channel=COUNCIL, peer="alice", blob=b"sealed"),
                  ErrorCode.NOT_MEMBER)
    await alice_ws.send_message(StartCall(channel=COUNCIL).encode())
    assert (await next_of(alice_ws, CallMembers)).users == ("alice",)
    await bob_ws.send_message(StartCall(channel=COUNCIL).encode())
    assert (await next_of(bob_ws, CallMembers)).users == ("alice", "bob")
    assert (await next_of(alice_ws, CallMembers)).users == ("alice", "bob")

    # Removed from the roster, bob is out of its call: alice is told at once.
    removed = rl.remove_member(added, "bob", alice, now + 2)
    await alice_ws.send_message(RosterAppend(channel=COUNCIL,
                                             entry=removed.encoded()[2]).encode())
    assert (await next_of(alice_ws, CallMembers)).users == ("alice",)
    await refused(bob_ws, Offer(channel=COUNCIL, peer="alice", blob=b"sealed"),
                  ErrorCode.NOT_MEMBER)
