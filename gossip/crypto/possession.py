"""Proof that a client logging in holds the private half of the key it presents.

The password only says "a member of this hub"; without this, any member could log in under
another's name and public key (which every member has) and push them off the hub. The client
signs the PAKE transcript digest, which binds this very exchange (both SPAKE2 messages, the
user, the key fingerprint and the hub certificate), so a proof cannot be replayed elsewhere.
"""

from __future__ import annotations

from gossip.crypto.errors import AuthenticationFailed, BadSignature
from gossip.crypto.identity import Identity, PublicKey
from gossip.crypto.sealing import sign_detached, verify_detached

LOGIN_CONTEXT = "gossip login possession v1"


def prove_possession(transcript_digest: bytes, identity: Identity) -> bytes:
    """The client's signature over its login's transcript digest."""
    return sign_detached(transcript_digest, identity, context=LOGIN_CONTEXT)


def check_possession(transcript_digest: bytes, proof: bytes, key: PublicKey) -> None:
    """Raise AuthenticationFailed unless `proof` is `key`'s signature over the digest."""
    try:
        verify_detached(transcript_digest, proof, key, context=LOGIN_CONTEXT)
    except (BadSignature, TypeError) as exc:
        raise AuthenticationFailed(
            "the login is not signed by the key it presents") from exc
