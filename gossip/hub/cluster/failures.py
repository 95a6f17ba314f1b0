"""How a broken link to Redis shows, and how it is turned into one error a caller can act on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import trio
from coredis.exceptions import RedisError

from .backend import ClusterUnavailable


class Resync(Exception):
    """The link must start over (and resync) though Redis may be up."""


# How a broken link shows: coredis's errors, the socket's, and (when the connection went
# away under it) anyio's closed streams inside coredis.
LINK_ERRORS = (
    RedisError,
    OSError,
    Resync,
    trio.TooSlowError,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
)


@contextmanager
def unavailable(what: str, advice: str = "") -> Iterator[None]:
    """Turn a broken link (coredis raises some errors inside exception groups) into one
    ClusterUnavailable saying `what` (the first reason), then `advice`."""
    reason = None
    try:
        yield
    except* LINK_ERRORS as group:
        reason = first_reason(group) or "no answer"
    if reason is not None:
        raise ClusterUnavailable(f"{what} ({reason}){advice}")


def first_reason(group: BaseExceptionGroup[Any]) -> str:
    """What the first error in `group` says (its class, for one that says nothing)."""
    leaves = list(_leaves(group))
    first = leaves[0] if leaves else group
    return str(first) or type(first).__name__


def _leaves(error: BaseException) -> Any:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error
