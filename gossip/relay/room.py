"""A call on the relay: its participants, each one RTCPeerConnection, and the forwarding.

Each participant sends on one audio section and receives on its slots (gossip.wire.relay).
What a participant sends is read at the receiver's jitter buffer as it arrives (sealed Opus
frames: the relay has no key, and never decodes) and put on the slot each other participant
has for that sender; a slot's track hands it to aiortc as a ready-made packet.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import RTCCertificate
from aiortc.rtp import RtpPacket
from av.packet import Packet

from gossip.media import icehosts
from gossip.media.aiortc_seams import depayloaded, use_certificate, wrap_receiver_buffer
from gossip.wire.relay import Slot

logger = logging.getLogger(__name__)

_AUDIO_TIME_BASE = fractions.Fraction(1, 48_000)
QUEUED_FRAMES = 10  # 200 ms: a slot's reader that falls further behind loses the oldest
MAX_FRAME_BYTES = 1500  # an Opus frame at our bitrate is ~250 bytes; anything larger is dropped


class RoomFull(Exception):
    """The call has as many participants as the relay allows, or the name is taken."""


@dataclass
class SenderStats:
    frames: int = 0
    bytes: int = 0
    dropped_large: int = 0


class SlotTrack(MediaStreamTrack):
    """What one slot sends: the sealed frames of whoever the slot is assigned to."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: collections.deque[tuple[bytes, int]] = collections.deque(maxlen=QUEUED_FRAMES)
        self._ready = asyncio.Event()

    def push(self, frame: bytes, timestamp: int) -> None:
        self._queue.append((frame, timestamp))
        self._ready.set()

    def clear(self) -> None:
        self._queue.clear()

    async def recv(self) -> Packet:  # type: ignore[override]
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        frame, timestamp = self._queue.popleft()
        packet = Packet(frame)
        packet.pts = timestamp
        packet.time_base = _AUDIO_TIME_BASE
        return packet


class ForwardingBuffer:
    """Stands in for a participant's receive jitter buffer: each frame goes to the room, and
    nothing goes to the decoder."""

    def __init__(self, room: Room, user: str) -> None:
        self.room = room
        self.user = user

    @property
    def capacity(self) -> int:
        return 1

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        frame = depayloaded(packet)
        if frame:
            self.room.forward(self.user, frame, packet.timestamp)
        return False, None


class RelayParticipant:
    """One participant's hop: the relay's end of its DTLS-SRTP connection, and its slots."""

    def __init__(
        self,
        user: str,
        certificate: RTCCertificate,
        ice_hosts: Sequence[str],
        notify: Callable[[Slot], None],
    ) -> None:
        self.user = user
        self.notify = notify
        self.ice_hosts = list(ice_hosts)
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        use_certificate(self.pc, certificate)
        self.slots: dict[str, SlotTrack] = {}  # mid -> track
        self.assigned: dict[str, str] = {}  # sender -> mid

    async def answer(self, offer: str, room: Room) -> str:
        """(asyncio side) Answer the participant's offer: its first section is what it
        sends (forwarded), every further audio section a slot."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        transceivers = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
        if not transceivers:
            raise ValueError("the offer has no audio section")
        sending, *slots = transceivers
        sending.direction = "recvonly"
        wrap_receiver_buffer(sending.receiver, lambda _: ForwardingBuffer(room, self.user))
        for transceiver in slots:
            track = SlotTrack()
            transceiver.direction = "sendonly"
            transceiver.sender.replaceTrack(track)
            assert transceiver.mid is not None
            self.slots[transceiver.mid] = track
        answer = await self.pc.createAnswer()
        await icehosts.gather_with_hosts(self.ice_hosts, self.pc.setLocalDescription, answer)
        return self.pc.localDescription.sdp  # type: ignore[no-any-return]

    def free_slot(self) -> str | None:
        taken = set(self.assigned.values())
        return next((mid for mid in self.slots if mid not in taken), None)


class Room:
    """Who is in one call on this relay, and who hears whom on which slot."""

    def __init__(self, call: str, max_participants: int) -> None:
        self.call = call
        self.max_participants = max_participants
        self.participants: dict[str, RelayParticipant] = {}
        self.stats: dict[str, SenderStats] = collections.defaultdict(SenderStats)

    def admit(self, participant: RelayParticipant) -> None:
        if participant.user in self.participants:
            raise RoomFull(f"{participant.user} is in this call already")
        if len(self.participants) >= self.max_participants:
            raise RoomFull(f"the relay takes {self.max_participants} participants a call")
        for other in self.participants.values():
            self._assign(other, participant.user)
            self._assign(participant, other.user)
        self.participants[participant.user] = participant

    def remove(self, participant: RelayParticipant) -> None:
        if self.participants.get(participant.user) is not participant:
            return
        del self.participants[participant.user]
        for other in self.participants.values():
            mid = other.assigned.pop(participant.user, None)
            if mid is not None:
                other.slots[mid].clear()
                other.notify(Slot(mid, ""))

    def _assign(self, listener: RelayParticipant, sender: str) -> None:
        mid = listener.free_slot()
        if mid is None:
            logger.info("call %s: %s has no free slot for %s", self.call, listener.user, sender)
            return
        listener.assigned[sender] = mid
        listener.notify(Slot(mid, sender))

    def forward(self, sender: str, frame: bytes, timestamp: int) -> None:
        stats = self.stats[sender]
        if len(frame) > MAX_FRAME_BYTES:
            stats.dropped_large += 1
            return
        stats.frames += 1
        stats.bytes += len(frame)
        for user, listener in self.participants.items():
            if user == sender:
                continue
            mid = listener.assigned.get(sender)
            if mid is not None:
                listener.slots[mid].push(frame, timestamp)
