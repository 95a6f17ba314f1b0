"""Real aiortc calls on loopback: peers hear each other's tones, mute, deafen, identity binding.

Every link offers only 127.0.0.1. Audio runs in real time (a second or so per test); nothing
waits on a timer: tests wait on frame counters with a fail_after bound.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest
import trio

from gossip.media.engine import AudioEngine
from gossip.media.errors import FingerprintMismatch, LinkStateError
from gossip.media.fingerprint import sdp_fingerprint
from gossip.media.format import SAMPLE_RATE
from gossip.media.loop import MediaLoop, open_media_loop
from gossip.media.peer import Failed, LinkState, LinkUp, MediaLink
from gossip.media.sinks import MemorySink
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout

LOOPBACK = ["127.0.0.1"]
BOUND = 15  # seconds; generous for a loaded 2-core machine, never reached when things work
ANALYSIS_FRAMES = 25  # 0.5 s of output: 2 Hz FFT bins


@dataclass
class Side:
    """One participant: a tone source, a mixed output in memory, and links to the others."""

    name: str
    fanout: SourceFanout
    sink: MemorySink
    engine: AudioEngine
    links: dict[str, MediaLink] = field(default_factory=dict)


def spectrum(samples: npt.NDArray[np.int16]) -> tuple[npt.NDArray[np.float64],
                                                       npt.NDArray[np.float64]]:
    windowed = samples.astype(np.float64) * np.hanning(len(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE).astype(np.float64)
    return freqs, np.abs(np.fft.rfft(windowed)).astype(np.float64)


def magnitude_at(samples: npt.NDArray[np.int16], hz: float) -> float:
    freqs, mags = spectrum(samples)
    near = np.abs(freqs - hz) <= 6.0
    return float(mags[near].max())


def peak_hz(samples: npt.NDArray[np.int16]) -> float:
    freqs, mags = spectrum(samples)
    return float(freqs[int(np.argmax(mags))])


async def wait_connected(link: MediaLink) -> LinkUp:
    with trio.fail_after(BOUND):
        async for event in link.events:
            if isinstance(event, LinkUp):
                return event
            if isinstance(event, Failed):
                pytest.fail(f"link failed: {event}")
    pytest.fail("event channel closed before the link connected")


async def connect(a: Side, b: Side) -> tuple[str, str]:
    """Offer from a, answer from b, both connected and playing; returns (offer, answer)."""
    offerer = a.links[b.name] = MediaLink(a.fanout.track(), ice_hosts=LOOPBACK)
    answerer = b.links[a.name] = MediaLink(b.fanout.track(), ice_hosts=LOOPBACK)
    offer = await offerer.create_offer()
    answer = await answerer.accept_offer(offer)
    await offerer.accept_answer(answer)
    await wait_connected(offerer)
    await wait_connected(answerer)
    for side, link, other in ((a, offerer, b), (b, answerer, a)):
        assert link.remote_track is not None
        side.engine.add_peer(other.name, link.remote_track)
    return offer, answer


async def settle(side: Side, *, fresh_frames: int = 25) -> npt.NDArray[np.int16]:
    """Wait until every peer delivered `fresh_frames` more frames and the sink holds that long
    plus a full analysis window of new output, then return the analysis window."""
    with trio.fail_after(BOUND):
        for peer in side.engine.peers:
            got = side.engine.peer(peer).frames_received
            await side.engine.wait_frames_received(peer, got + fresh_frames)
        await side.engine.wait_frames_played(side.engine.frames_played + ANALYSIS_FRAMES)
    return side.sink.samples(ANALYSIS_FRAMES)


async def hear(side: Side, present: list[float],
               absent: list[float]) -> npt.NDArray[np.int16]:
    """Wait until an analysis window of `side`'s output holds every tone in `present` (each at
    least a quarter of the loudest) and none in `absent` (each under 2% of the loudest).

    Waiting for such a window, rather than judging the first one, keeps the test meaningful
    on a loaded machine, where a starved stream may drop a few frames now and then.
    """
    await settle(side)
    checked_at = [-1]
    magnitudes: dict[float, float] = {}

    def sounds_right() -> bool:
        played = side.engine.frames_played
        if played - checked_at[0] < 5:  # an FFT at most every 100 ms
            return False
        checked_at[0] = played
        window = side.sink.samples(ANALYSIS_FRAMES)
        magnitudes.update({hz: magnitude_at(window, hz) for hz in present + absent})
        loudest = max(magnitudes[hz] for hz in present)
        return (all(magnitudes[hz] > 0.25 * loudest for hz in present)
                and all(magnitudes[hz] < 0.02 * loudest for hz in absent))

    try:
        with trio.fail_after(BOUND):
            await side.engine.wait_until(sounds_right)
    except trio.TooSlowError:
        pytest.fail(f"{side.name} never heard {present} without {absent}: {magnitudes}")
    return side.sink.samples(ANALYSIS_FRAMES)


async def wait_level(side: Side, peer: str, *, above: float = -200.0,
                     below: float = 200.0) -> None:
    """Wait until `side`'s meter for `peer` reads between `above` and `below` dBFS."""
    def in_range() -> bool:
        return above < side.engine.mixer.level(peer) < below

    with trio.fail_after(BOUND):
        await side.engine.wait_until(in_range)


