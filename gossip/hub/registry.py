"""Who is online, their keys, and fan-out: the one owner of the hub's shared state.

A member is an identity (a name under one key) with one or more connections (identities.py):
one person's devices at once, each fanned out to. Every method is synchronous and never waits:
under trio that makes each call atomic, so a join, a snapshot and a fan-out cannot interleave,
and frames reach each connection's outbox in the order the hub decided them. Kept behind this
small interface; in a cluster (cluster/) the other hubs' members and fan-out come through a
`Fanout`, and an identity may have connections on several hubs at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from gossip.wire import ErrorCode, Key

from .cluster.backend import Fanout, LocalFanout
from .config import Limits
from .fairqueue import DropKey, Dropped
from .identities import Attached, IdentityConnections, JoinRefused, MemberBudgets
from .missed import MissedCount, MissedLedger
from .ratelimit import TokenBucket

log = logging.getLogger("gossip.hub.registry")


class MemberPort(Protocol):
    """What the registry may do to a connection: queue frames for it, or disconnect it."""

    user: str
    public_key: bytes
    fingerprint: str

    def deliver(
        self,
        data: bytes | tuple[bytes, ...],
        *,
        sender: str | None = None,
        channel: str | None = None,
    ) -> None:
        """Queue encoded frame bytes (or a batch sent in order) from `sender` (None: the
        hub itself; `channel` for a chat message); never blocks. A sender over its share of
        this reader's outbox has the frame dropped; a full outbox disconnects the reader."""

    def deliver_in_order(self, data: tuple[bytes, ...], *, sender: str) -> None:
        """Queue frames that must reach this reader in order with `sender`'s messages and are
        never dropped as that sender's backlog (a private channel's roster news)."""

    def member_joined(self, user: str, public_key: bytes) -> None: ...

    def member_left(self, user: str) -> None: ...

    def call_changed(self, channel: str, users: tuple[str, ...]) -> None: ...

    def call_roster(self, channel: str, users: tuple[str, ...]) -> None:
        """Who is in `channel`'s call now (for a member of the channel, in the call or not)."""

    def kick(self, code: str, reason: str) -> None: ...


# Call pacing buckets kept for users who left (so that reconnecting does not refill one);
# past this many, the ones of users who are away are forgotten.
_PACES_KEPT = 4096


