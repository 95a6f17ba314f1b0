"""A key verdict (crypto/keyverdict.py) reads back as written, covers only its fingerprint,
user and time, lives no longer than the key, and anything else in its place reads as none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gossip.crypto import KeyVerdict
from gossip.crypto.identity import VALIDATION_RULES
from gossip.crypto.keyverdict import VERDICT_TTL, verdict_name

from .rawmember import identity_of

FINGERPRINT = "A" * 40


def test_a_verdict_reads_back_and_covers_only_its_key_user_and_time():
    alice = identity_of("alice")
    verdict = KeyVerdict.of(alice.public)
    assert verdict == KeyVerdict(alice.fingerprint, "alice", 0)
    assert KeyVerdict.decode(verdict.encode()) == verdict
    now = datetime.now(UTC)
    assert verdict.vouches_for(alice.fingerprint, "alice", now)
    assert not verdict.vouches_for(FINGERPRINT, "alice", now)
    assert not verdict.vouches_for(alice.fingerprint, "alicia", now)
    ending = KeyVerdict(FINGERPRINT, "bob", int((now + timedelta(hours=1)).timestamp()))
    assert ending.vouches_for(FINGERPRINT, "bob", now)
    assert not ending.vouches_for(FINGERPRINT, "bob", now + timedelta(hours=2))
    assert 0 < ending.ttl_ms(now) <= 3600 * 1000
    assert verdict.ttl_ms(now) == VERDICT_TTL.total_seconds() * 1000
    assert KeyVerdict(FINGERPRINT, "bob", int(now.timestamp()) - 5).ttl_ms(now) == 0
    # A user name with the separator in it still reads back whole.
    odd = KeyVerdict(FINGERPRINT, "a|b", 0)
    assert KeyVerdict.decode(odd.encode()) == odd


def test_anything_else_in_a_verdicts_place_reads_as_none():
    good = KeyVerdict(FINGERPRINT, "bob", 0).encode()
    for bad in (b"", b"garbage", b"2" + good[1:], good.replace(b"|0|", b"|-1|"),
                good.replace(b"A" * 40, b"a" * 40), good.replace(b"A" * 40, b"A" * 39),
                b"1|" + b"A" * 40 + b"|0|" + b"\xff", good + b"x" * 600):
        assert KeyVerdict.decode(bad) is None, bad


def test_a_verdicts_name_is_the_rules_version_and_the_digest_of_the_exact_bytes():
    alice, bob = identity_of("alice"), identity_of("bob")
    name = verdict_name(alice.public.to_bytes())
    assert name.startswith(f"v{VALIDATION_RULES}:")
    assert name != verdict_name(bob.public.to_bytes())
    assert name != verdict_name(alice.public.to_bytes() + b"\0")
