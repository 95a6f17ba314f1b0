"""OpenPGP identities: our own key pair (Identity) and other users' public keys (PublicKey).

A key from outside is checked once, in PublicKey.from_bytes, including the self-signatures PGPy
does not verify itself; everything else in gossip.crypto trusts a PublicKey it is handed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from nacl.signing import SigningKey

from gossip.crypto._files import create_exclusive, ensure_private_dir
from gossip.crypto._packets import PacketFramingError, Tag, tags
from gossip.crypto._pgpy import PGPUID, PGPDecryptionError, PGPKey, PGPSignature, constants
from gossip.crypto.edsig import ed25519_point
from gossip.crypto.errors import (
    IdentityMismatch,
    InvalidKey,
    InvalidUserName,
    KeyTooLarge,
    PassphraseRequired,
    StoreCorrupt,
    TooManySignatures,
    TooManySubkeys,
    TooManyUserIds,
    WrongPassphrase,
)
from gossip.crypto.keycache import KEY_CACHE, ValidatedKeyCache, key_digest

# Our keys (Ed25519 + Cv25519, one user id, one subkey, two signatures) are about 400 bytes.
# The caps leave headroom for a renamed or re-bound key, and bound what a hostile key costs
# before PGPy parses it: PGPy validates each user id and signature slowly (a 16 KiB key with
# 112 self-certified user ids took 1.2 s), and it is refused here from its framing alone.
MAX_PUBLIC_KEY_BYTES = 8 * 1024
MAX_USER_IDS = 4
MAX_SUBKEYS = 4
MAX_KEY_SIGNATURES = 16
IDENTITY_FILE = "identity.asc"
# The version of the rules below (_validate_public, the caps): raise it with any change to
# what is accepted, so verdicts a cluster keeps under the old rules are never read again
# (keyverdict.py).
VALIDATION_RULES = 1

STRONG_HASHES = frozenset(
    {
        constants.HashAlgorithm.SHA256,
        constants.HashAlgorithm.SHA384,
        constants.HashAlgorithm.SHA512,
    }
)
_CERTIFICATIONS = frozenset(
    {
        constants.SignatureType.Generic_Cert,
        constants.SignatureType.Persona_Cert,
        constants.SignatureType.Casual_Cert,
        constants.SignatureType.Positive_Cert,
    }
)
_ENCRYPTION_FLAGS = frozenset(
    {constants.KeyFlags.EncryptCommunications, constants.KeyFlags.EncryptStorage}
)
_ALLOWED_PUBLIC_TAGS = frozenset({Tag.PUBLIC_KEY, Tag.USER_ID, Tag.PUBLIC_SUBKEY, Tag.SIGNATURE})


def signer_keyid(sig: PGPSignature) -> str | None:
    """The 16-hex key id a signature claims to be from (Issuer, else Issuer Fingerprint)."""
    # PGPy raises (IndexError, ...) when the subpacket is absent instead of returning None.
    for claim in ("signer", "signer_fingerprint"):
        try:
            value = getattr(sig, claim)
        except (IndexError, KeyError, AttributeError, TypeError, ValueError):
            continue
        if value:
            return str(value).upper()[-16:]
    return None


def hashed_subpackets(sig: PGPSignature, name: str) -> list[object]:
    """Subpackets of one kind from the signed area only: unhashed ones can be forged by anyone."""
    return list(sig._signature.subpackets["h_" + name])


def _key_flags(sig: PGPSignature) -> set[constants.KeyFlags]:
    flags: set[constants.KeyFlags] = set()
    for subpacket in hashed_subpackets(sig, "KeyFlags"):
        flags |= set(subpacket.flags)  # type: ignore[attr-defined]
    return flags


def _expiry(created: datetime, sig: PGPSignature) -> datetime | None:
    """When the key (or subkey) created at `created` expires by sig, or None for never."""
    ends = [created + subpacket.expires  # type: ignore[attr-defined]
            for subpacket in hashed_subpackets(sig, "KeyExpirationTime")
            if subpacket.expires is not None  # type: ignore[attr-defined]
            and subpacket.expires.total_seconds() > 0]  # type: ignore[attr-defined]
    return min(ends, default=None)


def _expired(created: datetime, sig: PGPSignature, now: datetime) -> bool:
    end = _expiry(created, sig)
    return end is not None and end <= now


def _verifies(primary: PGPKey, keyid: str, subject: object, sig: PGPSignature) -> bool:
    """True if sig is a good signature by primary (itself, not a subkey, whose key id is
    `keyid`) over subject."""
    if signer_keyid(sig) != keyid:
        return False
    if sig.hash_algorithm not in STRONG_HASHES:
        return False
    try:
        return bool(primary.verify(subject, sig))
    except Exception:  # noqa: BLE001 - PGPy raises any type on hostile signatures: "not valid"
        return False


def _own_signatures(keyid: str, sigs: Iterable[PGPSignature]) -> list[PGPSignature]:
    return [sig for sig in sigs if signer_keyid(sig) == keyid]


def _check_all_verify(primary: PGPKey, keyid: str, subject: object,
                      sigs: list[PGPSignature], what: str) -> None:
    # A signature that claims to be the owner's but does not verify is forged; PGPy would still
    # use it to pick preferences and flags, so the whole key is refused.
    for sig in sigs:
        if not _verifies(primary, keyid, subject, sig):
            raise InvalidKey(f"a self-signature on the {what} does not verify")


def check_key_limits(data: bytes) -> list[int]:
    """The key's packet tags, once its size and counts are within our caps.

    Reads only packet headers (microseconds), so the hub and clients can refuse a bloated key
    before paying for PGPy. Raises KeyTooLarge, TooManyUserIds, TooManySignatures,
    TooManySubkeys (all KeyOverLimit, an InvalidKey) or InvalidKey for broken framing.
    """
    if len(data) > MAX_PUBLIC_KEY_BYTES:
        raise KeyTooLarge("bytes", len(data), MAX_PUBLIC_KEY_BYTES)
    try:
        packet_tags = tags(data)
    except PacketFramingError as error:
        raise InvalidKey(f"not a binary OpenPGP key: {error}") from error
    user_ids = packet_tags.count(Tag.USER_ID) + packet_tags.count(Tag.USER_ATTRIBUTE)
    if user_ids > MAX_USER_IDS:
        raise TooManyUserIds("user ids", user_ids, MAX_USER_IDS)
    subkeys = packet_tags.count(Tag.PUBLIC_SUBKEY) + packet_tags.count(Tag.SECRET_SUBKEY)
    if subkeys > MAX_SUBKEYS:
        raise TooManySubkeys("subkeys", subkeys, MAX_SUBKEYS)
    signatures = packet_tags.count(Tag.SIGNATURE)
    if signatures > MAX_KEY_SIGNATURES:
        raise TooManySignatures("signatures", signatures, MAX_KEY_SIGNATURES)
    return packet_tags


_Validated = tuple[PGPKey, str, tuple[PGPKey, ...], datetime | None]


def _parse_public(data: bytes, packet_tags: list[int]) -> _Validated:
    """Validate a key whose packet_tags passed check_key_limits."""
    if not packet_tags:
        raise InvalidKey("empty key")
    if Tag.SECRET_KEY in packet_tags or Tag.SECRET_SUBKEY in packet_tags:
        raise InvalidKey("this is a private key; only public keys may be shared")
    if packet_tags[0] != Tag.PUBLIC_KEY or packet_tags.count(Tag.PUBLIC_KEY) != 1:
        raise InvalidKey("expected exactly one transferable public key")
    unexpected = set(packet_tags) - _ALLOWED_PUBLIC_TAGS
    if unexpected:
        raise InvalidKey(f"unexpected OpenPGP packets in a public key: tags {sorted(unexpected)}")
    try:
        parsed = PGPKey.from_blob(bytes(data))
    except Exception as error:  # PGPy's parser raises anything from KeyError to struct.error.
        raise InvalidKey("public key is not parseable") from error
    key, loaded = parsed if isinstance(parsed, tuple) else (parsed, {})
    if any(other is not key for other in loaded.values()):
        raise InvalidKey("expected exactly one transferable public key")
    try:
        return _validate_public(key)
    except InvalidKey:
        raise
    except Exception as error:  # PGPy accessors raise on fields a hostile key left out.
        raise InvalidKey("public key is malformed") from error


def _validate_public(key: PGPKey) -> _Validated:
    if not key.is_public or not key.is_primary or key._key is None:
        raise InvalidKey("not a primary public key")
    if key.key_algorithm != constants.PubKeyAlgorithm.EdDSA:
        raise InvalidKey(f"primary key must be Ed25519, not {key.key_algorithm!r}")
    if key.key_size != constants.EllipticCurveOID.Ed25519:
        raise InvalidKey("primary key must be on curve Ed25519")
    # PGPy computes a fingerprint afresh (the key serialised, then SHA-1) at every access:
    # read once here, not at every signature (a tenth of a hub's login CPU went there).
    fingerprint = key.fingerprint
    if len(str(fingerprint)) != 40:
        raise InvalidKey("only version 4 keys are supported")
    keyid = fingerprint.keyid
    now = datetime.now(UTC)

    own = _own_signatures(keyid, key._signatures)
    _check_all_verify(key, keyid, key, own, "primary key")
    for sig in own:
        if sig.type == constants.SignatureType.KeyRevocation:
            raise InvalidKey("key has been revoked by its owner")

    uids = key.userids
    if not uids or key.userattributes:
        raise InvalidKey("key must have a user id (and no user attributes)")
    for uid in uids:
        self_sigs = _own_signatures(keyid, uid._signatures)
        _check_all_verify(key, keyid, uid, self_sigs, f"user id {uid.name!r}")
        if not any(sig.type in _CERTIFICATIONS for sig in self_sigs):
            raise InvalidKey(f"user id {uid.name!r} is not self-certified")
    first_certs = [sig for sig in _own_signatures(keyid, uids[0]._signatures)
                   if sig.type in _CERTIFICATIONS]
    newest = max(first_certs, key=lambda sig: sig.created)
    if constants.KeyFlags.Sign not in _key_flags(newest):
        raise InvalidKey("primary key is not marked for signing")
    if _expired(key.created, newest, now):
        raise InvalidKey("key has expired")
    valid_until = _expiry(key.created, newest)

    encryption_keys: list[PGPKey] = []
    for subkey in key.subkeys.values():
        # Signatures by the subkey itself (embedded primary-key bindings of signing subkeys)
        # are ignored: we only ever accept signatures made by the primary key.
        sigs = _own_signatures(keyid, subkey._signatures)
        if not sigs:
            raise InvalidKey("a subkey is not bound by the primary key")
        _check_all_verify(key, keyid, subkey, sigs, "subkey")
        if any(sig.type == constants.SignatureType.SubkeyRevocation for sig in sigs):
            continue
        bindings = [sig for sig in sigs if sig.type == constants.SignatureType.Subkey_Binding]
        if not bindings:
            raise InvalidKey("a subkey has no binding signature")
        binding = max(bindings, key=lambda sig: sig.created)
        if subkey.key_algorithm != constants.PubKeyAlgorithm.ECDH:
            continue
        if not _key_flags(binding) & _ENCRYPTION_FLAGS or _expired(subkey.created, binding, now):
            continue
        encryption_keys.append(subkey)
        subkey_end = _expiry(subkey.created, binding)
        if subkey_end is not None:
            valid_until = subkey_end if valid_until is None else min(valid_until, subkey_end)
    if not encryption_keys:
        raise InvalidKey("key has no usable ECDH encryption subkey")
    return key, uids[0].name, tuple(encryption_keys), valid_until


class PublicKey:
    """A validated OpenPGP public key: Ed25519 primary that signs, ECDH subkey(s) that encrypt."""

    __slots__ = ("_data", "_encryption_keyids", "_encryption_keys", "_fingerprint", "_key", "_user",
                 "_valid_until")

    def __init__(self, data: bytes, key: PGPKey, user: str, encryption_keys: tuple[PGPKey, ...],
                 valid_until: datetime | None = None):
        # Use from_bytes: this constructor trusts that its arguments were validated.
        self._data = data
        self._key = key
        self._user = user
        self._encryption_keys = encryption_keys
        self._valid_until = valid_until
        # PGPy recomputes a fingerprint (serialize + SHA-1) on every access; sealing to many
        # recipients would spend most of its time there.
        self._fingerprint = str(key.fingerprint)
        self._encryption_keyids = tuple(str(k.fingerprint.keyid) for k in encryption_keys)

    @classmethod
    def from_bytes(cls, data: bytes, *,
                   cache: ValidatedKeyCache | None = KEY_CACHE) -> PublicKey:
        """Decode and validate a binary transferable public key; raise InvalidKey otherwise.

        A key over our caps raises a KeyOverLimit subclass before anything is parsed. Bytes
        validated before are answered from `cache` (the process-wide one by default; None to
        always validate). Safe to call from worker threads; a first validation of an
        unknown key costs milliseconds, so never run it on an event loop an outsider can reach.
        """
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        packet_tags = check_key_limits(data)
        if cache is None:
            return cls(data, *_parse_public(data, packet_tags))
        digest = key_digest(data)
        now = datetime.now(UTC)
        known = cache.lookup(digest, now)
        if isinstance(known, str):
            raise InvalidKey(known)
        if known is not None:
            return known
        try:
            key, user, encryption_keys, valid_until = _parse_public(data, packet_tags)
        except InvalidKey as error:
            cache.refuse(digest, str(error))
            raise
        public = cls(data, key, user, encryption_keys, valid_until)
        cache.accept(digest, public, valid_until)
        return public

    def to_bytes(self) -> bytes:
        return self._data

    def armored(self) -> str:
        return str(self._key)

    @property
    def fingerprint(self) -> str:
        """The v4 fingerprint: 40 uppercase hex digits, no spaces."""
        return self._fingerprint

    @property
    def keyid(self) -> str:
        """The primary key's 16-hex key id (the fingerprint's last 16 digits)."""
        return self.fingerprint[-16:]

    @property
    def user(self) -> str:
        return self._user

    @property
    def valid_until(self) -> datetime | None:
        """When the key stops validating (the earliest expiry among the parts it relies on:
        the primary key, the encryption subkeys), None for never."""
        return self._valid_until

    @property
    def pgp_key(self) -> PGPKey:
        """The parsed PGPy key, for gossip.crypto's own use (sealing, verifying)."""
        return self._key

    @property
    def encryption_keys(self) -> tuple[PGPKey, ...]:
        """The validated encryption subkeys, first one preferred."""
        return self._encryption_keys

    @property
    def encryption_keyids(self) -> tuple[str, ...]:
        """16-hex key ids of encryption_keys, same order."""
        return self._encryption_keyids

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self._data == other._data

    def __hash__(self) -> int:
        return hash(self._data)

    def __repr__(self) -> str:
        return f"PublicKey(user={self._user!r}, fingerprint={self.fingerprint})"


