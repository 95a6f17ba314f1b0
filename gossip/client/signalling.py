"""Call signalling payloads: an SDP offer or answer (or an ICE candidate), sealed to the one
peer it is for and signed by its sender.

The hub routes these by the clear `channel` and `peer` fields only. Inside the signed part
the same routing plus a time and a link id, so the hub can neither read, forge, redirect nor
replay an offer: and since the SDP carries the DTLS fingerprint, the media is bound to the
sender's identity key.

A link renegotiates in place (video on or off): re-offers keep the link id and carry a
higher `generation`, so a stale offer or answer from an earlier round is dropped. The
answerer's request for a re-offer ("renegotiate", no SDP) travels in an `ice` frame, and
so does a sender's frame key ("frame_key": key id and secret, hex; see gossip.crypto.frames),
sealed to each member that may open its media, and what a participant sends ("media_state":
muted or not, camera on or off; see MediaState), so a peer's tile shows their initials rather
than the black a stopped camera sends, and their row says they muted themselves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import msgpack

from gossip.crypto import (
    CryptoError,
    Identity,
    PublicKey,
    TooManyRecipients,
    open_sealed,
    seal,
)

from .errors import SignalRejected

SIGNAL_WINDOW = 120.0  # seconds an offer or answer stays valid (clock skew + set-up time)
# A signal is sealed to one peer: one session-key packet, and an SDP (a few KiB with video
# and every candidate). Larger blobs are refused before any crypto work.
MAX_SIGNAL_BYTES = 64 * 1024
KINDS = ("offer", "answer", "ice", "renegotiate", "frame_key", "media_state")
# The wire command that carries each kind (the hub relays all of them blind).
CARRIER = {"offer": "offer", "answer": "answer", "ice": "ice", "renegotiate": "ice",
           "frame_key": "ice", "media_state": "ice"}
# "media_state" bits: what the sender sends now (its own word: the audio itself is the truth).
MEDIA_MUTED = 1
MEDIA_CAMERA_ON = 2
MEDIA_STATE_BITS = MEDIA_MUTED | MEDIA_CAMERA_ON


@dataclass(frozen=True)
class SignalPayload:
    kind: str
    channel: str
    sender: str
    recipient: str
    link_id: str  # one negotiation attempt: an answer names the offer it answers
    sdp: str
    sent_at: float
    generation: int = 0  # 0 for the first offer of a link id, +1 for each re-offer
    frame_key: str = ""  # "frame_key" only: the sender's FrameKey.to_bytes(), hex
    media_state: int = 0  # "media_state" only: MEDIA_MUTED | MEDIA_CAMERA_ON


def new_link_id() -> str:
    return os.urandom(8).hex()


def seal_signal(payload: SignalPayload, identity: Identity, peer_key: PublicKey) -> bytes:
    body = msgpack.packb({
        "kind": payload.kind, "channel": payload.channel, "sender": payload.sender,
        "recipient": payload.recipient, "link_id": payload.link_id, "sdp": payload.sdp,
        "sent_at": payload.sent_at, "generation": payload.generation,
        "frame_key": payload.frame_key, "media_state": payload.media_state},
        use_bin_type=True)
    return seal(body, identity, [peer_key])


def open_signal(blob: bytes, identity: Identity, sender_key: PublicKey, *, kind: str,
                channel: str, sender: str, now: float) -> SignalPayload:
    """Open and check a relayed signal against its routing fields (raises SignalRejected).
    It is sealed to us alone: a blob with more than one session-key packet, or over
    MAX_SIGNAL_BYTES, costs no public-key operation."""
    if len(blob) > MAX_SIGNAL_BYTES:
        raise SignalRejected("too_large", f"{len(blob)} bytes, more than a signal may have")
    try:
        body = msgpack.unpackb(open_sealed(blob, identity, sender_key, max_recipients=1),
                               raw=False, max_bin_len=0, max_array_len=0, max_map_len=16,
                               max_ext_len=0)
        payload = SignalPayload(**{key: body[key] for key in (
            "kind", "channel", "sender", "recipient", "link_id", "sdp", "sent_at")},
                                generation=body.get("generation", 0),
                                frame_key=body.get("frame_key", ""),
                                media_state=body.get("media_state", 0))
    except TooManyRecipients as exc:
        raise SignalRejected("too_many_recipients", str(exc)) from None
    except CryptoError as exc:
        raise SignalRejected("bad_signature", str(exc)) from None
    except Exception:
        raise SignalRejected("malformed", "not a signalling payload") from None
    if not all(isinstance(value, str) for value in (payload.kind, payload.channel,
                                                    payload.sender, payload.recipient,
                                                    payload.link_id, payload.sdp,
                                                    payload.frame_key)):
        raise SignalRejected("malformed", "wrong field types")
    if not isinstance(payload.generation, int) or isinstance(payload.generation, bool) \
            or payload.generation < 0:
        raise SignalRejected("malformed", "bad generation")
    if not isinstance(payload.media_state, int) or isinstance(payload.media_state, bool) \
            or payload.media_state & ~MEDIA_STATE_BITS or payload.media_state < 0:
        raise SignalRejected("malformed", "bad media state")
    if (CARRIER.get(payload.kind), payload.channel, payload.sender) != (kind, channel, sender):
        raise SignalRejected("misrouted", "the signed routing differs from the hub's")
    if payload.recipient != identity.user:
        raise SignalRejected("misrouted", f"sealed for {payload.recipient}, not for us")
    if not isinstance(payload.sent_at, (int, float)) or abs(now - payload.sent_at) > SIGNAL_WINDOW:
        raise SignalRejected("stale", "too old or from the future (replayed?)")
    return payload
