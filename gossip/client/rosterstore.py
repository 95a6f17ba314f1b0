"""The private channels' rosters a client verified, kept in its profile across restarts, so
that a hub which shows a rolled-back or forked log after the client restarted is caught as it
would be live. Each channel's log is kept whole (the judge compares entry by entry), written
atomically under a lock and merged with what another process on the profile wrote; it is
verified again when read back (a stored log is only as good as its signatures).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgpack

from gossip.crypto import exclusive_lock, write_atomic
from gossip.crypto import rosterlog as rl
from gossip.crypto.identity import MAX_PUBLIC_KEY_BYTES

from .private import MAX_PRIVATE_CHANNELS, parse_key

log = logging.getLogger("gossip.client.rosterstore")

ROSTER_FILE = "rosters.state"
FORMAT_VERSION = 1
# Bounds on what is read back: the channels a session follows, each log at its own bounds
# (an entry is its subject's key and a few small fields).
MAX_ENTRY_BYTES = MAX_PUBLIC_KEY_BYTES + rl.MAX_SIGNATURE_BYTES + 1024
MAX_FILE_BYTES = 64 * 1024 * 1024


class MalformedRosterState(ValueError):
    """A roster state file that is not what `encode` writes."""


Logs = Mapping[str, tuple[bytes, ...]]


def encode(logs: Logs) -> bytes:
    packed: bytes = msgpack.packb({"version": FORMAT_VERSION,
                                   "channels": {name: list(blobs) for name, blobs
                                                in sorted(logs.items())}}, use_bin_type=True)
    return packed


def decode(data: bytes) -> dict[str, tuple[bytes, ...]]:
    """The logs `encode` wrote, by channel; MalformedRosterState for anything else."""
    if len(data) > MAX_FILE_BYTES:
        raise MalformedRosterState("roster state file is too large")
    try:
        document: Any = msgpack.unpackb(
            data, raw=False, strict_map_key=True, max_bin_len=MAX_ENTRY_BYTES,
            max_str_len=rl.MAX_NAME_CHARS * 4, max_array_len=rl.MAX_ENTRIES,
            max_map_len=MAX_PRIVATE_CHANNELS, max_ext_len=0)
    except Exception as error:  # msgpack raises many types on garbage
        raise MalformedRosterState("roster state is not msgpack") from error
    if type(document) is not dict or set(document) != {"version", "channels"}:
        raise MalformedRosterState("not a saved roster state")
    if document["version"] != FORMAT_VERSION:
        raise MalformedRosterState(f"unknown version {document['version']!r}")
    channels = document["channels"]
    if type(channels) is not dict:
        raise MalformedRosterState("bad channels field")
    logs: dict[str, tuple[bytes, ...]] = {}
    for name, blobs in channels.items():
        if type(name) is not str or type(blobs) is not list or not blobs \
                or any(type(blob) is not bytes for blob in blobs):
            raise MalformedRosterState(f"bad log for channel {name!r}")
        logs[name] = tuple(blobs)
    return logs


def merged(newer: Logs, older: Logs) -> dict[str, tuple[bytes, ...]]:
    """What both processes hold: per channel the longer log where one extends the other,
    the newer where they disagree (each process alarms on its own; neither forgets a
    channel the other followed)."""
    logs = dict(older)
    for name, blobs in newer.items():
        theirs = logs.get(name)
        if theirs is not None and len(theirs) > len(blobs) and theirs[:len(blobs)] == blobs:
            continue
        logs[name] = tuple(blobs)
    if len(logs) > MAX_PRIVATE_CHANNELS:
        kept = [*newer, *(name for name in older if name not in newer)]
        logs = {name: logs[name] for name in kept[:MAX_PRIVATE_CHANNELS]}
    return logs


class RosterStore:
    """The roster state file of one profile."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, tuple[bytes, ...]]:
        """The logs saved, unverified; nothing (logged) for a missing or unreadable file."""
        try:
            with self.path.open("rb") as file:
                data = file.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return {}
        except OSError as error:
            log.warning("cannot read %s: %s", self.path, error)
            return {}
        try:
            return decode(data)
        except MalformedRosterState as error:
            log.warning("ignoring the roster state in %s: %s", self.path, error)
            return {}

    def load_verified(self) -> list[rl.Roster]:
        """Each saved log verified again from its creation (slow for long logs: run it in a
        worker thread); one that does not verify is dropped, loudly."""
        rosters = []
        for name, blobs in self.load().items():
            try:
                rosters.append(rl.verify_log(rl.decode_log(blobs), channel=name,
                                             parse_key=parse_key))
            except rl.RosterError as error:
                log.warning("dropping the saved roster of %s from %s: %s", name, self.path,
                            error)
        return rosters

    def save(self, channel: str, blobs: Sequence[bytes]) -> None:
        """Keep `channel`'s verified log, merged with what another process on this profile
        wrote meanwhile, in one step (never half a file)."""
        with exclusive_lock(self.path):
            logs = merged({channel: tuple(blobs)}, self.load())
            write_atomic(self.path, encode(logs))
