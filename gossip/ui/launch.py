"""Starting the app from the command line: settings, the bridge (with demo mode's scene when
asked), the window, and its run until closed, a screenshot taken or time is up."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from gossip.media.gcpolicy import freeze_call_heap

from .app import App, AppError
from .bridge import Backdrop, Bridge
from .model import AppModel
from .settings import Settings, default_settings_path, load_settings, voice_options
from .trioside.callcontrol import CallSetup
from .videosetting import video_spec


@dataclass(frozen=True)
class LaunchOptions:
    settings_path: Path | None = None  # None: the platform's config directory
    profile_root: Path | None = None  # None: each user's default profile directory
    screenshot: Path | None = None
    quit_after: float | None = None


@dataclass(frozen=True)
class DemoSetup:
    """What demo mode brings to the app (built by gossip.__main__, which may import a hub):
    the scene to run on the trio thread, the viewer's calls (test tones, no sound card), and
    when the picture is complete."""

    backdrop: Backdrop
    calls: CallSetup
    settled: Callable[[AppModel], bool]


def call_setup(settings: Settings) -> CallSetup:
    """Calls on the user's microphone, speakers and camera, as the settings say. The camera
    starts off in each call: turning it on is the user's click."""
    return CallSetup(input_device=settings.input_device, output_device=settings.output_device,
                     ice_hosts=settings.ice_hosts, video=video_spec(settings.video_source),
                     voice=voice_options(settings))


def run_app(options: LaunchOptions, *, demo: DemoSetup | None = None) -> int:
    """Run the app, on the user's settings or in demo mode."""
    settings_path = options.settings_path or default_settings_path()
    # The keyring is asked once the window is up, on the trio side (App.recall_password).
    settings, problems = load_settings(settings_path, recall=False)
    if demo is not None:
        settings = replace(settings, user="you")
    bridge = (Bridge(backdrop=demo.backdrop, call_setup=demo.calls) if demo is not None
              else Bridge(call_setup=call_setup(settings)))
    app = App(settings, bridge,
              settings_path=None if demo else settings_path,  # the demo leaves no trace
              profile_root=options.profile_root,
              title="Gossip — demo" if demo else "Gossip",
              settled=demo.settled if demo is not None else None)
    try:
        app.open()
    except AppError as exc:
        print(f"gossip: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        app.model.toasts.push("error", "Settings", problem, time.time())
    # The window, fonts and modules live as long as the app: frozen, full collections skip
    # them, and their pauses (a call's audio runs in this process) shrink with them.
    freeze_call_heap()
    if demo is None:
        app.recall_password()
    try:
        return app.run(screenshot=options.screenshot, quit_after=options.quit_after)
    except KeyboardInterrupt:
        return 130
