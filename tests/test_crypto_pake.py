"""Password login by SPAKE2 with key confirmation, bound to user, key and hub certificate."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_core_ed25519_add
from spake2 import SPAKE2_Symmetric
from spake2.parameters.ed25519 import ParamsEd25519

from gossip.crypto import AuthenticationFailed, PakeClient, PakeHub, PakeStateError
from gossip.crypto.pake import use_reference_spake2
from gossip.crypto.sodiumspake import SYMMETRIC_S, SodiumSpake2Symmetric

KEY_FP = "0123456789ABCDEF0123456789ABCDEF01234567"
CERT_FP = ":".join(["ab"] * 32)
OTHER_CERT_FP = ":".join(["cd"] * 32)
VERSION = 1


def _client(password: str = "s3cret", user: str = "alice", key_fp: str = KEY_FP,
            cert_fp: str = CERT_FP, version: int = VERSION) -> PakeClient:
    return PakeClient(password, user, key_fp, cert_fp, version)


def _hub(password: str = "s3cret", user: str = "alice", key_fp: str = KEY_FP,
         cert_fp: str = CERT_FP, version: int = VERSION) -> PakeHub:
    return PakeHub(password, user, key_fp, cert_fp, version)


def _run(client: PakeClient, hub: PakeHub) -> None:
    """The wire order: hub's message, client's message + confirmation, hub's confirmation."""
    confirm_client = client.finish(hub.message)
    confirm_hub = hub.finish(client.message, confirm_client)
    client.verify_hub(confirm_hub)


def test_the_right_password_confirms_both_ways_and_agrees_on_a_session_key() -> None:
    client, hub = _client(), _hub()
    _run(client, hub)
    assert client.session_key == hub.session_key
    assert len(client.session_key) == 32


def test_each_login_gives_fresh_messages_and_keys() -> None:
    first_client, first_hub = _client(), _hub()
    second_client, second_hub = _client(), _hub()
    _run(first_client, first_hub)
    _run(second_client, second_hub)
    assert first_client.message != second_client.message
    assert first_client.session_key != second_client.session_key


def test_fingerprint_spelling_does_not_matter() -> None:
    client = _client(key_fp=KEY_FP.lower(), cert_fp=CERT_FP.replace(":", "").upper())
    _run(client, _hub())


def test_the_password_is_normalized() -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    _run(_client(password=composed), _hub(password=decomposed))


def test_a_wrong_password_fails_at_the_hub() -> None:
    client, hub = _client(password="guess"), _hub()
    confirm_client = client.finish(hub.message)
    with pytest.raises(AuthenticationFailed):
        hub.finish(client.message, confirm_client)
    with pytest.raises(PakeStateError):
        _ = hub.session_key


def test_a_hub_without_the_password_fails_at_the_client() -> None:
    """A fake hub cannot produce a confirmation the client accepts."""
    client, fake_hub = _client(), _hub(password="not it")
    client.finish(fake_hub.message)
    # Even a confirmation correctly computed in another run under another password is refused.
    accomplice = _client(password="not it")
    other_hub = _hub(password="not it")
    genuine_elsewhere = other_hub.finish(accomplice.message, accomplice.finish(other_hub.message))
    with pytest.raises(AuthenticationFailed):
        client.verify_hub(genuine_elsewhere)
    with pytest.raises(PakeStateError):
        _ = client.session_key


@pytest.mark.parametrize("client_side, hub_side", [
    ({"cert_fp": OTHER_CERT_FP}, {}),  # a relay showing its own certificate
    ({"user": "mallory"}, {}),
    ({"key_fp": "F" * 40}, {}),  # the hub was handed another public key
    ({"version": 2}, {}),
])
def test_any_difference_in_what_is_bound_fails(client_side: dict, hub_side: dict) -> None:
    client, hub = _client(**client_side), _hub(**hub_side)
    confirm_client = client.finish(hub.message)
    with pytest.raises(AuthenticationFailed):
        hub.finish(client.message, confirm_client)


def test_a_reflected_message_fails() -> None:
    hub = _hub()
    with pytest.raises(AuthenticationFailed):
        hub.finish(hub.message, b"\x00" * 32)


