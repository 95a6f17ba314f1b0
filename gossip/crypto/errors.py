"""The exceptions gossip.crypto raises for our own failures.

Every failure caused by hostile or corrupt input is a subclass of CryptoError, so callers at the
edge can catch one class; programming mistakes (wrong types, empty recipient lists) stay ValueError.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base class of every gossip.crypto failure."""


class InvalidKey(CryptoError):
    """A public key is unparseable, private, too large, or lacks the parts we require."""


class KeyOverLimit(InvalidKey):
    """A public key is refused unparsed: it is larger, or has more parts, than any of ours.

    Checked on the packet framing alone, so a bloated key costs almost nothing to refuse.
    """

    def __init__(self, what: str, count: int, limit: int) -> None:
        self.what = what
        self.count = count
        self.limit = limit
        super().__init__(f"public key has {count} {what}; the limit is {limit}")


class KeyTooLarge(KeyOverLimit):
    """The key's bytes exceed MAX_PUBLIC_KEY_BYTES."""


class TooManyUserIds(KeyOverLimit):
    """The key has more user ids (or user attributes) than MAX_USER_IDS."""


class TooManySignatures(KeyOverLimit):
    """The key carries more signature packets than MAX_KEY_SIGNATURES."""


class TooManySubkeys(KeyOverLimit):
    """The key has more subkeys than MAX_SUBKEYS."""


class PassphraseRequired(CryptoError):
    """The stored identity is protected by a passphrase and none was given."""


class WrongPassphrase(CryptoError):
    """The passphrase given does not unlock the stored identity."""


class InvalidUserName(CryptoError, ValueError):
    """A user name cannot be stored in an OpenPGP user id and read back unchanged."""


class IdentityMismatch(CryptoError):
    """The stored identity belongs to another user name than the one asked for."""


class StoreCorrupt(CryptoError):
    """A file we own (identity, pins, known hubs) exists but cannot be read back."""


class NotForMe(CryptoError):
    """A sealed message has no session key that our key can decrypt."""


class BadSignature(CryptoError):
    """A message or detached signature is unsigned, signed by another key, or invalid."""


class MalformedMessage(CryptoError):
    """Bytes that should be an OpenPGP message are not one we accept (or fail integrity)."""


class TooManyRecipients(MalformedMessage):
    """A sealed message has more session-key packets than the caller's bound allows.

    Refused before any public-key operation: a member cannot make us try thousands of them.
    """

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        super().__init__(f"sealed message has {count} session keys; at most {limit} expected")


class InvalidFingerprint(CryptoError, ValueError):
    """A fingerprint string is not in any format we understand."""


class NothingToAccept(CryptoError):
    """accept() was called for a user whose key has not changed."""


class PinMismatch(CryptoError):
    """A fingerprint offered for verification is not the pinned one."""


class AuthenticationFailed(CryptoError):
    """The password exchange failed: wrong password, other hub certificate, or garbage."""


class PakeStateError(CryptoError):
    """A PAKE step was called out of order or twice."""


class HubCertificateError(CryptoError):
    """The hub's certificate or key on disk is missing a half or does not match."""


class HubKeyChanged(CryptoError):
    """A hub shows another certificate than the one pinned for its address."""

    def __init__(self, host: str, port: int, pinned: str, offered: str, how_to_accept: str) -> None:
        self.host = host
        self.port = port
        self.pinned = pinned
        self.offered = offered
        super().__init__(
            f"The certificate of hub {host} port {port} has CHANGED.\n"
            f"  pinned:  {pinned}\n"
            f"  offered: {offered}\n"
            "Someone may be intercepting the connection, or the hub's operator made a new "
            "certificate. Check the new fingerprint with the operator over another channel; "
            f"only then accept it: {how_to_accept}"
        )
