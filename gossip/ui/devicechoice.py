"""The sound devices offered for picking, the same in the call panel and in Settings: the
system default first, then what PortAudio lists, and a chosen device that is not there now
(unplugged) kept at the end so that choosing nothing does not silently change it."""

from __future__ import annotations

DEFAULT_DEVICE = "System default"


def device_choices(devices: tuple[str, ...], chosen: str) -> tuple[str, ...]:
    missing = (chosen,) if chosen and chosen not in devices else ()
    return (DEFAULT_DEVICE, *devices, *missing)


def device_label(setting: str) -> str:
    """What a combo shows for a setting ("" = the system default)."""
    return setting or DEFAULT_DEVICE


def device_setting(label: str) -> str:
    """The setting for what a combo shows."""
    return "" if label == DEFAULT_DEVICE else label.strip()
