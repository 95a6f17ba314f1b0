"""Sender keys: a sender's epoch handed out once, then read by members in any order, never
twice, never by someone removed, never forged by a member, and no CryptoError escapes."""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import cache

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gossip.crypto import BadSignature, CryptoError, Identity, NotForMe, seal
from gossip.crypto.ratchet import ChainKey, seal_with_seed
from gossip.crypto.senderkeys import (
    MAX_INDEX,
    MAX_SKIPPED_KEYS,
    SCHEME,
    DistributionMismatch,
    InboundSenderKey,
    IndexTooFarAhead,
    MalformedDistribution,
    MalformedSenderKeyMessage,
    MessageDecryptionFailed,
    MessageKeyGone,
    OutboundSenderKey,
    ReplayedMessage,
    SenderKeyError,
    SenderKeyExhausted,
    SenderKeyMessage,
    SenderKeyRing,
    SenderKeySignatureInvalid,
    UnknownSenderKey,
    open_distribution,
)

CHANNEL = "general"
AD = b"routing: alice -> general"


@cache
def people() -> dict[str, Identity]:
    return {name: Identity.generate(name) for name in ("alice", "bob", "carol", "mallory")}


def hand_out(outbound: OutboundSenderKey, members: Sequence[str]) -> dict[str, InboundSenderKey]:
    """Alice seals the current epoch to members; each opens it as a real member would."""
    p = people()
    blob = outbound.seal_distribution(p["alice"], [p[name].public for name in members])
    return {name: open_distribution(blob, p[name], p["alice"].public, channel=CHANNEL)
            for name in members}


def new_epoch(members: Sequence[str] = ("bob", "carol")
              ) -> tuple[OutboundSenderKey, dict[str, InboundSenderKey]]:
    outbound = OutboundSenderKey.create(people()["alice"].public, CHANNEL)
    return outbound, hand_out(outbound, members)


def chain_at_start(outbound: OutboundSenderKey) -> ChainKey:
    """The chain key a distribution carries, read the way an attacker who saw it would."""
    fields = msgpack.unpackb(outbound.distribution(), raw=False)
    return ChainKey(fields["index"], fields["chain"])


def secrets_held(state: object) -> set[bytes]:
    """Every bytes value reachable from a sender key's own state."""
    found: set[bytes] = set()
    pending: list[object] = [state]
    while pending:
        item = pending.pop()
        if isinstance(item, (bytes, bytearray)):
            found.add(bytes(item))
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
        elif isinstance(item, (InboundSenderKey, OutboundSenderKey, ChainKey)):
            for cls in type(item).__mro__:
                for name in getattr(cls, "__slots__", ()):
                    if hasattr(item, name):
                        pending.append(getattr(item, name))
    return found


def test_every_member_reads_every_message() -> None:
    outbound, inbound = new_epoch()
    texts = [b"hello", b"", b"\x00\xff" * 500]
    messages = [outbound.encrypt(text, AD) for text in texts]
    assert outbound.index == 3
    for name in ("bob", "carol"):
        assert [inbound[name].decrypt(m, AD) for m in messages] == texts
        assert inbound[name].next_index == 3
        assert inbound[name].sender == "alice"
        assert inbound[name].channel == CHANNEL


def test_message_size_does_not_depend_on_the_channel() -> None:
    # Nothing per member travels with a message: only key id, index, AEAD tag and signature.
    outbound, _ = new_epoch()
    message = outbound.encrypt(b"x" * 300, AD)
    assert len(message) <= 300 + 16 + 16 + 64 + 16
    parsed = SenderKeyMessage.from_bytes(message)
    assert (parsed.key_id, parsed.index) == (outbound.key_id, 0)


def test_out_of_order_delivery_within_the_window() -> None:
    outbound, inbound = new_epoch(["bob"])
    messages = [(i, outbound.encrypt(b"m%d" % i, AD)) for i in range(12)]
    random.Random(6).shuffle(messages)
    bob = inbound["bob"]
    for i, message in messages:
        assert bob.decrypt(message, AD) == b"m%d" % i
    assert bob.next_index == 12
    assert bob.skipped_indices == frozenset()


def test_a_replay_is_refused_in_order_and_out_of_order() -> None:
    outbound, inbound = new_epoch(["bob"])
    first, second, third = (outbound.encrypt(b"m", AD) for _ in range(3))
    bob = inbound["bob"]
    bob.decrypt(first, AD)
    bob.decrypt(third, AD)  # skips the second
    with pytest.raises(ReplayedMessage):
        bob.decrypt(first, AD)
    with pytest.raises(ReplayedMessage):
        bob.decrypt(third, AD)
    assert bob.decrypt(second, AD) == b"m"
    with pytest.raises(ReplayedMessage):
        bob.decrypt(second, AD)


