"""Two figures of the desktop app, each beside a baseline from the same run:

- time from Connect to the channel view (the window shows "# general"), against the same
  login by a bare client Session (no window) to the same hub;
- frame time while the demo's 3-way video call is shown (the viewer, alice and carol, each
  sending video), against the same window once the call is left (no video grid).

Each part runs in a process of its own on a private X display (Xvfb, software OpenGL):
Dear PyGui allows one window per process. The hub runs in a process of its own.
Run: python benchmarks/app_frames.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests/virtual_display.py

from _servers import PASSWORD, ServerProcess, ServerSpec  # noqa: E402

from tests.virtual_display import virtual_display  # noqa: E402

FRAMES = 240  # frames timed in each state of the video part


def connect_child(port: int, profiles: Path, rounds: int) -> None:
    """Connect the window `rounds` times; then log in as many times with a bare Session."""
    import dearpygui.dearpygui as dpg
    import trio

    from gossip.actors import ActorStopped
    from gossip.actors.actor import run_actor
    from gossip.client.commands import Leave
    from gossip.client.profile import Profile
    from gossip.client.session import Session, SessionConfig
    from gossip.ui.app import App
    from gossip.ui.bridge import Bridge
    from gossip.ui.model import Phase
    from gossip.ui.settings import Settings

    app = App(Settings(user="you", host="127.0.0.1"), Bridge(), profile_root=profiles)
    app.open(1240, 800)
    title = app.main.conversation.title
    window: list[float] = []
    try:
        for _ in range(rounds + 1):  # the first one pins the hub and warms up
            started = time.monotonic()
            app.connect("127.0.0.1", port, "you", PASSWORD, remember=False)
            app.pump_until(
                lambda: app.model.phase is Phase.ONLINE and dpg.get_value(title) == "# general", 30
            )
            app.step()  # the frame that shows it
            window.append(time.monotonic() - started)
            app.disconnect()
            app.pump_until(lambda: app.model.phase is Phase.IDLE, 30)
    finally:
        app.close()

    async def drain(events: trio.MemoryReceiveChannel[object]) -> None:
        async for _ in events:
            pass

    async def bare_logins() -> list[float]:
        profile = Profile.open("bare", profiles / "bare")
        seconds: list[float] = []
        for _ in range(rounds + 1):
            send, receive = trio.open_memory_channel[object](256)
            started = time.monotonic()
            session = Session(profile, SessionConfig("127.0.0.1", port, PASSWORD), send)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_actor, session)

                nursery.start_soon(drain, receive)
                await session.synced.wait()
                seconds.append(time.monotonic() - started)
                try:
                    await session.ref.ask(Leave())
                except ActorStopped:  # it may end before it answers
                    pass
                nursery.cancel_scope.cancel()
        return seconds

    bare = trio.run(bare_logins)
    print(json.dumps({"window": window[1:], "bare": bare[1:]}))


def video_child() -> None:
    """Time frames of the demo window with its 3-way video call, then without it."""
    import gossip.ui.app as app_module
    from gossip.__main__ import demo_setup
    from gossip.ui import intents
    from gossip.ui.app import App
    from gossip.ui.bridge import Bridge
    from gossip.ui.settings import Settings

    app_module.FRAME_SECONDS = 0.0  # no 60 fps cap: a step lasts as long as its work
    demo = demo_setup()
    app = App(
        Settings(user="you"),
        Bridge(backdrop=demo.backdrop, call_setup=demo.calls),
        settled=demo.settled,
    )
    app.open(1240, 800)
    grid = app.main.video
    try:
        app.pump_until(
            lambda: (
                demo.settled(app.model)
                and grid.visible
                and len(grid.tiles) == 3
                and all(grid.has_picture(tile.user) for tile in grid.tiles)
            ),
            60,
        )
        with_video = time_frames(app)
        app.post(intents.LeaveChannelCall())
        app.pump_until(lambda: not grid.visible and app.model.call.channel is None, 30)
        without = time_frames(app)
    finally:
        app.close()
    print(json.dumps({"video": with_video, "text": without}))


def time_frames(app: object) -> list[float]:
    seconds: list[float] = []
    for _ in range(FRAMES):
        started = time.monotonic()
        app.step()  # type: ignore[attr-defined]
        seconds.append(time.monotonic() - started)
    return seconds


def run_child(args: list[str], env: dict[str, str]) -> dict[str, list[float]]:
    done = subprocess.run(
        [sys.executable, __file__, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {args[1]} part failed:\n{done.stderr[-3000:]}")
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {1000 * statistics.median(values):6.1f} ms   p95 {1000 * p95:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="connections timed (5)")
    parser.add_argument("--child", choices=("connect", "video"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--profiles", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "connect":
        connect_child(args.port, args.profiles, args.rounds)
        return
    if args.child == "video":
        video_child()
        return
    with tempfile.TemporaryDirectory() as temp, virtual_display(1280, 800) as display:
        workdir = Path(temp)
        env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT)}
        with ServerProcess(ServerSpec("hub", tls=True, data_dir=str(workdir / "hub"))) as hub:
            connect = run_child(
                [
                    "--child",
                    "connect",
                    "--port",
                    str(hub.port),
                    "--profiles",
                    str(workdir / "profiles"),
                    "--rounds",
                    str(args.rounds),
                ],
                env,
            )
        video = run_child(["--child", "video"], env)
    print(f"Connect to the channel view, {args.rounds} rounds (wss, loopback)")
    print(f"  app window          {ms(connect['window'])}")
    print(f"  bare Session login  {ms(connect['bare'])}   (baseline)")
    print(f"Frame time of the demo window, {FRAMES} frames each")
    print(f"  3-way video call    {ms(video['video'])}")
    print(f"  no call (text)      {ms(video['text'])}   (baseline)")


if __name__ == "__main__":
    main()
