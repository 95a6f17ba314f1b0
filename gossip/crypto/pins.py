"""Trust on first use for users' keys: the pin store and each user's trust level.

The first fingerprint seen for a user is pinned; a different one is only remembered as an offer
until the user accepts it. A pin is never replaced silently. Persisted as JSON, 0600, atomically;
each change is made under a lock on the file as it is on disk, so processes sharing a profile
never lose each other's updates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from gossip.crypto._files import (
    SharedPinFile,
    ensure_private_dir,
    file_stamp,
    write_atomic,
)
from gossip.crypto.errors import InvalidFingerprint, NothingToAccept, PinMismatch, StoreCorrupt

_FORMAT_VERSION = 1
_HEX40 = re.compile(r"[0-9A-F]{40}")


class Trust(str, Enum):
    NEW = "new"  # first sight: pinned just now
    PINNED = "pinned"  # same key as the pin
    VERIFIED = "verified"  # same key as the pin, and the user compared safety numbers
    CHANGED = "changed"  # a key other than the pin was offered and not (yet) accepted


class NotPinned(PinMismatch):
    """verify() was called for a user with no pinned key."""


def normalize_key_fingerprint(fingerprint: str) -> str:
    """An OpenPGP v4 fingerprint as 40 uppercase hex digits (spaces and case ignored)."""
    cleaned = fingerprint.replace(" ", "").upper() if isinstance(fingerprint, str) else ""
    if not _HEX40.fullmatch(cleaned):
        raise InvalidFingerprint(f"not a v4 key fingerprint: {fingerprint!r}")
    return cleaned


@dataclass
class _Pin:
    fingerprint: str
    verified: bool = False
    offered: str | None = None  # a different fingerprint seen since, awaiting accept()

    @property
    def trust(self) -> Trust:
        if self.offered is not None:
            return Trust.CHANGED
        return Trust.VERIFIED if self.verified else Trust.PINNED


class KeyPinStore(SharedPinFile[_Pin]):
    """User name -> pinned key fingerprint and trust; in memory when path is None."""

    @staticmethod
    def _load(path: Path) -> dict[str, _Pin]:
        # A pin file we cannot read must stop the program: silently starting empty would
        # re-pin whatever keys the hub hands out next.
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("version") != _FORMAT_VERSION:
                raise ValueError(f"unknown version {document.get('version')!r}")
            pins: dict[str, _Pin] = {}
            for user, entry in document["pins"].items():
                offered = entry.get("offered")
                pins[str(user)] = _Pin(
                    fingerprint=normalize_key_fingerprint(entry["fingerprint"]),
                    verified=bool(entry.get("verified", False)),
                    offered=None if offered is None else normalize_key_fingerprint(offered),
                )
            return pins
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise StoreCorrupt(f"cannot read key pins from {path}: {error}") from error

    def _save(self) -> None:
        if self._path is None:
            return
        document = {
            "version": _FORMAT_VERSION,
            "pins": {
                user: {"fingerprint": pin.fingerprint, "verified": pin.verified,
                       "offered": pin.offered}
                for user, pin in sorted(self._pins.items())
            },
        }
        ensure_private_dir(self._path.parent)
        write_atomic(self._path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
        self._stamp = file_stamp(self._path)

    def check(self, user: str, fingerprint: str) -> Trust:
        """Trust for this user's offered key: pins on first sight (NEW, then PINNED later).

        A key other than the pin returns CHANGED and is remembered until accept(); seeing the
        pinned key again withdraws that pending offer.
        """
        fingerprint = normalize_key_fingerprint(fingerprint)
        with self._change():
            pin = self._pins.get(user)
            if pin is None:
                self._pins[user] = _Pin(fingerprint)
                self._save()
                return Trust.NEW
            if fingerprint == pin.fingerprint:
                if pin.offered is not None:
                    pin.offered = None
                    self._save()
                return pin.trust
            if pin.offered != fingerprint:
                pin.offered = fingerprint
                self._save()
            return Trust.CHANGED

    def _current(self, user: str) -> _Pin | None:
        self._refresh()
        return self._pins.get(user)

    def trust_of(self, user: str) -> Trust | None:
        pin = self._current(user)
        return None if pin is None else pin.trust

    def pinned_fingerprint(self, user: str) -> str | None:
        pin = self._current(user)
        return None if pin is None else pin.fingerprint

    def trusted_fingerprints(self) -> frozenset[str]:
        """Every pinned key that did not change since (whom a file may be meant for even
        while they are away)."""
        self._refresh()
        return frozenset(pin.fingerprint for pin in self._pins.values()
                         if pin.trust is not Trust.CHANGED)

    def offered_fingerprint(self, user: str) -> str | None:
        """The changed key awaiting accept(), if any."""
        pin = self._current(user)
        return None if pin is None else pin.offered

    def accept(self, user: str) -> None:
        """Pin the changed key that was offered for user; its trust becomes PINNED."""
        with self._change():
            pin = self._pins.get(user)
            if pin is None or pin.offered is None:
                raise NothingToAccept(f"no changed key is pending for {user!r}")
            self._pins[user] = _Pin(pin.offered)
            self._save()

    def verify(self, user: str, fingerprint: str) -> None:
        """Mark user's pinned key VERIFIED (safety numbers compared) if fingerprint is the pin."""
        fingerprint = normalize_key_fingerprint(fingerprint)
        with self._change():
            pin = self._pins.get(user)
            if pin is None:
                raise NotPinned(f"no key is pinned for {user!r}")
            if fingerprint != pin.fingerprint:
                raise PinMismatch(
                    f"{fingerprint} is not the key pinned for {user!r} ({pin.fingerprint})"
                )
            if not pin.verified:
                pin.verified = True
                self._save()
