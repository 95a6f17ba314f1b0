"""When the call's Opus encoder spends bits on in-band FEC: only while the receivers of our
audio report loss, as WebRTC does.

Pure: each RTCP receiver report's loss for our audio (one link's, RFC 3550's "fraction lost"
since that receiver's previous report, about one a second) goes in with the time; the
encoder's new `FecSettings` come out when they change. FEC costs a clean path (PESQ-WB 4.47
without, about 4.3 with) and repays it many times over on a lossy one (1 packet in 20 lost:
2.3 concealed, 4.2 recovered), so:

- each link's reports are smoothed (a moving average: one report is 25 to 75 packets, and a
  steady 2 % loss shows as 0, 2 and 4 % in turn), and the worst link decides: the one
  encoder sends to every link, so it plans for the worst of them;
- FEC goes on, and the expected loss up, at the first report that calls for it;
- it goes off, or the expected loss down, only after QUIET_SECONDS in which the smoothed loss
  never called for the higher setting (hysteresis: ON_LOSS to switch on, below OFF_LOSS to
  switch off), so a loss that comes and goes does not flip it every report;
- a link that stopped reporting (STALE_SECONDS) or left no longer counts.

A receiver can lie (a hostile peer reporting 100 % loss): the most it gets is FEC at
MAX_EXPECTED_PERCENT for everyone, the quality of a lossy path, never silence.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from .opusfec import FEC_OFF, FecSettings

RTCP_FRACTION_SCALE = 256  # RFC 3550 6.4.1: fraction lost is an 8-bit fixed-point number
ON_LOSS = 0.01  # a smoothed loss this high turns FEC on (one packet in a hundred)
OFF_LOSS = 0.004  # and it stays on until the loss is below this, for QUIET_SECONDS
QUIET_SECONDS = 10.0
STALE_SECONDS = 5.0  # RTCP sends a report every 0.5 to 1.5 s; a link silent this long is gone
SMOOTHING = 0.5  # weight of each new report in its link's moving average
# The expected loss libopus is told, in steps (more spends more bits on the copy, fewer on
# the packet itself): the smallest step at or above the smoothed loss.
EXPECTED_STEPS = (1, 2, 5, 10, 20, 30)
MAX_EXPECTED_PERCENT = EXPECTED_STEPS[-1]


@dataclass
class _Link:
    loss: float  # smoothed fraction of packets lost
    seen: float  # when its last report came


def fraction_from_rtcp(fraction_lost: int) -> float:
    """RTCP's 8-bit fraction lost (0..255) as a fraction, clamped: it comes off the wire."""
    return min(max(fraction_lost, 0), RTCP_FRACTION_SCALE - 1) / RTCP_FRACTION_SCALE


class FecPolicy:
    """The encoder's FEC settings from the receivers' loss reports (starts with FEC off)."""

    def __init__(self, quiet_seconds: float = QUIET_SECONDS) -> None:
        self.quiet_seconds = quiet_seconds
        self.settings = FEC_OFF
        self.reports = 0
        self._links: dict[str, _Link] = {}
        self._held_since = 0.0  # the last time the loss called for the current settings

    @property
    def worst_loss(self) -> float:
        """The worst smoothed loss among the links that count (for logs and stats)."""
        return max((link.loss for link in self._links.values()), default=0.0)

    def observe(self, link: str, fraction_lost: float, now: float) -> FecSettings | None:
        """One receiver report from `link` (`fraction_lost` 0..1); new settings or None."""
        self.reports += 1
        fraction = min(max(fraction_lost, 0.0), 1.0)
        state = self._links.get(link)
        if state is None:
            # A first report starts from clean, so one bad interval alone counts half.
            state = self._links[link] = _Link(0.0, now)
        state.loss += SMOOTHING * (fraction - state.loss)
        state.seen = now
        return self._decide(now)

    def forget(self, link: str, now: float) -> FecSettings | None:
        """`link` left the call; new settings or None."""
        self._links.pop(link, None)
        return self._decide(now)

    def _decide(self, now: float) -> FecSettings | None:
        for name in [name for name, link in self._links.items()
                     if now - link.seen > STALE_SECONDS]:
            del self._links[name]
        wanted = self._wanted(self.worst_loss)
        current = self.settings.expected_loss_percent
        if wanted.expected_loss_percent >= current:
            self._held_since = now
            if wanted.expected_loss_percent == current:
                return None
        elif now - self._held_since < self.quiet_seconds:
            return None  # lower, but not for long enough yet
        self.settings = wanted
        self._held_since = now
        return wanted

    def _wanted(self, loss: float) -> FecSettings:
        on = self.settings.fec
        if loss < OFF_LOSS or (not on and loss < ON_LOSS):
            return FEC_OFF
        step = bisect.bisect_left(EXPECTED_STEPS, loss * 100)
        return FecSettings(True, EXPECTED_STEPS[min(step, len(EXPECTED_STEPS) - 1)])
