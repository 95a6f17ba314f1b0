"""Signal-style safety numbers: 60 digits two users read to each other to verify their keys.

Each side's half is Signal's iterated SHA-512 (version, key, stable id; 5200 rounds) over the
key fingerprint and user name; the halves are sorted, so both users compute the same number.
"""

from __future__ import annotations

import hashlib

from gossip.crypto.pins import normalize_key_fingerprint

SAFETY_NUMBER_VERSION = 0
# Signal's count: makes finding a key whose half collides with a victim's about 2**12 times
# costlier; one number costs about 10 ms to compute, once per comparison.
ITERATIONS = 5200
_DIGITS_PER_CHUNK = 5
_CHUNKS_PER_HALF = 6


def _half(user: str, fingerprint: str) -> str:
    key = bytes.fromhex(normalize_key_fingerprint(fingerprint))
    digest = hashlib.sha512(
        SAFETY_NUMBER_VERSION.to_bytes(2, "big") + key + user.encode("utf-8")
    ).digest()
    for _ in range(ITERATIONS):
        digest = hashlib.sha512(digest + key).digest()
    chunks = (
        int.from_bytes(digest[i * 5 : i * 5 + 5], "big") % 10**_DIGITS_PER_CHUNK
        for i in range(_CHUNKS_PER_HALF)
    )
    return "".join(f"{chunk:05d}" for chunk in chunks)


def safety_number(user_a: str, fp_a: str, user_b: str, fp_b: str) -> str:
    """60 digits in 12 space-separated groups of 5; the same whichever side computes it."""
    digits = "".join(sorted((_half(user_a, fp_a), _half(user_b, fp_b))))
    return " ".join(digits[i : i + _DIGITS_PER_CHUNK]
                    for i in range(0, len(digits), _DIGITS_PER_CHUNK))
