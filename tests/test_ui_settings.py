"""The app's settings: TOML in the config directory, never the password, which is remembered
(when asked) in the system keyring, or nowhere when there is none.

The keyring here is a real backend kept in memory (MemoryKeyring), set for every test and put
back after; "no keyring" is keyring's own fail backend, as on a headless machine."""

from __future__ import annotations

import stat
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import replace

import dearpygui.dearpygui as dpg
import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringLocked, PasswordDeleteError

from gossip.client.state import SessionState
from gossip.ui import notices as nt
from gossip.ui.app import App
from gossip.ui.bridge import Bridge
from gossip.ui.model import Phase
from gossip.ui.passwords import SERVICE, account, keyring_usable
from gossip.ui.settings import (
    Settings,
    load_settings,
    login_account,
    parse_hosts,
    remember_in_keyring,
    save_settings,
)
from gossip.ui.toasts import ToastBoard

from .appwindow import WAIT, PeerWorld, click, shared_display, shared_window
from .conftest import PASSWORD

NOW = 1_700_000_000.0


class MemoryKeyring(KeyringBackend):
    """A keyring that keeps passwords in a dict: everything a backend does, in this process."""

    priority = 1  # type: ignore[assignment]  # viable, though only ever set explicitly here

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")


class LockedKeyring(MemoryKeyring):
    """A keyring the user did not unlock: it refuses to store."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("the collection is locked")


class EmptyChainer(chainer.ChainerBackend):
    """keyring's chainer with nothing to chain: it keeps nothing and says nothing."""

    backends = ()  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


def file_text(path) -> str:
    return path.read_text() if path.exists() else ""


def test_settings_round_trip_without_the_password_by_default(tmp_path, memory_keyring):
    path = tmp_path / "gossip" / "settings.toml"
    settings = Settings(theme="light", font_scale=1.2, user="alice", host="hub.example",
                        port=1999, default_expiry=300.0, input_device="USB mic")
    login, refusal = remember_in_keyring(
        settings, settings.with_login("hub.example", 1999, "alice", "s3cret"))
    save_settings(login, path)
    loaded, problems = load_settings(path)
    assert problems == [] and refusal is None
    assert loaded == settings  # and so the password is not in it
    assert "s3cret" not in path.read_text()
    assert memory_keyring.passwords == {}


def test_a_remembered_password_is_in_the_keyring_never_in_the_file(tmp_path, memory_keyring):
    path = tmp_path / "settings.toml"
    remembering = Settings(remember_password=True).with_login("h", 1, "bob", "pw")
    kept, refusal = remember_in_keyring(Settings(), remembering)
    save_settings(kept, path)
    assert refusal is None and kept == remembering
    assert memory_keyring.passwords == {(SERVICE, "bob@h:1"): "pw"}
    assert "pw" not in path.read_text() and "password" not in tomllib.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded, problems = load_settings(path)
    assert (loaded.password, loaded.remember_password, problems) == ("pw", True, [])
    # Unticking "remember" takes it out of the keyring as well.
    forgetting = replace(loaded, remember_password=False, password="")
    kept, refusal = remember_in_keyring(loaded, forgetting)
    save_settings(kept, path)
    assert refusal is None and memory_keyring.passwords == {}
    assert load_settings(path)[0].password == ""


def test_a_new_login_replaces_the_one_remembered_before(memory_keyring):
    bob = Settings(remember_password=True).with_login("h", 1, "bob", "pw")
    remember_in_keyring(Settings(), bob)
    carol = bob.with_login("h", 1, "carol", "other")
    remember_in_keyring(bob, carol)
    assert memory_keyring.passwords == {(SERVICE, "carol@h:1"): "other"}
    changed = carol.with_login("h", 1, "carol", "new one")
    remember_in_keyring(carol, changed)
    assert memory_keyring.passwords == {(SERVICE, "carol@h:1"): "new one"}


def test_the_keyring_account_names_user_host_and_port():
    assert account("alice", "hub.example", 1720) == "alice@hub.example:1720"
    assert account("alice", "::1", 1720) == "alice@[::1]:1720"
    assert login_account(Settings(user="bob", host="10.0.0.2", port=99)) == "bob@10.0.0.2:99"


def test_an_old_file_with_the_password_has_it_moved_to_the_keyring(tmp_path, memory_keyring):
    path = tmp_path / "settings.toml"
    path.write_text('user = "bob"\nhost = "hub.example"\nport = 1999\n'
                    'remember_password = true\npassword = "old secret"\n'
                    'theme = "dark"\nfuture_option = 3\n')
    settings, problems = load_settings(path)
    assert (settings.password, settings.remember_password) == ("old secret", True)
    assert memory_keyring.passwords == {(SERVICE, "bob@hub.example:1999"): "old secret"}
    assert "old secret" not in path.read_text()
    assert tomllib.loads(path.read_text()) == {  # everything else is left as it was
        "user": "bob", "host": "hub.example", "port": 1999, "remember_password": True,
        "theme": "dark", "future_option": 3}
    assert problems == ["moved the password kept in plain text in settings.toml to the keyring"]
    assert load_settings(path) == (settings, [])