def _ed25519_seed(private_key: PGPKey, public: PublicKey) -> bytes | None:
    """The seed PGPy keeps as the EdDSA secret `s`, if it is the one of the public point."""
    try:
        seed = int(private_key._key.keymaterial.s).to_bytes(32, "big")
        if SigningKey(seed).verify_key.encode() == ed25519_point(public.to_bytes()):
            return seed
    except Exception:  # noqa: BLE001 - any other shape: PGPy signs instead
        pass
    return None


def _new_key(user: str) -> PGPKey:
    key = PGPKey.new(constants.PubKeyAlgorithm.EdDSA, constants.EllipticCurveOID.Ed25519)
    key.add_uid(
        PGPUID.new(user),
        usage={constants.KeyFlags.Sign, constants.KeyFlags.Certify},
        hashes=[constants.HashAlgorithm.SHA256],
        ciphers=[constants.SymmetricKeyAlgorithm.AES256],
        compression=[constants.CompressionAlgorithm.Uncompressed],
    )
    subkey = PGPKey.new(constants.PubKeyAlgorithm.ECDH, constants.EllipticCurveOID.Curve25519)
    key.add_subkey(
        subkey,
        usage={constants.KeyFlags.EncryptCommunications, constants.KeyFlags.EncryptStorage},
    )
    return key


