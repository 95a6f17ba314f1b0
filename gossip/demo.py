"""Demo mode: an in-process hub and scripted users chatting through it, with no network
beyond loopback. The terminal demo prints the conversation as a receiving client sees it;
the desktop app reuses the same scene, and some of its users hold a call on test tones."""

from __future__ import annotations

import random
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import trio

from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.calltypes import CallOptions
from gossip.client.commands import JoinCall, SendChat
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.hub import HubConfig, RunningHub, serve_hub
from gossip.media.format import FRAME_SAMPLES, Frame
from gossip.media.sources import AudioSource, ToneSource

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


# -- the desktop app's demo scene ------------------------------------------------------------
# The app's own user joins as a third party and sees a lived-in hub: a verified contact, a
# pinned one, a newcomer, and someone whose key changed since last time.

APP_USERS = ("alice", "bob", "carol", "dave")
# (speaker, channel, text, seconds to live), sent once the viewer is online.
APP_OPENING: tuple[tuple[str, str, str, float], ...] = (
    ("alice", "general", "Morning! Standup notes are in the usual place.", 3600),
    ("carol", "general", ("Reminder: the hub only relays ciphertext. Nothing here is "
                          "readable on the server."), 3600),
    ("bob", "general", ("New laptop, so my key changed. Please check my safety number "
                        "before you trust it."), 3600),
    ("dave", "general", "Hi everyone, first time here 👋 Привет! Γειά σου! こんにちは", 900),
    ("alice", "general", ("Welcome dave! Messages disappear on their own: pick how long "
                          "next to the message box."), 900),
    ("carol", "general", "This one self-destructs in 45 seconds ⏳", 45),
    ("dave", "random", "Anyone up for a call later?", 1800),
    ("alice", "random", "Sure, after lunch 🍜 ラーメン?", 1800),
)
APP_CHATTER: tuple[tuple[str, str, str, float], ...] = (
    ("carol", "general", "Build is green again ✅", 120),
    ("dave", "general", "Short-lived note: the door code is 4711.", 30),
    ("alice", "general", "bob, we compared numbers on the phone: all good on my side.", 300),
    ("bob", "random", "Lunch in 10? 寿司 or 한식 🍣", 90),
    ("carol", "general", "Release notes drafted; comments welcome until 3.", 600),
    ("dave", "random", "The coffee machine works again ☕ café très bon", 60),
)


def prepare_viewer(scene: DemoScene, viewer: str) -> Path:
    """Give the viewer's profile a history: alice verified, carol pinned, and bob pinned with
    an older key than the one he now has, so his key shows as changed. Returns its dir."""
    from gossip.crypto import Identity

    directory = scene.workdir / "profiles" / viewer
    pins = Profile.open(viewer, directory).pins

    def fingerprint(user: str) -> str:
        return Profile.open(user, scene.workdir / "profiles" / user).identity.fingerprint

    if "alice" in scene.sessions:
        pins.check("alice", fingerprint("alice"))
        pins.verify("alice", fingerprint("alice"))
    if "carol" in scene.sessions:
        pins.check("carol", fingerprint("carol"))
    if "bob" in scene.sessions:
        pins.check("bob", Identity.generate("bob").fingerprint)  # bob's "old laptop"
    return directory


# Who holds the call in #general with the viewer, each on a tone of their own (Hz). Not bob:
# his key changed, and a client links only to keys it has accepted. Each member of a call
# costs CPU for every other (a mesh, all in this one process), so the call stays small.
APP_CALL_CHANNEL = "general"
APP_CALLERS: tuple[tuple[str, float], ...] = (("alice", 523.25), ("carol", 659.25))
VIEWER_TONE = 392.0
LOOPBACK = ("127.0.0.1",)
# Everyone in the demo's call sends a test pattern, small and slow: every encoder and decoder
# of the mesh runs in this one process, next to the window.
DEMO_VIDEO = "pattern"
DEMO_VIDEO_SIZE = (320, 180)
DEMO_VIDEO_FPS = 12.0


class SpeakingTone(AudioSource):
    """A tone that talks: bursts of a sine at `hz`, at varying loudness, with pauses between,
    so level meters move as they would with speech. The same seed gives the same talk."""

    def __init__(self, hz: float, seed: int, *, loudest: float = 0.35) -> None:
        self._tone = ToneSource(hz, 1.0)
        self._random = random.Random(seed)
        self._loudest = loudest
        self._gain = 0.0
        self._target = 0.0
        self._frames_left = 0

    def read(self) -> Frame:
        if self._frames_left <= 0:
            talking = self._random.random() < 0.7
            self._target = self._random.uniform(0.05, self._loudest) if talking else 0.0
            self._frames_left = self._random.randint(8, 25) if talking else \
                self._random.randint(4, 30)
        self._frames_left -= 1
        start = self._gain
        self._gain += (self._target - self._gain) * 0.4
        # A ramp across the frame, so loudness changes do not click.
        envelope = np.linspace(start, self._gain, FRAME_SAMPLES)
        return np.round(self._tone.read() * envelope).astype(np.int16)


def viewer_source() -> AudioSource:
    """The app's own voice in the demo: a tone of its own."""
    return SpeakingTone(VIEWER_TONE, seed=0)


async def join_demo_call(scene: DemoScene, callers: tuple[tuple[str, float], ...],
                         channel: str = APP_CALL_CHANNEL) -> None:
    """Have the scripted `callers` join `channel`'s call: test tones and a test pattern in,
    sound discarded, loopback only."""
    width, height = DEMO_VIDEO_SIZE
    for seed, (user, hz) in enumerate(callers, 1):
        options = CallOptions(source=SpeakingTone(hz, seed), sink="null", ice_hosts=LOOPBACK,
                              video=DEMO_VIDEO, video_width=width, video_height=height,
                              video_fps=DEMO_VIDEO_FPS)
        await scene.sessions[user].ref.ask(JoinCall(channel, options))


async def run_app_scene(connect: Callable[[str, int, str, str, Path], Awaitable[None]],
                        settled: Callable[[int, int], None], *, viewer: str = "you",
                        pause: float = 0.4, chatter_pause: float = 6.0,
                        callers: tuple[tuple[str, float], ...] = APP_CALLERS) -> None:
    """Run the app's demo scene until cancelled: start the hub and the scripted users, have
    the viewer connect (through `connect`), start the call, play the opening, report it with
    `settled` (the number of messages the viewer should have by then, and of peers its call
    should be linked to once it joins), then keep chatting."""
    watch_send, watch = trio.open_memory_channel[ev.SessionEvent](256)
    async with open_demo_scene(APP_USERS, events={"alice": watch_send}) as scene:
        profile_dir = await trio.to_thread.run_sync(prepare_viewer, scene, viewer)
        await connect("127.0.0.1", scene.hub.port, viewer, scene.password, profile_dir)
        with trio.fail_after(30):
            async for event in watch:
                if isinstance(event, ev.MemberJoined) and event.user == viewer:
                    break
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_discard, watch)
            await join_demo_call(scene, callers)
            for speaker, channel, text, ttl in APP_OPENING:
                await scene.sessions[speaker].ref.ask(SendChat(channel, text, ttl))
                await trio.sleep(pause)
            settled(len(APP_OPENING), len(callers))
            turn = 0
            while True:
                await trio.sleep(chatter_pause)
                speaker, channel, text, ttl = APP_CHATTER[turn % len(APP_CHATTER)]
                await scene.sessions[speaker].ref.ask(SendChat(channel, text, ttl))
                turn += 1
