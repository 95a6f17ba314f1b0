"""End-to-end encryption of encoded media frames, in the manner of SFrame (RFC 9605).

Each sender seals every encoded frame under its own frame key with AES-128-GCM; whatever
carries the frame (a mesh link, a relay) sees a few codec bits a forwarder may need, left in
the clear but authenticated, then a short header (key id, counter) and the ciphertext:

    clear codec bits | header: config byte, key id, counter | AES-GCM(frame rest) + 16-byte tag

The header's encoding is RFC 9605's (section 4.3): a config byte X|K|Y|C, the key id and
counter as big-endian integers of the fewest bytes. As in RFC 9605 the AES key and a nonce
salt come from the base key by HKDF, and the nonce is the salt XOR the counter.

Key ids split in two: a generation (high 24 bits) and a ratchet step (low 8 bits). A sender
ratchets its key (HKDF, one way) when someone joins, so those already in the call can follow
without being told and the newcomer cannot read what came before; it makes a fresh random
key, the next generation, when someone leaves, so the leaver cannot read what follows.
"""

from __future__ import annotations

import collections
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import CryptoError

FRAME_KEY_BYTES = 16  # AES-128-GCM, as RFC 9605's AES_128_GCM_SHA256_128 suite
_NONCE_BYTES = 12
_TAG_BYTES = 16
STEP_BITS = 8
MAX_STEP = (1 << STEP_BITS) - 1
MAX_GENERATION = (1 << 24) - 1
# A receiver follows a sender's ratchet at most this many steps ahead of the newest key it
# holds: a forged key id costs at most this many HKDFs, never more.
MAX_RATCHET_AHEAD = 8
# How long a receiver keeps a key after a newer one came (frames still in flight).
KEY_GRACE_SECONDS = 3.0
# Counters seen recently per key (a replayed frame is refused, not played twice).
REPLAY_WINDOW = 256
MAX_FRAME_BYTES = 256 * 1024  # far above any frame we encode; refused before any crypto


class FrameOpenError(CryptoError):
    """A sealed frame could not be opened; `reason` says why, in one word."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason  # malformed, unknown_key, bad_tag, replayed
        super().__init__(detail)


@dataclass(frozen=True)
class FrameKey:
    """A sender's base key and its id (generation and ratchet step)."""

    key_id: int
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != FRAME_KEY_BYTES or not 0 <= self.key_id <= 0xFFFFFFFF:
            raise ValueError("a frame key is 16 bytes under a 32-bit key id")

    @classmethod
    def fresh(cls, generation: int = 0) -> FrameKey:
        if not 0 <= generation <= MAX_GENERATION:
            raise ValueError(f"generation {generation} out of range")
        return cls(generation << STEP_BITS, os.urandom(FRAME_KEY_BYTES))

    @property
    def generation(self) -> int:
        return self.key_id >> STEP_BITS

    @property
    def step(self) -> int:
        return self.key_id & MAX_STEP

    def ratcheted(self) -> FrameKey:
        """The next key of this generation: whoever holds this one can derive it, not back."""
        if self.step == MAX_STEP:
            raise ValueError("this generation's ratchet is used up; make a fresh key")
        secret = _hkdf(self.secret, b"gossip frame key ratchet", FRAME_KEY_BYTES)
        return FrameKey(self.key_id + 1, secret)

    def successor(self, *, fresh: bool) -> FrameKey:
        """The key to use next: ratcheted (someone joined) or fresh (someone left); a used-up
        ratchet turns into a fresh key."""
        if fresh or self.step == MAX_STEP:
            return FrameKey.fresh((self.generation + 1) & MAX_GENERATION)
        return self.ratcheted()

    def to_bytes(self) -> bytes:
        return struct.pack("!I", self.key_id) + self.secret

    @classmethod
    def from_bytes(cls, data: bytes) -> FrameKey:
        if len(data) != 4 + FRAME_KEY_BYTES:
            raise FrameOpenError("malformed", "a frame key is 20 bytes")
        return cls(struct.unpack("!I", data[:4])[0], data[4:])


def _hkdf(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=SHA256(), length=length, salt=None, info=info).derive(secret)


