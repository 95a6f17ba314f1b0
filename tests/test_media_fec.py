"""In-band FEC that follows the loss our audio's receivers report (gossip.media.fecpolicy):
off on a clean path, on at the first report of loss, off again only after a quiet spell;
the encoder takes each change between two frames; and on real aiortc links on loopback, a
receiver that loses packets turns the sender's FEC on, and a clean path turns it off."""

from __future__ import annotations

import numpy as np
import pytest
import trio

from gossip.media.aiortc_seams import drop_received_rtp
from gossip.media.engine import AudioEngine
from gossip.media.errors import MediaError
from gossip.media.fecpolicy import (
    MAX_EXPECTED_PERCENT,
    QUIET_SECONDS,
    STALE_SECONDS,
    FecPolicy,
    fraction_from_rtcp,
)
from gossip.media.format import FRAME_SAMPLES
from gossip.media.framecrypt import CallFrames, EncodedAudio
from gossip.media.loop import open_media_loop
from gossip.media.lossreports import follow_loss
from gossip.media.opusfec import FEC_OFF, AdaptiveOpusEncoder, FecSettings
from gossip.media.peer import MediaLink
from gossip.media.sinks import MemorySink
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout

from .test_media_links import BOUND, LOOPBACK, wait_connected


def reports(policy: FecPolicy, link: str, losses: list[float], start: float = 0.0,
            every: float = 1.0) -> list[FecSettings | None]:
    return [policy.observe(link, loss, start + i * every) for i, loss in enumerate(losses)]


def test_a_clean_path_keeps_fec_off() -> None:
    policy = FecPolicy()
    assert reports(policy, "bob", [0.0] * 30) == [None] * 30
    assert policy.settings == FEC_OFF


def test_loss_turns_fec_on_at_the_first_report_and_plans_for_about_that_much() -> None:
    policy = FecPolicy()
    first = policy.observe("bob", 0.04, 0.0)  # smoothed from clean: 2 % counts
    assert first == FecSettings(True, 2)
    # More loss raises what the encoder plans for at once.
    assert policy.observe("bob", 0.20, 1.0) == FecSettings(True, 20)


def test_fec_stays_on_through_a_loss_that_comes_and_goes_and_goes_off_after_a_quiet_spell():
    policy = FecPolicy()
    # 1 packet in 50 lost: reports of 0, 2 and 4 % in turn.
    settings = reports(policy, "bob", [0.02, 0.0, 0.04, 0.0, 0.0, 0.02, 0.0, 0.04] * 4)
    changes = [s for s in settings if s is not None]
    assert changes and all(s.fec for s in changes)
    assert policy.settings.fec
    # A clean path from t=32 (the last lossy report came at 31): nothing changes for
    # QUIET_SECONDS, then FEC is off.
    after = reports(policy, "bob", [0.0] * 40, start=32.0)
    first_off = next(i for i, s in enumerate(after) if s is not None and not s.fec)
    assert 32.0 + first_off - 31.0 >= QUIET_SECONDS
    assert policy.settings == FEC_OFF
    assert all(s is None for s in after[first_off + 1:])


def test_the_worst_link_decides_and_a_link_that_left_or_went_silent_no_longer_counts():
    policy = FecPolicy(quiet_seconds=0.0)
    policy.observe("carol", 0.0, 0.0)
    assert policy.observe("bob", 0.2, 0.0) == FecSettings(True, 10)
    assert policy.observe("carol", 0.0, 1.0) is None  # bob's loss still counts
    assert policy.forget("bob", 1.0) == FEC_OFF
    assert policy.observe("bob", 0.2, 2.0) == FecSettings(True, 10)
    # bob stops reporting (gone without a goodbye): after STALE_SECONDS carol alone decides.
    assert policy.observe("carol", 0.0, 2.0 + STALE_SECONDS + 0.1) == FEC_OFF


def test_a_receiver_claiming_total_loss_gets_bounded_fec_not_silence() -> None:
    policy = FecPolicy()
    for second in range(5):
        policy.observe("mallory", fraction_from_rtcp(255), float(second))
    assert policy.settings == FecSettings(True, MAX_EXPECTED_PERCENT)
    assert fraction_from_rtcp(10_000) < 1.0 and fraction_from_rtcp(-3) == 0.0


