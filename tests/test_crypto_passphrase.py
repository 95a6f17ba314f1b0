"""An optional passphrase for the identity key on disk: off by default, clear errors when it is
missing or wrong, and a protected identity that signs and decrypts like any other."""

from __future__ import annotations

from pathlib import Path

import pytest

from gossip.crypto import (
    Identity,
    PassphraseRequired,
    StoreCorrupt,
    WrongPassphrase,
    open_sealed,
    seal,
)
from gossip.crypto.identity import IDENTITY_FILE

PASSPHRASE = "correct horse battery staple"


def test_by_default_the_key_on_disk_is_not_protected(tmp_path: Path) -> None:
    identity = Identity.load_or_create(tmp_path, "bot")
    assert not identity.protected
    assert Identity.load_or_create(tmp_path, "bot").fingerprint == identity.fingerprint


def test_a_protected_identity_opens_only_with_its_passphrase(tmp_path: Path) -> None:
    created = Identity.load_or_create(tmp_path, "alice", passphrase=PASSPHRASE)
    text = (tmp_path / IDENTITY_FILE).read_text(encoding="ascii")
    with pytest.raises(PassphraseRequired):
        Identity.from_armored(text)
    with pytest.raises(PassphraseRequired, match="passphrase"):
        Identity.load_or_create(tmp_path, "alice")
    with pytest.raises(WrongPassphrase):
        Identity.load_or_create(tmp_path, "alice", passphrase="wrong")
    loaded = Identity.load_or_create(tmp_path, "alice", passphrase=PASSPHRASE)
    assert loaded.protected
    assert loaded.fingerprint == created.fingerprint


def test_the_secret_is_not_on_disk_in_the_clear(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    protected = tmp_path / "protected"
    Identity.load_or_create(plain, "alice")
    Identity.load_or_create(protected, "alice", passphrase=PASSPHRASE)
    # An unprotected private key loads without a passphrase; the protected one does not.
    Identity.from_armored((plain / IDENTITY_FILE).read_text(encoding="ascii"))
    with pytest.raises(PassphraseRequired):
        Identity.from_armored((protected / IDENTITY_FILE).read_text(encoding="ascii"))


def test_a_protected_identity_signs_and_decrypts(tmp_path: Path) -> None:
    Identity.load_or_create(tmp_path, "alice", passphrase=PASSPHRASE)
    alice = Identity.load_or_create(tmp_path, "alice", passphrase=PASSPHRASE)
    bob = Identity.generate("bob")
    to_alice = seal(b"for alice", bob, [alice.public])
    assert open_sealed(to_alice, alice, bob.public) == b"for alice"
    to_bob = seal(b"from alice", alice, [bob.public])
    assert open_sealed(to_bob, bob, alice.public) == b"from alice"
    # Written back, it stays protected.
    with pytest.raises(PassphraseRequired):
        Identity.from_armored(alice.armored_private())


def test_passphrase_errors_are_not_mistaken_for_a_corrupt_store() -> None:
    assert not issubclass(PassphraseRequired, StoreCorrupt)
    assert not issubclass(WrongPassphrase, StoreCorrupt)


def test_an_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty passphrase"):
        Identity.load_or_create(tmp_path, "alice", passphrase="")
