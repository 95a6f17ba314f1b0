"""The video grid: where tiles go, how pictures become texture data (off the render thread,
only when a newer one arrived), and the app under Xvfb showing participants' pattern video in
tiles that change picture to picture, with the speaker outlined by their audio level."""

from __future__ import annotations

import os
import subprocess
import sys

import dearpygui.dearpygui as dpg
import numpy as np
import pytest
import trio

from gossip.client.calltypes import CallOptions, GetCallState
from gossip.client.commands import JoinCall
from gossip.media.sources import ToneSource
from gossip.media.video import PatternSource, decode_counter
from gossip.media.videoframes import LatestFrame
from gossip.ui import intents
from gossip.ui import notices as nt
from gossip.ui import viewmodel as vm
from gossip.ui.app import App
from gossip.ui.bridge import Bridge
from gossip.ui.callview import CallNotPossible, CallPeer, CallPhase, CallView
from gossip.ui.gridlayout import Rect, fit_rect, grid_layout, grid_shape, initials
from gossip.ui.model import AppModel, Phase
from gossip.ui.palettes import PALETTES
from gossip.ui.settings import Settings, default_user, load_settings
from gossip.ui.shortcuts import action_for
from gossip.ui.toasts import ToastBoard
from gossip.ui.trioside.callcontrol import CallControl, CallSetup
from gossip.ui.videoconvert import VideoConverter, fit_size, to_texture
from gossip.ui.videofeeds import VideoFeeds
from gossip.ui.videosetting import (
    camera_present,
    is_video_setting,
    video_label,
    video_setting,
    video_spec,
)

from .appwindow import WAIT, PeerWorld, click, go_online
from .conftest import PASSWORD
from .test_ui_bridge import next_notice

# -- layout ----------------------------------------------------------------------------------


def test_the_grid_grows_one_two_two_by_two_three_by_three():
    shapes = [grid_shape(n, 640, 360) for n in range(1, 10)]
    assert shapes == [(1, 1), (2, 1), (2, 2), (2, 2), (3, 2), (3, 2), (3, 3), (3, 3), (3, 3)]
    assert grid_shape(3, 1600, 200) == (3, 1)  # a wide strip: one row
    assert grid_shape(3, 200, 900) == (1, 3)  # a tall one: one column
    assert grid_shape(0, 640, 360) == (0, 0)


def test_tiles_fit_the_panel_without_overlapping_and_a_short_last_row_is_centred():
    layout = grid_layout(3, 660, 330)
    assert (layout.columns, layout.rows) == (2, 2)
    width, height = layout.tile_size
    assert width / height == pytest.approx(16 / 9, rel=0.02)
    for tile in layout.tiles:
        assert tile.x >= 0 and tile.y >= 0
        assert tile.x + tile.width <= 660 and tile.y + tile.height <= 330
    first, second, third = layout.tiles
    assert first.x + first.width < second.x and first.y + first.height < third.y
    assert third.x + third.width / 2 == pytest.approx(330, abs=1)  # centred under the two


def test_a_call_of_25_fits_five_by_five_tiles_that_do_not_overlap():
    layout = grid_layout(25, 1280, 720)
    assert (layout.columns, layout.rows) == (5, 5)
    assert len(layout.tiles) == 25 and min(layout.tile_size) > 50
    for one, other in zip(layout.tiles, layout.tiles[1:], strict=False):
        assert one.x + one.width <= other.x or one.y + one.height <= other.y


def test_a_picture_is_letterboxed_into_its_tile_and_shrunk_never_enlarged():
    shown = fit_rect(Rect(0, 0, 320, 180), 100, 100)  # a square picture in a wide tile
    assert (shown.width, shown.height) == (180, 180) and shown.x == 70
    assert fit_size(640, 360, 320, 180) == (320, 180)
    assert fit_size(320, 180, 640, 360) == (320, 180)  # the GPU scales up for free
    assert fit_size(640, 480, 320, 180) == (240, 180)
    assert initials("alice") == "A" and initials("mary-jane") == "MJ" and initials("") == "?"


# -- conversion --------------------------------------------------------------------------------