@asynccontextmanager
async def call(tones: dict[str, float]) -> AsyncIterator[tuple[MediaLoop, dict[str, Side]]]:
    """A full mesh of the named sides, each sending a tone; closed and drained on exit."""
    async with open_media_loop() as media, trio.open_nursery() as nursery:
        sides: dict[str, Side] = {}
        for name, hz in tones.items():
            sink = MemorySink()
            engine = AudioEngine(sink)
            await nursery.start(engine.run)
            sides[name] = Side(name, SourceFanout(ToneSource(hz)), sink, engine)
        names = list(sides)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                await connect(sides[first], sides[second])
        try:
            yield media, sides
        finally:
            for side in sides.values():
                for link in side.links.values():
                    await link.close()
            nursery.cancel_scope.cancel()


async def test_two_peers_each_hear_the_other_tone_not_their_own() -> None:
    async with call({"alice": 440.0, "bob": 1000.0}) as (_, sides):
        alice, bob = sides["alice"], sides["bob"]
        heard_by_alice = await hear(alice, present=[1000.0], absent=[440.0])
        heard_by_bob = await hear(bob, present=[440.0], absent=[1000.0])
        assert peak_hz(heard_by_alice) == pytest.approx(1000.0, abs=4)
        assert peak_hz(heard_by_bob) == pytest.approx(440.0, abs=4)

        # Our receive path is in place: aiortc's buffer was replaced and passed every packet.
        for side, other in ((alice, "bob"), (bob, "alice")):
            buffer = side.links[other].pass_through
            assert buffer is not None and buffer.passed >= 35
            stats = side.engine.peer(other)
            assert stats.first_audio_at is not None and stats.frames_received >= 35
            # ...and the playout knows the decoder that can conceal a late frame's tick.
            assert stats.decoder is not None


async def test_links_offer_only_the_ice_hosts_we_chose() -> None:
    async with open_media_loop():
        offerer = MediaLink(SourceFanout(ToneSource(440)).track(), ice_hosts=LOOPBACK)
        answerer = MediaLink(SourceFanout(ToneSource(880)).track(), ice_hosts=LOOPBACK)
        try:
            offer = await offerer.create_offer()
            answer = await answerer.accept_offer(offer)
            for sdp in (offer, answer):
                candidates = [line for line in sdp.splitlines() if line.startswith("a=candidate:")]
                assert candidates
                assert all(line.split()[4] == "127.0.0.1" for line in candidates)
        finally:
            await offerer.close()
            await answerer.close()


async def test_three_way_mesh_each_mix_holds_the_other_two_tones_and_not_its_own() -> None:
    tones = {"ann": 300.0, "ben": 600.0, "cat": 900.0}
    async with call(tones) as (_, sides):
        for name, side in sides.items():
            others = [hz for other, hz in tones.items() if other != name]
            await hear(side, present=others, absent=[tones[name]])
            for other in side.engine.peers:
                await wait_level(side, other, above=-20.0)


