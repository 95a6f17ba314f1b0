"""Per-link video quality that gives way to voice: a ladder of sizes and rates, stepped down
at once when the link or the machine shows distress, and probed back up slowly.

Pure: the call feeds a `Health` sample every few seconds and applies the `Quality` it gets
back to that link's video track (`VideoSourceTrack.set_quality`). Distress is any of:
- the video track skipped slots (the encoder or the CPU is behind: VP8 through PyAV holds
  the GIL, and Opus on the same loop starves first);
- our audio playout ran late (this process cannot keep up);
- the peer's audio to us arrived late or went missing (their CPU or the path between us is
  struggling: what we send them costs them decoding too).
A step up that brings distress back is undone, and the next probe waits twice as long.

A mesh encodes once per link, so the links also share a budget (`SEND_BUDGET` pixels a
second): with more peers each link starts, and stays, lower. Starting high and stepping down
is not good enough there: what the decoders queued meanwhile takes many seconds to drain.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Quality:
    width: int
    height: int
    fps: float

    def __str__(self) -> str:
        return f"{self.width}x{self.height}@{self.fps:g}"

    @property
    def pixel_rate(self) -> float:
        """Pixels a second: what encoding and decoding it costs, roughly."""
        return self.width * self.height * self.fps


# Best first. 640x360 at 30 is the default; the last rung still shows who is there.
LADDER: tuple[Quality, ...] = (
    Quality(640, 360, 30), Quality(640, 360, 20), Quality(480, 270, 15),
    Quality(320, 180, 15), Quality(320, 180, 10), Quality(160, 90, 5),
)

SAMPLE_SECONDS = 2.0
SKIPPED_SHARE = 0.10     # of the video slots due in a sample
LATE_TICK_SHARE = 0.02   # of our playout ticks in a sample
AUDIO_LOSS_SHARE = 0.05  # of the peer's audio frames due in a sample (missing or late)
SEVERE = 5  # times any of these shares: two rungs down at once, not one
# All links together: one 640x360@30 stream's worth, measured to leave the voice intact
# with four participants on two cores (benchmarks/video.py).
SEND_BUDGET = 640 * 360 * 30.0
FIRST_PROBE_AFTER = 10.0  # seconds without distress before trying one rung up
MAX_PROBE_AFTER = 120.0


@dataclass(frozen=True)
class Health:
    """What one link showed over `seconds` (counts within the sample, not totals)."""

    seconds: float
    video_due: int = 0            # slots the track should have sent at its current quality
    video_skipped: int = 0
    playout_ticks: int = 0        # our audio engine's ticks
    playout_late: int = 0
    peer_audio_due: int = 0       # frames the peer's audio should have brought
    peer_audio_received: int = 0  # frames it did bring
    peer_audio_late: int = 0      # of those, too late to play

    @property
    def distress(self) -> str | None:
        """Why this sample calls for less video, or None."""
        return self._judge(1.0)

    @property
    def severe(self) -> bool:
        """Far over a threshold: the voice is breaking up now."""
        return self._judge(SEVERE) is not None

    def _judge(self, factor: float) -> str | None:
        if self.video_due and self.video_skipped > factor * SKIPPED_SHARE * self.video_due:
            return f"video skipped {self.video_skipped}/{self.video_due} slots"
        if self.playout_ticks and \
                self.playout_late > factor * LATE_TICK_SHARE * self.playout_ticks:
            return f"audio playout late {self.playout_late}/{self.playout_ticks}"
        bad = max(0, self.peer_audio_due - self.peer_audio_received) + self.peer_audio_late
        if self.peer_audio_due and bad > factor * AUDIO_LOSS_SHARE * self.peer_audio_due:
            return f"peer audio missing or late {bad}/{self.peer_audio_due} frames"
        return None


def ladder_for(width: int, height: int, fps: float) -> tuple[Quality, ...]:
    """The rungs at or below what the source offers, best first, the source's own on top."""
    top = Quality(width, height, fps)
    below = [rung for rung in LADDER if rung.width <= width and rung.height <= height
             and rung.fps <= fps and rung != top]
    return (top, *below)


class VideoAdapter:
    """The quality for one link's video, from its health samples."""

    def __init__(self, ladder: tuple[Quality, ...] = LADDER) -> None:
        if not ladder:
            raise ValueError("a ladder needs at least one rung")
        self.ladder = ladder
        self.rung = 0
        self.ceiling = 0  # the best rung the link budget allows (see share)
        self.reason = ""  # why the last step down happened (for logs and stats)
        self._calm = 0.0  # seconds without distress at this rung
        self._probe_after = FIRST_PROBE_AFTER
        self._probing = False  # the last move was a step up, not yet confirmed

    @property
    def quality(self) -> Quality:
        return self.ladder[self.rung]

    def share(self, links: int) -> Quality | None:
        """The call has `links` links sharing SEND_BUDGET: never above this link's share
        (the lowest rung if even that is over). The new quality when it changes."""
        share = SEND_BUDGET / max(1, links)
        fits = [index for index, rung in enumerate(self.ladder) if rung.pixel_rate <= share]
        self.ceiling = fits[0] if fits else len(self.ladder) - 1
        if self.rung < self.ceiling:
            self.rung = self.ceiling
            self.reason = f"{links} links share the budget"
            return self.quality
        return None

    def observe(self, health: Health) -> Quality | None:
        """Take one sample; the new quality when it changes, else None."""
        distress = health.distress
        if distress is not None:
            self._calm = 0.0
            if self._probing:  # that step up was too much: back down and wait longer
                self._probe_after = min(MAX_PROBE_AFTER, 2 * self._probe_after)
            self._probing = False
            lowest = len(self.ladder) - 1
            if self.rung < lowest:
                self.rung = min(lowest, self.rung + (2 if health.severe else 1))
                self.reason = distress
                return self.quality
            return None
        self._calm += health.seconds
        if self._probing and self._calm >= 2 * SAMPLE_SECONDS:
            self._probing = False  # the step up held
            self._probe_after = FIRST_PROBE_AFTER
        if self.rung > self.ceiling and self._calm >= self._probe_after:
            self.rung -= 1
            self._calm = 0.0
            self._probing = True
            return self.quality
        return None
