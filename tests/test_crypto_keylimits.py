"""Bounded key parsing: bloated keys are refused from their framing, validated keys are cached."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
import trio

from gossip.crypto import (
    Identity,
    InvalidKey,
    KeyOverLimit,
    KeyTooLarge,
    PublicKey,
    TooManySignatures,
    TooManySubkeys,
    TooManyUserIds,
    ValidatedKeyCache,
)
from gossip.crypto import identity as identity_module
from gossip.crypto._packets import Tag, walk
from gossip.crypto._pgpy import PGPUID, PGPKey, constants
from gossip.crypto.identity import (
    MAX_KEY_SIGNATURES,
    MAX_PUBLIC_KEY_BYTES,
    MAX_SUBKEYS,
    MAX_USER_IDS,
)
from gossip.crypto.keycache import key_digest


def _key(user_ids: int = 1, subkeys: int = 1, expires: timedelta | None = None) -> PGPKey:
    key = PGPKey.new(constants.PubKeyAlgorithm.EdDSA, constants.EllipticCurveOID.Ed25519)
    for number in range(user_ids):
        key.add_uid(PGPUID.new(f"mallory{number}"),
                    usage={constants.KeyFlags.Sign, constants.KeyFlags.Certify},
                    hashes=[constants.HashAlgorithm.SHA256], key_expiration=expires)
    for _ in range(subkeys):
        subkey = PGPKey.new(constants.PubKeyAlgorithm.ECDH, constants.EllipticCurveOID.Curve25519)
        key.add_subkey(subkey, usage={constants.KeyFlags.EncryptCommunications})
    return key


@cache
def bloated_key() -> bytes:
    """The attack key: 112 self-certified user ids, about 16 KiB."""
    return bytes(_key(user_ids=112).pubkey)


@cache
def alice() -> Identity:
    return Identity.generate("alice")


def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if PGPy is asked to parse a key from now on."""
    def refuse(*args: object) -> None:
        raise AssertionError("the key reached the parser")
    monkeypatch.setattr(identity_module, "_parse_public", refuse)


@pytest.fixture(name="no_parsing")
def no_parsing_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    no_parsing(monkeypatch)


def test_the_112_user_id_key_is_refused_for_its_size_unparsed(no_parsing: None) -> None:
    data = bloated_key()
    assert len(data) > MAX_PUBLIC_KEY_BYTES
    with pytest.raises(KeyTooLarge) as caught:
        PublicKey.from_bytes(data, cache=None)
    assert (caught.value.count, caught.value.limit) == (len(data), MAX_PUBLIC_KEY_BYTES)


def test_too_many_user_ids_are_refused_unparsed(no_parsing: None) -> None:
    data = bytes(_key(user_ids=MAX_USER_IDS + 1).pubkey)
    assert len(data) < MAX_PUBLIC_KEY_BYTES
    with pytest.raises(TooManyUserIds):
        PublicKey.from_bytes(data)


def test_too_many_subkeys_are_refused_unparsed(no_parsing: None) -> None:
    data = bytes(_key(subkeys=MAX_SUBKEYS + 1).pubkey)
    with pytest.raises(TooManySubkeys):
        PublicKey.from_bytes(data)


def test_too_many_signatures_are_refused_unparsed(monkeypatch: pytest.MonkeyPatch) -> None:
    data = alice().public.to_bytes()
    no_parsing(monkeypatch)
    headers = walk(data)
    signature = next(data[h.start:h.end] for h in headers if h.tag == Tag.SIGNATURE)
    with pytest.raises(TooManySignatures):
        PublicKey.from_bytes(data + signature * MAX_KEY_SIGNATURES)


def test_over_limit_errors_are_invalid_keys() -> None:
    for error in (KeyTooLarge, TooManyUserIds, TooManySignatures, TooManySubkeys):
        assert issubclass(error, KeyOverLimit)
        assert issubclass(error, InvalidKey)


def test_a_key_within_the_limits_still_validates() -> None:
    key = PublicKey.from_bytes(bytes(_key(user_ids=MAX_USER_IDS, subkeys=2).pubkey), cache=None)
    assert key.user == "mallory0"
    assert len(key.encryption_keys) == 2


def test_a_key_seen_before_is_answered_from_the_cache() -> None:
    keys = ValidatedKeyCache()
    data = Identity.generate("carol").public.to_bytes()
    first = PublicKey.from_bytes(data, cache=keys)
    again = PublicKey.from_bytes(bytearray(data), cache=keys)
    assert again is first
    assert (keys.stats().hits, keys.stats().misses) == (1, 1)
    assert PublicKey.from_bytes(data, cache=None) is not first


def test_a_refusal_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = ValidatedKeyCache()
    forged = alice().public.to_bytes().replace(b"\xcd\x05alice", b"\xcd\x05alicf")
    with pytest.raises(InvalidKey, match="does not verify"):
        PublicKey.from_bytes(forged, cache=keys)

    def refuse(*args: object) -> None:
        raise AssertionError("validated again")
    monkeypatch.setattr(identity_module, "_parse_public", refuse)
    with pytest.raises(InvalidKey, match="does not verify"):
        PublicKey.from_bytes(forged, cache=keys)
    assert keys.stats().hits == 1


def test_the_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    keys = ValidatedKeyCache(capacity=2)
    data = [Identity.generate(name).public.to_bytes() for name in ("d1", "d2", "d3")]
    first = PublicKey.from_bytes(data[0], cache=keys)
    PublicKey.from_bytes(data[1], cache=keys)
    assert PublicKey.from_bytes(data[0], cache=keys) is first  # d1 now the most recent
    PublicKey.from_bytes(data[2], cache=keys)
    assert len(keys) == 2
    now = datetime.now(UTC)
    assert keys.lookup(key_digest(data[1]), now) is None
    assert keys.lookup(key_digest(data[0]), now) is first


def test_a_cached_key_that_has_since_expired_is_validated_again() -> None:
    keys = ValidatedKeyCache()
    data = bytes(_key(expires=timedelta(days=1)).pubkey)
    key = PublicKey.from_bytes(data, cache=keys)
    now = datetime.now(UTC)
    assert keys.lookup(key_digest(data), now) is key
    assert keys.lookup(key_digest(data), now + timedelta(days=2)) is None
    assert len(keys) == 0


def test_validation_from_many_threads_at_once() -> None:
    keys = ValidatedKeyCache(capacity=4)
    data = [Identity.generate(f"t{n}").public.to_bytes() for n in range(6)]
    results: list[list[str]] = []
    failures: list[BaseException] = []

    def validate_all() -> None:
        try:
            results.append([PublicKey.from_bytes(d, cache=keys).fingerprint
                            for _ in range(5) for d in data])
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=validate_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert len(results) == 4 and all(result == results[0] for result in results)
    assert len(keys) == 4


def test_validation_runs_in_a_trio_worker_thread() -> None:
    data = Identity.generate("worker").public.to_bytes()

    async def main() -> PublicKey:
        return await trio.to_thread.run_sync(PublicKey.from_bytes, data)

    assert trio.run(main).user == "worker"
