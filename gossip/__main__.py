"""`python -m gossip` (and the `gossip` script): the desktop app. `--demo` runs it on an
in-process hub with scripted users; `--demo --terminal` (or no display) prints the terminal
demo instead. `--screenshot` and `--quit-after` make pictures for tests and docs."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from .demo import run_terminal_demo

if TYPE_CHECKING:
    from .ui.bridge import Backdrop
    from .ui.launch import DemoSetup
    from .ui.model import AppModel
    from .ui.trioside.callcontrol import CallSetup

NO_DISPLAY_HINT = ("no display (DISPLAY is not set). To see the app on a machine without a "
                   "screen, run it under a virtual display, e.g.\n"
                   "  xvfb-run -a python -m gossip --demo --screenshot shot.png "
                   "--quit-after 10")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gossip", description="Gossip: end-to-end encrypted "
                                     "chat and voice (desktop app).")
    parser.add_argument("--demo", action="store_true",
                        help="in-process hub and scripted users (no network, no sound card)")
    parser.add_argument("--terminal", action="store_true",
                        help="with --demo: print the demo in the terminal, no window")
    parser.add_argument("--screenshot", type=Path, metavar="PATH",
                        help="save a PNG of the window once the scene has settled")
    parser.add_argument("--quit-after", type=float, metavar="SECONDS",
                        help="exit after this many seconds")
    parser.add_argument("--settings", type=Path, metavar="FILE",
                        help="settings file (default: settings.toml in the config directory)")
    parser.add_argument("--profiles", type=Path, metavar="DIR",
                        help="where user profiles (keys, pins) live (default: data directory)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    return parser


def has_display() -> bool:
    """Dear PyGui aborts the process without one, so ask before opening a window."""
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.terminal and not args.demo:
        print("gossip: --terminal goes with --demo (for chat in a terminal, use gossip-cli)",
              file=sys.stderr)
        return 2
    if args.demo and (args.terminal or not has_display()):
        if not args.terminal:
            print(f"gossip: {NO_DISPLAY_HINT}\nShowing the terminal demo instead.\n",
                  file=sys.stderr)
        return _terminal_demo(args.quit_after)
    if not has_display():
        print(f"gossip: {NO_DISPLAY_HINT}\nFor chat without a window, use gossip-cli.",
              file=sys.stderr)
        return 2
    # Dear PyGui is imported only now: the terminal paths must work without it.
    from .ui.launch import LaunchOptions, run_app

    options = LaunchOptions(settings_path=args.settings, profile_root=args.profiles,
                            screenshot=args.screenshot, quit_after=args.quit_after)
    if args.demo:
        return run_app(options, demo=demo_setup())
    return run_app(options)


class SceneWatch:
    """When the demo's picture is complete: the scene has sent its opening (told from the
    trio thread, by the backdrop) and the window shows it, the viewer's call linked to each
    scripted caller (read on the render thread, from the app's model, every frame)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the two threads above
        self._expected: tuple[int, int] | None = None  # (messages, call peers)
        self._seen: set[str] = set()  # ids of others' messages shown so far, expired or not

    def opening_sent(self, messages: int, call_peers: int) -> None:
        with self._lock:
            self._expected = (messages, call_peers)

    def settled(self, model: AppModel) -> bool:
        from .ui.model import Phase

        self._seen.update(mid for mid, message in model.messages.items()
                          if message.sender != model.user)
        with self._lock:
            expected = self._expected
        if expected is None or model.phase is not Phase.ONLINE:
            return False
        messages, call_peers = expected
        linked = sum(1 for peer in model.call.participants if peer.connected)
        return len(self._seen) >= messages and linked >= call_peers


def demo_setup(watch: SceneWatch | None = None) -> DemoSetup:
    """Demo mode for the app: the scene, the viewer's calls, and when the picture is done."""
    from .ui.launch import DemoSetup

    watch = watch or SceneWatch()
    return DemoSetup(demo_backdrop(watch), demo_call_setup(), watch.settled)


def demo_backdrop(watch: SceneWatch) -> Backdrop:
    """The demo's hub and scripted users, wired here so that the app never imports a hub."""
    from .demo import run_app_scene
    from .ui.bridge import Backstage
    from .ui.intents import ConnectToHub

    async def backdrop(backstage: Backstage) -> None:
        async def connect(host: str, port: int, user: str, password: str,
                          profile_dir: Path) -> None:
            await backstage.bridge.tell(ConnectToHub(host, port, user, password, profile_dir))

        await run_app_scene(connect, watch.opening_sent)

    return backdrop


def demo_call_setup() -> CallSetup:
    """The viewer's calls in the demo: a test tone in, sound discarded (no sound card), a
    test pattern for a camera (on from the start), and straight into the scene's call once
    online."""
    from .demo import (
        APP_CALL_CHANNEL,
        DEMO_VIDEO,
        DEMO_VIDEO_FPS,
        DEMO_VIDEO_SIZE,
        viewer_source,
    )
    from .ui.trioside.callcontrol import CallSetup

    width, height = DEMO_VIDEO_SIZE
    return CallSetup(source=viewer_source, sink="null", autojoin=APP_CALL_CHANNEL,
                     audio_note="Demo: everyone talks in test tones and the sound is "
                                "discarded, so no sound card is needed.",
                     video=DEMO_VIDEO, video_on=True, video_width=width, video_height=height,
                     video_fps=DEMO_VIDEO_FPS)


def _terminal_demo(quit_after: float | None) -> int:
    try:
        trio.run(run_terminal_demo, sys.stdout, quit_after)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
