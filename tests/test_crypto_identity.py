"""Identities and public keys: generation, storage, and refusal of keys we cannot trust."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gossip.crypto import (
    Identity,
    IdentityMismatch,
    InvalidKey,
    InvalidUserName,
    PublicKey,
    StoreCorrupt,
)
from gossip.crypto._packets import Tag, walk
from gossip.crypto._pgpy import PGPUID, PGPKey, constants
from gossip.crypto.identity import IDENTITY_FILE, MAX_PUBLIC_KEY_BYTES


@cache
def alice() -> Identity:
    return Identity.generate("alice")


@cache
def bob() -> Identity:
    return Identity.generate("bob")


def _packets(data: bytes) -> list[bytes]:
    return [data[header.start : header.end] for header in walk(data)]


def _primary(algorithm=constants.PubKeyAlgorithm.EdDSA, size=constants.EllipticCurveOID.Ed25519,
             created: datetime | None = None) -> PGPKey:
    return PGPKey.new(algorithm, size, created=created)


def _add_uid(key: PGPKey, name: str = "mallory", **prefs: object) -> None:
    key.add_uid(PGPUID.new(name), usage={constants.KeyFlags.Sign, constants.KeyFlags.Certify},
                hashes=[constants.HashAlgorithm.SHA256], **prefs)


def _add_encryption_subkey(key: PGPKey) -> None:
    subkey = PGPKey.new(constants.PubKeyAlgorithm.ECDH, constants.EllipticCurveOID.Curve25519)
    key.add_subkey(subkey, usage={constants.KeyFlags.EncryptCommunications})


def test_generated_identity_has_the_user_and_a_v4_fingerprint() -> None:
    identity = alice()
    assert identity.user == "alice"
    assert len(identity.fingerprint) == 40
    assert identity.fingerprint == identity.fingerprint.upper()
    int(identity.fingerprint, 16)
    assert identity.public.fingerprint == identity.fingerprint
    assert identity.public.keyid == identity.fingerprint[-16:]


def test_public_key_round_trips_through_bytes() -> None:
    public = alice().public
    again = PublicKey.from_bytes(public.to_bytes())
    assert again == public
    assert hash(again) == hash(public)
    assert again.user == "alice"
    assert again.fingerprint == alice().fingerprint
    assert public.armored().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert public != bob().public


def test_user_names_that_would_not_read_back_are_refused() -> None:
    assert Identity.generate("Zoë Ölmez").user == "Zoë Ölmez"
    for name in ["", " alice", "bob (work)", "carol <c@example.org>", "tab\there"]:
        with pytest.raises(InvalidUserName):
            Identity.generate(name)


def test_a_private_key_is_refused_as_a_public_key() -> None:
    with pytest.raises(InvalidKey, match="private"):
        PublicKey.from_bytes(bytes(alice().pgp_key))


def test_armored_text_is_not_a_binary_key() -> None:
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(alice().public.armored().encode())


def test_a_huge_key_is_refused_before_parsing() -> None:
    data = alice().public.to_bytes()
    with pytest.raises(InvalidKey, match="limit"):
        PublicKey.from_bytes(data + b"\x00" * MAX_PUBLIC_KEY_BYTES)


def test_trailing_garbage_is_refused() -> None:
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(alice().public.to_bytes() + b"\x01\x02")


def test_a_key_without_an_encryption_subkey_is_refused() -> None:
    key = _primary()
    _add_uid(key)
    with pytest.raises(InvalidKey, match="encryption"):
        PublicKey.from_bytes(bytes(key.pubkey))


def test_a_key_with_only_a_signing_subkey_is_refused() -> None:
    key = _primary()
    _add_uid(key)
    subkey = PGPKey.new(constants.PubKeyAlgorithm.EdDSA, constants.EllipticCurveOID.Ed25519)
    key.add_subkey(subkey, usage={constants.KeyFlags.Sign})
    with pytest.raises(InvalidKey, match="encryption"):
        PublicKey.from_bytes(bytes(key.pubkey))


def test_a_non_ed25519_primary_is_refused() -> None:
    key = _primary(constants.PubKeyAlgorithm.ECDSA, constants.EllipticCurveOID.NIST_P256)
    _add_uid(key)
    _add_encryption_subkey(key)
    with pytest.raises(InvalidKey, match="Ed25519"):
        PublicKey.from_bytes(bytes(key.pubkey))


def test_a_key_without_user_id_is_refused() -> None:
    data = alice().public.to_bytes()
    kept = [p for p, h in zip(_packets(data), walk(data)) if h.tag == Tag.PUBLIC_KEY]
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(b"".join(kept))


def test_someone_elses_encryption_subkey_cannot_be_grafted_on() -> None:
    """The hub could swap the encryption subkey: the fingerprint would not change, so the
    subkey's binding signature is what stops it."""
    ours, theirs = alice().public.to_bytes(), bob().public.to_bytes()
    our_packets, their_packets = _packets(ours), _packets(theirs)
    our_tags = [h.tag for h in walk(ours)]
    their_tags = [h.tag for h in walk(theirs)]
    head = our_packets[: our_tags.index(Tag.PUBLIC_SUBKEY)]
    their_subkey = their_tags.index(Tag.PUBLIC_SUBKEY)

    with_their_binding = b"".join(head + their_packets[their_subkey:])
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(with_their_binding)

    with_our_binding = b"".join(
        head + [their_packets[their_subkey]] + our_packets[our_tags.index(Tag.PUBLIC_SUBKEY) + 1 :]
    )
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(with_our_binding)

    without_binding = b"".join(head + [their_packets[their_subkey]])
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(without_binding)