def test_rgb_becomes_flat_rgba_floats_with_full_alpha():
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    image[0, 0] = (255, 0, 51)
    image[1, 1] = (0, 255, 102)
    pixels = to_texture(image, 2, 2)
    assert pixels.dtype == np.float32 and pixels.shape == (16,)
    rgba = pixels.reshape(2, 2, 4)
    assert rgba[0, 0] == pytest.approx([1.0, 0.0, 0.2, 1.0])
    assert rgba[1, 1] == pytest.approx([0.0, 1.0, 0.4, 1.0])
    assert (rgba[..., 3] == 1.0).all()


def test_scaling_keeps_the_picture_in_place():
    # Four quadrants of four colours: any sampling must keep each in its quarter.
    image = np.zeros((180, 320, 3), dtype=np.uint8)
    image[:90, :160] = (255, 0, 0)
    image[:90, 160:] = (0, 255, 0)
    image[90:, :160] = (0, 0, 255)
    image[90:, 160:] = (255, 255, 255)
    for width, height in ((160, 90), (100, 56), (320, 180)):  # striding, sampling, as is
        rgba = to_texture(image, width, height).reshape(height, width, 4)
        assert rgba[0, 0, :3] == pytest.approx([1, 0, 0])
        assert rgba[0, -1, :3] == pytest.approx([0, 1, 0])
        assert rgba[-1, 0, :3] == pytest.approx([0, 0, 1])
        assert rgba[-1, -1, :3] == pytest.approx([1, 1, 1])


def pattern_feeds(*users: str, me: str = "you") -> tuple[VideoFeeds, dict[str, LatestFrame]]:
    streams = {user: LatestFrame() for user in (me, *users)}
    feeds = VideoFeeds()
    feeds.show(me, streams[me], {user: streams[user] for user in users})
    return feeds, streams


def put_pattern(stream: LatestFrame, source: PatternSource, at: float = 0.0) -> None:
    stream.put(source.read(), at)


def test_the_converter_works_only_when_a_newer_picture_arrived():
    feeds, streams = pattern_feeds("bob")
    converter = VideoConverter(feeds)
    converter.set_box(160, 90)
    assert converter.convert_once() == 0 and converter.take() == {}  # nothing sent yet
    bob = PatternSource(320, 180, 15)
    put_pattern(streams["bob"], bob)
    assert converter.convert_once() == 1
    assert converter.convert_once() == 0  # the same picture is not converted twice
    ready = converter.take()
    assert list(ready) == ["bob"]
    assert (ready["bob"].width, ready["bob"].height, ready["bob"].sequence) == (160, 90, 1)
    assert ready["bob"].pixels is not None and ready["bob"].pixels.size == 160 * 90 * 4
    for _ in range(3):  # three pictures before the next pass: only the newest is converted
        put_pattern(streams["bob"], bob)
    put_pattern(streams["you"], PatternSource(320, 180, 15))
    assert converter.convert_once() == 2
    assert {user: p.sequence for user, p in converter.take().items()} == {"bob": 4, "you": 1}
    assert converter.conversions == 3


def test_a_new_tile_size_reconverts_and_a_stopped_stream_shows_its_placeholder():
    feeds, streams = pattern_feeds("bob")
    converter = VideoConverter(feeds)
    converter.set_box(320, 180)
    put_pattern(streams["bob"], PatternSource(320, 180, 15))
    converter.convert_once()
    converter.take()
    converter.set_box(160, 90)
    assert converter.convert_once() == 1  # the same picture, at the new size
    assert converter.take()["bob"].width == 160
    streams["bob"].clear()  # bob turned his camera off
    assert converter.convert_once() == 0
    assert converter.take()["bob"].pixels is None
    converter.convert_once()
    assert converter.take() == {}  # said once
    feeds.clear()  # the call ended
    converter.convert_once()
    assert converter.take() == {}


def test_the_converter_thread_converts_what_arrives():
    feeds, streams = pattern_feeds("bob")
    converter = VideoConverter(feeds, rate=200.0)
    converter.start()
    try:
        put_pattern(streams["bob"], PatternSource(320, 180, 15))
        assert converter.wait_for_conversions(1, WAIT)
        assert converter.take()["bob"].sequence == 1
    finally:
        converter.stop()


# -- what the grid shows -------------------------------------------------------------------------


def in_call(*peers: CallPeer, own_level: float = -90.0, muted: bool = False,
            video_source: str = "pattern", video_on: bool = True) -> CallView:
    return CallView(available=True, unavailable_reason="", channel="general",
                    phase=CallPhase.IN_CALL, participants=peers, own_level_dbfs=own_level,
                    muted=muted, video_source=video_source, video_on=video_on)


