"""`gossip-hub --check`: can this hub reach its cluster's Redis, and the hubs it lists?"""

from __future__ import annotations

import sys

import trio

from .cluster.admin import ping
from .cluster.backend import ClusterUnavailable
from .config import HubConfig

_TIMEOUT = 3.0


async def check_command(config: HubConfig) -> int:
    """Print what was reached; 0 if everything was, 1 if not."""
    if config.redis is None:
        print("not in a cluster (no redis configured): nothing to reach")
        return 0
    try:
        seconds, hubs = await ping(config.redis, timeout=_TIMEOUT)
    except ClusterUnavailable as exc:
        print(
            f"{exc}: start it, or fix the address (redis://HOST:PORT/DB)",
            file=sys.stderr,
        )
        return 1
    print(f"redis {config.redis}: reachable, {seconds * 1000:.2f} ms round trip")
    if not hubs:
        print("no hub of this cluster is running")
    failed = 0
    for hub, address in sorted(hubs.items()):
        reached = await _reach(address)
        failed += not reached
        print(f"hub {hub} at {address or '?'}: {'reachable' if reached else 'UNREACHABLE'}")
    return 1 if failed else 0


async def _reach(address: str) -> bool:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return False
    with trio.move_on_after(_TIMEOUT):
        try:
            stream = await trio.open_tcp_stream(host, int(port))
        except OSError:
            return False
        await stream.aclose()
        return True
    return False