def test_too_far_ahead_is_refused_and_old_skipped_keys_are_dropped() -> None:
    outbound, inbound = new_epoch(["bob"])
    bob = inbound["bob"]
    far, too_far = MAX_SKIPPED_KEYS + 2, 2 * MAX_SKIPPED_KEYS + 4
    kept: dict[int, bytes] = {}
    for index in range(too_far + 1):
        message = outbound.encrypt(b"%d" % index, AD)
        if index in (0, 1, 2, far, too_far):
            kept[index] = message
    bob.decrypt(kept[1], AD)  # skips 0
    bob.decrypt(kept[far], AD)  # skips exactly the most allowed; 0 falls out of the window
    assert len(bob.skipped_indices) == MAX_SKIPPED_KEYS
    assert 0 not in bob.skipped_indices
    with pytest.raises(MessageKeyGone) as gone:
        bob.decrypt(kept[0], AD)
    assert not isinstance(gone.value, ReplayedMessage)
    with pytest.raises(MessageKeyGone):
        bob.decrypt(kept[1], AD)  # read, and by now out of the window too
    with pytest.raises(ReplayedMessage):
        bob.decrypt(kept[far], AD)
    assert bob.decrypt(kept[2], AD) == b"2"
    with pytest.raises(IndexTooFarAhead):
        bob.decrypt(kept[too_far], AD)
    assert bob.next_index == far + 1


def test_a_member_given_the_key_late_cannot_read_earlier_messages() -> None:
    outbound, _ = new_epoch(["bob"])
    early = [outbound.encrypt(b"before carol", AD) for _ in range(3)]
    carol = hand_out(outbound, ["carol"])["carol"]
    assert carol.first_index == 3
    for message in early:
        with pytest.raises(MessageKeyGone) as gone:
            carol.decrypt(message, AD)
        assert not isinstance(gone.value, ReplayedMessage)
    assert carol.decrypt(outbound.encrypt(b"welcome", AD), AD) == b"welcome"


def _reencode(message: bytes, **changes: object) -> bytes:
    fields = msgpack.unpackb(message, raw=False)
    names = ["scheme", "key_id", "index", "ciphertext", "signature"]
    for name, value in changes.items():
        fields[names.index(name)] = value
    return msgpack.packb(fields, use_bin_type=True)


def _index_as_uint32(message: bytes) -> bytes:
    parsed = SenderKeyMessage.from_bytes(message)
    def pack(value: object) -> bytes:
        return msgpack.packb(value, use_bin_type=True)
    return (b"\x95" + pack(SCHEME) + pack(parsed.key_id)
            + b"\xce" + parsed.index.to_bytes(4, "big")
            + pack(parsed.ciphertext) + pack(parsed.signature))


def _flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (lambda m: _reencode(m, scheme="sk2"), MalformedSenderKeyMessage),
        (lambda m: _reencode(m, key_id=b"\x00" * 16), UnknownSenderKey),
        (lambda m: _reencode(m, index=1), SenderKeySignatureInvalid),
        (lambda m: _reencode(m, ciphertext=_flip(SenderKeyMessage.from_bytes(m).ciphertext)),
         SenderKeySignatureInvalid),
        (lambda m: _reencode(m, ciphertext=SenderKeyMessage.from_bytes(m).ciphertext[:-1]),
         SenderKeySignatureInvalid),
        (lambda m: _reencode(m, signature=_flip(SenderKeyMessage.from_bytes(m).signature, 9)),
         SenderKeySignatureInvalid),
        (lambda m: _reencode(m, signature=b"\x00" * 63), MalformedSenderKeyMessage),
        (lambda m: _reencode(m, index=True), MalformedSenderKeyMessage),
        (lambda m: _reencode(m, index=MAX_INDEX + 1), MalformedSenderKeyMessage),
        # the same fields, with the index as a uint32 instead of a fixint: not canonical
        (lambda m: _index_as_uint32(m), MalformedSenderKeyMessage),
        (lambda m: m + b"\x00", MalformedSenderKeyMessage),
        (lambda m: m[:-1], MalformedSenderKeyMessage),
    ],
    ids=["scheme", "key_id", "index", "ciphertext", "truncated-ciphertext", "signature",
         "short-signature", "bool-index", "huge-index", "non-canonical", "trailing", "truncated"],
)
def test_tampering_with_any_field_is_refused_and_changes_nothing(tamper, error) -> None:
    outbound, inbound = new_epoch(["bob"])
    message = outbound.encrypt(b"original", AD)
    tampered = tamper(message)
    assert tampered != message
    bob = inbound["bob"]
    with pytest.raises(error):
        bob.decrypt(tampered, AD)
    assert bob.next_index == 0
    assert bob.decrypt(message, AD) == b"original"


