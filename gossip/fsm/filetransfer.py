"""One file on its way up or down: starting, moving chunks, finishing, and resuming after a
lost connection, until complete, failed or cancelled.

Driven by its owner (gossip/client/files.py), like Reconnect: the hub has no machine of its
own for a file (its store checks each frame alone), so every event is the owner's, and the
reports (`FileOrder`) say what to do next. The same machine runs an upload (move = send the
chunks the hub lacks, finish = say done) and a download (move = ask for and check chunks,
finish = check the root hash). Nothing reaches `complete` but through `finishing`: no file
is delivered (posted, or linked under its name) before every chunk is in and checked.
"""

from __future__ import annotations

from enum import StrEnum

from statemachine import State

from .base import ProtocolMachine


class FileTransferPhase(StrEnum):
    STARTING = "starting"
    MOVING = "moving"
    FINISHING = "finishing"
    WAITING = "waiting"
    RESUMING = "resuming"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FileOrder(StrEnum):
    """What the machine asks its owner to do (the `what` of its Report actions)."""

    MOVE = "move"  # send (up) or ask for (down) the chunks still missing
    FINISH = "finish"  # say done (up) or check the root hash (down)
    ASK_STATUS = "ask_status"  # learn what is held: the hub's map (up), what was checked (down)
    WAIT = "wait"  # wait until the session is online again
    DELIVER = "deliver"  # post the file message (up) or link the file under its name (down)
    DISCARD = "discard"  # keep nothing partial; say why


class FileTransfer(ProtocolMachine[FileTransferPhase]):
    Phase = FileTransferPhase
    purpose = (
        "One file up or down: start, move chunks, finish, resume after a lost "
        "connection; complete only through finishing."
    )
    rejects = {
        "starting": {"all_moved", "completed", "incomplete", "back", "resumed"},
        "moving": {"started", "completed", "incomplete", "back", "resumed"},
        "finishing": {"started", "all_moved", "back", "resumed"},
        # No connection while waiting: nothing can arrive, be refused or move on.
        "waiting": {
            "started",
            "all_moved",
            "completed",
            "incomplete",
            "lost",
            "resumed",
            "refused",
        },
        "resuming": {"started", "all_moved", "completed", "incomplete", "back"},
    }

    starting = State(initial=True)
    moving = State()
    finishing = State()
    waiting = State()
    resuming = State()
    complete = State(final=True)
    failed = State(final=True)
    cancelled = State(final=True)

    started = starting.to(moving, on="move")
    all_moved = moving.to(finishing, on="finish")
    completed = finishing.to(complete, on="deliver")
    # The hub lacks chunks at done (some were lost on the way): learn which, send them.
    incomplete = finishing.to(resuming, on="ask_status")
    # Lost before the start was answered: asked again once back, from the start.
    lost = (
        starting.to.itself(on="wait")
        | moving.to(waiting, on="wait")
        | finishing.to(waiting, on="wait")
        | resuming.to(waiting, on="wait")
    )
    back = waiting.to(resuming, on="ask_status")
    resumed = resuming.to(moving, on="move")
    # Refused by the hub (quota, size, gone) or a chunk or root that fails to verify.
    refused = (
        starting.to(failed, on="discard")
        | moving.to(failed, on="discard")
        | finishing.to(failed, on="discard")
        | resuming.to(failed, on="discard")
    )
    cancel = (
        starting.to(cancelled, on="discard")
        | moving.to(cancelled, on="discard")
        | finishing.to(cancelled, on="discard")
        | waiting.to(cancelled, on="discard")
        | resuming.to(cancelled, on="discard")
    )

    def move(self) -> None:
        self.report(FileOrder.MOVE)

    def finish(self) -> None:
        self.report(FileOrder.FINISH)

    def ask_status(self) -> None:
        self.report(FileOrder.ASK_STATUS)

    def wait(self) -> None:
        self.report(FileOrder.WAIT)

    def deliver(self) -> None:
        self.report(FileOrder.DELIVER)

    def discard(self) -> None:
        self.report(FileOrder.DISCARD)
