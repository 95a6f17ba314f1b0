"""The strict OpenPGP framing check that runs before PGPy sees untrusted bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gossip.crypto._packets import PacketFramingError, Tag, tags, walk


def test_new_format_lengths_of_every_width() -> None:
    one = bytes([0xC0 | Tag.LITERAL, 3]) + b"abc"
    two = bytes([0xC0 | Tag.USER_ID, 192, 8]) + b"x" * 200  # (192-192)*256 + 8 + 192 = 200
    five = bytes([0xC0 | Tag.SIGNATURE, 255, 0, 0, 0, 2]) + b"xy"
    assert tags(one + two + five) == [Tag.LITERAL, Tag.USER_ID, Tag.SIGNATURE]
    headers = walk(one + two + five)
    assert headers[1].end - headers[1].body_start == 200


def test_old_format_lengths() -> None:
    one_octet = bytes([0x80 | (Tag.PUBLIC_KEY << 2), 2]) + b"ab"
    two_octets = bytes([0x80 | (Tag.USER_ID << 2) | 1, 0, 1]) + b"c"
    assert tags(one_octet + two_octets) == [Tag.PUBLIC_KEY, Tag.USER_ID]


@pytest.mark.parametrize("data", [
    b"\x00",  # not a header
    bytes([0xC0 | Tag.LITERAL, 5]) + b"abc",  # body past the end
    bytes([0xC0 | Tag.LITERAL, 224]) + b"x",  # partial body length
    bytes([0x80 | (Tag.LITERAL << 2) | 3]) + b"x",  # indeterminate length
    bytes([0xC0 | Tag.LITERAL]),  # truncated length
    bytes([0xC0, 0]),  # reserved tag 0
])
def test_framing_we_never_produce_is_refused(data: bytes) -> None:
    with pytest.raises(PacketFramingError):
        walk(data)


@given(st.binary(max_size=200))
def test_any_bytes_either_frame_or_raise_framing_error(data: bytes) -> None:
    try:
        headers = walk(data)
    except PacketFramingError:
        return
    assert sum(h.end - h.start for h in headers) == len(data)
