"""The possession proof made and checked without PGPy (crypto/edsig.py) is the very signature
PGPy makes and checks: each side accepts the other's, and any altered byte is refused."""

from __future__ import annotations

import pytest

from gossip.crypto import AuthenticationFailed, BadSignature, Identity, verify_detached
from gossip.crypto._pgpy import PGPSignature
from gossip.crypto.edsig import ed25519_point, sign_detached_eddsa, verify_detached_eddsa
from gossip.crypto.possession import LOGIN_CONTEXT, check_possession, prove_possession
from gossip.crypto.sealing import CONTEXT_NOTATION, sign_detached

from .rawmember import identity_of


def _ours_verify(data: bytes, signature: bytes, identity: Identity,
                 context: str = LOGIN_CONTEXT) -> None:
    verify_detached_eddsa(data, signature, ed25519_point(identity.public.to_bytes()),
                          identity.fingerprint, CONTEXT_NOTATION, context)


def _digests_with_short_values(identity: Identity) -> list[bytes]:
    """Digests whose signature's r or s starts with a zero byte: its MPI is shorter."""
    seed = identity.signing_seed
    assert seed is not None
    found: list[bytes] = []
    for index in range(4000):
        data = index.to_bytes(32, "big")
        packet = sign_detached_eddsa(data, seed, identity.fingerprint, CONTEXT_NOTATION,
                                     LOGIN_CONTEXT)
        if len(packet) < 177:
            found.append(data)
        if len(found) == 3:
            break
    return found


def test_each_side_accepts_the_others_signature_and_ours_are_pgpys_bytes():
    for user in ("alice", "bob", "carol"):
        identity = identity_of(user)
        for data in [bytes(32), b"\xff" * 32, *_digests_with_short_values(identity)]:
            pgpy = sign_detached(data, identity, context=LOGIN_CONTEXT)
            _ours_verify(data, pgpy, identity)  # ours accept PGPy's
            assert identity.signing_seed is not None
            ours = sign_detached_eddsa(data, identity.signing_seed, identity.fingerprint,
                                       CONTEXT_NOTATION, LOGIN_CONTEXT,
                                       created=PGPSignature.from_blob(pgpy).created)
            assert ours == pgpy  # Ed25519 is deterministic: the same packet, byte for byte
            fresh = prove_possession(data, identity)
            verify_detached(data, fresh, identity.public, context=LOGIN_CONTEXT)  # PGPy's
            check_possession(data, fresh, identity.public)


def test_every_altered_byte_of_a_proof_is_refused():
    identity = identity_of("alice")
    data = bytes(range(32))
    proof = prove_possession(data, identity)
    for index in range(len(proof)):
        for flip in (0x01, 0x80):
            altered = bytearray(proof)
            altered[index] ^= flip
            with pytest.raises(BadSignature):
                _ours_verify(data, bytes(altered), identity)
    for broken in (proof[:-1], proof + b"\0", b"", proof + proof):
        with pytest.raises(BadSignature):
            _ours_verify(data, broken, identity)


def test_a_proof_for_other_data_another_key_or_another_purpose_is_refused():
    alice, bob = identity_of("alice"), identity_of("bob")
    data = bytes(32)
    with pytest.raises(BadSignature):
        _ours_verify(b"\x01" + data[1:], prove_possession(data, alice), alice)
    with pytest.raises(AuthenticationFailed):
        check_possession(data, prove_possession(data, bob), alice.public)
    with pytest.raises(BadSignature):
        _ours_verify(data, sign_detached(data, alice, context="something else"), alice)
    # Bob's signature under alice's issuer claims: the curve check refuses it.
    forged = sign_detached_eddsa(data, bob.signing_seed or b"", alice.fingerprint,
                                 CONTEXT_NOTATION, LOGIN_CONTEXT)
    with pytest.raises(BadSignature):
        _ours_verify(data, forged, alice)


def test_an_identity_loaded_with_its_passphrase_proves_possession_as_pgpy_would():
    armored = identity_of("alice").armored_private("correct horse")
    loaded = Identity.from_armored(armored, "correct horse")
    assert loaded.signing_seed == identity_of("alice").signing_seed
    data = bytes(32)
    verify_detached(data, prove_possession(data, loaded), loaded.public, context=LOGIN_CONTEXT)
