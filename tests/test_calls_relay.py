"""Calls through the hub's relay: a call past the hub's threshold moves from the mesh to the
relay (`python -m gossip.relay`, its own process), falls back to the mesh when the relay dies,
and everyone hears everyone else, sealed end to end, throughout. Real hub, sessions, aiortc."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path

import pytest
import trio

from gossip.client import events as ev
from gossip.client.calltypes import CallOptions, LeaveCall, SetMuted
from gossip.client.commands import JoinCall
from gossip.hub.config import ConfigError, HubConfig, Limits
from gossip.media.sources import ToneSource
from gossip.media.video import PatternSource, decode_counter
from gossip.media.videoframes import LatestFrame
from gossip.wire import CallMembers
from gossip.wire.frames import decode_frame

from .conftest import PASSWORD
from .test_calls import (  # noqa: F401 - media_loop is a fixture
    BOUND,
    LOOPBACK,
    WatchedSink,
    connected,
    join,
    media_loop,
    peer_says,
    settles_on,
)
from .test_calls_video import Member as VideoMember
from .test_relay import relay_process

TONES = {"ann": 300.0, "ben": 500.0, "cat": 700.0, "dan": 900.0}


@pytest.fixture
async def relay(tmp_path: Path):
    async with relay_process(tmp_path) as info:
        yield info


@pytest.fixture
async def hub_config(tmp_path: Path, relay) -> HubConfig:
    return HubConfig(
        name="test hub",
        host="127.0.0.1",
        port=0,
        password=PASSWORD,
        channels=("general",),
        data_dir=tmp_path / "hub",
        limits=Limits(relay_threshold=3),
        relay_url=relay["url"],
        relay_fingerprint=relay["fingerprint"],
        relay_secret=relay["secret"],
    )


async def test_a_call_past_the_threshold_goes_through_the_relay_and_back_to_the_mesh(
    media_loop,  # noqa: F811 - the fixture
    connect,
    relay,
):
    candidates = tuple(TONES.values())
    clients = {name: await connect(name) for name in TONES}
    members = {name: await join(clients[name], TONES[name]) for name in ("ann", "ben", "cat")}
    for name, member in members.items():
        await connected(member, *(other for other in members if other != name))
    assert not (await members["ann"].state()).relayed  # three: a mesh

    members["dan"] = await join(clients["dan"], TONES["dan"])  # four: past the threshold
    for name, member in members.items():
        await settles_on(
            member, candidates, {hz for o, hz in TONES.items() if o != name}, windows=60
        )
        state = await member.state()
        assert state.relayed, name
        for peer in state.peers.values():
            assert peer.link == "relayed" and peer.frame_keys == "keyed", (name, peer)
    # A word on what one sends reaches those who hear them through the relay (dan met the
    # others there: his link never came up), sealed as on the mesh.
    await members["dan"].call.ask(SetMuted(True))
    await peer_says(members["ann"], "dan", muted=True)
    await members["dan"].call.ask(SetMuted(False))

    # The relay dies: a call this small falls back to the mesh, and says so.
    os.kill(relay["pid"], signal.SIGKILL)
    for member in members.values():
        failed = await member.client.next_event(ev.CallRelayFailed)
        assert failed.channel == "general"
    for name, member in members.items():
        await settles_on(
            member, candidates, {hz for o, hz in TONES.items() if o != name}, windows=60
        )
        assert not (await member.state()).relayed

    await members["dan"].call.tell(LeaveCall())  # three again: still the mesh
    for name in ("ann", "ben", "cat"):
        assert (await members[name].client.next_event(ev.CallPeerLeft)).user == "dan"
    for name in ("ann", "ben", "cat"):
        member = members[name]
        await settles_on(
            member, candidates, {TONES[o] for o in ("ann", "ben", "cat") if o != name}, windows=60
        )
        state = await member.state()
        assert not state.relayed and all(
            peer.link == "connected" for user, peer in state.peers.items() if user != "dan"
        )


async def _moved(member, peers: set[str], switches: int) -> dict:
    """Each of `peers` as `member` holds them, once each moved path `switches` times (waited
    on the member's playout, a frame at a time)."""
    with trio.fail_after(BOUND):
        while True:
            state = await member.state()
            if all(state.peers[p].path_switches >= switches for p in peers):
                return {p: state.peers[p] for p in peers}
            await member.sink.fresh(1)


async def test_a_call_moves_between_mesh_and_relay_playing_each_peer_until_the_new_path_does(
    media_loop,  # noqa: F811 - the fixture
    connect,
    relay,
):
    """Make before break: the path a peer is played through is closed only once a frame of
    theirs opened on the new one, in both directions, so a switch is not heard as silence."""
    clients = {name: await connect(name) for name in TONES}
    first = ("ann", "ben", "cat")
    members = {name: await join(clients[name], TONES[name]) for name in first}
    for name, member in members.items():
        await connected(member, *(other for other in first if other != name))

    dan = await join(clients["dan"], TONES["dan"])  # past the threshold: to the relay
    for name, member in members.items():
        others = set(first) - {name}
        for user, peer in (await _moved(member, others, 1)).items():
            # The mesh link still played them when their first relayed frame opened.
            assert peer.path_breaks == 0 and peer.link == "relayed", (name, user, peer)
        assert (await member.state()).relayed

    await dan.call.tell(LeaveCall())  # back to three: the mesh
    for name, member in members.items():
        others = set(first) - {name}
        for user, peer in (await _moved(member, others, 2)).items():
            # The relay still played them when their new link's first frame opened.
            assert peer.path_breaks == 0, (name, user, peer)
        assert not (await member.state()).relayed
        await settles_on(
            member, tuple(TONES.values()), {TONES[o] for o in first if o != name}, windows=60
        )


def test_the_hub_names_its_relay_only_with_a_fingerprint_and_gmp_carries_both() -> None:
    with pytest.raises(ConfigError, match="relay_fingerprint"):
        HubConfig(password=PASSWORD, relay_url="ws://127.0.0.1:1721").checked()
    with pytest.raises(ConfigError, match="relay_secret_file"):
        HubConfig(password=PASSWORD, relay_url="ws://x", relay_fingerprint="sha-256 AA").checked()
    with pytest.raises(ConfigError, match="ws://"):
        HubConfig(
            password=PASSWORD,
            relay_url="http://x",
            relay_fingerprint="sha-256 AA",
            relay_secret=bytes(32),
        ).checked()
    frame = CallMembers(
        channel="general",
        users=("ann", "ben"),
        relay_url="ws://127.0.0.1:1721",
        relay_fingerprint="sha-256 AA:BB",
        relay_ticket="1700000000.ab",
    )
    assert decode_frame(frame.encode()) == frame
    assert decode_frame(CallMembers(channel="general", users=("ann",)).encode()).relay_url is None


async def test_a_relayed_call_shows_the_video_of_the_last_speakers_and_initials_for_the_rest(
    media_loop,  # noqa: F811 - the fixture
    connect,
    relay,
):
    """Four members with video past the threshold: through the relay each shows the video of
    one other (relay_video_slots=1, the last it heard speak) and no picture, its initials,
    for the other two."""
    clients = {name: await connect(name) for name in TONES}
    members = {}
    for name, hz in TONES.items():
        options = CallOptions(source=ToneSource(hz), sink=WatchedSink(), ice_hosts=LOOPBACK,
                              video=PatternSource(160, 90, fps=10), relay_video_slots=1)
        ref = await clients[name].session.ref.ask(JoinCall("general", options))
        members[name] = VideoMember(name, hz, clients[name], ref, options.sink)
    for name, member in members.items():
        pictures = (await member.frames()).peers
        with trio.fail_after(BOUND):
            while len(pictures) < len(TONES) - 1 or not (await member.state()).relayed:
                await member.sink.fresh(1)
                pictures = (await member.frames()).peers
        await member.until(f"{name} shows one other's video",
                           lambda pictures=pictures: _one_picture(pictures))


def _one_picture(pictures: Mapping[str, LatestFrame]) -> bool:
    """One peer's readable picture, and none of every other peer (their initials)."""
    shown = {user for user, picture in pictures.items()
             if (latest := picture.latest()) is not None
             and decode_counter(latest.image) is not None}
    empty = {user for user, picture in pictures.items() if picture.latest() is None}
    return len(shown) == 1 and len(empty) == len(pictures) - 1