def test_other_associated_data_is_refused() -> None:
    # The hub relaying alice's message into another channel or as from another sender.
    outbound, inbound = new_epoch(["bob"])
    message = outbound.encrypt(b"original", AD)
    with pytest.raises(SenderKeySignatureInvalid):
        inbound["bob"].decrypt(message, b"routing: alice -> random")
    assert inbound["bob"].decrypt(message, AD) == b"original"


def test_a_member_holding_the_chain_key_cannot_write_as_the_sender() -> None:
    outbound, inbound = new_epoch()
    genuine = SenderKeyMessage.from_bytes(outbound.encrypt(b"genuine", AD))
    # Bob knows the chain key (from the same distribution carol got) but not alice's signing key.
    seed = chain_at_start(outbound).next().message_seed()
    ad = msgpack.packb([SCHEME, "alice", CHANNEL, outbound.key_id, 1, AD], use_bin_type=True)
    ciphertext = seal_with_seed(seed, b"send bob the money", ad)
    reused_signature = SenderKeyMessage(outbound.key_id, 1, ciphertext, genuine.signature)
    own_signature = SenderKeyMessage(outbound.key_id, 1, ciphertext,
                                     Ed25519PrivateKey.generate().sign(ciphertext))
    for forged in (reused_signature, own_signature):
        with pytest.raises(SenderKeySignatureInvalid):
            inbound["carol"].decrypt(forged.to_bytes(), AD)
    assert inbound["carol"].next_index == 0


def test_a_sender_whose_distribution_lies_gets_decryption_failures() -> None:
    p = people()
    outbound = OutboundSenderKey.create(p["alice"].public, CHANNEL)
    fields = msgpack.unpackb(outbound.distribution(), raw=False)
    fields["chain"] = bytes(32)
    blob = seal(msgpack.packb(fields, use_bin_type=True), p["alice"], [p["bob"].public])
    bob = open_distribution(blob, p["bob"], p["alice"].public)
    with pytest.raises(MessageDecryptionFailed):
        bob.decrypt(outbound.encrypt(b"x", AD), AD)
    assert bob.next_index == 0


def test_forward_secrecy_nothing_held_reads_what_was_read() -> None:
    outbound, inbound = new_epoch(["bob"])
    chains = [chain_at_start(outbound)]
    for _ in range(4):
        chains.append(chains[-1].next())
    seeds = [chain.message_seed() for chain in chains]
    messages = [outbound.encrypt(b"m%d" % i, AD) for i in range(4)]
    bob = inbound["bob"]

    bob.decrypt(messages[0], AD)
    bob.decrypt(messages[2], AD)  # 1 is skipped: its key must still be held, and only it
    held = secrets_held(bob)
    assert chains[3].key in held
    assert seeds[1] in held
    assert not held & {chains[0].key, chains[1].key, chains[2].key, seeds[0], seeds[2]}

    bob.decrypt(messages[1], AD)
    held = secrets_held(bob)
    assert not held & ({c.key for c in chains[:3]} | set(seeds[:4]))
    assert bob.skipped_indices == frozenset()
    for message in messages[:3]:
        with pytest.raises(ReplayedMessage):
            bob.decrypt(message, AD)

    # The sender keeps only the chain key for the next message either.
    sent = secrets_held(outbound)
    assert chains[4].key in sent
    assert not sent & ({c.key for c in chains[:4]} | set(seeds))


