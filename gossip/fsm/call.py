"""Calls: a member's place in a channel's call (both sides), and one peer-to-peer media link.

The hub only sees who is in which call; offers, answers and candidates travel sealed from
peer to peer, so the peer-link machine has no hub side. The lower key fingerprint offers
(decided by the actor when it starts a link), so two peers never offer at once; re-offers on
a connected link come from that same peer only (the other asks for one).
"""

from __future__ import annotations

from enum import StrEnum

from statemachine import State

from gossip.wire import Command

from .base import ProtocolMachine


class ClientCallPhase(StrEnum):
    """Where the client is in one channel's call."""

    IDLE = "idle"
    JOINING = "joining"
    IN_CALL = "in_call"
    LEAVING = "leaving"
    LEFT = "left"
    REFUSED = "refused"


class ClientCall(ProtocolMachine[ClientCallPhase]):
    Phase = ClientCallPhase
    purpose = "Client side of one channel's call: join, follow who is in it, leave."
    wire_events = {
        "call_members": Command.CALL_MEMBERS.value,
        "error": Command.ERROR.value,
        "hang_up": Command.HANG_UP.value,
    }
    resting = frozenset({"in_call"})
    rejects = {
        "idle": {"call_members", "error", "hang_up", "leave"},
        "joining": {"join", "hang_up"},
        "in_call": {"join", "error"},
        "leaving": {"join", "leave"},
    }

    idle = State(initial=True)
    joining = State()
    in_call = State()
    leaving = State()
    left = State(final=True)
    refused = State(final=True)

    join = idle.to(joining, on="ask_to_join")
    call_members = (
        joining.to(in_call, on="take_members")
        | in_call.to.itself(internal=True, on="take_members")
        # A roster the hub sent before it saw our hang-up: nothing to do any more.
        | leaving.to.itself(internal=True)
    )
    # A refusal can cross our hang-up on the wire (the audit found this one): we are out.
    error = joining.to(refused, on="refusal") | leaving.to(left)
    leave = joining.to(leaving, on="hang_up_now") | in_call.to(leaving, on="hang_up_now")
    hang_up = leaving.to(left, on="gone") | in_call.to(left, on="dropped")
    disconnected = idle.to(left) | joining.to(left) | in_call.to(left) | leaving.to(left)

    def ask_to_join(self) -> None:
        self.send_frame(Command.START_CALL)

    def take_members(self) -> None:
        self.report("members")

    def refusal(self) -> None:
        self.report("refused")

    def hang_up_now(self) -> None:
        self.send_frame(Command.HANG_UP)

    def gone(self) -> None:
        self.report("left")

    def dropped(self) -> None:
        self.report("dropped")


class HubCallPhase(StrEnum):
    """Where one member is, seen by the hub, in one channel's call."""

    OUTSIDE = "outside"
    IN_CALL = "in_call"
    ENDED = "ended"
    REFUSED = "refused"


class HubCall(ProtocolMachine[HubCallPhase]):
    Phase = HubCallPhase
    purpose = "Hub side of one member in a channel's call: admit, relay sealed signals, let go."
    wire_events = {
        "start_call": Command.START_CALL.value,
        "offer": Command.OFFER.value,
        "answer": Command.ANSWER.value,
        "ice": Command.ICE.value,
        "hang_up": Command.HANG_UP.value,
    }
    resting = frozenset({"in_call"})
    rejects = {
        "outside": {"offer", "answer", "ice", "hang_up", "members_changed"},
        "in_call": {"start_call"},
    }

    outside = State(initial=True)
    in_call = State()
    ended = State(final=True)
    refused = State(final=True)

    start_call = (
        outside.to(in_call, cond="has_room", on="admit")
        | outside.to(refused, unless="has_room", on="full")
    )
    offer = in_call.to.itself(internal=True, on="relay")
    answer = in_call.to.itself(internal=True, on="relay")
    ice = in_call.to.itself(internal=True, on="relay")
    members_changed = in_call.to.itself(internal=True, on="send_members")
    hang_up = in_call.to(ended, on="release")
    disconnected = outside.to(ended) | in_call.to(ended, on="vanish")

    def has_room(self, room: bool = False) -> bool:
        return room

    def admit(self) -> None:
        self.send_frame(Command.CALL_MEMBERS)
        self.report("joined")

    def full(self) -> None:
        self.send_frame(Command.ERROR)

    def relay(self) -> None:
        self.report("relay")

    def send_members(self) -> None:
        self.send_frame(Command.CALL_MEMBERS)

    def release(self) -> None:
        self.send_frame(Command.HANG_UP)
        self.report("left")

    def vanish(self) -> None:
        self.report("left")


_PEER_LINK_EVENTS = frozenset({
    "start_offering", "start_answering", "offer_ready", "offer", "answer_ready", "answer",
    "ice", "transport_up", "transport_failed", "timeout", "close", "disconnected",
    "renegotiate", "request_offer"})
_ENDINGS = frozenset({"transport_failed", "close", "disconnected"})


