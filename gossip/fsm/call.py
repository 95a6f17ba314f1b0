"""Calls: a member's place in a channel's call (both sides), and one peer-to-peer media link.

The hub only sees who is in which call; offers, answers and candidates travel sealed from
peer to peer, so the peer-link machine has no hub side. The lower key fingerprint offers
(decided by the actor when it starts a link), so two peers never offer at once.
"""

from __future__ import annotations

from statemachine import State

from gossip.wire import Command

from .base import ProtocolMachine


class ClientCall(ProtocolMachine):
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


class HubCall(ProtocolMachine):
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


class PeerLink(ProtocolMachine):
    purpose = "One peer-to-peer media link: offer/answer, DTLS identity check, up, failed."
    wire_events = {
        "offer": Command.OFFER.value,
        "answer": Command.ANSWER.value,
        "ice": Command.ICE.value,
    }
    resting = frozenset({"connected"})
    _before_offer = {"offer", "answer", "ice", "offer_ready", "answer_ready", "transport_up"}
    rejects = {
        "new": _before_offer | {"transport_failed", "timeout"},
        "making_offer": _before_offer - {"offer_ready"} | {"start_offering", "start_answering"},
        "awaiting_answer": {"offer", "offer_ready", "answer_ready", "transport_up",
                            "start_offering", "start_answering"},
        "awaiting_offer": _before_offer - {"offer"} | {"start_offering", "start_answering"},
        "making_answer": {"offer", "answer", "offer_ready", "transport_up", "start_offering",
                          "start_answering"},
        "connecting": {"offer", "answer", "offer_ready", "answer_ready", "start_offering",
                       "start_answering"},
        "connected": {"offer", "answer", "offer_ready", "answer_ready", "transport_up",
                      "start_offering", "start_answering", "timeout"},
    }

    new = State(initial=True)
    making_offer = State()
    awaiting_answer = State()
    awaiting_offer = State()
    making_answer = State()
    connecting = State()
    connected = State()
    failed = State(final=True)
    closed = State(final=True)

    # The actor decides the role: the peer whose key fingerprint sorts lower offers.
    start_offering = new.to(making_offer, on="make_offer")
    start_answering = new.to(awaiting_offer)
    offer_ready = making_offer.to(awaiting_answer, on="send_offer")
    offer = awaiting_offer.to(making_answer, on="make_answer")
    answer_ready = making_answer.to(connecting, on="send_answer")
    answer = awaiting_answer.to(connecting, on="apply_answer")
    # Candidates are in the SDP once gathering completes; late ones may still trickle in.
    ice = (
        awaiting_answer.to.itself(internal=True, on="add_candidate")
        | making_answer.to.itself(internal=True, on="add_candidate")
        | connecting.to.itself(internal=True, on="add_candidate")
        | connected.to.itself(internal=True, on="add_candidate")
    )
    transport_up = (
        connecting.to(connected, cond="fingerprint_matches", on="up")
        | connecting.to(failed, unless="fingerprint_matches", on="impostor")
    )
    transport_failed = (
        making_offer.to(failed, on="give_up") | awaiting_answer.to(failed, on="give_up")
        | awaiting_offer.to(failed, on="give_up") | making_answer.to(failed, on="give_up")
        | connecting.to(failed, on="give_up") | connected.to(failed, on="give_up")
    )
    timeout = (
        making_offer.to(failed, on="give_up") | awaiting_answer.to(failed, on="give_up")
        | awaiting_offer.to(failed, on="give_up") | making_answer.to(failed, on="give_up")
        | connecting.to(failed, on="give_up")
    )
    close = (
        new.to(closed) | making_offer.to(closed) | awaiting_answer.to(closed)
        | awaiting_offer.to(closed) | making_answer.to(closed) | connecting.to(closed)
        | connected.to(closed)
    )
    disconnected = (
        new.to(closed) | making_offer.to(closed) | awaiting_answer.to(closed)
        | awaiting_offer.to(closed) | making_answer.to(closed) | connecting.to(closed)
        | connected.to(closed)
    )

    def fingerprint_matches(self, matches: bool = False) -> bool:
        return matches

    def make_offer(self) -> None:
        self.report("make_offer")

    def send_offer(self) -> None:
        self.send_frame(Command.OFFER)

    def make_answer(self) -> None:
        self.report("make_answer")

    def send_answer(self) -> None:
        self.send_frame(Command.ANSWER)

    def apply_answer(self) -> None:
        self.report("apply_answer")

    def add_candidate(self) -> None:
        self.report("add_candidate")

    def up(self) -> None:
        self.report("connected")

    def impostor(self) -> None:
        self.report("fingerprint_mismatch")

    def give_up(self) -> None:
        self.report("failed")
