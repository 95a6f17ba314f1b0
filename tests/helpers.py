"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import trio
import trio.testing


async def pump(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    """Copy bytes one way until either side ends, then close the sink (a relay's half)."""
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(sink)


async def settled(condition: Callable[[], bool], what: str) -> None:
    """Until `condition` holds, letting every task run (and the autojump clock move) between
    looks; for hub-side state that publishes no event."""
    for _ in range(10_000):
        if condition():
            return
        await trio.testing.wait_all_tasks_blocked()
    raise AssertionError(f"never {what}")
