"""Frames: round trips, and untrusted bytes either decode into a valid frame or are refused
with a FrameError — never another exception."""

from __future__ import annotations

import dataclasses

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gossip.wire import (
    BY_WIRE_NAME,
    FRAME_TYPES,
    Channels,
    Command,
    Error,
    FrameError,
    FrameTooLarge,
    Greeting,
    Key,
    MalformedFrame,
    Message,
    UnknownCommand,
    decode_frame,
)

SAMPLES = [
    Greeting(version=1, user="alice", public_key=b"\x99" * 40),
    Channels(channels=("general", "random")),
    Key(user="bob", key=b"k" * 100),
    Message(channel="general", blob=b"\x00\xff" * 50),
    Message(channel="general", blob=b"x", sender="carol"),
    Error(code="auth", reason="wrong password"),
]


@pytest.mark.parametrize("frame", SAMPLES, ids=lambda f: type(f).__name__)
def test_round_trip(frame):
    assert decode_frame(frame.encode()) == frame


def test_every_command_has_a_frame_type_and_a_readable_name():
    assert set(FRAME_TYPES) == set(Command)
    assert BY_WIRE_NAME["ighru"] is Command.LOGIN_PROOF
    assert Command.HANG_UP.readable == "hang_up"


def test_ciphertext_travels_as_raw_bytes_not_base64():
    blob = bytes(range(256)) * 4
    encoded = Message(channel="general", blob=blob).encode()
    assert blob in encoded and len(encoded) < len(blob) + 40


@pytest.mark.parametrize("data, error", [
    (b"\xc1", MalformedFrame),                                         # never-used msgpack byte
    (msgpack.packb([1, 2, 3]), MalformedFrame),                         # not a map
    (msgpack.packb({"c": "nope"}), UnknownCommand),
    (msgpack.packb({"c": "msg", "channel": "general"}), MalformedFrame),  # missing blob
    (msgpack.packb({"c": "msg", "channel": "gen eral", "blob": b""}), MalformedFrame),
    (msgpack.packb({"c": "msg", "channel": "g", "blob": "text"}), MalformedFrame),
    (msgpack.packb({"c": "msg", "channel": "g", "blob": b"", "evil": 1}), MalformedFrame),
    (msgpack.packb({"c": "grtng", "version": True, "user": "a", "public_key": b""}),
     MalformedFrame),
    (msgpack.packb({"c": "err", "code": "x", "reason": "a\x00b"}), MalformedFrame),
])
def test_bad_frames_are_refused_with_a_specific_error(data, error):
    with pytest.raises(error):
        decode_frame(data)


def test_size_limit_is_checked_before_decoding():
    frame = Message(channel="general", blob=b"x" * 2000).encode()
    with pytest.raises(FrameTooLarge):
        decode_frame(frame, max_bytes=1000)
    with pytest.raises(FrameTooLarge):
        decode_frame(Key(user="a", key=b"k" * 17000).encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_crash_the_decoder(data):
    try:
        decode_frame(data)
    except FrameError:
        pass


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=40)
    | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)


@st.composite
def _random_frames(draw):
    """Maps that look like frames: a real command and a mix of its fields and junk."""
    command = draw(st.sampled_from(sorted(BY_WIRE_NAME)))
    names = [f.name for f in dataclasses.fields(FRAME_TYPES[BY_WIRE_NAME[command]])]
    body = draw(st.dictionaries(st.sampled_from(names + ["junk"]), _values, max_size=5))
    body["c"] = command
    return msgpack.packb(body, use_bin_type=True)


@settings(max_examples=300, deadline=None)
@given(_random_frames())
def test_random_frames_decode_or_fail_cleanly(data):
    try:
        frame = decode_frame(data)
    except FrameError:
        return
    assert decode_frame(frame.encode()) == frame
