"""Desktop notifications through the freedesktop notification service (D-Bus
org.freedesktop.Notifications), sent from a worker thread with jeepney's blocking I/O so
the render loop never waits on the bus. Where there is no bus or no service, it does nothing
(logged once): a notification is a courtesy, never something the app depends on."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from jeepney import DBusAddress, DBusErrorResponse, MessageType, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection

log = logging.getLogger("gossip.ui.desktopnotify")

NOTIFICATIONS = DBusAddress(
    "/org/freedesktop/Notifications",
    bus_name="org.freedesktop.Notifications",
    interface="org.freedesktop.Notifications",
)
# Notify(app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout)
NOTIFY_SIGNATURE = "susssasa{sv}i"
_SUMMARY_CHARS = 80
_BODY_CHARS = 200
_REPLY_SECONDS = 2.0
# Notifications waiting for the worker; more at once are dropped (counted): a burst of
# messages while away needs one or two, not hundreds.
_WAITING = 8


# Names from the freedesktop sound naming specification: the notification server plays it.
CALL_SOUND = "phone-incoming-call"


@dataclass(frozen=True)
class Notification:
    summary: str
    body: str
    sound: str = ""  # a sound name for the server to play with it ("" for none)


def should_notify(*, enabled: bool, focused: bool | None) -> bool:
    """Only when the setting is on and the window is known not to have the focus (unknown
    focus: the window may be in front, and a notification would only repeat it)."""
    return enabled and focused is False


def body_markup(text: str) -> str:
    """The body as the service reads it: servers may render a little markup (<b>, <a href>),
    so what a member wrote is escaped, on one line, and cut short."""
    flat = " ".join(text.split())
    if len(flat) > _BODY_CHARS:
        flat = flat[: _BODY_CHARS - 1] + "…"
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class DesktopNotifier:
    """`notify` queues (never blocks); a worker thread keeps one bus connection and sends.
    `bus` is "SESSION" or a D-Bus address."""

    def __init__(self, bus: str = "SESSION", *, app_name: str = "Gossip") -> None:
        self._bus = bus
        self._app_name = app_name
        self._queue: queue.Queue[Notification | None] = queue.Queue(_WAITING)
        self._thread: threading.Thread | None = None
        self.unavailable: str | None = None  # why nothing is sent, once we know
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="desktop-notify", daemon=True)
        self._thread.start()

    def notify(self, notification: Notification) -> bool:
        """Queue one; False if it will not be shown (no service, or too many waiting)."""
        if self.unavailable is not None or self._thread is None:
            return False
        try:
            self._queue.put_nowait(notification)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def stop(self, timeout: float = 2.0) -> None:
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass  # the worker is stuck on the bus; it is a daemon thread
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            connection = open_dbus_connection(bus=self._bus)
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            self._give_up(f"no D-Bus session bus ({exc})")
            return
        with connection:
            while (notification := self._queue.get()) is not None:
                if not self._send(connection, notification):
                    return

    def _send(self, connection: DBusConnection, notification: Notification) -> bool:
        summary = " ".join(notification.summary.split())[:_SUMMARY_CHARS]
        hints = {"sound-name": ("s", notification.sound)} if notification.sound else {}
        call = new_method_call(
            NOTIFICATIONS,
            "Notify",
            NOTIFY_SIGNATURE,
            (self._app_name, 0, "", summary, body_markup(notification.body), [], hints, -1),
        )
        try:
            reply = connection.send_and_get_reply(call, timeout=_REPLY_SECONDS)
            if reply.header.message_type is MessageType.error:
                raise DBusErrorResponse(reply)
        except DBusErrorResponse as exc:
            self._give_up(f"no notification service on the bus ({exc.name})")
            return False
        except (OSError, TimeoutError) as exc:
            self._give_up(f"the notification service did not answer ({exc})")
            return False
        self.sent += 1
        return True

    def _give_up(self, reason: str) -> None:
        self.unavailable = reason
        log.info("desktop notifications off: %s", reason)
