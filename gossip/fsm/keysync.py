"""Key sync and the live phase: members' keys, channels, joins and leaves, then messages.

Messages ride in the synced phase because a client cannot seal to members it does not know.
"""

from __future__ import annotations

from enum import StrEnum

from statemachine import State

from gossip.wire import Command

from .base import ProtocolMachine


class HubKeySyncPhase(StrEnum):
    """Where the hub is in one client's key sync."""

    WAITING = "waiting"
    LIVE = "live"
    CLOSED = "closed"


class HubKeySync(ProtocolMachine[HubKeySyncPhase]):
    Phase = HubKeySyncPhase
    purpose = "Hub side of key sync: key snapshot on request, then joins, leaves and relaying."
    wire_events = {"key_request": Command.KEY_REQUEST.value, "message": Command.MESSAGE.value}
    resting = frozenset({"live"})
    rejects = {
        "waiting": {"message"},  # the client cannot seal to members it has not been sent
        "live": {"key_request"},  # one snapshot per session; later changes come as they happen
    }

    waiting = State(initial=True)
    live = State()
    closed = State(final=True)

    key_request = waiting.to(live, on="snapshot")
    # Before the snapshot, membership changes need no frame: the snapshot will include them.
    member_joined = waiting.to.itself(internal=True) | live.to.itself(internal=True, on="announce")
    member_left = waiting.to.itself(internal=True) | live.to.itself(internal=True, on="retract")
    channels_changed = (
        waiting.to.itself(internal=True) | live.to.itself(internal=True, on="send_channels")
    )
    # Who is in a channel's call, for its members (in the call or not); the snapshot of every
    # channel's follows the key snapshot, so before it there is nothing to send.
    call_roster = waiting.to.itself(internal=True) | live.to.itself(internal=True,
                                                                  on="send_call_roster")
    message = live.to.itself(internal=True, on="relay")
    disconnected = waiting.to(closed) | live.to(closed)

    def snapshot(self) -> None:
        self.send_frame(Command.KEY)  # one per member
        self.send_frame(Command.CHANNELS)
        self.send_frame(Command.END_OF_KEYS)
        self.report("synced")

    def announce(self) -> None:
        self.send_frame(Command.KEY)

    def retract(self) -> None:
        self.send_frame(Command.KEY_REMOVED)

    def send_call_roster(self) -> None:
        self.send_frame(Command.CALL_ROSTER)

    def send_channels(self) -> None:
        self.send_frame(Command.CHANNELS)

    def relay(self) -> None:
        self.report("relay")


class ClientKeySyncPhase(StrEnum):
    """Where the client is in its key sync."""

    IDLE = "idle"
    REQUESTING = "requesting"
    SYNCED = "synced"
    CLOSED = "closed"


class ClientKeySync(ProtocolMachine[ClientKeySyncPhase]):
    Phase = ClientKeySyncPhase
    purpose = "Client side of key sync: request keys, take keys and channels until the end."
    wire_events = {
        "key": Command.KEY.value,
        "channels": Command.CHANNELS.value,
        "end_of_keys": Command.END_OF_KEYS.value,
        "key_removed": Command.KEY_REMOVED.value,
        "message": Command.MESSAGE.value,
        "call_roster": Command.CALL_ROSTER.value,
    }
    resting = frozenset({"synced"})
    rejects = {
        # Before the request the hub has no reason to send anything, and we cannot post yet.
        "idle": {"key", "key_removed", "channels", "end_of_keys", "message", "send_message",
                 "call_roster"},
        # Messages wait for the end of the snapshot: we could not check their senders' keys.
        # Call rosters come after the snapshot too (the hub sends them to live members).
        "requesting": {"start", "message", "send_message", "call_roster"},
        "synced": {"start", "end_of_keys"},  # one snapshot per session
    }

    idle = State(initial=True)
    requesting = State()
    synced = State()
    closed = State(final=True)

    start = idle.to(requesting, on="request")
    key = requesting.to.itself(internal=True, on="take_key") | synced.to.itself(
        internal=True, on="take_key")
    key_removed = requesting.to.itself(internal=True, on="drop_key") | synced.to.itself(
        internal=True, on="drop_key")
    channels = requesting.to.itself(internal=True, on="take_channels") | synced.to.itself(
        internal=True, on="take_channels")
    end_of_keys = requesting.to(synced, on="ready")
    message = synced.to.itself(internal=True, on="deliver")
    call_roster = synced.to.itself(internal=True, on="take_call_roster")
    send_message = synced.to.itself(internal=True, on="post")
    disconnected = idle.to(closed) | requesting.to(closed) | synced.to(closed)

    def request(self) -> None:
        self.send_frame(Command.KEY_REQUEST)

    def take_key(self) -> None:
        self.report("key")

    def drop_key(self) -> None:
        self.report("key_removed")

    def take_channels(self) -> None:
        self.report("channels")

    def ready(self) -> None:
        self.report("synced")

    def deliver(self) -> None:
        self.report("message")

    def take_call_roster(self) -> None:
        self.report("call_roster")

    def post(self) -> None:
        self.send_frame(Command.MESSAGE)
