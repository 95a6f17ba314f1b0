"""Who is on the hub as far as this session knows: each member's key and its trust.

The hub hands out keys; this directory checks each one against the user's pins (TOFU) and
remembers the trust as of this session (a key first pinned now stays NEW here), and who was
there before a reconnect, so a front end can be told who left meanwhile. Our own name is
ours: a key under it that is not our own is refused, never pinned or used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gossip.crypto import CryptoError, KeyPinStore, PublicKey
from gossip.crypto.pins import Trust

from .state import MemberView

log = logging.getLogger("gossip.client.directory")


@dataclass(frozen=True)
class KeySeen:
    """A member key the hub announced, as checked against the pins."""

    user: str
    key: PublicKey
    trust: Trust
    pinned_fingerprint: str  # the pin it was checked against ("" on first sight)
    # Another key than the one this session last saw for the user (either way: to an
    # impostor or back): whatever the user's old key vouched for must be forgotten.
    key_changed: bool = False


@dataclass(frozen=True)
class ForgedOwnKey:
    """The hub announced a key under our own name that is not ours (refused)."""

    user: str
    ours: str
    offered: str


class MemberDirectory:
    def __init__(self, pins: KeyPinStore, own_user: str, own_fingerprint: str) -> None:
        self._pins = pins
        self._own_user = own_user
        self._own_fingerprint = own_fingerprint
        self._keys: dict[str, PublicKey] = {}
        self._trust: dict[str, Trust] = {}
        self._before_break: set[str] = set()
        self._keys_before_break: dict[str, PublicKey] = {}
        # The fingerprint last announced per user, kept across reconnects (bounded by the
        # hub's members: an entry per name it ever announced to this session).
        self._last_seen: dict[str, str] = {}

    # -- the hub's announcements -------------------------------------------------------------
    def start_over(self) -> None:
        """A new connection: the hub announces everyone again. Who was there before the
        break is kept (across failed attempts too) to report who left meanwhile."""
        self._before_break = set(self._keys) or self._before_break
        self._keys_before_break = dict(self._keys) or self._keys_before_break
        self._keys = {}

    def known_fingerprints(self) -> frozenset[str]:
        """The keys of everyone we know as a member: announced on this connection, or, while
        a reconnect has not announced them again, on the last one. What a user writes is meant
        for these (and goes, when it goes, to those of them still here)."""
        keys = list(self._keys.values())
        if self._keys_before_break:
            keys += self._keys_before_break.values()
        return frozenset(key.fingerprint for key in keys)

    def take_key(self, user: str, key_bytes: bytes) -> KeySeen | ForgedOwnKey | None:
        """Check an announced key: ForgedOwnKey for a key under our name that is not ours,
        None (logged) for one that is unusable or not the user's."""
        try:
            key = PublicKey.from_bytes(key_bytes)
        except CryptoError as exc:
            log.warning("ignoring unusable key for %s: %s", user, exc)
            return None
        if key.user != user:
            log.warning("ignoring key whose user id %r is not %r", key.user, user)
            return None
        if user == self._own_user and key.fingerprint != self._own_fingerprint:
            # Never pinned, never stored: nothing can be sealed to it or verified by it.
            log.error("the hub announced a key under our own name that is not ours: %s",
                      key.fingerprint)
            return ForgedOwnKey(user, self._own_fingerprint, key.fingerprint)
        trust = self._pins.check(user, key.fingerprint)
        if not (trust is Trust.PINNED and self._trust.get(user) is Trust.NEW):
            self._trust[user] = trust
        self._keys[user] = key
        last = self._last_seen.get(user)
        self._last_seen[user] = key.fingerprint
        pinned = (self._pins.pinned_fingerprint(user) or "") if trust is Trust.CHANGED else ""
        return KeySeen(user, key, trust, pinned,
                       key_changed=last is not None and last != key.fingerprint)

    def remove(self, user: str) -> PublicKey | None:
        """The user left; the key they had here, if any."""
        return self._keys.pop(user, None)

    def gone_since_break(self) -> list[str]:
        """Members there before the last break who were not announced again."""
        return sorted(self._before_break - set(self._keys))

    # -- what others ask ---------------------------------------------------------------------
    def key(self, user: str) -> PublicKey | None:
        return self._keys.get(user)

    def users(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))

    def trust_of(self, user: str) -> Trust:
        return self._trust.get(user) or self._pins.trust_of(user) or Trust.NEW

    def refresh_trust(self, user: str) -> Trust:
        """After the user accepted or verified a key: the pin's trust, now."""
        trust = self._pins.trust_of(user) or Trust.NEW
        self._trust[user] = trust
        return trust

    def trusted_keys(self, users: tuple[str, ...] | None = None) -> dict[str, PublicKey]:
        """Keys we may encrypt to: never one that changed and was not accepted (sealing to it
        could hand our words to whoever swapped it)."""
        names = self._keys if users is None else users
        return {user: self._keys[user] for user in names
                if user in self._keys and self.trust_of(user) is not Trust.CHANGED}

    def views(self) -> tuple[MemberView, ...]:
        return tuple(MemberView(user, key.fingerprint, self.trust_of(user))
                     for user, key in sorted(self._keys.items()))

