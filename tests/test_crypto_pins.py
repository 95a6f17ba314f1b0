"""Trust on first use: pinning, changed keys, accepting and verifying, and the file on disk."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gossip.crypto import (
    InvalidFingerprint,
    KeyPinStore,
    NothingToAccept,
    NotPinned,
    PinMismatch,
    StoreCorrupt,
    Trust,
)

OLD = "A" * 40
NEW = "B" * 40
OTHER = "C" * 40


def test_first_sight_pins_then_the_same_key_is_pinned() -> None:
    pins = KeyPinStore(None)
    assert pins.trust_of("bob") is None
    assert pins.check("bob", OLD) is Trust.NEW
    assert pins.check("bob", OLD) is Trust.PINNED
    assert pins.trust_of("bob") is Trust.PINNED
    assert pins.pinned_fingerprint("bob") == OLD


def test_fingerprints_are_compared_without_case_or_spaces() -> None:
    pins = KeyPinStore(None)
    pins.check("bob", "aaaa " * 10)
    assert pins.check("bob", OLD) is Trust.PINNED
    with pytest.raises(InvalidFingerprint):
        pins.check("bob", "not hex")


def test_a_changed_key_never_replaces_the_pin_silently() -> None:
    pins = KeyPinStore(None)
    pins.check("bob", OLD)
    assert pins.check("bob", NEW) is Trust.CHANGED
    assert pins.check("bob", NEW) is Trust.CHANGED
    assert pins.trust_of("bob") is Trust.CHANGED
    assert pins.pinned_fingerprint("bob") == OLD
    assert pins.offered_fingerprint("bob") == NEW


def test_accepting_a_changed_key_pins_it() -> None:
    pins = KeyPinStore(None)
    pins.check("bob", OLD)
    pins.check("bob", NEW)
    pins.accept("bob")
    assert pins.pinned_fingerprint("bob") == NEW
    assert pins.trust_of("bob") is Trust.PINNED
    assert pins.check("bob", NEW) is Trust.PINNED
    assert pins.check("bob", OLD) is Trust.CHANGED


def test_accept_takes_the_latest_offered_key() -> None:
    pins = KeyPinStore(None)
    pins.check("bob", OLD)
    pins.check("bob", NEW)
    pins.check("bob", OTHER)
    pins.accept("bob")
    assert pins.pinned_fingerprint("bob") == OTHER


def test_nothing_to_accept_without_a_pending_change() -> None:
    pins = KeyPinStore(None)
    with pytest.raises(NothingToAccept):
        pins.accept("bob")
    pins.check("bob", OLD)
    with pytest.raises(NothingToAccept):
        pins.accept("bob")


def test_seeing_the_pinned_key_again_withdraws_the_offer() -> None:
    pins = KeyPinStore(None)
    pins.check("bob", OLD)
    pins.check("bob", NEW)
    assert pins.check("bob", OLD) is Trust.PINNED
    assert pins.offered_fingerprint("bob") is None
    with pytest.raises(NothingToAccept):
        pins.accept("bob")


def test_verifying_the_pinned_key_marks_it_verified() -> None:
    pins = KeyPinStore(None)
    pins.check("bob", OLD)
    pins.verify("bob", OLD)
    assert pins.trust_of("bob") is Trust.VERIFIED
    assert pins.check("bob", OLD) is Trust.VERIFIED


def test_only_the_pinned_key_can_be_verified() -> None:
    pins = KeyPinStore(None)
    with pytest.raises(NotPinned):
        pins.verify("bob", OLD)
    pins.check("bob", OLD)
    pins.check("bob", NEW)
    with pytest.raises(PinMismatch):
        pins.verify("bob", NEW)
    assert pins.trust_of("bob") is Trust.CHANGED


def test_a_verified_key_that_changes_loses_verification_when_accepted() -> None:
    pins = KeyPinStore(None)
    pins.check("bob", OLD)
    pins.verify("bob", OLD)
    assert pins.check("bob", NEW) is Trust.CHANGED
    pins.accept("bob")
    assert pins.trust_of("bob") is Trust.PINNED


def test_trust_values_are_strings_for_the_ui() -> None:
    assert Trust("verified") is Trust.VERIFIED
    assert Trust.CHANGED == "changed"


def test_pins_persist_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "profile" / "pins.json"
    pins = KeyPinStore(path)
    pins.check("bob", OLD)
    pins.check("carol", OLD)
    pins.verify("carol", OLD)
    pins.check("bob", NEW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # No temporary file is left behind; the lock file beside the store stays (it is empty).
    assert sorted(p.name for p in path.parent.iterdir()) == ["pins.json", "pins.json.lock"]

    reopened = KeyPinStore(path)
    assert reopened.trust_of("bob") is Trust.CHANGED
    assert reopened.offered_fingerprint("bob") == NEW
    assert reopened.trust_of("carol") is Trust.VERIFIED
    reopened.accept("bob")
    assert KeyPinStore(path).pinned_fingerprint("bob") == NEW


@pytest.mark.parametrize("content", ["{not json", '{"version": 99, "pins": {}}',
                                     '{"version": 1, "pins": {"bob": {"fingerprint": "x"}}}',
                                     '[]'])
def test_an_unreadable_pin_file_stops_rather_than_starting_empty(tmp_path: Path,
                                                                 content: str) -> None:
    path = tmp_path / "pins.json"
    path.write_text(content)
    with pytest.raises(StoreCorrupt):
        KeyPinStore(path)


def test_the_file_is_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    KeyPinStore(path).check("bob", OLD)
    document = json.loads(path.read_text())
    assert document["pins"]["bob"]["fingerprint"] == OLD
