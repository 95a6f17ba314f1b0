"""Calls you can see before joining: how who the hub says is in each channel's call shows in
the channel list (a mark) and the call panel (a line), and the notice when a call starts in a
channel of ours. Hub-reported: the panel says so until we join and the peers authenticate.
Pure text; the model keeps the rosters (AppModel.call_rosters)."""

from __future__ import annotations

from collections.abc import Mapping

# Names spelled out before "and N more".
_NAMES_SHOWN = 3

Rosters = Mapping[str, tuple[str, ...]]


def who_is_in(users: tuple[str, ...], you: str = "") -> str:
    """The names as "alice, bob and 2 more" (you as "you")."""
    names = ["you" if user == you else user for user in users]
    if len(names) <= _NAMES_SHOWN:
        return ", ".join(names)
    return f"{', '.join(names[:_NAMES_SHOWN])} and {len(names) - _NAMES_SHOWN} more"


def channel_mark(rosters: Rosters, channel: str) -> str:
    """What the channel list adds to a channel with a call on: "  [call: 2]"."""
    users = rosters.get(channel, ())
    return f"  [call: {len(users)}]" if users else ""


def panel_line(rosters: Rosters, channel: str, you: str) -> str | None:
    """The call panel's line for a call we are not in, or None if there is none."""
    users = rosters.get(channel, ())
    if not users:
        return None
    verb = "is" if len(users) == 1 else "are"
    return (
        f"{who_is_in(users, you)} {verb} in the call in #{channel} (as the hub says). Join to talk."
    )


def call_notice(channel: str, users: tuple[str, ...]) -> tuple[str, str]:
    """The notice's title and body for a call that started in `channel`."""
    return (
        f"Call in #{channel}",
        f"{who_is_in(users)} in the call. Open #{channel} and press Join call to talk.",
    )