class _Cipher:
    """AES-GCM key and nonce salt derived from one FrameKey (RFC 9605 section 4.4.2)."""

    def __init__(self, key: FrameKey) -> None:
        material = _hkdf(
            key.secret,
            b"gossip sframe " + struct.pack("!I", key.key_id),
            FRAME_KEY_BYTES + _NONCE_BYTES,
        )
        self.aead = AESGCM(material[:FRAME_KEY_BYTES])
        self.salt = int.from_bytes(material[FRAME_KEY_BYTES:], "big")

    def nonce(self, counter: int) -> bytes:
        return (self.salt ^ counter).to_bytes(_NONCE_BYTES, "big")


def _minimal(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def encode_header(key_id: int, counter: int) -> bytes:
    """RFC 9605's header: values under 8 fit in the config byte, larger ones follow it."""
    if key_id < 0 or counter < 0 or counter >= 1 << 64 or key_id >= 1 << 64:
        raise ValueError("key id and counter are 64-bit unsigned")
    config, tail = 0, b""
    if key_id < 8:
        config |= key_id << 4
    else:
        kid = _minimal(key_id)
        config |= 0x80 | (len(kid) - 1) << 4
        tail += kid
    if counter < 8:
        config |= counter
    else:
        ctr = _minimal(counter)
        config |= 0x08 | (len(ctr) - 1)
        tail += ctr
    return bytes([config]) + tail


def decode_header(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """(key id, counter, header length) of the header at `offset`; FrameOpenError if short."""
    if len(data) <= offset:
        raise FrameOpenError("malformed", "no frame header")
    config = data[offset]
    position = offset + 1
    values = []
    for extended, field_bits in (
        (config & 0x80, (config >> 4) & 0x07),
        (config & 0x08, config & 0x07),
    ):
        if not extended:
            values.append(field_bits)
            continue
        length = field_bits + 1
        if len(data) < position + length:
            raise FrameOpenError("malformed", "frame header cut short")
        values.append(int.from_bytes(data[position : position + length], "big"))
        position += length
    return values[0], values[1], position - offset


class FrameSealer:
    """Seals what one sender sends, under its current key; `rekey` moves to the next key."""

    def __init__(self, key: FrameKey | None = None) -> None:
        self.key = key or FrameKey.fresh()
        self._cipher = _Cipher(self.key)
        self._counter = 0
        self.sealed = 0

    def rekey(self, *, fresh: bool) -> FrameKey:
        """Ratchet (someone joined) or take a fresh key (someone left); returns the new key."""
        self.key = self.key.successor(fresh=fresh)
        self._cipher = _Cipher(self.key)
        self._counter = 0
        return self.key

    def seal(self, clear: bytes, secret: bytes) -> bytes:
        """`clear` (codec bits a forwarder may read) stays readable and is authenticated."""
        header = encode_header(self.key.key_id, self._counter)
        nonce = self._cipher.nonce(self._counter)
        self._counter += 1
        self.sealed += 1
        return clear + header + self._cipher.aead.encrypt(nonce, secret, clear + header)


class ReplayWindow:
    """The last REPLAY_WINDOW counters opened under one key, oldest leaving first: a deque of
    that length, with a count of each counter beside it, so that asking whether one was seen
    is one dict lookup (a scan of the deque cost more than the frame's AES-GCM)."""

    __slots__ = ("_order", "_counts")

    def __init__(self) -> None:
        self._order: collections.deque[int] = collections.deque()
        self._counts: dict[int, int] = {}

    def __contains__(self, counter: object) -> bool:
        return counter in self._counts

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[int]:
        return iter(self._order)

    def append(self, counter: int) -> None:
        if len(self._order) == REPLAY_WINDOW:
            oldest = self._order.popleft()
            left = self._counts[oldest] - 1
            if left:
                self._counts[oldest] = left
            else:
                del self._counts[oldest]
        self._order.append(counter)
        self._counts[counter] = self._counts.get(counter, 0) + 1

    def extend(self, counters: Iterable[int]) -> None:
        for counter in list(counters):
            self.append(counter)


@dataclass
class _HeldKey:
    key: FrameKey
    cipher: _Cipher
    expires_at: float | None = None  # None: the newest of its sender, kept until replaced
    seen: ReplayWindow = field(default_factory=ReplayWindow)


class FrameOpener:
    """Opens one sender's frames: their newest key, keys they ratcheted to, and for a grace
    period the keys before."""

    def __init__(self) -> None:
        self._keys: dict[int, _HeldKey] = {}
        self._newest: int | None = None
        self.opened = 0
        self.failed = 0

    @property
    def has_key(self) -> bool:
        return self._newest is not None

    @property
    def newest_key_id(self) -> int | None:
        return self._newest

    def add_key(self, key: FrameKey, now: float) -> None:
        """Take a key the sender handed us (their newest, whatever its id: a sender that
        started over starts its ids over); the ones before stay for KEY_GRACE_SECONDS."""
        held = self._keys.get(key.key_id)
        if held is not None and held.key.secret == key.secret:
            return
        self._hold(key, now, newest=True)

    def _hold(self, key: FrameKey, now: float, *, newest: bool = False) -> _HeldKey:
        self._forget_expired(now)
        held = _HeldKey(key, _Cipher(key))
        self._keys[key.key_id] = held
        if newest or self._newest is None or key.key_id >= self._newest:
            for older in self._keys.values():
                if older is not held and older.expires_at is None:
                    older.expires_at = now + KEY_GRACE_SECONDS
            self._newest = key.key_id
        else:
            held.expires_at = now + KEY_GRACE_SECONDS
        return held

    def _forget_expired(self, now: float) -> None:
        for key_id in [
            k
            for k, held in self._keys.items()
            if held.expires_at is not None and held.expires_at <= now
        ]:
            del self._keys[key_id]

    def open(self, frame: bytes, clear_bytes: int, now: float) -> bytes:
        """The frame's clear bits followed by its decrypted rest; FrameOpenError otherwise."""
        try:
            plain = self._open(frame, clear_bytes, now)
        except FrameOpenError:
            self.failed += 1
            raise
        self.opened += 1
        return plain

    def authentic(self, frame: bytes, clear_bytes: int, now: float) -> bool:
        """Whether `frame` is authentic under a key we hold or may follow, without taking
        it: no counter is marked seen (nor checked: a copy of a frame already played is as
        authentic), no ratchet step kept, nothing counted. For a path on trial (a call
        moving between mesh and relay), which carries the same frames as the one played,
        a little later or earlier, and plays them only once it is taken."""
        try:
            self._decrypt(frame, clear_bytes, now, check_replay=False)
        except FrameOpenError:
            return False
        return True

    def _open(self, frame: bytes, clear_bytes: int, now: float) -> bytes:
        held, derived, counter, plain = self._decrypt(frame, clear_bytes, now)
        if derived:  # a ratcheted key is kept only once a frame proved it right
            held = self._adopt(held, now)
        held.seen.append(counter)
        return plain

    def _decrypt(
        self, frame: bytes, clear_bytes: int, now: float, *, check_replay: bool = True
    ) -> tuple[_HeldKey, bool, int, bytes]:
        if len(frame) > MAX_FRAME_BYTES or len(frame) < clear_bytes + 1 + _TAG_BYTES:
            raise FrameOpenError("malformed", f"a sealed frame of {len(frame)} bytes")
        key_id, counter, header_bytes = decode_header(frame, clear_bytes)
        body = clear_bytes + header_bytes
        if len(frame) < body + _TAG_BYTES:
            raise FrameOpenError("malformed", "no room for the tag")
        self._forget_expired(now)
        held = self._keys.get(key_id)
        derived = held is None
        if held is None:
            held = self._follow_ratchet(key_id)
        if check_replay and counter in held.seen:
            raise FrameOpenError("replayed", f"counter {counter} of key {key_id} seen already")
        try:
            secret = held.cipher.aead.decrypt(
                held.cipher.nonce(counter), frame[body:], frame[:body]
            )
        except InvalidTag:
            raise FrameOpenError("bad_tag", f"frame under key {key_id} is not authentic") from None
        return held, derived, counter, frame[:clear_bytes] + secret

    def _follow_ratchet(self, key_id: int) -> _HeldKey:
        newest = self._newest
        if newest is None:
            raise FrameOpenError("unknown_key", "no key from this sender yet")
        ahead = key_id - newest
        if key_id >> STEP_BITS != newest >> STEP_BITS or not 0 < ahead <= MAX_RATCHET_AHEAD:
            raise FrameOpenError("unknown_key", f"key {key_id} was never handed to us")
        key = self._keys[newest].key
        for _ in range(ahead):
            key = key.ratcheted()
        return _HeldKey(key, _Cipher(key))

    def _adopt(self, candidate: _HeldKey, now: float) -> _HeldKey:
        held = self._hold(candidate.key, now)
        held.seen.extend(candidate.seen)
        return held
