"""`make cluster`: Redis and three hubs on loopback as one cluster, one client on each, and a
message that crosses hubs.

    python scripts/cluster_demo.py

Everything lives in a temporary directory and stops at the end. The hubs share one
certificate (made here, copied into each hub's data directory: how an operator runs a
cluster), so each client pins it once for all three.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.commands import SendChat
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.crypto import load_or_create_hub_certificate
from gossip.crypto.hubcert import CERT_FILE, KEY_FILE
from gossip.hub.check import check_command
from gossip.hub.config import HubConfig
from gossip.tools.redisserver import RedisServer

HUBS = 3
USERS = ("alice", "bob", "carol")
_READY = re.compile(rb"gossip hub .* on ([\d.]+):(\d+),")
_TIMEOUT = 60.0


@asynccontextmanager
async def redis_server(directory: Path) -> AsyncIterator[str]:
    server = RedisServer(directory)
    try:
        await server.start()
    except RuntimeError as problem:
        sys.exit(str(problem))
    try:
        print(f"redis-server on 127.0.0.1:{server.port}")
        yield server.url
    finally:
        server.kill()


async def start_hub(
    nursery: trio.Nursery, number: int, data_dir: Path, redis: str, password: str
) -> tuple[trio.Process, int]:
    process = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "gossip.hub",
            "--port",
            "0",
            "--name",
            f"demo hub {number}",
            "--data-dir",
            str(data_dir),
            "--redis",
            redis,
        ],
        env={**os.environ, "GOSSIP_HUB_PASSWORD": password},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    stderr, seen = process.stderr, b""
    with trio.fail_after(_TIMEOUT):
        while (match := _READY.search(seen)) is None:
            chunk = await stderr.receive_some()
            if not chunk:
                sys.exit(f"hub {number} did not start:\n{seen.decode()}")
            seen += chunk

    async def drain() -> None:  # its log, read so that a full pipe never stalls it
        while await stderr.receive_some():
            pass

    nursery.start_soon(drain)
    port = int(match.group(2))
    print(f"hub {number} on 127.0.0.1:{port}")
    return process, port


async def main() -> None:
    password = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory(prefix="gossip-cluster-") as work:
        root = Path(work)
        async with redis_server(root) as redis, trio.open_nursery() as nursery:
            # One certificate for the cluster: made once, copied into every hub's directory.
            dirs = [root / f"hub-{number}" for number in range(1, HUBS + 1)]
            certificate = load_or_create_hub_certificate(dirs[0], "demo cluster")
            for directory in dirs[1:]:
                directory.mkdir(mode=0o700)
                for name in (CERT_FILE, KEY_FILE):
                    shutil.copy2(dirs[0] / name, directory / name)
            print(f"cluster certificate {certificate.fingerprint}")
            hubs = [
                await start_hub(nursery, number, directory, redis, password)
                for number, directory in enumerate(dirs, 1)
            ]
            ports = [port for _, port in hubs]
            clients = []
            for user, port in zip(USERS, ports, strict=True):
                others = tuple(("127.0.0.1", other) for other in ports if other != port)
                send, events = trio.open_memory_channel[ev.SessionEvent](1000)
                profile = Profile.open(user, root / "profiles" / user)
                session = Session(
                    profile, SessionConfig("127.0.0.1", port, password, other_hubs=others), send
                )
                nursery.start_soon(run_actor, session)
                with trio.fail_after(_TIMEOUT):
                    await session.synced.wait()
                print(f"{user} signed in on hub {ports.index(port) + 1}")
                clients.append((user, session, events))
            # Alice writes once everyone is in her key list.
            _, alice, alice_events = clients[0]
            with trio.fail_after(_TIMEOUT):
                seen: set[str] = set()
                async for event in alice_events:
                    if isinstance(event, ev.MemberJoined):
                        seen.add(event.user)
                    if seen >= set(USERS[1:]):
                        break
            text = "hello from hub 1"
            await alice.ref.ask(SendChat("general", text, 300))
            print(f"alice (hub 1) sent: {text!r}")
            for user, _, events in clients[1:]:
                with trio.fail_after(_TIMEOUT):
                    async for event in events:
                        if isinstance(event, ev.MessageReceived):
                            message = event.message
                            hub = USERS.index(user) + 1
                            print(
                                f"{user} (hub {hub}) received from {message.sender}: "
                                f"{message.text!r} (verified: {message.verified})"
                            )
                            break
            print("\ngossip-hub --check, as an operator would run it:")
            await check_command(HubConfig(password="-", redis=redis))
            nursery.cancel_scope.cancel()
        for process, _ in hubs:
            process.kill()
    print("cluster stopped")


if __name__ == "__main__":
    trio.run(main)
