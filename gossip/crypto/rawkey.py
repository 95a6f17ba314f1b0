"""A public key's outline before anyone parses it: the v4 fingerprint from the primary key
packet alone, and the counts that bound what a full validation would cost.

The hub runs this on an outsider's greeting before the password check, so it reads packet
headers only (strict framing via _packets), hashes one packet and never touches PGPy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from gossip.crypto._packets import PacketFramingError, PacketHeader, Tag, walk
from gossip.crypto.errors import InvalidKey

# Our keys are ~400 bytes: one user id, an Ed25519 primary, a Cv25519 subkey, three
# signatures. The caps leave room for a few user ids and third-party certifications while
# keeping a full validation (each signature verified by PGPy) in the milliseconds.
MAX_KEY_BYTES = 16 * 1024
MAX_USER_IDS = 4
MAX_SUBKEYS = 4
MAX_SIGNATURES = 16
_ALLOWED_TAGS = frozenset({Tag.PUBLIC_KEY, Tag.USER_ID, Tag.PUBLIC_SUBKEY, Tag.SIGNATURE})
# version, 4-byte creation time, algorithm, then at least one key material byte
_MIN_V4_BODY = 7


@dataclass(frozen=True)
class KeyOutline:
    """What the packet headers of a transferable public key say, nothing verified."""

    fingerprint: str  # 40 uppercase hex digits, as PublicKey.fingerprint
    user_ids: int
    subkeys: int
    signatures: int


def key_packets(data: bytes | bytearray) -> list[PacketHeader]:
    """The packet headers of what should be a transferable public key, its primary key packet
    first; InvalidKey if the framing is not strict or it starts otherwise."""
    try:
        headers = walk(data)
    except PacketFramingError as error:
        raise InvalidKey(f"not a binary OpenPGP key: {error}") from error
    if not headers or headers[0].tag != Tag.PUBLIC_KEY:
        raise InvalidKey("a public key starts with its primary key packet")
    return headers


def outline_public_key(data: bytes) -> KeyOutline:
    """The outline of a binary transferable public key; InvalidKey if it is not one we would
    ever accept (framing, packet kinds, version, or more than the caps allow)."""
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidKey(f"expected bytes, got {type(data).__name__}")
    if len(data) > MAX_KEY_BYTES:
        raise InvalidKey(f"public key is {len(data)} bytes; the limit is {MAX_KEY_BYTES}")
    headers = key_packets(data)
    kinds = [header.tag for header in headers]
    unexpected = set(kinds) - _ALLOWED_TAGS
    if unexpected:
        raise InvalidKey(f"unexpected OpenPGP packets in a public key: tags {sorted(unexpected)}")
    if kinds.count(Tag.PUBLIC_KEY) != 1:
        raise InvalidKey("expected exactly one transferable public key")
    outline_counts = (kinds.count(Tag.USER_ID), kinds.count(Tag.PUBLIC_SUBKEY),
                      kinds.count(Tag.SIGNATURE))
    for count, cap, what in zip(outline_counts, (MAX_USER_IDS, MAX_SUBKEYS, MAX_SIGNATURES),
                                ("user ids", "subkeys", "signatures"), strict=True):
        if count > cap:
            raise InvalidKey(f"the key has {count} {what}; the limit is {cap}")
    primary = headers[0]
    body = bytes(data[primary.body_start:primary.end])
    if len(body) < _MIN_V4_BODY or body[0] != 4:
        raise InvalidKey("only version 4 keys are supported")
    return KeyOutline(v4_fingerprint(body), *outline_counts)


def v4_fingerprint(primary_key_body: bytes) -> str:
    """RFC 4880 section 12.2: SHA-1 over 0x99, the body's two-byte length, and the body."""
    if len(primary_key_body) > 0xFFFF:
        raise InvalidKey("a v4 key packet is at most 65535 bytes")
    framed = b"\x99" + len(primary_key_body).to_bytes(2, "big") + primary_key_body
    return hashlib.sha1(framed, usedforsecurity=False).hexdigest().upper()