def test_a_renamed_user_id_is_refused() -> None:
    data = alice().public.to_bytes()
    forged = data.replace(b"\xcd\x05alice", b"\xcd\x05alicf")  # the user id packet
    assert forged != data
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(forged)


def test_a_key_seen_before_with_an_altered_self_signature_is_checked_in_full() -> None:
    """Validated keys are remembered by their bytes' digest (a member who logs in again costs
    a lookup); the same key with one self-signature altered is other bytes, checked in full
    with its key id read once, and refused."""
    data = alice().public.to_bytes()
    assert PublicKey.from_bytes(data).user == "alice"  # validated: remembered
    packets, tags = _packets(data), [h.tag for h in walk(data)]
    for index in [i for i, tag in enumerate(tags) if tag == Tag.SIGNATURE]:
        altered = bytearray(packets[index])
        altered[-3] ^= 0x01  # a bit of the signature's value
        forged = b"".join(packets[:index] + [bytes(altered)] + packets[index + 1:])
        with pytest.raises(InvalidKey, match="does not verify"):
            PublicKey.from_bytes(forged)
    assert PublicKey.from_bytes(data).user == "alice"


def test_an_expired_key_is_refused() -> None:
    key = _primary(created=datetime.now(UTC) - timedelta(days=30))
    _add_uid(key, key_expiration=timedelta(days=1))
    _add_encryption_subkey(key)
    with pytest.raises(InvalidKey, match="expired|verify"):
        PublicKey.from_bytes(bytes(key.pubkey))


def test_a_revoked_key_is_refused() -> None:
    key = _primary()
    _add_uid(key)
    _add_encryption_subkey(key)
    key |= key.revoke(key)
    with pytest.raises(InvalidKey, match="revoked"):
        PublicKey.from_bytes(bytes(key.pubkey))


