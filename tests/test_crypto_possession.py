"""The login's proof of key possession: made by the key's owner over this exchange only."""

from __future__ import annotations

import pytest

from gossip.crypto import (
    AuthenticationFailed,
    Identity,
    PakeClient,
    PakeHub,
    check_possession,
    prove_possession,
)

FP = "AB" * 32


def _exchange(user: str, identity: Identity) -> tuple[PakeClient, PakeHub]:
    client = PakeClient("pw", user, identity.fingerprint, FP, 2)
    hub = PakeHub("pw", user, identity.fingerprint, FP, 2)
    hub.finish(client.message, client.finish(hub.message))
    return client, hub


def test_both_sides_agree_on_the_digest_and_the_owners_proof_checks() -> None:
    alice = Identity.generate("alice")
    client, hub = _exchange("alice", alice)
    assert client.transcript_digest == hub.transcript_digest
    check_possession(hub.transcript_digest, prove_possession(client.transcript_digest, alice),
                     alice.public)


def test_a_proof_from_another_key_or_another_exchange_is_refused() -> None:
    alice, mallory = Identity.generate("alice"), Identity.generate("mallory")
    client, hub = _exchange("alice", alice)
    with pytest.raises(AuthenticationFailed):
        check_possession(hub.transcript_digest,
                         prove_possession(client.transcript_digest, mallory), alice.public)
    earlier, _ = _exchange("alice", alice)  # a proof recorded from another login
    with pytest.raises(AuthenticationFailed):
        check_possession(hub.transcript_digest,
                         prove_possession(earlier.transcript_digest, alice), alice.public)
    with pytest.raises(AuthenticationFailed):
        check_possession(hub.transcript_digest, b"garbage", alice.public)
