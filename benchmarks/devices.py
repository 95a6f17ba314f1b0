"""What watching the sound devices costs: one fresh listing in a child process (what the
DeviceWatcher does every 5 s), beside re-reading PortAudio's list in this process (what a
fresh child must do at least, and what the app does before opening a device plugged in
since it started). Each figure is the median of RUNS, in the same run.

    python benchmarks/devices.py

Last line: `child_ms=X child_cpu_ms=Y inprocess_ms=Z` for scripts.
"""

from __future__ import annotations

import resource
import statistics
import time

import trio

from gossip.media.devices import refresh_portaudio
from gossip.media.devicewatch import WATCH_INTERVAL, list_devices_fresh

RUNS = 15


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def child_listings() -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(RUNS):
        cpu, start = children_cpu(), time.perf_counter()
        await list_devices_fresh()
        walls.append(time.perf_counter() - start)
        cpus.append(children_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def inprocess_rereads() -> float:
    refresh_portaudio()  # the first one also imports sounddevice
    walls = []
    for _ in range(RUNS):
        start = time.perf_counter()
        refresh_portaudio()
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def main() -> None:
    wall, cpu = trio.run(child_listings)
    inprocess = inprocess_rereads()
    print(f"fresh listing in a child:      {wall * 1000:6.1f} ms wall, {cpu * 1000:5.1f} ms CPU "
          f"(every {WATCH_INTERVAL:g} s: {cpu / WATCH_INTERVAL * 100:.2f} % of a core)")
    print(f"baseline, re-read in process:  {inprocess * 1000:6.1f} ms wall")
    print(f"child_ms={wall * 1000:.1f} child_cpu_ms={cpu * 1000:.1f} "
          f"inprocess_ms={inprocess * 1000:.1f}")


if __name__ == "__main__":
    main()
