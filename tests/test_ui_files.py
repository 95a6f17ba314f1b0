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
