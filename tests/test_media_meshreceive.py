"""A mesh link's audio received in place (gossip.media.meshreceive), on real aiortc links on
loopback: each side hears the other's tone, sealed, without aiortc's audio receiver, the
link's socket read in place at the audio engine's playout ticks once the link is up, while
video still goes through aiortc; a frame sealed with a wrong key is refused and counted;
what an outsider sends to the link's port (dropped and counted by SRTP, the call going on),
or the peer sends off its announced stream, reaches no decoder; receiver reports still reach
the sender, whose FEC follows them; and a late frame's tick is concealed at playout from the
receiver's own decoder.
"""

from __future__ import annotations

import re
import struct

import numpy as np
import trio
import trio.testing

from gossip.crypto.frames import FrameSealer
from gossip.media.engine import AudioEngine
from gossip.media.fecpolicy import FecPolicy
from gossip.media.format import FRAME_SAMPLES, FRAME_SECONDS
from gossip.media.framecrypt import CallFrames
from gossip.media.loop import open_media_loop
from gossip.media.lossreports import follow_loss
from gossip.media.meshreceive import (
    BURST_PACKETS,
    MAX_PACKET_BYTES,
    MeshAudioReceiver,
    announced_audio,
)
from gossip.media.peer import MediaLink
from gossip.media.sinks import MemorySink
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout
from gossip.media.video import PatternSource, VideoFanout, decode_counter

from .test_media_framecrypt import (
    answerer_connects,
    each_hears_the_other,
    next_picture,
    sealed_pair,
)
from .test_media_links import BOUND, LOOPBACK, wait_connected

OPUS = 96
PEER_SSRC = 0x1234


def rtp(sequence: int, payload: bytes, *, ssrc: int = PEER_SSRC, payload_type: int = OPUS,
        timestamp: int | None = None) -> bytes:
    stamp = sequence * FRAME_SAMPLES if timestamp is None else timestamp
    return struct.pack("!BBHII", 0x80, payload_type, sequence, stamp, ssrc) + payload


def receiver_for(frames: CallFrames | None = None) -> MeshAudioReceiver:
    receiver = MeshAudioReceiver(frames.peer("alice") if frames else None)
    receiver.expect(PEER_SSRC, [OPUS], [OPUS, 0, 8], rtcp_ssrc=0x99)
    receiver.accepting = True
    return receiver


async def test_mesh_audio_is_heard_in_place_sealed_and_video_still_reaches_aiortc() -> None:
    async with open_media_loop(), trio.open_nursery() as nursery:
        sides, frames = await sealed_pair(nursery)
        video = VideoFanout(PatternSource(160, 90, 15))
        offerer = MediaLink(
            frames["alice"].audio_track(), ice_hosts=LOOPBACK, receive_buffer="in-place",
            video_track=frames["alice"].video_track(video.track()),
            open_frames=frames["alice"].peer("bob"),
        )
        answerer = MediaLink(
            frames["bob"].audio_track(), ice_hosts=LOOPBACK, receive_buffer="in-place",
            open_frames=frames["bob"].peer("alice"),
        )
        offerer.read_at_ticks(sides["alice"].engine.tick_hooks)
        answerer.read_at_ticks(sides["bob"].engine.tick_hooks)
        try:
            await answerer_connects(offerer, answerer)
            assert offerer.remote_track is offerer.audio_in.track  # type: ignore[union-attr]
            assert answerer.audio_opening is answerer.audio_in
            await each_hears_the_other(sides, offerer, answerer)
            # Alice (no video to receive) reads at her playout ticks since the link came up:
            # no wake-up between them, and every packet she took came that way, out of SRTP
            # in place. Bob receives her video: his socket is aioice's again (given back),
            # his audio still taken out of SRTP by his MeshAudioReceiver.
            reading, engine = offerer.socket_reading, sides["alice"].engine
            assert reading is not None and reading.by_ticks
            assert answerer.socket_reading is not None
            assert answerer.socket_reading.given_back and not answerer.socket_reading.by_ticks
            sockets = len(reading.addresses)
            wakeups, rtp_read, ticks = reading.wakeups, reading.rtp, engine.frames_played
            await engine.wait_frames_played(ticks + 50)
            assert reading.wakeups - wakeups <= (engine.frames_played - ticks + 1) * sockets
            assert reading.rtp - rtp_read >= 25 and not reading.unprotect_failed
            # The playout can conceal a late frame: it knows the decoder of the stream.
            assert sides["bob"].engine.peer("alice").decoder is not None
            # Bob's audio came in place (aiortc's receiver saw none); alice's video did not.
            audio_in = answerer.audio_in
            assert audio_in is not None and audio_in.received > 50
            assert not audio_in.dropped
            with trio.fail_after(BOUND):
                picture = await next_picture(answerer)
            assert decode_counter(picture) is not None
            assert not frames["bob"].peer("alice").failing
            # Bob's receiver reports reach alice's sender (her FEC policy reads them there).
            with trio.fail_after(BOUND):
                while audio_in.reports_sent < 2:
                    await sides["bob"].engine.wait_frames_received(
                        "alice", sides["bob"].engine.peer("alice").frames_received + 10)
            assert reading.rtp >= offerer.audio_in.received > 0  # type: ignore[union-attr]
        finally:
            await offerer.close()
            await answerer.close()
            nursery.cancel_scope.cancel()
        assert answerer.audio_in.track.readyState == "ended"  # type: ignore[union-attr]
        # Closed: off the ticks, back to reading on readiness (aiortc's closing was read).
        assert not sides["alice"].engine.tick_hooks and not reading.by_ticks


