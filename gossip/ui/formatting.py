"""How times, countdowns and fingerprints read on screen: small pure functions."""

from __future__ import annotations

import time


def countdown(seconds: float) -> str:
    """Time left as a person reads it: 0:42, 4:05, 2h 05m, 3d 4h."""
    left = max(0, int(seconds + 0.999))  # round up: "0:00" only once it is really gone
    if left < 3600:
        return f"{left // 60}:{left % 60:02d}"
    if left < 86400:
        return f"{left // 3600}h {left % 3600 // 60:02d}m"
    return f"{left // 86400}d {left % 86400 // 3600}h"


def clock_time(timestamp: float) -> str:
    return time.strftime("%H:%M", time.localtime(timestamp))


def grouped_fingerprint(fingerprint: str, group: int = 4) -> str:
    """A key fingerprint in groups, the way people read them aloud: 3F2A 9C01 ..."""
    cleaned = fingerprint.replace(" ", "").replace(":", "").upper()
    return " ".join(cleaned[i:i + group] for i in range(0, len(cleaned), group))


def short_fingerprint(fingerprint: str) -> str:
    """Enough of a fingerprint to recognise it in a status line."""
    cleaned = fingerprint.replace(" ", "").replace(":", "").upper()
    if len(cleaned) <= 16:
        return grouped_fingerprint(cleaned)
    return grouped_fingerprint(cleaned[:8]) + " … " + grouped_fingerprint(cleaned[-8:])


def latency(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    milliseconds = seconds * 1000
    return "<1 ms" if milliseconds < 1 else f"{milliseconds:.0f} ms"
