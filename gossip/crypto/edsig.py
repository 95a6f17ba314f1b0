"""Detached v4 EdDSA signatures over bytes (RFC 4880 section 5.2, the Ed25519 of RFC 4880bis)
read and made without PGPy: the login's possession proof, on every login of a hub.

PGPy builds a tree of packet objects per signature (about half a millisecond to verify one,
as much to make one); the packet is small and its hashed trailer well defined, so we read it
strictly and let libsodium do the curve work. Only the one shape we make is accepted (binary
document, Ed25519, a strong hash, our context notation, issuer subpackets naming the key); the
tests check it both ways against PGPy and refuse every altered byte.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from nacl.exceptions import BadSignatureError
from nacl.exceptions import CryptoError as SodiumError
from nacl.signing import SigningKey, VerifyKey

from gossip.crypto._packets import PacketFramingError, Tag, walk
from gossip.crypto.errors import BadSignature, InvalidKey
from gossip.crypto.rawkey import key_packets

# The OID of Ed25519 (1.3.6.1.4.1.11591.15.1) as a v4 EdDSA key packet writes it.
_ED25519_OID = bytes.fromhex("2b06010401da470f01")
_EDDSA = 22
_BINARY_DOCUMENT = 0x00
_HASHES = {8: hashlib.sha256, 9: hashlib.sha384, 10: hashlib.sha512}  # SHA-256, -384, -512
_SHA256 = 8
# Signature subpackets (RFC 4880 section 5.2.3.1, 4880bis for the issuer fingerprint).
_CREATED = 2
_ISSUER = 16
_NOTATION = 20
_ISSUER_FINGERPRINT = 33
_HASHED_KINDS = frozenset({_CREATED, _ISSUER, _NOTATION, _ISSUER_FINGERPRINT})
_UNHASHED_KINDS = frozenset({_ISSUER, _ISSUER_FINGERPRINT})  # hints only: nothing else trusted
_HUMAN_READABLE = 0x80
MAX_SIGNATURE_BYTES = 1024  # ours are 177


def ed25519_point(public_key: bytes) -> bytes:
    """The 32-byte Ed25519 point of a v4 EdDSA primary key packet, the first packet of a
    transferable public key; InvalidKey for anything else."""
    headers = key_packets(public_key)
    body = bytes(public_key[headers[0].body_start:headers[0].end])
    # version 4, creation time, algorithm 22, OID length and OID, MPI of 0x40 || point
    oid_end = 7 + len(_ED25519_OID)
    if (len(body) != oid_end + 2 + 33 or body[0] != 4 or body[5] != _EDDSA
            or body[6] != len(_ED25519_OID) or body[7:oid_end] != _ED25519_OID
            or body[oid_end:oid_end + 2] != (263).to_bytes(2, "big")
            or body[oid_end + 2] != 0x40):
        raise InvalidKey("the primary key is not a v4 Ed25519 key")
    return body[oid_end + 3:]


@dataclass(frozen=True)
class _Subpacket:
    kind: int
    critical: bool
    body: bytes


def _subpackets(area: bytes) -> list[_Subpacket]:
    found = []
    pos = 0
    while pos < len(area):
        first = area[pos]
        if first < 192:
            length, pos = first, pos + 1
        elif first < 255:
            if pos + 2 > len(area):
                raise BadSignature("truncated subpacket length")
            length, pos = ((first - 192) << 8) + area[pos + 1] + 192, pos + 2
        else:
            if pos + 5 > len(area):
                raise BadSignature("truncated subpacket length")
            length, pos = int.from_bytes(area[pos + 1:pos + 5], "big"), pos + 5
        if length < 1 or pos + length > len(area):
            raise BadSignature("a subpacket runs past its area")
        kind = area[pos]
        found.append(_Subpacket(kind & 0x7F, bool(kind & 0x80), area[pos + 1:pos + length]))
        pos += length
    return found


def _mpi(data: bytes, pos: int) -> tuple[bytes, int]:
    """A strict MPI (its bit count exact, no leading zero byte) of at most 32 bytes."""
    if pos + 2 > len(data):
        raise BadSignature("truncated signature value")
    bits = int.from_bytes(data[pos:pos + 2], "big")
    size = (bits + 7) // 8
    value = data[pos + 2:pos + 2 + size]
    if not 1 <= size <= 32 or len(value) != size or value[0].bit_length() != bits - 8 * (size - 1):
        raise BadSignature("a malformed signature value")
    return value.rjust(32, b"\0"), pos + 2 + size


def _notation(subpacket: _Subpacket) -> tuple[bytes, bytes] | None:
    body = subpacket.body
    if len(body) < 8 or not body[0] & _HUMAN_READABLE:
        return None
    name_length, value_length = struct.unpack(">HH", body[4:8])
    if 8 + name_length + value_length != len(body):
        raise BadSignature("a malformed notation")
    return body[8:8 + name_length], body[8 + name_length:]


def verify_detached_eddsa(data: bytes, signature: bytes, point: bytes, fingerprint: str,
                          notation: str, context: str) -> None:
    """Raise BadSignature unless `signature` is one v4 binary-document signature over `data`
    by the Ed25519 key `point` (whose v4 fingerprint is `fingerprint`, 40 hex digits), with a
    strong hash, every issuer claim naming that key and exactly one `notation` = `context`."""
    if not isinstance(signature, (bytes, bytearray)) or len(signature) > MAX_SIGNATURE_BYTES:
        raise BadSignature("expected a signature of at most "
                           f"{MAX_SIGNATURE_BYTES} bytes")
    signature = bytes(signature)
    try:
        headers = walk(signature)
    except PacketFramingError as error:
        raise BadSignature(f"not a signature packet: {error}") from error
    if len(headers) != 1 or headers[0].tag != Tag.SIGNATURE:
        raise BadSignature("expected exactly one signature packet")
    body = signature[headers[0].body_start:headers[0].end]
    if len(body) < 6 or body[0] != 4:
        raise BadSignature("only version 4 signatures are accepted")
    if body[1] != _BINARY_DOCUMENT:
        raise BadSignature("unexpected signature type")
    if body[2] != _EDDSA:
        raise BadSignature("not an EdDSA signature")
    hash_factory = _HASHES.get(body[3])
    if hash_factory is None:
        raise BadSignature("signature uses a weak hash")
    hashed_end = 6 + int.from_bytes(body[4:6], "big")
    if hashed_end + 2 > len(body):
        raise BadSignature("truncated signature")
    unhashed_end = hashed_end + 2 + int.from_bytes(body[hashed_end:hashed_end + 2], "big")
    if unhashed_end + 2 > len(body):
        raise BadSignature("truncated signature")
    hashed = _subpackets(body[6:hashed_end])
    unhashed = _subpackets(body[hashed_end + 2:unhashed_end])
    left16 = body[unhashed_end:unhashed_end + 2]
    r, pos = _mpi(body, unhashed_end + 2)
    s, pos = _mpi(body, pos)
    if pos != len(body):
        raise BadSignature("trailing bytes after the signature")

    # The unhashed area is anyone's to change: only plain issuer hints, nothing critical.
    if any(sp.kind not in _HASHED_KINDS for sp in hashed) or any(
            sp.kind not in _UNHASHED_KINDS or sp.critical for sp in unhashed):
        raise BadSignature("unexpected signature subpackets")
    want_fingerprint = b"\x04" + bytes.fromhex(fingerprint)
    issuers = [sp for sp in (*hashed, *unhashed) if sp.kind in (_ISSUER, _ISSUER_FINGERPRINT)]
    if not issuers or any(
            sp.body != (want_fingerprint[-8:] if sp.kind == _ISSUER else want_fingerprint)
            for sp in issuers):
        raise BadSignature(f"not signed by the key {fingerprint}")
    if sum(sp.kind == _CREATED for sp in hashed) != 1 or any(
            len(sp.body) != 4 for sp in hashed if sp.kind == _CREATED):
        raise BadSignature("a signature needs one creation time")
    wanted = notation.encode()
    contexts = [found[1] for sp in hashed if sp.kind == _NOTATION
                and (found := _notation(sp)) is not None and found[0] == wanted]
    if contexts != [context.encode()] or sum(sp.kind == _NOTATION for sp in hashed) != 1:
        raise BadSignature("signature was made for another purpose")

    digest = hash_factory(data + body[:hashed_end] + b"\x04\xff"
                          + hashed_end.to_bytes(4, "big")).digest()
    if left16 != digest[:2]:
        raise BadSignature("signature does not verify")
    try:
        VerifyKey(point).verify(digest, r + s)
    except (BadSignatureError, SodiumError, ValueError) as error:
        raise BadSignature("signature does not verify") from error


def _subpacket(kind: int, body: bytes) -> bytes:
    assert len(body) + 1 < 192  # ours are short
    return bytes([len(body) + 1, kind]) + body


def _encode_mpi(value: bytes) -> bytes:
    stripped = value.lstrip(b"\0") or b"\0"
    bits = 8 * (len(stripped) - 1) + stripped[0].bit_length()
    return bits.to_bytes(2, "big") + stripped


def sign_detached_eddsa(data: bytes, seed: bytes, fingerprint: str, notation: str,
                        context: str, *, created: datetime | None = None) -> bytes:
    """A v4 binary-document signature over `data` by the Ed25519 key of `seed` (fingerprint
    `fingerprint`), SHA-256, the packet PGPy's `sign(..., notation={notation: context})` makes
    (creation time, notation, issuer fingerprint hashed; issuer key id not)."""
    when = int((created or datetime.now(UTC)).timestamp())
    name, value = notation.encode(), context.encode()
    fingerprint_bytes = b"\x04" + bytes.fromhex(fingerprint)
    hashed = (_subpacket(_CREATED, when.to_bytes(4, "big"))
              + _subpacket(_NOTATION, bytes([_HUMAN_READABLE, 0, 0, 0])
                           + struct.pack(">HH", len(name), len(value)) + name + value)
              + _subpacket(_ISSUER_FINGERPRINT, fingerprint_bytes))
    head = bytes([4, _BINARY_DOCUMENT, _EDDSA, _SHA256]) + len(hashed).to_bytes(2, "big") + hashed
    digest = hashlib.sha256(data + head + b"\x04\xff" + len(head).to_bytes(4, "big")).digest()
    signed = SigningKey(seed).sign(digest).signature
    unhashed = _subpacket(_ISSUER, fingerprint_bytes[-8:])
    body = (head + len(unhashed).to_bytes(2, "big") + unhashed + digest[:2]
            + _encode_mpi(signed[:32]) + _encode_mpi(signed[32:]))
    if len(body) < 192:
        return bytes([0xC0 | Tag.SIGNATURE, len(body)]) + body
    return bytes([0xC0 | Tag.SIGNATURE, ((len(body) - 192) >> 8) + 192,
                  (len(body) - 192) & 0xFF]) + body
