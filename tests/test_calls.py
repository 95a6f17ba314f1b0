"""Group voice calls end to end: a real hub, real sessions, real aiortc links on loopback.

Every link offers only 127.0.0.1 as its ICE host, so no test traffic leaves loopback. Media
runs in real time (it cannot do otherwise), but every wait is on an event with a bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import trio

from gossip.actors.actor import ActorRef
from gossip.client import events as ev
from gossip.client.calltypes import (
    CallOptions,
    CallState,
    GetCallState,
    LeaveCall,
    SetDeafened,
    SetMuted,
)
from gossip.client.commands import JoinCall
from gossip.crypto.pins import Trust
from gossip.media.format import SAMPLE_RATE, Frame
from gossip.media.loop import open_media_loop
from gossip.media.sinks import MemorySink
from gossip.media.sources import ToneSource

LOOPBACK = ("127.0.0.1",)
BOUND = 30  # seconds any one wait may take before the test fails instead of hanging
WINDOW = 25  # frames (0.5 s) of output to analyse


class WatchedSink(MemorySink):
    """A MemorySink that wakes waiters on every frame the engine writes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self._progress = trio.Event()

    def write(self, frame: Frame) -> None:
        super().write(frame)
        self.written += 1
        self._progress.set()
        self._progress = trio.Event()

    async def fresh(self, frames: int = WINDOW) -> np.ndarray:
        """The next `frames` frames written from now on."""
        target = self.written + frames
        with trio.fail_after(BOUND):
            while self.written < target:
                await self._progress.wait()
        return self.samples(frames)


@dataclass
class Member:
    name: str
    hz: float
    client: object
    call: ActorRef
    sink: WatchedSink

    async def state(self) -> CallState:
        return await self.call.ask(GetCallState())


