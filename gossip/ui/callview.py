"""The call panel's contract: what the UI shows of a voice call (CallView, plain frozen values)
and what carries out its controls (CallPort; trioside.callcontrol.CallControl is the live
one). Pure: no trio, no media, so the model and view-model tests need neither."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Protocol

from gossip.client.errors import CommandRefused
from gossip.crypto.pins import Trust

from .intents import CallIntent

SILENCE_DBFS = -90.0


class CallNotPossible(CommandRefused):
    """A call control cannot be carried out now (not online, not in a call, a bad value);
    the message is shown to the user. The call side's own refusal, beside the session's and
    the call actor's: the bridge actor handles all three alike."""


class CallPhase(str, Enum):
    IDLE = "idle"  # not in a call
    JOINING = "joining"  # asked the hub; no roster yet
    IN_CALL = "in_call"
    LEAVING = "leaving"  # hung up; waiting for the hub to confirm


@dataclass(frozen=True)
class CallPeer:
    user: str
    level_dbfs: float = SILENCE_DBFS  # recent level of what we hear from them
    volume: float = 1.0
    # The link is up and authenticated (ICE + DTLS done, the certificate matched the SDP
    # their key signed). It says nothing about who holds that key: that is `trust`.
    connected: bool = False
    failed: bool = False  # the link kept failing and was given up
    trust: Trust | None = None  # their identity key's trust in this call (None: not known yet)
    speaking: bool = False  # speech heard from them just now
    # What they send does not open with the keys they gave us (a stale or forged key, a
    # client that does not seal): nothing of theirs is played, and the panel says so.
    undecryptable: bool = False
    # What they say they send (sealed by them): muted; camera off (their tile shows their
    # initials, not the black frames a camera turned off sends).
    muted: bool = False
    camera_off: bool = False


@dataclass(frozen=True)
class CallView:
    available: bool = False  # the call side is running (it says so once the app starts)
    unavailable_reason: str = "Voice calls are starting…"
    channel: str | None = None  # the call we are in (or joining, or leaving), if any
    phase: CallPhase = CallPhase.IDLE
    participants: tuple[CallPeer, ...] = ()  # everyone else in the call
    own_level_dbfs: float = SILENCE_DBFS  # what our source feeds the call, before mute
    muted: bool = False  # also the choice for the next call, when not in one
    deafened: bool = False
    input_devices: tuple[str, ...] = ()
    output_devices: tuple[str, ...] = ()
    input_device: str = ""  # "" = the system default
    output_device: str = ""
    devices_note: str = ""  # why there is nothing to pick, or what the audio is (demo)
    video_on: bool = False  # our camera is on (also the choice for the next call)
    video_source: str = "none"  # what the camera button turns on; "none": nothing to turn on
    transmit: str = "continuous"  # when our microphone is sent: continuous, voice or ptt
    own_speaking: bool = False  # we are sending speech now
    talk_key_held: bool = False  # the push-to-talk key is down in the window

    @property
    def joined(self) -> bool:
        """In the call or on the way in: the button leaves, the sliders work."""
        return self.phase in (CallPhase.JOINING, CallPhase.IN_CALL)

    def in_call(self, user: str) -> bool:
        return self.joined and any(peer.user == user for peer in self.participants)

    def peer(self, user: str) -> CallPeer | None:
        return next((peer for peer in self.participants if peer.user == user), None)

    def left(self) -> CallView:
        """The same preferences and devices, out of any call."""
        return replace(self, channel=None, phase=CallPhase.IDLE, participants=(),
                       own_level_dbfs=SILENCE_DBFS)


class CallPort(Protocol):
    """What the bridge needs from the call side: carry out a control and say what to show
    now; end any call before the session goes; meanwhile publish what changes on its own."""

    async def handle(self, intent: CallIntent) -> CallView: ...

    async def end(self) -> CallView: ...
