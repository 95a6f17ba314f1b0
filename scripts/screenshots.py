"""Make the README's pictures: docs/screenshots/*.png, from the app in demo mode.

    python scripts/screenshots.py [OUTPUT_DIR]

Runs on a private virtual display (Xvfb) unless DISPLAY is set, so it works on a machine
without a screen. Every picture is checked to be a real picture, not a blank frame.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import dearpygui.dearpygui as dpg

from gossip.__main__ import demo_setup
from gossip.ui.app import App, AppError
from gossip.ui.bridge import Bridge
from gossip.ui.model import AppModel, Phase
from gossip.ui.pngwriter import write_png
from gossip.ui.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 1240, 800
SETTLE_FRAMES = 30


def main(argv: list[str]) -> int:
    # The private display and the blank-picture check are test helpers, in tests/.
    sys.path.insert(0, str(ROOT))
    from tests.pngcheck import summarize_png
    from tests.virtual_display import virtual_display

    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        if not os.environ.get("DISPLAY"):
            os.environ["DISPLAY"] = stack.enter_context(virtual_display(1600, 1000))
        # One window for all pictures: Dear PyGui cannot open a second one in a process.
        demo = demo_setup()
        app = App(Settings(user="you", theme="wintry"),
                  Bridge(backdrop=demo.backdrop, call_setup=demo.calls),
                  title="Gossip — demo", settled=demo.settled)
        app.open(WIDTH, HEIGHT)
        try:
            made = shoot_all(app, out, demo.settled)
        finally:
            app.close()
    for path in made:
        picture = summarize_png(path)
        if picture.blank:
            print(f"{path}: looks blank ({picture.colours} colours)", file=sys.stderr)
            return 1
        print(f"{path}  {picture.width}x{picture.height}, {picture.colours} colours")
    return 0


def shoot_all(app: App, out: Path, settled: Callable[[AppModel], bool]) -> list[Path]:
    made: list[Path] = []

    def shot(name: str, ready: Callable[[AppModel], bool] = lambda model: True) -> None:
        app.pump_until(lambda: ready(app.model), 30)
        settle(app)
        path = out / f"{name}.png"
        app.save_screenshot(path)
        made.append(path)

    def video_showing(model: AppModel) -> bool:
        grid = app.main.video
        return settled(model) and grid.visible and all(
            grid.has_picture(tile.user) for tile in grid.tiles)

    shot("chat", video_showing)
    made.append(grid_shot(app, out / "video-grid.png"))
    app.open_safety("bob")
    shot("safety-number", lambda model: model.safety is not None)
    app.close_safety()
    app.model.toasts.toasts.clear()
    app.model.toasts.version += 1
    app.set_theme("light")
    shot("light-theme")
    app.set_theme("dark")
    app.select_channel("random")
    shot("dark-theme")
    app.set_theme("wintry")
    app.select_channel("general")
    app.open_settings()
    shot("settings")
    app.settings_dialog.close()
    app.disconnect()
    shot("connect", lambda model: model.phase is Phase.IDLE)
    return made


def grid_shot(app: App, path: Path) -> Path:
    """The video grid alone, cut from the window, while someone speaks (outlined)."""
    grid = app.main.video
    settle(app)
    try:
        app.pump_until(lambda: any(grid.speaking(tile.user) for tile in grid.tiles), 10)
    except AppError:
        print("nobody spoke; the grid shot has no outline", file=sys.stderr)
    frame = app.grab_frame()
    left, top = (int(v) for v in dpg.get_item_rect_min(grid.drawlist))
    width, height = (int(v) for v in dpg.get_item_rect_size(grid.drawlist))
    write_png(path, frame[top:top + height, left:left + width])
    return path


def settle(app: App) -> None:
    """A few frames, so layout, scrolling and fonts have caught up."""
    target = app.frames + SETTLE_FRAMES
    app.pump_until(lambda: app.frames >= target, 10)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