def test_rotation_excludes_a_removed_member() -> None:
    p = people()
    old, inbound = new_epoch(["bob", "carol"])
    in_flight = old.encrypt(b"sent before carol left", AD)
    new = old.rotated()  # carol left the channel
    assert new.key_id != old.key_id and new.index == 0 and new.channel == CHANNEL
    blob = new.seal_distribution(p["alice"], [p["bob"].public])
    with pytest.raises(NotForMe):
        open_distribution(blob, p["carol"], p["alice"].public)

    bob, carol = SenderKeyRing(), SenderKeyRing()
    assert bob.add(inbound["bob"]) and carol.add(inbound["carol"])
    assert bob.add(open_distribution(blob, p["bob"], p["alice"].public))
    secret = new.encrypt(b"after carol left", AD)
    assert bob.decrypt("alice", CHANNEL, secret, AD) == b"after carol left"
    assert bob.decrypt("alice", CHANNEL, in_flight, AD) == b"sent before carol left"
    with pytest.raises(UnknownSenderKey):
        carol.decrypt("alice", CHANNEL, secret, AD)
    with pytest.raises(UnknownSenderKey):
        inbound["carol"].decrypt(secret, AD)
    # Nothing in the old chain leads to the new one.
    old_chain = chain_at_start(old)
    assert chain_at_start(new).key not in {old_chain.key, old_chain.next().key}


def test_distribution_must_come_from_the_sender_it_names() -> None:
    p = people()
    outbound = OutboundSenderKey.create(p["alice"].public, CHANNEL)
    # Mallory re-seals alice's distribution (or a copy of its fields) under her own signature.
    blob = seal(outbound.distribution(), p["mallory"], [p["bob"].public])
    with pytest.raises(DistributionMismatch):
        open_distribution(blob, p["bob"], p["mallory"].public)
    with pytest.raises(BadSignature):
        open_distribution(blob, p["bob"], p["alice"].public)
    genuine = outbound.seal_distribution(p["alice"], [p["bob"].public])
    with pytest.raises(DistributionMismatch):
        open_distribution(genuine, p["bob"], p["alice"].public, channel="random")
    with pytest.raises(ValueError):
        outbound.seal_distribution(p["mallory"], [p["bob"].public])


@pytest.mark.parametrize(
    "payload",
    [b"\x93\x01\x02\x03", msgpack.packb({"scheme": "sk1-distribution"}),
     msgpack.packb({"text": "a chat message, not a key"}), b"\xc1"],
)
def test_a_signed_payload_that_is_not_a_distribution_is_refused(payload: bytes) -> None:
    p = people()
    blob = seal(payload, p["alice"], [p["bob"].public])
    with pytest.raises(MalformedDistribution):
        open_distribution(blob, p["bob"], p["alice"].public)


def test_the_ring_never_rewinds_a_chain() -> None:
    p = people()
    outbound = OutboundSenderKey.create(p["alice"].public, CHANNEL)
    blob = outbound.seal_distribution(p["alice"], [p["bob"].public])
    ring = SenderKeyRing()
    assert ring.add(open_distribution(blob, p["bob"], p["alice"].public))
    message = outbound.encrypt(b"once", AD)
    assert ring.decrypt("alice", CHANNEL, message, AD) == b"once"
    # The hub delivers the same distribution again: it must not restart the chain at 0.
    assert not ring.add(open_distribution(blob, p["bob"], p["alice"].public))
    with pytest.raises(ReplayedMessage):
        ring.decrypt("alice", CHANNEL, message, AD)
    with pytest.raises(UnknownSenderKey):
        ring.decrypt("alice", "random", message, AD)
    with pytest.raises(UnknownSenderKey):
        ring.decrypt("carol", CHANNEL, message, AD)


def test_the_ring_keeps_the_newest_epochs_and_never_takes_back_old_ones() -> None:
    p = people()
    ring = SenderKeyRing(epochs_per_sender=2)
    outbound = OutboundSenderKey.create(p["alice"].public, CHANNEL)
    blobs = []
    for _ in range(3):
        blobs.append(outbound.seal_distribution(p["alice"], [p["bob"].public]))
        assert ring.add(open_distribution(blobs[-1], p["bob"], p["alice"].public))
        last = outbound
        outbound = outbound.rotated()
    assert len(ring) == 2
    assert not ring.add(open_distribution(blobs[0], p["bob"], p["alice"].public))
    assert ring.decrypt("alice", CHANNEL, last.encrypt(b"x", AD), AD) == b"x"
    ring.forget(sender="alice")
    assert len(ring) == 0
    assert not ring.add(open_distribution(blobs[2], p["bob"], p["alice"].public))
    with pytest.raises(ValueError):
        ring.forget()


