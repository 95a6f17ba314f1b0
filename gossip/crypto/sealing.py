"""Sign-then-encrypt for many recipients (seal / open_sealed) and detached signatures.

A sealed blob is a plain binary OpenPGP message: one PKESK per recipient, then one SEIPD holding
a one-pass-signed literal. Opening checks framing first, decrypts, then checks the signature
against the expected sender, so hostile input only ever raises a CryptoError subclass.
"""

from __future__ import annotations

from collections.abc import Sequence

from gossip.crypto._packets import PacketFramingError, Tag, tags, walk
from gossip.crypto._pgpy import (
    Fingerprint,
    IntegrityProtectedSKEDataV1,
    Packet,
    PGPMessage,
    PGPSignature,
    PKESessionKeyV3,
    constants,
)
from gossip.crypto.errors import BadSignature, MalformedMessage, NotForMe, TooManyRecipients
from gossip.crypto.identity import (
    STRONG_HASHES,
    Identity,
    PublicKey,
    hashed_subpackets,
    signer_keyid,
)

_CIPHER = constants.SymmetricKeyAlgorithm.AES256
# A hashed notation separates a sealed message's signature from a detached one (and detached
# ones of different purposes), so a signature made for one use never verifies for another.
CONTEXT_NOTATION = "context@gossip.invalid"
SEAL_CONTEXT = "seal"
DEFAULT_DETACHED_CONTEXT = "detached"

# Each recipient adds a 23-byte Intended Recipient subpacket to the signature's hashed area,
# whose length field is 16 bits; well below that, sealing cost (about 0.6 ms per recipient)
# says a larger audience wants the sender-keys scheme instead.
MAX_RECIPIENTS = 1000

_SEALED_INNER_TAGS = [Tag.ONE_PASS_SIGNATURE, Tag.LITERAL, Tag.SIGNATURE, Tag.MDC]


def _sign(signer: Identity, subject: object, context: str,
          recipients: Sequence[str]) -> PGPSignature:
    return signer.pgp_key.sign(
        subject,
        notation={CONTEXT_NOTATION: context},
        intended_recipients=[Fingerprint(fingerprint) for fingerprint in recipients],
    )


def seal(payload: bytes, signer: Identity, recipients: Sequence[PublicKey]) -> bytes:
    """Sign payload as signer, then encrypt it once (AES-256) to every recipient.

    The signature names every recipient (Intended Recipient subpackets), so a recipient cannot
    re-encrypt it to someone else and pass it off as sent to them. The signer is not added
    implicitly: include signer.public among recipients to be able to read it back.
    """
    if not isinstance(payload, (bytes, bytearray)):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    unique: dict[str, PublicKey] = {}
    for recipient in recipients:
        unique.setdefault(recipient.fingerprint, recipient)
    if not unique:
        raise ValueError("seal needs at least one recipient")
    if len(unique) > MAX_RECIPIENTS:
        raise ValueError(f"seal takes at most {MAX_RECIPIENTS} recipients, not {len(unique)}")

    message = PGPMessage.new(
        bytes(payload), format="b", compression=constants.CompressionAlgorithm.Uncompressed
    )
    message |= _sign(signer, message, SEAL_CONTEXT, list(unique))
    session_key = _CIPHER.gen_key()
    # Built packet by packet, as PGPKey.encrypt does, minus its per-call key-flag lookups and
    # fingerprint recomputations (half the cost of sealing to a large channel).
    sealed = PGPMessage()
    for recipient in unique.values():
        subkey = recipient.encryption_keys[0]
        session_packet = PKESessionKeyV3()
        session_packet.encrypter = bytearray(bytes.fromhex(recipient.encryption_keyids[0]))
        session_packet.pkalg = subkey.key_algorithm
        session_packet.encrypt_sk(subkey._key, _CIPHER, session_key)
        sealed |= session_packet
    encrypted = IntegrityProtectedSKEDataV1()
    encrypted.encrypt(session_key, _CIPHER, bytes(message))
    sealed |= encrypted
    return bytes(sealed)


