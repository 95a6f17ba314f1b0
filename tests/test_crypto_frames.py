"""Frame encryption (gossip.crypto.frames): SFrame-style headers, sealing, ratchet and rekey."""

from __future__ import annotations

import collections

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gossip.crypto.frames import (
    KEY_GRACE_SECONDS,
    MAX_RATCHET_AHEAD,
    REPLAY_WINDOW,
    FrameKey,
    FrameOpener,
    FrameOpenError,
    FrameSealer,
    ReplayWindow,
    decode_header,
    encode_header,
)


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_headers_round_trip_in_the_fewest_bytes(key_id: int, counter: int) -> None:
    header = encode_header(key_id, counter)
    assert decode_header(header + b"rest") == (key_id, counter, len(header))
    if key_id < 8 and counter < 8:
        assert len(header) == 1  # RFC 9605: small values live in the config byte


def test_rfc9605_header_layout() -> None:
    assert encode_header(0, 0) == b"\x00"
    assert encode_header(7, 7) == b"\x77"
    assert encode_header(0x100, 0x1234) == bytes([0x80 | 0x10 | 0x08 | 0x01]) + b"\x01\x00\x12\x34"


def sealed_pair() -> tuple[FrameSealer, FrameOpener]:
    sealer, opener = FrameSealer(), FrameOpener()
    opener.add_key(sealer.key, now=0.0)
    return sealer, opener


def test_a_frame_opens_with_the_key_and_its_clear_bits_stay_readable() -> None:
    sealer, opener = sealed_pair()
    sealed = sealer.seal(b"\xfc", b"opus payload")
    assert sealed.startswith(b"\xfc") and b"opus payload" not in sealed
    assert opener.open(sealed, 1, now=0.0) == b"\xfcopus payload"


@pytest.mark.parametrize("where", [0, 1, -1])
def test_a_changed_byte_anywhere_is_refused_even_in_the_clear_bits(where: int) -> None:
    sealer, opener = sealed_pair()
    sealed = bytearray(sealer.seal(b"\xfc", b"opus payload"))
    sealed[where] ^= 0x01
    with pytest.raises(FrameOpenError) as caught:
        opener.open(bytes(sealed), 1, now=0.0)
    assert caught.value.reason in ("bad_tag", "unknown_key")
    assert opener.failed == 1


def test_a_replayed_frame_is_refused() -> None:
    sealer, opener = sealed_pair()
    sealed = sealer.seal(b"", b"x" * 20)
    opener.open(sealed, 0, now=0.0)
    with pytest.raises(FrameOpenError, match="seen already"):
        opener.open(sealed, 0, now=0.0)


def test_without_a_key_nothing_opens() -> None:
    sealed = FrameSealer().seal(b"", b"x" * 20)
    with pytest.raises(FrameOpenError) as caught:
        FrameOpener().open(sealed, 0, now=0.0)
    assert caught.value.reason == "unknown_key"


def test_receivers_follow_a_ratchet_but_a_newcomer_cannot_go_back() -> None:
    sealer, old_member = sealed_pair()
    before = sealer.seal(b"", b"said before the join")
    newcomer_key = sealer.rekey(fresh=False)  # someone joined: ratchet
    newcomer = FrameOpener()
    newcomer.add_key(newcomer_key, now=1.0)
    after = sealer.seal(b"", b"said after the join")
    # Whoever held the old key derives the new one without being told.
    assert old_member.open(after, 0, now=1.0) == b"said after the join"
    assert old_member.newest_key_id == newcomer_key.key_id
    assert newcomer.open(after, 0, now=1.0) == b"said after the join"
    with pytest.raises(FrameOpenError):
        newcomer.open(before, 0, now=1.0)


def test_a_leaver_cannot_open_what_follows_a_fresh_key() -> None:
    sealer, leaver = sealed_pair()
    for _ in range(3):  # whatever ratchets the leaver saw
        sealer.rekey(fresh=False)
        leaver.open(sealer.seal(b"", b"x" * 20), 0, now=0.0)
    stayer_key = sealer.rekey(fresh=True)  # someone left: a fresh key, handed to the others
    after = sealer.seal(b"", b"said after the leave")
    with pytest.raises(FrameOpenError) as caught:
        leaver.open(after, 0, now=0.0)
    assert caught.value.reason == "unknown_key"
    stayer = FrameOpener()
    stayer.add_key(stayer_key, now=0.0)
    assert stayer.open(after, 0, now=0.0) == b"said after the leave"


def test_a_forged_key_id_far_ahead_costs_no_ratchet_and_opens_nothing() -> None:
    sealer, opener = sealed_pair()
    ahead = FrameKey(sealer.key.key_id + MAX_RATCHET_AHEAD + 1, bytes(16))
    forged = FrameSealer(ahead).seal(b"", b"x" * 20)
    with pytest.raises(FrameOpenError) as caught:
        opener.open(forged, 0, now=0.0)
    assert caught.value.reason == "unknown_key"


def test_the_previous_key_is_kept_for_a_grace_period_only() -> None:
    sealer, opener = sealed_pair()
    late = sealer.seal(b"", b"in flight")
    opener.add_key(sealer.rekey(fresh=True), now=10.0)
    assert opener.open(late, 0, now=10.0 + KEY_GRACE_SECONDS / 2) == b"in flight"
    second = FrameSealer()
    opener2 = FrameOpener()
    opener2.add_key(second.key, now=0.0)
    old = second.seal(b"", b"too late")
    opener2.add_key(second.rekey(fresh=True), now=0.0)
    with pytest.raises(FrameOpenError):
        opener2.open(old, 0, now=KEY_GRACE_SECONDS + 0.1)


def test_keys_travel_as_twenty_bytes() -> None:
    key = FrameKey.fresh(5)
    assert FrameKey.from_bytes(key.to_bytes()) == key
    with pytest.raises(FrameOpenError):
        FrameKey.from_bytes(b"short")


def test_a_frame_checked_on_trial_leaves_no_trace():
    """A path on trial (a call moving between mesh and relay) checks frames the played path
    also carries: checking neither uses up their counters nor counts a failure."""
    sealer, opener = FrameSealer(), FrameOpener()
    opener.add_key(sealer.key, 0.0)
    frame = sealer.seal(b"\x01", b"voice")
    assert opener.authentic(frame, 1, 0.0) and opener.authentic(frame, 1, 0.0)
    assert opener.open(frame, 1, 0.0) == b"\x01voice"  # still opens once, after the checks
    assert opener.authentic(frame, 1, 0.0)  # a copy of a played frame is as authentic ...
    with pytest.raises(FrameOpenError, match="seen already"):
        opener.open(frame, 1, 0.0)  # ... but is never played twice
    forged = frame[:-1] + bytes([frame[-1] ^ 1])
    assert not opener.authentic(forged, 1, 0.0)
    assert (opener.opened, opener.failed) == (1, 1)


@given(st.lists(st.integers(min_value=0, max_value=300), max_size=700))
def test_the_replay_window_remembers_what_a_deque_of_its_length_would(
        counters: list[int]) -> None:
    window = ReplayWindow()
    plain: collections.deque[int] = collections.deque(maxlen=REPLAY_WINDOW)
    for index, counter in enumerate(counters):
        if index % 3:
            window.append(counter)
            plain.append(counter)
        else:
            window.extend([counter, counter + 1])
            plain.extend([counter, counter + 1])
        assert len(window) == len(plain) and list(window) == list(plain)
        assert all((probe in window) == (probe in plain) for probe in (counter, counter + 2))