def test_an_exhausted_key_refuses_to_encrypt() -> None:
    outbound = OutboundSenderKey.create(people()["alice"].public, CHANNEL)
    # Reaching 2**32 honestly takes days; start the chain near its end instead.
    outbound._chain = ChainKey(MAX_INDEX, bytes(32))
    outbound.encrypt(b"last", AD)
    assert outbound.index == MAX_INDEX + 1
    with pytest.raises(SenderKeyExhausted):
        outbound.encrypt(b"one too many", AD)
    with pytest.raises(SenderKeyExhausted):
        outbound.distribution()


def test_a_channel_is_required() -> None:
    with pytest.raises(ValueError):
        OutboundSenderKey.create(people()["alice"].public, "")


@cache
def fuzz_target() -> tuple[OutboundSenderKey, bytes, bytes]:
    """An epoch, its distribution to bob, and its first message (one fixed input to mutate)."""
    outbound = OutboundSenderKey.create(people()["alice"].public, CHANNEL)
    blob = outbound.seal_distribution(people()["alice"], [people()["bob"].public])
    return outbound, blob, outbound.encrypt(b"fuzz", AD)


def _fresh_bob() -> InboundSenderKey:
    _, blob, _ = fuzz_target()
    return open_distribution(blob, people()["bob"], people()["alice"].public)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_sender_key_errors(data: bytes) -> None:
    bob = _fresh_bob()
    ring = SenderKeyRing()
    ring.add(bob)
    for attempt in (lambda: bob.decrypt(data, AD),
                    lambda: ring.decrypt("alice", CHANNEL, data, AD)):
        with pytest.raises(SenderKeyError):
            attempt()


def _msgpack_values() -> st.SearchStrategy[object]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                       st.binary(max_size=40), st.text(max_size=10), st.sampled_from(
                           [SCHEME, "sk1-distribution", CHANNEL, "alice", bytes(16), bytes(32)]))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.text(max_size=12), inner, max_size=8)), max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_messages_raise_only_crypto_errors_and_change_nothing(data) -> None:
    _, _, message = fuzz_target()
    choice = data.draw(st.sampled_from(["flip", "splice", "structure"]))
    if choice == "flip":
        at = data.draw(st.integers(0, len(message) - 1))
        mutated = message[:at] + bytes([message[at] ^ data.draw(st.integers(1, 255))]) \
            + message[at + 1:]
    elif choice == "splice":
        start = data.draw(st.integers(0, len(message)))
        end = data.draw(st.integers(start, len(message)))
        mutated = message[:start] + data.draw(st.binary(max_size=20)) + message[end:]
    else:
        fields = msgpack.unpackb(message, raw=False)
        fields[data.draw(st.integers(0, 4))] = data.draw(_msgpack_values())
        mutated = msgpack.packb(fields, use_bin_type=True)
    bob = _fresh_bob()
    if mutated == message:
        return
    try:
        bob.decrypt(mutated, AD)
    except CryptoError:
        pass
    else:
        # A mutation that decrypts must be the same message under the one canonical encoding.
        raise AssertionError("a mutated message was accepted")
    assert bob.next_index == 0 and bob.skipped_indices == frozenset()


def _distribution_like(data: st.DataObject) -> object:
    fields: dict[str, object] = msgpack.unpackb(fuzz_target()[0].distribution(), raw=False)
    for name in data.draw(st.lists(st.sampled_from(sorted(fields)), max_size=3)):
        if data.draw(st.booleans()):
            fields[name] = data.draw(_msgpack_values())
        else:
            fields.pop(name, None)
    return fields


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hostile_signed_distributions_raise_only_crypto_errors(data) -> None:
    p = people()
    value = _distribution_like(data) if data.draw(st.booleans()) else data.draw(_msgpack_values())
    payload = msgpack.packb(value, use_bin_type=True)
    blob = seal(payload, p["alice"], [p["bob"].public])
    try:
        key = open_distribution(blob, p["bob"], p["alice"].public)
    except CryptoError:
        return
    # Whatever was accepted is internally consistent and usable.
    assert key.sender == "alice" and isinstance(key.channel, str)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_distribution_blobs_raise_only_crypto_errors(data: bytes) -> None:
    p = people()
    with pytest.raises(CryptoError):
        open_distribution(data, p["bob"], p["alice"].public)


def test_every_sender_key_error_is_a_crypto_error() -> None:
    for error in (MalformedSenderKeyMessage, MalformedDistribution, DistributionMismatch,
                  UnknownSenderKey, SenderKeySignatureInvalid, MessageKeyGone, ReplayedMessage,
                  IndexTooFarAhead, MessageDecryptionFailed, SenderKeyExhausted):
        assert issubclass(error, SenderKeyError) and issubclass(error, CryptoError)
