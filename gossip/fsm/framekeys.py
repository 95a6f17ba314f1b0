"""One sender's frame keys as a call member receives them: none yet, opening, failing.

A sender hands its frame key over sealed signalling when a link comes up and whenever it
takes a fresh key (someone left); receivers follow its ratchet themselves. A handout counts
only if it is newer (signed later) than the last one taken: an earlier one, validly signed
but replayed by a lying hub after a rekey, is refused, so a key is never rolled back to one a
member who left still holds. Frames that keep
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
    REFUSE_KEY = "refuse_key"  # a handout no newer than the last taken: replayed; count it
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
        awaiting_key.to(keyed, cond="newer", on="add_key")
        | keyed.to.itself(cond="newer", on="add_key")
        | failing.to.itself(cond="newer", on="add_key")  # failing until a frame opens under it
        | awaiting_key.to.itself(unless="newer", on="refuse_key")
        | keyed.to.itself(unless="newer", on="refuse_key")
        | failing.to.itself(unless="newer", on="refuse_key")
    )
    frames_fail = awaiting_key.to(failing, on="report_failing") | keyed.to(
        failing, on="report_failing"
    )
    frames_open = failing.to(keyed, on="report_recovered")
    left = awaiting_key.to(gone) | keyed.to(gone) | failing.to(gone)

    def newer(self, newer: bool = False) -> bool:
        """The handout was signed after the last one taken from this sender."""
        return newer

    def add_key(self) -> None:
        self.report(FrameKeysOrder.ADD_KEY)

    def refuse_key(self) -> None:
        self.report(FrameKeysOrder.REFUSE_KEY)

    def report_failing(self) -> None:
        self.report(FrameKeysOrder.REPORT_FAILING)

    def report_recovered(self) -> None:
        self.report(FrameKeysOrder.REPORT_RECOVERED)