def test_tiles_put_ourselves_first_and_outline_whoever_is_speaking():
    model = AppModel(user="you")
    assert vm.video_tiles(model) == ()  # out of a call: no grid
    model.set_call(in_call(CallPeer("alice", level_dbfs=-20.0, connected=True),
                           CallPeer("bob", level_dbfs=-70.0, connected=True),
                           CallPeer("carol", level_dbfs=-10.0), own_level=-30.0))
    tiles = vm.video_tiles(model)
    assert [(t.user, t.label, t.is_self, t.speaking) for t in tiles] == [
        ("you", "you", True, True), ("alice", "alice", False, True),
        ("bob", "bob", False, False), ("carol", "carol · connecting…", False, False)]
    model.set_call(in_call(own_level=-30.0, muted=True))
    assert [(t.label, t.speaking) for t in vm.video_tiles(model)] == [
        ("you · muted", False)]  # a muted microphone does not count as speaking
    model = AppModel(user="mary")
    model.set_call(in_call())
    assert vm.video_tiles(model)[0].label == "mary (you)"
    # What a peer said, sealed, of what it sends: muted, camera off (initials, not black).
    model.set_call(in_call(CallPeer("dan", connected=True, muted=True, camera_off=True)))
    dan = vm.video_tiles(model)[1]
    assert (dan.label, dan.camera_off) == ("dan · muted", True)


def test_the_camera_switch_is_offered_only_with_a_video_source():
    model = AppModel(user="you")
    model.set_call(in_call(video_source="none", video_on=False))
    panel = vm.call_panel(model)
    assert not panel.camera_enabled and "Settings" in panel.camera_tooltip
    model.set_call(in_call(video_source="camera", video_on=False))
    panel = vm.call_panel(model)
    assert panel.camera_enabled and not panel.camera_on
    assert panel.camera_tooltip == "Video from your camera: off (Ctrl+E)"
    assert action_for("E", ctrl=True) == "toggle_video"


def test_the_video_setting_picks_a_camera_only_where_there_is_one(tmp_path):
    assert video_spec("", has_camera=False) == "none"
    assert video_spec("", has_camera=True) == "camera"
    assert video_spec("pattern", has_camera=False) == "pattern"
    if sys.platform.startswith("linux"):
        assert not camera_present(tmp_path)
    (tmp_path / "video0").touch()
    assert camera_present(tmp_path)
    for good in ("", "none", "camera", "camera:/dev/video2", "screen", "pattern", "file:a.mp4"):
        assert is_video_setting(good), good
    for bad in ("webcam", "file:", "pattern:3", "none:x"):
        assert not is_video_setting(bad), bad
    path = tmp_path / "settings.toml"
    path.write_text('video_source = "pattern"\n')
    assert load_settings(path) == (Settings(user=default_user(), video_source="pattern"), [])
    path.write_text('video_source = "webcam"\n')
    assert load_settings(path)[0].video_source == ""
    assert load_settings(path)[1] == ["ignored a bad value for 'video_source' in settings.toml"]
    assert video_setting(video_label("pattern")) == "pattern" and video_label("") == "Automatic"


async def test_turning_the_camera_on_without_a_source_is_refused_and_with_one_remembered():
    posted: list[object] = []
    calls = CallControl(CallSetup(), lambda: None, posted.append)
    with pytest.raises(CallNotPossible, match="no camera"):
        await calls.handle(intents.ChooseVideo(True))
    assert not calls.view().video_on
    calls = CallControl(CallSetup(video="pattern"), lambda: None, posted.append)
    assert (await calls.handle(intents.ChooseVideo(True))).video_on  # for the next call
    assert not (await calls.handle(intents.ChooseVideo(False))).video_on
    assert CallControl(CallSetup(video="pattern", video_on=True), lambda: None,
                        posted.append).view().video_on


# -- in the window ---------------------------------------------------------------------------------


@pytest.fixture
def app(window, world, tmp_path):
    assert window.bridge.running, "an earlier test closed the window"
    window.profile_root = tmp_path / "profiles"
    yield window
    window.bridge.video_feeds.clear()
    window.disconnect()
    window.pump_until(lambda: window.model.phase in (Phase.IDLE, Phase.FAILED), WAIT)
    window.pump_until(lambda: not window.main.video.visible, WAIT)
    window.model.toasts = ToastBoard()


