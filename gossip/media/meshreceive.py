"""A mesh link's audio received in place, as a relayed call's is (gossip.media.slotreceive):
each RTP packet, as it comes out of SRTP (gossip.media.aiortc_seams.intercept_rtp), is
bounded, opened with the peer's frame key and decoded by libopus right there, and its samples
go to the audio engine on a trio channel. No aiortc receiver, decoder thread or asyncio-to-trio
hop per frame; the peer's video (other payload types) still goes to aiortc.

The link's UDP socket is read in place too (`LinkReading`, over
gossip.media.aiortc_seams.receive_in_place): every datagram waiting is read at one wake-up and
its SRTP taken out there, no aioice queue or asyncio hop per packet; given the audio engine's
playout ticks (`LinkReading.read_at_ticks`), once the link's DTLS is up and the peer's
certificate checked, it is read at each tick instead, just before the frames are played, and
wakes nobody meanwhile. The kernel's arrival stamp goes to the jitter buffer with each frame.
Not while the peer sends us video (`receiving_video`): read at the ticks, a 4-way call's
video fell from 10.8-14.7 to ~7 fps (benchmarks/big_call.py), and read in place on readiness
it still seemed to lose frames (4-way from a 30 fps source: 22.0, 14.8, 21.6, 14.9 fps against
14.9, 29.4, 29.5, 21.7 read by aioice, in the same runs), so a link receiving video is given
back to aioice (`InPlaceReading.give_back`) and taken again when the video stops.

aiortc's receiver also sent the peer RTCP receiver reports, which their FEC policy reads
(gossip.media.lossreports): with no packet reaching it, it sends none, so this sends them,
from the same statistics (RFC 3550: fraction lost since the last report, cumulative loss,
extended highest sequence number, interarrival jitter), about once a second.

Bounds, for a peer that lies: only the stream their signed SDP announced (SSRC and Opus
payload types), packets of at most MAX_PACKET_BYTES, at most PACKETS_PER_SECOND (a burst of
BURST_PACKETS after a stall) before anything is opened or decoded; nothing at all before the
link's DTLS certificate was checked against that SDP (`accepting`).
"""

from __future__ import annotations

import collections
import logging
import random
from collections.abc import Callable, Collection

import trio
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtcpReceiverInfo, RtcpRrPacket
from aiortc.sdp import SessionDescription

from .aiortc_seams import (
    RTP_SEND_ERRORS,
    InPlaceReading,
    RtpHandler,
    enlarge_receive_buffers,
    intercept_rtp,
    receive_in_place,
    rtp_sender,
)
from .concealment import ConcealingOpusDecoder
from .decodedtrack import DecodedAudioTrack
from .format import FRAME_SAMPLES, SAMPLE_RATE
from .framecrypt import PeerFrames
from .jitter import PassThroughBuffer, SerialTimestampMapper
from .rtpheader import HEADER_BYTES, Incoming

logger = logging.getLogger(__name__)

# A sealed Opus frame is ~100-300 bytes; an RTP packet on a link is at most an MTU.
MAX_PACKET_BYTES = 1500
# 50 frames a second is a steady stream; twice that leaves room for a sender catching up.
PACKETS_PER_SECOND = 100
BURST_PACKETS = 50  # a second of frames held up on the way (a stalled sender, a GC pause)
TAPPED_FRAMES = 500
# RTCP's interval, varied over [0.5, 1.5] s as aiortc's receiver did (RFC 3550 6.2).
REPORT_SECONDS = (0.5, 1.5)
# Read at 20 ms ticks, a peer's video keyframe (tens of packets) waits in the socket for up to
# a tick, longer when this process is not running: room for a fraction of a second of it.
RECEIVE_BUFFER_BYTES = 1 << 19


class _Numbers:
    """What aiortc's StreamStatistics reads of a packet (its sequence number and timestamp),
    one object reused, so no RtpPacket is built."""

    __slots__ = ("sequence_number", "timestamp")

    def __init__(self) -> None:
        self.sequence_number = 0
        self.timestamp = 0


