"""Opening a sealed blob costs at most one public-key operation per key id of ours, and a blob
with more session-key packets than the caller's bound is refused before any of them."""

from __future__ import annotations

from functools import cache

import pytest

from gossip.crypto import (
    Identity,
    MalformedMessage,
    NotForMe,
    OutboundSenderKey,
    TooManyRecipients,
    open_distribution,
    open_sealed,
    seal,
)
from gossip.crypto._packets import Tag, walk

PAYLOAD = b"hand-over"


@cache
def people() -> dict[str, Identity]:
    return {name: Identity.generate(name) for name in ("alice", "bob", "carol", "dave")}


def _session_key_for(blob: bytes, victim: Identity) -> bytes:
    keyid = victim.public.encryption_keyids[0]
    return next(blob[h.start:h.end] for h in walk(blob)
                if h.tag == Tag.PKESK and blob[h.body_start + 1:h.body_start + 9].hex().upper()
                == keyid)


def flooded(blob: bytes, victim: Identity, copies: int) -> bytes:
    """blob with `copies` undecryptable session-key packets addressed to victim put first
    (the wrapped session key's last byte flipped): what a hostile member can send."""
    honest = _session_key_for(blob, victim)
    bogus = honest[:-1] + bytes([honest[-1] ^ 1])
    return bogus * copies + blob


def test_a_blob_within_the_bound_opens() -> None:
    p = people()
    blob = seal(PAYLOAD, p["alice"], [p["bob"].public, p["carol"].public, p["dave"].public])
    assert open_sealed(blob, p["bob"], p["alice"].public, max_recipients=3) == PAYLOAD


def test_more_session_keys_than_the_bound_are_refused() -> None:
    p = people()
    blob = seal(PAYLOAD, p["alice"], [p["bob"].public, p["carol"].public, p["dave"].public])
    with pytest.raises(TooManyRecipients) as caught:
        open_sealed(blob, p["bob"], p["alice"].public, max_recipients=2)
    assert (caught.value.count, caught.value.limit) == (3, 2)
    assert isinstance(caught.value, MalformedMessage)


def test_the_bound_is_checked_before_any_session_key_is_tried() -> None:
    # Every packet here is addressed to bob and undecryptable: trying one would say NotForMe.
    p = people()
    blob = flooded(seal(PAYLOAD, p["alice"], [p["carol"].public, p["bob"].public]), p["bob"], 50)
    with pytest.raises(TooManyRecipients):
        open_sealed(blob, p["bob"], p["alice"].public, max_recipients=10)


def test_only_the_first_session_key_per_key_id_is_tried() -> None:
    # Before: every packet addressed to us was tried, so a good one after 2,000 bad ones
    # opened (after 2,000 public-key operations). Now the first bad one ends it.
    p = people()
    honest = seal(PAYLOAD, p["alice"], [p["bob"].public])
    assert open_sealed(flooded(honest, p["bob"], 0), p["bob"], p["alice"].public) == PAYLOAD
    with pytest.raises(NotForMe):
        open_sealed(flooded(honest, p["bob"], 1), p["bob"], p["alice"].public)
    with pytest.raises(NotForMe):
        open_sealed(flooded(honest, p["bob"], 500), p["bob"], p["alice"].public)


def test_a_duplicated_good_session_key_still_opens() -> None:
    p = people()
    honest = seal(PAYLOAD, p["alice"], [p["bob"].public])
    doubled = _session_key_for(honest, p["bob"]) + honest
    assert open_sealed(doubled, p["bob"], p["alice"].public, max_recipients=2) == PAYLOAD


def test_a_hand_over_takes_the_same_bound() -> None:
    p = people()
    outbound = OutboundSenderKey.create(p["alice"].public, "general")
    blob = outbound.seal_distribution(
        p["alice"], [p["bob"].public, p["carol"].public, p["dave"].public])
    key = open_distribution(blob, p["bob"], p["alice"].public, channel="general",
                            max_recipients=3)
    assert key.key_id == outbound.key_id
    with pytest.raises(TooManyRecipients):
        open_distribution(blob, p["bob"], p["alice"].public, channel="general",
                          max_recipients=2)


def test_a_bound_below_one_is_a_programming_error() -> None:
    p = people()
    with pytest.raises(ValueError, match="max_recipients"):
        open_sealed(seal(PAYLOAD, p["alice"], [p["bob"].public]), p["bob"], p["alice"].public,
                    max_recipients=0)