def test_settings_that_cannot_be_are_refused() -> None:
    with pytest.raises(MediaError):
        FecSettings(True, 0)  # libopus codes no copy when it expects no loss
    with pytest.raises(MediaError):
        FecSettings(False, 101)


def test_the_encoder_takes_fec_on_and_off_between_frames() -> None:
    encoder = AdaptiveOpusEncoder()
    voice = (np.sin(np.arange(FRAME_SAMPLES) * 2 * np.pi * 220 / 48_000) * 8000).astype(np.int16)

    def silk_coded(packets: list[bytes]) -> int:
        """Packets coded with SILK (Opus's TOC config below 16: SILK or hybrid), the only
        layer that carries an FEC copy; at our bitrate without FEC libopus codes CELT only."""
        return sum(packet[0] >> 3 < 16 for packet in packets)

    assert (encoder.fec, encoder.expected_loss_percent) == (False, 0)
    off = [encoder.encode(voice) for _ in range(25)]
    encoder.apply(FecSettings(True, 10))
    assert (encoder.fec, encoder.expected_loss_percent) == (True, 10)
    on = [encoder.encode(voice) for _ in range(25)]
    encoder.apply(FEC_OFF)
    off_again = [encoder.encode(voice) for _ in range(25)]
    assert silk_coded(off[5:]) == 0 and silk_coded(on[5:]) == 20
    assert silk_coded(off_again[5:]) == 0
    with pytest.raises(MediaError):
        encoder.encode(voice[:100])


async def test_a_receiver_losing_packets_turns_the_senders_fec_on_and_a_clean_path_off():
    dropping = [False]
    count = [0]

    def lose_one_in_ten(_packet: object) -> bool:
        count[0] += 1
        return dropping[0] and count[0] % 10 == 0

    async with open_media_loop(), trio.open_nursery() as nursery:
        engine = AudioEngine(MemorySink())
        await nursery.start(engine.run)
        alice = CallFrames(SourceFanout(ToneSource(440.0)), encrypt=False)
        bob = CallFrames(SourceFanout(ToneSource(1000.0)), encrypt=False)
        audio: EncodedAudio = alice.audio
        audio.fec_policy = FecPolicy(quiet_seconds=2.0)  # a short spell keeps the test short
        offerer = MediaLink(alice.audio_track(), ice_hosts=LOOPBACK)
        answerer = MediaLink(bob.audio_track(), ice_hosts=LOOPBACK)
        drop_received_rtp(answerer.receiver, lose_one_in_ten)
        try:
            answer = await answerer.accept_offer(await offerer.create_offer())
            await offerer.accept_answer(answer)
            await wait_connected(offerer)
            await wait_connected(answerer)
            assert answerer.remote_track is not None
            engine.add_peer("alice", answerer.remote_track)  # bob plays what arrives
            nursery.start_soon(follow_loss, offerer.sender, audio, "bob")

            async def reports_until(done: object) -> None:
                with trio.fail_after(BOUND * 2):
                    while not done():  # type: ignore[operator]
                        await audio.reported.wait()

            # A clean path: several reports, FEC stays off.
            await reports_until(lambda: audio.fec_policy.reports >= 3)
            assert audio.fec == FEC_OFF and audio.fec_switches == 0
            # Bob loses one packet in ten: FEC on within a few reports.
            dropping[0] = True
            seen = audio.fec_policy.reports
            await reports_until(lambda: audio.fec.fec)
            assert audio.fec_policy.reports - seen <= 3
            # ... planned for the loss seen: the first lossy report may cover part of a
            # second only (a loaded machine), the average reaches it a report or two later.
            await reports_until(lambda: audio.fec.expected_loss_percent >= 5)
            assert audio.fec_policy.reports - seen <= 6
            # And off again once the path is clean.
            dropping[0] = False
            await reports_until(lambda: not audio.fec.fec)
            assert audio.fec_switches == 2
        finally:
            await offerer.close()
            await answerer.close()
            nursery.cancel_scope.cancel()
