"""Video in a large call through the relay (`python -m gossip.relay`, its own process): each
receiver asks for the last N speakers' video (N=2 here) and gets exactly theirs; the others
are tiles with initials (no picture); when others speak the video follows, from a keyframe the
relay asked for; what the relay forwarded does not decode as VP8 without the key."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from gossip.client.lastspeakers import LastSpeakers
from gossip.client.relaylink import RelayLink
from gossip.media.framecrypt import CallFrames
from gossip.media.loop import open_media_loop
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout
from gossip.media.video import PatternSource, VideoFanout, decode_counter
from gossip.media.videoframes import LatestFrame
from gossip.media.vp8rtp import FrameAssembler, starts_keyframe
from gossip.relay.room import KEYFRAME_REQUEST_MS, RelayParticipant, Room
from gossip.wire.relay import MAX_WANTED, RelayProtocolError, Want, decode, encode, make_ticket

from .test_media_framecrypt import counters_in_video
from .test_media_links import BOUND, LOOPBACK
from .test_relay import relay_process

NAMES = ("ann", "ben", "cat", "dan", "eve")
N = 2


def test_last_speakers_keeps_the_last_n_who_spoke_and_fills_with_the_rest() -> None:
    policy = LastSpeakers(2)
    present = ["ben", "cat", "dan", "eve"]
    assert policy.update([], present) == ("ben", "cat")  # nobody spoke yet: who came first
    assert policy.update(["dan"], present) == ("dan", "ben")
    assert policy.update([], present) == ("dan", "ben")  # silence keeps the last speakers
    assert policy.update(["eve"], present) == ("eve", "dan")
    assert policy.update(["eve", "cat"], present) == ("eve", "cat")  # eve stays first
    assert policy.update([], ["ben", "cat", "dan"]) == ("cat", "dan")  # eve left
    assert policy.update(["zed"], ["ben", "cat", "dan"]) == ("cat", "dan")  # not in the call


def test_a_want_is_bounded_and_checked_once() -> None:
    assert decode(encode(Want(("ann", "ben")))) == Want(("ann", "ben"))
    assert decode(encode(Want(()))) == Want(())
    for bad in (Want(("x",) * (MAX_WANTED + 1)), Want(("a" * 65,)), Want(("ann", ""))):
        with pytest.raises(RelayProtocolError):
            decode(encode(bad))


def _vp8_payload(start: bool, keyframe: bool, body: bytes = b"xyz") -> bytes:
    # The payload descriptor (RFC 7741: S bit, partition 0), then (a frame's first packet)
    # the frame tag's first byte.
    if not start:
        return b"\x00" + body
    return bytes([0x10, 0x00 if keyframe else 0x01]) + body


def test_vp8_frames_are_rebuilt_whole_and_a_gap_waits_for_a_keyframe() -> None:
    assert starts_keyframe(_vp8_payload(True, True))
    assert not starts_keyframe(_vp8_payload(True, False))
    assert not starts_keyframe(b"\x00\x00abc")  # a continuation
    assert not starts_keyframe(b"")
    frames = FrameAssembler()
    assert frames.add(1, 90, True, _vp8_payload(True, False)) is None  # no keyframe yet
    assert frames.add(2, 180, False, _vp8_payload(True, True, b"a")) is None
    assert frames.add(3, 180, True, _vp8_payload(False, True, b"b")) == b"\x00ab"
    assert frames.add(4, 270, True, _vp8_payload(True, False, b"c")) == b"\x01c"
    # Packet 5 is lost: the frame it began is gone, and so is every frame until a keyframe.
    assert frames.add(6, 360, True, _vp8_payload(False, False)) is None
    assert frames.wants_keyframe
    assert frames.add(7, 450, True, _vp8_payload(True, False)) is None
    assert frames.add(8, 540, True, _vp8_payload(True, True, b"k")) == b"\x00k"
    assert not frames.wants_keyframe
    assert frames.add(3, 180, True, _vp8_payload(True, True)) is None  # late: dropped


def test_a_want_only_fills_the_listeners_own_slots_with_those_present() -> None:
    room = Room("general", 5)
    notices: dict[str, list[tuple[str, str]]] = {name: [] for name in NAMES[:3]}
    participants = {}
    for name in NAMES[:3]:
        participant = _Fake(name, notices[name])
        participants[name] = participant
        room.participants[name] = participant  # type: ignore[assignment]
    ann = participants["ann"]
    room.want(ann, ["ann", "zed", "ben", "cat", "dan"])  # itself and strangers are skipped
    assert ann.video_assigned == {"ben": "v0", "cat": "v1"}
    assert participants["ben"].keyframe_wanted and participants["cat"].keyframe_wanted
    assert [stream.sender for stream in room.video_routes["ben"]] == ["ben"]
    room.want(ann, ["cat"])  # cat keeps its slot; ben's is let go
    assert ann.video_assigned == {"cat": "v1"}
    assert notices["ann"][-1] == ("v0", "")
    assert room.video_routes["ben"] == []
    # Those who send no video are passed over: the slot goes to the next one asked for.
    participants["cat"].video_ssrc = None  # type: ignore[assignment]
    room.want(ann, ["cat", "ben"])
    assert set(ann.video_assigned) == {"ben"}


class _Fake:
    """A participant as the room sees one, without a connection (its slots' streams)."""

    def __init__(self, user: str, notices: list[tuple[str, str]]) -> None:
        from gossip.relay.slots import SlotStream

        self.user = user
        self.assigned: dict[str, str] = {}
        self.streams: dict[str, SlotStream] = {}
        self.video_ssrc = 1
        self.video_streams = {f"v{i}": SlotStream(10 + i, 96, None) for i in range(N)}  # type: ignore[arg-type]
        self.video_assigned: dict[str, str] = {}
        self.wanted: tuple[str, ...] = ()
        self.keyframe_wanted = False
        self.keyframe_asked_ms = -KEYFRAME_REQUEST_MS
        self.rtcp: list[bytes] = []
        self.notify = lambda slot: notices.append((slot.mid, slot.user))

    async def send_rtcp(self, data: bytes) -> None:
        self.rtcp.append(data)

    ask_keyframe = RelayParticipant.ask_keyframe


async def test_each_receiver_sees_the_last_two_speakers_and_initials_for_the_rest(
    tmp_path: Path,
) -> None:
    """Five participants with video through the relay process, N=2: each gets the video of
    the two last (scripted) speakers and no one else's; when two others speak the video
    follows (each slot starts at a keyframe, so the picture decodes at once); what the relay
    forwarded does not decode as VP8 without the key."""
    async with relay_process(tmp_path) as relay, open_media_loop(), trio.open_nursery() as nursery:
        frames = {name: CallFrames(SourceFanout(ToneSource(300.0 + 100 * i)))
                  for i, name in enumerate(NAMES)}
        for name, own in frames.items():
            for other, theirs in frames.items():
                if other != name:
                    peer, sealer = theirs.peer(name), own.sealer
                    assert peer is not None and sealer is not None
                    peer.add_key(sealer.key)
        pictures = {name: {other: LatestFrame() for other in NAMES if other != name}
                    for name in NAMES}
        links = {
            name: RelayLink(
                frames[name].audio_track(),
                fingerprint=relay["fingerprint"],
                slots=len(NAMES) - 1,
                frames_for=frames[name].peer,
                ice_hosts=LOOPBACK,
                video_track=frames[name].video_track(
                    VideoFanout(PatternSource(160, 90, 10)).track()),
                video_slots=N,
                picture_for=pictures[name].get,
            )
            for name in NAMES
        }
        policies = {name: LastSpeakers(N) for name in NAMES}

        async def take_part(name: str, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
            link = links[name]
            ticket = make_ticket(relay["secret"], "general", name, time.time())
            async with link.joined(relay["url"], "general", name, ticket):
                task_status.started()
                async for _ in link.events:
                    pass  # audio is not what this test is about

        for name in NAMES:
            await nursery.start(take_part, name)

        async def speak(speakers: list[str]) -> None:
            for name in NAMES:
                others = [other for other in NAMES if other != name]
                await links[name].want(policies[name].update(speakers, others))

        async def shown(name: str, users: set[str]) -> None:
            """Until `name` shows a readable picture of each of `users`, and of nobody else."""
            link = links[name]
            while True:
                showing = {user for user, picture in pictures[name].items()
                           if (latest := picture.latest()) is not None
                           and decode_counter(latest.image) is not None}
                if showing == users and set(link.watching()) == users:
                    return
                await link.video_changed.wait()

        # ann and ben speak: cat, dan and eve see them; ann sees ben (and a filler).
        await speak(["ann", "ben"])
        with trio.fail_after(BOUND * 2):
            for name in ("cat", "dan", "eve"):
                await shown(name, {"ann", "ben"})
        for name in ("cat", "dan", "eve"):
            for other in set(NAMES) - {name, "ann", "ben"}:
                assert pictures[name][other].latest() is None  # a tile with initials

        # What the relay forwarded to cat is sealed: no pattern decodes out of it.
        tapped = [slot for slot in links["cat"].video_openings if slot.frames is not None]
        for slot in tapped:
            slot.tap = []
        with trio.fail_after(BOUND):
            while min(len(slot.tap or ()) for slot in tapped) < 10:
                await links["cat"].video_changed.wait()
        for slot in tapped:
            assert slot.tap and counters_in_video(slot.tap) == 0
            slot.tap = None

        # dan and eve speak: ann, ben and cat now see them, from a keyframe each.
        await speak(["dan", "eve"])
        with trio.fail_after(BOUND * 2):
            for name in ("ann", "ben", "cat"):
                await shown(name, {"dan", "eve"})
        for name in ("ann", "ben", "cat"):
            assert pictures[name]["ben" if name != "ben" else "ann"].latest() is None
        nursery.cancel_scope.cancel()


async def test_a_listener_with_too_much_queued_unsent_loses_its_copies_alone() -> None:
    """aioice ignores asyncio's pause_writing: the relay reads each listener's queue itself
    and drops that listener's copies past the bound, and nobody else's; a video slot that
    changed hands starts at the sender's keyframe, and asks for one meanwhile."""
    from gossip.relay.room import MAX_BACKLOG_BYTES
    from gossip.relay.slots import SlotStream

    from .test_relay import _rtp

    room = Room("general", 5)
    sent: dict[str, list[bytes]] = {"ben": [], "cat": []}
    queued = {"ben": 0, "cat": MAX_BACKLOG_BYTES + 1}
    ann = _Fake("ann", [])
    ann.ssrc, ann.payload_type, ann.video_payload_type = 7, 111, 96  # type: ignore[attr-defined]
    room.participants["ann"] = ann  # type: ignore[assignment]
    for name in ("ben", "cat"):
        async def send(data: bytes, name: str = name) -> None:
            sent[name].append(data)

        stream = SlotStream(20, 111, send, backlog=lambda name=name: queued[name])
        stream.assign("ann")
        video = SlotStream(21, 96, send, backlog=lambda name=name: queued[name])
        video.assign("ann")
        room.routes.setdefault("ann", []).append(stream)
        room.video_routes.setdefault("ann", []).append(video)
    forward = room.receiver_for(ann)  # type: ignore[arg-type]
    await forward(_rtp(1, 960, b"voice", payload_type=111), arrival_time_ms=0)
    assert len(sent["ben"]) == 1 and sent["cat"] == []
    assert room.stats["ann"].dropped_backlog == 1
    await forward(_rtp(2, 3000, _vp8_payload(True, False), ssrc=1, payload_type=96),
                  arrival_time_ms=10)
    assert len(sent["ben"]) == 1 and ann.keyframe_wanted  # an interframe: not yet
    await forward(_rtp(3, 6000, _vp8_payload(True, True), ssrc=1, payload_type=96),
                  arrival_time_ms=20)
    assert len(sent["ben"]) == 2 and sent["cat"] == []
    # One PLI for ann's video, however many packets wanted one within KEYFRAME_REQUEST_MS.
    assert len(ann.rtcp) == 1 and ann.rtcp[0][1] == 206  # RTCP payload-specific feedback
    assert int.from_bytes(ann.rtcp[0][8:12], "big") == 1  # on ann's video SSRC
    ann.keyframe_wanted = True
    await forward(_rtp(4, 9000, _vp8_payload(True, False), ssrc=1, payload_type=96),
                  arrival_time_ms=20 + KEYFRAME_REQUEST_MS - 1)
    assert len(ann.rtcp) == 1


async def test_a_participant_flooding_the_relay_with_wants_is_let_go() -> None:
    from trio_websocket import ConnectionClosed

    from gossip.relay.server import MESSAGES_PER_SECOND, RelayConfig, run_relay

    secret = bytes(32)
    async with open_media_loop(), trio.open_nursery() as nursery:
        port, fingerprint = await nursery.start(run_relay, RelayConfig(secret=secret))
        frames = CallFrames(SourceFanout(ToneSource(440.0)))
        link = RelayLink(frames.audio_track(), fingerprint=fingerprint, slots=1,
                         frames_for=frames.peer, ice_hosts=LOOPBACK, video_slots=1)
        ticket = make_ticket(secret, "general", "eve", time.time())
        with pytest.raises(BaseException) as raised:  # noqa: PT011 - a group, checked below
            with trio.fail_after(BOUND):
                async with link.joined(f"ws://127.0.0.1:{port}", "general", "eve", ticket):
                    for _ in range(MESSAGES_PER_SECOND * 3):
                        await link.want(["ann"])
                    await trio.sleep_forever()  # until the relay closes the connection
        assert raised.group_contains(ConnectionClosed) if isinstance(
            raised.value, BaseExceptionGroup) else isinstance(raised.value, ConnectionClosed)
        nursery.cancel_scope.cancel()
