"""The desktop app's settings, kept as TOML in the platform's config directory.

The file never holds the password: a remembered one lives in the system keyring (passwords.py),
and one found in an older file is moved there and the file rewritten without it. The file is
readable by its owner only. A bad value is dropped (with a note), never fatal.
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
from gossip.media.voicespec import TransmitMode, VoiceOptions
from gossip.wire import DEFAULT_PORT, is_valid_name

from . import passwords
from .passwords import PasswordNotKept
from .shortcuts import DEFAULT_TALK_KEY, TALK_KEYS
from .videosetting import AUTOMATIC, is_video_setting

THEMES = ("wintry", "dark", "light")
FONT_SCALES = (0.8, 1.6)
RENDER_MODES = ("on_demand", "always")  # pacing.RenderMode's values
SETTINGS_FILE = "settings.toml"
VOICE_STAGES = ("echo_cancellation", "noise_suppression", "gain_control", "high_pass")
TRANSMIT_MODES = tuple(mode.value for mode in TransmitMode)


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
    password: str = ""  # in memory only: from the keyring, or typed in this run
    input_device: str = ""  # "" means the system default
    output_device: str = ""
    default_expiry: float = 3600.0
    # Addresses calls offer to peers (ICE host candidates). () = every interface address of
    # this machine, or only loopback when the hub itself is on loopback.
    ice_hosts: tuple[str, ...] = ()
    # What the camera button sends in calls: "" = a camera if there is one, else no video;
    # or a spec: "none", "camera[:DEVICE]", "screen", "pattern", "file:PATH".
    video_source: str = AUTOMATIC
    # "on_demand": frames only when something changes (idle costs next to nothing);
    # "always": 60 frames a second, the old loop, kept to compare against (benchmarks/app_idle).
    render: str = "on_demand"
    # A desktop notification for a message or a call starting while the window is in the
    # background (where a freedesktop notification service runs).
    desktop_notifications: bool = True
    # With it, the ring the notification service plays when a call starts in a channel of ours.
    call_sound: bool = True
    # Voice processing on the microphone in calls (each on only with a real microphone; echo
    # cancellation also needs the speakers) and when it is sent: "continuous", "voice"
    # (voice activation) or "ptt" (push-to-talk).
    echo_cancellation: bool = True
    noise_suppression: bool = True
    gain_control: bool = True
    high_pass: bool = True
    transmit: str = "continuous"
    talk_key: str = DEFAULT_TALK_KEY  # held in the window to talk, in push-to-talk mode
    # ... and in other windows too, where the desktop lets us see it (globalkeys.py)
    global_talk_key: bool = True
    # A small picture (pictures.AUTO_FETCH_BYTES) is fetched as it arrives to show inline.
    auto_fetch_pictures: bool = True

    def with_login(self, host: str, port: int, user: str, password: str) -> Settings:
        """The values the connect screen should offer next time."""
        return replace(self, host=host, port=port, user=user,
                       password=password if self.remember_password else "")


def voice_options(settings: Settings) -> VoiceOptions:
    """The calls' voice options: a stage left on runs where the devices allow it (None), one
    turned off never runs."""
    return VoiceOptions(
        echo_cancellation=None if settings.echo_cancellation else False,
        noise_suppression=None if settings.noise_suppression else False,
        gain_control=None if settings.gain_control else False,
        high_pass=None if settings.high_pass else False,
        transmit=TransmitMode(settings.transmit))


def login_account(settings: Settings) -> str:
    """The keyring account the remembered password of this login is kept under."""
    return passwords.account(settings.user, settings.host, settings.port)


def default_settings_path() -> Path:
    return platformdirs.user_config_path("gossip") / SETTINGS_FILE


def default_user() -> str:
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name here (containers, services)
        return ""
    return name if is_valid_name(name) else ""


def load_settings(path: Path, *, recall: bool = True) -> tuple[Settings, list[str]]:
    """The settings in `path` (defaults where absent) and what was wrong with the file. With
    `recall`, a remembered password is read from the keyring too; the app passes False and
    asks `recall_password` on its trio side, so a slow keyring never holds up the window."""
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
        if item.name not in data or item.name == "password":
            continue
        value = _checked(item.name, data[item.name])
        if value is None:
            problems.append(f"ignored a bad value for {item.name!r} in {path.name}")
        else:
            values[item.name] = value
    settings = replace(defaults, **values)
    if "password" in data:
        settings, note = _move_password_to_keyring(settings, data, path)
        problems.append(note)
    elif recall:
        password, problem = recall_password(settings)
        settings = replace(settings, password=password)
        problems.extend([problem] if problem else [])
    return settings, problems


def recall_password(settings: Settings) -> tuple[str, str | None]:
    """The password remembered for the settings' login ("" if none or not remembering) and,
    if the keyring could not say, why."""
    if not settings.remember_password:
        return "", None
    try:
        return passwords.recall(login_account(settings)), None
    except PasswordNotKept as exc:
        return "", f"the remembered password could not be read: {exc}"


def _move_password_to_keyring(settings: Settings, data: dict[str, Any],
                              path: Path) -> tuple[Settings, str]:
    """An older file kept the password in plain text: into the keyring with it when it was to be
    remembered and the keyring takes it, and out of the file in any case. Returns the settings
    (the password kept in memory for this run) and what was done, for the user."""
    found = data.pop("password")
    password = found if isinstance(found, str) else ""
    refusal = ""
    if settings.remember_password and password:
        try:
            passwords.keep(login_account(settings), password)
        except PasswordNotKept as exc:
            refusal = str(exc)
            settings = replace(settings, remember_password=False)
            data["remember_password"] = False
    try:
        _write(tomli_w.dumps(data), path)
    except SettingsError as exc:
        return replace(settings, password=password), f"{exc}: the password is still in it"
    settings = replace(settings, password=password)
    if refusal:
        return settings, (f"removed the password kept in plain text in {path.name}; it is not "
                          f"remembered any more, since {refusal}")
    if settings.remember_password and password:
        return settings, f"moved the password kept in plain text in {path.name} to the keyring"
    return replace(settings, password=""), f"removed a password left in {path.name}"


def keyring_change_needed(previous: Settings, settings: Settings) -> bool:
    """Whether going from `previous` to `settings` asks anything of the keyring (what
    `remember_in_keyring` would do): most changes (a theme, a device) do not."""
    before = login_account(previous) if previous.remember_password else None
    after = login_account(settings) if settings.remember_password else None
    keep = (after is not None and bool(settings.password)
            and (after, settings.password) != (before, previous.password))
    return keep or (before is not None and before != after)


def remember_in_keyring(previous: Settings, settings: Settings) -> tuple[Settings, str | None]:
    """Put the password into the keyring, or take it out, as `settings` asks after `previous`.
    Returns the settings as they now stand (not remembering, without the password, if the
    keyring refused it) and, if it did, why, in words for the user."""
    before = login_account(previous) if previous.remember_password else None
    after = login_account(settings) if settings.remember_password else None
    problems: list[str] = []
    if (after is not None and settings.password
            and (after, settings.password) != (before, previous.password)):
        try:
            passwords.keep(after, settings.password)
        except PasswordNotKept as exc:
            problems.append(f"The password was not remembered: {exc}. It was not saved "
                            "anywhere; you will be asked for it next time.")
            settings = replace(settings, remember_password=False, password="")
            after = None
    if before is not None and before != after:
        try:
            passwords.forget(before)
        except PasswordNotKept as exc:
            problems.append(f"The password remembered before could not be removed: {exc}.")
    return settings, " ".join(problems) or None


def save_settings(settings: Settings, path: Path) -> None:
    """Write the settings atomically, never the password (the keyring keeps that)."""
    data = asdict(settings)
    data.pop("password")
    _write(tomli_w.dumps(data), path)


def _write(text: str, path: Path) -> None:
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
    if name in ("remember_password", "desktop_notifications", "call_sound",
                "auto_fetch_pictures", "global_talk_key", *VOICE_STAGES):
        return value if isinstance(value, bool) else None
    if name == "transmit":
        return value if value in TRANSMIT_MODES else None
    if name == "talk_key":
        return value if value in TALK_KEYS else None
    if name == "default_expiry":
        ok = isinstance(value, (int, float)) and 0 < value <= MAX_TTL
        return float(value) if ok else None
    if name == "ice_hosts":
        return _checked_hosts(value)
    if name == "render":
        return value if value in RENDER_MODES else None
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
