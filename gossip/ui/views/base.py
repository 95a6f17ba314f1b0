"""What every view needs from the app: the theme and fonts, and the actions it may trigger.
Views never talk to the bridge themselves; they call these."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..callview import CallView
from ..fonts import Fonts
from ..intents import Intent
from ..model import AppModel
from ..themes import Themes
from ..videoconvert import VideoConverter


class AppActions(Protocol):
    model: AppModel
    themes: Themes
    fonts: Fonts
    video: VideoConverter

    @property
    def talk_key_reach(self) -> str:
        """Whether the talk key works in other windows, in words (globalkeys.py)."""
        ...

    def post(self, intent: Intent) -> None: ...

    def connect(self, host: str, port: int, user: str, password: str,
                remember: bool) -> None: ...

    def send_message(self, text: str, ttl: float, reply_to: str = "") -> None: ...

    def attach_file(self, path: str, ttl: float) -> None: ...

    def save_file(self, message_id: str, directory: Path | None = None) -> None: ...

    def downloads_folder(self) -> Path: ...

    def cancel_transfer(self, file_id: str) -> None: ...

    def select_devices(self, input_device: str, output_device: str) -> None: ...

    def select_channel(self, channel: str) -> None: ...

    def open_safety(self, user: str) -> None: ...

    def close_safety(self) -> None: ...

    def open_settings(self) -> None: ...

    def open_shortcuts(self) -> None: ...

    def confirm(self, title: str, body: str, confirm_label: str,
                action: Callable[[], None]) -> None: ...

    def dismiss_toast(self, toast_id: int) -> None: ...

    def disconnect(self) -> None: ...

    def quit(self) -> None: ...

    def set_theme(self, name: str) -> None: ...

    @property
    def call_view(self) -> CallView: ...
