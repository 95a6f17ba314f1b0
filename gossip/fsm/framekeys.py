"""One sender's frame keys as a call member receives them: none yet, opening, failing.

A sender hands its frame key over sealed signalling when a link comes up and whenever it
takes a fresh key (someone left); receivers follow its ratchet themselves. Frames that keep
failing to open (no key came, a forged or stale key, a sender that lies) make the sender
`failing`, which the call shows; one frame that opens again makes it `keyed`. No wire peer:
the call actor feeds the events (a key handed over, its PeerFrames flipping) and acts on the
reports.
"""

from __future__ import annotations

from enum import StrEnum

from statemachine import State

from .base import ProtocolMachine


class FrameKeysPhase(StrEnum):
    AWAITING_KEY = "awaiting_key"
    KEYED = "keyed"
    FAILING = "failing"
    GONE = "gone"


class FrameKeysOrder(StrEnum):
    """What the machine asks the call to do (the `what` of its Report actions)."""

    ADD_KEY = "add_key"  # give the handed-over key to the sender's FrameOpener
    REPORT_FAILING = "report_failing"  # tell the user this sender's media cannot be opened
    REPORT_RECOVERED = "report_recovered"  # ... and that it opens again


class FrameKeys(ProtocolMachine[FrameKeysPhase]):
    Phase = FrameKeysPhase
    purpose = (
        "One sender's frame keys as a call member receives them: awaiting a key, "
        "opening its frames, failing to, gone."
    )
    resting = frozenset({"keyed"})
    rejects = {
        # Nothing opened yet, so nothing can recover; failing needs frames that fail.
        "awaiting_key": {"frames_open"},
        "keyed": {"frames_open"},  # only a failing sender recovers
        "failing": {"frames_fail"},  # already failing
    }

    awaiting_key = State(initial=True)
    keyed = State()
    failing = State()
    gone = State(final=True)

    key_handed = (
        awaiting_key.to(keyed, on="add_key")
        | keyed.to.itself(on="add_key")
        | failing.to.itself(on="add_key")  # failing until a frame opens under it
    )
    frames_fail = awaiting_key.to(failing, on="report_failing") | keyed.to(
        failing, on="report_failing"
    )
    frames_open = failing.to(keyed, on="report_recovered")
    left = awaiting_key.to(gone) | keyed.to(gone) | failing.to(gone)

    def add_key(self) -> None:
        self.report(FrameKeysOrder.ADD_KEY)

    def report_failing(self) -> None:
        self.report(FrameKeysOrder.REPORT_FAILING)

    def report_recovered(self) -> None:
        self.report(FrameKeysOrder.REPORT_RECOVERED)
