"""The sound devices PortAudio lists, by name, bounded when read from another process.

Run as `python -m gossip.media.devicelist`, this module is the short-lived child that
gossip.media.devicewatch starts for a fresh listing: it prints the list as one JSON object.
It imports no trio and no numpy, so the child starts quickly.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import Enum

from .devices import import_sounddevice
from .errors import AudioDeviceError

log = logging.getLogger("gossip.media.devices")

# Bounds on what a child's answer may hold: a machine with more devices than this, or a name
# longer, is not one a picker could show anyway, and a wedged or confused child must not make
# us read or keep without limit.
MAX_DEVICES = 64
MAX_NAME_CHARS = 200
MAX_OUTPUT_BYTES = 64 * 1024


class DeviceProblem(Enum):
    """Why there is nothing to pick."""

    NO_PORTAUDIO = "no-portaudio"  # sounddevice or the PortAudio library is missing
    SOUND_SYSTEM_FAILED = "sound-system-failed"  # PortAudio itself failed to list
    NO_DEVICES = "no-devices"
    LISTING_FAILED = "listing-failed"  # the child did not answer in time, or not sensibly


@dataclass(frozen=True)
class DeviceList:
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    problem: DeviceProblem | None = None

    def as_json(self) -> dict[str, object]:
        return {"inputs": list(self.inputs), "outputs": list(self.outputs),
                "problem": self.problem.value if self.problem else None}


def list_devices() -> DeviceList:
    """The devices this process's PortAudio sees (as of its initialisation). Never raises.
    Blocking (PortAudio scans on first use), so call it off the trio loop."""
    try:
        sd = import_sounddevice()
    except AudioDeviceError:
        return DeviceList(problem=DeviceProblem.NO_PORTAUDIO)
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as exc:  # the host audio system itself failed
        log.warning("cannot list the sound devices: %s", exc)
        return DeviceList(problem=DeviceProblem.SOUND_SYSTEM_FAILED)
    inputs = _names(devices, "max_input_channels")
    outputs = _names(devices, "max_output_channels")
    if not inputs and not outputs:
        return DeviceList(problem=DeviceProblem.NO_DEVICES)
    return DeviceList(inputs, outputs)


def _names(devices: object, channels: str) -> tuple[str, ...]:
    names: list[str] = []
    for device in devices:  # type: ignore[attr-defined]
        name = str(device["name"])
        if device[channels] > 0 and name not in names:
            names.append(name)
    return tuple(names)


def decode_device_list(raw: bytes) -> DeviceList:
    """A child's answer as a DeviceList, bounded; anything malformed is LISTING_FAILED."""
    try:
        data = json.loads(raw)
        problem = DeviceProblem(data["problem"]) if data["problem"] is not None else None
        inputs = _decode_names(data["inputs"])
        outputs = _decode_names(data["outputs"])
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        log.warning("the device lister answered nonsense: %r", exc)
        return DeviceList(problem=DeviceProblem.LISTING_FAILED)
    return DeviceList(inputs, outputs, problem)


def _decode_names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError("not a list of names")
    names = tuple(name for name in value[:MAX_DEVICES]
                  if isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS)
    return tuple(dict.fromkeys(names))  # once each, in order


def main() -> None:
    print(json.dumps(list_devices().as_json()))


if __name__ == "__main__":
    main()