def magnitude_at(samples: np.ndarray, hz: float) -> float:
    windowed = samples.astype(np.float64) * np.hanning(len(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)
    magnitudes = np.abs(np.fft.rfft(windowed))
    return float(magnitudes[np.abs(freqs - hz) <= 6.0].max())


def tones_heard(samples: np.ndarray, candidates: tuple[float, ...]) -> set[float]:
    """Which candidate tones stand out: within 20 dB of the loudest candidate and far above
    a silent window's floor."""
    levels = {hz: magnitude_at(samples, hz) for hz in candidates}
    loudest = max(levels.values())
    if loudest < 1000.0:  # a silent window (int16 full-scale tones give ~1e6)
        return set()
    return {hz for hz, level in levels.items() if level > loudest / 10}


async def settles_on(member: Member, candidates: tuple[float, ...], expected: set[float],
                     windows: int = 20) -> None:
    """Analyse fresh windows of the member's output until it holds exactly `expected`
    (a change such as a mute takes a few frames to cross the network and the jitter buffer)."""
    heard: set[float] = set()
    for _ in range(windows):
        heard = tones_heard(await member.sink.fresh(), candidates)
        if heard == expected:
            return
    raise AssertionError(f"{member.name} still hears {sorted(heard)}, not {sorted(expected)}")


async def peer_says(member: Member, peer: str, **expected: object) -> None:
    """Read the member's call state after fresh windows of its output until `peer`'s entry
    holds `expected` (their sealed word crosses the hub while the audio crosses the link)."""
    for _ in range(20):
        state = (await member.state()).peers[peer]
        if all(getattr(state, name) == value for name, value in expected.items()):
            return
        await member.sink.fresh()
    raise AssertionError(f"{member.name} still has {peer} as {state}, not {expected}")


@pytest.fixture
async def media_loop():
    async with open_media_loop() as loop:
        yield loop


async def join(client, hz: float, *, muted: bool = False) -> Member:
    sink = WatchedSink()
    options = CallOptions(source=ToneSource(hz), sink=sink, ice_hosts=LOOPBACK, muted=muted)
    ref = await client.session.ref.ask(JoinCall("general", options))
    return Member(client.user, hz, client, ref, sink)


async def connected(member: Member, *others: str) -> None:
    waiting = set(others)
    while waiting:
        event = await member.client.next_event(ev.CallPeerConnected)
        waiting.discard(event.user)


async def test_a_three_way_call_each_hears_the_other_two_not_itself(media_loop, connect):
    tones = {"ann": 300.0, "ben": 600.0, "cat": 900.0}
    clients = {name: await connect(name) for name in tones}
    members = {name: await join(clients[name], hz) for name, hz in tones.items()}
    for name, member in members.items():
        await connected(member, *(other for other in tones if other != name))
    candidates = tuple(tones.values())
    for name, member in members.items():
        heard = tones_heard(await member.sink.fresh(), candidates)
        assert heard == {hz for other, hz in tones.items() if other != name}, name
        state = await member.state()
        assert state.state == "in_call" and set(state.members) == set(tones)
        for peer in state.peers.values():
            assert peer.link_authenticated and peer.frames_received > 0
            assert peer.setup_ms is not None
            # Each met the others for the first time on this hub: an authenticated link
            # says nothing about who holds the key, so none of them shows as verified.
            assert peer.trust is Trust.NEW and not peer.identity_verified
    # Each said, sealed, what it sends once its link was up: not muted.
    await peer_says(members["ben"], "ann", muted=False, camera_on=False)
    # Muting ann removes her tone from the others (and her word says so); unmuting brings
    # it back.
    await members["ann"].call.ask(SetMuted(True))
    await settles_on(members["ben"], candidates, {900.0})
    await settles_on(members["cat"], candidates, {600.0})
    await peer_says(members["ben"], "ann", muted=True)
    await peer_says(members["cat"], "ann", muted=True)
    await members["ann"].call.ask(SetMuted(False))
    await settles_on(members["ben"], candidates, {300.0, 900.0})
    await peer_says(members["ben"], "ann", muted=False)
    # Deafened, cat plays silence (and sends none either, and says it is muted).
    await members["cat"].call.ask(SetDeafened(True))
    assert not np.any(await members["cat"].sink.fresh())
    await settles_on(members["ann"], candidates, {600.0})
    await peer_says(members["ann"], "cat", muted=True)
    assert (await members["ann"].state()).peers["cat"].as_json()["muted"] is True
    # Ben leaves: the others drop him from their mesh.
    await members["ben"].call.tell(LeaveCall())
    left = await members["ann"].client.next_event(ev.CallPeerLeft)
    assert left.user == "ben"
    peers = (await members["ann"].state()).peers
    assert peers["ben"].link == "left" and peers["cat"].link == "connected"
    await members["ben"].client.next_event(ev.CallLeft)


async def test_a_member_who_vanishes_is_dropped_from_the_mesh(media_loop, connect):
    ann, ben = await connect("ann"), await connect("ben")
    a = await join(ann, 300.0)
    await join(ben, 600.0)
    await connected(a, "ben")
    ben.stop()  # ben's process dies: no hang-up, the connection just ends
    assert (await ann.next_event(ev.CallPeerLeft)).user == "ben"
    assert (await a.state()).members == ("ann",)


async def test_a_full_call_refuses_one_more_with_a_clear_reason(media_loop, connect, hub):
    hub.registry._max_call_members = 2
    ann, ben, cat = await connect("ann"), await connect("ben"), await connect("cat")
    await join(ann, 300.0)
    await join(ben, 600.0)
    await join(cat, 900.0)
    refused = await cat.next_event(ev.CallRefused)
    assert refused.code == "call_full" and "full" in refused.reason


async def test_an_offer_the_hub_altered_is_rejected(media_loop, connect, hub):
    ann, ben = await connect("ann"), await connect("ben")
    send_to = hub.registry.send_to

    def tamper(user, data, **routing):
        from gossip.wire import Offer, decode_frame

        frame = decode_frame(data)
        if isinstance(frame, Offer):
            data = Offer(channel=frame.channel, peer=frame.peer,
                         blob=frame.blob[:-1] + bytes([frame.blob[-1] ^ 1])).encode()
        return send_to(user, data, **routing)

    hub.registry.send_to = tamper
    await join(ann, 300.0)
    await join(ben, 600.0)
    # Whoever answers gets an offer that does not open: it is refused, never used.
    rejection = await _first_rejection(ann, ben)
    assert rejection.reason in {"bad_signature", "malformed"}


async def _first_rejection(*clients) -> ev.CallSignalRejected:
    found: list[ev.CallSignalRejected] = []
    async with trio.open_nursery() as nursery:
        async def watch(client) -> None:
            found.append(await client.next_event(ev.CallSignalRejected))
            nursery.cancel_scope.cancel()
        for client in clients:
            nursery.start_soon(watch, client)
    return found[0]
