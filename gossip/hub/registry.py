"""Who is online, their keys, and fan-out: the one owner of the hub's shared state.

Every method is synchronous and never waits: under trio that makes each call atomic, so a
join, a snapshot and a fan-out cannot interleave, and frames reach each connection's outbox
in the order the hub decided them. Kept behind this small interface so that several hubs can
later share it through an existing engine (Redis pub/sub) without touching the connections.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from gossip.wire import Channels, EndOfKeys, Frame, Key

log = logging.getLogger("gossip.hub.registry")


class MemberPort(Protocol):
    """What the registry may do to a connection: queue frames for it, or disconnect it."""

    user: str
    public_key: bytes

    def deliver(self, data: bytes | tuple[bytes, ...]) -> None:
        """Queue encoded frame bytes (or a batch sent in order); never blocks (a full queue
        disconnects the reader)."""

    def member_joined(self, user: str, public_key: bytes) -> None: ...

    def member_left(self, user: str) -> None: ...

    def call_changed(self, channel: str, users: tuple[str, ...]) -> None: ...

    def kick(self, code: str, reason: str) -> None: ...


@dataclass
class _Entry:
    port: MemberPort
    live: bool = False  # has taken its key snapshot; gets announcements and messages


class Registry:
    def __init__(self, channels: tuple[str, ...], max_call_members: int = 8) -> None:
        self._channels = channels
        self._members: dict[str, _Entry] = {}
        self._max_call_members = max_call_members
        self._calls: dict[str, list[str]] = {}  # channel -> users in its call, by join order

    @property
    def channels(self) -> tuple[str, ...]:
        return self._channels

    def members(self) -> list[str]:
        return sorted(self._members)

    def online(self, user: str) -> bool:
        return user in self._members

    def admits(self, user: str, public_key: bytes) -> bool:
        """Whether a login of `user` with this (proven) key may join: not while the user is
        online with another key, so no member can push another off under their name."""
        entry = self._members.get(user)
        return entry is None or entry.port.public_key == public_key

    def join(self, port: MemberPort) -> None:
        """Admit an authenticated connection. A second login of the same user with the same
        key replaces the first (the old connection is told why and closed): it is the user
        on another connection, since the login proved the private key."""
        previous = self._members.get(port.user)
        if previous is not None:
            self.leave(previous.port)
            previous.port.kick("replaced", "signed in from another connection")
        # The others hear of the newcomer only once it is live (see snapshot): whatever they
        # send after learning its key then reaches it.
        self._members[port.user] = _Entry(port)
        log.info("joined user=%s members=%d", port.user, len(self._members))

    def leave(self, port: MemberPort) -> None:
        entry = self._members.get(port.user)
        if entry is None or entry.port is not port:
            return  # already replaced by a newer connection of the same user
        del self._members[port.user]
        log.info("left user=%s members=%d", port.user, len(self._members))
        if not entry.live:
            return  # nobody was told it had come
        for channel in [c for c, users in self._calls.items() if port.user in users]:
            self.leave_call(channel, port.user)
        for other in self._live_others(port.user):
            other.port.member_left(port.user)

    def snapshot(self, port: MemberPort) -> list[Frame]:
        """The key-sync snapshot for one member, after which it counts as live."""
        entry = self._members[port.user]
        entry.live = True
        for other in self._live_others(port.user):
            other.port.member_joined(port.user, port.public_key)
        frames: list[Frame] = [
            Key(user=user, key=other.port.public_key)
            for user, other in sorted(self._members.items())
        ]
        frames.append(Channels(channels=self._channels))
        frames.append(EndOfKeys())
        return frames

    def publish(self, channel: str, data: bytes, *, sender: str) -> int:
        """Queue an encoded frame for every live member of the channel but the sender.
        Every member is in every channel of this hub. Returns how many it was queued for."""
        count = 0
        for entry in self._live_others(sender):
            entry.port.deliver(data)
            count += 1
        return count

    # -- calls: only who is in which call; offers and answers pass sealed, peer to peer ----
    def call_has_room(self, channel: str) -> bool:
        return len(self._calls.get(channel, ())) < self._max_call_members

    def call_members(self, channel: str) -> tuple[str, ...]:
        return tuple(self._calls.get(channel, ()))

    def join_call(self, channel: str, user: str) -> tuple[str, ...]:
        """Add a member to a channel's call (the caller checked the room); the others are
        told the new roster, which is returned for the one who joined."""
        users = self._calls.setdefault(channel, [])
        if user not in users:
            users.append(user)
        self._announce_call(channel, skip=user)
        log.info("call join user=%s channel=%s size=%d", user, channel, len(users))
        return tuple(users)

    def leave_call(self, channel: str, user: str) -> None:
        users = self._calls.get(channel, [])
        if user not in users:
            return
        users.remove(user)
        if not users:
            del self._calls[channel]
        self._announce_call(channel, skip=user)
        log.info("call leave user=%s channel=%s size=%d", user, channel, len(users))

    def in_same_call(self, channel: str, user: str, peer: str) -> bool:
        users = self._calls.get(channel, ())
        return user in users and peer in users and user != peer

    def _announce_call(self, channel: str, *, skip: str) -> None:
        roster = self.call_members(channel)
        for user in roster:
            entry = self._members.get(user)
            if user != skip and entry is not None:
                entry.port.call_changed(channel, roster)

    def send_to(self, user: str, data: bytes) -> bool:
        entry = self._members.get(user)
        if entry is None or not entry.live:
            return False
        entry.port.deliver(data)
        return True

    def _live_others(self, user: str) -> list[_Entry]:
        # A list, not a generator: delivering may kick a slow member, which changes the dict.
        return [entry for name, entry in self._members.items() if name != user and entry.live]

