"""Who is online, their keys, and fan-out: the one owner of the hub's shared state.

Every method is synchronous and never waits: under trio that makes each call atomic, so a
join, a snapshot and a fan-out cannot interleave, and frames reach each connection's outbox
in the order the hub decided them. Kept behind this small interface so that several hubs can
later share it through an existing engine (Redis pub/sub) without touching the connections.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gossip.wire import Key

from .cluster.backend import Fanout, LocalFanout
from .config import Limits
from .fairqueue import DropKey, Dropped
from .missed import MissedCount, MissedLedger
from .ratelimit import TokenBucket

log = logging.getLogger("gossip.hub.registry")


class MemberPort(Protocol):
    """What the registry may do to a connection: queue frames for it, or disconnect it."""

    user: str
    public_key: bytes
    fingerprint: str

    def deliver(self, data: bytes | tuple[bytes, ...], *, sender: str | None = None,
                channel: str | None = None) -> None:
        """Queue encoded frame bytes (or a batch sent in order) from `sender` (None: the
        hub itself; `channel` for a chat message); never blocks. A sender over its share of
        this reader's outbox has the frame dropped; a full outbox disconnects the reader."""

    def deliver_in_order(self, data: tuple[bytes, ...], *, sender: str) -> None:
        """Queue frames that must reach this reader in order with `sender`'s messages and are
        never dropped as that sender's backlog (a private channel's roster news)."""

    def member_joined(self, user: str, public_key: bytes) -> None: ...

    def member_left(self, user: str) -> None: ...

    def call_changed(self, channel: str, users: tuple[str, ...]) -> None: ...

    def kick(self, code: str, reason: str) -> None: ...


@dataclass
class _Entry:
    port: MemberPort
    live: bool = False  # has taken its key snapshot; gets announcements and messages


# Call pacing buckets kept for users who left (so that reconnecting does not refill one);
# past this many, the ones of users who are away are forgotten.
_PACES_KEPT = 4096


