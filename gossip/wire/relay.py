"""The relay's signalling (gossip.relay), one WebSocket per participant: msgpack maps, decoded
once, bounded.

    client → relay  {"join": CALL, "user": USER, "sdp": OFFER}
    relay → client  {"answer": SDP}                 then, as people come and go,
    relay → client  {"slot": MID, "user": USER}     USER's frames now arrive on MID
    relay → client  {"slot": MID, "user": ""}       MID carries nobody now
    relay → client  {"refused": REASON}             and the relay closes the connection

An offer holds one audio section the client sends on, then one receive-only audio section
(a slot) per other participant it may hear: slots are made up front, so nobody joining or
leaving needs a renegotiation.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

MAX_MESSAGE_BYTES = 64 * 1024  # an SDP with a few dozen sections and every candidate
MAX_NAME_CHARS = 64


class RelayProtocolError(Exception):
    """A relay message that is not one (wrong shape, too large)."""


@dataclass(frozen=True)
class Join:
    call: str
    user: str
    sdp: str


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


RelayMessage = Join | Answer | Slot | Refused


def encode(message: RelayMessage) -> bytes:
    if isinstance(message, Join):
        body = {"join": message.call, "user": message.user, "sdp": message.sdp}
    elif isinstance(message, Answer):
        body = {"answer": message.sdp}
    elif isinstance(message, Slot):
        body = {"slot": message.mid, "user": message.user}
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
    if set(body) == {"join", "user", "sdp"}:
        for name in (body["join"], body["user"]):
            if not 0 < len(name) <= MAX_NAME_CHARS:
                raise RelayProtocolError("call and user names are 1 to 64 characters")
        return Join(body["join"], body["user"], body["sdp"])
    if set(body) == {"answer"}:
        return Answer(body["answer"])
    if set(body) == {"slot", "user"}:
        return Slot(body["slot"], body["user"])
    if set(body) == {"refused"}:
        return Refused(body["refused"])
    raise RelayProtocolError(f"unknown relay message with keys {sorted(body)}")