def show_call(app: App, view: CallView) -> None:
    """What the call side would post: the app takes it as it takes any CallChanged."""
    app.bridge.notices.put(nt.CallChanged(view))


def tile_pixels(app: App, user: str, inset: int = 6) -> np.ndarray:
    rect = app.main.video.tile_on_screen(user)
    assert rect is not None, f"{user} has no tile on screen"
    frame = app.grab_frame()
    top, left = int(rect.y) + inset, int(rect.x) + inset
    return frame[top:int(rect.y + rect.height) - inset, left:int(rect.x + rect.width) - inset]


def tile_edge(app: App, user: str) -> np.ndarray:
    """The left edge of a tile, where a speaker's outline is drawn."""
    rect = app.main.video.tile_on_screen(user)
    assert rect is not None
    frame = app.grab_frame()
    x = int(round(rect.x))
    return frame[int(rect.y + rect.height * 0.3):int(rect.y + rect.height * 0.7), x:x + 2]


def colours(pixels: np.ndarray) -> int:
    return len(np.unique(pixels.reshape(-1, 3), axis=0))


def test_participants_pattern_video_shows_in_reused_tiles_that_follow_the_pictures(app, world):
    go_online(app, world)
    you, bob, carol = LatestFrame(), LatestFrame(), LatestFrame()  # carol sends no video
    app.bridge.video_feeds.show("you", you, {"bob": bob, "carol": carol})
    show_call(app, in_call(CallPeer("bob", connected=True), CallPeer("carol", connected=True)))
    grid = app.main.video
    app.pump_until(lambda: grid.visible and len(grid.tiles) == 3, WAIT)
    assert [tile.user for tile in grid.tiles] == ["you", "bob", "carol"]  # self-view first
    bob_camera, own_camera = PatternSource(320, 180, 15), PatternSource(320, 180, 15)
    put_pattern(bob, bob_camera)
    put_pattern(you, own_camera)
    app.pump_until(lambda: grid.has_picture("bob") and grid.has_picture("you"), WAIT)
    assert not grid.has_picture("carol")
    first = tile_pixels(app, "bob")
    assert colours(first) > 20  # stripes, the bar, the code band, the counter: not blank

    made, shown = grid.textures_made, grid.pictures_shown["bob"]
    for _ in range(3):
        put_pattern(bob, bob_camera)
        app.pump_until(lambda seen=shown: grid.pictures_shown["bob"] > seen, WAIT)
        shown = grid.pictures_shown["bob"]
    second = tile_pixels(app, "bob")
    assert first.shape == second.shape
    assert np.abs(first.astype(int) - second.astype(int)).sum(axis=2).astype(bool).mean() > 0.05
    assert grid.textures_made == made  # the same textures, new pictures

    placeholder = tile_pixels(app, "carol")  # her initials on a dark tile
    palette = PALETTES[app.themes.palette.name]
    carol_colour = np.array(palette.names[vm.name_colour("carol")])
    assert (np.abs(placeholder.astype(int) - carol_colour).sum(axis=2) < 12).mean() > 0.02

    bob.clear()  # bob's camera went off: his tile falls back to his initials
    app.pump_until(lambda: not grid.has_picture("bob"), WAIT)

    # A camera turned off sends black frames; bob says (sealed) that his is off, and his
    # tile shows his initials however many pictures still come.
    put_pattern(bob, bob_camera)
    app.pump_until(lambda: grid.has_picture("bob"), WAIT)
    show_call(app, in_call(CallPeer("bob", connected=True, camera_off=True),
                           CallPeer("carol", connected=True)))
    bob_colour = np.array(palette.names[vm.name_colour("bob")])

    def bob_initials() -> bool:
        put_pattern(bob, bob_camera)
        tile = tile_pixels(app, "bob").astype(int)
        return bool((np.abs(tile - bob_colour).sum(axis=2) < 12).mean() > 0.02)

    app.pump_until(bob_initials, WAIT)
    assert not grid.has_picture("bob")


