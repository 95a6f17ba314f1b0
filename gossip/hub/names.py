"""Which key owns each user name on this hub: first come, kept across restarts in SQLite in the
hub's data directory, freed only by the operator (`gossip-hub user reset NAME`).

Look-ups and writes run in place, on the event loop, because they are cheap: a look-up is an
indexed SELECT (tens of microseconds), a registration happens once per name, and with WAL and
synchronous=NORMAL its commit appends to the WAL file without an fsync. (A worker thread would
cost more in switches, and lets trio's autojump clock leap while it runs.) The operator's
command may change the file while the hub runs; the next login sees it.
"""

from __future__ import annotations

import sqlite3
import time
from enum import Enum
from pathlib import Path

NAMES_FILE = "names.sqlite3"
_BUSY_SECONDS = 0.5
_SCHEMA = """
CREATE TABLE IF NOT EXISTS names (
    user TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    registered REAL NOT NULL
)
"""


class Claim(Enum):
    """What a login's claim on a name came to."""

    OWNED = "owned"            # the name was already this key's
    REGISTERED = "registered"  # the name was free; it is this key's from now on
    NAME_TAKEN = "name_taken"  # another key owns the name
    KEY_TAKEN = "key_taken"    # this key already owns another name


class NameBook:
    """user name <-> key fingerprint, one to one."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): each statement is its own transaction, and the
        # UNIQUE constraints make a registration atomic even against another process. A short
        # busy timeout: the operator's command holds the write lock for one DELETE.
        self._db = sqlite3.connect(path, timeout=_BUSY_SECONDS, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self.path = path

    @classmethod
    def open(cls, data_dir: Path) -> NameBook:
        return cls(Path(data_dir) / NAMES_FILE)

    def close(self) -> None:
        self._db.close()

    def claim(self, user: str, fingerprint: str) -> tuple[Claim, str]:
        """Claim `user` for the key `fingerprint`; returns the outcome and the key or name it
        collided with ("" if none)."""
        for _ in range(2):  # a second look if another process registered in between
            owner = self.owner(user)
            if owner is not None:
                return (Claim.OWNED, "") if owner == fingerprint else (Claim.NAME_TAKEN, owner)
            other = self._db.execute("SELECT user FROM names WHERE fingerprint = ?",
                                     (fingerprint,)).fetchone()
            if other is not None:
                return Claim.KEY_TAKEN, str(other[0])
            try:
                self._db.execute("INSERT INTO names VALUES (?, ?, ?)",
                                 (user, fingerprint, time.time()))
            except sqlite3.IntegrityError:
                continue
            return Claim.REGISTERED, ""
        raise sqlite3.IntegrityError(f"the name {user} keeps changing owner")

    def reset(self, user: str) -> bool:
        """Free `user` (its key may then register a name again); False if it was free."""
        return self._db.execute("DELETE FROM names WHERE user = ?", (user,)).rowcount > 0

    def owner(self, user: str) -> str | None:
        """The fingerprint of the key that owns `user`, or None."""
        row = self._db.execute("SELECT fingerprint FROM names WHERE user = ?",
                               (user,)).fetchone()
        return None if row is None else str(row[0])
