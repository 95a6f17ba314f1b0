"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import trio


async def pump(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    """Copy bytes one way until either side ends, then close the sink (a relay's half)."""
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(sink)
