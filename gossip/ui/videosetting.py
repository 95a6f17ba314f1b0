"""The video setting: what the app's calls send as video ("" = automatic, a camera if this
machine has one, else none), turned into a source spec, and the choices the settings dialog
offers. Pure apart from a look for camera devices; read on the render thread at start-up."""

from __future__ import annotations

import sys
from pathlib import Path

AUTOMATIC = ""
# (label in the settings dialog, setting); file:PATH is set in the settings file.
VIDEO_CHOICES: tuple[tuple[str, str], ...] = (
    ("Automatic", AUTOMATIC), ("No video", "none"), ("Camera", "camera"),
    ("Screen", "screen"), ("Test pattern", "pattern"),
)
_KINDS = ("none", "pattern", "screen", "camera", "file")


def camera_present(devices: Path = Path("/dev")) -> bool:
    """Whether this machine has a camera device (V4L2 on Linux; elsewhere assume one)."""
    if not sys.platform.startswith("linux"):
        return True
    try:
        return any(devices.glob("video[0-9]*"))
    except OSError:
        return False


def video_spec(setting: str, *, has_camera: bool | None = None) -> str:
    """The source spec for a call from the setting: automatic means "camera" if there is
    one, else "none", so that a machine without a camera shows no camera button."""
    if setting != AUTOMATIC:
        return setting
    present = camera_present() if has_camera is None else has_camera
    return "camera" if present else "none"


def is_video_setting(value: str) -> bool:
    """Whether `value` can be the video setting: automatic, or a spec of a known kind."""
    if value == AUTOMATIC:
        return True
    kind, colon, argument = value.partition(":")
    if kind not in _KINDS:
        return False
    if kind == "file":
        return bool(argument)
    return kind == "camera" or not colon


def video_label(setting: str) -> str:
    return next((label for label, value in VIDEO_CHOICES if value == setting), setting)


def video_setting(label: str) -> str:
    return next((value for name, value in VIDEO_CHOICES if name == label), label)