def test_load_or_create_stores_a_private_key_and_reuses_it(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    first = Identity.load_or_create(profile, "alice")
    path = profile / IDENTITY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(profile.stat().st_mode) == 0o700
    assert path.read_text().startswith("-----BEGIN PGP PRIVATE KEY BLOCK-----")
    assert [p.name for p in profile.iterdir()] == [IDENTITY_FILE]  # no temp file left

    again = Identity.load_or_create(profile, "alice")
    assert again.fingerprint == first.fingerprint
    assert again.public == first.public


def test_load_or_create_refuses_another_users_identity(tmp_path: Path) -> None:
    Identity.load_or_create(tmp_path, "alice")
    with pytest.raises(IdentityMismatch, match="'alice'.*'bob'"):
        Identity.load_or_create(tmp_path, "bob")


def test_a_corrupt_identity_file_is_reported_not_replaced(tmp_path: Path) -> None:
    (tmp_path / IDENTITY_FILE).write_text("not a key")
    with pytest.raises(StoreCorrupt):
        Identity.load_or_create(tmp_path, "alice")
    assert (tmp_path / IDENTITY_FILE).read_text() == "not a key"


def test_a_loose_identity_file_mode_is_tightened(tmp_path: Path) -> None:
    Identity.load_or_create(tmp_path, "alice")
    os.chmod(tmp_path / IDENTITY_FILE, 0o644)
    Identity.load_or_create(tmp_path, "alice")
    assert stat.S_IMODE((tmp_path / IDENTITY_FILE).stat().st_mode) == 0o600


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg (Debian package gnupg) not installed")
def test_gnupg_reads_the_same_fingerprint() -> None:
    public = alice().public
    with tempfile.TemporaryDirectory(prefix="gossip-gpg-") as home:
        env = {**os.environ, "GNUPGHOME": home}
        subprocess.run(["gpg", "--batch", "--import"], input=public.to_bytes(), env=env,
                       check=True, capture_output=True)
        listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env,
                                 check=True, capture_output=True, text=True).stdout
    lines = [line.split(":") for line in listing.splitlines()]
    fingerprints = [fields[9] for fields in lines if fields[0] == "fpr"]
    assert fingerprints[0] == public.fingerprint
    assert [fields[9] for fields in lines if fields[0] == "uid"] == ["alice"]
    subkey = next(fields for fields in lines if fields[0] == "sub")
    assert "e" in subkey[11] and subkey[16] == "cv25519"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_are_refused_cleanly(data: bytes) -> None:
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bit_flipped_keys_are_refused_or_unchanged(data: st.DataObject) -> None:
    original = alice().public
    blob = bytearray(original.to_bytes())
    flips = data.draw(st.lists(st.integers(0, len(blob) * 8 - 1), min_size=1, max_size=3))
    for bit in flips:
        blob[bit // 8] ^= 1 << (bit % 8)
    try:
        key = PublicKey.from_bytes(bytes(blob))
    except InvalidKey:
        return
    # A flip outside anything signed (e.g. an unhashed subpacket) may be harmless, but the
    # key that signs and the key that encrypts must be exactly the original ones.
    assert key.fingerprint == original.fingerprint
    assert [k.fingerprint for k in key.encryption_keys] == [
        k.fingerprint for k in original.encryption_keys
    ]
    assert key.user == original.user


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg (Debian package gnupg) not installed")
def test_a_key_made_by_gnupg_is_accepted() -> None:
    with tempfile.TemporaryDirectory(prefix="gossip-gpg-") as home:
        env = {**os.environ, "GNUPGHOME": home}

        def gpg(*args: str) -> str:
            return subprocess.run(["gpg", "--batch", "--passphrase", "", *args], env=env,
                                  check=True, capture_output=True, text=True).stdout

        try:
            gpg("--quick-generate-key", "carol", "ed25519", "sign", "never")
            listing = gpg("--with-colons", "--list-keys", "carol")
            fingerprint = next(line.split(":")[9] for line in listing.splitlines()
                               if line.startswith("fpr"))
            gpg("--quick-add-key", fingerprint, "cv25519", "encr", "never")
            exported = subprocess.run(["gpg", "--batch", "--export", "carol"], env=env,
                                      check=True, capture_output=True).stdout
        finally:
            subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True,
                           check=False)
    key = PublicKey.from_bytes(exported)
    assert key.fingerprint == fingerprint
    assert key.user == "carol"
    assert len(key.encryption_keys) == 1
