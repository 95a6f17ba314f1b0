"""Chat messages: what the sender seals and what a receiver must check before showing one.

Channel messages use sender keys (scheme "sk1", as in Signal's groups and Megolm): each sender
hands every member a per-channel chain key once, PGP-sealed and signed ("skd1"), then
encrypts each message with a key from a hash ratchet and signs it with that epoch's signing
key. A message costs the same whatever the channel's size, and used keys are deleted. Inside
the encrypted part: id, channel, sender and times, so the hub can neither move a message to
another channel, pass it off as someone else's, nor re-time it. The older scheme "pgp1"
(PGP-sealed to every member) is still understood.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from gossip.crypto import (
    BadSignature,
    CryptoError,
    Identity,
    InboundSenderKey,
    MessageKeyGone,
    NotForMe,
    OutboundSenderKey,
    PublicKey,
    SenderKeyRing,
    UnknownSenderKey,
    open_distribution,
    open_sealed,
    seal,
)
from gossip.crypto.pins import Trust

from .errors import MessageRejected

SCHEME_PGP = "pgp1"
SCHEME_SENDER_KEY = "sk1"
SCHEME_DISTRIBUTION = "skd1"
# A sender starts a new epoch after this many messages even if nobody joined or left, so a
# key stolen later opens at most this many.
ROTATE_AFTER = 200
MAX_TTL = 7 * 24 * 3600.0
DEFAULT_TTL = 3600.0
# How far a message's send time may be from the receiver's clock (clock skew + delivery).
CLOCK_WINDOW = 300.0
MAX_TEXT_CHARS = 16_000


@dataclass(frozen=True)
class ChatMessage:
    id: str
    channel: str
    sender: str
    text: str
    sent_at: float
    expires_at: float
    verified: bool
    trust: Trust

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "channel": self.channel, "sender": self.sender,
                "text": self.text, "sent_at": self.sent_at, "expires_at": self.expires_at,
                "verified": self.verified, "trust": self.trust.value}


def new_message_id() -> str:
    return os.urandom(16).hex()


def check_ttl(ttl: float) -> float:
    if not (0 < ttl <= MAX_TTL):
        raise ValueError(f"expiry must be between 1 second and {int(MAX_TTL)} seconds")
    return float(ttl)


def _inner(message: ChatMessage) -> bytes:
    return msgpack.packb({"id": message.id, "channel": message.channel,
                          "sender": message.sender, "sent_at": message.sent_at,
                          "expires_at": message.expires_at, "text": message.text},
                         use_bin_type=True)


def _outer(scheme: str, data: bytes) -> bytes:
    return msgpack.packb({"scheme": scheme, "data": data}, use_bin_type=True)


def _associated(sender: str, channel: str) -> bytes:
    """The routing a sender-key message is bound to (besides the copy inside)."""
    return msgpack.packb([sender, channel], use_bin_type=True)


def new_chat(identity: Identity, *, channel: str, text: str, ttl: float, now: float,
             message_id: str | None = None) -> ChatMessage:
    if not text.strip():
        raise ValueError("the message is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"the message is longer than {MAX_TEXT_CHARS} characters")
    return ChatMessage(id=message_id or new_message_id(), channel=channel,
                       sender=identity.user, text=text, sent_at=now,
                       expires_at=now + check_ttl(ttl), verified=True, trust=Trust.VERIFIED)


def seal_direct(message: ChatMessage, identity: Identity, recipient: PublicKey) -> bytes:
    """`message` sealed to one member alone (OpenPGP, no sender key): for resending what one
    reader missed without starting a new epoch for everyone."""
    return _outer(SCHEME_PGP, seal(_inner(message), identity, [recipient]))


class ChannelSender:
    """Our outbound sender key for one channel, and whom its epoch was handed to."""

    def __init__(self, identity: Identity, channel: str) -> None:
        self._identity = identity
        self._channel = channel
        self._key: OutboundSenderKey | None = None
        self._holders: frozenset[str] = frozenset()  # fingerprints given this epoch
        self._sent = 0

    def invalidate(self) -> None:
        """Start a new epoch before the next message (a member may have lost our keys)."""
        self._holders = frozenset()

    def distribution_for(self, recipients: Sequence[PublicKey]) -> bytes | None:
        """A new epoch's key, sealed to `recipients`, when they differ from the holders of
        the current one (someone joined, left or changed key) or the epoch is used up; else
        None. Rotating on every change keeps a member who left from reading what follows."""
        holders = frozenset(key.fingerprint for key in recipients)
        if self._key is not None and holders == self._holders and self._sent < ROTATE_AFTER:
            return None
        self._key = (OutboundSenderKey.create(self._identity.public, self._channel)
                     if self._key is None else self._key.rotated())
        self._holders, self._sent = holders, 0
        return _outer(SCHEME_DISTRIBUTION,
                      self._key.seal_distribution(self._identity, recipients))

    def encrypt(self, message: ChatMessage) -> bytes:
        assert self._key is not None, "distribution_for() comes first"
        self._sent += 1
        return _outer(SCHEME_SENDER_KEY, self._key.encrypt(
            _inner(message), _associated(message.sender, message.channel)))


@dataclass(frozen=True)
class Distribution:
    """A sender key someone handed us (not a message: nothing to show)."""

    key: InboundSenderKey


def open_chat(blob: bytes, identity: Identity, *, routed_sender: str, routed_channel: str,
              sender_key: PublicKey, trust: Trust, now: float,
              ring: SenderKeyRing | None = None) -> ChatMessage | Distribution:
    """Open and check a relayed blob. `sender_key` is the key to verify against: the pinned
    one, or for a changed key the offered one (then the message is never `verified`)."""
    try:
        outer = msgpack.unpackb(blob, raw=False)
        scheme, data = outer["scheme"], outer["data"]
    except Exception:  # msgpack raises many types on garbage
        raise MessageRejected("malformed", "not a Gossip message") from None
    if not isinstance(data, bytes):
        raise MessageRejected("malformed", "not a Gossip message")
    try:
        if scheme == SCHEME_DISTRIBUTION:
            return Distribution(open_distribution(data, identity, sender_key,
                                                  channel=routed_channel))
        if scheme == SCHEME_SENDER_KEY and ring is not None:
            plain = ring.decrypt(routed_sender, routed_channel, data,
                                 _associated(routed_sender, routed_channel))
        elif scheme == SCHEME_PGP:
            plain = open_sealed(data, identity, sender_key)
        else:
            raise MessageRejected("unsupported", f"unknown scheme {str(scheme)[:16]!r}")
        inner = msgpack.unpackb(plain, raw=False)
    except CryptoError as exc:
        raise MessageRejected(_crypto_reason(exc), str(exc)) from None
    except MessageRejected:
        raise
    except Exception:
        raise MessageRejected("malformed", "signed content is not a message") from None
    message = _parse_inner(inner, trust)
    if message.sender != routed_sender:
        raise MessageRejected("wrong_sender",
                              f"signed by {message.sender}, relayed as from {routed_sender}")
    if message.channel != routed_channel:
        raise MessageRejected("wrong_channel",
                              f"sealed for {message.channel}, relayed into {routed_channel}")
    if abs(message.sent_at - now) > CLOCK_WINDOW:
        raise MessageRejected("stale", "sent too long ago or in the future (replayed?)")
    if message.expires_at <= now:
        raise MessageRejected("expired", "already expired")
    return message


def _parse_inner(inner: Any, trust: Trust) -> ChatMessage:
    try:
        fields = {key: inner[key] for key in ("id", "channel", "sender", "text")}
        sent_at, expires_at = float(inner["sent_at"]), float(inner["expires_at"])
    except Exception:
        raise MessageRejected("malformed", "signed content is missing fields") from None
    if not all(isinstance(value, str) for value in fields.values()):
        raise MessageRejected("malformed", "signed content has wrong field types")
    if not (0 < expires_at - sent_at <= MAX_TTL) or len(fields["id"]) > 64:
        raise MessageRejected("malformed", "bad id or expiry")
    verified = trust in (Trust.NEW, Trust.PINNED, Trust.VERIFIED)
    return ChatMessage(sent_at=sent_at, expires_at=expires_at, verified=verified, trust=trust,
                       **fields)


def _crypto_reason(exc: CryptoError) -> str:
    if isinstance(exc, MessageKeyGone):
        return "replayed"
    if isinstance(exc, UnknownSenderKey):
        return "unknown_sender_key"
    if isinstance(exc, BadSignature):
        return "bad_signature"
    if isinstance(exc, NotForMe):
        return "not_for_me"
    return "malformed"
