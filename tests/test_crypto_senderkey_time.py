"""Sender keys over time: trust bound to the hand-over's signer, gaps reported, skipped keys
that expire, epochs that rotate by age, and replays refused after a restart."""

from __future__ import annotations

from functools import cache

import pytest

from gossip.crypto import (
    Identity,
    MalformedReplayState,
    MessageKeyGone,
    OutboundSenderKey,
    ReplayedMessage,
    ReplayState,
    SenderKeyMark,
    SenderKeyRing,
    UnknownSenderKey,
    open_distribution,
)

CHANNEL = "general"
AD = b"routing: alice -> general"


@cache
def people() -> dict[str, Identity]:
    return {name: Identity.generate(name) for name in ("alice", "bob")}


@cache
def impostor() -> Identity:
    """A key the hub hands out under alice's name."""
    return Identity.generate("alice")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def hand_over(outbound: OutboundSenderKey, signer: Identity | None = None) -> bytes:
    p = people()
    return outbound.seal_distribution(signer or p["alice"], [p["bob"].public])


def bob_ring(**options: object) -> tuple[SenderKeyRing, OutboundSenderKey, bytes]:
    """bob holds a fresh epoch of alice's; returns his ring, her key and the hand-over."""
    p = people()
    outbound = OutboundSenderKey.create(p["alice"].public, CHANNEL)
    blob = hand_over(outbound)
    ring = SenderKeyRing(**options)  # type: ignore[arg-type]
    assert ring.add(open_distribution(blob, p["bob"], p["alice"].public, channel=CHANNEL))
    return ring, outbound, blob


def test_an_opened_message_names_the_key_that_signed_the_hand_over() -> None:
    p = people()
    ring, outbound, _ = bob_ring()
    opened = ring.open("alice", CHANNEL, outbound.encrypt(b"hi", AD), AD)
    assert opened.plaintext == b"hi"
    assert opened.signer_fingerprint == p["alice"].fingerprint

    fake = OutboundSenderKey.create(impostor().public, "other")
    key = open_distribution(hand_over(fake, impostor()), p["bob"], impostor().public)
    assert key.signer_fingerprint == impostor().fingerprint != p["alice"].fingerprint
    assert ring.add(key)
    opened = ring.open("alice", "other", fake.encrypt(b"forged?", AD), AD)
    assert opened.signer_fingerprint == impostor().fingerprint


def test_forgetting_a_user_drops_all_their_keys_for_good() -> None:
    p = people()
    ring, outbound, blob = bob_ring()
    other = OutboundSenderKey.create(p["alice"].public, "random")
    ring.add(open_distribution(hand_over(other), p["bob"], p["alice"].public))
    assert len(ring) == 2
    ring.forget("alice")
    assert len(ring) == 0
    with pytest.raises(UnknownSenderKey):
        ring.open("alice", CHANNEL, outbound.encrypt(b"x", AD), AD)
    # The hand-over, replayed after the key change, is not taken again.
    assert not ring.add(open_distribution(blob, p["bob"], p["alice"].public, channel=CHANNEL))


def test_a_gap_is_reported_and_a_late_message_is_marked() -> None:
    ring, outbound, _ = bob_ring()
    messages = [outbound.encrypt(f"m{i}".encode(), AD) for i in range(6)]
    first = ring.open("alice", CHANNEL, messages[0], AD)
    assert (first.index, first.missing, first.late) == (0, 0, False)
    fourth = ring.open("alice", CHANNEL, messages[4], AD)
    assert (fourth.missing, fourth.late) == (3, False)  # 1, 2 and 3 did not arrive
    second = ring.open("alice", CHANNEL, messages[2], AD)
    assert (second.missing, second.late) == (0, True)
    assert ring.open("alice", CHANNEL, messages[5], AD).missing == 0


def test_the_first_message_after_a_hand_over_counts_from_the_hand_over() -> None:
    p = people()
    outbound = OutboundSenderKey.create(p["alice"].public, CHANNEL)
    for _ in range(3):
        outbound.encrypt(b"before bob", AD)
    ring = SenderKeyRing()
    ring.add(open_distribution(hand_over(outbound), p["bob"], p["alice"].public))
    outbound.encrypt(b"lost", AD)
    opened = ring.open("alice", CHANNEL, outbound.encrypt(b"arrived", AD), AD)
    assert (opened.index, opened.missing) == (4, 1)


