"""Our jitter buffers, driven with made-up packets, frames and times (no network, no clock)."""

from __future__ import annotations

import collections
import random

import numpy as np
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gossip.media.format import FRAME_SAMPLES, FRAME_SECONDS, Frame
from gossip.media.jitter import (
    MAX_REORDER,
    AdaptiveJitterBuffer,
    JitterConfig,
    PassThroughBuffer,
    SerialTimestampMapper,
)

STEP = FRAME_SAMPLES


def frame(n: int) -> Frame:
    """A frame that says which one it is."""
    return np.full(FRAME_SAMPLES, n % 30000, dtype=np.int16)


def number(played: Frame | None) -> int | None:
    return None if played is None else int(played[0])


def run(buffer: AdaptiveJitterBuffer, arrivals: dict[int, float], ticks: int,
        tick_offset: float = 0.0) -> list[int | None]:
    """Feed frame n at arrivals[n]; pop at every tick k * 20 ms + offset; what played when."""
    events = sorted((t, n) for n, t in arrivals.items())
    played: list[int | None] = []
    i = 0
    for k in range(ticks):
        now = k * FRAME_SECONDS + tick_offset
        while i < len(events) and events[i][0] <= now:
            t, n = events[i]
            buffer.put(n * STEP, frame(n), t)
            i += 1
        played.append(number(buffer.pop(now)))
    return played


def test_a_steady_stream_plays_each_frame_at_the_first_tick_after_it_arrives() -> None:
    buffer = AdaptiveJitterBuffer()
    played = run(buffer, {n: n * FRAME_SECONDS + 0.005 for n in range(50)}, ticks=51)
    assert played[0] is None  # nothing had arrived at t=0
    assert played[1:] == list(range(50))
    assert buffer.target_depth == 0
    assert buffer.stats.underruns == 0 and buffer.stats.dropped == 0


def test_a_lost_frame_is_concealed_and_playout_does_not_fall_behind() -> None:
    buffer = AdaptiveJitterBuffer(JitterConfig(min_depth=1))
    arrivals = {n: n * FRAME_SECONDS + 0.005 for n in range(60) if n != 20}
    played = run(buffer, arrivals, ticks=62)
    start = played.index(0)
    assert played[start:start + 20] == list(range(20))
    assert played[start + 20] is None  # frame 20 never came
    # Every later frame plays in the very slot it had before the loss: no added delay.
    assert played[start + 21:start + 60] == list(range(21, 60))
    assert played[start:].count(None) == 1 and buffer.stats.late == 0


def test_aiortcs_buffer_holds_four_frames_where_ours_passes_each_packet_at_once() -> None:
    ours, theirs = PassThroughBuffer(), JitterBuffer(capacity=16, prefetch=4)
    released_ours, released_theirs = [], []
    for seq in range(10):
        packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=seq * STEP)
        packet._data = bytes([seq])  # type: ignore[attr-defined]
        released_ours.append(ours.add(packet)[1])
        released_theirs.append(theirs.add(packet)[1])
    assert [f.timestamp for f in released_ours if f] == [n * STEP for n in range(10)]
    assert released_theirs[:4] == [None] * 4  # 4 frames of prefetch: 80 ms before anything


def test_pass_through_passes_reordered_packets_but_not_duplicates_or_stale_ones() -> None:
    buffer = PassThroughBuffer()
    passed = []
    for seq in [65534, 65535, 65535, 0, 65533, 1, 3, 2, 200, 90, 101]:
        packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=seq)
        packet._data = b"x"  # type: ignore[attr-defined]
        if buffer.add(packet)[1] is not None:
            passed.append(seq)
    # 90 is 110 packets behind the newest (200): more than 2 s late, not worth decoding.
    assert passed == [65534, 65535, 0, 65533, 1, 3, 2, 200, 101]
    assert buffer.dropped_stale == 2


