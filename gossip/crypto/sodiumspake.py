"""SPAKE2 (symmetric, Ed25519) with libsodium's group arithmetic, byte for byte the `spake2`
package's SPAKE2_Symmetric: same constant S, password scalar, messages and key, so either side
may run either one. The pure-Python package spent ~7 ms of a hub's CPU per login; this ~0.2 ms.

Only the protocol glue is ours; every point and scalar operation is libsodium's (PyNaCl).
"""

from __future__ import annotations

import functools
import hashlib
import os
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import (
    crypto_core_ed25519_add,
    crypto_core_ed25519_is_valid_point,
    crypto_core_ed25519_scalar_reduce,
    crypto_core_ed25519_sub,
    crypto_scalarmult_ed25519_base_noclamp,
    crypto_scalarmult_ed25519_noclamp,
)
from nacl.exceptions import RuntimeError as SodiumRuntimeError

# The prime order of Ed25519's main subgroup.
_L = 2**252 + 27742317777372353535851937790883648493
# spake2's ParamsEd25519.S = arbitrary_element(b"symmetric"): a point nobody knows the
# discrete log of (found by hashing its seed to a y coordinate). tests/test_crypto_pake.py
# checks it against the package.
SYMMETRIC_S = bytes.fromhex("6f00dae87c1be1a73b5922ef431cd8f57879569c222d22b1cd71e8546ab8e6f1")
SIDE_SYMMETRIC = b"S"
ELEMENT_SIZE = 32


class Spake2Symmetric(Protocol):
    """What pake.py needs of a SPAKE2_Symmetric: this one or the `spake2` package's."""

    def start(self) -> bytes: ...

    def finish(self, inbound_side_and_message: bytes) -> bytes: ...


def password_scalar(password: bytes) -> bytes:
    """spake2's password_to_scalar (HKDF-SHA256 "SPAKE2 pw", 48 bytes, big-endian, mod L),
    as the 32 little-endian bytes libsodium takes."""
    oversized = HKDF(algorithm=hashes.SHA256(), length=48, salt=b"",
                     info=b"SPAKE2 pw").derive(password)
    return (int.from_bytes(oversized, "big") % _L).to_bytes(32, "little")


@functools.lru_cache(maxsize=8)
def _blinding(password: bytes) -> bytes:
    """pw·S, the password's blinding: added to our message and taken off the peer's. A third
    of the exchange's cost, and a hub has one password, so it is kept (in the process that
    holds the password anyway)."""
    return crypto_scalarmult_ed25519_noclamp(password_scalar(password), SYMMETRIC_S)


class SodiumSpake2Symmetric:
    """One side of a symmetric SPAKE2 exchange: start() once, then finish(peer's message)
    once, which returns the 32-byte shared key or raises ValueError."""

    def __init__(self, password: bytes, idSymmetric: bytes = b"") -> None:  # noqa: N803
        # The reference's keyword, so the two are interchangeable in pake.py.
        self._password = password
        self._identity = idSymmetric
        self._blinding = _blinding(password)
        # A uniform scalar: 64 random bytes reduced mod L, as the reference does.
        self._scalar = crypto_core_ed25519_scalar_reduce(os.urandom(64))
        self._outbound = b""
        self._started = self._finished = False

    def start(self) -> bytes:
        if self._started:
            raise ValueError("start() can only be called once")
        self._started = True
        self._outbound = crypto_core_ed25519_add(
            crypto_scalarmult_ed25519_base_noclamp(self._scalar), self._blinding)
        return SIDE_SYMMETRIC + self._outbound

    def finish(self, inbound_side_and_message: bytes) -> bytes:
        if not self._started or self._finished:
            raise ValueError("finish() comes once, after start()")
        self._finished = True
        side, inbound = inbound_side_and_message[:1], inbound_side_and_message[1:]
        if side != SIDE_SYMMETRIC or len(inbound) != ELEMENT_SIZE:
            raise ValueError("not a symmetric SPAKE2 message")
        # Canonical, on the curve, in the prime-order subgroup and not of small order; the
        # reference checks the subgroup as well (it also took non-canonical encodings, which
        # no honest side sends).
        if not crypto_core_ed25519_is_valid_point(inbound):
            raise ValueError("the peer's element is not in the group")
        if inbound == self._outbound:
            raise ValueError("our own message reflected back")
        try:
            shared = crypto_scalarmult_ed25519_noclamp(
                self._scalar, crypto_core_ed25519_sub(inbound, self._blinding))
        except SodiumRuntimeError as error:  # the result was the identity: a forged element
            raise ValueError("degenerate shared element") from error
        first, second = sorted((inbound, self._outbound))
        return hashlib.sha256(b"".join((
            hashlib.sha256(self._password).digest(),
            hashlib.sha256(self._identity).digest(),
            first, second, shared,
        ))).digest()
