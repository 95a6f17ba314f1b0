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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from gossip.crypto import (
    DEFAULT_EPOCH_MAX_AGE,
    BadSignature,
    CryptoError,
    Identity,
    InboundSenderKey,
    MessageKeyGone,
    NotForMe,
    OutboundSenderKey,
    PublicKey,
    ReplayedMessage,
    SenderKeyRing,
    TooManyRecipients,
    UnknownSenderKey,
    open_distribution,
    open_sealed,
    seal,
)
from gossip.crypto.filestream import BadManifest, FileManifest
from gossip.crypto.pins import Trust

from .errors import MessageRejected

SCHEME_PGP = "pgp1"
SCHEME_SENDER_KEY = "sk1"
SCHEME_DISTRIBUTION = "skd1"
# A sender starts a new epoch after this many messages, or this long after the last one
# began, even if nobody joined or left: a key stolen later opens at most one epoch's rest.
ROTATE_AFTER = 200
EPOCH_MAX_AGE = DEFAULT_EPOCH_MAX_AGE  # a day
MAX_TTL = 7 * 24 * 3600.0
DEFAULT_TTL = 3600.0
# How far a message's send time may be from the receiver's clock (clock skew + delivery).
CLOCK_WINDOW = 300.0
MAX_TEXT_CHARS = 16_000

# Bounds on what a receiver parses, so one member's frame costs every other member little.
# A sealed blob is one session-key packet per recipient (a Cv25519 PKESK of ~96 bytes, plus
# its 23-byte Intended Recipient subpacket in the signature: ~119 bytes measured) around a
# signed payload; a larger blob, or more packets than the channel has members, is refused
# before any public-key operation.
RECIPIENT_SLACK = 8  # members who joined or left while the sender sealed
BYTES_PER_RECIPIENT = 160
SEALED_OVERHEAD_BYTES = 1024  # one-pass header, signature, literal framing, MDC
MAX_HANDOVER_PAYLOAD_BYTES = 4096  # the sender-key distribution inside (crypto's own bound)
# A message's signed content: the text in UTF-8 (at most 4 bytes a character) and its fields.
MAX_INNER_BYTES = MAX_TEXT_CHARS * 4 + 512
MAX_SENDER_KEY_MESSAGE_BYTES = MAX_INNER_BYTES + 256  # AEAD tag, signature, header


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
    # How it reached us (not part of what the sender signed): the identity fingerprint that
    # signed it (for a sender-key message, the one that signed the epoch's hand-over), how
    # many earlier messages of that sender's epoch had not arrived when it did, and whether
    # it arrived after a later one of the same epoch.
    signer: str = ""
    missing: int = 0
    late: bool = False
    # A file message (content kind "file"): the manifest to fetch, check and open the file,
    # signed and sealed with the rest; `text` then describes it for clients without files.
    file: FileManifest | None = None

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id, "channel": self.channel, "sender": self.sender, "text": self.text,
            "sent_at": self.sent_at, "expires_at": self.expires_at, "verified": self.verified,
            "trust": self.trust.value, "signer": self.signer, "missing": self.missing,
            "late": self.late}
        if self.file is not None:  # never the key
            shown["file"] = {"id": self.file.file_id, "name": self.file.name,
                             "mime": self.file.mime, "size": self.file.size}
        return shown


def max_recipients_for(members: int) -> int:
    """How many session-key packets a sealed blob in a channel of `members` may carry."""
    return max(1, members) + RECIPIENT_SLACK


def max_sealed_bytes(payload_bytes: int, recipients: int) -> int:
    """The largest honest sealed blob with a payload of at most `payload_bytes` for at most
    `recipients` recipients (see BYTES_PER_RECIPIENT)."""
    return payload_bytes + SEALED_OVERHEAD_BYTES + BYTES_PER_RECIPIENT * recipients


def new_message_id() -> str:
    return os.urandom(16).hex()


def check_ttl(ttl: float) -> float:
    if not (0 < ttl <= MAX_TTL):
        raise ValueError(f"expiry must be between 1 second and {int(MAX_TTL)} seconds")
    return float(ttl)


def _inner(message: ChatMessage) -> bytes:
    content: dict[str, Any] = {
        "id": message.id, "channel": message.channel, "sender": message.sender,
        "sent_at": message.sent_at, "expires_at": message.expires_at, "text": message.text}
    if message.file is not None:
        content["kind"] = "file"
        content["file"] = message.file.as_fields()
    return msgpack.packb(content, use_bin_type=True)


def _outer(scheme: str, data: bytes) -> bytes:
    return msgpack.packb({"scheme": scheme, "data": data}, use_bin_type=True)


