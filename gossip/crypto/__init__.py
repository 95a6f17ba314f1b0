"""Gossip's cryptography: OpenPGP identities and sealing, key pins, safety numbers, PAKE login,
and the hub's TLS certificate with the client's known-hubs pins. No network I/O here.
"""

from gossip.crypto.errors import (
    AuthenticationFailed,
    BadSignature,
    CryptoError,
    HubCertificateError,
    HubKeyChanged,
    IdentityMismatch,
    InvalidFingerprint,
    InvalidKey,
    InvalidUserName,
    MalformedMessage,
    NotForMe,
    NothingToAccept,
    PakeStateError,
    PinMismatch,
    StoreCorrupt,
)
from gossip.crypto.hubcert import (
    HubCertificate,
    KnownHubs,
    certificate_fingerprint,
    client_ssl_context,
    format_fingerprint,
    load_or_create_hub_certificate,
    normalize_fingerprint,
)
from gossip.crypto.identity import Identity, PublicKey
from gossip.crypto.pake import PakeClient, PakeHub
from gossip.crypto.pins import KeyPinStore, NotPinned, Trust, normalize_key_fingerprint
from gossip.crypto.safety import safety_number
from gossip.crypto.sealing import open_sealed, seal, sign_detached, verify_detached

__all__ = [
    "AuthenticationFailed",
    "BadSignature",
    "CryptoError",
    "HubCertificate",
    "HubCertificateError",
    "HubKeyChanged",
    "Identity",
    "IdentityMismatch",
    "InvalidFingerprint",
    "InvalidKey",
    "InvalidUserName",
    "KeyPinStore",
    "KnownHubs",
    "MalformedMessage",
    "NotForMe",
    "NotPinned",
    "NothingToAccept",
    "PakeClient",
    "PakeHub",
    "PakeStateError",
    "PinMismatch",
    "PublicKey",
    "StoreCorrupt",
    "Trust",
    "certificate_fingerprint",
    "client_ssl_context",
    "format_fingerprint",
    "load_or_create_hub_certificate",
    "normalize_fingerprint",
    "normalize_key_fingerprint",
    "open_sealed",
    "safety_number",
    "seal",
    "sign_detached",
    "verify_detached",
]
