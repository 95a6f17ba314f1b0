"""Files in the desktop app (real window under Xvfb, real hub): a file message shows its name
and size with a Save button that fetches, checks and saves it; Attach sends one."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import dearpygui.dearpygui as dpg
import pytest

from gossip.client import events as ev
from gossip.client.filesend import save_file, send_file
from gossip.ui import notices as nt

from .appwindow import WAIT, click, go_online, texts_in


@pytest.fixture
def app(app, tmp_path):
    """conftest's app, saving what it downloads under this test's directory."""
    app.downloads_dir = tmp_path / "downloads"
    app.pictures_dir = tmp_path / "pictures"
    yield app
    app.downloads_dir = app.pictures_dir = None


def _buttons(item: int | str, label: str) -> list[int | str]:
    found = []
    if dpg.get_item_type(item).endswith("mvButton") and dpg.get_item_label(item) == label:
        found.append(item)
    for children in dpg.get_item_children(item).values():
        for child in children:
            found.extend(_buttons(child, label))
    return found


def test_a_file_from_another_client_shows_with_save_and_is_saved_checked(app, world, tmp_path):
    go_online(app, world)
    data = os.urandom(700_000)
    source = tmp_path / "slides.pdf"
    source.write_bytes(data)

    async def bob_sends() -> None:
        await send_file(world._bob.ref, source, channel="general", ttl=600)

    world.call(bob_sends)
    messages = app.main.conversation.messages
    app.pump_until(lambda: any("slides.pdf" in text for text in texts_in(messages)), WAIT)
    assert any(text.startswith("slides.pdf · 700.0 KB") for text in texts_in(messages))
    (save,) = _buttons(messages, "Save")
    click(save)
    # Save as: a folder chooser opens on the downloads folder (its nearest existing part).
    conversation = app.main.conversation
    assert dpg.is_item_shown(conversation.save_dialog)
    assert dpg.get_item_configuration(conversation.save_dialog)["default_path"] == str(tmp_path)
    (tmp_path / "downloads").mkdir()
    conversation._save_folder_picked(  # what the dialog hands over once a folder is chosen
        conversation.save_dialog, {"file_path_name": str(tmp_path / "downloads")}
    )
    app.pump_until(lambda: app.model.saved, WAIT)
    saved = Path(next(iter(app.model.saved.values())))
    assert saved == tmp_path / "downloads" / "slides.pdf"
    assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(data).digest()
    app.pump_until(lambda: "✓ saved as slides.pdf" in texts_in(messages), WAIT)


def test_a_file_attached_in_the_app_reaches_another_client(app, world, tmp_path):
    go_online(app, world)
    data = os.urandom(300_000)
    source = tmp_path / "photo.png"
    source.write_bytes(data)
    conversation = app.main.conversation
    assert dpg.get_item_callback(conversation.attach_button) is not None
    # What the file dialog hands over once the user picked a file.
    conversation._file_picked(conversation.file_dialog, {"file_path_name": str(source)})
    got = world.wait_for(ev.MessageReceived, lambda e: e.message.file is not None).message
    assert got.file.name == "photo.png" and got.sender == "you"

    async def bob_saves() -> str:
        saved = await save_file(world._bob.ref, got, tmp_path / "bob")
        return saved.sha256

    assert world.call(bob_saves) == hashlib.sha256(data).hexdigest()
    app.pump_until(
        lambda: any("photo.png" in text for text in texts_in(conversation.messages)), WAIT
    )


def _progress_bars(item: int | str) -> list[str]:
    """The words on every progress bar under an item."""
    found = []
    if dpg.get_item_type(item).endswith("mvProgressBar"):
        found.append(str(dpg.get_item_configuration(item)["overlay"]))
    for children in dpg.get_item_children(item).values():
        for child in children:
            found.extend(_progress_bars(child))
    return found


def _toast_titles(app) -> list[str]:
    return [toast.title for toast in app.model.toasts.toasts]


def test_transfers_show_speed_and_time_left_and_cancel_both_ways(app, world, tmp_path):
    go_online(app, world)
    conversation = app.main.conversation
    messages = conversation.messages
    source = tmp_path / "slides.pdf"
    source.write_bytes(os.urandom(700_000))

    async def bob_sends() -> None:
        await send_file(world._bob.ref, source, channel="general", ttl=600)

    world.call(bob_sends)
    app.pump_until(lambda: _buttons(messages, "Save"), WAIT)
    (message,) = [m for m in app.model.messages.values() if m.file is not None]
    file_id = message.file.file_id

    # Midway (as the session reports it): how much, how fast, how long still, and a Cancel.
    app.model.begin_transfer(file_id, "slides.pdf", "down", 700_000)
    app.model.apply(
        ev.FileProgress(file_id, "slides.pdf", "down", 350_000, 700_000, 175_000.0), 0.0
    )
    app.pump_until(lambda: _progress_bars(messages), WAIT)
    assert _progress_bars(messages) == ["350.0 KB of 700.0 KB · 175.0 KB/s · 0:02 left"]
    (cancel,) = _buttons(messages, "Cancel")
    assert dpg.get_item_user_data(cancel) == file_id
    app.model.apply(nt.TransferEnded(file_id, cancelled=False), 0.0)
    app.pump_until(lambda: _buttons(messages, "Save"), WAIT)

    # A download cancelled at once (what the Cancel button does): nothing is saved, not
    # even a part, and Save is offered again.
    click(_buttons(messages, "Save")[0])
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    conversation._save_folder_picked(conversation.save_dialog, {"file_path_name": str(chosen)})
    app.cancel_transfer(file_id)
    app.pump_until(lambda: file_id not in app.model.transfers, WAIT)
    assert "Saving slides.pdf cancelled" in _toast_titles(app)
    assert not app.model.saved
    assert list(chosen.iterdir()) == []
    app.pump_until(lambda: _buttons(messages, "Save") and not _progress_bars(messages), WAIT)

    # An upload shows under the messages, with its bar and a Cancel, before any message
    # exists...
    app.model.begin_transfer("f" * 32, "notes.txt", "up", 1000, "general")
    app.pump_until(lambda: "Sending notes.txt · 1.0 KB" in texts_in(messages), WAIT)
    assert _progress_bars(messages) == ["0 bytes of 1.0 KB · starting"]
    assert len(_buttons(messages, "Cancel")) == 1
    app.model.apply(nt.TransferEnded("f" * 32, cancelled=False), 0.0)
    # ...and cancelled, it is never posted.
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3_000_000))
    conversation._file_picked(conversation.file_dialog, {"file_path_name": str(big)})
    # Once (1 full run of 4, a clean clone's) the pick found no transfer begun: the app was
    # not online or had no channel then (it says so in a toast), cause not found yet.
    transfers = list(app.model.transfers.items())
    assert len(transfers) == 1, (app.model.phase, app.model.current_channel,
                                 _toast_titles(app))
    ((upload_id, started),) = transfers
    assert started.direction == "up" and started.total == 3_000_000
    app.cancel_transfer(upload_id)
    app.pump_until(lambda: not app.model.transfers, WAIT)
    assert "Sending big.bin cancelled" in _toast_titles(app)
    assert [m.file.name for m in app.model.messages.values() if m.file] == ["slides.pdf"]
    assert not _progress_bars(messages)


def _png(width: int, height: int, *, ramp: bool = True) -> bytes:
    """An RGBA PNG of a left-to-right red ramp (or all black), compressed a row at a time:
    a big black one is small and cheap to make, which is what a decompression bomb is."""
    red = bytes(x * 255 // max(1, width - 1) if ramp else 0 for x in range(width))
    row = b"\x00" + b"".join(bytes((r, 40, 90, 255) if ramp else (0, 0, 0, 0)) for r in red)
    packer = zlib.compressobj(1)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_pictures_show_inline_as_thumbnails_and_a_bomb_or_a_fake_is_refused(app, world, tmp_path):
    go_online(app, world)
    conversation = app.main.conversation
    messages = conversation.messages
    sent = {
        "cat.png": _png(480, 300),
        "bomb.png": _png(7000, 7000, ramp=False),  # 49 megapixels in under 1 MB
        "fake.png": os.urandom(5000),  # named a picture, is none
    }
    assert len(sent["bomb.png"]) < 2_000_000
    for name, data in sent.items():
        (tmp_path / name).write_bytes(data)

    async def bob_sends() -> None:
        for name in sent:
            await send_file(world._bob.ref, tmp_path / name, channel="general", ttl=600)

    world.call(bob_sends)
    app.pump_until(lambda: len(app.model.messages) == 3, WAIT)
    ids = {m.file.name: m.id for m in app.model.messages.values()}
    # Small pictures are fetched as they arrive, only to be shown.
    app.pump_until(lambda: len(app.model.pictures) + len(app.model.picture_notes) == 3, WAIT)
    app.pump_until(lambda: ids["cat.png"] in conversation.picture_textures, WAIT)
    texture = conversation.picture_textures[ids["cat.png"]]
    assert (dpg.get_item_width(texture), dpg.get_item_height(texture)) == (240, 150)
    assert _images(messages) == [texture]
    shown = app.model.pictures[ids["cat.png"]].rgba
    assert shown[:4] == bytes((0, 40, 90, 255)) and shown[4 * 239] > 250  # the ramp, kept
    notes = texts_in(messages)
    assert "not shown: too large a picture (over 40 megapixels)" in notes
    assert "not shown: its content is not a PNG, JPEG, GIF or WebP picture" in notes
    # Fetched to be shown is not saved: the cache is emptied, Save is still offered.
    assert list((tmp_path / "pictures").iterdir()) == []
    assert not app.model.saved and len(_buttons(messages, "Save")) == 3


def _images(item: int | str) -> list[int | str]:
    """The textures every image under an item shows."""
    found = []
    if dpg.get_item_type(item).endswith("mvImage"):
        found.append(dpg.get_item_configuration(item)["texture_tag"])
    for children in dpg.get_item_children(item).values():
        for child in children:
            found.extend(_images(child))
    return found


def test_with_auto_fetch_off_a_picture_shows_only_once_saved(app, world, tmp_path):
    before = app.settings
    go_online(app, world)
    app.open_settings()
    dialog = app.settings_dialog
    app.pump_until(lambda: dpg.is_item_shown(dialog.window), WAIT)
    assert dpg.get_value(dialog.pictures)  # on by default
    dpg.set_value(dialog.pictures, False)
    click(dialog.save_button)
    try:
        assert not app.settings.auto_fetch_pictures
        (tmp_path / "cat.png").write_bytes(_png(100, 400))

        async def bob_sends() -> None:
            await send_file(world._bob.ref, tmp_path / "cat.png", channel="general", ttl=600)

        world.call(bob_sends)
        conversation = app.main.conversation
        app.pump_until(lambda: _buttons(conversation.messages, "Save"), WAIT)
        click(_buttons(conversation.messages, "Save")[0])
        conversation._save_folder_picked(
            conversation.save_dialog, {"file_path_name": str(tmp_path / "downloads")}
        )
        app.pump_until(lambda: conversation.picture_textures, WAIT)
        (texture,) = conversation.picture_textures.values()
        assert (dpg.get_item_width(texture), dpg.get_item_height(texture)) == (60, 240)
        assert app.model.saved and not (tmp_path / "pictures").exists()  # never fetched alone
    finally:
        app.apply_settings(before)
