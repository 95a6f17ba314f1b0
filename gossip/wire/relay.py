"""The relay's signalling (gossip.relay), one WebSocket per participant: msgpack maps, decoded
once, bounded.

    client → relay  {"join": CALL, "user": USER, "sdp": OFFER, "token": TICKET}
    relay → client  {"answer": SDP}                 then, as people come and go,
    relay → client  {"slot": MID, "user": USER}     USER's frames now arrive on MID
    relay → client  {"slot": MID, "user": ""}       MID carries nobody now
    relay → client  {"refused": REASON}             and the relay closes the connection
    client → relay  {"want": "USER\nUSER"}           whose video to receive (its video slots)

An offer holds one audio section the client sends on, then one receive-only audio section
(a slot) per other participant it may hear, then optionally one video section it sends on
and receive-only video slots (at most MAX_WANTED). Video slots carry those the client asks
for in its last `want` (the last speakers it heard: the relay cannot tell, it has no key);
the relay applies at most a few wants a second, the latest one.

Slots are made up front, so nobody joining or leaving needs a renegotiation.

The ticket admits USER to CALL until a time: the hub makes it (in `gmp`, for each member) with
a secret it shares with the relay, so only those the hub put in the call can take a name in it
there (an outsider who knows the relay's address cannot push a member out by taking theirs).
It is a MAC over routing, not a media key: the relay still holds none.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import msgpack

MAX_MESSAGE_BYTES = 64 * 1024  # an SDP with a few dozen sections and every candidate
MAX_NAME_CHARS = 64
TICKET_SECONDS = 600.0  # a ticket admits for this long after the hub made it
RELAY_SECRET_BYTES = 32
MAX_WANTED = 9  # video slots a participant may have, so names a want may hold


class RelayProtocolError(Exception):
    """A relay message that is not one (wrong shape, too large)."""


@dataclass(frozen=True)
class Join:
    call: str
    user: str
    sdp: str
    token: str = ""


@dataclass(frozen=True)
class Answer:
    sdp: str


@dataclass(frozen=True)
class Slot:
    mid: str
    user: str  # "" when the slot is free again


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class Want:
    users: tuple[str, ...]  # whose video, most wanted first


RelayMessage = Join | Answer | Slot | Refused | Want


def encode(message: RelayMessage) -> bytes:
    if isinstance(message, Join):
        body = {
            "join": message.call,
            "user": message.user,
            "sdp": message.sdp,
            "token": message.token,
        }
    elif isinstance(message, Answer):
        body = {"answer": message.sdp}
    elif isinstance(message, Slot):
        body = {"slot": message.mid, "user": message.user}
    elif isinstance(message, Want):
        body = {"want": "\n".join(message.users)}
    else:
        body = {"refused": message.reason}
    return msgpack.packb(body, use_bin_type=True)  # type: ignore[no-any-return]


def decode(data: bytes | str) -> RelayMessage:
    if isinstance(data, str) or len(data) > MAX_MESSAGE_BYTES:
        raise RelayProtocolError("a relay message is binary msgpack of at most 64 KiB")
    try:
        body = msgpack.unpackb(data, raw=False, max_map_len=4, max_array_len=0, max_bin_len=0)
    except Exception:
        raise RelayProtocolError("not msgpack") from None
    if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
        raise RelayProtocolError("a relay message is a map of strings")
    if set(body) == {"join", "user", "sdp", "token"}:
        for name in (body["join"], body["user"]):
            if not 0 < len(name) <= MAX_NAME_CHARS:
                raise RelayProtocolError("call and user names are 1 to 64 characters")
        if len(body["token"]) > 128:
            raise RelayProtocolError("a ticket is short")
        return Join(body["join"], body["user"], body["sdp"], body["token"])
    if set(body) == {"answer"}:
        return Answer(body["answer"])
    if set(body) == {"slot", "user"}:
        return Slot(body["slot"], body["user"])
    if set(body) == {"want"}:
        users = tuple(body["want"].split("\n")) if body["want"] else ()
        if len(users) > MAX_WANTED or not all(0 < len(u) <= MAX_NAME_CHARS for u in users):
            raise RelayProtocolError(f"a want names at most {MAX_WANTED} users of 1 to 64 chars")
        return Want(users)
    if set(body) == {"refused"}:
        return Refused(body["refused"])
    raise RelayProtocolError(f"unknown relay message with keys {sorted(body)}")


def _mac(secret: bytes, call: str, user: str, expires: int) -> str:
    message = f"gossip relay ticket\n{call}\n{user}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def make_ticket(secret: bytes, call: str, user: str, now: float) -> str:
    """The hub's ticket admitting `user` to `call` on the relay for TICKET_SECONDS."""
    expires = int(now + TICKET_SECONDS)
    return f"{expires}.{_mac(secret, call, user, expires)}"


def ticket_admits(secret: bytes, ticket: str, call: str, user: str, now: float) -> bool:
    """Whether `ticket` was made with `secret` for this call and user and has not expired."""
    expires_text, _, mac = ticket.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    return expires >= now and hmac.compare_digest(mac, _mac(secret, call, user, expires))


def read_relay_secret(path: str) -> bytes:
    """The secret a relay and its hub share, from a file the relay made (hex)."""
    try:
        with open(path, encoding="ascii") as file:
            secret = bytes.fromhex(file.read().strip())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the relay secret in {path}: {exc}") from None
    if len(secret) != RELAY_SECRET_BYTES:
        raise ValueError(f"{path} does not hold a relay secret ({RELAY_SECRET_BYTES} bytes, hex)")
    return secret
