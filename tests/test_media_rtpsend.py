"""Our audio send path (gossip.media.rtpsend) on real aiortc links on loopback: the call's
sealed frames, packetized by us and sent from one trio tick, are heard through aiortc's
receivers and through the relay; the stream the far end sees has no sequence gap (a
renegotiation included), keeps the SSRC the SDP named, and aiortc's RTCP still reports on it;
a link that refused the peer's certificate sends nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import trio
import trio_asyncio

from gossip.client.relaylink import RelayLink
from gossip.media.aiortc_seams import drive, receiver_buffer
from gossip.media.engine import AudioEngine
from gossip.media.fingerprint import sdp_fingerprint
from gossip.media.framecrypt import CallFrames
from gossip.media.jitter import PassThroughBuffer
from gossip.media.loop import open_media_loop
from gossip.media.lossreports import latest_report
from gossip.media.peer import Failed, LinkUp, MediaLink
from gossip.media.rtpheader import Incoming
from gossip.media.rtpsend import AudioRtpStream, AudioSending, SentAudioTrack
from gossip.media.sinks import MemorySink
from gossip.media.slotreceive import RelaySlot
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout

from .test_media_framecrypt import (
    answerer_connects,
    each_hears_the_other,
    sealed_pair,
    sealed_side,
)
from .test_media_links import BOUND, LOOPBACK
from .test_relay import everyone_hears_the_others, relay_process


def test_a_stream_numbers_its_packets_and_marks_each_talkspurt() -> None:
    sent: list[bytes] = []
    stream = AudioRtpStream(0x1234, 111, sent.append)
    for slot in (10, 11, 12, 20, 21):  # a pause between 12 and 20
        stream.send(b"\x78frame", slot)
    packets = [Incoming(data) for data in sent]
    assert {p.ssrc for p in packets} == {0x1234} and {p.payload_type for p in packets} == {111}
    assert [(p.sequence - packets[0].sequence) & 0xFFFF for p in packets] == [0, 1, 2, 3, 4]
    assert [(p.timestamp - packets[0].timestamp) & 0xFFFFFFFF for p in packets] == [
        0, 960, 1920, 9600, 10560]  # the pause is a timestamp jump, not a sequence gap
    assert [bool(p.marker) for p in packets] == [True, False, False, True, False]
    assert all(p.payload == b"\x78frame" for p in packets)


def test_a_payload_type_past_seven_bits_makes_no_stream() -> None:
    # The far end's answer names it: one past 127 would set the marker bit, past 255 it
    # would stop the tick that sends to every link.
    for payload_type in (128, 300, -1):
        with pytest.raises(ValueError):
            AudioRtpStream(1, payload_type, lambda data: None)


def test_a_packet_not_sent_leaves_no_sequence_gap() -> None:
    sent: list[bytes] = []

    def flaky(data: bytes) -> None:
        if len(sent) == 1 and not flaky.failed:  # type: ignore[attr-defined]
            flaky.failed = True  # type: ignore[attr-defined]
            raise ConnectionError("not connected")
        sent.append(data)

    flaky.failed = False  # type: ignore[attr-defined]
    stream = AudioRtpStream(1, 111, flaky)
    for slot in range(4):
        stream.send(b"x", slot)
    sequences = [Incoming(data).sequence for data in sent]
    assert [(s - sequences[0]) & 0xFFFF for s in sequences] == [0, 1, 2]
    assert stream.failed == 1 and stream.sent == 3


class RecordedSending(AudioSending):
    """The tick's schedule alone: which slots it would encode and send."""

    def __init__(self) -> None:
        super().__init__(CallFrames(SourceFanout(ToneSource(440.0))).audio)
        self.slots: list[int] = []
        self.add(SentAudioTrack(self))

    def send_slot(self, slot: int) -> None:
        self.slots.append(slot)