def _unlock(key: PGPKey, passphrase: str) -> None:
    # PGPy's unlock() is a context manager that clears the secret when the block ends; an
    # identity signs and decrypts for as long as it lives, so each part is unlocked in place
    # (the key still serializes in its protected form).
    try:
        for part in (key, *key.subkeys.values()):
            part._key.unprotect(passphrase)
    except PGPDecryptionError as error:
        raise WrongPassphrase("the passphrase does not unlock the identity key") from error
    except Exception as error:  # noqa: BLE001 - PGPy raises anything on a damaged secret
        raise InvalidKey("the protected identity key is damaged") from error


def _protected_copy(key: PGPKey, passphrase: str) -> str:
    copy = PGPKey.from_blob(str(key))
    copy = copy[0] if isinstance(copy, tuple) else copy
    copy.protect(passphrase, constants.SymmetricKeyAlgorithm.AES256,
                 constants.HashAlgorithm.SHA256)
    return str(copy)


class Identity:
    """Our own key pair: the private key that signs and decrypts, and its validated public half."""

    __slots__ = ("_decryption_keys", "_key", "_public", "_seed")

    def __init__(self, private_key: PGPKey) -> None:
        if private_key.is_public or not private_key.is_primary:
            raise InvalidKey("an identity needs a private primary key")
        if private_key.is_protected and not private_key.is_unlocked:
            raise PassphraseRequired("the identity key is protected by a passphrase")
        self._key = private_key
        self._public = PublicKey.from_bytes(bytes(private_key.pubkey))
        decryption_keys = []
        for keyid in self._public.encryption_keyids:
            subkey = private_key.subkeys.get(keyid)
            if subkey is None or subkey.is_public:
                raise InvalidKey("the identity lacks the private half of its encryption subkey")
            decryption_keys.append(subkey)
        self._decryption_keys = tuple(decryption_keys)
        self._seed = _ed25519_seed(private_key, self._public)

    @classmethod
    def generate(cls, user: str) -> Identity:
        """A fresh Ed25519 (sign, certify) + Cv25519 (encrypt) key with user id `user`."""
        if not user or user != user.strip() or any(not ch.isprintable() for ch in user):
            raise InvalidUserName(f"user name {user!r} is empty or has unprintable characters")
        identity = cls(_new_key(user))
        if identity.user != user:
            # PGPy splits "name (comment) <email>"; such names would not read back unchanged.
            raise InvalidUserName(f"user name {user!r} cannot be stored in an OpenPGP user id")
        return identity

    @classmethod
    def from_armored(cls, text: str, passphrase: str | None = None) -> Identity:
        """Load an armored private key, as written by armored_private().

        A passphrase-protected key needs its passphrase (PassphraseRequired without one,
        WrongPassphrase for another); it is unlocked in memory for the identity's lifetime.
        A passphrase given for an unprotected key is not needed and not checked: see
        `protected`.
        """
        try:
            parsed = PGPKey.from_blob(text)
        except Exception as error:
            raise InvalidKey("private key is not parseable") from error
        key = parsed[0] if isinstance(parsed, tuple) else parsed
        if not key.is_public and key.is_protected:
            if passphrase is None:
                raise PassphraseRequired("the identity key is protected by a passphrase; "
                                         "give it to unlock the key")
            _unlock(key, passphrase)
        return cls(key)

    def armored_private(self, passphrase: str | None = None) -> str:
        """The private key, armored; protected by passphrase if one is given (only for an
        identity not loaded protected: that one is written as it was loaded, protected)."""
        if passphrase is None or self._key.is_protected:
            return str(self._key)
        return _protected_copy(self._key, passphrase)

    @property
    def protected(self) -> bool:
        """True if the key was loaded from a passphrase-protected file."""
        return bool(self._key.is_protected)

    @classmethod
    def load_or_create(cls, profile_dir: Path, user: str,
                       passphrase: str | None = None) -> Identity:
        """The identity stored in profile_dir/identity.asc, generated and stored on first use.

        With a passphrase, a new identity is stored protected by it (off by default: bots
        start unattended). Raises IdentityMismatch if the stored identity belongs to another
        user name, PassphraseRequired or WrongPassphrase for a protected one, and StoreCorrupt
        if the file exists but holds no usable private key.
        """
        if passphrase is not None and not passphrase:
            raise ValueError("an empty passphrase protects nothing; pass None for none")
        ensure_private_dir(profile_dir)
        path = profile_dir / IDENTITY_FILE
        if not path.exists():
            identity = cls.generate(user)
            armored = identity.armored_private(passphrase)
            if create_exclusive(path, armored.encode("ascii")):
                return identity
            # Another process created it first: use theirs, never overwrite a key.
        try:
            text = path.read_text(encoding="ascii")
            identity = cls.from_armored(text, passphrase)
        except (PassphraseRequired, WrongPassphrase) as error:
            raise type(error)(f"{error} (identity in {path})") from error
        except (OSError, UnicodeDecodeError, InvalidKey) as error:
            raise StoreCorrupt(f"cannot read the identity in {path}: {error}") from error
        if identity.user != user:
            raise IdentityMismatch(
                f"The identity in {path} belongs to user {identity.user!r}, not {user!r}. "
                f"Log in as {identity.user!r}, or use another profile directory for {user!r}."
            )
        with contextlib.suppress(OSError):
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
        return identity

    @property
    def user(self) -> str:
        return self._public.user

    @property
    def fingerprint(self) -> str:
        return self._public.fingerprint

    @property
    def public(self) -> PublicKey:
        return self._public

    @property
    def pgp_key(self) -> PGPKey:
        """The private PGPy key, for gossip.crypto's own use (signing)."""
        return self._key

    @property
    def signing_seed(self) -> bytes | None:
        """The primary key's 32-byte Ed25519 seed (for edsig.py, which signs without PGPy),
        or None if PGPy holds it in a form we do not read."""
        return self._seed

    @property
    def decryption_keys(self) -> tuple[PGPKey, ...]:
        """Private halves of the public key's encryption subkeys, same order."""
        return self._decryption_keys

    def __repr__(self) -> str:
        return f"Identity(user={self.user!r}, fingerprint={self.fingerprint})"