def _decrypt(blob: bytes, recipient: Identity, max_recipients: int) -> bytes:
    """The plaintext packets inside blob (still framed), after the SEIPD integrity check."""
    try:
        headers = walk(blob)
    except PacketFramingError as error:
        raise MalformedMessage(f"not an OpenPGP message: {error}") from error
    if (
        len(headers) < 2
        or headers[-1].tag != Tag.SEIPD
        or any(header.tag != Tag.PKESK for header in headers[:-1])
    ):
        raise MalformedMessage("expected session keys followed by one integrity-protected packet")
    if len(headers) - 1 > max_recipients:
        raise TooManyRecipients(len(headers) - 1, max_recipients)

    # Only the session-key packets addressed to us are handed to PGPy's parser: a v3 PKESK
    # body starts with its version (3) and the recipient's 8-byte key id. An honest sealer
    # writes one per subkey, so only the first for each of our key ids is tried: a blob with
    # thousands addressed to us costs one public-key operation per key id, not thousands.
    ours = dict(zip(recipient.public.encryption_keyids, recipient.decryption_keys))
    addressed = []
    tried: set[str] = set()
    for header in headers[:-1]:
        body = blob[header.body_start : header.end]
        if len(body) < 10 or body[0] != 3:
            continue
        keyid = body[1:9].hex().upper()
        if keyid in ours and keyid not in tried:
            tried.add(keyid)
            addressed.append((blob[header.start : header.end], ours[keyid]))
    if not addressed:
        raise NotForMe("the message is not encrypted to this identity")
    session: tuple[constants.SymmetricKeyAlgorithm, bytes] | None = None
    for raw, key in addressed:
        try:
            packet = Packet(bytearray(raw))
            algorithm, session_key = packet.decrypt_sk(key._key)
        except Exception:  # noqa: BLE001, S112 - a hostile PKESK: try the next one addressed to us
            continue
        session = (algorithm, bytes(session_key))
        break
    if session is None:
        raise NotForMe("no session key addressed to this identity could be decrypted")
    algorithm, session_key = session
    if algorithm != _CIPHER:
        raise MalformedMessage(f"unexpected cipher {algorithm!r}")
    try:
        encrypted = Packet(bytearray(blob[headers[-1].start : headers[-1].end]))
    except Exception as error:  # PGPy's parser raises arbitrary types on garbage.
        raise MalformedMessage("not a parseable encrypted packet") from error
    if not isinstance(encrypted, IntegrityProtectedSKEDataV1):
        raise MalformedMessage("unsupported encrypted packet version")
    try:
        return bytes(encrypted.decrypt(session_key, algorithm))
    except Exception as error:
        raise MalformedMessage("integrity check failed: the message was altered") from error


def _check_signature(
    sig: PGPSignature, sender: PublicKey, context: str, subject: object
) -> None:
    try:
        signature_type = sig.type
        hash_algorithm = sig.hash_algorithm
        contexts = [
            sp.value for sp in hashed_subpackets(sig, "NotationData")  # type: ignore[attr-defined]
            if sp.name == CONTEXT_NOTATION  # type: ignore[attr-defined]
        ]
    except Exception as error:  # a signature packet PGPy parsed only in part
        raise BadSignature("not a usable signature") from error
    if signature_type != constants.SignatureType.BinaryDocument:
        raise BadSignature("unexpected signature type")
    if signer_keyid(sig) != sender.keyid:
        raise BadSignature(f"not signed by {sender.user!r} ({sender.fingerprint})")
    if hash_algorithm not in STRONG_HASHES:
        raise BadSignature("signature uses a weak hash")
    if contexts != [context]:
        raise BadSignature("signature was made for another purpose")
    try:
        valid = bool(sender.pgp_key.verify(subject, sig))
    except Exception as error:
        raise BadSignature("signature does not verify") from error
    if not valid:
        raise BadSignature("signature does not verify")


