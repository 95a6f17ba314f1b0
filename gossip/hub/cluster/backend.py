"""The small interface the registry and the login use for what other hubs share, and its
local implementation (a hub on its own: nobody else to tell, names in the hub's SQLite)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gossip.wire import Key

from ..names import Claim, NameBook


class ClusterUnavailable(Exception):
    """The cluster's shared store cannot be reached now; the message says what to do."""


class Fanout(Protocol):
    """What the registry tells other hubs, and what it asks about their members. Every
    method is synchronous and never waits (the registry's calls must stay atomic)."""

    def remote_keys(self) -> list[Key]:
        """Members online on other hubs, for a key-sync snapshot."""

    def remote_key(self, user: str) -> bytes | None:
        """The key `user` is online with on another hub, if so."""

    def member_live(self, user: str, public_key: bytes) -> None:
        """A member of this hub took its key snapshot: other hubs announce it."""

    def member_left(self, user: str) -> None: ...

    def publish(self, channel: str, data: bytes, *, sender: str) -> int:
        """A chat message to every member on other hubs; returns how many it is for."""

    def publish_to(
        self, members: Mapping[str, str], channel: str, data: bytes, *, sender: str
    ) -> int:
        """A private channel's message to the named members (user -> key fingerprint) that
        are on other hubs; returns how many."""

    def send_to(
        self, user: str, data: bytes, *, sender: str | None, channel: str | None, call: str | None
    ) -> bool:
        """One frame to `user` on every other hub holding it (with `call`, each delivers it
        only to the connection in that channel's call, if it holds it); False if none does."""

    def call_changed(self, channel: str, user: str, joined: bool) -> None:
        """A member of this hub joined (or left) a channel's call."""

    def hubs_holding(self, user: str) -> int:
        """How many other hubs hold connections of `user` (its budgets are shared with them)."""

    def connections_changed(self, user: str, count: int) -> None:
        """`user` has `count` connections on this hub now (0: none)."""


class ConnectionCap(Protocol):
    async def admit_connection(self, user: str, here: int, limit: int) -> int | None:
        """Whether `user` may hold `here` connections on this hub with those it holds on the
        others, at most `limit` in all: None if so (and `here` is counted at once, so two hubs
        admitting at the same moment cannot both pass), else how many the others hold."""


class SharedRosters(Protocol):
    async def reserve_roster(self, channel: str, position: int, entry: bytes, author: str) -> bool:
        """Take `position` in a private channel's log for `entry` in the whole cluster;
        False if another hub took it first. Raises ClusterUnavailable."""


class NameClaims(Protocol):
    async def claim(self, user: str, fingerprint: str) -> tuple[Claim, str]:
        """As NameBook.claim; raises ClusterUnavailable if the binding cannot be checked."""


@dataclass(frozen=True)
class Admitted:
    """What a proven key's login came to: its claim on the name (and the other party, for a
    refusal), and, when the name is its own, None if the connection was counted within the
    identity's cap, else how many connections the other hubs hold (not counted)."""

    claim: Claim
    other: str = ""
    elsewhere: int | None = None


class KeyVerdicts(Protocol):
    """Verdicts on validated keys shared by the hubs of a cluster (crypto/keyverdict.py):
    opaque bytes here, by the name verdict_name gives."""

    async def admit_vouched(self, name: str, user: str, fingerprint: str, here: int,
                            limit: int, now: int) -> tuple[bytes, Admitted] | None:
        """If the verdict stored under `name` covers `fingerprint` as `user` at `now` (Unix
        seconds): that verdict, and Admission.admit's answer for the login, in one step.
        None, with nothing claimed or counted, if there is no such verdict or the cluster
        cannot be asked now (the caller then validates the key in full and admits it as any
        other: never a reason to refuse)."""

    def remember_key_verdict(self, name: str, verdict: bytes, ttl_ms: int) -> None:
        """Keep `verdict` under `name` for `ttl_ms` (sent with the hub's other writes,
        never waited for)."""


class Admission(Protocol):
    async def admit(self, user: str, fingerprint: str, here: int, limit: int) -> Admitted:
        """NameClaims.claim, then (if the name is the key's) ConnectionCap.admit_connection
        for `here` connections within `limit`. Raises ClusterUnavailable."""


class TwoStepAdmission:
    """The claim and the count one after the other (a hub on its own: nothing to race)."""

    def __init__(self, claims: NameClaims, cap: ConnectionCap) -> None:
        self._claims = claims
        self._cap = cap

    async def admit(self, user: str, fingerprint: str, here: int, limit: int) -> Admitted:
        claim, other = await self._claims.claim(user, fingerprint)
        if claim not in (Claim.OWNED, Claim.REGISTERED):
            return Admitted(claim, other)
        return Admitted(claim, other, await self._cap.admit_connection(user, here, limit))


class LocalFanout:
    """One hub on its own: no other hub has members or needs telling."""

    def remote_keys(self) -> list[Key]:
        return []

    def remote_key(self, user: str) -> bytes | None:
        return None

    def member_live(self, user: str, public_key: bytes) -> None:
        pass

    def member_left(self, user: str) -> None:
        pass

    def publish(self, channel: str, data: bytes, *, sender: str) -> int:
        return 0

    def publish_to(
        self, members: Mapping[str, str], channel: str, data: bytes, *, sender: str
    ) -> int:
        return 0

    def send_to(
        self, user: str, data: bytes, *, sender: str | None, channel: str | None, call: str | None
    ) -> bool:
        return False

    def call_changed(self, channel: str, user: str, joined: bool) -> None:
        pass

    def hubs_holding(self, user: str) -> int:
        return 0

    def connections_changed(self, user: str, count: int) -> None:
        pass


class LocalConnectionCap:
    """One hub on its own: the registry's own count is the whole count."""

    async def admit_connection(self, user: str, here: int, limit: int) -> int | None:
        return None


class LocalNames:
    """Names bound in the hub's own SQLite file (names.py)."""

    def __init__(self, book: NameBook) -> None:
        self._book = book

    async def claim(self, user: str, fingerprint: str) -> tuple[Claim, str]:
        return self._book.claim(user, fingerprint)
