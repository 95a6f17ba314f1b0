"""The desktop app's settings, kept as TOML in the platform's config directory.

The password is written only when the user asked for it to be remembered, and then the file
is readable by its owner only. A bad value is dropped (with a note), never fatal.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from gossip.client.messages import MAX_TTL
from gossip.media.icehosts import check_hosts
from gossip.wire import DEFAULT_PORT, is_valid_name

from .videosetting import AUTOMATIC, is_video_setting

THEMES = ("wintry", "dark", "light")
FONT_SCALES = (0.8, 1.6)
SETTINGS_FILE = "settings.toml"


class SettingsError(Exception):
    """The settings file could not be written."""


@dataclass(frozen=True)
class Settings:
    theme: str = "wintry"
    font_scale: float = 1.0
    user: str = ""
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    remember_password: bool = False
    password: str = ""
    input_device: str = ""  # "" means the system default
    output_device: str = ""
    default_expiry: float = 3600.0
    # Addresses calls offer to peers (ICE host candidates). () = every interface address of
    # this machine, or only loopback when the hub itself is on loopback.
    ice_hosts: tuple[str, ...] = ()
    # What the camera button sends in calls: "" = a camera if there is one, else no video;
    # or a spec: "none", "camera[:DEVICE]", "screen", "pattern", "file:PATH".
    video_source: str = AUTOMATIC

    def with_login(self, host: str, port: int, user: str, password: str) -> Settings:
        """The values the connect screen should offer next time."""
        return replace(self, host=host, port=port, user=user,
                       password=password if self.remember_password else "")


def default_settings_path() -> Path:
    return platformdirs.user_config_path("gossip") / SETTINGS_FILE


def default_user() -> str:
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name here (containers, services)
        return ""
    return name if is_valid_name(name) else ""


def load_settings(path: Path) -> tuple[Settings, list[str]]:
    """The settings in `path` (defaults where absent) and what was wrong with the file."""
    defaults = Settings(user=default_user())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return defaults, []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return defaults, [f"cannot read {path.name}: {exc}; using defaults"]
    problems: list[str] = []
    values: dict[str, Any] = {}
    for item in fields(Settings):
        if item.name not in data:
            continue
        value = _checked(item.name, data[item.name])
        if value is None:
            problems.append(f"ignored a bad value for {item.name!r} in {path.name}")
        else:
            values[item.name] = value
    settings = replace(defaults, **values)
    if not settings.remember_password:
        settings = replace(settings, password="")
    return settings, problems


def save_settings(settings: Settings, path: Path) -> None:
    """Write the settings atomically; the password only if it is to be remembered."""
    data = asdict(settings)
    if not settings.remember_password or not settings.password:
        data.pop("password")
    text = tomli_w.dumps(data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        raise SettingsError(f"cannot save settings to {path}: {exc.strerror or exc}") from None


def _checked(name: str, value: Any) -> Any:
    """The value if it is usable for setting `name`, else None."""
    if name == "theme":
        return value if value in THEMES else None
    if name == "font_scale":
        ok = isinstance(value, (int, float)) and FONT_SCALES[0] <= value <= FONT_SCALES[1]
        return float(value) if ok else None
    if name == "port":
        return value if isinstance(value, int) and 0 < value < 65536 else None
    if name == "user":
        return value if isinstance(value, str) and (not value or is_valid_name(value)) else None
    if name == "remember_password":
        return value if isinstance(value, bool) else None
    if name == "default_expiry":
        ok = isinstance(value, (int, float)) and 0 < value <= MAX_TTL
        return float(value) if ok else None
    if name == "ice_hosts":
        return _checked_hosts(value)
    if name == "video_source":
        return value if isinstance(value, str) and is_video_setting(value) else None
    return value if isinstance(value, str) else None


def _checked_hosts(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(isinstance(host, str) for host in value):
        return None
    try:
        return check_hosts(value)
    except ValueError:
        return None


def parse_hosts(text: str) -> tuple[str, ...]:
    """ICE host addresses as typed in the settings dialog (commas or spaces between them).
    Raises ValueError for anything that is not a literal IP address."""
    return check_hosts([part for part in text.replace(",", " ").split() if part])
