"""Files in the desktop app (real window under Xvfb, real hub): a file message shows its name
and size with a Save button that fetches, checks and saves it; Attach sends one."""

from __future__ import annotations

import hashlib
import os
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
    yield app
    app.downloads_dir = None


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
    app.cancel_transfer(file_id)
    app.pump_until(lambda: file_id not in app.model.transfers, WAIT)
    assert "Saving slides.pdf cancelled" in _toast_titles(app)
    assert not app.model.saved
    assert list((tmp_path / "downloads").glob("*")) == []
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
    ((upload_id, started),) = app.model.transfers.items()
    assert started.direction == "up" and started.total == 3_000_000
    app.cancel_transfer(upload_id)
    app.pump_until(lambda: not app.model.transfers, WAIT)
    assert "Sending big.bin cancelled" in _toast_titles(app)
    assert [m.file.name for m in app.model.messages.values() if m.file] == ["slides.pdf"]
    assert not _progress_bars(messages)
