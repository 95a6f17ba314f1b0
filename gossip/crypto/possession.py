"""Proof that a client logging in holds the private half of the key it presents.

The password only says "a member of this hub"; without this, any member could log in under
another's name and public key (which every member has) and push them off the hub. The client
signs the PAKE transcript digest, which binds this very exchange (both SPAKE2 messages, the
user, the key fingerprint and the hub certificate), so a proof cannot be replayed elsewhere.

The signature is an ordinary OpenPGP one (PGPy reads it), made and checked by edsig.py: PGPy
took about half a millisecond on each side of every login.
"""

from __future__ import annotations

from gossip.crypto.edsig import ed25519_point, sign_detached_eddsa, verify_detached_eddsa
from gossip.crypto.errors import AuthenticationFailed, BadSignature, InvalidKey
from gossip.crypto.identity import Identity, PublicKey
from gossip.crypto.sealing import CONTEXT_NOTATION, sign_detached

LOGIN_CONTEXT = "gossip login possession v1"


def prove_possession(transcript_digest: bytes, identity: Identity) -> bytes:
    """The client's signature over its login's transcript digest."""
    seed = identity.signing_seed
    if seed is None:  # not a key we made: PGPy signs it
        return sign_detached(transcript_digest, identity, context=LOGIN_CONTEXT)
    return sign_detached_eddsa(transcript_digest, seed, identity.fingerprint, CONTEXT_NOTATION,
                               LOGIN_CONTEXT)


def check_possession(transcript_digest: bytes, proof: bytes, key: PublicKey) -> None:
    """Raise AuthenticationFailed unless `proof` is `key`'s signature over the digest."""
    try:
        check_possession_of(transcript_digest, proof, key.to_bytes(), key.fingerprint)
    except InvalidKey as exc:  # not after PublicKey's validation; said as it was
        raise AuthenticationFailed("the login is not signed by the key it presents") from exc


def check_possession_of(transcript_digest: bytes, proof: bytes, public_key: bytes,
                        fingerprint: str) -> None:
    """As check_possession, for a key given as its bytes and v4 fingerprint (the caller read
    it from the key's primary packet), not parsed: the hub's path before it knows whether the
    key's self-signatures need checking. InvalidKey if its primary key is not a v4 Ed25519
    one (no key we accept), AuthenticationFailed if the proof is not its signature."""
    point = ed25519_point(public_key)
    try:
        verify_detached_eddsa(transcript_digest, proof, point, fingerprint, CONTEXT_NOTATION,
                              LOGIN_CONTEXT)
    except (BadSignature, TypeError, ValueError) as exc:
        raise AuthenticationFailed(
            "the login is not signed by the key it presents") from exc
