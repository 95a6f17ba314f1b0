"""The raw outline of a public key (what the hub reads before the password check) agrees with
the full parse for real keys, and refuses what a full parse would refuse or find too costly."""

from __future__ import annotations

import pytest

from gossip.crypto import Identity, InvalidKey, PublicKey
from gossip.crypto._pgpy import PGPUID, constants
from gossip.crypto.rawkey import MAX_USER_IDS, outline_public_key


@pytest.fixture(scope="module")
def identities() -> list[Identity]:
    return [Identity.generate(name) for name in ("alice", "bob", "Zoë Ω", "x" * 32)]


def test_the_fingerprint_matches_the_full_parse_for_real_keys(identities) -> None:
    for identity in identities:
        data = identity.public.to_bytes()
        outline = outline_public_key(data)
        assert outline.fingerprint == PublicKey.from_bytes(data).fingerprint
        assert (outline.user_ids, outline.subkeys, outline.signatures) == (1, 1, 2)


def test_a_key_with_extra_user_ids_keeps_its_fingerprint(identities) -> None:
    key = Identity.generate("carol").pgp_key
    key.add_uid(PGPUID.new("carol-two"), usage={constants.KeyFlags.Sign},
                hashes=[constants.HashAlgorithm.SHA256])
    data = bytes(key.pubkey)
    outline = outline_public_key(data)
    assert outline.user_ids == 2
    assert outline.fingerprint == PublicKey.from_bytes(data).fingerprint


def test_a_bloated_key_is_refused_by_its_headers_alone() -> None:
    key = Identity.generate("mallory").pgp_key
    for number in range(MAX_USER_IDS):
        key.add_uid(PGPUID.new(f"mallory-{number}"), usage={constants.KeyFlags.Sign},
                    hashes=[constants.HashAlgorithm.SHA256])
    with pytest.raises(InvalidKey, match="user ids; the limit is"):
        outline_public_key(bytes(key.pubkey))


@pytest.mark.parametrize("data, why", [
    (b"", "starts with its primary key packet"),
    (b"not a key", "not a binary OpenPGP key"),
    (bytes(20_000), "the limit is"),
    (b"\xc6\x03\x03\x00\x00", "only version 4"),  # a v3 primary key packet
    (b"\xcd\x01a", "starts with its primary key packet"),  # a user id alone
])
def test_what_is_not_a_v4_public_key_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(InvalidKey, match=why):
        outline_public_key(data)


def test_a_private_key_or_trailing_bytes_are_refused(identities) -> None:
    public = identities[0].public.to_bytes()
    with pytest.raises(InvalidKey, match="runs past the end|not a binary"):
        outline_public_key(public + b"\xcd\x10abc")
    with pytest.raises(InvalidKey, match="starts with its primary key packet"):
        outline_public_key(bytes(identities[0].pgp_key))  # a secret key packet first
    with pytest.raises(InvalidKey, match="unexpected OpenPGP packets"):
        outline_public_key(public + b"\xcb\x01a")  # a literal data packet after it
    with pytest.raises(InvalidKey, match="exactly one"):
        outline_public_key(public + public)