def test_the_tick_sends_each_slot_once_catches_up_and_never_runs_ahead() -> None:
    sending = RecordedSending()
    epoch = 1000.0
    due = [epoch + k * 0.02 for k in range(4)]
    for at in due:
        sending.tick(at)
    assert sending.slots == [0, 1, 2, 3]
    # A stall: three ticks late, then the engine's catch-up ticks (due times in the past).
    sending.tick(epoch + 6 * 0.02)
    assert sending.slots[4:] == [4, 5, 6]
    sending.tick(epoch + 6 * 0.02)  # a tick run twice for one due time sends nothing more
    assert sending.slots[7:] == []
    # Re-anchored after a long stall, at another phase: the slots in between are skipped.
    sending.tick(epoch + 30 * 0.02 + 0.007)
    sending.tick(epoch + 31 * 0.02 + 0.007)
    assert sending.slots[7:] == [30, 31] and sending.slots_skipped == 23
    # No link: nothing is read, and the next link starts at the present.
    sending.remove(sending.tracks[0])
    sending.tick(epoch + 32 * 0.02)
    sending.add(SentAudioTrack(sending))
    sending.tick(epoch + 40 * 0.02)
    assert sending.slots[9:] == [40]


async def test_a_send_that_waits_is_finished_by_the_asyncio_loop() -> None:
    async with open_media_loop():
        loop = asyncio.get_running_loop()
        gate: asyncio.Future[None] = loop.create_future()
        done = trio.Event()

        async def waits() -> None:
            await gate  # as a TURN relay binding its channel would
            done.set()

        drive(waits())  # returns at once, the rest left to asyncio
        assert not done.is_set()
        gate.set_result(None)
        with trio.fail_after(BOUND):
            await done.wait()


async def test_our_packets_are_heard_through_aiortc_receivers_with_no_gap() -> None:
    async with open_media_loop(), trio.open_nursery() as nursery:
        sides, frames = await sealed_pair(nursery)
        sending = {}
        for name in sides:
            sending[name] = frames[name].sending = AudioSending(frames[name].audio)
            if name == "alice":
                sides[name].engine.tick_hooks.append(sending[name].tick)  # as a call does
            else:
                await nursery.start(sending[name].run)  # a timer of its own
        offerer = MediaLink(frames["alice"].audio_track(), ice_hosts=LOOPBACK,
                            open_frames=frames["alice"].peer("bob"))
        answerer = MediaLink(frames["bob"].audio_track(), ice_hosts=LOOPBACK,
                             open_frames=frames["bob"].peer("alice"))
        try:
            await answerer_connects(offerer, answerer)
            await each_hears_the_other(sides, offerer, answerer)

            track = offerer.sender.track
            assert isinstance(track, SentAudioTrack) and track.stream is not None
            assert track.stream.ssrc == offerer.sender._ssrc  # the SSRC its SDP announced
            assert f"a=ssrc:{track.stream.ssrc} " in offerer._pc.localDescription.sdp
            assert sending["alice"].tracks == [track] and track.frames_sent > 0
            # aiortc's RTP task sent nothing of its own: every packet is ours.
            stats = await trio_asyncio.aio_as_trio(offerer.sender.getStats)()
            outbound = next(s for s in stats.values() if s.type == "outbound-rtp")
            assert outbound.packetsSent >= track.frames_sent - 1  # our counters, kept true

            # Bob's receiver saw one unbroken stream, and reports on it to alice's sender.
            buffer = receiver_buffer(answerer.receiver)
            inner = buffer.inner if hasattr(buffer, "inner") else buffer
            assert isinstance(inner, PassThroughBuffer)
            with trio.fail_after(BOUND):
                while await latest_report(offerer.sender) is None:
                    await sides["alice"].engine.wait_frames_played(
                        sides["alice"].engine.frames_played + 10)
            assert inner.missing == 0
        finally:
            await offerer.close()
            await answerer.close()
            nursery.cancel_scope.cancel()
        # Closing the link stopped the track and took its stream out of the tick.
        assert sending["alice"].tracks == [] and sending["bob"].tracks == []