def test_a_relayed_confirmation_for_another_certificate_fails_at_the_client() -> None:
    """A relay forwarding between a client (seeing the relay's cert) and the real hub."""
    client, hub = _client(cert_fp=OTHER_CERT_FP), _hub()
    confirm_client = client.finish(hub.message)
    with pytest.raises(AuthenticationFailed):
        hub.finish(client.message, confirm_client)
    with pytest.raises(AuthenticationFailed):
        client.verify_hub(b"\x01" * 32)


@pytest.mark.parametrize("garbage", [b"", b"S", b"S" + b"\x00" * 32, b"A" + b"\x01" * 32,
                                     b"S" + b"\xff" * 32, b"S" + b"\x01" * 40, b"\x00" * 33])
def test_garbage_messages_fail_cleanly(garbage: bytes) -> None:
    with pytest.raises(AuthenticationFailed):
        _client().finish(garbage)
    with pytest.raises(AuthenticationFailed):
        _hub().finish(garbage, b"\x00" * 32)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64), st.binary(max_size=64))
def test_random_messages_only_fail_with_authentication_failed(message: bytes,
                                                               confirm: bytes) -> None:
    with pytest.raises(AuthenticationFailed):
        _hub().finish(message, confirm)


def test_steps_cannot_be_repeated_or_skipped() -> None:
    client, hub = _client(), _hub()
    with pytest.raises(PakeStateError):
        client.verify_hub(b"\x00" * 32)
    confirm_client = client.finish(hub.message)
    with pytest.raises(PakeStateError):
        client.finish(hub.message)
    hub.finish(client.message, confirm_client)
    with pytest.raises(PakeStateError):
        hub.finish(client.message, confirm_client)


# -- the libsodium SPAKE2 against the pure-Python package it replaced ----------------------

@pytest.fixture
def reference_spake2():
    """Exchanges made inside the block run on the `spake2` package; libsodium after it."""
    use_reference_spake2()
    yield
    use_reference_spake2(False)


def test_the_symmetric_point_is_the_reference_packages() -> None:
    assert ParamsEd25519.S.to_bytes() == SYMMETRIC_S


@pytest.mark.parametrize("client_engine, hub_engine", [
    ("reference", "sodium"), ("sodium", "reference"), ("sodium", "sodium"),
])
def test_libsodium_and_the_reference_package_log_each_other_in(
        client_engine: str, hub_engine: str, reference_spake2: None) -> None:
    """The wire did not change: an old client logs into a new hub and back, with one key."""
    use_reference_spake2(client_engine == "reference")
    client = _client()
    use_reference_spake2(hub_engine == "reference")
    hub = _hub()
    _run(client, hub)
    assert client.session_key == hub.session_key


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=40))
def test_both_engines_derive_the_same_key(password: bytes, identity: bytes) -> None:
    ours = SodiumSpake2Symmetric(password, idSymmetric=identity)
    theirs = SPAKE2_Symmetric(password, idSymmetric=identity)
    our_message, their_message = ours.start(), theirs.start()
    assert ours.finish(their_message) == theirs.finish(our_message)


def test_a_replayed_login_fails() -> None:
    """A client's message and confirmation, recorded from a good login and sent again in
    another exchange, prove nothing: the hub's fresh scalar changes the key."""
    client, hub = _client(), _hub()
    confirm_client = client.finish(hub.message)
    hub.finish(client.message, confirm_client)
    with pytest.raises(AuthenticationFailed):
        _hub().finish(client.message, confirm_client)


# Ed25519 encodings that are not elements of the prime-order group: the identity, points of
# order 2, 4 and 8, a non-canonical y (p + 1, i.e. y = 1 again), and a point of the subgroup
# plus one of order 8 (in the curve, not in the group).
_NOT_IN_THE_GROUP = [
    bytes.fromhex("0100000000000000000000000000000000000000000000000000000000000000"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("0000000000000000000000000000000000000000000000000000000000000000"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    crypto_core_ed25519_add(
        _hub().message[1:],
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")),
]


@pytest.mark.parametrize("element", _NOT_IN_THE_GROUP)
def test_elements_outside_the_prime_order_group_fail(element: bytes) -> None:
    with pytest.raises(AuthenticationFailed):
        _hub().finish(b"S" + element, b"\x00" * 32)
    with pytest.raises(AuthenticationFailed):
        _client().finish(b"S" + element)