class Registry:
    def __init__(
        self,
        channels: tuple[str, ...],
        max_call_members: int = 8,
        *,
        limits: Limits | None = None,
        cluster: Fanout | None = None,
    ) -> None:
        limits = limits or Limits()
        # Other hubs of a cluster (cluster/): their members, and fan-out to them.
        self._cluster: Fanout = cluster or LocalFanout()
        self._limits = limits
        self._channels = channels
        # user -> the connections of that user's identity (identities.py): one member each
        self._members: dict[str, IdentityConnections] = {}
        self._max_call_members = max_call_members
        self._calls: dict[str, list[str]] = {}  # channel -> users in its call, by join order
        self._missed = MissedLedger(
            max_users=limits.missed_users, max_entries=64, ttl=limits.missed_ttl
        )
        self._call_paces: dict[str, TokenBucket] = {}
        # Told every call roster change (channel, users; empty when the call ends), to tell
        # the channel's members who are not in the call (see callpresence.py).
        self.on_call_roster: Callable[[str, tuple[str, ...]], None] | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        return self._channels

    def members(self) -> list[str]:
        return sorted(self._members)

    def ports(self) -> list[MemberPort]:
        """This hub's connections of members (for metrics)."""
        return [entry.port for identity in self._members.values() for entry in identity.attached]

    def online(self, user: str) -> bool:
        return user in self._members

    def connections_of(self, user: str) -> int:
        """How many connections `user` has here (0: not online)."""
        identity = self._members.get(user)
        return 0 if identity is None else len(identity.attached)

    def refusal(self, user: str, public_key: bytes) -> JoinRefused | None:
        """Why a login of `user` with this (proven) key may not join now, if it may not:
        another key is online under the name (no member can push another off under their
        name), or the identity has all the connections it may have (those stay)."""
        identity = self._members.get(user)
        if identity is None:
            remote = self._cluster.remote_key(user)
            if remote is not None and remote != public_key:
                return JoinRefused(
                    ErrorCode.USER_TAKEN,
                    f"{user} is signed in with another "
                    "key on another hub of this cluster; sign out there first",
                )
            return None
        if identity.public_key != public_key:
            return JoinRefused(
                ErrorCode.USER_TAKEN, f"{user} is signed in with another key; sign out there first"
            )
        if len(identity.attached) >= self._limits.connections_per_identity:
            return JoinRefused(
                ErrorCode.TOO_MANY_CONNECTIONS,
                (
                    f"{user} already has {len(identity.attached)} connections to this hub, the "
                    "most one identity may have; close one of them and try again"
                ),
            )
        return None

    def join(self, port: MemberPort) -> MemberBudgets:
        """Admit an authenticated connection beside the others of its identity (the same
        name and key: the login proved the private key, so it is the user on another
        device). Returns the budgets it shares with them. Raises JoinRefused (see refusal):
        checked at login, and again here, since logins of one name may overlap."""
        refusal = self.refusal(port.user, port.public_key)
        if refusal is not None:
            raise refusal
        identity = self._members.get(port.user)
        if identity is None:
            identity = self._members[port.user] = IdentityConnections(
                port.user, port.public_key, port.fingerprint, MemberBudgets(self._limits)
            )
        # The others hear of the newcomer only once it is live (see make_live): whatever they
        # send after learning its key then reaches it.
        identity.attached.append(Attached(port))
        self._cluster.connections_changed(port.user, len(identity.attached))
        identity.budgets.share(1 + self._cluster.hubs_holding(port.user))
        log.info(
            "joined user=%s connections=%d members=%d",
            port.user,
            len(identity.attached),
            len(self._members),
        )
        return identity.budgets

    def leave(self, port: MemberPort) -> None:
        identity = self._members.get(port.user)
        entry = identity.find(port) if identity is not None else None
        if identity is None or entry is None:
            return
        identity.attached.remove(entry)
        self._cluster.connections_changed(port.user, len(identity.attached))
        # Out of whatever call this connection held the identity's seat in.
        for channel in [c for c, held in identity.in_calls.items() if held is port]:
            self.leave_call(channel, port.user)
        if identity.attached:
            log.info("left user=%s connections=%d", port.user, len(identity.attached))
            return
        del self._members[port.user]
        log.info("left user=%s members=%d", port.user, len(self._members))
        if not identity.announced:
            return  # nobody was told it had come
        self._cluster.member_left(port.user)
        if self._cluster.remote_key(port.user) is not None:
            return  # still signed in on another hub of the cluster: nobody is told it left
        for other in self._live_ports_of_others(port.user):
            other.member_left(port.user)

    def keys(self) -> list[Key]:
        """Every member's key, for a key-sync snapshot (those on other hubs too)."""
        keys = {
            user: Key(user=user, key=identity.public_key)
            for user, identity in self._members.items()
        }
        for key in self._cluster.remote_keys():
            keys.setdefault(key.user, key)
        return [keys[user] for user in sorted(keys)]

    def make_live(self, port: MemberPort) -> None:
        """The connection has been sent its key snapshot: from now on it gets announcements
        and messages; if it is its identity's first, the others learn its key (else only its
        identity's other connections do)."""
        identity = self._members[port.user]
        entry = identity.find(port)
        assert entry is not None, "make_live after leave"
        entry.live = True
        if identity.announced:
            # Its other devices hear of it (their own key again): they start new sender-key
            # epochs, so that what they send next opens on this one too. Nobody else is told.
            for sibling in identity.live_ports(besides=port):
                sibling.member_joined(port.user, port.public_key)
            return
        identity.announced = True
        elsewhere = self._cluster.remote_key(port.user) == port.public_key
        self._cluster.member_live(port.user, port.public_key)
        if elsewhere:
            return  # signed in on another hub of the cluster already: the members here know
        for other in self._live_ports_of_others(port.user):
            other.member_joined(port.user, port.public_key)

    def live(self, user: str) -> bool:
        identity = self._members.get(user)
        if identity is None:
            return self._cluster.remote_key(user) is not None
        return identity.live

    def recipients(self, sender: str) -> int:
        """How many members a message of `sender` to a channel goes to (every member is in
        every channel of this hub)."""
        return sum(
            1 for name, identity in self._members.items() if name != sender and identity.live
        )

    def publish(self, channel: str, data: bytes, *, sender: str) -> int:
        """Queue an encoded chat message for every live connection of every member but the
        sender (its own other connections: publish_to_own). Returns how many it was queued
        for. Readers let go as slow and not yet back have it counted."""
        return self.deliver_published(channel, data, sender=sender) + self._cluster.publish(
            channel, data, sender=sender
        )

    def deliver_published(
        self, channel: str, data: bytes, *, sender: str, from_elsewhere: bool = False
    ) -> int:
        """The local part of `publish`. `from_elsewhere`: another hub of a cluster published
        it, so the sender's own connections here get it too (what one device sends shows on
        the others, whichever hub each is on; publish_to_own covers those on its hub)."""
        count = 0
        ports = self.all_live_ports() if from_elsewhere else self._live_ports_of_others(sender)
        for port in ports:
            port.deliver(data, sender=sender, channel=channel)
            count += 1
        if self._missed:
            self._missed.published(sender, channel)
        return count

    def publish_to(
        self, members: Mapping[str, str], channel: str, data: bytes, *, sender: str
    ) -> int:
        """Queue an encoded chat message for the live members named in `members` (user ->
        key fingerprint; a connection under another key is not that member), but the sender:
        a private channel's fan-out (on this hub and the others of a cluster)."""
        # Also those here that have connections on other hubs too (their devices there), the
        # sender included: what it sends shows on its devices on the other hubs.
        away = {
            user: fingerprint
            for user, fingerprint in members.items()
            if user not in self._members or self._cluster.remote_key(user) is not None
        }
        count = self.deliver_published_to(members, channel, data, sender=sender)
        if away:
            count += self._cluster.publish_to(away, channel, data, sender=sender)
        return count

    def deliver_published_to(
        self,
        members: Mapping[str, str],
        channel: str,
        data: bytes,
        *,
        sender: str,
        from_elsewhere: bool = False,
    ) -> int:
        """The local part of `publish_to` (`from_elsewhere`: as for deliver_published)."""
        count = 0
        for user, fingerprint in members.items():
            if user == sender and not from_elsewhere:
                continue
            for port in self.live_ports(user, fingerprint):
                port.deliver(data, sender=sender, channel=channel)
                count += 1
        return count

    def publish_to_own(self, origin: MemberPort, channel: str, data: bytes) -> int:
        """Queue a chat message of `origin`'s for its identity's other live connections:
        what one device sends shows on the others."""
        identity = self._members.get(origin.user)
        ports = identity.live_ports(besides=origin) if identity is not None else []
        for port in ports:
            port.deliver(data, sender=origin.user, channel=channel)
        return len(ports)

    def live_ports(self, user: str, fingerprint: str) -> list[MemberPort]:
        """The live connections of `user` under key `fingerprint` (none under another)."""
        identity = self._members.get(user)
        if identity is None or identity.fingerprint != fingerprint:
            return []
        return identity.live_ports()

    def own_live_ports(self, port: MemberPort) -> list[MemberPort]:
        """The other live connections of `port`'s identity."""
        identity = self._members.get(port.user)
        return identity.live_ports(besides=port) if identity is not None else []

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
                self._limits.call_changes_per_second, self._limits.call_change_burst
            )
        return bucket

    # -- calls: only who is in which call; offers and answers pass sealed, peer to peer ----
    def call_has_room(self, channel: str) -> bool:
        return len(self._calls.get(channel, ())) < self._max_call_members

    def call_members(self, channel: str) -> tuple[str, ...]:
        return tuple(self._calls.get(channel, ()))

    def in_call_elsewhere(self, channel: str, port: MemberPort) -> bool:
        """Whether another connection of `port`'s identity holds its seat in the call, on
        this hub or another of the cluster: one identity is in a call once (its peers link to
        one key, hence to one device). Two devices joining on two hubs at the same moment
        both get in; the roster holds the name once, and the signals go to one of them."""
        identity = self._members.get(port.user)
        held = identity.in_calls.get(channel) if identity is not None else None
        if held is None:
            return port.user in self._calls.get(channel, ())  # its seat is on another hub
        return held is not port

    def join_call(self, channel: str, port: MemberPort) -> tuple[str, ...]:
        """Add a member's connection to a channel's call (the caller checked the room and
        in_call_elsewhere); the others are told the new roster, which is returned for the one
        who joined."""
        user = port.user
        self._members[user].in_calls[channel] = port
        users = self._calls.setdefault(channel, [])
        if user not in users:
            users.append(user)
        self._announce_call(channel, skip=user)
        self._cluster.call_changed(channel, user, True)
        log.info("call join user=%s channel=%s size=%d", user, channel, len(users))
        return tuple(users)

    def leave_call(self, channel: str, user: str) -> None:
        identity = self._members.get(user)
        if identity is not None:
            identity.in_calls.pop(channel, None)
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

    def _call_port(self, channel: str, user: str) -> MemberPort | None:
        identity = self._members.get(user)
        return identity.in_calls.get(channel) if identity is not None else None

    def _announce_call(self, channel: str, *, skip: str) -> None:
        roster = self.call_members(channel)
        for user in roster:
            port = self._call_port(channel, user)
            if user != skip and port is not None:
                port.call_changed(channel, roster)
        if self.on_call_roster is not None:
            self.on_call_roster(channel, roster)

    def calls(self) -> dict[str, tuple[str, ...]]:
        """Every call going on: channel -> who is in it."""
        return {channel: tuple(users) for channel, users in self._calls.items()}

    def all_live_ports(self) -> list[MemberPort]:
        """Every live connection of every member."""
        return [port for identity in self._members.values() for port in identity.live_ports()]

    def send_to(
        self,
        user: str,
        data: bytes,
        *,
        sender: str | None = None,
        channel: str | None = None,
        call: str | None = None,
    ) -> bool:
        """Queue a frame for every live connection of a member, from `sender` (None: from the
        hub); with `call`, only for the one in that channel's call (a call's signalling). In a
        cluster, its connections on the other hubs get it too (each hub picks the one in the
        call, if it holds it); a call's signal whose seat is here goes no further."""
        here = self.send_local(user, data, sender=sender, channel=channel, call=call)
        if here and call is not None:
            return True  # the one connection in the call is here
        elsewhere = self._cluster.send_to(user, data, sender=sender, channel=channel, call=call)
        return here or elsewhere

    def send_local(
        self,
        user: str,
        data: bytes,
        *,
        sender: str | None = None,
        channel: str | None = None,
        call: str | None = None,
    ) -> bool:
        """`send_to` for the connections on this hub only."""
        identity = self._members.get(user)
        if identity is None:
            return False
        if call is not None:
            port = identity.in_calls.get(call)
            ports = [port] if port is not None else []
        else:
            ports = identity.live_ports()
        for port in ports:
            port.deliver(data, sender=sender, channel=channel)
        return bool(ports)

    def _live_ports_of_others(self, user: str) -> list[MemberPort]:
        # A list, not a generator: delivering may kick a slow member, which changes the dict.
        return [
            port
            for name, identity in self._members.items()
            if name != user
            for port in identity.live_ports()
        ]

    # -- news from the other hubs of a cluster (cluster/link.py) ----------------------------
    def remote_joined(self, user: str, public_key: bytes) -> None:
        """`user` came online on another hub. Under the key it has here, that is another
        device of it: its connections here hear their own key again (and start new sender-key
        epochs, so what they send opens there too); nobody else is told twice. Under another
        key (names are bound cluster-wide, so only after an operator freed the name), the
        connections here are let go. Otherwise the live members here learn its key."""
        identity = self._members.get(user)
        if identity is not None:
            if identity.public_key == public_key:
                for port in identity.live_ports():
                    port.member_joined(user, public_key)
                return
            for entry in list(identity.attached):
                self.leave(entry.port)
                entry.port.kick(
                    "replaced", "signed in with another key on another hub of this cluster"
                )
        for other in self._live_ports_of_others(user):
            other.member_joined(user, public_key)

    def recount(self, user: str) -> None:
        """Tell the cluster how many connections of `user` this hub holds (after one it
        counted never joined)."""
        self._cluster.connections_changed(user, self.connections_of(user))

    def reshare(self, users: Iterable[str] | None = None) -> None:
        """The hubs holding these users (None: anyone) changed: each identity here allows its
        share of its budgets again (identities.py)."""
        for user in self._members if users is None else users:
            identity = self._members.get(user)
            if identity is not None:
                identity.budgets.share(1 + self._cluster.hubs_holding(user))

    def remote_left(self, user: str) -> None:
        """`user` left the other hubs (or they are gone, or out of reach)."""
        # Out of the calls it was in from there (not those a connection here holds).
        for channel in [
            c
            for c, users in self._calls.items()
            if user in users and self._call_port(c, user) is None
        ]:
            self.remote_call_changed(channel, user, joined=False)
        if user in self._members:
            return  # it is here too: still a member
        for other in self._live_ports_of_others(user):
            other.member_left(user)

    def remote_call_changed(self, channel: str, user: str, *, joined: bool) -> None:
        """A member of another hub joined or left a channel's call: the roster here follows,
        and the members here in that call are told (a seat a connection here holds stays:
        the identity joined on two hubs at once, and this one's is still in)."""
        if not joined and self._call_port(channel, user) is not None:
            return
        users = self._calls.setdefault(channel, [])
        if joined and user not in users:
            users.append(user)
        elif not joined and user in users:
            users.remove(user)
        if not users:
            del self._calls[channel]
        self._announce_call(channel, skip=user)
