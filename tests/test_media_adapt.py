"""Video quality per link gives way to voice: down at once on distress, up slowly, and a
step up that brings distress back waits longer before the next try."""

from __future__ import annotations

import asyncio

import pytest

from gossip.media.adapt import (
    FIRST_PROBE_AFTER,
    LADDER,
    SAMPLE_SECONDS,
    Health,
    Quality,
    VideoAdapter,
    ladder_for,
)
from gossip.media.video import PatternSource, VideoSourceTrack

CALM = Health(SAMPLE_SECONDS, video_due=60, playout_ticks=100, peer_audio_due=100,
              peer_audio_received=100)
SKIPPING = Health(SAMPLE_SECONDS, video_due=60, video_skipped=20)
LATE_PLAYOUT = Health(SAMPLE_SECONDS, playout_ticks=100, playout_late=5)
PEER_AUDIO_BAD = Health(SAMPLE_SECONDS, peer_audio_due=100, peer_audio_received=90)
PEER_AUDIO_LATE = Health(SAMPLE_SECONDS, peer_audio_due=100, peer_audio_received=100,
                         peer_audio_late=10)


def calm_for(adapter: VideoAdapter, seconds: float) -> list[Quality]:
    changes = []
    for _ in range(round(seconds / SAMPLE_SECONDS)):
        change = adapter.observe(CALM)
        if change is not None:
            changes.append(change)
    return changes


@pytest.mark.parametrize("sample", [SKIPPING, LATE_PLAYOUT, PEER_AUDIO_BAD, PEER_AUDIO_LATE],
                         ids=["video-skipped", "playout-late", "peer-audio-missing",
                              "peer-audio-late"])
def test_each_kind_of_distress_steps_down_one_rung_at_once(sample: Health) -> None:
    adapter = VideoAdapter()
    assert sample.distress is not None
    assert adapter.observe(sample) == LADDER[1]
    assert adapter.reason == sample.distress


def test_a_healthy_link_stays_at_the_top() -> None:
    adapter = VideoAdapter()
    assert CALM.distress is None
    assert calm_for(adapter, 300) == [] and adapter.quality == LADDER[0]


def test_distress_walks_down_to_the_bottom_and_stays_there() -> None:
    adapter = VideoAdapter()
    changes = [adapter.observe(SKIPPING) for _ in range(len(LADDER) + 3)]
    assert changes[:len(LADDER) - 1] == list(LADDER[1:])
    assert changes[len(LADDER) - 1:] == [None] * 4
    assert adapter.quality == LADDER[-1]


def test_calm_brings_quality_back_one_rung_at_a_time() -> None:
    adapter = VideoAdapter()
    adapter.observe(SKIPPING)
    adapter.observe(SKIPPING)
    assert calm_for(adapter, FIRST_PROBE_AFTER - SAMPLE_SECONDS) == []
    assert calm_for(adapter, SAMPLE_SECONDS) == [LADDER[1]]
    assert calm_for(adapter, FIRST_PROBE_AFTER) == [LADDER[0]]


def test_a_step_up_that_brings_distress_back_waits_twice_as_long_next_time() -> None:
    adapter = VideoAdapter()
    adapter.observe(SKIPPING)
    assert calm_for(adapter, FIRST_PROBE_AFTER) == [LADDER[0]]  # probe up
    assert adapter.observe(SKIPPING) == LADDER[1]  # too much: straight back down
    assert calm_for(adapter, FIRST_PROBE_AFTER) == []
    assert calm_for(adapter, FIRST_PROBE_AFTER) == [LADDER[0]]


def test_the_ladder_starts_at_the_source_and_never_goes_above_it() -> None:
    ladder = ladder_for(320, 180, 15)
    assert ladder[0] == Quality(320, 180, 15)
    assert all(rung.width <= 320 and rung.fps <= 15 for rung in ladder)
    assert len(set(ladder)) == len(ladder)
    assert ladder_for(640, 360, 30) == LADDER


def test_a_track_sends_the_lowered_size_and_every_nth_slot() -> None:
    source = PatternSource(320, 180, fps=30)
    track = VideoSourceTrack(source)
    track.set_quality(160, 90, 10)
    assert (track.scaled_to, track.stride) == ((160, 90), 3)

    async def two_frames() -> list[tuple[int, int, int]]:
        frames = [await track.recv() for _ in range(2)]
        return [(frame.width, frame.height, frame.pts) for frame in frames]

    (w1, h1, pts1), (w2, h2, pts2) = asyncio.run(two_frames())
    assert (w1, h1) == (w2, h2) == (160, 90) and pts2 > pts1
    assert source.counter == 2  # only the slots sent were read from the source
    track.set_quality(640, 360, 60)  # more than the source has: the source's own
    assert (track.scaled_to, track.stride) == (None, 1)


def test_links_share_a_budget_so_more_peers_start_and_stay_lower() -> None:
    adapter = VideoAdapter()
    assert adapter.share(1) is None and adapter.quality == LADDER[0]
    lowered = adapter.share(3)
    assert lowered is not None and lowered.pixel_rate * 3 <= LADDER[0].pixel_rate
    assert calm_for(adapter, 10 * FIRST_PROBE_AFTER) == []  # never probes above its share
    assert adapter.share(1) is None  # a peer left: probing up is allowed again
    assert calm_for(adapter, FIRST_PROBE_AFTER)[-1].pixel_rate > lowered.pixel_rate


def test_severe_distress_steps_down_two_rungs_at_once() -> None:
    adapter = VideoAdapter()
    breaking_up = Health(SAMPLE_SECONDS, peer_audio_due=100, peer_audio_received=60)
    assert breaking_up.severe and not PEER_AUDIO_BAD.severe
    assert adapter.observe(breaking_up) == LADDER[2]
