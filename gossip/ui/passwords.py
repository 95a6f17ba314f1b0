"""The app's remembered hub password, kept in the system keyring (Secret Service, macOS
Keychain, Windows Credential Locker, through the `keyring` package) and nowhere else.

Where no usable keyring exists (a headless machine: keyring's fail backend, or its chainer
with nothing to chain), remembering is refused with PasswordNotKept: the password is then
not written anywhere.
"""

from __future__ import annotations

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringError, PasswordDeleteError

SERVICE = "gossip"
NO_KEYRING = ("this computer has no system keyring (such as GNOME Keyring or KWallet) that "
              "Gossip can use")


class PasswordNotKept(Exception):
    """The keyring could not keep (or give back) the password; the message says why."""


def account(user: str, host: str, port: int) -> str:
    """The keyring's user name for one login: `user@host:port` (`user@[::1]:port`)."""
    where = f"[{host}]" if ":" in host else host
    return f"{user}@{where}:{port}"


def keyring_usable() -> bool:
    """Whether the keyring in use would really keep a password."""
    return _usable(keyring.get_keyring())


def _usable(backend: KeyringBackend) -> bool:
    # fail raises on every call, null and an empty chainer quietly keep nothing.
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return bool(backend.backends)
    return True


def keep(name: str, password: str) -> None:
    """Store `password` under the account `name`; PasswordNotKept if it was not kept."""
    if not keyring_usable():
        raise PasswordNotKept(NO_KEYRING)
    try:
        keyring.set_password(SERVICE, name, password)
        # Some backends decline quietly (a chainer whose members cannot write): read it back.
        kept = keyring.get_password(SERVICE, name) == password
    except KeyringError as exc:
        raise PasswordNotKept(f"the system keyring refused it ({exc})") from None
    if not kept:
        raise PasswordNotKept("the system keyring did not keep it")


def recall(name: str) -> str:
    """The password kept for `name` ("" if none); PasswordNotKept if the keyring cannot say."""
    if not keyring_usable():
        raise PasswordNotKept(NO_KEYRING)
    try:
        return keyring.get_password(SERVICE, name) or ""
    except KeyringError as exc:
        raise PasswordNotKept(f"the system keyring could not be read ({exc})") from None


def forget(name: str) -> None:
    """Remove the password kept for `name`, if any; PasswordNotKept if it may still be there."""
    if not keyring_usable():
        return  # nothing can have been kept there
    try:
        keyring.delete_password(SERVICE, name)
    except PasswordDeleteError:
        pass  # none was kept
    except KeyringError as exc:
        raise PasswordNotKept(f"the system keyring could not remove it ({exc})") from None
