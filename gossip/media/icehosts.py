"""Which local addresses ICE offers: ours to choose, per peer link, instead of every interface.

aioice gathers host candidates from `aioice.ice.get_host_addresses()`, which lists every
interface and always leaves out loopback. It has no parameter for this, so we replace that one
function with a version that returns the caller's list when one is set in a context variable
and otherwise behaves exactly like the original. `gather_with_hosts()` sets the variable for
one awaited aiortc call; asyncio copies context into the tasks that call spawns, and aioice
calls the function synchronously at the start of gathering, so each link sees only its own list.
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aioice.ice

T = TypeVar("T")

_original_get_host_addresses = aioice.ice.get_host_addresses
_hosts: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "gossip_ice_hosts", default=None
)


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    hosts = _hosts.get()
    if hosts is None:
        return _original_get_host_addresses(use_ipv4, use_ipv6)
    chosen = []
    for host in hosts:
        version = ipaddress.ip_address(host).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            chosen.append(host)
    return chosen


def install() -> None:
    """Put our address chooser in aioice (idempotent; the media loop calls it on entry)."""
    aioice.ice.get_host_addresses = _get_host_addresses


def interface_addresses() -> list[str]:
    """What aioice would offer by default: every non-loopback interface address."""
    return _original_get_host_addresses(use_ipv4=True, use_ipv6=True)


def check_hosts(hosts: Sequence[str]) -> tuple[str, ...]:
    """Validate a list of literal IP addresses (no names: nothing here may do DNS)."""
    checked = []
    for host in hosts:
        try:
            checked.append(str(ipaddress.ip_address(host)))
        except ValueError as exc:
            raise ValueError(f"ICE host must be a literal IP address, got {host!r}") from exc
    return tuple(checked)


async def gather_with_hosts(hosts: Sequence[str], call: Callable[..., Awaitable[T]],
                            *args: Any) -> T:
    """Await `call(*args)` (an aiortc coroutine function) with ICE limited to `hosts`.

    Run it on the asyncio side (through trio_asyncio.aio_as_trio), so the variable is set in
    the asyncio task that aiortc's gathering tasks inherit from.
    """
    install()
    token = _hosts.set(check_hosts(hosts))
    try:
        return await call(*args)
    finally:
        _hosts.reset(token)