async def test_muting_a_side_removes_its_tone_from_the_others() -> None:
    tones = {"ann": 300.0, "ben": 600.0, "cat": 900.0}
    async with call(tones) as (_, sides):
        await hear(sides["ben"], present=[300.0, 900.0], absent=[600.0])

        sides["ann"].fanout.muted = True
        for listener in ("ben", "cat"):
            side = sides[listener]
            # The meter says when the silence has come through; the tone must then be gone.
            await wait_level(side, "ann", below=-60.0)
            heard = await settle(side)
            still = next(hz for other, hz in tones.items() if other not in ("ann", listener))
            assert magnitude_at(heard, 300.0) < 0.02 * magnitude_at(heard, still)


async def test_deafened_output_is_silent_while_meters_keep_moving() -> None:
    async with call({"alice": 440.0, "bob": 1000.0}) as (_, sides):
        alice = sides["alice"]
        assert np.abs(await settle(alice)).max() > 1000
        alice.engine.mixer.deafened = True
        heard = await settle(alice)
        assert not heard.any()
        await wait_level(alice, "bob", above=-20.0)


async def test_an_offer_with_a_replaced_fingerprint_is_refused() -> None:
    async with open_media_loop():
        alice = MediaLink(SourceFanout(ToneSource(440)).track(), ice_hosts=LOOPBACK)
        bob = MediaLink(SourceFanout(ToneSource(880)).track(), ice_hosts=LOOPBACK)
        # A third certificate's fingerprint, as a relay swapping in its own DTLS key would.
        mallory = MediaLink(SourceFanout(ToneSource(100)).track(), ice_hosts=LOOPBACK)
        try:
            offer = await alice.create_offer()
            genuine = sdp_fingerprint(offer)
            assert genuine == alice.local_fingerprint
            forged = mallory.local_fingerprint
            tampered = offer.replace(genuine.split()[1], forged.split()[1])
            assert sdp_fingerprint(tampered) == forged

            answer = await bob.accept_offer(tampered)
            await alice.accept_answer(answer)

            events = []
            with trio.fail_after(BOUND):
                async for event in bob.events:
                    events.append(event)
                    if isinstance(event, Failed | LinkUp):
                        break
            failure = events[-1]
            assert isinstance(failure, Failed), events
            assert isinstance(failure.error, FingerprintMismatch)
            assert failure.error.expected == forged
            assert failure.error.presented == genuine  # what alice really showed in DTLS
            assert bob.state is LinkState.FAILED
            assert not any(isinstance(event, LinkUp) for event in events)
        finally:
            for link in (alice, bob, mallory):
                await link.close()


async def test_check_remote_fingerprint_compares_the_live_certificate() -> None:
    async with open_media_loop():
        alice = MediaLink(SourceFanout(ToneSource(440)).track(), ice_hosts=LOOPBACK)
        bob = MediaLink(SourceFanout(ToneSource(880)).track(), ice_hosts=LOOPBACK)
        try:
            offer = await alice.create_offer()
            answer = await bob.accept_offer(offer)
            await alice.accept_answer(answer)
            connected = await wait_connected(alice)
            await wait_connected(bob)

            assert connected.remote_fingerprint == bob.local_fingerprint == sdp_fingerprint(answer)
            assert alice.remote_fingerprint == bob.local_fingerprint
            alice.check_remote_fingerprint(sdp_fingerprint(answer))
            with pytest.raises(FingerprintMismatch):
                alice.check_remote_fingerprint(alice.local_fingerprint)

            # The trickle hook takes candidate lines as they appear in an SDP.
            candidate = next(line for line in answer.splitlines()
                             if line.startswith("a=candidate:"))
            await alice.add_ice_candidate(candidate)
            await alice.add_ice_candidate(None)
        finally:
            await alice.close()
            await bob.close()


async def test_negotiation_steps_out_of_order_are_refused() -> None:
    async with open_media_loop():
        link = MediaLink(SourceFanout(ToneSource(440)).track(), ice_hosts=LOOPBACK)
        try:
            with pytest.raises(LinkStateError):
                await link.accept_answer("v=0\r\n")
            await link.create_offer()
            with pytest.raises(LinkStateError):
                await link.create_offer()
        finally:
            await link.close()
        assert link.state is LinkState.CLOSED


async def test_closing_both_ends_leaves_no_asyncio_task_pending() -> None:
    async with call({"alice": 440.0, "bob": 1000.0}) as (media, sides):
        await settle(sides["alice"], fresh_frames=5)
        for side in sides.values():
            for link in side.links.values():
                await link.close()
                assert link.state is LinkState.CLOSED
        assert await media.drain() == []
