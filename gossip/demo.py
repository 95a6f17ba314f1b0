"""Demo mode: an in-process hub and scripted users chatting through it, with no network
beyond loopback. The terminal demo prints the conversation as a receiving client sees it;
the desktop app reuses the same scene."""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, TextIO

import trio

from gossip.actors.actor import run_actor

from gossip.client import events as ev
from gossip.client.profile import Profile
from gossip.client.session import SendChat, Session, SessionConfig
from gossip.hub import HubConfig, RunningHub, serve_hub

# (speaker, channel, text, seconds to live)
SCRIPT: tuple[tuple[str, str, str, float], ...] = (
    ("alice", "general", "hi bob, is this thing on?", 600),
    ("bob", "general", "loud and clear. the hub only sees ciphertext, right?", 600),
    ("alice", "general", "right: signed by me, sealed to you, relayed blind", 600),
    ("bob", "random", "this one self-destructs in 20 seconds", 20),
    ("alice", "general", "compare safety numbers with `gossip-cli key safety bob`", 600),
)


@dataclass
class DemoScene:
    hub: RunningHub
    password: str
    workdir: Path
    sessions: dict[str, Session]


@asynccontextmanager
async def open_demo_scene(users: tuple[str, ...] = ("alice", "bob"),
                          events: dict[str, trio.MemorySendChannel[ev.SessionEvent]] | None = None,
                          ) -> AsyncIterator[DemoScene]:
    """Start a hub on a free loopback port and a synced session per scripted user."""
    with tempfile.TemporaryDirectory(prefix="gossip-demo-") as tmp:
        workdir = Path(tmp)
        password = secrets.token_urlsafe(12)
        config = HubConfig(name="demo hub", host="127.0.0.1", port=0, password=password,
                           channels=("general", "random"), data_dir=workdir / "hub")
        async with trio.open_nursery() as nursery:
            hub: RunningHub = await nursery.start(serve_hub, config)
            sessions: dict[str, Session] = {}
            for user in users:
                sink = (events or {}).get(user)
                if sink is None:
                    sink, drain = trio.open_memory_channel[ev.SessionEvent](256)
                    nursery.start_soon(_discard, drain)
                profile = Profile.open(user, workdir / "profiles" / user)
                session = Session(profile, SessionConfig("127.0.0.1", hub.port, password), sink)
                nursery.start_soon(run_actor, session)
                sessions[user] = session
            with trio.fail_after(30):
                for session in sessions.values():
                    await session.synced.wait()
            yield DemoScene(hub, password, workdir, sessions)
            nursery.cancel_scope.cancel()


async def play_script(scene: DemoScene, pause: float = 1.5) -> None:
    for speaker, channel, text, ttl in SCRIPT:
        await scene.sessions[speaker].ref.ask(SendChat(channel, text, ttl))
        await trio.sleep(pause)


async def run_terminal_demo(out: TextIO = sys.stdout, quit_after: float | None = None) -> None:
    """Print what bob's and alice's clients receive while the script plays."""
    send_alice, seen_by_alice = trio.open_memory_channel[ev.SessionEvent](256)
    send_bob, seen_by_bob = trio.open_memory_channel[ev.SessionEvent](256)
    async with open_demo_scene(events={"alice": send_alice, "bob": send_bob}) as scene:
        print(f"demo hub on 127.0.0.1:{scene.hub.port}, certificate {scene.hub.fingerprint}",
              file=out, flush=True)
        with trio.move_on_after(quit_after if quit_after is not None else float("inf")):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_show, "alice", seen_by_alice, out)
                nursery.start_soon(_show, "bob", seen_by_bob, out)
                await play_script(scene)
                print("script done; messages expire as they go (Ctrl-C to quit)",
                      file=out, flush=True)
                if quit_after is None:
                    await trio.sleep(25)  # long enough to watch the short-lived one expire
                nursery.cancel_scope.cancel()


async def _show(viewer: str, events: trio.MemoryReceiveChannel[ev.SessionEvent],
                out: TextIO) -> None:
    async for event in events:
        if isinstance(event, ev.MessageReceived):
            m = event.message
            mark = "verified" if m.verified else "NOT VERIFIED"
            print(f"[{viewer}'s screen] #{m.channel} <{m.sender}> {m.text}  "
                  f"({mark}, expires in {m.expires_at - time.time():.0f} s)", file=out,
                  flush=True)
        elif isinstance(event, ev.MessageExpired):
            print(f"[{viewer}'s screen] message {event.id[:8]} in #{event.channel} expired "
                  "and was deleted", file=out, flush=True)
        elif isinstance(event, ev.KeyChanged):
            print(f"[{viewer}'s screen] WARNING: {event.user}'s key changed", file=out,
                  flush=True)


async def _discard(events: trio.MemoryReceiveChannel[ev.SessionEvent]) -> None:
    async for _ in events:
        pass
