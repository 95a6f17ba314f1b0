"""Calls on the hub: joining and leaving as fast as one can is refused by name and bounds the
roster updates the others get; a seat held with no signalling is given back."""

from __future__ import annotations

from dataclasses import replace

import pytest
import trio
import trio.testing
from trio_websocket import WebSocketConnection

from gossip.hub import HubConfig, Limits, RunningHub
from gossip.wire import CallMembers, CallRoster, Error, ErrorCode, Frame, HangUp, Ice, StartCall

from .rawmember import log_in, next_frame, next_of

SEAT_TIMEOUT = 30.0


@pytest.fixture
def hub_config(hub_config: HubConfig) -> HubConfig:
    return replace(hub_config, channels=("general",), limits=replace(
        Limits(), call_seat_timeout=SEAT_TIMEOUT, keepalive_interval=1_000,
        keepalive_timeout=1_000))


async def _join(ws: WebSocketConnection) -> CallMembers:
    await ws.send_message(StartCall(channel="general").encode())
    return await next_of(ws, CallMembers)


async def _next_but_rosters(ws: WebSocketConnection) -> Frame:
    """The next frame that is not a channel's call roster (every member gets those)."""
    while isinstance(frame := await next_frame(ws), CallRoster):
        pass
    return frame


async def test_call_churn_is_refused_and_bounds_the_roster_updates_others_get(
    nursery: trio.Nursery, hub: RunningHub, autojump_clock: trio.testing.MockClock,
) -> None:
    ann, churner = await log_in(nursery, hub, "ann"), await log_in(nursery, hub, "churner")
    await _join(ann)
    # Fifty joins and hang-ups in a second, each answered before the next.
    refusals: list[Error] = []
    for _ in range(50):
        await churner.send_message(StartCall(channel="general").encode())
        answer = await _next_but_rosters(churner)
        if isinstance(answer, Error):
            refusals.append(answer)
            continue
        assert isinstance(answer, CallMembers)
        await churner.send_message(HangUp(channel="general").encode())
        assert isinstance(await _next_but_rosters(churner), HangUp)
    assert refusals and all(refusal.code == ErrorCode.CALL_CHURN for refusal in refusals)
    assert all(refusal.retry_after is not None and refusal.retry_after > 0
               for refusal in refusals)
    joins = 50 - len(refusals)
    assert joins <= Limits().call_change_burst
    # Ann heard of each roster change that went through, and no more: in the call, and as a
    # member of the channel (the roster every member sees, her own join's first; those she
    # has not taken yet are coalesced, so at most one for each change, ending with her alone).
    updates = rosters = 0
    last: tuple[str, ...] = ()
    with trio.move_on_after(1):
        while True:
            frame = await next_frame(ann)
            updates += isinstance(frame, CallMembers)
            if isinstance(frame, CallRoster):
                rosters, last = rosters + 1, frame.users
    assert updates == 2 * joins and 1 <= rosters <= 2 * joins + 1 and last == ("ann",)


async def test_a_seat_with_no_signalling_is_given_back(
    nursery: trio.Nursery, hub: RunningHub, autojump_clock: trio.testing.MockClock,
) -> None:
    ann, squatter = await log_in(nursery, hub, "ann"), await log_in(nursery, hub, "squatter")
    await _join(ann)
    # Alone in a call, nobody needs to signal: the seat is kept however long.
    await trio.sleep(SEAT_TIMEOUT * 2)
    assert hub.registry.call_members("general") == ("ann",)
    await _join(squatter)
    await next_of(ann, CallMembers, matching=lambda f: f.users == ("ann", "squatter"))
    # Ann signals (an ICE candidate to the squatter), the squatter never does.
    await ann.send_message(Ice(channel="general", peer="squatter", blob=b"sealed").encode())
    relayed = await next_of(squatter, Ice)
    assert relayed.peer == "ann"
    told = await next_of(squatter, Error, within=SEAT_TIMEOUT + 5)
    assert told.code == ErrorCode.SEAT_TIMEOUT
    dropped = await next_of(squatter, HangUp)
    assert dropped.user == "squatter"
    roster = await next_of(ann, CallMembers)
    assert roster.users == ("ann",)
    # Ann proved her seat: she stays, alone again.
    await trio.sleep(SEAT_TIMEOUT * 2)
    assert hub.registry.call_members("general") == ("ann",)
