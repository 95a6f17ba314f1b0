"""Login by password without sending it: SPAKE2 (symmetric) plus explicit key confirmation.

SPAKE2 runs on libsodium's Ed25519 arithmetic (crypto/sodiumspake.py), byte-compatible with the
pure-Python `spake2` package it replaced; use_reference_spake2() brings that one back, for
benchmarks measuring the difference.

The SPAKE2 identity binds protocol version, user and the hub certificate fingerprint the client
saw; each side's confirmation is an HMAC over the whole transcript, so a relay showing another
certificate fails both ways and learns nothing to test passwords against offline.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gossip.crypto.errors import AuthenticationFailed, PakeStateError
from gossip.crypto.hubcert import normalize_fingerprint
from gossip.crypto.pins import normalize_key_fingerprint
from gossip.crypto.sodiumspake import SodiumSpake2Symmetric, Spake2Symmetric

# SPAKE2_Symmetric messages are a side byte b"S" and a 32-byte Ed25519 group element.
PAKE_MESSAGE_SIZE = 33
CONFIRMATION_SIZE = 32
_SIDE = b"S"
_LABEL = b"gossip pake v1"

_engine: Callable[..., Spake2Symmetric] = SodiumSpake2Symmetric


def use_reference_spake2(enabled: bool = True) -> None:
    """Run this process's exchanges on the pure-Python `spake2` package (the old path, ~25×
    the CPU) instead of libsodium; the wire is the same. For benchmarks, not for production."""
    global _engine
    if enabled:
        from spake2 import SPAKE2_Symmetric  # the test and benchmark extra, not a dependency
        _engine = SPAKE2_Symmetric
    else:
        _engine = SodiumSpake2Symmetric


def _frame(*fields: bytes) -> bytes:
    # Length-prefixed, so no two different field lists encode to the same bytes.
    return b"".join(len(field).to_bytes(4, "big") + field for field in fields)


def _hkdf(secret: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


class _PakeParty:
    """What the client and hub sides share: bound parameters, SPAKE2 state, confirmations."""

    _role = b""
    _peer_role = b""

    def __init__(
        self, password: str, user: str, client_key_fp: str, hub_cert_fp: str, version: int
    ) -> None:
        if not isinstance(version, int) or version < 0:
            raise ValueError(f"invalid protocol version {version!r}")
        self._version = str(version).encode("ascii")
        self._user = user.encode("utf-8")
        self._client_key_fp = bytes.fromhex(normalize_key_fingerprint(client_key_fp))
        # An empty fingerprint stands for a hub without TLS (tests, loopback demos): both sides
        # then bind to "no certificate", and a relay is not detected.
        self._hub_cert_fp = (
            bytes.fromhex(normalize_fingerprint(hub_cert_fp).replace(":", ""))
            if hub_cert_fp else b""
        )
        # NFC so the same password typed on different systems gives the same bytes.
        secret = unicodedata.normalize("NFC", password).encode("utf-8")
        identity = _frame(_LABEL, self._version, self._user, self._hub_cert_fp)
        self._spake = _engine(secret, idSymmetric=identity)
        self._message: bytes = self._spake.start()
        self._finished = False
        self._confirm_key: bytes | None = None
        self._pending_session_key: bytes | None = None
        self._session_key: bytes | None = None
        self._transcript = b""

    @property
    def message(self) -> bytes:
        """This side's SPAKE2 message, to send to the other side."""
        return self._message

    def _transcript_of(self, client_message: bytes, hub_message: bytes) -> bytes:
        return _frame(
            _LABEL, self._version, self._user, self._client_key_fp, self._hub_cert_fp,
            client_message, hub_message,
        )

    def _complete(self, peer_message: bytes, client_message: bytes, hub_message: bytes) -> None:
        if self._finished:
            raise PakeStateError("this PAKE exchange has already been finished")
        self._finished = True
        if (
            not isinstance(peer_message, bytes)
            or len(peer_message) != PAKE_MESSAGE_SIZE
            or peer_message[:1] != _SIDE
        ):
            raise AuthenticationFailed("malformed PAKE message")
        try:
            shared = self._spake.finish(peer_message)
        except Exception as error:  # ValueError; the reference raises its own errors, even assert
            raise AuthenticationFailed("invalid PAKE message") from error
        self._transcript = self._transcript_of(client_message, hub_message)
        self._confirm_key = _hkdf(shared, b"gossip confirm")
        self._pending_session_key = _hkdf(
            shared, b"gossip session", salt=hashlib.sha256(self._transcript).digest()
        )

    def _confirmation(self, role: bytes) -> bytes:
        if self._confirm_key is None:
            raise PakeStateError("finish the exchange first")
        return hmac.new(self._confirm_key, _frame(role, self._transcript), hashlib.sha256).digest()

    def _check_peer(self, confirmation: bytes) -> None:
        if self._confirm_key is None:
            raise PakeStateError("finish the exchange before checking the confirmation")
        expected = self._confirmation(self._peer_role)
        if not isinstance(confirmation, bytes) or not hmac.compare_digest(confirmation, expected):
            raise AuthenticationFailed(
                "key confirmation failed: wrong password, or another hub certificate or user"
            )
        self._session_key = self._pending_session_key

    @property
    def transcript_digest(self) -> bytes:
        """SHA-256 of this exchange's transcript (both messages, user, key and certificate
        fingerprints), once finished: what the client signs to prove it holds its key."""
        if not self._transcript:
            raise PakeStateError("finish the exchange first")
        return hashlib.sha256(self._transcript).digest()

    @property
    def session_key(self) -> bytes:
        """32 bytes (HKDF "gossip session" over the SPAKE2 key), once the peer has confirmed."""
        if self._session_key is None:
            raise PakeStateError("no session key before the peer's confirmation checked out")
        return self._session_key


class PakeClient(_PakeParty):
    """The client's side: message -> finish(hub's message) -> verify_hub(hub's confirmation)."""

    _role = b"client"
    _peer_role = b"hub"

    def finish(self, hub_message: bytes) -> bytes:
        """Take the hub's SPAKE2 message; return confirm_client to send to the hub."""
        self._complete(hub_message, client_message=self._message, hub_message=hub_message)
        return self._confirmation(self._role)

    def verify_hub(self, confirm_hub: bytes) -> None:
        """Raise AuthenticationFailed unless the hub proved it knows the same password."""
        self._check_peer(confirm_hub)


class PakeHub(_PakeParty):
    """The hub's side: message, then finish(client's message, its confirmation)."""

    _role = b"hub"
    _peer_role = b"client"

    def finish(self, client_message: bytes, confirm_client: bytes) -> bytes:
        """Check the client's confirmation first; return confirm_hub, or raise AuthenticationFailed.

        The hub confirms only to a client that proved the password, so a guessing client gets
        no value it could test further guesses against offline.
        """
        self._complete(client_message, client_message=client_message, hub_message=self._message)
        self._check_peer(confirm_client)
        return self._confirmation(self._role)