class MeshAudioReceiver:
    """One mesh peer's audio: packets in (`receive`), decoded frames out on `track`.

    It is also where their frames are opened (framecrypt.Opening): `frames` (None: dropped,
    the call opens them on another path now) and `trial` (a path on trial only checks
    frames; the first authentic one sets it, nothing is played)."""

    def __init__(self, frames: PeerFrames | None) -> None:
        self.sealed = frames is not None  # an unsealed link (benchmarks) decodes as it comes
        self.frames = frames
        self.trial: trio.Event | None = None
        self.accepting = False  # set once the peer's DTLS certificate matched the signed SDP
        self.ssrc: int | None = None  # the peer's audio stream, from their SDP
        self.payload_types: frozenset[int] = frozenset()  # Opus, as negotiated
        # Every payload type of the audio section: none of them reaches aiortc's receiver
        # (nobody reads its track, so what it decoded would pile up there).
        self.audio_payload_types: frozenset[int] = frozenset()
        self.rtcp_ssrc = 0  # ours (our audio sender's), the reports' sender
        self.received = 0  # packets taken (after the bounds)
        self.dropped: collections.Counter[str] = collections.Counter()  # by reason
        self.reports_sent = 0
        self.tap: list[bytes] | None = None  # tests: keep what arrived sealed
        self.drop: Callable[[Incoming], bool] | None = None  # tests: a lossy path
        # The link's socket read in place (LinkReading), its counters; None: aioice reads it.
        self.reading: InPlaceReading | None = None
        self._decoder = ConcealingOpusDecoder(channels=1)
        self.track = DecodedAudioTrack(decoder=self._decoder)
        self._sequence = PassThroughBuffer()
        self._timestamps = SerialTimestampMapper()
        self._statistics: StreamStatistics | None = None
        self._numbers = _Numbers()
        self._tokens = float(BURST_PACKETS)
        self._tokens_at: int | None = None  # arrival time (ms) they were counted at
        self._report_at: int | None = None  # arrival time (ms) the next report is due

    def expect(self, ssrc: int | None, opus: Collection[int], audio: Collection[int],
               rtcp_ssrc: int) -> None:
        """The stream the peer's signed SDP announced (ssrc None: the first packet of an
        announced payload type names it): Opus's payload types and all the audio section's;
        and our SSRC to report as."""
        if ssrc is not None and ssrc != self.ssrc:
            self.ssrc = ssrc
            self._statistics = None
        self.payload_types = frozenset(opus)
        self.audio_payload_types = frozenset(audio) | self.payload_types
        self.rtcp_ssrc = rtcp_ssrc

    @property
    def opening(self) -> MeshAudioReceiver:
        """Where the peer's frames are opened (framecrypt.Opening): this receiver."""
        return self

    @property
    def missing(self) -> int:
        """Packets the peer sent that never arrived (RTP sequence numbers skipped)."""
        return self._sequence.missing

    def stop(self) -> None:
        self.accepting = False
        self.track.stop()

    def take(self, data: bytes, arrival_time_ms: int) -> Incoming | None:
        """The packet if it is this stream's and within the bounds (counted), else None."""
        if not self.accepting:
            self.dropped["not_up"] += 1
            return None
        if not HEADER_BYTES <= len(data) <= MAX_PACKET_BYTES:
            self.dropped["size"] += 1
            return None
        try:
            packet = Incoming(data)
        except ValueError:
            self.dropped["malformed"] += 1
            return None
        if packet.payload_type not in self.payload_types:  # PCMU, say: we decode Opus alone
            self.dropped["payload_type"] += 1
            return None
        if self.ssrc is None:
            self.ssrc = packet.ssrc  # none announced: SRTP says it is the peer's all the same
        elif packet.ssrc != self.ssrc:
            self.dropped["ssrc"] += 1
            return None
        if not self._within_rate(arrival_time_ms):
            self.dropped["rate"] += 1
            return None
        if self.drop is not None and self.drop(packet):
            return None
        return packet

    def _within_rate(self, now_ms: int) -> bool:
        if self._tokens_at is not None:
            elapsed = max(0, now_ms - self._tokens_at) / 1000
            self._tokens = min(float(BURST_PACKETS), self._tokens + elapsed * PACKETS_PER_SECOND)
        self._tokens_at = now_ms
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def receive(self, packet: Incoming, arrival: float | None = None) -> None:
        """One packet of the stream (`take` passed it): counted, opened, decoded, queued;
        `arrival`: when it came (trio's clock), if it was read later (at a playout tick)."""
        self.received += 1
        numbers = self._numbers
        numbers.sequence_number, numbers.timestamp = packet.sequence, packet.timestamp
        if self._statistics is None:
            self._statistics = StreamStatistics(SAMPLE_RATE)
        self._statistics.add(numbers)  # type: ignore[arg-type]  # reads those two alone
        lost_before = self._sequence.admit(packet.sequence)
        if lost_before is None:  # a duplicate, or hopelessly late
            return
        if self.tap is not None and len(self.tap) < TAPPED_FRAMES:
            self.tap.append(packet.payload)
        payload = packet.payload
        if self.sealed:
            frames = self.frames
            if frames is None:  # opened on another path now
                return
            if self.trial is not None:
                # Checked without a trace: the counters the other path still plays stay unused.
                if not self.trial.is_set() and frames.authentic("audio", packet.payload):
                    self.trial.set()
                return
            opened = frames.open("audio", packet.payload)
            if opened is None:
                return  # counted by PeerFrames (a wrong key, a replay, garbage)
            payload = opened
        timestamp = self._timestamps.map(packet.timestamp)
        for frame_timestamp, samples in self._decoder.decode_samples(
            payload, timestamp, lost_before
        ):
            if len(samples) == FRAME_SAMPLES:
                self.track.push(frame_timestamp, samples, arrival)

    def report_due(self, now_ms: int) -> bytes | None:
        """An RTCP receiver report on the peer's stream, if one is due (about once a
        second, only once packets came)."""
        statistics = self._statistics
        if statistics is None or self.ssrc is None or statistics.max_seq is None:
            return None
        if self._report_at is None:
            self._report_at = now_ms + _report_interval_ms()
            return None
        if now_ms < self._report_at:
            return None
        self._report_at = now_ms + _report_interval_ms()
        self.reports_sent += 1
        info = RtcpReceiverInfo(
            ssrc=self.ssrc,
            fraction_lost=statistics.fraction_lost,
            packets_lost=statistics.packets_lost,
            # Extended: the cycles count above the 16 bits (aiortc's receiver left them out).
            highest_sequence=(statistics.cycles + statistics.max_seq) & 0xFFFFFFFF,
            jitter=statistics.jitter,
            lsr=0,  # no round-trip time: the FEC policy reads the loss alone
            dlsr=0,
        )
        return bytes(RtcpRrPacket(ssrc=self.rtcp_ssrc, reports=[info]))