class _ScanningPassThrough:
    """PassThroughBuffer.admit as it was: "seen?" a scan of a deque of the last 100."""

    def __init__(self) -> None:
        self.newest: int | None = None
        self.seen: collections.deque[int] = collections.deque(maxlen=MAX_REORDER)

    def admit(self, sequence: int) -> int | None:
        if self.newest is not None:
            behind = (self.newest - sequence) & 0xFFFF
            if sequence in self.seen or (0 < behind < 0x8000 and behind >= MAX_REORDER):
                return None
        lost = 0
        if self.newest is None or 0 < (sequence - self.newest) & 0xFFFF < 0x8000:
            if self.newest is not None:
                lost = ((sequence - self.newest) & 0xFFFF) - 1
            self.newest = sequence
        self.seen.append(sequence)
        return lost


# 100 passes after 100 (all within 100 of the newest), then 100 again: it left the last
# hundred, so the scan admitted it as a late packet (its frame's counter then refuses it).
_EVICTED = [150, 100, *range(51, 100), *range(101, 150), 151, 152, 100]


@given(st.integers(min_value=0, max_value=0xFFFF),
       st.lists(st.integers(min_value=-120, max_value=8), min_size=1, max_size=400))
@example(0, [b - a for a, b in zip([0, *_EVICTED], _EVICTED, strict=False)])
def test_pass_through_admits_exactly_what_the_scan_of_the_last_hundred_did(
    start: int, steps: list[int]
) -> None:
    """Moves back and forth around a stream (duplicates, reordering, losses, stale packets,
    the 16-bit wrap): the set beside the deque decides as the scan did."""
    ours, scan = PassThroughBuffer(), _ScanningPassThrough()
    sequence = start
    for step in steps:
        sequence = (sequence + step) & 0xFFFF
        assert ours.admit(sequence) == scan.admit(sequence)


def test_timestamp_mapper_keeps_reordered_packets_in_place_across_the_32_bit_wrap() -> None:
    mapper = SerialTimestampMapper()
    start = 2**32 - 2 * STEP
    raw = [start, start + STEP, (start + 3 * STEP) % 2**32, (start + 2 * STEP) % 2**32]
    assert [mapper.map(t) for t in raw] == [0, STEP, 3 * STEP, 2 * STEP]


def test_a_frame_after_its_slot_is_dropped_as_late() -> None:
    buffer = AdaptiveJitterBuffer(JitterConfig(min_depth=1))
    arrivals = {n: n * FRAME_SECONDS + 0.005 for n in range(30)}
    arrivals[10] = 0.5  # 300 ms late: its slot has long been concealed
    played = run(buffer, arrivals, ticks=32)
    assert 10 not in played
    assert buffer.stats.late == 1
    assert played[-20:] == list(range(10, 30))[-20:] or 29 in played


def test_depth_follows_measured_jitter_and_then_underruns_stop() -> None:
    rng = random.Random(7)
    arrivals = {n: n * FRAME_SECONDS + 0.005 + rng.uniform(0, 0.045) for n in range(300)}
    buffer = AdaptiveJitterBuffer()
    played = run(buffer, arrivals, ticks=305)
    assert buffer.spread > 0.03
    assert buffer.target_depth >= 2
    # Gaps only while the first second teaches the buffer how much jitter there is (the
    # warm-up is not measured), and after the stream ends; from then on every frame plays.
    gaps = [tick for tick, n in enumerate(played) if n is None]
    assert all(tick < 50 or tick >= 300 for tick in gaps), gaps
    steady = [n for n in played[50:] if n is not None]
    assert steady == list(range(steady[0], 300))


def test_min_depth_holds_frames_back_even_without_jitter() -> None:
    buffer = AdaptiveJitterBuffer(JitterConfig(min_depth=2))
    played = run(buffer, {n: n * FRAME_SECONDS + 0.005 for n in range(40)}, ticks=40)
    first = played.index(0)
    assert first == 3  # frames 0, 1 and 2 had to be there before 0 played
    assert buffer.target_depth == 2


def test_a_burst_beyond_the_target_is_dropped_at_once_to_catch_up() -> None:
    buffer = AdaptiveJitterBuffer(JitterConfig(max_depth=3))
    for n in range(5):
        buffer.put(n * STEP, frame(n), n * FRAME_SECONDS)
    assert number(buffer.pop(0.1)) is not None
    # A stall of half a second, then everything at once: the bound keeps the newest frames
    # and playout skips forward instead of staying half a second behind.
    for n in range(5, 30):
        buffer.put(n * STEP, frame(n), 0.6)
    assert buffer.depth <= 4
    assert number(buffer.pop(0.61)) is not None
    assert (number(buffer.pop(0.62)) or 0) >= 26
    assert buffer.stats.dropped > 20


