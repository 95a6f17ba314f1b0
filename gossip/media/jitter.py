"""Our jitter buffer, and how it replaces aiortc's in the receive path.

aiortc's audio receiver holds packets in `JitterBuffer(capacity=16, prefetch=4)`: a fixed
~80 ms, and after a lost packet it can stay ~280 ms behind (aiortc issue 543), because that
buffer only releases a frame when a newer packet arrives. We split the job in two:

* `PassThroughBuffer` takes the place of aiortc's buffer inside `RTCRtpReceiver` (see
  `install_pass_through`). It has the same interface (`add(packet) -> (pli_flag, JitterFrame |
  None)`) and hands every new packet to the decoder at once, even out of order; it drops only
  duplicates and packets hopelessly old, and marks each with how many sequence numbers were
  skipped before it, so the decoder conceals those packets (gossip.media.concealment).
  aiortc's timestamp mapper would take a reordered older timestamp for a 32-bit wrap, so it
  is replaced too, by `SerialTimestampMapper`.
* `AdaptiveJitterBuffer` sits after the decoder, where there is a clock: the engine's playout
  tick pops one 20 ms frame per peer. Its depth follows the measured arrival jitter between a
  configurable minimum and maximum; it drops frames that come after their slot, waits for a
  missing frame only while no more than the target depth of later ones are here (then plays
  silence for it; a lost packet normally arrives here as the decoder's concealment, with the
  packet after it), and drops frames to catch up whenever it holds more than the target, so
  it never stays behind after a loss. When the frame due is late (not lost: nothing after it
  is here either) it holds the timeline and says so (`expanding`), so the engine plays the
  decoder's concealment for the tick and the late frame plays when it comes (WebRTC NetEq's
  "expand" then "merge"); catching up afterwards drops frames its speech test calls silence
  first, and speech only when no silence came within `catch_up_bound`.

Both are pure (no I/O, no clock of their own): callers pass arrival times in, tests drive them
with made-up packets and times.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_gt

from . import concealment
from .aiortc_seams import depayloaded, swap_jitter_buffer, swap_timestamp_mapper
from .concealment import SequencedFrame
from .format import FRAME_SAMPLES, SAMPLE_RATE, Frame
from .spread import SlidingSpread

# Packets further behind the newest than this (2 s of 20 ms frames) are not worth decoding.
MAX_REORDER = 100


class PassThroughBuffer:
    """aiortc's JitterBuffer interface, with no prefetch: each new audio packet is a frame."""

    def __init__(self) -> None:
        self._newest: int | None = None
        # The last MAX_REORDER sequence numbers passed, oldest leaving first; the set beside
        # the deque makes "seen?" one lookup (a scan of the deque was ~1.7% of a 12-way
        # relayed participant's CPU).
        self._seen: collections.deque[int] = collections.deque()
        self._seen_set: set[int] = set()
        self.passed = 0
        self.dropped_stale = 0
        self.missing = 0  # sequence numbers skipped (the decoder conceals those packets)

    @property
    def capacity(self) -> int:
        # Part of aiortc's interface; we hold nothing, so at most one packet's worth.
        return 1

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        lost_before = self.admit(packet.sequence_number)
        if lost_before is None:
            return False, None
        return False, SequencedFrame(depayloaded(packet), packet.timestamp, lost_before)

    def admit(self, sequence: int) -> int | None:
        """How many sequence numbers were skipped just before `sequence` (None: a duplicate
        or a packet too old to play: drop it)."""
        newest = self._newest
        if newest is not None:
            behind = (newest - sequence) & 0xFFFF
            if sequence in self._seen_set or (0 < behind < 0x8000 and behind >= MAX_REORDER):
                self.dropped_stale += 1
                return None
        lost_before = 0
        if newest is None or uint16_gt(sequence, newest):
            if newest is not None:
                # Sequence numbers skipped: packets lost (or late) just before this one. A
                # talk pause skips timestamps, never sequence numbers.
                lost_before = ((sequence - newest) & 0xFFFF) - 1
                self.missing += lost_before
            self._newest = sequence
        if len(self._seen) >= MAX_REORDER:
            self._seen_set.discard(self._seen.popleft())
        self._seen.append(sequence)
        self._seen_set.add(sequence)
        self.passed += 1
        return lost_before


