"""The app's ends of a call's audio: the device list in the panel's words, and the specs of the
microphone and speakers picked. The switchable wrappers and the listing itself live in
gossip.media (switchable, devicelist, devicewatch), where the call side uses them too."""

from __future__ import annotations

from gossip.media.devicelist import DeviceProblem
from gossip.media.switchable import SwitchableSink, SwitchableSource

from ..wording import LISTING_FAILED, NO_DEVICES, NO_PORTAUDIO, SOUND_SYSTEM_FAILED

__all__ = ["SwitchableSink", "SwitchableSource", "device_problem_text", "microphone_spec",
           "speaker_spec"]

_PROBLEMS = {DeviceProblem.NO_PORTAUDIO: NO_PORTAUDIO,
             DeviceProblem.SOUND_SYSTEM_FAILED: SOUND_SYSTEM_FAILED,
             DeviceProblem.NO_DEVICES: NO_DEVICES, DeviceProblem.LISTING_FAILED: LISTING_FAILED}


def device_problem_text(problem: DeviceProblem | None) -> str:
    """Why there is nothing to pick, for the panel ("" when there is something)."""
    return _PROBLEMS[problem] if problem is not None else ""


def microphone_spec(device: str) -> str:
    return f"mic:{device}" if device else "mic"


def speaker_spec(device: str) -> str:
    return f"speaker:{device}" if device else "speaker"