class Registry:
    def __init__(self, channels: tuple[str, ...], max_call_members: int = 8, *,
                 limits: Limits | None = None, cluster: Fanout | None = None) -> None:
        limits = limits or Limits()
        # Other hubs of a cluster (cluster/): their members, and fan-out to them.
        self._cluster: Fanout = cluster or LocalFanout()
        self._limits = limits
        self._channels = channels
        self._members: dict[str, _Entry] = {}
        self._max_call_members = max_call_members
        self._calls: dict[str, list[str]] = {}  # channel -> users in its call, by join order
        self._missed = MissedLedger(max_users=limits.missed_users, max_entries=64,
                                    ttl=limits.missed_ttl)
        self._call_paces: dict[str, TokenBucket] = {}

    @property
    def channels(self) -> tuple[str, ...]:
        return self._channels

    def members(self) -> list[str]:
        return sorted(self._members)

    def ports(self) -> list[MemberPort]:
        """This hub's connections of members (for metrics)."""
        return [entry.port for entry in self._members.values()]

    def online(self, user: str) -> bool:
        return user in self._members

    def admits(self, user: str, public_key: bytes) -> bool:
        """Whether a login of `user` with this (proven) key may join: not while the user is
        online with another key, so no member can push another off under their name."""
        entry = self._members.get(user)
        if entry is None:
            remote = self._cluster.remote_key(user)
            return remote is None or remote == public_key
        return entry.port.public_key == public_key

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
        self._cluster.member_left(port.user)
        for channel in [c for c, users in self._calls.items() if port.user in users]:
            self.leave_call(channel, port.user)
        for other in self._live_others(port.user):
            other.port.member_left(port.user)

    def keys(self) -> list[Key]:
        """Every member's key, for a key-sync snapshot (those on other hubs too)."""
        keys = {user: Key(user=user, key=entry.port.public_key)
                for user, entry in self._members.items()}
        for key in self._cluster.remote_keys():
            keys.setdefault(key.user, key)
        return [keys[user] for user in sorted(keys)]

    def make_live(self, port: MemberPort) -> None:
        """The member has been sent its key snapshot: from now on it gets announcements and
        messages, and the others learn its key."""
        entry = self._members[port.user]
        entry.live = True
        for other in self._live_others(port.user):
            other.port.member_joined(port.user, port.public_key)
        self._cluster.member_live(port.user, port.public_key)

    def live(self, user: str) -> bool:
        entry = self._members.get(user)
        if entry is None:
            return self._cluster.remote_key(user) is not None
        return entry.live

    def recipients(self, sender: str) -> int:
        """How many members a message of `sender` to a channel goes to (every member is in
        every channel of this hub)."""
        return sum(1 for name, entry in self._members.items() if name != sender and entry.live)

    def publish(self, channel: str, data: bytes, *, sender: str) -> int:
        """Queue an encoded chat message for every live member but the sender. Returns how
        many it was queued for. Readers let go as slow and not yet back have it counted."""
        return (self.deliver_published(channel, data, sender=sender)
                + self._cluster.publish(channel, data, sender=sender))

    def deliver_published(self, channel: str, data: bytes, *, sender: str) -> int:
        """The local part of `publish` (also what another hub of a cluster published)."""
        count = 0
        for entry in self._live_others(sender):
            entry.port.deliver(data, sender=sender, channel=channel)
            count += 1
        if self._missed:
            self._missed.published(sender, channel)
        return count

    def publish_to(self, members: Mapping[str, str], channel: str, data: bytes, *,
                   sender: str) -> int:
        """Queue an encoded chat message for the live members named in `members` (user ->
        key fingerprint; a connection under another key is not that member), but the sender:
        a private channel's fan-out."""
        away = {user: fingerprint for user, fingerprint in members.items()
                if user not in self._members and user != sender}
        count = self.deliver_published_to(members, channel, data, sender=sender)
        if away:
            count += self._cluster.publish_to(away, channel, data, sender=sender)
        return count

    def deliver_published_to(self, members: Mapping[str, str], channel: str, data: bytes, *,
                             sender: str) -> int:
        """The local part of `publish_to`."""
        count = 0
        for user, fingerprint in members.items():
            entry = self._members.get(user)
            if (user == sender or entry is None or not entry.live
                    or entry.port.fingerprint != fingerprint):
                continue
            entry.port.deliver(data, sender=sender, channel=channel)
            count += 1
        return count

    def live_port(self, user: str, fingerprint: str) -> MemberPort | None:
        """The live connection of `user` under key `fingerprint`, if there is one."""
        entry = self._members.get(user)
        if entry is None or not entry.live or entry.port.fingerprint != fingerprint:
            return None
        return entry.port

    # -- what readers missed -----------------------------------------------------------------
    def record_missed(self, user: str, dropped: dict[DropKey, Dropped]) -> None:
        """`user` was let go as slow with these messages undelivered; what is published
        while it is away is counted too, until it returns or the record expires."""
        self._missed.record(user, dropped)

    def take_missed(self, user: str) -> list[MissedCount]:
        return self._missed.take(user)

    # -- call pacing -------------------------------------------------------------------------
    def call_pace(self, user: str) -> TokenBucket:
        """The bucket that paces `user`'s call joins; kept across its reconnects."""
        bucket = self._call_paces.get(user)
        if bucket is None:
            if len(self._call_paces) >= _PACES_KEPT:
                for name in [name for name in self._call_paces if name not in self._members]:
                    del self._call_paces[name]
            bucket = self._call_paces[user] = TokenBucket(
                self._limits.call_changes_per_second, self._limits.call_change_burst)
        return bucket

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
        self._cluster.call_changed(channel, user, True)
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
        self._cluster.call_changed(channel, user, False)
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

    def send_to(self, user: str, data: bytes, *, sender: str | None = None,
                channel: str | None = None) -> bool:
        """Queue a frame for one live member, from `sender` (None: from the hub), on
        whichever hub of a cluster holds it."""
        if user not in self._members:
            return self._cluster.send_to(user, data, sender=sender, channel=channel)
        return self.send_local(user, data, sender=sender, channel=channel)

    def send_local(self, user: str, data: bytes, *, sender: str | None = None,
                   channel: str | None = None) -> bool:
        """`send_to` for a member of this hub only."""
        entry = self._members.get(user)
        if entry is None or not entry.live:
            return False
        entry.port.deliver(data, sender=sender, channel=channel)
        return True

    def _live_others(self, user: str) -> list[_Entry]:
        # A list, not a generator: delivering may kick a slow member, which changes the dict.
        return [entry for name, entry in self._members.items() if name != user and entry.live]

    # -- news from the other hubs of a cluster (cluster/link.py) ----------------------------
    def remote_joined(self, user: str, public_key: bytes) -> None:
        """`user` came online on another hub: a connection of it here with the same key is
        the user moving (it is let go, as a second login here would be); the live members
        here learn its key."""
        entry = self._members.get(user)
        if entry is not None:
            self.leave(entry.port)
            entry.port.kick("replaced", "signed in on another hub of this cluster")
        for other in self._live_others(user):
            other.port.member_joined(user, public_key)

    def remote_left(self, user: str) -> None:
        """`user` left another hub (or that hub is gone, or out of reach)."""
        if user in self._members:
            return  # it is here now
        for channel in [c for c, users in self._calls.items() if user in users]:
            self.remote_call_changed(channel, user, joined=False)
        for other in self._live_others(user):
            other.port.member_left(user)

    def remote_call_changed(self, channel: str, user: str, *, joined: bool) -> None:
        """A member of another hub joined or left a channel's call: the roster here follows,
        and the members here in that call are told."""
        users = self._calls.setdefault(channel, [])
        if joined and user not in users:
            users.append(user)
        elif not joined and user in users:
            users.remove(user)
        if not users:
            del self._calls[channel]
        self._announce_call(channel, skip=user)
