"""The symmetric hash ratchet under sender keys: a chain key that only moves forward, the
one-time message keys it yields (as in Signal's sender keys), and the AEAD each one seals with.
Pure functions and immutable values; what to keep and what to drop is senderkeys.py's job.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CHAIN_KEY_BYTES = 32
# Signal's constants: HMAC(chain, 0x01) seeds the message key, HMAC(chain, 0x02) is the next
# chain key. HMAC is one-way, so a chain key reveals nothing about the ones before it.
_SEED_INPUT = b"\x01"
_NEXT_INPUT = b"\x02"
_KEY_INFO = b"gossip sk1 message key"
_AEAD_KEY_BYTES = 32
_NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class ChainKey:
    """The chain key that yields the message key for `index` (and every later one)."""

    index: int
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != CHAIN_KEY_BYTES:
            raise ValueError(f"a chain key is {CHAIN_KEY_BYTES} bytes, not {len(self.key)}")
        if self.index < 0:
            raise ValueError("a chain index cannot be negative")

    def message_seed(self) -> bytes:
        """The secret from which the message key for self.index is derived."""
        return hmac.digest(self.key, _SEED_INPUT, "sha256")

    def next(self) -> ChainKey:
        return ChainKey(self.index + 1, hmac.digest(self.key, _NEXT_INPUT, "sha256"))

    def __repr__(self) -> str:
        return f"ChainKey(index={self.index}, key=<secret>)"


def _cipher(seed: bytes) -> tuple[ChaCha20Poly1305, bytes]:
    # Key and nonce both come from the one-time seed, so no nonce travels on the wire and
    # none can repeat under a key: every key seals exactly one message.
    material = HKDF(
        algorithm=hashes.SHA256(), length=_AEAD_KEY_BYTES + _NONCE_BYTES, salt=None,
        info=_KEY_INFO,
    ).derive(seed)
    return ChaCha20Poly1305(material[:_AEAD_KEY_BYTES]), material[_AEAD_KEY_BYTES:]


def seal_with_seed(seed: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """ChaCha20-Poly1305 ciphertext (with its 16-byte tag) under the key derived from seed."""
    cipher, nonce = _cipher(seed)
    return cipher.encrypt(nonce, plaintext, associated)


def open_with_seed(seed: bytes, ciphertext: bytes, associated: bytes) -> bytes:
    """The plaintext; raises cryptography.exceptions.InvalidTag if anything was altered."""
    cipher, nonce = _cipher(seed)
    return cipher.decrypt(nonce, ciphertext, associated)
