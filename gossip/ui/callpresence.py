"""Calls you can see before joining: who the hub says is in each channel's call, in the
model (channel list mark, call panel line) and a notice when a call starts in a channel of
ours. Hub-reported: the panel says so until we join and the peers authenticate."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gossip.client import events as ev

if TYPE_CHECKING:
    from .model import AppModel

# Names spelled out before "and N more".
_NAMES_SHOWN = 3


def who_is_in(users: tuple[str, ...], you: str = "") -> str:
    """The names as "alice, bob and 2 more" (you as "you")."""
    names = ["you" if user == you else user for user in users]
    if len(names) <= _NAMES_SHOWN:
        return ", ".join(names)
    return f"{', '.join(names[:_NAMES_SHOWN])} and {len(names) - _NAMES_SHOWN} more"


def channel_mark(model: AppModel, channel: str) -> str:
    """What the channel list adds to a channel with a call on: "  [call: 2]"."""
    users = model.call_rosters.get(channel, ())
    return f"  [call: {len(users)}]" if users else ""


def panel_line(model: AppModel, channel: str) -> str | None:
    """The call panel's line for a call we are not in, or None if there is none."""
    users = model.call_rosters.get(channel, ())
    if not users:
        return None
    verb = "is" if len(users) == 1 else "are"
    return (
        f"{who_is_in(users, model.user)} {verb} in the call in #{channel} (as the hub "
        "says). Join to talk."
    )


def _roster(model: AppModel, event: ev.CallStarted | ev.CallRosterChanged, now: float) -> None:
    model.call_rosters[event.channel] = event.users
    model.channels_version += 1
    model.call_version += 1


def _started(model: AppModel, event: ev.CallStarted, now: float) -> None:
    from .model import Phase  # the model imports this module

    _roster(model, event, now)
    ours = model.call.channel == event.channel or model.user in event.users
    if model.phase is Phase.ONLINE and not ours:
        model.toasts.push(
            "info",
            f"Call in #{event.channel}",
            f"{who_is_in(event.users)} in the call. Open #{event.channel} and "
            "press Join call to talk.",
            now,
        )
        model.call_notices += 1  # counted: what a chime would follow (none plays yet)


def _ended(model: AppModel, event: ev.CallEnded, now: float) -> None:
    if model.call_rosters.pop(event.channel, None) is not None:
        model.channels_version += 1
        model.call_version += 1


HANDLERS: dict[type, Callable[[AppModel, Any, float], None]] = {
    ev.CallStarted: _started,
    ev.CallRosterChanged: _roster,
    ev.CallEnded: _ended,
}
