"""A strict walker over OpenPGP packet framing (RFC 4880 section 4), used before PGPy sees bytes.

It only reads headers, so hostile input is checked for the packet shapes we produce (no
compression, no partial or indeterminate lengths, no trailing bytes) before a full parser runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class PacketFramingError(ValueError):
    """The bytes are not a sequence of OpenPGP packets with definite lengths."""


class Tag(IntEnum):
    """OpenPGP packet tags that we name somewhere."""

    PKESK = 1
    SIGNATURE = 2
    ONE_PASS_SIGNATURE = 4
    SECRET_KEY = 5
    PUBLIC_KEY = 6
    SECRET_SUBKEY = 7
    COMPRESSED = 8
    LITERAL = 11
    USER_ID = 13
    PUBLIC_SUBKEY = 14
    USER_ATTRIBUTE = 17
    SEIPD = 18
    MDC = 19


@dataclass(frozen=True)
class PacketHeader:
    tag: int
    start: int  # offset of the header's first byte
    body_start: int
    end: int  # offset one past the body


def walk(data: bytes | bytearray) -> list[PacketHeader]:
    """Split data into packet headers; raise PacketFramingError if the framing is not strict."""
    headers: list[PacketHeader] = []
    pos = 0
    size = len(data)
    while pos < size:
        start = pos
        first = data[pos]
        pos += 1
        if not first & 0x80:
            raise PacketFramingError(f"byte {start} is not a packet header")
        if first & 0x40:
            tag = first & 0x3F
            if pos >= size:
                raise PacketFramingError("truncated length")
            octet = data[pos]
            pos += 1
            if octet < 192:
                length = octet
            elif octet < 224:
                if pos >= size:
                    raise PacketFramingError("truncated length")
                length = ((octet - 192) << 8) + data[pos] + 192
                pos += 1
            elif octet == 255:
                if pos + 4 > size:
                    raise PacketFramingError("truncated length")
                length = int.from_bytes(data[pos : pos + 4], "big")
                pos += 4
            else:
                # Partial body lengths are legal OpenPGP but we never produce them.
                raise PacketFramingError("partial body length")
        else:
            tag = (first >> 2) & 0x0F
            length_type = first & 0x03
            if length_type == 3:
                raise PacketFramingError("indeterminate length")
            width = 1 << length_type
            if pos + width > size:
                raise PacketFramingError("truncated length")
            length = int.from_bytes(data[pos : pos + width], "big")
            pos += width
        if tag == 0:
            raise PacketFramingError("reserved packet tag 0")
        body_start = pos
        pos += length
        if pos > size:
            raise PacketFramingError("packet body runs past the end")
        headers.append(PacketHeader(tag=tag, start=start, body_start=body_start, end=pos))
    return headers


def tags(data: bytes | bytearray) -> list[int]:
    """The tags of data's packets, in order (see walk for the framing rules)."""
    return [header.tag for header in walk(data)]