class SerialTimestampMapper:
    """RTP timestamps (32-bit, wrapping) to a count from the stream's first one.

    Uses serial-number arithmetic, so a reordered older packet maps below its successor
    instead of being taken for a wrap (aiortc's TimestampMapper assumes in-order input).
    """

    def __init__(self) -> None:
        self._origin: int | None = None
        self._last_raw = 0
        self._last = 0

    def map(self, timestamp: int) -> int:
        if self._origin is None:
            self._origin = self._last = timestamp
        else:
            delta = (timestamp - self._last_raw) & 0xFFFFFFFF
            if delta >= 1 << 31:
                delta -= 1 << 32
            self._last += delta
        self._last_raw = timestamp
        return self._last - self._origin


def install_pass_through(receiver: RTCRtpReceiver) -> PassThroughBuffer:
    """Give an audio receiver our PassThroughBuffer and SerialTimestampMapper, before it starts,
    and this process's receivers the concealing Opus decoder (gossip.media.concealment).

    Call it right after the transceiver is created (our MediaLink does, in its constructor):
    the receiver only reads these attributes when packets arrive.
    """
    concealment.install()
    buffer = PassThroughBuffer()
    swap_jitter_buffer(receiver, buffer)
    swap_timestamp_mapper(receiver, SerialTimestampMapper())
    return buffer


@dataclass(frozen=True)
class JitterConfig:
    """Depths are counted in frames held back beyond the one being played.

    The jitter is the spread of the transit times of the last `memory` frames (10 s at 50
    frames/s): long enough that a stall which comes back every few seconds (a loaded machine
    descheduling the sender or us, 60-200 ms at a time) keeps the depth that absorbs it,
    rather than the depth shrinking between stalls and every stall costing an underrun (a gap)
    and then a burst dropped to catch up (a cut). `window` frames (2 s) decide when it is safe
    to shrink; `margin` (seconds) is added to the measured spread before it becomes a depth,
    and is the slack a shrink must leave. The first `warmup` frames of a stream are not
    measured: aiortc's sender creates its encoder on the first frame, so a stream starts with
    a burst of frames that were late at the sender, not on the network.

    `expand`: a frame due but late (no later frame here either) holds the timeline for up to
    `max_expand` ticks, each played as concealment by the engine, and plays when it comes;
    without it (as before) the tick waits with silence and playout restarts only once
    target + 1 frames are here. A stall (a loaded machine) is then a stretch of concealed
    voice and a delay to give back, not a gap and then a cut. `catch_up_bound` (seconds):
    how long catching up waits for a frame the speech test calls silence before it drops
    speech (without a speech test, or at 0, it drops at once, as before).
    """

    min_depth: int = 0
    max_depth: int = 10
    window: int = 100
    memory: int = 500
    margin: float = 0.004
    warmup: int = 25
    expand: bool = True
    max_expand: int = 10
    catch_up_bound: float = 2.0
    frame_samples: int = FRAME_SAMPLES
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if not 0 <= self.min_depth <= self.max_depth:
            raise ValueError("need 0 <= min_depth <= max_depth")
        if self.window < 2 or self.memory < 2 or self.margin < 0 or self.warmup < 0:
            raise ValueError("window >= 2, memory >= 2, margin >= 0 and warmup >= 0 are required")
        if self.max_expand < 0 or self.catch_up_bound < 0:
            raise ValueError("max_expand >= 0 and catch_up_bound >= 0 are required")

    @property
    def frame_seconds(self) -> float:
        return self.frame_samples / self.sample_rate