async def test_a_frame_sealed_with_a_wrong_key_is_refused_counted_and_never_played() -> None:
    async with open_media_loop(), trio.open_nursery() as nursery:
        engine = AudioEngine(MemorySink())
        await nursery.start(engine.run)
        alice = CallFrames(SourceFanout(ToneSource(440.0)))
        bob = CallFrames(SourceFanout(ToneSource(1000.0)))
        seen_by_bob = bob.peer("alice")
        assert seen_by_bob is not None
        seen_by_bob.add_key(FrameSealer().key)  # not alice's: someone else's key
        offerer = MediaLink(alice.audio_track(), ice_hosts=LOOPBACK, receive_buffer="in-place",
                            open_frames=alice.peer("bob"))
        answerer = MediaLink(bob.audio_track(), ice_hosts=LOOPBACK, receive_buffer="in-place",
                             open_frames=seen_by_bob)
        try:
            await answerer_connects(offerer, answerer)
            assert answerer.remote_track is not None
            engine.add_peer("alice", answerer.remote_track)
            with trio.fail_after(BOUND):
                await seen_by_bob.changed.wait()  # failing: 50 in a row did not open
            assert seen_by_bob.failing and seen_by_bob.failed >= 50 and seen_by_bob.opened == 0
            assert sum(seen_by_bob.failed_by_reason.values()) == seen_by_bob.failed
            assert engine.peer("alice").frames_received == 0  # nothing reached the playout
            # Alice's real key arrives (her handout): heard from then on.
            seen_by_bob.add_key(alice.sealer.key)  # type: ignore[union-attr]
            with trio.fail_after(BOUND):
                await engine.wait_frames_received("alice", 25)
            assert not seen_by_bob.failing
        finally:
            await offerer.close()
            await answerer.close()
            nursery.cancel_scope.cancel()


async def test_what_an_outsider_sends_to_the_links_port_reaches_no_decoder() -> None:
    """Read at the playout ticks: the outsider's RTP-looking datagrams are read there, fail
    SRTP and are counted; the call goes on."""
    marker = b"OUTSIDER" * 8
    async with open_media_loop(), trio.open_nursery() as nursery:
        engine = AudioEngine(MemorySink())
        await nursery.start(engine.run)
        alice = CallFrames(SourceFanout(ToneSource(440.0)))
        bob = CallFrames(SourceFanout(ToneSource(1000.0)))
        bob.peer("alice").add_key(alice.sealer.key)  # type: ignore[union-attr]
        offerer = MediaLink(alice.audio_track(), ice_hosts=LOOPBACK, receive_buffer="in-place",
                            open_frames=alice.peer("bob"))
        answerer = MediaLink(bob.audio_track(), ice_hosts=LOOPBACK, receive_buffer="in-place",
                             open_frames=bob.peer("alice"))
        answerer.read_at_ticks(engine.tick_hooks)
        try:
            offer = await offerer.create_offer()
            answer = await answerer.accept_offer(offer)
            await offerer.accept_answer(answer)
            await wait_connected(offerer)
            await wait_connected(answerer)
            audio_in = answerer.audio_in
            assert audio_in is not None and answerer.remote_track is not None
            engine.add_peer("alice", answerer.remote_track)
            await engine.wait_frames_received("alice", 10)
            audio_in.tap = []
            # An outsider knows bob's port (his candidate) and alice's stream (her SDP), and
            # sends RTP as alice would, without the SRTP keys: SRTP refuses it first.
            ssrc, opus, _ = announced_audio(offer, None)
            assert ssrc is not None and opus
            port = int(re.findall(r"a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host",
                                  answer)[0])
            reading = answerer.socket_reading
            assert reading is not None
            outsider = trio.socket.socket(type=trio.socket.SOCK_DGRAM)
            with outsider:
                await outsider.bind(("127.0.0.1", 0))
                for sequence in range(200):
                    await outsider.sendto(rtp(sequence, marker, ssrc=ssrc, payload_type=opus[0]),
                                          ("127.0.0.1", port))
                    await outsider.sendto(marker * 30, ("127.0.0.1", port))
                    if sequence % 20 == 19:  # the kernel's buffer is not what is tested
                        with trio.fail_after(BOUND):
                            while reading.unprotect_failed <= sequence:
                                await engine.wait_frames_played(engine.frames_played + 1)
            assert reading.by_ticks and reading.unprotect_failed == 200
            received = engine.peer("alice").frames_received
            with trio.fail_after(BOUND):
                await engine.wait_frames_received("alice", received + 50)
            assert audio_in.tap and all(marker not in data for data in audio_in.tap)
            assert not bob.peer("alice").failed  # type: ignore[union-attr]
        finally:
            await offerer.close()
            await answerer.close()
            nursery.cancel_scope.cancel()


