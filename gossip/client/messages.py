"""Chat messages: what the sender seals and what a receiver must check before showing one.

Channel messages use sender keys (scheme "sk1", as in Signal's groups and Megolm): each sender
hands every member a per-channel chain key once, PGP-sealed and signed ("skd1"), then
encrypts each message with a key from a hash ratchet and signs it with that epoch's signing
key. A message costs the same whatever the channel's size, and used keys are deleted. Inside
the encrypted part: id, channel, sender and times, so the hub can neither move a message to
another channel, pass it off as someone else's, nor re-time it. The older scheme "pgp1"
(PGP-sealed to every member) is still understood.

A message has a kind, sealed and signed with the rest: text, or a reply, an edit or a
reaction naming another message by its id (`ref`). The hub sees none of it.
"""

from __future__ import annotations

import enum
import os
import re
import unicodedata
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
# A reaction is one emoji (a few code points with modifiers and joiners); empty takes it back.
MAX_REACTION_CHARS = 16
MESSAGE_ID_CHARS = 64  # the longest id a receiver takes (ours are 32 hex digits)


class MessageKind(enum.Enum):
    """What a message is, inside what the sender signs. Every kind but TEXT names another
    message (`ref`): a reply quotes it, an edit replaces its text (its author's only) and a
    reaction puts an emoji under it (one per member; the latest counts)."""

    TEXT = "text"
    REPLY = "reply"
    EDIT = "edit"
    REACTION = "reaction"
    FILE = "file"  # a file's manifest (gossip/client/files.py); names no other message

    @property
    def refers(self) -> bool:
        return self in (MessageKind.REPLY, MessageKind.EDIT, MessageKind.REACTION)


# The kinds a reply, edit or reaction may name: what is shown as a message of its own.
SHOWN_KINDS = frozenset({MessageKind.TEXT, MessageKind.REPLY, MessageKind.FILE})

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
    # Signed with the rest: what the message is, and the id of the message it names.
    kind: MessageKind = MessageKind.TEXT
    ref: str = ""
    # A file message (kind FILE): the manifest to fetch, check and open the file, signed and
    # sealed with the rest; `text` then describes it for clients without files.
    file: FileManifest | None = None

    def as_json(self) -> dict[str, Any]:
        shown = {"id": self.id, "channel": self.channel, "sender": self.sender,
                 "text": self.text, "sent_at": self.sent_at, "expires_at": self.expires_at,
                 "verified": self.verified, "trust": self.trust.value, "signer": self.signer,
                 "missing": self.missing, "late": self.late, "kind": self.kind.value}
        if self.kind is MessageKind.REPLY:
            shown["reply_to"] = self.ref
        elif self.kind is MessageKind.EDIT:
            shown["edits"] = self.ref
        elif self.kind is MessageKind.REACTION:
            shown["reacts_to"] = self.ref
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
    fields: dict[str, Any] = {"id": message.id, "channel": message.channel,
                              "sender": message.sender, "sent_at": message.sent_at,
                              "expires_at": message.expires_at, "text": message.text}
    if message.kind.refers:  # a plain message stays as older clients wrote it
        fields.update(kind=message.kind.value, ref=message.ref)
    elif message.file is not None:
        fields.update(kind=MessageKind.FILE.value, file=message.file.as_fields())
    return msgpack.packb(fields, use_bin_type=True)


def _outer(scheme: str, data: bytes) -> bytes:
    return msgpack.packb({"scheme": scheme, "data": data}, use_bin_type=True)


def _associated(sender: str, channel: str) -> bytes:
    """The routing a sender-key message is bound to (besides the copy inside)."""
    return msgpack.packb([sender, channel], use_bin_type=True)


def new_chat(identity: Identity, *, channel: str, text: str, ttl: float, now: float,
             message_id: str | None = None, kind: MessageKind = MessageKind.TEXT,
             ref: str = "", expires_at: float | None = None,
             file: FileManifest | None = None) -> ChatMessage:
    """A message of ours. `expires_at` (an edit's or a reaction's: its original's) wins over
    `ttl` when given. A message with a `file` is of kind FILE."""
    if file is not None:
        kind = MessageKind.FILE
    check_text(kind, text)
    if kind.refers and not valid_id(ref):
        raise ValueError('name the message by its id (the "id" `gossip-cli listen --json` prints)')
    return ChatMessage(id=message_id or new_message_id(), channel=channel,
                       sender=identity.user, text=text, sent_at=now,
                       expires_at=now + check_ttl(ttl) if expires_at is None else expires_at,
                       verified=True, trust=Trust.VERIFIED, signer=identity.fingerprint,
                       kind=kind, ref=ref if kind.refers else "", file=file)


def check_text(kind: MessageKind, text: str) -> None:
    """Refuse a text the kind cannot carry (ValueError, in words for the user)."""
    if kind is MessageKind.REACTION:
        if len(text) > MAX_REACTION_CHARS or not all(map(_emoji_part, text)):
            raise ValueError(f"a reaction is one emoji (at most {MAX_REACTION_CHARS} "
                             "characters, no letters, spaces or control characters)")
        return
    if not text.strip():
        raise ValueError("the message is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"the message is longer than {MAX_TEXT_CHARS} characters")


# What an emoji sequence is made of besides symbols: the joiner and variation selectors (a
# keycap is a digit, # or * with U+20E3, a flag two regional indicators).
_EMOJI_JOINERS = frozenset("\u200d\ufe0e\ufe0f")


def _emoji_part(char: str) -> bool:
    """A character a reaction may hold: no letters (a reaction is no message), no spaces, no
    control or format characters (bidi overrides) but the emoji joiners."""
    category = unicodedata.category(char)
    if char in _EMOJI_JOINERS:
        return True
    return not category.startswith(("L", "C", "Z"))


_MESSAGE_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MESSAGE_ID_CHARS}}}")


def valid_id(message_id: str) -> bool:
    """Whether `message_id` can name a message (ours are 32 hex digits)."""
    return _MESSAGE_ID.fullmatch(message_id) is not None


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
        kind_name, ref = inner.get("kind", MessageKind.TEXT.value), inner.get("ref", "")
    except Exception:
        raise MessageRejected("malformed", "signed content is missing fields") from None
    if not all(isinstance(value, str) for value in (*fields.values(), kind_name, ref)):
        raise MessageRejected("malformed", "signed content has wrong field types")
    if not (0 < expires_at - sent_at <= MAX_TTL) or len(fields["id"]) > MESSAGE_ID_CHARS:
        raise MessageRejected("malformed", "bad id or expiry")
    try:
        kind = MessageKind(kind_name)
    except ValueError:
        raise MessageRejected("unsupported", f"unknown kind {kind_name[:16]!r} (a newer "
                                             "Gossip?)") from None
    if kind.refers != valid_id(ref):
        raise MessageRejected("malformed", "bad reference to another message")
    if kind is MessageKind.REACTION:
        try:
            check_text(kind, fields["text"])
        except ValueError as exc:
            raise MessageRejected("malformed", str(exc)) from None
    file = None
    if kind is MessageKind.FILE:
        try:
            file = FileManifest.from_fields(inner.get("file"))
        except BadManifest as exc:
            raise MessageRejected("malformed", f"file message: {exc}") from None
    verified = trust in (Trust.NEW, Trust.PINNED, Trust.VERIFIED)
    return ChatMessage(sent_at=sent_at, expires_at=expires_at, verified=verified, trust=trust,
                       signer=signer, missing=missing, late=late, kind=kind, ref=ref,
                       file=file,
                       **fields)


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