@dataclass
class JitterStats:
    """What happened to the frames that went through one buffer."""

    received: int = 0
    played: int = 0
    late: int = 0  # arrived after their slot was played or concealed
    duplicates: int = 0
    concealed: int = 0  # slots played as silence because that frame was missing
    underruns: int = 0  # ticks spent waiting for a late frame (playout re-buffers)
    dropped: int = 0  # thrown away to catch up (never stay behind)
    dropped_speech: int = 0  # of those, frames not known to be silence
    expanded: int = 0  # ticks the timeline was held for a late frame (the engine conceals)
    merged: int = 0  # late frames played after their slot was concealed (expand, then merge)
    resyncs: int = 0  # the stream's timestamps jumped; started over


class AdaptiveJitterBuffer:
    """Decoded frames in by RTP timestamp and arrival time; one frame out per playout tick.

    Depth is counted in frames held after the one being played. The target depth is the
    spread of the frames' transit times over the window (arrival minus media time, constant
    without jitter) plus a margin, in frames, minus one. The minus one is the tick's phase:
    when the frame due is missing and no more than the target depth of later frames are here,
    playout waits for it: with `expand` it holds that slot (up to `max_expand` ticks, each
    played as the decoder's concealment by the engine) and plays the frame at the first tick
    after it comes; without, or beyond that, it plays silence and restarts at the first tick
    with target + 1 frames. Either way the phase between arrivals and ticks absorbs up to a
    frame of spread. With more later frames than that, the missing one counts as lost and its
    slot is concealed with silence (or, if its slot was already held, playout moves on to them).

    Above the target the buffer catches up: at once if it is more than two frames over,
    otherwise one frame at a time, and only when every frame played over the last window waited
    at least a frame plus the margin (dropping one would not have starved any of them). It drops
    frames `is_speech` calls silence first, and speech only after `catch_up_bound`.
    """

    def __init__(
        self,
        config: JitterConfig | None = None,
        *,
        is_speech: Callable[[Frame], bool] | None = None,
    ) -> None:
        """`is_speech` tells catching up which frames it may drop without cutting a word
        (the engine passes a VAD); without it every frame counts as speech."""
        self.config = config or JitterConfig()
        self.stats = JitterStats()
        self._is_speech = is_speech
        self._frames: dict[int, tuple[Frame, float]] = {}
        self._next: int | None = None  # timestamp of the next slot to play
        self._playing = False
        self._transits = SlidingSpread(self.config.memory)
        self._waits: collections.deque[float] = collections.deque(maxlen=self.config.window)
        self._stream_frames = 0
        self._expand_run = 0  # ticks the timeline has been held for the frame due
        self._behind_since: float | None = None  # when catching up found only speech to drop
        self.expanding = False  # the last pop held the timeline for a late frame

    @property
    def depth(self) -> int:
        """Frames buffered right now."""
        return len(self._frames)

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def spread(self) -> float:
        """Seconds between the fastest and slowest transit in the window (the jitter we see)."""
        return self._transits.spread

    @property
    def target_depth(self) -> int:
        cfg = self.config
        wanted = math.ceil((self.spread + cfg.margin) / cfg.frame_seconds) - 1
        return min(cfg.max_depth, max(cfg.min_depth, wanted))

    def put(self, timestamp: int, frame: Frame, arrival: float) -> bool:
        """Offer a decoded frame; False if it was late or a duplicate and was dropped."""
        cfg = self.config
        self.stats.received += 1
        if self._next is not None:
            distance = (timestamp - self._next) // cfg.frame_samples
            if abs(distance) > cfg.window:
                # A jump of more than the whole window is a new stream, not jitter.
                self._restart()
                self.stats.resyncs += 1
            elif distance < 0:
                self._measure(timestamp, arrival)
                self.stats.late += 1
                return False
        self._measure(timestamp, arrival)
        if timestamp in self._frames:
            self.stats.duplicates += 1
            return False
        self._frames[timestamp] = (frame, arrival)
        # Bound memory even if nobody pops (the tick stalled): keep the newest frames.
        while len(self._frames) > cfg.max_depth + 1:
            self._drop_oldest()
        return True

    def _measure(self, timestamp: int, arrival: float) -> None:
        self._stream_frames += 1
        if self._stream_frames > self.config.warmup:
            self._transits.append(arrival - timestamp / self.config.sample_rate)

    @property
    def next_timestamp(self) -> int | None:
        """The timestamp of the slot playout is at (the late frame while `expanding`)."""
        return self._next

    @property
    def due_missing(self) -> int | None:
        """The timestamp of the slot due next if playout is on and its frame is not here."""
        if not self._playing or self._next is None or self._next in self._frames:
            return None
        return self._next

    def pop(self, now: float) -> Frame | None:
        """The frame for the playout tick at `now`, or None: silence, or, while `expanding`,
        the decoder's concealment (the frame due is late and its slot is held for it)."""
        self.expanding = False
        target = self.target_depth
        if not self._playing:
            if len(self._frames) <= target:
                return None
            self._playing = True
            if self._next is None or self._next not in self._frames:
                # Still missing after target + 1 later frames arrived: lost, start after it.
                self._next = min(self._frames)
        assert self._next is not None
        step = self.config.frame_samples
        entry = self._frames.pop(self._next, None)
        if entry is None and self._expand_run and len(self._frames) > target:
            # Held for a frame that did not come while later ones did: a talk pause (their
            # timestamps skip, sequence numbers do not, so the decoder concealed nothing) or
            # a loss; its time is already filled with concealment, so go on with what is here.
            self._next = min(self._frames)
            entry = self._frames.pop(self._next)
        if entry is None:
            if len(self._frames) > target:
                # More later frames than we ever wait for: this one is lost. Conceal it.
                self.stats.concealed += 1
                self._next += step
                return None
            if self.config.expand and self._expand_run < self.config.max_expand:
                # Late, not lost (nothing after it is here either): hold its slot, keep
                # playing, and let the engine conceal this tick (NetEq's expand).
                self._expand_run += 1
                self.stats.expanded += 1
                self.expanding = True
                self._waits.clear()
                return None
            # It may still come: wait for it (one frame more delay) rather than skip it.
            self.stats.underruns += 1
            self._playing = False
            self._expand_run = 0
            self._waits.clear()
            return None
        frame, arrival = entry
        if self._expand_run:
            self.stats.merged += 1
            self._expand_run = 0
        self.stats.played += 1
        self._next += step
        self._waits.append(now - arrival)
        self._catch_up(target, now)
        return frame

    def _catch_up(self, target: int, now: float) -> None:
        """Drop frames held beyond the target: silence first; speech only when catching up
        has found none for `catch_up_bound` seconds (or there is no speech test)."""
        cfg = self.config
        over = len(self._frames) - target
        if over > 2:
            wanted = over - 1  # down to target + 1 at once, as soon as it can be done
        elif (
            over > 0
            and len(self._waits) == cfg.window
            and min(self._waits) >= cfg.frame_seconds + cfg.margin
        ):
            wanted = 1  # every frame played over the last window could have waited one less
        else:
            self._behind_since = None
            return
        if self._behind_since is None:
            self._behind_since = now
        dropped = 0
        while dropped < wanted and not self._speech(self._frames[min(self._frames)][0]):
            self._drop_oldest(speech=False)
            dropped += 1
        if dropped < wanted and (
            self._is_speech is None or now - self._behind_since >= cfg.catch_up_bound
        ):
            while dropped < wanted:
                self._drop_oldest()
                dropped += 1
        if dropped:
            # Every later frame now waits less: gather a fresh window before the next.
            self._waits.clear()
        if dropped == wanted:
            self._behind_since = None

    def _speech(self, frame: Frame) -> bool:
        return self._is_speech is None or self._is_speech(frame)

    def _drop_oldest(self, speech: bool | None = None) -> None:
        oldest = min(self._frames)
        frame, _ = self._frames.pop(oldest)
        self.stats.dropped += 1
        if speech if speech is not None else self._speech(frame):
            self.stats.dropped_speech += 1
        if self._next is None or oldest >= self._next:
            self._next = oldest + self.config.frame_samples

    def _restart(self) -> None:
        self._frames.clear()
        self._next = None
        self._playing = False
        self._expand_run = 0
        self._behind_since = None
        self._transits.clear()
        self._waits.clear()
        self._stream_frames = 0
