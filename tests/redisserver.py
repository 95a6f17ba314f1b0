"""A real redis-server for cluster tests: started on a free loopback port in a temporary
directory, with nothing saved to disk, and stopped (or killed and restarted) by the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from gossip.tools.redisserver import NOT_INSTALLED, REDIS_SERVER, RedisServer

__all__ = ["RedisServer", "needs_redis", "running_redis"]

needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason=NOT_INSTALLED)


@asynccontextmanager
async def running_redis(directory: Path) -> AsyncIterator[RedisServer]:
    """A redis-server for the length of the block (skips the test if there is none)."""
    if REDIS_SERVER is None:
        pytest.skip(NOT_INSTALLED)
    server = RedisServer(directory)
    await server.start()
    try:
        yield server
    finally:
        server.kill()
