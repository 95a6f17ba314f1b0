"""A user's profile directory: their identity key, the key pins, the known hubs, what
catches replays across restarts and the private channels' rosters it verified."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from gossip.crypto import Identity, KeyPinStore, KnownHubs

from .replaystore import REPLAY_FILE, ReplayStore
from .rosterstore import ROSTER_FILE, RosterStore


def default_profile_dir(user: str) -> Path:
    return platformdirs.user_data_path("gossip") / "profiles" / user


@dataclass
class Profile:
    directory: Path
    identity: Identity
    pins: KeyPinStore
    known_hubs: KnownHubs
    replay: ReplayStore = field(init=False)
    rosters: RosterStore = field(init=False)  # private channels' verified rosters

    def __post_init__(self) -> None:
        self.replay = ReplayStore(self.directory / REPLAY_FILE)
        self.rosters = RosterStore(self.directory / ROSTER_FILE)

    @classmethod
    def open(cls, user: str, directory: Path | None = None, *,
             passphrase: str | None = None) -> Profile:
        """Open (creating on first use) the profile of `user`. A new identity is protected
        by `passphrase` when one is given; a protected one needs it (PassphraseRequired,
        WrongPassphrase otherwise)."""
        directory = directory or default_profile_dir(user)
        identity = Identity.load_or_create(directory, user, passphrase=passphrase)
        return cls(directory, identity, KeyPinStore(directory / "pins.json"),
                   KnownHubs(directory / "known_hubs"))
