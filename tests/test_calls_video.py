"""Video in calls end to end: a real hub, real sessions, real aiortc links on loopback, each
member sending a tone and (mostly) a pattern whose drawn-in counter the others decode.

Every side runs in this one process, so pictures are small and slow (160x90 at 10 fps).
Nothing sleeps to synchronise: waits are on audio frames arriving at a member's sink (one
every 20 ms, so they double as proof that voice keeps flowing), each with a bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import pytest
import trio

from gossip.actors.actor import ActorRef
from gossip.client import events as ev
from gossip.client.calltypes import (
    CallOptions,
    CallState,
    GetCallState,
    GetVideoFrames,
    SetVideo,
    VideoFrames,
)
from gossip.client.commands import JoinCall
from gossip.client.errors import SignalRejected
from gossip.client.signalling import (
    MEDIA_CAMERA_ON,
    MEDIA_MUTED,
    SignalPayload,
    open_signal,
    seal_signal,
)
from gossip.crypto import Identity
from gossip.media.errors import FingerprintMismatch
from gossip.media.loop import open_media_loop
from gossip.media.peer import Failed, LinkUp, MediaLink
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout
from gossip.media.video import PatternSource, decode_counter
from gossip.media.videoframes import LatestFrame

from .test_calls import WatchedSink, peer_says, tones_heard

LOOPBACK = ("127.0.0.1",)
BOUND = 30  # seconds any one wait may take before the test fails instead of hanging
SIZE = (160, 90)
FPS = 10.0


@dataclass
class Member:
    name: str
    hz: float
    client: object
    call: ActorRef
    sink: WatchedSink

    async def state(self) -> CallState:
        return await self.call.ask(GetCallState())

    async def frames(self) -> VideoFrames:
        return await self.call.ask(GetVideoFrames())

    async def picture_of(self, peer: str) -> LatestFrame:
        return (await self.frames()).peers[peer]

    async def until(self, what: str, check: Callable[[], bool]) -> None:
        """Wait, an audio frame at a time, until `check()` holds."""
        with trio.fail_after(BOUND):
            while not check():
                await self.sink.fresh(1)
        assert check(), what


@pytest.fixture
async def media_loop():
    async with open_media_loop() as loop:
        yield loop


async def join(client, hz: float, *, video: bool = True,
               video_encode: Literal["once", "per-link"] = "once") -> Member:
    sink = WatchedSink()
    options = CallOptions(source=ToneSource(hz), sink=sink, ice_hosts=LOOPBACK,
                          video=PatternSource(*SIZE, fps=FPS) if video else "none",
                          video_encode=video_encode)
    ref = await client.session.ref.ask(JoinCall("general", options))
    return Member(client.user, hz, client, ref, sink)


async def connected(member: Member, *others: str) -> None:
    waiting = set(others)
    while waiting:
        event = await member.client.next_event(ev.CallPeerConnected)
        waiting.discard(event.user)


async def counters(member: Member, peer: str, count: int) -> list[int]:
    """The counters of the next `count` decodable pictures `member` gets from `peer`."""
    picture = await member.picture_of(peer)
    seen: list[int] = []
    sequence = 0

    def more() -> bool:
        nonlocal sequence
        latest = picture.newer_than(sequence)
        if latest is not None:
            sequence = latest.sequence
            code = decode_counter(latest.image)
            if code is not None:
                seen.append(code[0])
        return len(seen) >= count

    await member.until(f"{count} pictures from {peer}", more)
    return seen


def picture_cleared(picture: LatestFrame) -> Callable[[], bool]:
    return lambda: picture.latest() is None


def assert_advancing(seen: list[int]) -> None:
    # Pictures may be skipped, never reordered; under load a frame can be decoded twice
    # (its retransmission arrives after it was shown), so equal neighbours are allowed.
    assert all(b >= a for a, b in zip(seen, seen[1:], strict=False)), seen
    assert seen[-1] > seen[0], seen


@pytest.mark.parametrize("video_encode", ["once", "per-link"])  # per link: the baseline
async def test_two_way_call_each_side_decodes_the_others_advancing_pattern(
        media_loop, connect, video_encode):
    ann, ben = await connect("ann"), await connect("ben")
    a = await join(ann, 300.0, video_encode=video_encode)
    b = await join(ben, 600.0, video_encode=video_encode)
    await connected(a, "ben")
    await connected(b, "ann")
    assert_advancing(await counters(a, "ben", 4))
    assert_advancing(await counters(b, "ann", 4))
    frames = await a.frames()
    assert set(frames.peers) == {"ben"} and frames.self_view is not None
    assert frames.self_view.latest() is not None
    assert (await a.frames()).peers["ben"] is frames.peers["ben"]  # the same object
    state = (await a.state()).peers["ben"]
    assert state.video_frames_received >= 4 and state.video_counter is not None
    assert state.video_latency_ms is not None and state.video_fps > 0
    summary = state.as_json()
    assert summary["video_frames_received"] == state.video_frames_received
    assert summary["video_fps"] == round(state.video_fps, 1)
    assert tones_heard(await a.sink.fresh(), (300.0, 600.0)) == {600.0}


async def test_three_way_call_each_side_sees_both_others(media_loop, connect):
    tones = {"ann": 300.0, "ben": 600.0, "cat": 900.0}
    clients = {name: await connect(name) for name in tones}
    members = {name: await join(clients[name], hz) for name, hz in tones.items()}
    for name, member in members.items():
        await connected(member, *(other for other in tones if other != name))
    for name, member in members.items():
        for other in tones:
            if other != name:
                assert_advancing(await counters(member, other, 3))
        state = await member.state()
        assert all(peer.video_frames_received > 0 for peer in state.peers.values())
        # One encoder for both links: never more frames encoded than pictures read (a link
        # each would encode every picture twice).
        assert 0 < state.video_frames_encoded <= state.video_pictures, state


async def test_video_off_and_on_renegotiates_in_place_while_the_audio_keeps_coming(
        media_loop, connect):
    ann, ben = await connect("ann"), await connect("ben")
    members = {"ann": await join(ann, 300.0), "ben": await join(ben, 600.0)}
    await connected(members["ann"], "ben")
    await connected(members["ben"], "ann")
    # Both ways round, so both the first offerer and the answerer switch their camera.
    for sender, viewer in (("ann", "ben"), ("ben", "ann")):
        s, v = members[sender], members[viewer]
        before = await counters(v, sender, 2)
        picture = await v.picture_of(sender)
        heard = (await v.state()).peers[sender].frames_received

        assert (await v.state()).peers[sender].camera_on is True  # said at link-up
        await s.call.ask(SetVideo(False))
        await v.until(f"{sender}'s picture cleared", picture_cleared(picture))
        await peer_says(v, sender, camera_on=False)  # their tile: initials, not black
        assert (await s.frames()).self_view.latest() is None  # type: ignore[union-attr]
        assert tones_heard(await v.sink.fresh(), (300.0, 600.0)) == {s.hz}
        off = (await v.state()).peers[sender]
        assert off.frames_received > heard
        assert tones_heard(await v.sink.fresh(), (300.0, 600.0)) == {s.hz}
        assert picture.latest() is None  # nothing more is shown...
        assert (await v.state()).peers[sender].video_frames_received == \
            off.video_frames_received  # ...because nothing more arrives

        await s.call.ask(SetVideo(True))
        after = await counters(v, sender, 3)
        await peer_says(v, sender, camera_on=True)
        assert_advancing(after)
        assert after[0] > before[-1]
        assert tones_heard(await v.sink.fresh(), (300.0, 600.0)) == {s.hz}
        on = (await v.state()).peers[sender]
        assert on.frames_received > off.frames_received
    for name, member in members.items():
        for peer in (await member.state()).peers.values():
            # The same link throughout: renegotiated, never restarted.
            assert peer.link == "connected" and peer.link_attempts == 1, name
            assert peer.renegotiations >= 4, name


@pytest.mark.parametrize("without_video", ["offerer", "answerer"])
async def test_a_member_without_video_still_receives_the_others_video(
        media_loop, connect, without_video):
    ann, ben = await connect("ann"), await connect("ben")
    # The lower key fingerprint makes the first offer: pick who sends no video by role, so
    # both the offer without a video section (the answerer asks for a re-offer that adds
    # one) and the answer without a track are covered.
    ann_offers = ann.profile.identity.fingerprint < ben.profile.identity.fingerprint
    ann_without = ann_offers == (without_video == "offerer")
    a = await join(ann, 300.0, video=not ann_without)
    b = await join(ben, 600.0, video=ann_without)
    await connected(a, "ben")
    await connected(b, "ann")
    viewer, sender = (a, b) if ann_without else (b, a)
    assert_advancing(await counters(viewer, sender.name, 3))
    frames = await viewer.frames()
    assert frames.self_view is None
    assert (await sender.picture_of(viewer.name)).latest() is None
    assert (await sender.state()).peers[viewer.name].video_frames_received == 0
    assert tones_heard(await viewer.sink.fresh(), (300.0, 600.0)) == {sender.hz}


async def test_an_audio_only_call_negotiates_no_video_and_never_renegotiates(
        media_loop, connect):
    ann, ben = await connect("ann"), await connect("ben")
    a, b = await join(ann, 300.0, video=False), await join(ben, 600.0, video=False)
    await connected(a, "ben")
    await connected(b, "ann")
    await a.call.ask(SetVideo(True))  # no source: nothing to turn on
    assert tones_heard(await a.sink.fresh(), (300.0, 600.0)) == {600.0}
    for member, peer in ((a, "ben"), (b, "ann")):
        state = (await member.state()).peers[peer]
        assert state.renegotiations == 0 and state.video_frames_received == 0
        assert (await member.frames()).self_view is None


def test_a_re_offer_request_opens_only_from_an_ice_frame_and_generations_are_signed() -> None:
    ann, ben = Identity.generate("ann"), Identity.generate("ben")
    request = SignalPayload(kind="renegotiate", channel="general", sender="ann",
                            recipient="ben", link_id="ab12", sdp="", sent_at=100.0,
                            generation=3)
    blob = seal_signal(request, ann, ben.public)
    opened = open_signal(blob, ben, ann.public, kind="ice", channel="general", sender="ann",
                         now=100.0)
    assert opened == request
    with pytest.raises(SignalRejected) as rejected:
        open_signal(blob, ben, ann.public, kind="offer", channel="general", sender="ann",
                    now=100.0)
    assert rejected.value.reason == "misrouted"
    bad = SignalPayload(kind="offer", channel="general", sender="ann", recipient="ben",
                        link_id="ab12", sdp="v=0", sent_at=100.0, generation=-1)
    with pytest.raises(SignalRejected) as rejected:
        open_signal(seal_signal(bad, ann, ben.public), ben, ann.public, kind="offer",
                    channel="general", sender="ann", now=100.0)
    assert rejected.value.reason == "malformed"


def test_a_media_state_opens_from_an_ice_frame_with_known_bits_only() -> None:
    ann, ben = Identity.generate("ann"), Identity.generate("ben")
    said = SignalPayload(kind="media_state", channel="general", sender="ann", recipient="ben",
                         link_id="", sdp="", sent_at=100.0,
                         media_state=MEDIA_MUTED | MEDIA_CAMERA_ON)
    assert open_signal(seal_signal(said, ann, ben.public), ben, ann.public, kind="ice",
                       channel="general", sender="ann", now=100.0) == said
    for bad in (4, -1, True):
        blob = seal_signal(replace(said, media_state=bad), ann, ben.public)  # type: ignore[arg-type]
        with pytest.raises(SignalRejected) as rejected:
            open_signal(blob, ben, ann.public, kind="ice", channel="general", sender="ann",
                        now=100.0)
        assert rejected.value.reason == "malformed", bad


async def test_a_re_offer_with_another_dtls_fingerprint_is_refused_on_the_live_link(
        media_loop) -> None:
    offerer = MediaLink(SourceFanout(ToneSource(300)).track(), ice_hosts=LOOPBACK)
    answerer = MediaLink(SourceFanout(ToneSource(600)).track(), ice_hosts=LOOPBACK)
    stranger = MediaLink(SourceFanout(ToneSource(900)).track(), ice_hosts=LOOPBACK)
    try:
        await offerer.accept_answer(await answerer.accept_offer(await offerer.create_offer()))
        with trio.fail_after(BOUND):
            async for event in answerer.events:
                if isinstance(event, LinkUp | Failed):
                    assert isinstance(event, LinkUp), event
                    break
        reoffer = await offerer.create_reoffer(receive_video=True)
        assert answerer.fingerprints_unchanged(reoffer)
        theirs = offerer.local_fingerprint.split()[1]
        forged = reoffer.replace(theirs, stranger.local_fingerprint.split()[1])
        assert forged != reoffer and not answerer.fingerprints_unchanged(forged)
        with pytest.raises(FingerprintMismatch):
            await answerer.accept_reoffer(forged)
        # The genuine one still goes through, on the same connection.
        await offerer.accept_reanswer(await answerer.accept_reoffer(reoffer))
        assert offerer.has_video_section and not offerer.receives_video
    finally:
        for link in (offerer, answerer, stranger):
            await link.close()


class CostlyPattern(PatternSource):
    """A pattern whose every picture costs `cost` seconds of this thread, like a camera or
    encoder that cannot keep up: the sender falls behind its frame slots."""

    def __init__(self, cost: float) -> None:
        super().__init__(*SIZE, fps=30.0)
        self.cost = cost

    def read(self):
        import time

        busy_until = time.perf_counter() + self.cost
        while time.perf_counter() < busy_until:
            pass  # CPU work holding the GIL, as a VP8 encode through PyAV does
        return super().read()


async def test_video_that_cannot_keep_up_is_lowered_and_the_voice_goes_on(media_loop, connect):
    ann, ben = await connect("ann"), await connect("ben")
    costly = CostlyPattern(cost=0.04)  # 40 ms a picture against 33 ms slots
    sink = WatchedSink()
    options = CallOptions(source=ToneSource(300.0), sink=sink, ice_hosts=LOOPBACK,
                          video=costly)
    a = Member("ann", 300.0, ann, await ann.session.ref.ask(JoinCall("general", options)), sink)
    b = await join(ben, 600.0, video=False)
    await connected(a, "ben")
    await connected(b, "ann")
    top = f"{SIZE[0]}x{SIZE[1]}@30"
    assert (await a.state()).peers["ben"].video_sent == top
    lowered: list[str | None] = []

    def stepped_down() -> bool:
        return bool(lowered) and lowered[-1] != top

    with trio.fail_after(BOUND):
        while not stepped_down():
            await b.sink.fresh(10)  # ben keeps getting audio from ann meanwhile
            lowered.append((await a.state()).peers["ben"].video_sent)
    state = (await a.state()).peers["ben"]
    assert state.video_steps_down >= 1 and state.link_attempts == 1
    with trio.fail_after(BOUND):  # and her voice comes through clearly again
        while 300.0 not in tones_heard(await b.sink.fresh(), (300.0, 600.0)):
            pass
    assert_advancing(await counters(b, "ann", 2))
