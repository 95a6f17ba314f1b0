"""A validated key's verdict, kept where every hub of a cluster can read it (in its Redis),
so a hub that just started does not check every returning member's self-signatures again.

A verdict is named by the SHA-256 of the key's exact bytes and by the version of the rules
that judged it (identity.VALIDATION_RULES): other bytes (another key, an altered or added
signature) are another name, and a change of the rules leaves every old verdict unread. It
holds what the validation found that a login needs (fingerprint, user id, expiry) and lives
at most VERDICT_TTL, never past the key's own expiry. Only accepted keys get one; the
possession proof is never part of it (that binds one login and is checked at every login).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gossip.crypto.identity import VALIDATION_RULES, PublicKey
from gossip.crypto.keycache import key_digest

# A storage bound, not what keeps a verdict true (the digest, the rules' version and the
# key's expiry do): a member away for longer than this costs one full validation.
VERDICT_TTL = timedelta(days=7)
_FORMAT = b"1"
_MAX_VERDICT_BYTES = 512


@dataclass(frozen=True)
class KeyVerdict:
    """What a full validation of one key's bytes found (see the module's docstring)."""

    fingerprint: str  # 40 uppercase hex digits
    user: str
    valid_until: int  # Unix seconds; 0: the key never expires

    @classmethod
    def of(cls, key: PublicKey) -> KeyVerdict:
        until = key.valid_until
        return cls(key.fingerprint, key.user, 0 if until is None else int(until.timestamp()))

    def encode(self) -> bytes:
        return b"|".join((_FORMAT, self.fingerprint.encode(), str(self.valid_until).encode(),
                          self.user.encode()))

    @classmethod
    def decode(cls, data: bytes) -> KeyVerdict | None:
        """The verdict these bytes hold, or None for anything else (then the key is
        validated in full, as if there were none)."""
        if not isinstance(data, bytes) or len(data) > _MAX_VERDICT_BYTES:
            return None
        parts = data.split(b"|", 3)
        if len(parts) != 4 or parts[0] != _FORMAT or not parts[2].isdigit():
            return None
        try:
            fingerprint, user = parts[1].decode("ascii"), parts[3].decode()
        except UnicodeDecodeError:
            return None
        if len(fingerprint) != 40 or fingerprint.strip("0123456789ABCDEF"):
            return None
        return cls(fingerprint, user, int(parts[2]))

    def vouches_for(self, fingerprint: str, user: str, now: datetime) -> bool:
        """True if this verdict covers a key of `fingerprint` presented as `user` now."""
        return (self.fingerprint == fingerprint and self.user == user
                and (self.valid_until == 0 or now.timestamp() < self.valid_until))

    def ttl_ms(self, now: datetime) -> int:
        """How long to keep it: VERDICT_TTL, cut at the key's expiry (0: not at all)."""
        ttl = VERDICT_TTL.total_seconds()
        if self.valid_until:
            ttl = min(ttl, self.valid_until - now.timestamp())
        return max(0, int(ttl * 1000))


def verdict_name(public_key: bytes) -> str:
    """The verdict's name for these exact key bytes under today's rules."""
    return f"v{VALIDATION_RULES}:{key_digest(public_key).hex()}"