async def test_packets_off_the_announced_stream_or_past_the_bounds_are_dropped_and_counted():
    receiver = receiver_for()
    assert receiver.take(rtp(1, b"\xfc" + bytes(40)), 0) is not None
    assert receiver.take(rtp(2, b"\xfc", ssrc=0x5678), 0) is None  # another stream
    assert receiver.take(rtp(3, b"\xfc", payload_type=0), 0) is None  # PCMU: not decoded
    assert receiver.take(rtp(4, bytes(MAX_PACKET_BYTES)), 0) is None  # too large
    assert receiver.take(b"\x80\x60\x00", 0) is None  # shorter than a header
    assert receiver.take(b"\x90" + rtp(5, b"")[1:] + b"\x00\x01\xff\xff", 0) is None  # truncated
    assert receiver.dropped == {"ssrc": 1, "payload_type": 1, "size": 2, "malformed": 1}
    # Nothing before the link's certificate was checked.
    receiver.accepting = False
    assert receiver.take(rtp(6, b"\xfc"), 0) is None and receiver.dropped["not_up"] == 1


async def test_a_peer_flooding_its_stream_is_held_to_a_rate_before_anything_is_opened() -> None:
    receiver = receiver_for()
    taken = sum(receiver.take(rtp(n, b"\xfc"), 1000) is not None for n in range(1000))
    assert taken == BURST_PACKETS and receiver.dropped["rate"] == 1000 - BURST_PACKETS
    # A second later the steady rate is there again.
    again = sum(receiver.take(rtp(n, b"\xfc"), 2000) is not None for n in range(1000, 1200))
    assert 0 < again <= BURST_PACKETS


async def test_an_in_place_receiver_on_trial_only_checks_frames_and_plays_none() -> None:
    alice = CallFrames(SourceFanout(ToneSource(440.0)))
    bob = CallFrames(SourceFanout(ToneSource(1000.0)))
    receiver = receiver_for(bob)
    assert receiver.frames is not None and alice.sealer is not None
    receiver.frames.add_key(alice.sealer.key)
    receiver.trial = trio.Event()
    encoded = alice.audio.frame_for(1)
    assert encoded is not None
    packet = receiver.take(rtp(1, encoded), 0)
    assert packet is not None
    receiver.receive(packet)
    assert receiver.trial.is_set() and receiver.frames.opened == 0  # no counter used up
    assert receiver.track.frames.statistics().current_buffer_used == 0
    # Off trial, the same sender's next frame plays.
    receiver.trial = None
    packet = receiver.take(rtp(2, alice.audio.frame_for(2) or b""), 20)
    assert packet is not None
    receiver.receive(packet)
    assert receiver.frames.opened == 1
    timestamp, samples = receiver.track.frames.receive_nowait()
    assert len(samples) == FRAME_SAMPLES and samples.dtype == np.int16


