"""Noticing sound devices that come and go: the DeviceWatcher actor lists the devices afresh
every few seconds (or when asked) and tells its owner when the list changed.

PortAudio reads the device list once, when it initialises, and re-initialising it in this
process would close the call's open streams; so each listing runs in a short-lived child
(`python -m gossip.media.devicelist`) whose fresh PortAudio sees what is plugged in now. A
listing costs the child's start-up (70-90 ms of CPU here, benchmarks/devices.py), hence the
slow timer. Re-reading in this process would cost less (6 ms) but only while no stream is
open, and sounddevice points the whole process's stderr at /dev/null while it does.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import trio

from gossip.actors import Actor, Request

from .devicelist import MAX_OUTPUT_BYTES, DeviceList, DeviceProblem, decode_device_list

log = logging.getLogger("gossip.media.devices")

WATCH_INTERVAL = 5.0  # seconds between listings
LIST_TIMEOUT = 10.0  # a sound server that does not answer must not hold the watcher


async def list_devices_fresh(timeout: float = LIST_TIMEOUT) -> DeviceList:
    """The devices as a fresh PortAudio sees them now, listed in a child process. Never
    raises (but for cancellation): a child that fails, hangs or says too much gives
    LISTING_FAILED, and is killed."""
    try:
        with trio.fail_after(timeout):
            child = await trio.lowlevel.open_process(
                [sys.executable, "-m", "gossip.media.devicelist"], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            try:
                raw = await _read_bounded(child)
                returncode = await child.wait()
            finally:
                if child.returncode is None:  # timed out, cancelled or said too much
                    child.kill()
                with trio.CancelScope(shield=True):
                    await child.wait()  # reaped, never left a zombie
                if child.stdout is not None:
                    await child.stdout.aclose()
    except (OSError, ValueError, trio.TooSlowError) as exc:
        log.warning("cannot list the sound devices: %r", exc)
        return DeviceList(problem=DeviceProblem.LISTING_FAILED)
    if returncode != 0:
        log.warning("the device lister exited with %d", returncode)
        return DeviceList(problem=DeviceProblem.LISTING_FAILED)
    return decode_device_list(raw)


async def _read_bounded(child: trio.Process) -> bytes:
    """All the child prints, or ValueError past MAX_OUTPUT_BYTES (then it is not an answer:
    reading one byte past the bound tells)."""
    assert child.stdout is not None
    raw = bytearray()
    while len(raw) <= MAX_OUTPUT_BYTES:
        chunk = await child.stdout.receive_some(MAX_OUTPUT_BYTES + 1 - len(raw))
        if not chunk:
            return bytes(raw)
        raw += chunk
    raise ValueError("the device lister said too much")


@dataclass(frozen=True)
class RefreshDevices(Request[DeviceList]):
    """List the devices now (a picker was opened, or a test wants to know); the answer is
    the fresh list, and the owner is told first if it changed."""


class DeviceWatcher(Actor):
    """Lists the devices at start and every `interval` seconds; calls `changed(devices)` on
    the trio thread with the first list and each one that differs from the last.

    A listing that failed (LISTING_FAILED) keeps the last good list rather than emptying the
    pickers for one slow start of the child.
    """

    def __init__(self, changed: Callable[[DeviceList], None], *,
                 interval: float = WATCH_INTERVAL) -> None:
        self._changed = changed
        self._interval = interval
        self._last: DeviceList | None = None
        self._listing = trio.Lock()  # one child at a time, the timer's or an asker's

    async def main(self) -> None:
        self.nursery.start_soon(self.serve)
        while True:
            await self._refresh()
            await trio.sleep(self._interval)

    async def receive(self, message: object) -> object:
        if isinstance(message, RefreshDevices):
            return await self._refresh()
        raise TypeError(f"DeviceWatcher does not take {type(message).__name__}")

    async def _refresh(self) -> DeviceList:
        async with self._listing:
            devices = await list_devices_fresh()
            if devices.problem is DeviceProblem.LISTING_FAILED and self._last is not None:
                return self._last
            if devices != self._last:
                self._last = devices
                self._changed(devices)
            return devices
