"""One side of benchmarks/files.py, in a process of its own (so its peak memory is its own).

    _fileclient.py send PORT PROFILE PATH      upload PATH to `general`, post it
    _fileclient.py recv PORT PROFILE DIR       wait for one file message, save it into DIR
    _fileclient.py bare PORT PATH DIR          copy PATH up to a bare WebSocket server and
                                               back down into DIR

Each prints one JSON line: wall-clock start and end of the transfer, and its peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import trio
from trio_websocket import open_websocket_url

from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.filesend import save_file, send_file
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig

PASSWORD = "bench"
CHUNK = 64 * 1024


def _report(**fields: object) -> None:
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**fields, "rss_mib": round(peak_kib / 1024, 1)}), flush=True)


async def gossip_side(role: str, port: int, profile_dir: Path, target: Path) -> None:
    send, events = trio.open_memory_channel[ev.SessionEvent](10_000)
    profile = Profile.open(profile_dir.name, profile_dir)
    session = Session(profile, SessionConfig("127.0.0.1", port, PASSWORD, tls=False), send)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_actor, session)
        with trio.fail_after(60):
            await session.synced.wait()
        if role == "recv":
            print(json.dumps({"ready": True}), flush=True)
            async for event in events:
                if isinstance(event, ev.MessageReceived) and event.message.file is not None:
                    start = time.time()
                    saved = await save_file(session.ref, event.message, target)
                    _report(start=start, end=time.time(), sha256=saved.sha256)
                    break
        else:
            async for event in events:  # the receiver is a member before we send
                if isinstance(event, ev.MemberJoined) and event.user == "bob":
                    break
            start = time.time()
            await send_file(session.ref, target, channel="general", ttl=3600)
            _report(start=start, end=time.time())
        nursery.cancel_scope.cancel()


async def bare_side(port: int, source: Path, inbox: Path) -> None:
    start = time.time()
    async with open_websocket_url(f"ws://127.0.0.1:{port}/put", max_message_size=1 << 20) as ws:
        with source.open("rb") as reading:
            while block := reading.read(CHUNK):
                await ws.send_message(block)
        await ws.send_message(b"")
        await ws.get_message()  # the server's "stored"
    inbox.mkdir(parents=True, exist_ok=True)
    size, got = source.stat().st_size, 0
    async with open_websocket_url(f"ws://127.0.0.1:{port}/get", max_message_size=1 << 20) as ws:
        with (inbox / "copy").open("wb") as sink:
            while got < size:
                block = await ws.get_message()
                assert isinstance(block, bytes)
                sink.write(block)
                got += len(block)
    _report(start=start, end=time.time())


def main() -> None:
    role, port = sys.argv[1], int(sys.argv[2])
    if role in ("send", "recv"):
        trio.run(gossip_side, role, port, Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        trio.run(bare_side, port, Path(sys.argv[3]), Path(sys.argv[4]))


if __name__ == "__main__":
    main()