def test_the_speaking_participant_is_outlined_as_the_level_moves(app, world):
    go_online(app, world)
    grid = app.main.video
    ok = np.array(app.themes.palette.ok)

    def outlined(user: str) -> bool:
        edge = tile_edge(app, user).astype(int)
        return bool((np.abs(edge - ok).sum(axis=2) < 40).mean() > 0.5)

    show_call(app, in_call(CallPeer("bob", level_dbfs=-18.0, connected=True),
                           CallPeer("carol", level_dbfs=-80.0, connected=True)))
    app.pump_until(lambda: grid.speaking("bob") and not grid.speaking("carol"), WAIT)
    assert outlined("bob") and not outlined("carol") and not outlined("you")
    show_call(app, in_call(CallPeer("bob", level_dbfs=-75.0, connected=True),
                           CallPeer("carol", level_dbfs=-25.0, connected=True)))
    app.pump_until(lambda: grid.speaking("carol") and not grid.speaking("bob"), WAIT)
    assert outlined("carol") and not outlined("bob")


def test_a_call_of_25_renders_every_tile_and_keeps_the_controls_on_screen(app, world):
    go_online(app, world)
    names = [f"member{index:02d}" for index in range(24)]
    peers = [CallPeer(name, level_dbfs=-18.0 if name == "member05" else -80.0,
                      connected=True) for name in names]
    show_call(app, in_call(*peers, video_on=False))
    grid = app.main.video
    app.pump_until(lambda: grid.visible and len(grid.tiles) == 25, WAIT)
    app.pump_until(lambda: all(grid.tile_on_screen(t.user) for t in grid.tiles), WAIT)
    width, height = dpg.get_viewport_client_width(), dpg.get_viewport_client_height()
    rects = [grid.tile_on_screen(tile.user) for tile in grid.tiles]
    for rect in rects:
        assert rect is not None and rect.width > 40 and rect.height > 20
        assert rect.x >= 0 and rect.x + rect.width <= width
        assert rect.y >= 0 and rect.y + rect.height <= height
    for one, other in zip(rects, rects[1:], strict=False):  # row by row, none overlapping
        assert one is not None and other is not None
        assert one.x + one.width <= other.x or one.y + one.height <= other.y
    assert grid.speaking("member05") and not grid.speaking("member06")
    panel = app.main.call
    assert len(panel.meters) == 24  # a row each, in a panel that scrolls
    # Nothing a user needs is pushed off the window: the call's switches, the composer.
    for item in (panel.join, panel.mute, panel.deafen, panel.camera,
                 app.main.conversation.composer):
        assert dpg.is_item_visible(item), dpg.get_item_label(item)
        (x, y), (w, h) = dpg.get_item_rect_min(item), dpg.get_item_rect_size(item)
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= width and y + h <= height


def test_the_camera_shortcut_without_a_camera_says_how_to_get_one(app, world):
    go_online(app, world)
    assert app.settings.video_source == ""  # automatic; the shared window's calls: none
    app.perform("toggle_video")
    app.pump_until(lambda: any(toast.title == "Could not switch the camera"
                               for toast in app.model.toasts.visible()), WAIT)
    toast = next(t for t in app.model.toasts.visible() if t.title.endswith("camera"))
    assert "Pick a video source in Settings" in toast.body
    assert not app.model.call.video_on


# -- real calls (loopback, real aiortc, pattern video) -----------------------------------------

LOOPBACK = ("127.0.0.1",)
SMALL = {"video_width": 320, "video_height": 180, "video_fps": 10.0}


def counter_of(stream: LatestFrame) -> int | None:
    picture = stream.latest()
    decoded = decode_counter(picture.image) if picture is not None else None
    return decoded[0] if decoded is not None else None


class VideoWorld(PeerWorld):
    """The hub and bob, who joins #general's call with a test tone and a test pattern."""

    def bob_joins_with_video(self) -> None:
        async def join() -> None:
            assert self._bob is not None
            options = CallOptions(source=ToneSource(660.0), sink="null", ice_hosts=LOOPBACK,
                                  video="pattern", **SMALL)
            await self._bob.ref.ask(JoinCall("general", options))
        self.call(join)


def test_a_peer_in_a_real_call_shows_their_pattern_video_in_their_tile(window, tmp_path):
    app = window
    with VideoWorld(tmp_path / "world") as world:
        app.profile_root = tmp_path / "profiles"
        try:
            world.bob_joins_with_video()
            go_online(app, world)
            click(app.main.call.join)
            grid = app.main.video
            app.pump_until(lambda: grid.visible and grid.pictures_shown.get("bob", 0) >= 3,
                           WAIT)
            assert [tile.user for tile in grid.tiles] == ["you", "bob"]
            assert not grid.has_picture("you")  # the shared window's calls send no video
            assert not dpg.get_item_configuration(app.main.call.camera)["enabled"]
            stream = app.bridge.video_feeds.snapshot().peers["bob"]
            first = counter_of(stream)
            app.pump_until(lambda: (counter_of(stream) or 0) > (first or 0), WAIT)
            assert colours(tile_pixels(app, "bob")) > 20
        finally:
            app.disconnect()
            app.pump_until(lambda: app.model.phase in (Phase.IDLE, Phase.FAILED), WAIT)
            app.pump_until(lambda: not app.main.video.visible, WAIT)
            app.model.toasts = ToastBoard()


