"""Sender keys for channel messages (scheme "sk1", after Signal's sender keys and Megolm): a
per-(sender, channel) epoch whose chain key is handed to each member once, PGP-sealed, after
which each message costs one AEAD and one signature whatever the channel's size.

Design, and why:
- Each message key comes from a forward-only HMAC chain (gossip.crypto.ratchet) and is
  dropped once used, so state stolen later cannot read what was already read. The sealed
  distribution is the limit of that: whoever records it and later steals a member's PGP key
  reads the rest of that epoch. Rotating (OutboundSenderKey.rotated) bounds the exposure;
  the caller rotates when membership changes and should also rotate every so often.
  ("Dropped" means unreferenced: Python offers no way to wipe the bytes themselves.)
- Every message is signed with an Ed25519 key made for the epoch, whose public half travels
  inside the distribution, which is itself signed by the sender's PGP key (Megolm's design).
  Members hold the chain key, so without a signature any of them could write as the sender.
  We do not sign with the identity key's raw Ed25519 material: PGPy keeps it in private
  attributes, and signing non-OpenPGP data with an OpenPGP key mixes two protocols under
  one key; a key per epoch also dies with its epoch. It costs the same as raw (~0.06 ms).
- The signature covers the whole header, the caller's associated data and the ciphertext, and
  is checked before the chain is touched: input that is not from the sender changes nothing,
  and a replay is only ever reported for a message the sender really sent.
- decrypt either succeeds and consumes its key, or raises and leaves the state as it was.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gossip.crypto.errors import BadSignature, CryptoError, MalformedMessage
from gossip.crypto.identity import Identity, PublicKey
from gossip.crypto.ratchet import CHAIN_KEY_BYTES, ChainKey, open_with_seed, seal_with_seed
from gossip.crypto.replaystate import ReplayState, SenderKeyMark
from gossip.crypto.sealing import MAX_RECIPIENTS, open_sealed, seal

SCHEME = "sk1"
DISTRIBUTION_SCHEME = "sk1-distribution"
KEY_ID_BYTES = 16
SIGNATURE_BYTES = 64
SIGNING_KEY_BYTES = 32
# A uint32, as in Megolm; a sender reaching it must rotate (SenderKeyExhausted).
MAX_INDEX = 2**32 - 1
# How far ahead of the next expected index a message may be, and so how many skipped message
# keys a receiver holds for late messages at most; older ones are dropped.
MAX_SKIPPED_KEYS = 1000
# Above the hub's 200 KiB sealed-blob limit: only a bound on what we parse.
MAX_MESSAGE_BYTES = 256 * 1024
MAX_DISTRIBUTION_BYTES = 4096
# How long a skipped message key is held for a late message: at the latest it goes with the
# messages it could open, whose lifetime senders choose up to a week (the client's MAX_TTL).
DEFAULT_SKIPPED_KEY_LIFETIME = 7 * 24 * 3600.0
# How long a sender keeps one epoch before rotating for forward secrecy by time.
DEFAULT_EPOCH_MAX_AGE = 24 * 3600.0

_SIGNATURE_DOMAIN = b"gossip sk1 message signature\x00"


class SenderKeyError(CryptoError):
    """Base class of the sender-key failures."""


class MalformedSenderKeyMessage(SenderKeyError, MalformedMessage):
    """Bytes that are not an sk1 message in its one canonical encoding."""


class MalformedDistribution(SenderKeyError, MalformedMessage):
    """A sealed distribution opened and verified, but its content is not a sender key."""


class DistributionMismatch(SenderKeyError, BadSignature):
    """A distribution names another sender than its signer, or another channel than expected."""


class UnknownSenderKey(SenderKeyError):
    """The message is under a key id we do not hold (another epoch, another sender)."""


class SenderKeySignatureInvalid(SenderKeyError, BadSignature):
    """The message's signature does not verify with the epoch's signing key: forged or altered
    (including its associated data)."""


class MessageKeyGone(SenderKeyError):
    """The key for this index is not held: sent before we were given the chain, or too old."""


class ReplayedMessage(MessageKeyGone):
    """The key for this index was already used: the message was delivered before."""


class IndexTooFarAhead(SenderKeyError):
    """The message is more than MAX_SKIPPED_KEYS ahead of the next expected index."""


class MessageDecryptionFailed(SenderKeyError, MalformedMessage):
    """The sender signed a message that does not decrypt under the chain it distributed."""


class SenderKeyExhausted(SenderKeyError):
    """The outbound key has used its last index; rotate."""


def _pack(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _unpack(data: bytes, limit: int) -> Any:
    return msgpack.unpackb(
        data, raw=False, strict_map_key=True, max_str_len=limit, max_bin_len=limit,
        max_array_len=16, max_map_len=16, max_ext_len=0,
    )


def _check_channel(channel: str) -> str:
    if not isinstance(channel, str) or not channel:
        raise ValueError("a sender key needs a channel name")
    return channel


def _associated_data(sender: str, channel: str, key_id: bytes, index: int,
                     associated: bytes) -> bytes:
    return _pack([SCHEME, sender, channel, key_id, index, bytes(associated)])


def _signed_data(sender: str, channel: str, key_id: bytes, index: int, associated: bytes,
                 ciphertext: bytes) -> bytes:
    return _SIGNATURE_DOMAIN + _pack(
        [SCHEME, sender, channel, key_id, index, bytes(associated), ciphertext])


@dataclass(frozen=True, slots=True)
class SenderKeyMessage:
    """One sk1 message as it travels: msgpack [scheme, key id, index, ciphertext, signature]."""

    key_id: bytes
    index: int
    ciphertext: bytes
    signature: bytes

    def to_bytes(self) -> bytes:
        return _pack([SCHEME, self.key_id, self.index, self.ciphertext, self.signature])

    @classmethod
    def from_bytes(cls, data: bytes) -> SenderKeyMessage:
        """Decode untrusted bytes; raise MalformedSenderKeyMessage for anything else."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) > MAX_MESSAGE_BYTES:
            raise MalformedSenderKeyMessage(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
        try:
            fields = _unpack(data, MAX_MESSAGE_BYTES)
        except Exception as error:  # msgpack raises many types on garbage
            raise MalformedSenderKeyMessage("not a msgpack value") from error
        if type(fields) is not list or len(fields) != 5:
            raise MalformedSenderKeyMessage("expected a list of five fields")
        scheme, key_id, index, ciphertext, signature = fields
        if scheme != SCHEME:
            raise MalformedSenderKeyMessage(f"not an {SCHEME} message")
        if type(key_id) is not bytes or len(key_id) != KEY_ID_BYTES:
            raise MalformedSenderKeyMessage("bad key id")
        if type(index) is not int or not 0 <= index <= MAX_INDEX:
            raise MalformedSenderKeyMessage("bad chain index")
        if type(ciphertext) is not bytes or type(signature) is not bytes:
            raise MalformedSenderKeyMessage("ciphertext and signature must be bytes")
        if len(signature) != SIGNATURE_BYTES:
            raise MalformedSenderKeyMessage("bad signature length")
        message = cls(key_id, index, ciphertext, signature)
        # One encoding per message: no re-encoded copy can pass as a different blob.
        if message.to_bytes() != data:
            raise MalformedSenderKeyMessage("not in canonical encoding")
        return message


class OutboundSenderKey:
    """Our sending side of one (sender, channel) epoch: chain key, signing key, next index."""

    __slots__ = ("_chain", "_channel", "_created_at", "_key_id", "_sender", "_sender_fingerprint",
                 "_sender_key", "_signing_key")

    def __init__(self, sender: PublicKey, channel: str, *, now: float | None = None) -> None:
        self._created_at = time.time() if now is None else float(now)
        self._sender_key = sender
        self._sender = sender.user
        self._sender_fingerprint = sender.fingerprint
        self._channel = _check_channel(channel)
        self._key_id = os.urandom(KEY_ID_BYTES)
        self._chain: ChainKey | None = ChainKey(0, os.urandom(CHAIN_KEY_BYTES))
        self._signing_key = Ed25519PrivateKey.generate()

    @classmethod
    def create(cls, sender: PublicKey, channel: str, *,
               now: float | None = None) -> OutboundSenderKey:
        """A fresh epoch for sender (our own public key) in channel, at index 0, begun at `now`
        (seconds since the epoch; the current time if None)."""
        return cls(sender, channel, now=now)

    def rotated(self, *, now: float | None = None) -> OutboundSenderKey:
        """A new epoch for the same sender and channel: new key id, chain and signing key,
        unrelated to this one. Distribute it to the members who remain, then drop this one."""
        return OutboundSenderKey(self._sender_key, self._channel, now=now)

    @property
    def created_at(self) -> float:
        """When this epoch began (seconds since the epoch)."""
        return self._created_at

    def needs_rotation(self, now: float, *, max_age: float = DEFAULT_EPOCH_MAX_AGE,
                       max_messages: int | None = None) -> bool:
        """True once the epoch is max_age seconds old, has sent max_messages (if given), or
        is exhausted: whoever steals a chain key later reads at most one epoch's rest."""
        if self._chain is None or now - self._created_at >= max_age:
            return True
        return max_messages is not None and self.index >= max_messages

    @property
    def sender(self) -> str:
        return self._sender

    @property
    def channel(self) -> str:
        return self._channel

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def index(self) -> int:
        """The index the next message will have (MAX_INDEX + 1 once exhausted)."""
        return MAX_INDEX + 1 if self._chain is None else self._chain.index

    def encrypt(self, plaintext: bytes, associated: bytes) -> bytes:
        """An sk1 message (bytes) for the channel; the message key is used once and dropped.

        `associated` is authenticated, not sent: the receiver must pass the same bytes.
        """
        chain = self._live_chain()
        seed = chain.message_seed()
        # Moved before anything else can fail, so a key is never used twice.
        self._chain = chain.next() if chain.index < MAX_INDEX else None
        ciphertext = seal_with_seed(
            seed, bytes(plaintext),
            _associated_data(self._sender, self._channel, self._key_id, chain.index, associated))
        signature = self._signing_key.sign(_signed_data(
            self._sender, self._channel, self._key_id, chain.index, associated, ciphertext))
        return SenderKeyMessage(self._key_id, chain.index, ciphertext, signature).to_bytes()

    def distribution(self) -> bytes:
        """What a member needs to read from the current index on (secret: seal it)."""
        chain = self._live_chain()
        return _pack({
            "scheme": DISTRIBUTION_SCHEME,
            "sender": self._sender,
            "fingerprint": self._sender_fingerprint,
            "channel": self._channel,
            "key_id": self._key_id,
            "index": chain.index,
            "chain": chain.key,
            "signing_key": self._signing_key.public_key().public_bytes_raw(),
        })

    def seal_distribution(self, identity: Identity, recipients: Sequence[PublicKey]) -> bytes:
        """distribution() signed by identity (the sender's own) and encrypted to recipients,
        as one OpenPGP message with a session key per recipient (gossip.crypto.seal)."""
        if identity.fingerprint != self._sender_fingerprint:
            raise ValueError("only the sender's own identity can distribute its sender key")
        return seal(self.distribution(), identity, recipients)

    def _live_chain(self) -> ChainKey:
        if self._chain is None:
            raise SenderKeyExhausted("this sender key has used its last index; rotate")
        return self._chain

    def __repr__(self) -> str:
        return (f"OutboundSenderKey(sender={self._sender!r}, channel={self._channel!r}, "
                f"key_id={self._key_id.hex()}, index={self.index})")


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    """A message opened under a sender key, with what the client needs to judge it.

    signer_fingerprint is the identity key that signed the hand-over of this sender key: mark
    the message verified only if that is the sender's pinned, accepted key now. missing counts
    indices this message skipped that had not arrived (a gap: "n messages did not arrive");
    late is True for a message older than one already read (delivered out of order).
    """

    plaintext: bytes
    sender: str
    channel: str
    signer_fingerprint: str
    key_id: bytes
    index: int
    missing: int
    late: bool


class InboundSenderKey:
    """One member's reading side of another sender's epoch. Make one with open_distribution."""

    __slots__ = ("_chain", "_channel", "_first_index", "_floor", "_floor_unread", "_key_id",
                 "_sender", "_sender_fingerprint", "_skipped", "_verify_key")

    def __init__(self, *, sender: str, sender_fingerprint: str, channel: str, key_id: bytes,
                 chain: ChainKey, verify_key: Ed25519PublicKey) -> None:
        # Trusts its arguments: open_distribution checks them against the PGP signer.
        self._sender = sender
        self._sender_fingerprint = sender_fingerprint
        self._channel = channel
        self._key_id = key_id
        self._first_index = chain.index
        self._chain = chain
        self._verify_key = verify_key
        # index -> (message seed, when it expires), for messages skipped over, not yet received.
        self._skipped: dict[int, tuple[bytes, float]] = {}
        # From a restored mark (after a restart): below _floor, only _floor_unread is unread.
        self._floor = 0
        self._floor_unread: set[int] = set()

    @property
    def sender(self) -> str:
        return self._sender

    @property
    def sender_fingerprint(self) -> str:
        return self._sender_fingerprint

    @property
    def signer_fingerprint(self) -> str:
        """The identity fingerprint whose signature on the hand-over verified (open_distribution
        refuses a hand-over naming another): trust in this key is trust in that key."""
        return self._sender_fingerprint

    @property
    def channel(self) -> str:
        return self._channel

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def first_index(self) -> int:
        """The index the distribution started us at: nothing earlier can be read."""
        return self._first_index

    @property
    def next_index(self) -> int:
        """The lowest index not yet reached; every key below it is gone or in skipped_indices."""
        return self._chain.index

    @property
    def skipped_indices(self) -> frozenset[int]:
        """Indices skipped over whose keys are still held for late delivery."""
        return frozenset(self._skipped)

    def decrypt(self, message: bytes, associated: bytes) -> bytes:
        """The plaintext of an sk1 message from this epoch, consuming its key.

        Raises MalformedSenderKeyMessage, UnknownSenderKey, SenderKeySignatureInvalid,
        ReplayedMessage, MessageKeyGone, IndexTooFarAhead or MessageDecryptionFailed (all
        SenderKeyError); on any of them the state is unchanged (but for expired skipped keys,
        which go whatever happens).
        """
        return self.open_message(SenderKeyMessage.from_bytes(message), associated).plaintext

    def decrypt_message(self, message: SenderKeyMessage, associated: bytes) -> bytes:
        """decrypt() for a message already decoded with SenderKeyMessage.from_bytes."""
        return self.open_message(message, associated).plaintext

    def open_message(self, message: SenderKeyMessage, associated: bytes, *,
                     now: float | None = None,
                     skipped_key_lifetime: float = DEFAULT_SKIPPED_KEY_LIFETIME) -> OpenedMessage:
        """decrypt_message() with what the client needs (OpenedMessage). Skipped keys made
        now expire after skipped_key_lifetime seconds; expired ones are dropped first."""
        now = time.time() if now is None else now
        self.purge_expired(now)
        if message.key_id != self._key_id:
            raise UnknownSenderKey(f"message is under key {message.key_id.hex()}, "
                                   f"not {self._key_id.hex()}")
        try:
            self._verify_key.verify(message.signature, _signed_data(
                self._sender, self._channel, self._key_id, message.index, associated,
                message.ciphertext))
        except InvalidSignature:
            raise SenderKeySignatureInvalid(
                f"not signed by {self._sender!r}'s sender key, or altered") from None

        index = message.index
        chain = self._chain
        high = max(chain.index, self._floor)  # one past the highest index read so far
        if self._read_before_restart(index):
            raise ReplayedMessage(f"index {index} of {self._sender!r} was already read")
        skipped: dict[int, tuple[bytes, float]] = {}
        advances = index >= chain.index
        if advances:
            if index - chain.index > MAX_SKIPPED_KEYS:
                raise IndexTooFarAhead(f"index {index} is more than {MAX_SKIPPED_KEYS} ahead "
                                       f"of {chain.index}")
            expires = now + skipped_key_lifetime
            while chain.index < index:
                if not self._read_before_restart(chain.index):
                    skipped[chain.index] = (chain.message_seed(), expires)
                chain = chain.next()
            seed = chain.message_seed()
            chain = chain.next()
        elif index in self._skipped:
            seed = self._skipped[index][0]
        elif index < self._first_index:
            raise MessageKeyGone(f"index {index} was sent before this key was handed to us")
        elif index < self._window_start(chain.index):
            raise MessageKeyGone(f"index {index} is too old: its key was dropped")
        else:
            raise ReplayedMessage(f"index {index} of {self._sender!r} was already read")

        try:
            plaintext = open_with_seed(seed, message.ciphertext, _associated_data(
                self._sender, self._channel, self._key_id, index, associated))
        except InvalidTag:
            raise MessageDecryptionFailed(
                f"{self._sender!r} signed a message that does not decrypt") from None

        # Commit: nothing below can fail.
        self._skipped.pop(index, None)
        self._floor_unread.discard(index)
        if advances:
            self._skipped.update(skipped)
            self._chain = chain
            start = self._window_start(chain.index)
            for old in [i for i in self._skipped if i < start]:
                del self._skipped[old]
        return OpenedMessage(plaintext=plaintext, sender=self._sender, channel=self._channel,
                             signer_fingerprint=self._sender_fingerprint, key_id=self._key_id,
                             index=index, missing=max(0, index - high), late=index < high)

    def purge_expired(self, now: float) -> int:
        """Drop skipped message keys whose lifetime is over; how many were dropped."""
        expired = [index for index, (_, expires) in self._skipped.items() if expires <= now]
        for index in expired:
            del self._skipped[index]
        return len(expired)

    def mark(self) -> SenderKeyMark:
        """How far this key was read, to be restored after a restart (see SenderKeyRing)."""
        high = max(self._chain.index, self._floor)
        window = self._window_start(high)
        unread = set(self._skipped) | {i for i in self._floor_unread if i >= self._chain.index}
        return SenderKeyMark(high, frozenset(i for i in unread if i >= window))

    def restore(self, mark: SenderKeyMark) -> None:
        """Treat every index the mark says was read as read (a replay after a restart)."""
        if mark.next_index <= self._floor:
            return
        self._floor = mark.next_index
        self._floor_unread = set(mark.unread)
        for index in [i for i in self._skipped if mark.was_read(i)]:
            del self._skipped[index]

    def _read_before_restart(self, index: int) -> bool:
        return index < self._floor and index not in self._floor_unread

    @staticmethod
    def _window_start(next_index: int) -> int:
        # Keys below this are dropped; at or above it a key is missing only because it was used.
        return next_index - 1 - MAX_SKIPPED_KEYS

    def __repr__(self) -> str:
        return (f"InboundSenderKey(sender={self._sender!r}, channel={self._channel!r}, "
                f"key_id={self._key_id.hex()}, next_index={self.next_index})")


def _parse_distribution(payload: bytes) -> InboundSenderKey:
    if len(payload) > MAX_DISTRIBUTION_BYTES:
        raise MalformedDistribution("distribution is too large")
    try:
        fields = _unpack(payload, MAX_DISTRIBUTION_BYTES)
    except Exception as error:  # msgpack raises many types on garbage
        raise MalformedDistribution("not a msgpack value") from error
    expected = {"scheme", "sender", "fingerprint", "channel", "key_id", "index", "chain",
                "signing_key"}
    if type(fields) is not dict or set(fields) != expected:
        raise MalformedDistribution("not a sender-key distribution")
    if fields["scheme"] != DISTRIBUTION_SCHEME:
        raise MalformedDistribution("unknown distribution scheme")
    text = ("sender", "fingerprint", "channel")
    if any(type(fields[name]) is not str or not fields[name] for name in text):
        raise MalformedDistribution("sender, fingerprint and channel must be text")
    sizes = {"key_id": KEY_ID_BYTES, "chain": CHAIN_KEY_BYTES, "signing_key": SIGNING_KEY_BYTES}
    if any(type(fields[name]) is not bytes or len(fields[name]) != size
           for name, size in sizes.items()):
        raise MalformedDistribution("a key field has the wrong type or length")
    index = fields["index"]
    if type(index) is not int or not 0 <= index <= MAX_INDEX:
        raise MalformedDistribution("bad chain index")
    try:
        verify_key = Ed25519PublicKey.from_public_bytes(fields["signing_key"])
    except ValueError as error:
        raise MalformedDistribution("bad signing key") from error
    return InboundSenderKey(
        sender=fields["sender"], sender_fingerprint=fields["fingerprint"],
        channel=fields["channel"], key_id=fields["key_id"],
        chain=ChainKey(index, fields["chain"]), verify_key=verify_key)


def open_distribution(blob: bytes, identity: Identity, sender_public: PublicKey, *,
                      channel: str | None = None,
                      max_recipients: int = MAX_RECIPIENTS) -> InboundSenderKey:
    """The InboundSenderKey in a sealed distribution from sender_public to identity.

    `max_recipients` bounds the session-key packets as in open_sealed (pass the channel's
    member count plus slack). Raises what open_sealed raises (NotForMe, MalformedMessage
    including TooManyRecipients, BadSignature), then
    MalformedDistribution, or DistributionMismatch if the key inside names another sender
    than the signer or (when `channel` is given) another channel.
    """
    key = _parse_distribution(open_sealed(blob, identity, sender_public,
                                          max_recipients=max_recipients))
    if key.sender != sender_public.user or key.sender_fingerprint != sender_public.fingerprint:
        raise DistributionMismatch(
            f"{sender_public.user!r} distributed a sender key in the name of {key.sender!r}")
    if channel is not None and key.channel != channel:
        raise DistributionMismatch(f"sender key is for channel {key.channel!r}, not {channel!r}")
    return key


class SenderKeyRing:
    """The inbound sender keys one member holds: per (sender, channel), the newest few epochs.

    A key id is accepted once: a distribution delivered again (or replayed by the hub) can
    never rewind a chain, which would let old messages be replayed. Retired key ids are
    remembered (boundedly) for the same reason, and with replay_state() / restore_replay_state()
    across restarts too.
    """

    def __init__(self, *, epochs_per_sender: int = 4, retired_memory: int = 4096,
                 skipped_key_lifetime: float = DEFAULT_SKIPPED_KEY_LIFETIME,
                 clock: Callable[[], float] = time.time) -> None:
        if epochs_per_sender < 1 or retired_memory < 0:
            raise ValueError("epochs_per_sender must be positive, retired_memory not negative")
        if skipped_key_lifetime <= 0:
            raise ValueError("skipped_key_lifetime must be positive")
        self._epochs_per_sender = epochs_per_sender
        self._retired_memory = retired_memory
        self._skipped_key_lifetime = skipped_key_lifetime
        self._clock = clock
        self._keys: dict[tuple[str, str], OrderedDict[bytes, InboundSenderKey]] = {}
        self._retired: OrderedDict[bytes, None] = OrderedDict()
        # Marks restored from a saved state for keys not handed to us (again) yet.
        self._marks: OrderedDict[bytes, SenderKeyMark] = OrderedDict()

    def add(self, key: InboundSenderKey) -> bool:
        """Hold key; False (and nothing changes) if its key id was seen before.

        A key id with a restored mark is taken, reading only what the mark says was unread.
        """
        if key.key_id in self._retired or any(key.key_id in epochs
                                              for epochs in self._keys.values()):
            return False
        mark = self._marks.pop(key.key_id, None)
        if mark is not None:
            key.restore(mark)
        epochs = self._keys.setdefault((key.sender, key.channel), OrderedDict())
        epochs[key.key_id] = key
        while len(epochs) > self._epochs_per_sender:
            old_id, _ = epochs.popitem(last=False)
            self._retire(old_id)
        return True

    def get(self, sender: str, channel: str, key_id: bytes) -> InboundSenderKey | None:
        epochs = self._keys.get((sender, channel))
        return None if epochs is None else epochs.get(key_id)

    def decrypt(self, sender: str, channel: str, message: bytes, associated: bytes) -> bytes:
        """Decrypt a message relayed as from sender in channel with the epoch it names.

        Raises the errors of InboundSenderKey.decrypt; UnknownSenderKey if no epoch we hold
        for that sender and channel has the message's key id.
        """
        return self.open(sender, channel, message, associated).plaintext

    def open(self, sender: str, channel: str, message: bytes, associated: bytes, *,
             now: float | None = None) -> OpenedMessage:
        """decrypt() with the signer's fingerprint, the gap and lateness (OpenedMessage).

        `now` defaults to the ring's clock; skipped keys made now expire after the ring's
        skipped_key_lifetime.
        """
        parsed = SenderKeyMessage.from_bytes(message)
        key = self.get(sender, channel, parsed.key_id)
        if key is None:
            raise UnknownSenderKey(
                f"no sender key {parsed.key_id.hex()} from {sender!r} in {channel!r}")
        return key.open_message(parsed, associated,
                                now=self._clock() if now is None else now,
                                skipped_key_lifetime=self._skipped_key_lifetime)

    def purge_expired(self, now: float | None = None) -> int:
        """Drop every skipped message key whose lifetime is over; how many were dropped.
        Call it now and then (opening a message purges only its own key's)."""
        now = self._clock() if now is None else now
        return sum(key.purge_expired(now) for epochs in self._keys.values()
                   for key in epochs.values())

    def forget(self, sender: str | None = None, *, channel: str | None = None) -> None:
        """Drop every epoch of sender (their key changed) and/or in channel (we left it).

        The key ids are retired: the same hand-over, replayed, is never taken again, so
        messages signed under a key that is no longer trusted cannot come back.
        """
        if sender is None and channel is None:
            raise ValueError("forget needs a sender, a channel or both")
        for where in list(self._keys):
            where_sender, where_channel = where
            if (sender is None or sender == where_sender) and (
                    channel is None or channel == where_channel):
                for key_id in self._keys.pop(where):
                    self._retire(key_id)

    def replay_state(self) -> ReplayState:
        """What was read under every key id we know, to persist (ReplayState.to_bytes)."""
        marks = dict(self._marks)
        for epochs in self._keys.values():
            for key_id, key in epochs.items():
                marks[key_id] = key.mark()
        return ReplayState(marks, frozenset(self._retired))

    def restore_replay_state(self, state: ReplayState) -> None:
        """Merge a saved state (at start, before any hand-over is taken): retired key ids are
        refused, and a key handed over again reads only what its mark says was unread."""
        for key_id in state.retired:
            if key_id not in self._retired:
                self._retire(key_id)
        for key_id, mark in state.marks.items():
            if key_id in self._retired:
                continue
            live = next((epochs[key_id] for epochs in self._keys.values() if key_id in epochs),
                        None)
            if live is not None:
                live.restore(mark)
                continue
            self._marks[key_id] = mark
            self._marks.move_to_end(key_id)
            while len(self._marks) > self._retired_memory:
                self._marks.popitem(last=False)

    def __len__(self) -> int:
        return sum(len(epochs) for epochs in self._keys.values())

    def _retire(self, key_id: bytes) -> None:
        self._retired[key_id] = None
        self._marks.pop(key_id, None)
        while len(self._retired) > self._retired_memory:
            self._retired.popitem(last=False)