def _associated(sender: str, channel: str) -> bytes:
    """The routing a sender-key message is bound to (besides the copy inside)."""
    return msgpack.packb([sender, channel], use_bin_type=True)


def new_chat(identity: Identity, *, channel: str, text: str, ttl: float, now: float,
             message_id: str | None = None, file: FileManifest | None = None) -> ChatMessage:
    if not text.strip():
        raise ValueError("the message is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"the message is longer than {MAX_TEXT_CHARS} characters")
    return ChatMessage(id=message_id or new_message_id(), channel=channel,
                       sender=identity.user, text=text, sent_at=now,
                       expires_at=now + check_ttl(ttl), verified=True, trust=Trust.VERIFIED,
                       signer=identity.fingerprint, file=file)


def seal_direct(message: ChatMessage, identity: Identity, recipient: PublicKey) -> bytes:
    """`message` sealed to one member alone (OpenPGP, no sender key): for resending what one
    reader missed without starting a new epoch for everyone."""
    return _outer(SCHEME_PGP, seal(_inner(message), identity, [recipient]))


class ChannelSender:
    """Our outbound sender key for one channel, and whom its epoch was handed to."""

    def __init__(self, identity: Identity, channel: str, clock: Callable[[], float]) -> None:
        self._identity = identity
        self._channel = channel
        self._clock = clock
        self._key: OutboundSenderKey | None = None
        self._holders: frozenset[str] = frozenset()  # fingerprints given this epoch

    def invalidate(self) -> None:
        """Start a new epoch before the next message (a member may have lost our keys)."""
        self._holders = frozenset()

    def distribution_for(self, recipients: Sequence[PublicKey]) -> bytes | None:
        """A new epoch's key, sealed to `recipients`, when they differ from the holders of
        the current one (someone joined, left or changed key) or the epoch is used up (by
        count or by age); else None. Rotating on every change keeps a member who left from
        reading what follows; rotating by age bounds what a key stolen later opens."""
        holders = frozenset(key.fingerprint for key in recipients)
        now = self._clock()
        if self._key is not None and holders == self._holders and not self._key.needs_rotation(
                now, max_age=EPOCH_MAX_AGE, max_messages=ROTATE_AFTER):
            return None
        self._key = (OutboundSenderKey.create(self._identity.public, self._channel, now=now)
                     if self._key is None else self._key.rotated(now=now))
        self._holders = holders
        return _outer(SCHEME_DISTRIBUTION,
                      self._key.seal_distribution(self._identity, recipients))

    def encrypt(self, message: ChatMessage) -> bytes:
        assert self._key is not None, "distribution_for() comes first"
        return _outer(SCHEME_SENDER_KEY, self._key.encrypt(
            _inner(message), _associated(message.sender, message.channel)))


@dataclass(frozen=True)
class Distribution:
    """A sender key someone handed us (not a message: nothing to show)."""

    key: InboundSenderKey


def open_chat(blob: bytes, identity: Identity, *, routed_sender: str, routed_channel: str,
              sender_key: PublicKey, trust: Trust, now: float, members: int,
              ring: SenderKeyRing | None = None) -> ChatMessage | Distribution:
    """Open and check a relayed blob. `sender_key` is the key to verify against: the pinned
    one, or for a changed key the offered one (then the message is never `verified`).
    `members` is the channel's member count as we know it: it bounds the blob's size and its
    session-key packets, so a hostile member's frame costs little to refuse.

    A message is `verified` only when the identity key that signed it (for a sender-key
    message, the one that signed its epoch's hand-over) is `sender_key` and that key is
    trusted; a message under an epoch handed over by another key (the hub swapped keys in
    between) shows as CHANGED."""
    recipients = max_recipients_for(members)
    scheme, data = _parse_outer(blob, recipients)
    missing, late = 0, False
    try:
        if scheme == SCHEME_DISTRIBUTION:
            _check_size(data, max_sealed_bytes(MAX_HANDOVER_PAYLOAD_BYTES, recipients),
                        "sender-key hand-over")
            return Distribution(open_distribution(data, identity, sender_key,
                                                  channel=routed_channel,
                                                  max_recipients=recipients))
        if scheme == SCHEME_SENDER_KEY and ring is not None:
            _check_size(data, MAX_SENDER_KEY_MESSAGE_BYTES, "message")
            opened = ring.open(routed_sender, routed_channel, data,
                               _associated(routed_sender, routed_channel), now=now)
            plain, signer = opened.plaintext, opened.signer_fingerprint
            missing, late = opened.missing, opened.late
        elif scheme == SCHEME_PGP:
            _check_size(data, max_sealed_bytes(MAX_INNER_BYTES, recipients), "message")
            plain = open_sealed(data, identity, sender_key, max_recipients=recipients)
            signer = sender_key.fingerprint
        else:
            raise MessageRejected("unsupported", f"unknown scheme {str(scheme)[:16]!r}")
        inner = msgpack.unpackb(plain, raw=False, max_str_len=MAX_INNER_BYTES,
                                max_bin_len=0, max_array_len=0, max_map_len=16,
                                max_ext_len=0)
    except CryptoError as exc:
        raise MessageRejected(_crypto_reason(exc), str(exc)) from None
    except MessageRejected:
        raise
    except Exception:
        raise MessageRejected("malformed", "signed content is not a message") from None
    if signer != sender_key.fingerprint:
        trust = Trust.CHANGED
    message = _parse_inner(inner, trust, signer=signer, missing=missing, late=late)
    if message.sender != routed_sender:
        raise MessageRejected("wrong_sender",
                              f"signed by {message.sender}, relayed as from {routed_sender}")
    if message.channel != routed_channel:
        raise MessageRejected("wrong_channel",
                              f"sealed for {message.channel}, relayed into {routed_channel}")
    if len(message.text) > MAX_TEXT_CHARS:
        raise MessageRejected("too_long", f"{len(message.text)} characters, more than the "
                                          f"{MAX_TEXT_CHARS} a message may have")
    if abs(message.sent_at - now) > CLOCK_WINDOW:
        raise MessageRejected("stale", "sent too long ago or in the future (replayed?)")
    if message.expires_at <= now:
        raise MessageRejected("expired", "already expired")
    return message


def _parse_outer(blob: bytes, recipients: int) -> tuple[object, bytes]:
    """The scheme and sealed data of a relayed blob, refused by size before anything else."""
    limit = max_sealed_bytes(MAX_INNER_BYTES, recipients) + 64
    _check_size(blob, limit, "blob")
    try:
        outer = msgpack.unpackb(blob, raw=False, max_str_len=16, max_bin_len=limit,
                                max_array_len=0, max_map_len=2, max_ext_len=0)
        scheme, data = outer["scheme"], outer["data"]
    except Exception:  # msgpack raises many types on garbage
        raise MessageRejected("malformed", "not a Gossip message") from None
    if not isinstance(data, bytes):
        raise MessageRejected("malformed", "not a Gossip message")
    return scheme, data


def _check_size(data: bytes, limit: int, what: str) -> None:
    if len(data) > limit:
        raise MessageRejected("too_large", f"{what} of {len(data)} bytes; at most {limit} "
                                           "expected in a channel this size")


def _parse_inner(inner: Any, trust: Trust, *, signer: str, missing: int,
                 late: bool) -> ChatMessage:
    try:
        fields = {key: inner[key] for key in ("id", "channel", "sender", "text")}
        sent_at, expires_at = float(inner["sent_at"]), float(inner["expires_at"])
    except Exception:
        raise MessageRejected("malformed", "signed content is missing fields") from None
    if not all(isinstance(value, str) for value in fields.values()):
        raise MessageRejected("malformed", "signed content has wrong field types")
    if not (0 < expires_at - sent_at <= MAX_TTL) or len(fields["id"]) > 64:
        raise MessageRejected("malformed", "bad id or expiry")
    file = None
    if inner.get("kind", "text") == "file":
        try:
            file = FileManifest.from_fields(inner.get("file"))
        except BadManifest as exc:
            raise MessageRejected("malformed", f"file message: {exc}") from None
    elif inner.get("kind", "text") != "text":
        raise MessageRejected("unsupported", "a kind of message this version does not know")
    verified = trust in (Trust.NEW, Trust.PINNED, Trust.VERIFIED)
    return ChatMessage(sent_at=sent_at, expires_at=expires_at, verified=verified, trust=trust,
                       signer=signer, missing=missing, late=late, file=file, **fields)


def _crypto_reason(exc: CryptoError) -> str:
    if isinstance(exc, TooManyRecipients):
        return "too_many_recipients"
    if isinstance(exc, ReplayedMessage):
        return "replayed"
    if isinstance(exc, MessageKeyGone):  # sent before we were given the key, or too old
        return "key_gone"
    if isinstance(exc, UnknownSenderKey):
        return "unknown_sender_key"
    if isinstance(exc, BadSignature):
        return "bad_signature"
    if isinstance(exc, NotForMe):
        return "not_for_me"
    return "malformed"
