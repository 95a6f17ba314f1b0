"""Who is online on the other hubs of a cluster, as this hub last heard: a pure replica fed
by the cluster's join and leave news and by snapshots of each hub's presence hash."""

from __future__ import annotations

from dataclasses import dataclass

from gossip.wire import Key


@dataclass(frozen=True)
class RemoteMember:
    hub: str
    public_key: bytes


class RemoteDirectory:
    """user -> the other hubs holding connections of it (one identity may be signed in on
    several hubs at once, as on several devices). Each change answers whether the local
    members must be told, so replaying news already seen (a snapshot, then the news queued
    meanwhile) tells them nothing twice."""

    def __init__(self, own_hub: str) -> None:
        self._own = own_hub
        # user -> hub -> key, the latest hub to announce it last
        self._members: dict[str, dict[str, bytes]] = {}

    def __len__(self) -> int:
        return len(self._members)

    def get(self, user: str) -> RemoteMember | None:
        hubs = self._members.get(user)
        if not hubs:
            return None
        hub, public_key = next(reversed(hubs.items()))
        return RemoteMember(hub, public_key)

    def hubs_of(self, user: str) -> list[str]:
        """Every other hub holding connections of `user`."""
        return list(self._members.get(user, ()))

    def public_keys(self) -> list[Key]:
        return [
            Key(user=user, key=member.public_key)
            for user in sorted(self._members)
            if (member := self.get(user)) is not None
        ]

    def hubs(self) -> set[str]:
        return {hub for hubs in self._members.values() for hub in hubs}

    def joined(self, hub: str, user: str, public_key: bytes) -> bool:
        """`user` is on `hub` now; True if that is news (a new member, or another key)."""
        if hub == self._own:
            return False
        before = self.get(user)
        hubs = self._members.setdefault(user, {})
        if before is not None and before.public_key != public_key:
            hubs.clear()  # another key under the name: the old one's connections are stale
        hubs.pop(hub, None)
        hubs[hub] = public_key
        return before is None or before.public_key != public_key

    def left(self, hub: str, user: str) -> bool:
        """`user` left `hub`; True if no other hub holds it now."""
        hubs = self._members.get(user)
        if hubs is None or hub not in hubs:
            return False
        del hubs[hub]
        if hubs:
            return False
        del self._members[user]
        return True

    def hub_gone(self, hub: str) -> list[str]:
        """`hub` is gone (its presence expired): its members that no other hub holds."""
        gone = []
        for user, hubs in list(self._members.items()):
            if hubs.pop(hub, None) is not None and not hubs:
                del self._members[user]
                gone.append(user)
        return gone

    def clear(self) -> list[str]:
        """The cluster cannot be reached: nobody on other hubs can be, either."""
        gone = sorted(self._members)
        self._members.clear()
        return gone
