"""Messages per second through a real hub on loopback: one sender, N listening members.

Every message is sealed (signed + encrypted to all members) by the sender, relayed by the hub
and opened and checked by each receiver. Prints end-to-end messages per second and the
per-message send cost the sender paid, for channels of 2, 10 and 50 members.
Run: python benchmarks/chat_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import trio

from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.commands import SendChat
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.hub import HubConfig, serve_hub


async def measure(members: int, messages: int, workdir: Path) -> tuple[float, float]:
    config = HubConfig(name="bench", port=0, password="bench", data_dir=workdir / "hub",
                       channels=("general",))
    async with trio.open_nursery() as nursery:
        hub = await nursery.start(serve_hub, config)
        received = 0
        all_in = trio.Event()
        sessions = []
        for index in range(members):
            send, receive = trio.open_memory_channel[ev.SessionEvent](10_000)
            profile = Profile.open(f"user{index}", workdir / f"user{index}")
            session = Session(profile, SessionConfig("127.0.0.1", hub.port, "bench"), send)
            nursery.start_soon(run_actor, session)
            sessions.append(session)

            async def count(events: trio.MemoryReceiveChannel[ev.SessionEvent]) -> None:
                nonlocal received
                async for event in events:
                    if isinstance(event, ev.MessageReceived):
                        received += 1
                        if received == messages * (members - 1):
                            all_in.set()

            if index:
                nursery.start_soon(count, receive)
            else:
                nursery.start_soon(_drain, receive)
            # One at a time: in this one process every member parses every other's key.
            await session.synced.wait()
        sender = sessions[0].ref
        start = time.perf_counter()
        send_time = 0.0
        for number in range(messages):
            before = time.perf_counter()
            await sender.ask(SendChat("general", f"message {number}", 600))
            send_time += time.perf_counter() - before
        with trio.fail_after(300):
            await all_in.wait()
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return messages / elapsed, send_time / messages * 1000


async def _drain(events: trio.MemoryReceiveChannel[ev.SessionEvent]) -> None:
    async for _ in events:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer messages (under a minute)")
    args = parser.parse_args()
    messages = 30 if args.quick else 100
    for members in (2, 10, 50):
        with tempfile.TemporaryDirectory() as tmp:
            rate, cost = trio.run(measure, members, messages, Path(tmp))
        print(f"{members:3d} members: {rate:7.1f} messages/s end to end "
              f"(every member opens and checks each), sender waits {cost:6.2f} ms/message "
              "(all members share this one process and its CPU)")


if __name__ == "__main__":
    main()
