"""A redis-server of our own on a free loopback port, for the cluster's tests, `make cluster`
and benchmarks/cluster.py: nothing saved to disk, ready when it says so, killed at the end."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import trio

REDIS_SERVER = shutil.which("redis-server")
NOT_INSTALLED = "redis-server is not installed (apt-get install redis-server; `make setup` does)"
_READY = b"Ready to accept connections"  # its log line once it listens


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process; `url` stays the same across a restart (same port)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError(NOT_INSTALLED)
        self._process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        await self._until_ready()

    async def _until_ready(self) -> None:
        """Until redis-server says it accepts connections (its log line on stdout), read
        without blocking the trio loop; then stop listening (it ignores a closed pipe)."""
        assert self._process is not None and self._process.stdout is not None
        log = trio.lowlevel.FdStream(os.dup(self._process.stdout.fileno()))
        self._process.stdout.close()
        seen = b""
        async with log:
            with trio.fail_after(10):
                while _READY not in seen:
                    chunk = await log.receive_some()
                    if not chunk:
                        raise RuntimeError("redis-server exited at start: "
                                           + seen.decode(errors="replace"))
                    seen = seen[-4096:] + chunk

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None