def _report_interval_ms() -> int:
    low, high = REPORT_SECONDS
    return int(1000 * (low + random.random() * (high - low)))


def receive_audio_in_place(transport: RTCDtlsTransport, receiver: MeshAudioReceiver) -> None:
    """Take the audio `transport` receives (every payload type of the audio section) to
    `receiver`, and send its receiver reports; everything else (video) goes on to aiortc.
    Call before the transport starts (max-bundle: the first section's carries them all)."""
    send = rtp_sender(transport)
    aiortc_handler: RtpHandler | None = None

    async def handle(data: bytes, arrival_time_ms: int) -> None:
        # Runs in aiortc's receive loop: an exception here would end it, so none escapes.
        if len(data) < 2 or data[1] & 0x7F not in receiver.audio_payload_types:
            assert aiortc_handler is not None
            await aiortc_handler(data, arrival_time_ms=arrival_time_ms)
            return
        try:
            packet = receiver.take(data, arrival_time_ms)
            if packet is None:
                return
            # Read at a tick, a packet may have waited in the socket: the engine is told when
            # it came, as the kernel stamped it.
            reading = receiver.reading
            receiver.receive(
                packet, reading.arrival(trio.current_time()) if reading is not None else None)
            report = receiver.report_due(arrival_time_ms)
        except Exception:  # a fault of ours: drop the packet, keep the call
            logger.exception("an audio packet could not be received")
            return
        if report is not None:
            try:
                await send(report)
            except RTP_SEND_ERRORS:
                pass

    aiortc_handler = intercept_rtp(transport, handle)


class LinkReading:
    """A mesh link's UDP socket read in place (`start`, once its candidates are gathered),
    and at the audio engine's playout ticks (`read_at_ticks`) once the link may take media:
    DTLS up and the peer's certificate checked against their signed SDP (`receiver.accepting`;
    the handshake is never made to wait for ticks). `stop` (the link closing) goes back to
    reading on readiness, so that aiortc's closing is read as usual."""

    def __init__(self, transport: RTCDtlsTransport, receiver: MeshAudioReceiver) -> None:
        self._transport = transport
        self._receiver = receiver
        self.reading: InPlaceReading | None = None  # its counters, once started
        # Whether the last negotiation has the peer sending us video: read on readiness then.
        self.receiving_video = False
        self._tick_hooks: list[Callable[[float], None]] | None = None

    def start(self) -> None:
        """Read the sockets in place from now on (again: nothing; the sockets are the same)."""
        if self.reading is not None:
            return
        enlarge_receive_buffers(self._transport, RECEIVE_BUFFER_BYTES)
        self.reading = self._receiver.reading = receive_in_place(self._transport)

    def read_at_ticks(self, tick_hooks: list[Callable[[float], None]]) -> None:
        """Read at the ticks of `tick_hooks` (`engine.tick_hooks`) once the link is up:
        a wake-up per packet cost more than the packet (a 50-packet-a-second stream per peer,
        and their video). Until `stop`."""
        if self._tick_hooks is not None:
            return
        self._tick_hooks = tick_hooks
        tick_hooks.append(self._tick)

    def _tick(self, now: float) -> None:
        reading = self.reading
        if reading is None:
            return
        if self.receiving_video:
            reading.give_back()  # aioice reads it, as before any of this (see the module doc)
            return
        reading.take_back()
        reading.tick(self._receiver.accepting and self._transport.state == "connected")

    def stop(self) -> None:
        """No more ticks: back to reading on readiness (the link is closing)."""
        hooks, self._tick_hooks = self._tick_hooks, None
        if hooks is not None and self._tick in hooks:
            hooks.remove(self._tick)
        if self.reading is not None and self.reading.by_ticks:
            self.reading.read_on_readiness()


def announced_audio(sdp: str, mid: str | None) -> tuple[int | None, list[int], list[int]]:
    """(SSRC, Opus payload types, every payload type) of the audio section `mid` of `sdp`
    (the first audio section if mid is None); (None, [], []) if there is none."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind != "audio" or (mid is not None and media.rtp.muxId != mid):
            continue
        ssrc = media.ssrc[0].ssrc if media.ssrc else None
        codecs = media.rtp.codecs
        opus = [c.payloadType for c in codecs
                if c.payloadType is not None and c.mimeType.lower() == "audio/opus"]
        return ssrc, opus, [c.payloadType for c in codecs if c.payloadType is not None]
    return None, [], []
