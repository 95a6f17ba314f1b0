"""A call's microphone or speakers unplugged mid-call: the end is reopened on the system's
default device (or on silence, when there is none) and the owner is told what happened.

PortAudio says nothing to the program when a device goes: its stream thread ends (ALSA
answers -ENODEV), or on some hosts its callbacks just stop (gossip.media.devices.StreamLife
tells both). So the ends are looked at a few times a second; a look is a few attribute reads.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from .devicekind import DeviceKind
from .sinks import AudioSink, NullSink
from .sources import AudioSource, NullSource
from .switchable import (
    End,
    Swappable,
    SwitchableSink,
    SwitchableSource,
    open_default_sink,
    open_default_source,
)

if TYPE_CHECKING:
    from outcome import Outcome  # trio's own

log = logging.getLogger("gossip.media.devices")

CHECK_INTERVAL = 0.25  # seconds between looks: a quarter second of silence at worst
# Reopenings per end and call: a default device that dies as soon as it opens must not make
# us open devices four times a second for the rest of the call. Past this, silence.
MAX_FALLBACKS = 3


@dataclass(frozen=True)
class LostDevice:
    """The `kind` of device named `device` ("" = the default) went away; the call now uses
    the default, or nothing if `problem` says why not."""

    kind: DeviceKind
    device: str
    problem: str = ""


def switchable_source(source: AudioSource) -> AudioSource:
    """A device source wrapped so that it can be replaced mid-call (others as they are)."""
    if source.is_device and not isinstance(source, SwitchableSource):
        return SwitchableSource(source)
    return source


def switchable_sink(sink: AudioSink) -> AudioSink:
    if sink.is_device and not isinstance(sink, SwitchableSink):
        return SwitchableSink(sink)
    return sink


async def replace_lost_devices(source: AudioSource, sink: AudioSink,
                               report: Callable[[LostDevice], Awaitable[None]], *,
                               interval: float = CHECK_INTERVAL) -> None:
    """Until cancelled: when the device inside `source` or `sink` (switchable ones; others
    have no device to lose) is lost, put the default in its place and `report` it."""
    fallbacks = dict.fromkeys(DeviceKind, 0)
    while True:
        await trio.sleep(interval)
        if isinstance(source, SwitchableSource) and source.lost:
            await _fall_back(source, DeviceKind.MICROPHONE, fallbacks, open_default_source,
                             NullSource, "it went away too often", report)
        if isinstance(sink, SwitchableSink) and sink.lost:
            await _fall_back(sink, DeviceKind.SPEAKERS, fallbacks, open_default_sink,
                             NullSink, "they went away too often", report)


async def _fall_back(end: Swappable[End], kind: DeviceKind, fallbacks: dict[DeviceKind, int],
                     open_default: Callable[[], tuple[End, str]], silent: Callable[[], End],
                     too_often: str, report: Callable[[LostDevice], Awaitable[None]]) -> None:
    """Put the default (or, past MAX_FALLBACKS, silence) in place of `end`'s lost device."""
    lost = end.device_name
    fallbacks[kind] += 1
    fresh, problem = (await trio.to_thread.run_sync(open_default)
                      if fallbacks[kind] <= MAX_FALLBACKS else (silent(), too_often))
    old = end.fall_back(fresh)
    # Told first: closing a device that went away can take long, or for ever.
    await _report(report, LostDevice(kind, lost, problem))
    _close_soon(old)

def _close_soon(end: AudioSource | AudioSink) -> None:
    """Close a lost device's end in a thread of its own, waited for by nobody: closing a
    device that went away can hang on some hosts, and neither the other end's watch nor the
    call's end may wait for it."""

    def closed(result: Outcome[None]) -> None:
        try:
            result.unwrap()
        except Exception as exc:  # PortAudio's view of a device that is gone: nothing to do
            log.info("closing a lost device failed: %r", exc)

    trio.lowlevel.start_thread_soon(end.close, closed)


async def _report(report: Callable[[LostDevice], Awaitable[None]], lost: LostDevice) -> None:
    log.info("the %s %r went away; now %s", lost.kind, lost.device or "(default)",
             f"none ({lost.problem})" if lost.problem else "the default")
    await report(lost)
