"""The main screen reflows: at the app's smallest window, a laptop's and a full-HD screen's,
at normal and 1.5x text, the message box keeps its minimum width, the composer and the call's
controls lie whole inside the window and their columns, every label fits its widget, and text
is drawn at the scale asked for, also after coming back from a larger one. A side panel that
does not fit is a rail whose button opens it (as a drawer when even then there is no room).
Each case is a real screenshot of the window under Xvfb; the check reads the drawn items'
rectangles."""

from __future__ import annotations

from dataclasses import dataclass

import dearpygui.dearpygui as dpg
import pytest

from gossip.ui.app import App
from gossip.ui.model import Phase
from gossip.ui.reflow import COMPOSER_MIN_WIDTH, Side, plan_columns, scaled
from gossip.ui.toasts import ToastBoard

from .appwindow import WAIT, PeerWorld, click, go_online
from .pngcheck import summarize_png

SIZES = ((960, 620), (1280, 800), (1920, 1080))
SCALES = (1.5, 1.0)  # 1.0 after 1.5: text must come back to the size of a fresh start


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int

    @classmethod
    def of(cls, item: int | str) -> Rect:
        state = dpg.get_item_state(item)
        # Windows report a position rather than a drawn rectangle.
        x, y = state["rect_min"] if "rect_min" in state else dpg.get_item_pos(item)
        width, height = state["rect_size"]
        return cls(int(x), int(y), int(width), int(height))

    def inside(self, outer: Rect, *, across_only: bool = False) -> bool:
        across = self.x >= outer.x and self.x + self.width <= outer.x + outer.width
        down = self.y >= outer.y and self.y + self.height <= outer.y + outer.height
        return across and (across_only or down)


@pytest.fixture(scope="module")
def online(window: App, tmp_path_factory):
    with PeerWorld(tmp_path_factory.mktemp("world")) as world:
        window.profile_root = tmp_path_factory.mktemp("reflow-profiles")
        go_online(window, world)
        yield window
        window.model.toasts = ToastBoard()
        window.set_font_scale(1.0)
        dpg.set_viewport_width(1240)
        dpg.set_viewport_height(800)
        window.disconnect()
        window.pump_until(lambda: window.model.phase in (Phase.IDLE, Phase.FAILED), WAIT)


def settle(app: App, width: int, height: int) -> None:
    app.pump_until(
        lambda: (
            (dpg.get_viewport_client_width(), dpg.get_viewport_client_height()) == (width, height)
        ),
        WAIT,
    )
    target = app.frames + 6  # the layout follows a frame behind the size it measured
    app.pump_until(lambda: app.frames >= target, WAIT)


def covered(toasts: list[int | str], items: list[int | str]) -> list[str]:
    """Which of `items` a toast overlaps."""
    found = []
    for toast in toasts:
        t = Rect.of(toast)
        for item in items:
            r = Rect.of(item)
            if (
                t.x < r.x + r.width
                and r.x < t.x + t.width
                and t.y < r.y + r.height
                and r.y < t.y + t.height
            ):
                found.append(f"a toast {t} covers {dpg.get_item_label(item) or item} {r}")
    return found