def _except(*handled: str) -> frozenset[str]:
    """What a PeerLink state rejects: every event but the ones it handles (and the endings)."""
    return _PEER_LINK_EVENTS - _ENDINGS - set(handled)


class PeerLinkPhase(StrEnum):
    """Where one peer-to-peer media link is."""

    NEW = "new"
    MAKING_OFFER = "making_offer"
    AWAITING_ANSWER = "awaiting_answer"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    MAKING_REOFFER = "making_reoffer"
    AWAITING_REANSWER = "awaiting_reanswer"
    AWAITING_OFFER = "awaiting_offer"
    MAKING_ANSWER = "making_answer"
    ANSWER_CONNECTING = "answer_connecting"
    REOFFER_HELD = "reoffer_held"
    ANSWER_CONNECTED = "answer_connected"
    MAKING_REANSWER = "making_reanswer"
    FAILED = "failed"
    CLOSED = "closed"


class PeerLink(ProtocolMachine[PeerLinkPhase]):
    """The offerer's path: making_offer, awaiting_answer, connecting, connected; the
    answerer's: awaiting_offer, making_answer, answer_connecting, answer_connected. Roles
    stay apart once connected because only the first offerer ever offers again (no glare):
    from `connected` it re-offers on the same connection (`renegotiate`: video turned on or
    off) and waits for the re-answer; the answerer, to change what it sends, asks for a
    re-offer (`request_offer`, sealed and relayed like a candidate). A re-offer or re-answer
    whose signed DTLS fingerprints differ from the verified ones fails the link. A re-offer
    that arrives before the answerer's own transport is up is held and answered once it is.
    """

    Phase = PeerLinkPhase
    purpose = ("One peer-to-peer media link: offer/answer, DTLS identity check, up, "
               "re-offers from the first offerer, failed.")
    wire_events = {
        "offer": Command.OFFER.value,
        "answer": Command.ANSWER.value,
        "ice": Command.ICE.value,
    }
    resting = frozenset({"connected", "answer_connected"})
    rejects = {
        "new": _except("start_offering", "start_answering") | {"transport_failed"},
        "making_offer": _except("offer_ready", "timeout"),
        "awaiting_answer": _except("answer", "ice", "timeout"),
        "connecting": _except("transport_up", "ice", "timeout"),
        "connected": _except("renegotiate", "ice"),
        "making_reoffer": _except("offer_ready", "ice", "timeout"),
        "awaiting_reanswer": _except("answer", "ice", "timeout"),
        "awaiting_offer": _except("offer", "timeout"),
        "making_answer": _except("answer_ready", "ice", "timeout"),
        "answer_connecting": _except("transport_up", "offer", "ice", "timeout"),
        "reoffer_held": _except("transport_up", "offer", "ice", "timeout"),
        "answer_connected": _except("offer", "request_offer", "ice"),
        "making_reanswer": _except("answer_ready", "ice", "timeout"),
    }

    new = State(initial=True)
    making_offer = State()
    awaiting_answer = State()
    connecting = State()
    connected = State()
    making_reoffer = State()
    awaiting_reanswer = State()
    awaiting_offer = State()
    making_answer = State()
    answer_connecting = State()
    reoffer_held = State()
    answer_connected = State()
    making_reanswer = State()
    failed = State(final=True)
    closed = State(final=True)

    # The actor decides the role: the peer whose key fingerprint sorts lower offers.
    start_offering = new.to(making_offer, on="make_offer")
    start_answering = new.to(awaiting_offer)
    offer_ready = (
        making_offer.to(awaiting_answer, on="send_offer")
        | making_reoffer.to(awaiting_reanswer, on="send_offer")
    )
    # A re-offer (`matches`: its signed fingerprints are the verified ones) is answered in
    # place; one that comes before our transport is up waits for it (the newest wins).
    offer = (
        awaiting_offer.to(making_answer, on="make_answer")
        | answer_connected.to(making_reanswer, cond="fingerprint_matches", on="make_answer")
        | answer_connecting.to(reoffer_held, cond="fingerprint_matches", on="defer_offer")
        | reoffer_held.to.itself(internal=True, cond="fingerprint_matches", on="defer_offer")
        | answer_connected.to(failed, unless="fingerprint_matches", on="impostor")
        | answer_connecting.to(failed, unless="fingerprint_matches", on="impostor")
        | reoffer_held.to(failed, unless="fingerprint_matches", on="impostor")
    )
    answer_ready = (
        making_answer.to(answer_connecting, on="send_answer")
        | making_reanswer.to(answer_connected, on="send_answer")
    )
    answer = (
        awaiting_answer.to(connecting, on="apply_answer")
        | awaiting_reanswer.to(connected, cond="fingerprint_matches", on="apply_answer")
        | awaiting_reanswer.to(failed, unless="fingerprint_matches", on="impostor")
    )
    # Candidates are in the SDP once gathering completes; late ones may still trickle in.
    ice = (
        awaiting_answer.to.itself(internal=True, on="add_candidate")
        | making_answer.to.itself(internal=True, on="add_candidate")
        | connecting.to.itself(internal=True, on="add_candidate")
        | connected.to.itself(internal=True, on="add_candidate")
        | making_reoffer.to.itself(internal=True, on="add_candidate")
        | awaiting_reanswer.to.itself(internal=True, on="add_candidate")
        | answer_connecting.to.itself(internal=True, on="add_candidate")
        | reoffer_held.to.itself(internal=True, on="add_candidate")
        | answer_connected.to.itself(internal=True, on="add_candidate")
        | making_reanswer.to.itself(internal=True, on="add_candidate")
    )
    transport_up = (
        connecting.to(connected, cond="fingerprint_matches", on="up")
        | answer_connecting.to(answer_connected, cond="fingerprint_matches", on="up")
        | reoffer_held.to(making_reanswer, cond="fingerprint_matches", on="up_and_answer")
        | connecting.to(failed, unless="fingerprint_matches", on="impostor")
        | answer_connecting.to(failed, unless="fingerprint_matches", on="impostor")
        | reoffer_held.to(failed, unless="fingerprint_matches", on="impostor")
    )
    renegotiate = connected.to(making_reoffer, on="make_offer")
    request_offer = answer_connected.to.itself(internal=True, on="ask_for_offer")
    transport_failed = (
        making_offer.to(failed, on="give_up") | awaiting_answer.to(failed, on="give_up")
        | connecting.to(failed, on="give_up") | connected.to(failed, on="give_up")
        | making_reoffer.to(failed, on="give_up") | awaiting_reanswer.to(failed, on="give_up")
        | awaiting_offer.to(failed, on="give_up") | making_answer.to(failed, on="give_up")
        | answer_connecting.to(failed, on="give_up") | reoffer_held.to(failed, on="give_up")
        | answer_connected.to(failed, on="give_up") | making_reanswer.to(failed, on="give_up")
    )
    timeout = (
        making_offer.to(failed, on="give_up") | awaiting_answer.to(failed, on="give_up")
        | connecting.to(failed, on="give_up")
        | making_reoffer.to(failed, on="give_up") | awaiting_reanswer.to(failed, on="give_up")
        | awaiting_offer.to(failed, on="give_up") | making_answer.to(failed, on="give_up")
        | answer_connecting.to(failed, on="give_up") | reoffer_held.to(failed, on="give_up")
        | making_reanswer.to(failed, on="give_up")
    )
    close = (
        new.to(closed) | making_offer.to(closed) | awaiting_answer.to(closed)
        | connecting.to(closed) | connected.to(closed) | making_reoffer.to(closed)
        | awaiting_reanswer.to(closed) | awaiting_offer.to(closed) | making_answer.to(closed)
        | answer_connecting.to(closed) | reoffer_held.to(closed)
        | answer_connected.to(closed) | making_reanswer.to(closed)
    )
    disconnected = (
        new.to(closed) | making_offer.to(closed) | awaiting_answer.to(closed)
        | connecting.to(closed) | connected.to(closed) | making_reoffer.to(closed)
        | awaiting_reanswer.to(closed) | awaiting_offer.to(closed) | making_answer.to(closed)
        | answer_connecting.to(closed) | reoffer_held.to(closed)
        | answer_connected.to(closed) | making_reanswer.to(closed)
    )

    def fingerprint_matches(self, matches: bool = False) -> bool:
        return matches

    def make_offer(self) -> None:
        self.report("make_offer")

    def send_offer(self) -> None:
        self.send_frame(Command.OFFER)

    def make_answer(self) -> None:
        self.report("make_answer")

    def defer_offer(self) -> None:
        self.report("defer_offer")

    def send_answer(self) -> None:
        self.send_frame(Command.ANSWER)

    def apply_answer(self) -> None:
        self.report("apply_answer")

    def add_candidate(self) -> None:
        self.report("add_candidate")

    def ask_for_offer(self) -> None:
        # Relayed as an `ice` frame: to the hub all signals are alike, and the offerer's
        # actor turns the sealed request into its own `renegotiate`.
        self.send_frame(Command.ICE)

    def up(self) -> None:
        self.report("connected")

    def up_and_answer(self) -> None:
        self.report("connected")
        self.report("make_answer")

    def impostor(self) -> None:
        self.report("fingerprint_mismatch")

    def give_up(self) -> None:
        self.report("failed")


# What a user is shown for each PeerLink phase: a link renegotiating is still up.
PEER_LINK_STATUS: dict[PeerLinkPhase, str] = {
    PeerLinkPhase.ANSWER_CONNECTING: "connecting", PeerLinkPhase.REOFFER_HELD: "connecting",
    PeerLinkPhase.MAKING_REOFFER: "connected", PeerLinkPhase.AWAITING_REANSWER: "connected",
    PeerLinkPhase.ANSWER_CONNECTED: "connected", PeerLinkPhase.MAKING_REANSWER: "connected",
}


def peer_link_status(state: str) -> str:
    """The user-facing name of a PeerLink state or phase (`connected` while renegotiating)."""
    return PEER_LINK_STATUS.get(PeerLinkPhase(state), str(state))
