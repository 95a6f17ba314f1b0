"""The app's settings file: TOML in the config directory, the password only when asked."""

from __future__ import annotations

import stat
import tomllib
from dataclasses import replace

import pytest

from gossip.ui.settings import Settings, load_settings, parse_hosts, save_settings


def test_settings_round_trip_without_the_password_by_default(tmp_path):
    path = tmp_path / "gossip" / "settings.toml"
    settings = Settings(theme="light", font_scale=1.2, user="alice", host="hub.example",
                        port=1999, default_expiry=300.0, input_device="USB mic")
    save_settings(settings.with_login("hub.example", 1999, "alice", "s3cret"), path)
    loaded, problems = load_settings(path)
    assert problems == []
    assert loaded == settings  # and so the password is not in it
    assert "s3cret" not in path.read_text()


def test_the_password_is_kept_only_when_asked_and_then_privately(tmp_path):
    path = tmp_path / "settings.toml"
    remembering = Settings(remember_password=True).with_login("h", 1, "bob", "pw")
    save_settings(remembering, path)
    assert tomllib.loads(path.read_text())["password"] == "pw"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings(path)[0].password == "pw"
    save_settings(replace(remembering, remember_password=False), path)
    assert "password" not in tomllib.loads(path.read_text())


def test_a_missing_file_gives_defaults_and_a_bad_value_is_dropped_with_a_note(tmp_path):
    assert load_settings(tmp_path / "none.toml") == (load_settings(tmp_path / "x")[0], [])
    path = tmp_path / "settings.toml"
    path.write_text('theme = "neon"\nport = 99999\nuser = "bob"\nfont_scale = 1.4\n'
                    'password = "leaked"\nfuture_option = true\n')
    settings, problems = load_settings(path)
    assert (settings.theme, settings.port, settings.user, settings.font_scale) == (
        "wintry", 1720, "bob", 1.4)
    assert settings.password == ""  # remember_password is off, so it is not used
    assert len(problems) == 2


def test_an_unreadable_file_falls_back_to_defaults(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("this is [not toml")
    settings, problems = load_settings(path)
    assert settings.theme == "wintry" and "using defaults" in problems[0]


def test_call_addresses_default_to_automatic_and_round_trip_as_literal_ips(tmp_path):
    path = tmp_path / "settings.toml"
    assert Settings().ice_hosts == ()
    save_settings(Settings(ice_hosts=("192.0.2.10", "2001:db8::1")), path)
    assert load_settings(path)[0].ice_hosts == ("192.0.2.10", "2001:db8::1")
    path.write_text('ice_hosts = ["hub.example.org"]\n')  # names would need DNS: refused
    settings, problems = load_settings(path)
    assert settings.ice_hosts == () and len(problems) == 1
    assert parse_hosts(" 192.0.2.10, 192.0.2.11 ") == ("192.0.2.10", "192.0.2.11")
    assert parse_hosts("") == ()
    with pytest.raises(ValueError, match="literal IP address"):
        parse_hosts("192.0.2.10 lan-box")
