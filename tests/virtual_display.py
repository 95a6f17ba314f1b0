"""A private X display (Xvfb) for tests and scripts/screenshots.py: started on a free display
number (Xvfb picks it and reports it through -displayfd) and killed when the block ends."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

START_TIMEOUT = 15.0


class VirtualDisplayError(Exception):
    """Xvfb is missing or did not come up."""


@contextmanager
def virtual_display(width: int = 1280, height: int = 800) -> Iterator[str]:
    """Run Xvfb for the block; yields the display name (":N") to put in DISPLAY."""
    binary = shutil.which("Xvfb")
    if binary is None:
        raise VirtualDisplayError("Xvfb is not installed (Debian: apt-get install xvfb)")
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [binary, "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24",
         "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        number = _read_display_number(read_end)
        yield f":{number}"
    finally:
        os.close(read_end)
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_display_number(fd: int) -> int:
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], START_TIMEOUT)
        if not ready:
            raise VirtualDisplayError(f"Xvfb did not start within {START_TIMEOUT:.0f} s")
        chunk = os.read(fd, 64)
        if not chunk:
            raise VirtualDisplayError("Xvfb exited before reporting its display")
        data += chunk
    return int(data.strip())