def open_sealed(blob: bytes, recipient: Identity, sender: PublicKey, *,
                max_recipients: int = MAX_RECIPIENTS) -> bytes:
    """Decrypt blob with recipient's key and return the payload signed by exactly sender.

    `max_recipients` bounds the session-key packets the blob may hold (callers pass the
    channel's member count plus some slack; 1 for a blob sealed to one peer): more raise
    TooManyRecipients before any public-key operation. At most one packet per key id of
    ours is tried. Raises NotForMe (no session key for us), MalformedMessage (garbage,
    altered ciphertext, unexpected structure, TooManyRecipients) or BadSignature (unsigned,
    other signer, invalid, or not addressed to recipient by the signer); never anything else
    for any bytes.
    """
    if not isinstance(blob, (bytes, bytearray)):
        raise TypeError(f"blob must be bytes, got {type(blob).__name__}")
    if max_recipients < 1:
        raise ValueError("max_recipients must be at least 1")
    plaintext = _decrypt(bytes(blob), recipient, max_recipients)
    try:
        inner_tags = tags(plaintext)
    except PacketFramingError as error:
        raise MalformedMessage(f"decrypted content is not OpenPGP: {error}") from error
    if inner_tags != _SEALED_INNER_TAGS:
        if Tag.SIGNATURE not in inner_tags and Tag.LITERAL in inner_tags:
            raise BadSignature("the message is not signed")
        raise MalformedMessage(f"unexpected packets inside the message: {inner_tags}")
    try:
        inner = PGPMessage()
        inner.parse(bytearray(plaintext))
        literal = inner._message
        signatures = list(inner.signatures)
        data = literal.contents
        literal_format = literal.format
    except Exception as error:
        raise MalformedMessage("decrypted content is not parseable") from error
    if literal_format != "b" or not isinstance(data, (bytes, bytearray)) or len(signatures) != 1:
        raise MalformedMessage("unexpected literal data")
    sig = signatures[0]
    _check_signature(sig, sender, SEAL_CONTEXT, bytes(data))
    # Read only after the signature verified, so these are the signer's own words.
    recipients = {
        str(sp.intended_recipient).upper()  # type: ignore[attr-defined]
        for sp in hashed_subpackets(sig, "IntendedRecipient")
    }
    if recipient.fingerprint not in recipients:
        raise BadSignature(f"{sender.user!r} did not address this message to {recipient.user!r}")
    return bytes(data)


def sign_detached(data: bytes, signer: Identity, *,
                  context: str = DEFAULT_DETACHED_CONTEXT) -> bytes:
    """A binary OpenPGP signature over data, bound to context (a short purpose label)."""
    if context == SEAL_CONTEXT:
        raise ValueError(f"context {SEAL_CONTEXT!r} is reserved for sealed messages")
    return bytes(_sign(signer, bytes(data), context, []))


def verify_detached(
    data: bytes, signature: bytes, signer: PublicKey, *, context: str = DEFAULT_DETACHED_CONTEXT
) -> None:
    """Check a signature from sign_detached (same context); raise BadSignature otherwise."""
    if context == SEAL_CONTEXT:
        raise ValueError(f"context {SEAL_CONTEXT!r} is reserved for sealed messages")
    if not isinstance(signature, (bytes, bytearray)):
        raise TypeError(f"signature must be bytes, got {type(signature).__name__}")
    try:
        if tags(signature) != [Tag.SIGNATURE]:
            raise BadSignature("expected exactly one signature packet")
        parsed = PGPSignature.from_blob(bytes(signature))
    except BadSignature:
        raise
    except Exception as error:
        raise BadSignature("not a parseable signature") from error
    _check_signature(parsed, signer, context, bytes(data))
