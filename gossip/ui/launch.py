"""Starting the app from the command line: settings, the bridge (with demo mode's scene when
asked), the window, and its run until closed, a screenshot taken or time is up."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .app import App, AppError
from .bridge import Backdrop, Bridge
from .callvideo import video_spec
from .sessioncalls import CallSetup
from .settings import Settings, default_settings_path, load_settings


@dataclass(frozen=True)
class LaunchOptions:
    settings_path: Path | None = None  # None: the platform's config directory
    profile_root: Path | None = None  # None: each user's default profile directory
    screenshot: Path | None = None
    quit_after: float | None = None


def call_setup(settings: Settings) -> CallSetup:
    """Calls on the user's microphone, speakers and camera, as the settings say. The camera
    starts off in each call: turning it on is the user's click."""
    return CallSetup(input_device=settings.input_device, output_device=settings.output_device,
                     ice_hosts=settings.ice_hosts, video=video_spec(settings.video_source))


def run_app(options: LaunchOptions, *, backdrop: Backdrop | None = None,
            demo_calls: CallSetup | None = None, demo: bool = False) -> int:
    """Run the app; in demo mode `demo_calls` says where the viewer's call audio comes from
    (test tones, no sound card) instead of the settings."""
    settings_path = options.settings_path or default_settings_path()
    settings, problems = load_settings(settings_path)
    if demo:
        settings = replace(settings, user="you")
    calls = demo_calls if demo and demo_calls is not None else call_setup(settings)
    app = App(settings, Bridge(backdrop=backdrop, call_setup=calls),
              settings_path=None if demo else settings_path,  # the demo leaves no trace
              profile_root=options.profile_root,
              title="Gossip — demo" if demo else "Gossip",
              settled=(lambda model: model.settled) if demo else None)
    try:
        app.open()
    except AppError as exc:
        print(f"gossip: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        app.model.toasts.push("error", "Settings", problem, time.time())
    try:
        return app.run(screenshot=options.screenshot, quit_after=options.quit_after)
    except KeyboardInterrupt:
        return 130
