"""Fixtures that start real parts: a hub on loopback with real TLS, real profiles and keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.hub import HubConfig, RunningHub, serve_hub

PASSWORD = "s3cret"


@dataclass
class Tap:
    """Every frame the hub read or wrote, as bytes after TLS (what the hub itself holds)."""

    frames: list[tuple[str, str, bytes]] = field(default_factory=list)

    def __call__(self, direction: str, who: str, data: bytes) -> None:
        self.frames.append((direction, who, data))

    def everything(self) -> bytes:
        return b"".join(data for _, _, data in self.frames)


@dataclass
class Client:
    """A running client session and the events it published."""

    session: Session
    profile: Profile
    events: trio.MemoryReceiveChannel[ev.SessionEvent]
    cancel_scope: trio.CancelScope
    done: trio.Event = field(default_factory=trio.Event)
    failure: BaseException | None = None

    @property
    def user(self) -> str:
        return self.profile.identity.user

    async def next_event(self, kind: type, predicate: Callable[[object], bool] = lambda e: True):
        """The next event of this kind (others are skipped); bounded so a test cannot hang."""
        with trio.fail_after(20):
            async for event in self.events:
                if isinstance(event, kind) and predicate(event):
                    return event
        raise AssertionError("event channel closed")

    async def wait_synced(self) -> None:
        """Until the session is synced; re-raises its failure if it ended first."""
        with trio.fail_after(20):
            async with trio.open_nursery() as race:
                async def until(event: trio.Event) -> None:
                    await event.wait()
                    race.cancel_scope.cancel()
                race.start_soon(until, self.session.synced)
                race.start_soon(until, self.done)
        if not self.session.synced.is_set():
            raise AssertionError(f"{self.user}'s session ended: {self.failure!r}") \
                from self.failure

    def stop(self) -> None:
        self.cancel_scope.cancel()


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Time that moves only when a test jumps it, except that a test stuck for 5 real
    seconds is jumped ahead, so its bounded waits fail instead of hanging."""
    return trio.testing.MockClock(autojump_threshold=5.0)


@pytest.fixture
def hub_tap() -> Tap:
    return Tap()


@pytest.fixture
def hub_config(tmp_path: Path) -> HubConfig:
    return HubConfig(name="test hub", host="127.0.0.1", port=0, password=PASSWORD,
                     channels=("general", "random"), data_dir=tmp_path / "hub")


@pytest.fixture
async def hub(nursery: trio.Nursery, hub_config: HubConfig, hub_tap: Tap) -> RunningHub:
    return await nursery.start(lambda task_status: serve_hub(hub_config, tap=hub_tap,
                                                             task_status=task_status))


@pytest.fixture
def profiles(tmp_path: Path) -> Callable[[str], Profile]:
    cache: dict[str, Profile] = {}

    def get(user: str) -> Profile:
        if user not in cache:
            cache[user] = Profile.open(user, tmp_path / "profiles" / user)
        return cache[user]

    return get


@pytest.fixture
def connect(nursery: trio.Nursery, hub: RunningHub, profiles: Callable[[str], Profile]):
    """connect(user, ...) -> a Client whose session is synced with the hub; other keywords
    are SessionConfig settings."""

    async def start(user: str, *, password: str = PASSWORD, wait: bool = True,
                    profile: Profile | None = None, port: int | None = None,
                    clock: Callable[[], float] | None = None, **settings: Any) -> Client:
        profile = profile or profiles(user)
        send, receive = trio.open_memory_channel[ev.SessionEvent](1000)
        config = SessionConfig("127.0.0.1", port or hub.port, password,
                               **({"clock": clock} if clock else {}), **settings)
        session = Session(profile, config, send)
        client = Client(session, profile, receive, trio.CancelScope())

        async def run() -> None:
            with client.cancel_scope:
                try:
                    await run_actor(session)
                except Exception as exc:  # the test inspects it
                    client.failure = exc
                finally:
                    client.done.set()

        nursery.start_soon(run)
        if wait:
            await client.wait_synced()
        return client

    return start


# -- the app's one window (tests/appwindow.py), shared by the test_ui_* modules ---------------
# Imported lazily: most tests never open a window. A module overrides `world` (a call world)
# or `app` (asking for this one) when it needs more.
@pytest.fixture(scope="module")
def display(pytestconfig: pytest.Config) -> str:
    """The private X display (Xvfb) the window tests share, as DISPLAY names it."""
    from .appwindow import shared_display

    return shared_display(pytestconfig)


@pytest.fixture(scope="module")
def window(display: str, pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory):
    """The process's one app window, on the shared private display (see `shared_window`)."""
    from .appwindow import shared_window

    return shared_window(pytestconfig, tmp_path_factory.mktemp("profiles"))


@pytest.fixture
def world(tmp_path: Path):
    """A real hub on loopback with scripted peers (see `PeerWorld`)."""
    from .appwindow import PeerWorld

    with PeerWorld(tmp_path / "world") as peers:
        yield peers


@pytest.fixture
def app(window, world, tmp_path: Path):
    """The shared window with a fresh profile for this test; afterwards back on its connect
    screen, with no dialog or toast left over."""
    from gossip.ui.model import Phase
    from gossip.ui.toasts import ToastBoard

    from .appwindow import WAIT

    assert window.bridge.running, "an earlier test closed the window"
    window.profile_root = tmp_path / "profiles"
    yield window
    window.close_safety()
    window.main.conversation.escape()  # file choosers, search, reply: what a test left open
    window.disconnect()
    window.pump_until(lambda: window.model.phase in (Phase.IDLE, Phase.FAILED), WAIT)
    window.model.toasts = ToastBoard()
