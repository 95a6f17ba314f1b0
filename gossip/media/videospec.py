"""Building a video source from a user's spec (pattern, none, file:PATH, camera[:DEVICE],
screen[:DISPLAY]): the one place that knows every kind of source."""

from __future__ import annotations

from . import capture, video
from .defaults import DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH
from .errors import SpecError
from .videosource import VideoSource


def parse_video_source(spec: str, *, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
                       fps: float = DEFAULT_FPS) -> VideoSource:
    """Build a source from "pattern", "none", "file:PATH", "camera[:DEVICE]" or
    "screen[:DISPLAY]". A camera or screen that cannot be opened raises CaptureUnavailable."""
    kind, _, arg = spec.partition(":")
    if kind == "pattern" and not arg:
        return video.PatternSource(width, height, fps)
    if kind == "none" and not arg:
        return video.NoneSource(width, height)
    if kind == "file":
        if not arg:
            raise SpecError("file source needs a path: file:PATH")
        return video.FileSource(arg, width, height, fps)
    if kind == "camera":
        return capture.open_camera(arg, width=width, height=height, fps=fps)
    if kind == "screen":
        return capture.open_screen(display=arg or None, width=width, height=height, fps=fps)
    raise SpecError(f"unknown video source {spec!r}: use pattern, none, file:PATH, "
                    f"camera[:DEVICE] or screen[:DISPLAY]")
