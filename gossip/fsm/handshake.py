"""Login: both sides of the handshake (greeting, SPAKE2 challenge, proof, welcome/refusal).

The actor does the cryptography and feeds the result in as a guard value (`valid`,
`supported`); the machines decide what is legal and what to send next.
"""

from __future__ import annotations

from enum import StrEnum

from statemachine import State

from gossip.wire import Command

from .base import ProtocolMachine


# Each machine's states are declared twice: as `Phase` (what owners compare against) and as
# State() in the class body. States.from_enum would declare them once, but the body would
# then read `_.awaiting_greeting.to(_.challenged)`, the initial and final flags would sit in
# one call away from the states, and every state id would become the upper-case member
# name; the audit's `phases` rule keeps the two declarations equal instead.
class HubHandshakePhase(StrEnum):
    """Where the hub is in one client's login."""

    AWAITING_GREETING = "awaiting_greeting"
    CHALLENGED = "challenged"
    AUTHENTICATED = "authenticated"
    REFUSED = "refused"


class HubHandshake(ProtocolMachine[HubHandshakePhase]):
    Phase = HubHandshakePhase
    purpose = "Hub side of login: greeting, PAKE challenge, proof, then welcome or refusal."
    wire_events = {"greeting": Command.GREETING.value, "login_proof": Command.LOGIN_PROOF.value}
    rejects = {
        "awaiting_greeting": {"login_proof"},  # a proof answers a challenge not yet sent
        # One greeting per connection; the line is waited in before the greeting is read.
        "challenged": {"greeting", "queued", "turned_away"},
    }

    awaiting_greeting = State(initial=True)
    challenged = State()
    authenticated = State(final=True)
    refused = State(final=True)

    greeting = (
        awaiting_greeting.to(challenged, cond="version_supported", on="challenge")
        | awaiting_greeting.to(refused, unless="version_supported", on="refuse_version")
    )
    # Waiting for a login turn (the greeting unread): told where it stands, again and again,
    # until its turn comes or the wait is over (then turned away: the hub is too busy).
    queued = awaiting_greeting.to.itself(internal=True, on="tell_place")
    turned_away = awaiting_greeting.to(refused, on="refuse_busy")
    login_proof = (
        challenged.to(authenticated, cond="proof_valid", on="admit")
        | challenged.to(refused, unless="proof_valid", on="refuse_proof")
    )
    timeout = awaiting_greeting.to(refused, on="time_out") | challenged.to(refused, on="time_out")
    disconnected = awaiting_greeting.to(refused) | challenged.to(refused)

    def version_supported(self, supported: bool = False) -> bool:
        return supported

    def proof_valid(self, valid: bool = False) -> bool:
        return valid

    def challenge(self) -> None:
        self.send_frame(Command.HUB_HELLO)

    def refuse_version(self) -> None:
        self.close("unsupported protocol version", code="version")

    def tell_place(self) -> None:
        self.send_frame(Command.QUEUED)

    def refuse_busy(self) -> None:
        self.close("too many logins waiting on this hub; try again soon (or another hub)",
                   code="busy")

    def admit(self) -> None:
        self.send_frame(Command.WELCOME)
        self.report("authenticated")

    def refuse_proof(self) -> None:
        self.close("wrong password or hub key", code="auth")

    def time_out(self) -> None:
        self.close("login took too long", code="timeout")


class ClientHandshakePhase(StrEnum):
    """Where the client is in its login to the hub."""

    IDLE = "idle"
    GREETED = "greeted"
    PROVING = "proving"
    AUTHENTICATED = "authenticated"
    REFUSED = "refused"
    FAILED = "failed"


class ClientHandshake(ProtocolMachine[ClientHandshakePhase]):
    Phase = ClientHandshakePhase
    purpose = "Client side of login: greet, answer the PAKE challenge, check the hub's proof."
    wire_events = {
        "hub_hello": Command.HUB_HELLO.value,
        "welcome": Command.WELCOME.value,
        "queued": Command.QUEUED.value,
        "error": Command.ERROR.value,
    }
    rejects = {
        # Nothing can come from the hub before we greet it.
        "idle": {"hub_hello", "welcome", "error", "queued"},
        "greeted": {"connected", "welcome"},  # a welcome without a challenge proves nothing
        # Once challenged, the turn has come: a word about the line now is a broken hub.
        "proving": {"connected", "hub_hello", "queued"},
    }

    idle = State(initial=True)
    greeted = State()
    proving = State()
    authenticated = State(final=True)
    refused = State(final=True)
    failed = State(final=True)

    connected = idle.to(greeted, on="greet")
    hub_hello = (
        greeted.to(proving, cond="version_supported", on="prove")
        | greeted.to(failed, unless="version_supported", on="unsupported")
    )
    # The hub keeps us in line before it reads the greeting: each word says it is alive (the
    # owner restarts its timer, within a total cap that no number of words extends).
    queued = greeted.to.itself(internal=True, on="wait_in_line")
    welcome = (
        proving.to(authenticated, cond="hub_confirmed", on="accept")
        | proving.to(failed, unless="hub_confirmed", on="impostor")
    )
    error = greeted.to(refused, on="refusal") | proving.to(refused, on="refusal")
    timeout = (
        idle.to(failed, on="time_out") | greeted.to(failed, on="time_out")
        | proving.to(failed, on="time_out")
    )
    disconnected = idle.to(failed) | greeted.to(failed) | proving.to(failed)

    def version_supported(self, supported: bool = False) -> bool:
        return supported

    def hub_confirmed(self, valid: bool = False) -> bool:
        return valid

    def greet(self) -> None:
        self.send_frame(Command.GREETING)

    def prove(self) -> None:
        self.send_frame(Command.LOGIN_PROOF)

    def unsupported(self) -> None:
        self.close("the hub speaks an unsupported protocol version", code="version")

    def wait_in_line(self) -> None:
        self.report("queued")

    def accept(self) -> None:
        self.report("authenticated")

    def impostor(self) -> None:
        self.close("the hub could not prove it knows the password", code="auth")

    def refusal(self) -> None:
        self.report("refused")

    def time_out(self) -> None:
        self.close("the hub did not answer in time", code="timeout")