def test_an_old_file_with_a_password_not_to_be_remembered_loses_it(tmp_path, memory_keyring):
    path = tmp_path / "settings.toml"
    path.write_text('user = "bob"\npassword = "leaked"\n')
    settings, problems = load_settings(path)
    assert settings.password == "" and memory_keyring.passwords == {}
    assert "leaked" not in path.read_text()
    assert problems == ["removed a password left in settings.toml"]


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_remembering_is_refused_and_nothing_is_written(tmp_path):
    assert not keyring_usable()
    path = tmp_path / "settings.toml"
    asked = Settings(remember_password=True).with_login("h", 1, "bob", "pw")
    kept, refusal = remember_in_keyring(Settings(), asked)
    save_settings(kept, path)
    assert refusal is not None and "was not remembered" in refusal
    assert "no system keyring" in refusal
    assert (kept.remember_password, kept.password) == (False, "")
    assert "pw" not in path.read_text()
    loaded, problems = load_settings(path)
    assert (loaded.remember_password, loaded.password, problems) == (False, "", [])


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_an_old_files_password_is_removed_not_moved(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('user = "bob"\nremember_password = true\npassword = "old secret"\n')
    settings, problems = load_settings(path)
    assert "old secret" not in path.read_text()
    assert tomllib.loads(path.read_text()) == {"user": "bob", "remember_password": False}
    assert not settings.remember_password
    assert settings.password == "old secret"  # this run's connect screen still has it
    assert len(problems) == 1 and "not remembered any more" in problems[0]


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_a_file_that_says_remember_loads_with_a_note(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('user = "bob"\nremember_password = true\n')
    settings, problems = load_settings(path)
    assert settings.password == ""
    assert len(problems) == 1 and "could not be read" in problems[0]


@pytest.mark.parametrize("backend", [null.Keyring, EmptyChainer, LockedKeyring])
def test_a_keyring_that_keeps_nothing_or_refuses_is_a_refusal_too(tmp_path, backend):
    keyring.set_keyring(backend())
    asked = Settings(remember_password=True).with_login("h", 1, "bob", "pw")
    kept, refusal = remember_in_keyring(Settings(), asked)
    assert refusal is not None and "was not remembered" in refusal
    assert (kept.remember_password, kept.password) == (False, "")


@pytest.fixture
def windowless_app(tmp_path) -> Iterator[App]:
    """The app's logic without a window: its bridge (the trio side) runs, nothing renders."""
    app = App(Settings(), Bridge(), settings_path=tmp_path / "settings.toml", clock=lambda: NOW)
    app.bridge.start()
    yield app
    app.bridge.stop()


def keyring_answer(app: App) -> nt.KeyringUpdated:
    """Feed the app its notices until the keyring's answer came (from the trio side)."""
    while True:
        notice = app.bridge.notices.get(20.0)
        app._take(notice, NOW)
        if isinstance(notice, nt.KeyringUpdated):
            return notice


@pytest.mark.usefixtures("no_keyring")
def test_the_app_shows_the_refusal_until_dismissed_and_writes_no_password(
        tmp_path, windowless_app):
    app, path = windowless_app, tmp_path / "settings.toml"
    app.connect("127.0.0.1", 1720, "bob", "pw", remember=True)
    state = SessionState("hub", "AB" * 32, ("general",), (), ())
    app._take(nt.Online("127.0.0.1", 1720, "bob", "CD" * 20, state), NOW)
    keyring_answer(app)
    refusals = [t for t in app.model.toasts.toasts if t.title == "Password not remembered"]
    assert len(refusals) == 1 and refusals[0].sticky
    assert "no system keyring" in refusals[0].body
    assert not app.settings.remember_password and app.settings.password == ""
    assert "pw" not in path.read_text()
    assert tomllib.loads(path.read_text())["user"] == "bob"


def test_the_app_remembers_a_login_in_the_keyring(tmp_path, memory_keyring, windowless_app):
    app, path = windowless_app, tmp_path / "settings.toml"
    app.connect("127.0.0.1", 1720, "bob", "pw", remember=True)
    state = SessionState("hub", "AB" * 32, ("general",), (), ())
    app._take(nt.Online("127.0.0.1", 1720, "bob", "CD" * 20, state), NOW)
    assert keyring_answer(app).refusal is None
    assert memory_keyring.passwords == {(SERVICE, "bob@127.0.0.1:1720"): "pw"}
    assert "pw" not in path.read_text()
    assert not [t for t in app.model.toasts.toasts if t.title == "Password not remembered"]


def test_a_missing_file_gives_defaults_and_a_bad_value_is_dropped_with_a_note(tmp_path):
    assert load_settings(tmp_path / "none.toml") == (load_settings(tmp_path / "x")[0], [])
    path = tmp_path / "settings.toml"
    path.write_text('theme = "neon"\nport = 99999\nuser = "bob"\nfont_scale = 1.4\n'
                    'future_option = true\n')
    settings, problems = load_settings(path)
    assert (settings.theme, settings.port, settings.user, settings.font_scale) == (
        "wintry", 1720, "bob", 1.4)
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


class WatchedLockedKeyring(LockedKeyring):
    """A locked keyring that notes which thread asked it."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def set_password(self, service: str, username: str, password: str) -> None:
        self.threads.add(threading.current_thread().name)
        super().set_password(service, username, password)


def test_in_the_window_the_keyring_is_asked_off_the_render_thread_and_a_refusal_unticks(
        pytestconfig, tmp_path):
    shared_display(pytestconfig)
    app = shared_window(pytestconfig, tmp_path / "profiles")
    locked = WatchedLockedKeyring()
    keyring.set_keyring(locked)
    app.profile_root = tmp_path / "profiles"
    app._settings_path = tmp_path / "settings.toml"  # the shared window writes none otherwise
    try:
        with PeerWorld(tmp_path / "world") as world:
            form = app.connect_view
            dpg.set_value(form.host, "127.0.0.1")
            dpg.set_value(form.port, str(world.port))
            dpg.set_value(form.user, "you")
            dpg.set_value(form.password, PASSWORD)
            dpg.set_value(form.remember, True)
            click(form.button)
            app.pump_until(lambda: any(t.title == "Password not remembered"
                                       for t in app.model.toasts.visible()), WAIT)
            assert dpg.get_value(form.remember) is False  # it says what happens next time
            assert not app.settings.remember_password
            assert locked.threads and threading.main_thread().name not in locked.threads
            app.disconnect()
            app.pump_until(lambda: app.model.phase is Phase.IDLE, WAIT)
    finally:
        app._settings_path = None
        app.model.toasts = ToastBoard()
        app.settings = replace(app.settings, remember_password=False, password="")


class WatchedMemoryKeyring(MemoryKeyring):
    """A keyring that notes which thread read it."""

    def __init__(self) -> None:
        super().__init__()
        self.readers: set[str] = set()

    def get_password(self, service: str, username: str) -> str | None:
        self.readers.add(threading.current_thread().name)
        return super().get_password(service, username)


def test_the_remembered_password_is_read_off_the_render_thread_at_start(tmp_path):
    watched = WatchedMemoryKeyring()
    keyring.set_keyring(watched)
    asked = Settings(remember_password=True).with_login("127.0.0.1", 1720, "bob", "")
    watched.set_password(SERVICE, login_account(asked), "pw")
    path = tmp_path / "settings.toml"
    save_settings(asked, path)
    loaded, problems = load_settings(path, recall=False)  # what the app starts with
    assert (loaded.password, problems, watched.readers) == ("", [], set())
    app = App(loaded, Bridge(), settings_path=path, clock=lambda: NOW)
    app.bridge.start()
    try:
        app.recall_password()
        while not isinstance(notice := app.bridge.notices.get(20.0), nt.PasswordRecalled):
            app._take(notice, NOW)
        app._take(notice, NOW)
    finally:
        app.bridge.stop()
    assert app.settings.password == "pw"
    assert watched.readers and threading.main_thread().name not in watched.readers


def test_voice_processing_and_transmit_mode_are_settings_that_reach_calls(tmp_path):
    from gossip.media.voicespec import TransmitMode
    from gossip.ui.launch import call_setup
    from gossip.ui.settings import voice_options

    voice = voice_options(Settings())
    # On by default: each stage runs where the devices allow (a microphone; AEC: speakers).
    assert voice.stages(live_devices=True).any and not voice.stages(live_devices=False).any
    assert voice.transmit is TransmitMode.CONTINUOUS
    path = tmp_path / "settings.toml"
    path.write_text('echo_cancellation = false\ntransmit = "ptt"\nhigh_pass = "yes"\n')
    settings, problems = load_settings(path)
    assert len(problems) == 1  # the bad high_pass value, dropped
    voice = call_setup(settings).voice
    assert voice.transmit is TransmitMode.PUSH_TO_TALK
    stages = voice.stages(live_devices=True)
    assert not stages.echo_cancellation and stages.noise_suppression and stages.high_pass
    save_settings(settings, path)
    assert load_settings(path)[0].transmit == "ptt"