async def test_receiver_reports_count_what_was_lost_since_the_last_one() -> None:
    receiver = receiver_for()
    receiver.drop = lambda packet: packet.sequence % 10 == 0  # one in ten lost on the way
    reports = []
    for n in range(1, 400):
        packet = receiver.take(rtp(n, b"\xfc" + bytes(20)), n * 20)
        if packet is not None:
            receiver.receive(packet)
        report = receiver.report_due(n * 20)
        if report is not None:
            reports.append(report)
    assert 4 <= len(reports) <= 16  # every 0.5 to 1.5 s of 8 s
    for report in reports[1:]:
        # The RR header (8 bytes), then the report block: SSRC, fraction lost since the last
        # report (of 256: 2 or 3 lost of 25 to 29 sent in 0.5 s, 7 or 8 of 75 in 1.5 s),
        # cumulative loss (24 bits), extended highest sequence number.
        ssrc, fraction_lost = struct.unpack_from("!IB", report, 8)
        lost = int.from_bytes(report[13:16], "big")
        (highest,) = struct.unpack_from("!I", report, 16)
        assert ssrc == PEER_SSRC
        assert 15 <= fraction_lost <= 40
        assert lost == highest // 10


async def test_fec_follows_the_loss_an_in_place_receiver_reports() -> None:
    async with open_media_loop(), trio.open_nursery() as nursery:
        engine = AudioEngine(MemorySink())
        await nursery.start(engine.run)
        alice = CallFrames(SourceFanout(ToneSource(440.0)), encrypt=False)
        bob = CallFrames(SourceFanout(ToneSource(1000.0)), encrypt=False)
        audio = alice.audio
        audio.fec_policy = FecPolicy(quiet_seconds=2.0)
        offerer = MediaLink(alice.audio_track(), ice_hosts=LOOPBACK, receive_buffer="in-place")
        answerer = MediaLink(bob.audio_track(), ice_hosts=LOOPBACK, receive_buffer="in-place")
        audio_in = answerer.audio_in
        assert audio_in is not None
        dropping = [False]
        audio_in.drop = lambda packet: dropping[0] and packet.sequence % 10 == 0
        try:
            await answerer_connects(offerer, answerer)
            assert answerer.remote_track is not None and answerer.audio_opening is None
            engine.add_peer("alice", answerer.remote_track)  # unsealed, decoded in place too
            nursery.start_soon(follow_loss, offerer.sender, audio, "bob")

            async def reports_until(done: object) -> None:
                with trio.fail_after(BOUND * 2):
                    while not done():  # type: ignore[operator]
                        await audio.reported.wait()

            await reports_until(lambda: audio.fec_policy.reports >= 2)
            assert not audio.fec.fec
            dropping[0] = True
            await reports_until(lambda: audio.fec.fec)
            dropping[0] = False
            await reports_until(lambda: not audio.fec.fec)
            assert engine.peer("alice").frames_received > 0
        finally:
            await offerer.close()
            await answerer.close()
            nursery.cancel_scope.cancel()


async def test_a_mono_decoder_conceals_a_late_tick_in_mono() -> None:
    receiver = receiver_for()
    alice = CallFrames(SourceFanout(ToneSource(440.0)), encrypt=False)
    for n in range(1, 4):
        packet = receiver.take(rtp(n, alice.audio.frame_for(n) or b""), n * 20)
        assert packet is not None
        receiver.receive(packet)
    decoder = receiver.track.decoder
    assert decoder is not None
    concealed = decoder.conceal_before(3 * FRAME_SAMPLES)  # the slot after the last
    assert concealed is not None and concealed.layout.nb_channels == 1
    assert concealed.samples == FRAME_SAMPLES


async def test_a_stalled_senders_late_frames_are_concealed_at_playout_not_silent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Frames 80-84 come 100 ms late, in a burst with frame 85: their ticks play the
    receiver's own libopus concealment (the playout knows the track's decoder), then they
    merge, as on aiortc's path."""
    alice = CallFrames(SourceFanout(ToneSource(440.0)), encrypt=False)
    receiver = receiver_for()
    late = range(80, 85)
    async with trio.open_nursery() as nursery:
        engine = AudioEngine(MemorySink())
        await nursery.start(engine.run)
        audio = engine.add_peer("alice", receiver.track)
        start = trio.current_time()
        for n in range(1, 160):
            data = alice.audio.frame_for(n)
            assert data is not None
            due = (85 if n in late else n) * FRAME_SECONDS
            await trio.sleep_until(start + due)
            packet = receiver.take(rtp(n, data), int(trio.current_time() * 1000))
            assert packet is not None
            receiver.receive(packet)
        await engine.wait_frames_played(engine.frames_played + 10)
        assert audio.expanded_concealed > 0 and audio.expanded_silent == 0
        assert audio.buffer.stats.merged > 0
        nursery.cancel_scope.cancel()
