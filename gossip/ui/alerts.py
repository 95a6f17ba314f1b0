"""What the app tells you while you look elsewhere: a desktop notification for a message or a
call starting when the window is not focused (desktopnotify.py), and the unread count in the
window title ("(3) Gossip — general"). The decisions are pure; the app supplies the focus
(windowfocus.py) and the setting."""

from __future__ import annotations

from collections.abc import Callable

from gossip.client import events as ev

from .callpresence import who_is_in
from .desktopnotify import CALL_SOUND, Notification, should_notify


def notification_for(
    event: object, own_user: str, *, call_sound: bool = False
) -> Notification | None:
    """The notification an event deserves, if any: messages of others, calls of others (with
    the ring the service plays, when `call_sound`)."""
    if isinstance(event, ev.MessageReceived) and event.message.sender != own_user:
        message = event.message
        return Notification(f"{message.sender} in #{message.channel}", message.text)
    if isinstance(event, ev.CallStarted) and own_user not in event.users:
        return Notification(
            f"Call in #{event.channel}",
            f"{who_is_in(event.users)} in the call",
            CALL_SOUND if call_sound else "",
        )
    return None


def window_title(base: str, unread: int, channel: str | None) -> str:
    """ "(3) Gossip — general": the unread count first, so it shows in a narrow task bar."""
    title = f"{base} — {channel}" if channel else base
    return f"({unread}) {title}" if unread else title


class Alerts:
    """Per app: decides, for each event, whether to notify; counts what arrived unseen in the
    open channel while the window was in the background (other channels count as unread in
    the model already)."""

    def __init__(
        self, send: Callable[[Notification], object], focused: Callable[[], bool | None]
    ) -> None:
        self._send = send
        self._focused = focused
        self.unseen_here = 0
        self.notified = 0  # notifications handed to the notifier

    def take(
        self,
        event: object,
        *,
        own_user: str,
        current_channel: str | None,
        enabled: bool,
        call_sound: bool = False,
    ) -> None:
        notification = notification_for(event, own_user, call_sound=call_sound)
        if notification is None:
            return
        focused = self._focused()
        if (
            focused is False
            and isinstance(event, ev.MessageReceived)
            and event.message.channel == current_channel
        ):
            self.unseen_here += 1
        if should_notify(enabled=enabled, focused=focused):
            self.notified += 1
            self._send(notification)

    def title(self, base: str, unread_elsewhere: int, channel: str | None) -> str:
        if self._focused() is not False:
            self.unseen_here = 0  # back in front: what is in the open channel is seen
        return window_title(base, unread_elsewhere + self.unseen_here, channel)
