"""Safety numbers: format, symmetry, and sensitivity to every input."""

from __future__ import annotations

import re

import pytest

from gossip.crypto import Identity, InvalidFingerprint, safety_number

FP_A = "0123456789ABCDEF0123456789ABCDEF01234567"
FP_B = "89ABCDEF0123456789ABCDEF0123456789ABCDEF"


def test_sixty_digits_in_twelve_groups_of_five() -> None:
    number = safety_number("alice", FP_A, "bob", FP_B)
    assert re.fullmatch(r"\d{5}( \d{5}){11}", number)


def test_both_sides_compute_the_same_number() -> None:
    alice, bob = Identity.generate("alice"), Identity.generate("bob")
    assert safety_number(alice.user, alice.fingerprint, bob.user, bob.fingerprint) == \
        safety_number(bob.user, bob.fingerprint, alice.user, alice.fingerprint)


def test_it_is_stable_and_ignores_fingerprint_case() -> None:
    assert safety_number("alice", FP_A, "bob", FP_B) == \
        safety_number("alice", FP_A.lower(), "bob", FP_B)


def test_a_changed_key_or_name_changes_the_number() -> None:
    base = safety_number("alice", FP_A, "bob", FP_B)
    other_fp = FP_B[:-1] + "0"
    assert safety_number("alice", FP_A, "bob", other_fp) != base
    assert safety_number("alice", other_fp, "bob", FP_B) != base
    assert safety_number("alicf", FP_A, "bob", FP_B) != base
    # Each half belongs to one side: only that side's half moves.
    changed = safety_number("alice", FP_A, "bob", other_fp).replace(" ", "")
    halves = {base.replace(" ", "")[:30], base.replace(" ", "")[30:]}
    assert len(halves & {changed[:30], changed[30:]}) == 1


def test_a_malformed_fingerprint_is_refused() -> None:
    with pytest.raises(InvalidFingerprint):
        safety_number("alice", "xyz", "bob", FP_B)