def problems(
    items: dict[str, int | str],
    column: int | str,
    viewport: Rect,
    scale: float,
    *,
    across_only: bool = False,
) -> list[str]:
    """What is cut off: items outside the window or their column (only at the sides with
    `across_only`: what is below the fold of a scrolling column), labels wider than their
    widgets, frames not as tall as text at `scale` makes them."""
    found = []
    outer = Rect.of(column)
    for name, item in items.items():
        rect = Rect.of(item)
        if not rect.inside(viewport, across_only=across_only):
            found.append(f"{name} {rect} leaves the window {viewport}")
        if not rect.inside(outer, across_only=across_only):
            found.append(f"{name} {rect} leaves its column {outer}")
        kind = dpg.get_item_type(item)
        label = dpg.get_item_label(item) or ""
        if label and kind.endswith(("mvButton", "mvCheckbox")):
            text = dpg.get_text_size(label)[0] * scale
            if text > rect.width:
                found.append(f"{name}: {label!r} is {text:.0f} px in {rect.width} px")
        if kind.endswith("mvCombo") and rect.height != round(16 * scale) + 10:
            found.append(f"{name} is {rect.height} px tall, not a line of text at {scale}x")
    return found


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_nothing_is_cut_off_at_any_size_and_text_scale(online: App, size, scale, tmp_path):
    app, (width, height) = online, size
    app.model.toasts = ToastBoard()
    for kind, title, sticky in (
        ("key_changed", "bob's key changed", True),
        ("error", "Message not sent", False),
        ("info", "Settings saved", False),
    ):
        app.model.toasts.push(
            kind,
            title,
            "A body long enough to wrap onto a second line in the toast, as real ones do.",
            app._clock() + 3600,
            sticky=sticky,
            user="bob" if sticky else None,
        )
    app.set_font_scale(scale)
    dpg.set_viewport_width(width)
    dpg.set_viewport_height(height)
    settle(app, width, height)
    shot = tmp_path / f"{width}x{height}@{scale}.png"
    app.save_screenshot(shot)
    picture = summarize_png(shot)
    assert (picture.width, picture.height) == size and not picture.blank

    main, conversation, call = app.main, app.main.conversation, app.main.call
    viewport = Rect(0, 0, width, height)
    assert Rect.of(conversation.composer).width >= scaled(COMPOSER_MIN_WIDTH, scale)
    composer = {
        "message box": conversation.composer,
        "expiry": conversation.expiry,
        "send": conversation.send_button,
    }
    assert problems(composer, conversation.root, viewport, scale) == []
    controls = {"join": call.join, "mute": call.mute, "deafen": call.deafen, "camera": call.camera}
    devices = {"microphone": call.input, "speakers": call.output}
    columns = main.columns
    assert columns is not None
    toasts = [slot["window"] for slot in app.toasts._slots if dpg.is_item_shown(slot["window"])]
    assert toasts, "no toast shown"
    if columns.shows(Side.CALL):
        assert problems(controls | devices, call.root, viewport, scale) == []
        assert covered(toasts, [*composer.values(), *controls.values(), *devices.values()]) == []
        return
    assert covered(toasts, [*composer.values(), main.call_rail.button]) == []
    # Collapsed: its rail's button opens it, without squeezing the message box.
    assert (
        problems({"call rail": main.call_rail.button}, main.call_rail.root, viewport, scale) == []
    )
    before = Rect.of(conversation.composer)
    click(main.call_rail.button)
    settle(app, width, height)
    try:
        assert dpg.is_item_visible(call.join)
        assert Rect.of(conversation.composer) == before
        holder = main.drawer.window if main.columns.drawer is Side.CALL else call.root
        # The drawer scrolls: at 620 px and 1.5x the devices may sit below its fold.
        assert problems(controls, holder, viewport, scale) == []
        assert problems(devices, holder, viewport, scale, across_only=True) == []
        assert covered(toasts, [*composer.values(), *controls.values(), holder]) == []
    finally:
        click(main.call_rail.button)
        settle(app, width, height)


def test_a_side_panel_gives_way_before_the_message_box_and_the_one_in_use_stays():
    wide = plan_columns(1920, 1.0)
    assert wide.shows(Side.SIDEBAR) and wide.shows(Side.CALL)
    narrow = plan_columns(960, 1.0)
    assert narrow.shows(Side.SIDEBAR) and not narrow.shows(Side.CALL)
    in_call = plan_columns(960, 1.0, prefer=Side.CALL)
    assert in_call.shows(Side.CALL) and not in_call.shows(Side.SIDEBAR)
    tiny = plan_columns(960, 1.5, drawer=Side.CALL)
    assert not tiny.shows(Side.CALL) and tiny.drawer is Side.CALL
    for plan, scale in ((wide, 1.0), (narrow, 1.0), (in_call, 1.0), (tiny, 1.5)):
        assert plan.composer >= scaled(COMPOSER_MIN_WIDTH, scale)
