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
    """user -> the hub holding it. Each change answers whether the local members must be
    told, so replaying news already seen (a snapshot, then the news queued meanwhile) tells
    them nothing twice."""

    def __init__(self, own_hub: str) -> None:
        self._own = own_hub
        self._members: dict[str, RemoteMember] = {}

    def __len__(self) -> int:
        return len(self._members)

    def get(self, user: str) -> RemoteMember | None:
        return self._members.get(user)

    def public_keys(self) -> list[Key]:
        return [
            Key(user=user, key=member.public_key) for user, member in sorted(self._members.items())
        ]

    def hubs(self) -> set[str]:
        return {member.hub for member in self._members.values()}

    def joined(self, hub: str, user: str, public_key: bytes) -> bool:
        """`user` is on `hub` now; True if that is news (a new member, or another key)."""
        if hub == self._own:
            return False
        before = self._members.get(user)
        self._members[user] = RemoteMember(hub, public_key)
        return before is None or before.public_key != public_key

    def left(self, hub: str, user: str) -> bool:
        """`user` left `hub`; True if it was here under that hub (a member that moved to
        another hub meanwhile stays)."""
        member = self._members.get(user)
        if member is None or member.hub != hub:
            return False
        del self._members[user]
        return True

    def moved_here(self, user: str) -> None:
        """`user` is on this hub now: forget where it was."""
        self._members.pop(user, None)

    def hub_gone(self, hub: str) -> list[str]:
        """`hub` is gone (its presence expired): its members, who are gone too."""
        gone = [user for user, member in self._members.items() if member.hub == hub]
        for user in gone:
            del self._members[user]
        return gone

    def clear(self) -> list[str]:
        """The cluster cannot be reached: nobody on other hubs can be, either."""
        gone = sorted(self._members)
        self._members.clear()
        return gone
