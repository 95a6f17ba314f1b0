"""Chat messages: what the sender seals and what a receiver must check before showing one.

The blob the hub relays carries a scheme tag, so sender-key messages can live beside these
later. Inside the signed part: id, channel, sender and times, so the hub can neither move a
message to another channel, pass it off as someone else's, nor re-time it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import msgpack

from gossip.crypto import CryptoError, Identity, PublicKey, open_sealed, seal
from gossip.crypto.pins import Trust

SCHEME_PGP = "pgp1"
MAX_TTL = 7 * 24 * 3600.0
DEFAULT_TTL = 3600.0
# How far a message's send time may be from the receiver's clock (clock skew + delivery).
CLOCK_WINDOW = 300.0
MAX_TEXT_CHARS = 16_000


class MessageRejected(Exception):
    """A message failed a receiver's checks; `reason` is one word (bad_signature, ...)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


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


def seal_chat(identity: Identity, recipients: Sequence[PublicKey], *, channel: str, text: str,
              ttl: float, now: float, message_id: str | None = None) -> tuple[bytes, ChatMessage]:
    """Seal a chat message for the recipients (the sender should be among them)."""
    if not text.strip():
        raise ValueError("the message is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"the message is longer than {MAX_TEXT_CHARS} characters")
    message = ChatMessage(id=message_id or new_message_id(), channel=channel,
                          sender=identity.user, text=text, sent_at=now,
                          expires_at=now + check_ttl(ttl), verified=True, trust=Trust.VERIFIED)
    inner = msgpack.packb({"id": message.id, "channel": channel, "sender": identity.user,
                           "sent_at": message.sent_at, "expires_at": message.expires_at,
                           "text": text}, use_bin_type=True)
    sealed = seal(inner, identity, recipients)
    return msgpack.packb({"scheme": SCHEME_PGP, "data": sealed}, use_bin_type=True), message


def open_chat(blob: bytes, identity: Identity, *, routed_sender: str, routed_channel: str,
              sender_key: PublicKey, trust: Trust, now: float) -> ChatMessage:
    """Open and check a relayed blob. `sender_key` is the key to verify against: the pinned
    one, or for a changed key the offered one (then the message is never `verified`)."""
    try:
        outer = msgpack.unpackb(blob, raw=False)
        scheme, sealed = outer["scheme"], outer["data"]
    except Exception:  # msgpack raises many types on garbage
        raise MessageRejected("malformed", "not a Gossip message") from None
    if scheme != SCHEME_PGP or not isinstance(sealed, bytes):
        raise MessageRejected("unsupported", f"unknown scheme {str(scheme)[:16]!r}")
    try:
        inner = msgpack.unpackb(open_sealed(sealed, identity, sender_key), raw=False)
    except CryptoError as exc:
        raise MessageRejected(_crypto_reason(exc), str(exc)) from None
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
    name = type(exc).__name__
    return {"BadSignature": "bad_signature", "NotForMe": "not_for_me"}.get(name, "malformed")
