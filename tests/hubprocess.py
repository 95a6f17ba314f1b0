"""A hub in a process of its own (`python -m gossip.hub`), for tests that kill it with -9."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import trio

_READY = re.compile(rb"gossip hub .* on ([\d.]+):(\d+),")
_ROOT = Path(__file__).resolve().parents[1]


async def start_hub_process(nursery: trio.Nursery, config: Path) -> tuple[trio.Process, int]:
    """Start a hub from a TOML config; returns the process and its port once it listens. Its
    log is read (and dropped) for as long as it runs, so a full pipe never stalls it."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "gossip.hub", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    stderr = process.stderr
    seen = b""
    with trio.fail_after(60):
        while (match := _READY.search(seen)) is None:
            chunk = await stderr.receive_some()
            if not chunk:
                raise AssertionError(f"the hub process exited at start: {seen.decode()}")
            seen += chunk

    async def drain() -> None:
        while await stderr.receive_some():
            pass

    nursery.start_soon(drain)
    return process, int(match.group(2))