@pytest.fixture
async def pattern_bridge():
    """The app's call side with a test pattern for a camera, as demo mode has."""
    setup = CallSetup(source="tone:440", sink="null", video="pattern", level_interval=0.1,
                      **SMALL)
    bridge = Bridge(retry_base=0.05, call_setup=setup)
    await trio.to_thread.run_sync(bridge.start)
    yield bridge
    assert await trio.to_thread.run_sync(bridge.stop)


async def test_the_camera_switch_turns_our_video_on_and_off_in_a_real_call(
        pattern_bridge, hub, connect, tmp_path):
    bridge = pattern_bridge
    bob = await connect("bob")
    bob_call = await bob.session.ref.ask(JoinCall("general", CallOptions(
        source=ToneSource(660.0), sink="null", ice_hosts=LOOPBACK)))
    bridge.post(intents.ConnectToHub("127.0.0.1", hub.port, "you", PASSWORD, tmp_path / "you"))
    await next_notice(bridge, nt.Online)
    bridge.post(intents.JoinChannelCall("general"))
    def linked(notice: nt.CallChanged) -> bool:
        peer = notice.view.peer("bob")
        return peer is not None and peer.connected

    view = (await next_notice(bridge, nt.CallChanged, linked)).view
    assert not view.video_on and view.video_source == "pattern"  # off until clicked
    bridge.post(intents.ChooseVideo(True))
    await next_notice(bridge, nt.CallChanged, lambda n: n.view.video_on)

    async def frames_bob_got() -> int:
        state = await bob_call.ask(GetCallState())
        peer = state.peers.get("you")
        return peer.video_frames_received if peer is not None else 0

    def self_view_shows() -> bool:
        own = bridge.video_feeds.snapshot().self_view
        return own is not None and own.latest() is not None

    # our self-view fills, and bob decodes what we send
    await next_notice(bridge, nt.CallChanged, lambda n: self_view_shows())
    with trio.fail_after(WAIT):
        while await frames_bob_got() < 5:
            await next_notice(bridge, nt.CallChanged)
    bridge.post(intents.ChooseVideo(False))
    view = (await next_notice(bridge, nt.CallChanged, lambda n: not n.view.video_on)).view
    assert view.phase is CallPhase.IN_CALL  # the call goes on
    await next_notice(bridge, nt.CallChanged, lambda n: not self_view_shows())
    bridge.post(intents.LeaveChannelCall())
    await next_notice(bridge, nt.CallChanged, lambda n: n.view.phase is CallPhase.IDLE)
    assert bridge.video_feeds.snapshot().streams() == {}


DEMO_SCRIPT = """
from gossip.__main__ import demo_setup
from gossip.media.video import decode_counter
from gossip.ui.app import App
from gossip.ui.bridge import Bridge
from gossip.ui.settings import Settings

demo = demo_setup()
app = App(Settings(user="you"), Bridge(backdrop=demo.backdrop, call_setup=demo.calls),
          settled=demo.settled)
app.open()
grid = app.main.video
app.pump_until(lambda: demo.settled(app.model) and len(grid.tiles) == 3
               and all(grid.has_picture(tile.user) for tile in grid.tiles), 60)
feeds = app.bridge.video_feeds.snapshot()

def counters():
    decoded = {user: decode_counter(stream.latest().image)
               for user, stream in feeds.streams().items()}
    return {user: code[0] if code else -1 for user, code in decoded.items()}

first = counters()
app.pump_until(lambda: all(now > first[user] for user, now in counters().items()), 30)
print(" ".join(tile.user for tile in grid.tiles))
app.close()
"""


def test_demo_mode_shows_the_scripted_users_pattern_video(display, tmp_path):
    # A process of its own: the demo's scene needs a bridge with its backdrop.
    done = subprocess.run([sys.executable, "-c", DEMO_SCRIPT],
                          env={**os.environ, "DISPLAY": display}, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["you", "alice", "carol"]