def test_a_delay_added_by_one_late_frame_is_given_back_once_a_window_shows_slack() -> None:
    buffer = AdaptiveJitterBuffer(JitterConfig(window=20))
    arrivals = {n: n * FRAME_SECONDS + 0.005 for n in range(100)}
    arrivals[10] += 0.020  # one frame misses its tick: that tick is concealed, and it plays next
    played = run(buffer, arrivals, ticks=100)
    assert buffer.stats.expanded == 1 and buffer.stats.merged == 1
    assert buffer.stats.underruns == 0
    after_the_stall = played.index(11)
    assert played[after_the_stall + 1] == 12  # now a frame behind the arrivals...
    assert buffer.stats.dropped == 1  # ...until a full window had a frame of slack to spare
    assert played[-1] == 98  # back to playing each frame at the first tick after it arrives
    assert None not in played[played.index(10):]


def test_duplicates_are_dropped_and_a_timestamp_jump_restarts_the_stream() -> None:
    buffer = AdaptiveJitterBuffer()
    assert buffer.put(0, frame(0), 0.0)
    assert not buffer.put(0, frame(0), 0.001)
    assert buffer.stats.duplicates == 1
    assert number(buffer.pop(0.02)) == 0
    jump = 10_000 * STEP
    assert buffer.put(jump, frame(7), 0.04)
    assert buffer.stats.resyncs == 1
    assert number(buffer.pop(0.06)) == 7


@settings(max_examples=200, deadline=None)
@given(
    delays=st.lists(st.floats(0.0, 0.3), min_size=1, max_size=120),
    lost=st.sets(st.integers(0, 119)),
    min_depth=st.integers(0, 3),
    extra=st.integers(0, 6),
)
def test_playout_is_in_order_and_bounded_whatever_the_network_does(
    delays: list[float], lost: set[int], min_depth: int, extra: int
) -> None:
    config = JitterConfig(min_depth=min_depth, max_depth=min_depth + extra)
    buffer = AdaptiveJitterBuffer(config)
    arrivals = {n: n * FRAME_SECONDS + d for n, d in enumerate(delays) if n not in lost}
    played = [n for n in run(buffer, arrivals, ticks=len(delays) + 20) if n is not None]
    assert played == sorted(set(played))
    assert buffer.depth <= config.max_depth + 1
    stats = buffer.stats
    assert stats.played == len(played)
    assert stats.received == len(arrivals)
    assert stats.played + stats.late + stats.dropped + stats.duplicates + buffer.depth == \
        stats.received


def test_stalls_that_come_back_keep_the_depth_that_absorbs_them() -> None:
    """A loaded machine: every 3 s the sender (or we) is descheduled for 100-150 ms and the
    frames due meanwhile arrive at once. With the jitter remembered for 2 s only, the depth
    shrinks between stalls and each stall costs a gap and then a cut (a burst dropped to catch
    up); remembered for 10 s (the default), after the first few the stalls are absorbed."""
    rng = random.Random(1)
    arrivals = {n: n * FRAME_SECONDS + 0.005 + rng.uniform(0, 0.004) for n in range(3000)}
    for start in range(200, 3000, 150):
        end = start * FRAME_SECONDS + 0.1 + rng.uniform(0, 0.05)
        for n in range(start, 3000):
            arrivals[n] = max(arrivals[n], end)

    def gaps_and_cuts(config: JitterConfig) -> tuple[int, int]:
        buffer = AdaptiveJitterBuffer(config)
        played = run(buffer, arrivals, ticks=3000)
        return sum(n is None for n in played[200:]), buffer.stats.dropped

    short = gaps_and_cuts(JitterConfig(memory=100))
    remembered = gaps_and_cuts(JitterConfig())
    assert remembered[0] * 4 < short[0] and remembered[1] * 4 < short[1], (remembered, short)
    assert sum(remembered) < 20  # 18 stalls, over a minute