async def test_a_renegotiation_keeps_the_stream_going_without_a_gap() -> None:
    """aiortc starts a sender again at each negotiation (a video section added mid-call):
    the link's stream goes on, so the far end sees no jump in sequence numbers."""
    async with open_media_loop(), trio.open_nursery() as nursery:
        engines = {}
        for name in ("alice", "bob"):
            engines[name] = AudioEngine(MemorySink())
            await nursery.start(engines[name].run)
        frames = CallFrames(SourceFanout(ToneSource(440.0)), encrypt=False)
        sending = frames.sending = AudioSending(frames.audio)
        engines["alice"].tick_hooks.append(sending.tick)
        alice = MediaLink(frames.audio_track(), ice_hosts=LOOPBACK)
        bob = MediaLink(SourceFanout(ToneSource(1000.0)).track(), ice_hosts=LOOPBACK)
        try:
            await answerer_connects(alice, bob)
            engines["bob"].add_peer("alice", bob.remote_track)
            with trio.fail_after(BOUND):
                await engines["bob"].wait_frames_received("alice", 25)
            track = alice.sender.track
            assert isinstance(track, SentAudioTrack)
            stream = track.stream
            reoffer = await alice.create_reoffer(receive_video=True)
            await alice.accept_reanswer(await bob.accept_reoffer(reoffer))
            assert alice.has_video_section
            heard = engines["bob"].peer("alice").frames_received
            with trio.fail_after(BOUND):
                await engines["bob"].wait_frames_received("alice", heard + 50)
            assert track.stream is stream and stream is not None and stream.failed == 0
            assert bob.pass_through is not None and bob.pass_through.missing == 0
        finally:
            await alice.close()
            await bob.close()
            nursery.cancel_scope.cancel()


async def test_a_link_that_refused_the_peers_certificate_sends_nothing() -> None:
    async with open_media_loop(), trio.open_nursery() as nursery:
        engine = AudioEngine(MemorySink())
        await nursery.start(engine.run)
        frames = CallFrames(SourceFanout(ToneSource(880.0)))
        sending = frames.sending = AudioSending(frames.audio)
        engine.tick_hooks.append(sending.tick)
        alice = MediaLink(SourceFanout(ToneSource(440)).track(), ice_hosts=LOOPBACK)
        track = frames.audio_track()
        bob = MediaLink(track, ice_hosts=LOOPBACK)
        mallory = MediaLink(SourceFanout(ToneSource(100)).track(), ice_hosts=LOOPBACK)
        try:
            offer = await alice.create_offer()
            genuine, forged = sdp_fingerprint(offer), mallory.local_fingerprint
            await alice.accept_answer(
                await bob.accept_offer(offer.replace(genuine.split()[1], forged.split()[1])))
            with trio.fail_after(BOUND):
                async for event in bob.events:
                    if isinstance(event, Failed | LinkUp):
                        break
            assert isinstance(event, Failed)
            await engine.wait_frames_played(engine.frames_played + 25)
            # Whichever check refused it (aiortc's in DTLS, or ours as DTLS came up), the
            # sender never started: our tick has no stream for it.
            assert isinstance(track, SentAudioTrack) and track.stream is None
            assert sending.tracks == []
            stats = await trio_asyncio.aio_as_trio(alice.receiver.getStats)()
            assert not any(s.type == "inbound-rtp" for s in stats.values())  # not one packet
        finally:
            for link in (alice, bob, mallory):
                await link.close()
            nursery.cancel_scope.cancel()


async def test_through_the_relay_everyone_hears_our_packets_with_no_gap(tmp_path: Path) -> None:
    """Our packets to the relay are what it expects of a sender (the SSRC and payload type
    its offer named): it forwards them, and each listener's slot sees no gap."""
    tones = {"ann": 300.0, "ben": 500.0, "cat": 700.0}
    async with relay_process(tmp_path) as relay, open_media_loop(), \
            trio.open_nursery() as nursery:
        sides, frames, links = {}, {}, {}
        for name, hz in tones.items():
            sides[name], frames[name] = await sealed_side(nursery, name, hz)
            sending = frames[name].sending = AudioSending(frames[name].audio)
            sides[name].engine.tick_hooks.append(sending.tick)
        for name, own in frames.items():
            for other, theirs in frames.items():
                if other != name:
                    theirs.peer(name).add_key(own.sealer.key)  # type: ignore
        for name in tones:
            links[name] = RelayLink(frames[name].audio_track(), fingerprint=relay["fingerprint"],
                                    slots=len(tones) - 1, frames_for=frames[name].peer,
                                    ice_hosts=LOOPBACK)

        await everyone_hears_the_others(nursery, relay, links, sides, tones)
        for name in tones:
            slots = [s for s in links[name].openings
                     if isinstance(s, RelaySlot) and s.frames is not None]
            assert len(slots) == len(tones) - 1
            assert all(slot.missing == 0 for slot in slots), name
            sent = frames[name].sending.tracks  # type: ignore[union-attr]
            assert len(sent) == 1 and sent[0].stream is not None and sent[0].stream.failed == 0
        nursery.cancel_scope.cancel()
