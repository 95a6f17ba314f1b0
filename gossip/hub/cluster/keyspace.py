"""Where a cluster keeps what in Redis: key names and pub/sub channel names, in one place.

keys   gossip:hub:<id>         "host:port", expires unless the hub beats (its liveness)
       gossip:hubs             the ids of hubs that joined (struck off once found expired)
       gossip:members:<id>     user -> public key of its live members (same expiry)
       gossip:calls:<id>       "channel user" of its members in calls (same expiry)
       gossip:conns:<id>       user -> how many connections of it the hub holds (same
                               expiry): one identity's cap counts them on every hub
       gossip:names            user -> key fingerprint, first come (gossip:keyowners: back)
       gossip:file:<id hex>    which hub holds a stored file, and its place (sharedfiles.py);
                               expires with the file
       gossip:keyok:v<rules>:<sha256 hex>
                               a key validated under those rules: its fingerprint, user and
                               expiry (crypto/keyverdict.py); expires within 7 days, never
                               after the key
pubsub gossip:<db>:events       joins, leaves and call changes of every hub
       gossip:<db>:chan:<name> messages of an open channel; gossip:<db>:private: of
                               private ones
       gossip:<db>:to:<id>     frames for one member of that hub (a message, a signal)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

_PREFIX = "gossip:"
NAMES = _PREFIX + "names"
HUBS = _PREFIX + "hubs"
KEY_OWNERS = _PREFIX + "keyowners"


def hub_key(hub: str) -> str:
    return f"{_PREFIX}hub:{hub}"


def members_key(hub: str) -> str:
    return f"{_PREFIX}members:{hub}"


def calls_key(hub: str) -> str:
    return f"{_PREFIX}calls:{hub}"


def connections_key(hub: str) -> str:
    return f"{_PREFIX}conns:{hub}"


@dataclass(frozen=True)
class Topics:
    """The pub/sub channels of one cluster. Pub/sub is not per database in Redis, so the
    database number is part of each name: two clusters on one Redis (db 0 and db 1) never
    hear each other."""

    database: str

    @classmethod
    def of(cls, url: str) -> Topics:
        return cls(urlsplit(url).path.strip("/") or "0")

    @property
    def events(self) -> str:
        return f"{_PREFIX}{self.database}:events"

    @property
    def private(self) -> str:
        return f"{_PREFIX}{self.database}:private"

    def channel(self, channel: str) -> str:
        return f"{_PREFIX}{self.database}:chan:{channel}"

    def direct(self, hub: str) -> str:
        return f"{_PREFIX}{self.database}:to:{hub}"


def roster_key(channel: str) -> str:
    """A private channel's roster log: its entries in order, one list for every hub."""
    return f"{_PREFIX}roster:{channel}"


def file_key(file_id: bytes) -> str:
    return f"{_PREFIX}file:{file_id.hex()}"


def key_verdict_key(name: str) -> str:
    """Where the verdict named `name` (crypto.verdict_name: rules version and digest) is kept."""
    return f"{_PREFIX}keyok:{name}"


def new_hub_id() -> str:
    """A fresh id per hub process: a restarted hub is a new member of the cluster, and the
    old one's presence simply expires."""
    return "h" + secrets.token_hex(6)


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
