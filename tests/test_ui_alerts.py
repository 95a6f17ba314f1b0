"""Desktop notifications and the title's unread count: the decisions (focus, setting), and
the notifier against a real private D-Bus session bus with a small notification service on
it, and on a bus with no service at all (nothing happens, once logged)."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest
from jeepney import HeaderFields, MessageType, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from gossip.client import events as ev
from gossip.client.messages import ChatMessage
from gossip.crypto.pins import Trust
from gossip.ui.alerts import Alerts, notification_for, window_title
from gossip.ui.desktopnotify import DesktopNotifier, Notification, body_markup, should_notify

WAIT = 10.0


def _received(sender: str, text: str, channel: str = "general") -> ev.MessageReceived:
    message = ChatMessage(
        f"{sender}-{text}", channel, sender, text, 1000.0, 1600.0, verified=True, trust=Trust.PINNED
    )
    return ev.MessageReceived(message)


def test_only_an_unfocused_window_with_the_setting_on_notifies():
    assert should_notify(enabled=True, focused=False)
    assert not should_notify(enabled=True, focused=True)
    assert not should_notify(enabled=True, focused=None)  # unknown: it may be in front
    assert not should_notify(enabled=False, focused=False)


def test_messages_and_calls_of_others_make_notifications_ours_do_not():
    assert notification_for(_received("alice", "hi"), "you") == Notification(
        "alice in #general", "hi"
    )
    assert notification_for(_received("you", "from my phone"), "you") is None
    assert notification_for(ev.CallStarted("random", ("bob",)), "you") == Notification(
        "Call in #random", "bob in the call"
    )
    rings = notification_for(ev.CallStarted("random", ("bob",)), "you", call_sound=True)
    assert rings is not None and rings.sound == "phone-incoming-call"
    assert notification_for(ev.CallStarted("random", ("you", "bob")), "you") is None
    assert notification_for(ev.MemberJoined("bob", "A" * 40, Trust.NEW), "you") is None


def test_the_title_counts_unread_and_what_came_while_away():
    assert window_title("Gossip", 0, None) == "Gossip"
    assert window_title("Gossip", 3, "general") == "(3) Gossip — general"
    focused: list[bool | None] = [False]
    sent: list[Notification] = []
    alerts = Alerts(sent.append, lambda: focused[0])
    for text in ("one", "two"):
        alerts.take(
            _received("alice", text), own_user="you", current_channel="general", enabled=True
        )
    alerts.take(
        _received("alice", "elsewhere", "random"),
        own_user="you",
        current_channel="general",
        enabled=False,
    )  # the setting off: no notification
    assert [n.body for n in sent] == ["one", "two"] and alerts.notified == 2
    # Two unseen in the open channel, one unread elsewhere (the model counts that one).
    assert alerts.title("Gossip", 1, "general") == "(3) Gossip — general"
    focused[0] = True  # back in front
    assert alerts.title("Gossip", 1, "general") == "(1) Gossip — general"
    alerts.take(_received("alice", "seen"), own_user="you", current_channel="general", enabled=True)
    assert alerts.notified == 2


def test_what_a_member_wrote_cannot_become_markup():
    assert body_markup("<a href='x'>click</a> & <b>bold</b>") == (
        "&lt;a href='x'&gt;click&lt;/a&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
    )
    assert body_markup("line\nbreak   and " + "x" * 300).startswith("line break and x")
    assert len(body_markup("x" * 300)) == 200


# -- a real session bus -----------------------------------------------------------------------


@pytest.fixture
def session_bus() -> Iterator[str]:
    """A private D-Bus session bus (dbus-daemon), its address."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (Debian: dbus-daemon)")
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        yield daemon.stdout.readline().strip()
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


class NotificationService:
    """A tiny org.freedesktop.Notifications on the bus: answers Notify, keeps what came."""

    def __init__(self, address: str) -> None:
        self._connection = open_dbus_connection(bus=address)
        reply = self._connection.send_and_get_reply(
            message_bus.RequestName("org.freedesktop.Notifications"), timeout=WAIT
        )
        assert reply.body == (1,)  # primary owner
        self.calls: list[tuple] = []
        self.got = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                message = self._connection.receive(timeout=WAIT)
            except (TimeoutError, OSError):
                return
            if (
                message.header.message_type is MessageType.method_call
                and message.header.fields.get(HeaderFields.member) == "Notify"
            ):
                self.calls.append(message.body)
                self._connection.send(new_method_return(message, "u", (len(self.calls),)))
                self.got.set()

    def close(self) -> None:
        self._connection.close()


def test_a_notification_reaches_the_service_on_the_session_bus(session_bus):
    service = NotificationService(session_bus)
    notifier = DesktopNotifier(session_bus)
    notifier.start()
    try:
        assert notifier.notify(Notification("alice in #general", "<b>hi</b> & bye"))
        assert service.got.wait(WAIT)
        service.got.clear()
        app, replaces, icon, summary, body, actions, hints, expire = service.calls[0]
        assert hints == {}
        assert (app, summary, body) == (
            "Gossip",
            "alice in #general",
            "&lt;b&gt;hi&lt;/b&gt; &amp; bye",
        )
        # A call rings: the sound's name goes as a hint, for the server to play.
        assert notifier.notify(Notification("Call in #general", "bob", "phone-incoming-call"))
        assert service.got.wait(WAIT)
        assert service.calls[1][6] == {"sound-name": ("s", "phone-incoming-call")}
        assert notifier.unavailable is None
    finally:
        notifier.stop()
        service.close()
    assert notifier.sent == 2


def test_without_a_notification_service_nothing_happens(session_bus):
    notifier = DesktopNotifier(session_bus)
    notifier.start()
    notifier.notify(Notification("alice in #general", "hi"))
    notifier.stop()  # the worker has tried, and given up
    assert notifier.unavailable is not None and "no notification service" in notifier.unavailable
    assert not notifier.notify(Notification("again", "hi"))
    assert notifier.sent == 0


def test_without_a_bus_nothing_happens(tmp_path):
    notifier = DesktopNotifier(f"unix:path={tmp_path / 'no-bus-here'}")
    notifier.start()
    notifier.stop()
    assert notifier.unavailable is not None and "no D-Bus session bus" in notifier.unavailable
    assert not notifier.notify(Notification("alice", "hi"))
