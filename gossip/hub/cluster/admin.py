"""What the operator's commands ask a cluster's Redis: whether it and the hubs are there
(`gossip-hub --check`), and freeing a name (`gossip-hub user reset NAME --redis URL`)."""

from __future__ import annotations

import time

import coredis
import trio

from .failures import unavailable
from .keyspace import KEY_OWNERS, NAMES, hub_key, text


async def ping(url: str, *, timeout: float = 3.0) -> tuple[float, dict[str, str]]:
    """Round-trip time to Redis, and the hubs whose presence is there (id -> address)."""
    with unavailable(f"redis {url} is unreachable"), trio.fail_after(timeout):
        async with coredis.Redis.from_url(
            url, decode_responses=False, connect_timeout=timeout
        ) as client:
            await client.ping()  # the first one pays for the connection's handshake
            started = time.perf_counter()
            await client.ping()
            seconds = time.perf_counter() - started
            hubs: dict[str, str] = {}
            async for key in client.scan_iter(match=hub_key("*"), count=1000):
                hub = text(key).removeprefix(hub_key(""))
                address = await client.get(key)
                hubs[hub] = text(address) if address is not None else ""
    return seconds, hubs


async def reset_name(url: str, user: str, *, timeout: float = 3.0) -> bool:
    """Free `user` in a cluster's name directory (gossip-hub user reset); False if free."""
    script = """
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if not owner then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], owner)
return 1
"""
    with unavailable(f"redis {url} is unreachable"), trio.fail_after(timeout):
        async with coredis.Redis.from_url(url, connect_timeout=timeout) as client:
            return bool(await client.eval(script, [NAMES, KEY_OWNERS], [user]))
