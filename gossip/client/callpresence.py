"""Who the hub says is in each channel's call, kept for the channels we are in, and what a
change of it means (a call started, its roster changed, it ended). Pure: no I/O."""

from __future__ import annotations

from . import events as ev

# Names kept per call: a call has at most a few seats (eight by default); a hub that lists
# more is cut short, not believed at length.
MAX_NAMES = 64


class CallPresenceBook:
    """channel -> who is in its call, as last reported (hub's word, never verified here)."""

    def __init__(self) -> None:
        self._calls: dict[str, tuple[str, ...]] = {}

    def take(self, channel: str, users: tuple[str, ...]) -> ev.CallPresenceEvent | None:
        """A roster the hub reported for `channel`; the event it makes, None if nothing
        changed. The caller checked that `channel` is one of ours."""
        users = tuple(dict.fromkeys(users))[:MAX_NAMES]  # once each, in the hub's order
        before = self._calls.get(channel, ())
        if users == before:
            return None
        if not users:
            del self._calls[channel]
            return ev.CallEnded(channel)
        self._calls[channel] = users
        if not before:
            return ev.CallStarted(channel, users)
        return ev.CallRosterChanged(channel, users)

    def forget(self, keep: frozenset[str]) -> list[ev.CallEnded]:
        """Channels we are no longer in: their calls end for us."""
        gone = [channel for channel in self._calls if channel not in keep]
        for channel in gone:
            del self._calls[channel]
        return [ev.CallEnded(channel) for channel in gone]

    def rosters(self) -> dict[str, tuple[str, ...]]:
        return dict(self._calls)