def test_skipped_keys_expire_with_their_lifetime() -> None:
    clock = Clock()
    ring, outbound, _ = bob_ring(skipped_key_lifetime=60.0, clock=clock)
    messages = [outbound.encrypt(f"m{i}".encode(), AD) for i in range(4)]
    ring.open("alice", CHANNEL, messages[3], AD)  # keys for 0, 1 and 2 are held
    key = ring.get("alice", CHANNEL, outbound.key_id)
    assert key is not None and key.skipped_indices == {0, 1, 2}
    clock.now += 59
    assert ring.open("alice", CHANNEL, messages[0], AD).late
    clock.now += 1
    with pytest.raises(MessageKeyGone):
        ring.open("alice", CHANNEL, messages[1], AD)
    assert key.skipped_indices == frozenset()


def test_purging_drops_expired_keys_everywhere() -> None:
    clock = Clock()
    ring, outbound, _ = bob_ring(skipped_key_lifetime=10.0, clock=clock)
    messages = [outbound.encrypt(b"x", AD) for _ in range(3)]
    ring.open("alice", CHANNEL, messages[2], AD)
    assert ring.purge_expired() == 0
    clock.now += 10
    assert ring.purge_expired() == 2
    key = ring.get("alice", CHANNEL, outbound.key_id)
    assert key is not None and key.skipped_indices == frozenset()


def test_an_epoch_needs_rotation_by_age_and_by_count() -> None:
    outbound = OutboundSenderKey.create(people()["alice"].public, CHANNEL, now=1000.0)
    assert outbound.created_at == 1000.0
    assert not outbound.needs_rotation(1000.0 + 86399)
    assert outbound.needs_rotation(1000.0 + 86400)
    assert not outbound.needs_rotation(2000.0, max_age=3600.0)
    assert outbound.needs_rotation(5000.0, max_age=3600.0)
    outbound.encrypt(b"one", AD)
    outbound.encrypt(b"two", AD)
    assert outbound.needs_rotation(1000.0, max_messages=2)
    assert not outbound.needs_rotation(1000.0, max_messages=3)
    fresh = outbound.rotated(now=90_000.0)
    assert fresh.created_at == 90_000.0 and not fresh.needs_rotation(90_001.0)


def test_after_a_restart_a_replayed_hand_over_reads_only_what_was_unread() -> None:
    p = people()
    ring, outbound, blob = bob_ring()
    messages = [outbound.encrypt(f"m{i}".encode(), AD) for i in range(5)]
    for index in (0, 1, 3):
        ring.open("alice", CHANNEL, messages[index], AD)
    saved = ring.replay_state().to_bytes()

    restarted = SenderKeyRing()
    restarted.restore_replay_state(ReplayState.from_bytes(saved))
    assert restarted.add(open_distribution(blob, p["bob"], p["alice"].public))
    for index in (0, 1, 3):
        with pytest.raises(ReplayedMessage):
            restarted.open("alice", CHANNEL, messages[index], AD)
    late = restarted.open("alice", CHANNEL, messages[2], AD)
    assert (late.plaintext, late.late) == (b"m2", True)
    with pytest.raises(ReplayedMessage):
        restarted.open("alice", CHANNEL, messages[2], AD)
    newest = restarted.open("alice", CHANNEL, messages[4], AD)
    assert (newest.plaintext, newest.missing, newest.late) == (b"m4", 0, False)


def test_a_state_saved_after_a_restart_keeps_the_marks() -> None:
    p = people()
    ring, outbound, blob = bob_ring()
    messages = [outbound.encrypt(b"x", AD) for _ in range(2)]
    ring.open("alice", CHANNEL, messages[0], AD)
    once = SenderKeyRing()
    once.restore_replay_state(ring.replay_state())
    twice = SenderKeyRing()
    twice.restore_replay_state(ReplayState.from_bytes(once.replay_state().to_bytes()))
    twice.add(open_distribution(blob, p["bob"], p["alice"].public))
    with pytest.raises(ReplayedMessage):
        twice.open("alice", CHANNEL, messages[0], AD)
    assert twice.open("alice", CHANNEL, messages[1], AD).plaintext == b"x"


def test_retired_key_ids_stay_retired_after_a_restart() -> None:
    p = people()
    ring, _, blob = bob_ring()
    ring.forget("alice")
    restarted = SenderKeyRing()
    restarted.restore_replay_state(ReplayState.from_bytes(ring.replay_state().to_bytes()))
    assert not restarted.add(open_distribution(blob, p["bob"], p["alice"].public))


def test_replay_state_round_trips_and_refuses_garbage() -> None:
    state = ReplayState({b"k" * 16: SenderKeyMark(7, frozenset({2, 5}))}, frozenset({b"r" * 16}))
    assert ReplayState.from_bytes(state.to_bytes()) == state
    for garbage in (b"", b"\xc1", b"\x80", state.to_bytes()[:-1],
                    ReplayState({b"short": SenderKeyMark(1)}).to_bytes()):
        with pytest.raises(MalformedReplayState):
            ReplayState.from_bytes(garbage)
    with pytest.raises(ValueError):
        SenderKeyMark(3, frozenset({3}))
