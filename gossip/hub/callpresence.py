"""Who is in each channel's call, told to the channel's members before they join.

The hub knows call membership anyway (it routes the signalling), so telling a channel's
members costs no secret; what it tells is its word, unverified until a member joins and the
peers authenticate. An open channel's members are everyone live; a private channel's are the
connections its stored roster names under their key.
"""

from __future__ import annotations

from .private import PrivateBook
from .registry import MemberPort, Registry


class CallPresence:
    """Fans each call roster change out to the channel's members (hooked on the registry)."""

    def __init__(self, registry: Registry, private: PrivateBook) -> None:
        self._registry = registry
        self._private = private
        registry.on_call_roster = self.changed

    def changed(self, channel: str, users: tuple[str, ...]) -> None:
        # Paced by whoever changed it (Limits.call_changes_per_second per identity), and
        # coalesced per reader (ConnectionActor.call_roster): one outbox slot at most.
        for port in self._audience(channel):
            port.call_roster(channel, users)

    def snapshot_for(self, port: MemberPort) -> list[tuple[str, tuple[str, ...]]]:
        """Every channel `port`'s member sees, with who is in its call (empty: none): sent
        after its key sync, so that a roster it kept from before a reconnect is replaced."""
        calls = self._registry.calls()
        channels = (
            *self._registry.channels,
            *self._private.channels_of(port.user, port.fingerprint),
        )
        return [(channel, calls.get(channel, ())) for channel in channels]

    def _audience(self, channel: str) -> list[MemberPort]:
        if not self._private.is_private(channel):
            return self._registry.all_live_ports()
        return [
            port
            for user, fingerprint in self._private.members(channel).items()
            for port in self._registry.live_ports(user, fingerprint)
        ]
