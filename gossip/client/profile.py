"""A user's profile directory: their identity key, the key pins and the known hubs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

from gossip.crypto import Identity, KeyPinStore, KnownHubs


def default_profile_dir(user: str) -> Path:
    return platformdirs.user_data_path("gossip") / "profiles" / user


@dataclass
class Profile:
    directory: Path
    identity: Identity
    pins: KeyPinStore
    known_hubs: KnownHubs

    @classmethod
    def open(cls, user: str, directory: Path | None = None) -> Profile:
        """Open (creating on first use) the profile of `user`."""
        directory = directory or default_profile_dir(user)
        identity = Identity.load_or_create(directory, user)
        return cls(directory, identity, KeyPinStore(directory / "pins.json"),
                   KnownHubs(directory / "known_hubs"))
